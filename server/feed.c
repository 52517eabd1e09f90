/* The feed hub (see feed.h). Locking: one mutex guards the waiter list, the generation and the
 * closing flag. Parking suspends the connection while holding it, and the hub resumes only while
 * holding it, so a resume can never come before its suspend, and cm_feed_forget() (which takes it)
 * can never free a waiter the hub is about to resume. */
#include "clawmesh/feed.h"
#include "clawmesh/cache.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/http.h"
#include "clawmesh/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* New change rows the hub reads per notification; past this many it resumes every waiter. */
#define FETCH_MAX 1000
#define RECONNECT_MS 1000
#define IDLE_MS 60000
#define PRUNE_BATCH 10000 /* rows a prune removes at most per statement (cm_feed_prune) */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cm_feed_waiter *head; /* parked waiters */
static unsigned nparked;
static uint64_t generation;
static bool closing, running;
/* At shutdown: requests resumed to answer, not yet gone (their answer not yet sent). */
static unsigned draining;
static pthread_cond_t drained = PTHREAD_COND_INITIALIZER;
#define DRAIN_MS 3000
static long long planned_wake_ms; /* when the hub thread next wakes by itself */
static int wake_pipe[2] = {-1, -1};
static pthread_t thread;
static long long retention_s;

long long cm_feed_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake_hub(void)
{
	if (wake_pipe[1] >= 0) {
		ssize_t n = write(wake_pipe[1], "x", 1);
		(void)n; /* a full pipe already wakes it */
	}
}

bool cm_feed_wants(const struct cm_feed_waiter *w, long long rev, unsigned kind, const char *scope)
{
	if (rev <= w->since || (w->kinds && !(w->kinds & kind)))
		return false;
	if (!scope)
		return w->nscopes == 0; /* node changes have no scope: any token reads the registry */
	if (w->nscopes) {
		int i = 0;
		while (i < w->nscopes && strcmp(w->scopes[i], scope))
			i++;
		if (i == w->nscopes)
			return false;
	}
	return cm_access_for(w->who, scope) >= CM_ACCESS_R;
}

uint64_t cm_feed_generation(void)
{
	pthread_mutex_lock(&lock);
	uint64_t g = generation;
	pthread_mutex_unlock(&lock);
	return g;
}

bool cm_feed_closing(void)
{
	pthread_mutex_lock(&lock);
	bool c = closing;
	pthread_mutex_unlock(&lock);
	return c;
}

unsigned cm_feed_parked(void)
{
	pthread_mutex_lock(&lock);
	unsigned n = nparked;
	pthread_mutex_unlock(&lock);
	return n;
}

static void unlink_waiter(struct cm_feed_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->parked = false;
	nparked--;
}

/* Under the lock. */
static void resume(struct cm_feed_waiter *w)
{
	unlink_waiter(w);
	cm_req_resume(w->req);
}

/* Recent commits the hub has matched, as (generation, kind, scope, highest revision): a waiter
 * whose query ran before them parks anyway when none of them concerns it (a busy mesh would
 * otherwise send every waiter back to query again at each commit anywhere). An entry with
 * kind 0 stands for "everyone re-checks" (a token change, a reconnect, too many rows). */
#define RECENT 256
#define SCOPE_KEEP 72 /* longer than any scope */
struct recent {
	uint64_t gen;
	unsigned kind;
	long long rev;
	bool has_scope;
	char scope[SCOPE_KEEP];
};
static struct recent recent[RECENT];
static unsigned recent_next; /* under the lock */

static void remember(uint64_t gen, unsigned kind, long long rev, const char *scope)
{
	struct recent *r = &recent[recent_next++ % RECENT];
	r->gen = gen;
	r->kind = kind;
	r->rev = rev;
	r->has_scope = scope != NULL;
	snprintf(r->scope, sizeof r->scope, "%s", scope ? scope : "");
}

/* Under the lock: did a commit heard of after gen concern w, or can that not be told? */
static bool missed_since(const struct cm_feed_waiter *w, uint64_t gen)
{
	unsigned i = 0;
	for (; i < RECENT && i < recent_next; i++) {
		const struct recent *r = &recent[(recent_next - 1 - i) % RECENT];
		if (r->gen <= gen)
			return false; /* entries are in generation order, newest first: all seen */
		if (!r->kind || cm_feed_wants(w, r->rev, r->kind, r->has_scope ? r->scope : NULL))
			return true;
	}
	return i == RECENT; /* the ring no longer reaches back to gen: cannot tell */
}

int cm_feed_park(struct cm_feed_waiter *w, uint64_t gen)
{
	pthread_mutex_lock(&lock);
	if (closing || !running || w->parked) {
		pthread_mutex_unlock(&lock);
		return -1;
	}
	if (gen != generation && missed_since(w, gen)) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	/* An expiring token wakes its request when it expires (a little after, so the database agrees):
	 * re-checked then, it is refused at once rather than at the end of the wait. */
	long long expiry = w->who->expires_mono_ms;
	if (expiry && expiry + 50 < w->deadline_ms)
		w->deadline_ms = expiry + 50;
	w->prev = NULL;
	w->next = head;
	if (head)
		head->prev = w;
	head = w;
	w->parked = true;
	nparked++;
	cm_req_suspend(w->req);
	if (w->deadline_ms < planned_wake_ms)
		wake_hub(); /* under the lock: cm_feed_stop() closes the pipe under it too */
	pthread_mutex_unlock(&lock);
	return 1;
}

void cm_feed_forget(struct cm_feed_waiter *w)
{
	pthread_mutex_lock(&lock);
	if (w->parked)
		unlink_waiter(w);
	if (w->draining) {
		w->draining = false;
		if (--draining == 0)
			pthread_cond_signal(&drained);
	}
	pthread_mutex_unlock(&lock);
}

static void resume_all(void)
{
	pthread_mutex_lock(&lock);
	generation++;
	remember(generation, 0, 0, NULL);
	while (head)
		resume(head);
	pthread_mutex_unlock(&lock);
}

static const char *const kind_names[] = {"memory", "skill", "node"}; /* bit 1 << i */

unsigned cm_feed_kind(const char *s, size_t len)
{
	for (unsigned k = 0; k < 3; k++)
		if (strlen(kind_names[k]) == len && !strncmp(s, kind_names[k], len))
			return 1u << k;
	return 0;
}

const char *cm_feed_kind_name(unsigned bit)
{
	return bit == CM_KIND_MEMORY ? "memory" : bit == CM_KIND_SKILL ? "skill" : "node";
}

/* What a set of new rows can wake: each distinct (kind, scope) with its highest revision. */
#define PAIRS_MAX 64
struct pair {
	unsigned kind;
	const char *scope; /* into the result; NULL for a node */
	long long rev;
};

/* A commit was heard of: read the rows above *seen once, fold them into distinct (kind, scope)
 * pairs, then resume the waiters one of them concerns. When the rows cannot be read, or name too
 * many pairs, everyone re-checks. The matching under the lock is waiters x pairs, not x rows. */
static void on_commit(PGconn *pg, long long *seen)
{
	char since[24];
	snprintf(since, sizeof since, "%lld", *seen);
	const char *params[] = {since};
	PGresult *r = PQexecParams(pg,
				   "SELECT revision, kind, scope, name FROM changes WHERE revision > $1::bigint "
				   "ORDER BY revision LIMIT " "1001",
				   1, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	int rows = ok ? PQntuples(r) : 0;
	struct pair pairs[PAIRS_MAX];
	int npairs = 0;
	/* Rows not read (an error, or more than were fetched) stand for unknown changes: every
	 * waiter re-checks, and the entry cache is flushed. */
	bool unknown = !ok || rows > FETCH_MAX, everyone = unknown;
	if (unknown)
		cm_cache_flush(false, true);
	for (int i = 0; !unknown && i < rows; i++) {
		const char *k = PQgetvalue(r, i, 1);
		unsigned kind = cm_feed_kind(k, strlen(k));
		const char *scope = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
		long long rev = atoll(PQgetvalue(r, i, 0));
		cm_cache_heard(kind, scope, PQgetvalue(r, i, 3), rev); /* every row: it needs the key */
		if (everyone)
			continue; /* too many pairs already: everyone is resumed */
		int j = 0;
		while (j < npairs && !(pairs[j].kind == kind && (pairs[j].scope == scope ||
								 (pairs[j].scope && scope && !strcmp(pairs[j].scope, scope)))))
			j++;
		if (j < npairs)
			pairs[j].rev = rev; /* rows come in revision order */
		else if (npairs == PAIRS_MAX || (scope && strlen(scope) >= SCOPE_KEEP))
			everyone = true;
		else
			pairs[npairs++] = (struct pair){kind, scope, rev};
	}
	pthread_mutex_lock(&lock);
	generation++;
	if (everyone) {
		remember(generation, 0, 0, NULL);
		while (head)
			resume(head);
	} else {
		for (int j = 0; j < npairs; j++)
			remember(generation, pairs[j].kind, pairs[j].rev, pairs[j].scope);
		for (struct cm_feed_waiter *w = head, *next; w; w = next) {
			next = w->next;
			for (int j = 0; j < npairs; j++)
				if (cm_feed_wants(w, pairs[j].rev, pairs[j].kind, pairs[j].scope)) {
					resume(w);
					break;
				}
		}
	}
	pthread_mutex_unlock(&lock);
	if (ok && rows)
		*seen = atoll(PQgetvalue(r, rows - 1, 0));
	PQclear(r);
}

/* Resumes the waiters whose deadline has come; the time of the next one (or now + IDLE_MS). */
static long long resume_due(long long now)
{
	long long next = now + IDLE_MS;
	pthread_mutex_lock(&lock);
	for (struct cm_feed_waiter *w = head, *n; w; w = n) {
		n = w->next;
		if (w->deadline_ms <= now)
			resume(w);
		else if (w->deadline_ms < next)
			next = w->deadline_ms;
	}
	planned_wake_ms = next;
	pthread_mutex_unlock(&lock);
	return next;
}

/* The hub's connection: no statement of its may hold it long (it would stop every wake-up). */
static PGconn *listen_conn(long long *seen)
{
	PGconn *pg = cm_db_connect();
	if (!pg)
		return NULL;
	PGresult *r = NULL;
	if (cm_db_run(pg, "SET statement_timeout = '5s'", "feed") || cm_db_run(pg, "LISTEN clawmesh_changes", "feed") ||
	    cm_db_run(pg, "LISTEN clawmesh_tokens", "feed") ||
	    PQresultStatus(r = PQexec(pg, "SELECT coalesce(max(revision), 0) FROM changes")) != PGRES_TUPLES_OK) {
		cm_log_warn("feed: cannot listen: %.200s", PQerrorMessage(pg));
		PQclear(r);
		PQfinish(pg);
		return NULL;
	}
	*seen = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return pg;
}

/* One bounded prune; true when it hit its bound (more is due at once). It never waits for the
 * write lock: a writer holding it makes this run skip. */
static bool prune(PGconn *pg)
{
	char keep[32];
	snprintf(keep, sizeof keep, "%lld seconds", retention_s);
	const char *params[] = {keep};
	PGresult *r = PQexecParams(pg, "SELECT cm_feed_prune($1::interval)", 1, NULL, params, NULL, NULL, 0);
	bool more = false;
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		long long n = atoll(PQgetvalue(r, 0, 0));
		if (n > 0)
			cm_log_info("feed: pruned %lld changes older than %lld s", n, retention_s);
		more = n >= PRUNE_BATCH;
	} else {
		cm_log_warn("feed: prune failed: %.200s", PQerrorMessage(pg));
	}
	PQclear(r);
	return more;
}

/* After any statement of the hub's: notifications that arrived during it are queued in libpq,
 * not on the socket, so poll() would never report them. Takes them; false when the connection
 * is gone. */
static bool take_notifies(PGconn *pg, bool *changes, bool *tokens)
{
	if (PQstatus(pg) != CONNECTION_OK)
		return false;
	for (PGnotify *n; (n = PQnotifies(pg)); PQfreemem(n)) {
		if (!strcmp(n->relname, "clawmesh_tokens"))
			*tokens = true;
		else
			*changes = true;
	}
	return true;
}

static void *hub(void *arg)
{
	(void)arg;
	PGconn *pg = NULL;
	long long seen = 0, retry_at = 0, prune_at = 0;
	bool changes = false, tokens = false;
	/* Prune often enough that the horizon lags the retention by at most a quarter of it. */
	long long prune_every_ms = (retention_s / 4 < 1 ? 1 : retention_s / 4 > 600 ? 600 : retention_s / 4) * 1000;
	for (;;) {
		long long now = cm_feed_now_ms();
		if (!pg && now >= retry_at) {
			pg = listen_conn(&seen);
			if (pg) {
				cm_cache_listening(true); /* listening again: caches start empty */
				resume_all(); /* whatever was missed while deaf, every waiter re-checks */
			} else {
				retry_at = now + RECONNECT_MS;
			}
		}
		if (pg && now >= prune_at)
			prune_at = now + (prune(pg) ? 0 : prune_every_ms);
		if (pg && (tokens || changes)) {
			if (tokens) {
				cm_cache_flush(true, false);
				resume_all(); /* every waiter re-checks its token */
			}
			if (changes)
				on_commit(pg, &seen); /* the caches must hear these rows whatever else came */
			tokens = changes = false;
		}
		if (pg && !take_notifies(pg, &changes, &tokens)) {
			cm_log_warn("feed: lost the database; listening again when it is back");
			PQfinish(pg);
			pg = NULL;
			cm_cache_listening(false); /* deaf: nothing cached can be trusted */
			retry_at = cm_feed_now_ms() + RECONNECT_MS;
			resume_all();
			continue;
		}
		if (changes || tokens)
			continue; /* they came in during a statement: handle them before sleeping */
		long long next = resume_due(now);
		if (!pg && retry_at < next)
			next = retry_at;
		if (pg && prune_at < next)
			next = prune_at;
		struct pollfd fds[2] = {{wake_pipe[0], POLLIN, 0}, {pg ? PQsocket(pg) : -1, POLLIN, 0}};
		int timeout = (int)(next > now ? next - now : 0);
		if (poll(fds, 2, timeout) < 0 && errno != EINTR)
			cm_log_warn("feed: poll: %s", strerror(errno));
		if (fds[0].revents) {
			char buf[256];
			while (read(wake_pipe[0], buf, sizeof buf) > 0)
				;
		}
		pthread_mutex_lock(&lock);
		bool stop = closing;
		pthread_mutex_unlock(&lock);
		if (stop)
			break;
		if (pg && fds[1].revents && !PQconsumeInput(pg)) {
			cm_log_warn("feed: lost the database; listening again when it is back");
			PQfinish(pg);
			pg = NULL;
			cm_cache_listening(false); /* deaf: nothing cached can be trusted */
			retry_at = cm_feed_now_ms() + RECONNECT_MS;
			resume_all();
		}
	}
	cm_cache_listening(false);
	if (pg)
		PQfinish(pg);
	return NULL;
}

int cm_feed_start(const struct cm_config *cfg)
{
	retention_s = cfg->changes_retention;
	if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		cm_log_error("feed: pipe: %s", strerror(errno));
		return -CM_EINTERNAL;
	}
	pthread_mutex_lock(&lock);
	closing = false;
	running = true;
	planned_wake_ms = 0;
	pthread_mutex_unlock(&lock);
	if (pthread_create(&thread, NULL, hub, NULL)) {
		cm_log_error("feed: cannot start its thread");
		running = false;
		return -CM_EINTERNAL;
	}
	return 0;
}

void cm_feed_stop(void)
{
	pthread_mutex_lock(&lock);
	bool was = running;
	closing = true;
	generation++;
	while (head) {
		head->draining = true;
		draining++;
		resume(head);
	}
	/* Let them answer (an empty page, the end of a stream) before the daemon closes their
	 * connections; a client that does not read its answer is not waited for long. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DRAIN_MS / 1000;
	while (draining && pthread_cond_timedwait(&drained, &lock, &until) == 0)
		;
	pthread_mutex_unlock(&lock);
	if (!was)
		return;
	pthread_mutex_lock(&lock);
	wake_hub();
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	running = false;
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	wake_pipe[0] = wake_pipe[1] = -1;
	pthread_mutex_unlock(&lock);
}
