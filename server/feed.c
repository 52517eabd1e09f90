/* The feed hub (see feed.h). Locking: one mutex guards the waiter list, the generation and the
 * closing flag. Parking suspends the connection while holding it, and the hub resumes only while
 * holding it, so a resume can never come before its suspend, and cm_feed_forget() (which takes it)
 * can never free a waiter the hub is about to resume. */
#include "clawmesh/feed.h"
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

int cm_feed_park(struct cm_feed_waiter *w, uint64_t gen)
{
	pthread_mutex_lock(&lock);
	if (closing || !running || w->parked || gen != generation) {
		int r = gen != generation && !closing && running ? 0 : -1;
		pthread_mutex_unlock(&lock);
		return r;
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
	bool sooner = w->deadline_ms < planned_wake_ms;
	pthread_mutex_unlock(&lock);
	if (sooner)
		wake_hub();
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
	while (head)
		resume(head);
	pthread_mutex_unlock(&lock);
}

static unsigned kind_bit(const char *k)
{
	return !strcmp(k, "memory") ? CM_KIND_MEMORY : !strcmp(k, "skill") ? CM_KIND_SKILL : CM_KIND_NODE;
}

/* A commit was heard of: read the rows above *seen once, then resume the waiters one of them
 * concerns. When the rows cannot be read, or there are too many, everyone re-checks. */
static void on_commit(PGconn *pg, long long *seen)
{
	char since[24];
	snprintf(since, sizeof since, "%lld", *seen);
	const char *params[] = {since};
	PGresult *r = PQexecParams(pg,
				   "SELECT revision, kind, scope FROM changes WHERE revision > $1::bigint "
				   "ORDER BY revision LIMIT " "1001",
				   1, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	int rows = ok ? PQntuples(r) : 0;
	pthread_mutex_lock(&lock);
	generation++;
	if (!ok || rows > FETCH_MAX) {
		while (head)
			resume(head);
	} else {
		for (struct cm_feed_waiter *w = head, *next; w; w = next) {
			next = w->next;
			for (int i = 0; i < rows; i++) {
				const char *scope = PQgetisnull(r, i, 2) ? NULL : PQgetvalue(r, i, 2);
				if (cm_feed_wants(w, atoll(PQgetvalue(r, i, 0)), kind_bit(PQgetvalue(r, i, 1)), scope)) {
					resume(w);
					break;
				}
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

static bool run(PGconn *pg, const char *sql)
{
	PGresult *r = PQexec(pg, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	return ok;
}

static PGconn *listen_conn(long long *seen)
{
	PGconn *pg = cm_db_connect();
	if (!pg)
		return NULL;
	PGresult *r = NULL;
	if (!run(pg, "LISTEN clawmesh_changes") || !run(pg, "LISTEN clawmesh_tokens") ||
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

static void prune(PGconn *pg)
{
	char keep[32];
	snprintf(keep, sizeof keep, "%lld seconds", retention_s);
	const char *params[] = {keep};
	PGresult *r = PQexecParams(pg, "SELECT cm_feed_prune($1::interval)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		long long n = atoll(PQgetvalue(r, 0, 0));
		if (n)
			cm_log_info("feed: pruned %lld changes older than %lld s", n, retention_s);
	} else {
		cm_log_warn("feed: prune failed: %.200s", PQerrorMessage(pg));
	}
	PQclear(r);
}

static void *hub(void *arg)
{
	(void)arg;
	PGconn *pg = NULL;
	long long seen = 0, retry_at = 0, prune_at = 0;
	/* Prune often enough that the horizon lags the retention by at most a quarter of it. */
	long long prune_every_ms = (retention_s / 4 < 1 ? 1 : retention_s / 4 > 600 ? 600 : retention_s / 4) * 1000;
	for (;;) {
		long long now = cm_feed_now_ms();
		if (!pg && now >= retry_at) {
			pg = listen_conn(&seen);
			if (pg)
				resume_all(); /* whatever was missed while deaf, every waiter re-checks */
			else
				retry_at = now + RECONNECT_MS;
		}
		if (pg && now >= prune_at) {
			prune(pg);
			prune_at = now + prune_every_ms;
		}
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
		if (pg && fds[1].revents) {
			bool changes = false, tokens = false;
			if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
				cm_log_warn("feed: lost the database; listening again when it is back");
				PQfinish(pg);
				pg = NULL;
				retry_at = cm_feed_now_ms() + RECONNECT_MS;
				resume_all();
				continue;
			}
			for (PGnotify *n; (n = PQnotifies(pg)); PQfreemem(n)) {
				if (!strcmp(n->relname, "clawmesh_tokens"))
					tokens = true;
				else
					changes = true;
			}
			if (tokens)
				resume_all(); /* every waiter re-checks its token */
			else if (changes)
				on_commit(pg, &seen);
		}
	}
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
	wake_hub();
	pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	running = false;
	pthread_mutex_unlock(&lock);
	close(wake_pipe[0]);
	close(wake_pipe[1]);
	wake_pipe[0] = wake_pipe[1] = -1;
}
