/* GET /v1/changes (a page, a long-poll, or Server-Sent Events) and GET /v1/stats.
 *
 * A long-poll that finds nothing parks in the feed hub (feed.c): its connection is suspended, so
 * it holds no worker thread and no database connection, and the handler runs again when a change
 * it may read commits on any replica, when its wait is up, or when a token changes (it is then
 * authenticated again by the dispatcher before it runs). An event stream does the same between
 * its events: its reader parks, and sends a keep-alive comment when --sse-keepalive (15 s) passes without an event,
 * checking its token each time it reads.
 *
 * One write wakes every long-poll that can read it, and they would all run the same page query
 * (the same cursor, filters and grants): the woken share one answer instead (shared_*()). A
 * woken poll may take any page read after it parked and after the commit that woke it, since its
 * own query then would have seen no more; a first call always reads for itself, so a client
 * reads its own writes. */
#include "clawmesh/api.h"
#include "clawmesh/db.h"
#include "clawmesh/feed.h"
#include "clawmesh/json.h"
#include "clawmesh/store_changes.h"
#include "clawmesh/validate.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_WAIT_S 60
#define SSE_RETRY_MS 2000
#define AUTH_HEADER_MAX (7 + CM_TOKEN_SECRET_LEN)

struct feed_state {
	struct cm_feed_waiter w;
	struct cm_changes_filter f;
	char *kinds, *scopes, *exact, *prefixes; /* the filter's JSON arrays */
	const char *scope_v[CM_MAX_FILTER_VALUES];
	long long wait_until_ms; /* a long-poll answers, empty, at this time */
	/* An event stream: */
	bool sse;
	char auth[AUTH_HEADER_MAX + 1]; /* "Bearer <secret>", to check the token on each read */
	struct cm_identity *who;        /* as of the last check (a stream only: 5 KB a parked poll saves) */
	char *buf; /* events not yet sent */
	size_t len, off, cap;
	long long last_sent_ms;
	unsigned keepalive_s;
	bool ended;
	/* A long-poll: */
	bool polls;          /* wait > 0: its pages may serve others woken with it */
	bool woken;          /* it has parked, so it may take a shared page */
	uint64_t parked_seq; /* shared_seq() when it last parked */
};

/* A page as a long-poll answers it: the cursor fields and the 200 body. */
struct answer {
	uint64_t gen; /* cm_feed_generation() before the query that read it */
	long long horizon, current, head, next;
	int n;
	char *body; /* caller frees */
};

/* --- Pages shared by woken long-polls ------------------------------------------------------- */

#define SHARED_MAX 8
#define SHARED_BODY_MAX (32 * 1024) /* a larger page is not kept: 256 KiB at most held */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_page {
	char *key;    /* every parameter of the page's statement (page_key()) */
	uint64_t seq; /* shared_seq() before the query ran: its snapshot came after that */
	struct answer a;
	size_t len;
} shared[SHARED_MAX];
static unsigned shared_next;
static uint64_t seq_counter;

/* Orders parkings and queries: a page with a higher number was read after the parking. */
static uint64_t shared_seq(void)
{
	return __atomic_add_fetch(&seq_counter, 1, __ATOMIC_SEQ_CST);
}

/* The statement's parameters, all of them (the grants as the readable scopes they give), so two
 * requests with one key read the same rows from one snapshot. Caller frees. */
static char *page_key(const struct cm_changes_filter *f)
{
	const char *parts[] = {f->kinds, f->scopes, f->readable, f->readable_prefixes};
	size_t len = 64;
	for (size_t i = 0; i < 4; i++)
		len += (parts[i] ? strlen(parts[i]) : 1) + 1;
	char *k = malloc(len);
	if (k) /* '|' is in no scope, kind or pattern; "-" is no JSON array */
		snprintf(k, len, "%lld|%u|%d|%d|%s|%s|%s|%s", f->since, f->limit, f->with_value, f->all_readable,
			 parts[0] ? parts[0] : "-", parts[1] ? parts[1] : "-", parts[2] ? parts[2] : "-",
			 parts[3] ? parts[3] : "-");
	return k;
}

/* A woken poll's answer from a page another read after it parked and after generation gen (the
 * commit that woke it): true with *a filled (its body a copy), false when there is none. */
static bool shared_take(const char *key, uint64_t gen, uint64_t parked_seq, struct answer *a)
{
	bool found = false;
	pthread_mutex_lock(&shared_lock);
	for (unsigned i = 0; i < SHARED_MAX && !found; i++) {
		struct shared_page *p = &shared[i];
		if (!p->key || p->seq <= parked_seq || p->a.gen < gen || strcmp(p->key, key))
			continue;
		if ((a->body = malloc(p->len + 1))) {
			memcpy(a->body, p->a.body, p->len + 1);
			*a = (struct answer){p->a.gen, p->a.horizon, p->a.current, p->a.head, p->a.next, p->a.n, a->body};
			found = true;
		}
	}
	pthread_mutex_unlock(&shared_lock);
	return found;
}

/* Offers a page just read (its query numbered seq) to the polls woken with this one: it replaces
 * an older page of the same key, else the oldest slot. The key is taken. */
static void shared_put(char *key, uint64_t seq, const struct answer *a)
{
	size_t len = strlen(a->body);
	char *body = len <= SHARED_BODY_MAX ? malloc(len + 1) : NULL;
	if (!body) {
		free(key);
		return;
	}
	memcpy(body, a->body, len + 1);
	pthread_mutex_lock(&shared_lock);
	struct shared_page *p = NULL;
	for (unsigned i = 0; i < SHARED_MAX && !p; i++)
		if (shared[i].key && !strcmp(shared[i].key, key))
			p = &shared[i];
	if (p && p->seq > seq) { /* a newer read is there already */
		pthread_mutex_unlock(&shared_lock);
		free(key);
		free(body);
		return;
	}
	if (!p)
		p = &shared[shared_next++ % SHARED_MAX];
	char *old_key = p->key, *old_body = p->a.body;
	*p = (struct shared_page){key, seq, *a, len};
	p->a.body = body;
	pthread_mutex_unlock(&shared_lock);
	free(old_key);
	free(old_body);
}

static void state_free(void *p)
{
	struct feed_state *st = p;
	if (!st)
		return;
	cm_feed_forget(&st->w);
	OPENSSL_cleanse(st->auth, sizeof st->auth);
	free(st->kinds);
	free(st->scopes);
	free(st->exact);
	free(st->prefixes);
	free(st->buf);
	free(st->who);
	free(st);
}

static int bad(struct cm_request *req, const char *message)
{
	cm_reply_error(req, CM_EBADREQ, message, NULL);
	return 1;
}

/* Seconds as digits with an optional decimal fraction ("30", "0.5"): no sign, exponent or hex. */
static bool parse_seconds(const char *s, double *out)
{
	size_t whole = strspn(s, "0123456789");
	size_t frac = s[whole] == '.' ? strspn(s + whole + 1, "0123456789") : 0;
	if (!whole || strlen(s) != whole + (s[whole] == '.' ? 1 + frac : 0) || (s[whole] == '.' && !frac) ||
	    strlen(s) > 16)
		return false;
	*out = strtod(s, NULL);
	return true;
}

/* kind, repeatable or comma-separated: memory, skill, node. The bits go to the waiter, the
 * names (as a JSON array, NULL for every kind) to the query. */
static int parse_kinds(struct cm_request *req, struct feed_state *st)
{
	const char *v[CM_MAX_FILTER_VALUES];
	int n = cm_req_query_all(req, "kind", v, CM_MAX_FILTER_VALUES);
	if (n < 0)
		return bad(req, "Too many kind parameters.");
	unsigned bits = 0;
	for (int i = 0; i < n; i++) {
		const char *p = v[i];
		do {
			size_t len = strcspn(p, ",");
			unsigned bit = cm_feed_kind(p, len);
			if (!bit)
				return bad(req, "kind is memory, skill or node (repeatable, or comma-separated).");
			bits |= bit;
			p += len;
		} while (*p++ == ',');
	}
	if (!bits || bits == CM_KIND_ALL)
		return 0;
	st->w.kinds = bits;
	char text[64] = "[";
	for (unsigned bit = 1; bit < CM_KIND_ALL; bit <<= 1)
		if (bits & bit)
			snprintf(text + strlen(text), sizeof text - strlen(text), "%s\"%s\"", text[1] ? "," : "",
				 cm_feed_kind_name(bit));
	strcat(text, "]");
	st->kinds = strdup(text);
	return st->kinds ? 0 : -CM_EINTERNAL;
}

static bool wants_events(struct cm_request *req)
{
	const char *accept = cm_req_header(req, MHD_HTTP_HEADER_ACCEPT);
	return accept && strcasestr(accept, "text/event-stream");
}

/* The request's parameters into a new state. 0, 1 = refused (answered), <0. */
static int parse(struct cm_request *req, struct feed_state *st)
{
	st->w.req = req;
	st->w.who = &req->who;
	st->sse = wants_events(req);
	const char *since = cm_req_query(req, "since");
	const char *last = st->sse ? cm_req_header(req, "Last-Event-ID") : NULL;
	long long from = 0;
	if (last && *last) { /* a reconnecting EventSource resumes where it was, whatever its URL says */
		if (!cm_parse_count(last, &from))
			return bad(req, "Last-Event-ID must be a revision this server sent.");
	} else if (since && !cm_parse_count(since, &from)) {
		return bad(req, "since must be a revision: a whole number from 0.");
	}
	st->f.since = st->w.since = from;
	int e;
	if ((e = parse_kinds(req, st)))
		return e;
	int nscopes;
	if ((e = cm_req_query_list(req, "scope", cm_valid_scope, "mesh, node:<id>, user:<id> or project:<id>",
				   &st->scopes, st->scope_v, &nscopes)))
		return e;
	if (st->scopes) {
		/* Asking for a scope the token may not read is refused, not silently emptied. */
		for (int i = 0; i < nscopes; i++) {
			struct cm_problem p = {.err = CM_OK};
			if (cm_check_scope(&req->who, st->scope_v[i], CM_ACCESS_R, &p))
				return cm_reply_problem(req, &p, -1), 1;
		}
		st->w.scopes = st->scope_v;
		st->w.nscopes = nscopes;
	} else if ((e = cm_readable_scopes(&req->who, &st->f.all_readable, &st->exact, &st->prefixes)) < 0) {
		return e;
	}
	st->f.kinds = st->kinds;
	st->f.scopes = st->scopes;
	st->f.readable = st->exact;
	st->f.readable_prefixes = st->prefixes;
	const char *include = cm_req_query(req, "include");
	if (include && strcmp(include, "value"))
		return bad(req, "include takes one value: value.");
	st->f.with_value = include != NULL;
	if (cm_req_limit(req, &st->f.limit) < 0)
		return bad(req, CM_LIMIT_INVALID);
	const char *wait = cm_req_query(req, "wait");
	double w = 0;
	if (wait && (!parse_seconds(wait, &w) || w > MAX_WAIT_S))
		return bad(req, "wait is a number of seconds from 0 to 60.");
	st->wait_until_ms = cm_feed_now_ms() + (long long)(w * 1000);
	st->polls = w > 0;
	if (st->sse) {
		/* The secret alone (the header may pad it with any amount of space). */
		size_t len;
		const char *secret = cm_auth_bearer(cm_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION), &len);
		if (!secret || len != CM_TOKEN_SECRET_LEN)
			return -CM_EUNAUTH; /* cannot be: the dispatcher authenticated it */
		snprintf(st->auth, sizeof st->auth, "Bearer %.*s", (int)len, secret);
		if (!(st->who = malloc(sizeof *st->who)))
			return -CM_EINTERNAL;
		cm_identity_copy(st->who, &req->who);
		st->w.who = st->who;
		st->keepalive_s = req->cfg->sse_keepalive;
	}
	return 0;
}

/* 410 resync_required, when since is out of the feed's reach: older than what is kept, or newer
 * than anything this database ever numbered (it was restored, or is another one). */
static int out_of_reach(struct cm_request *req, const struct cm_changes_page *pg, long long since)
{
	if (since >= pg->horizon && since <= pg->current)
		return 0;
	/* As raw numbers: a revision keeps every digit (a double would round past 2^53). */
	char since_s[24], oldest_s[24], head_s[24];
	snprintf(since_s, sizeof since_s, "%lld", since);
	snprintf(oldest_s, sizeof oldest_s, "%lld", pg->horizon);
	/* Where to follow from after reading the state again: the newest committed change (not the
	 * sequence, which may be ahead by a write still in flight). */
	snprintf(head_s, sizeof head_s, "%lld", pg->head);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddRawToObject(d, "since", since_s);
	cJSON_AddRawToObject(d, "oldest", oldest_s);
	cJSON_AddRawToObject(d, "revision", head_s);
	cm_reply_error(req, CM_EGONE,
		       since < pg->horizon ? "Changes after this revision are no longer kept: read the current state "
					     "again, then follow from details.revision."
					   : "This revision is ahead of this server's: it was restored or is another "
					     "database. Read the current state again.",
		       d);
	return 1;
}

/* The 200 body of a page; NULL when out of memory. Caller frees. */
static char *page_text(const struct cm_changes_page *pg)
{
	size_t len = 64;
	for (int i = 0; i < pg->n; i++)
		len += strlen(pg->items[i]) + 1;
	char *out = malloc(len);
	if (!out)
		return NULL;
	size_t o = (size_t)snprintf(out, len, "{\"changes\":[");
	for (int i = 0; i < pg->n; i++) {
		if (i)
			out[o++] = ',';
		size_t n = strlen(pg->items[i]);
		memcpy(out + o, pg->items[i], n);
		o += n;
	}
	snprintf(out + o, len - o, "],\"next\":%lld}", pg->next);
	return out;
}

/* --- Server-Sent Events --------------------------------------------------------------------- */

static int buf_add(struct feed_state *st, const char *s, size_t n)
{
	if (st->len + n > st->cap) {
		size_t cap = st->cap ? st->cap : 16384;
		while (cap < st->len + n)
			cap *= 2;
		char *b = realloc(st->buf, cap);
		if (!b)
			return -1;
		st->buf = b;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, s, n);
	st->len += n;
	return 0;
}

/* Each change as an event: its revision as id, its JSON (one line) as data. */
static int buf_events(struct feed_state *st, const struct cm_changes_page *pg)
{
	for (int i = 0; i < pg->n; i++) {
		char id[40];
		int n = snprintf(id, sizeof id, "id: %lld\ndata: ", pg->revisions[i]);
		if (buf_add(st, id, (size_t)n) || buf_add(st, pg->items[i], strlen(pg->items[i])) || buf_add(st, "\n\n", 2))
			return -1;
	}
	return 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct feed_state *st = cls;
	for (;;) {
		if (st->off < st->len) {
			size_t n = st->len - st->off < max ? st->len - st->off : max;
			memcpy(out, st->buf + st->off, n);
			st->off += n;
			return (ssize_t)n;
		}
		st->off = st->len = 0;
		if (st->cap > 64 * 1024) {
			/* A page of large values has gone out: do not keep its buffer while idle. */
			free(st->buf);
			st->buf = NULL;
			st->cap = 0;
		}
		if (st->ended || cm_feed_closing())
			return CM_STREAM_END;
		/* The token is checked again on every read: revoked or expired, the stream ends. */
		if (cm_auth_identify(st->auth, st->who) < 0) {
			cm_db_end_request();
			return CM_STREAM_END;
		}
		uint64_t gen = cm_feed_generation();
		struct cm_changes_page pg;
		int e = cm_store_changes(&st->f, &pg);
		cm_db_end_request();
		if (e < 0)
			return CM_STREAM_END; /* the client reconnects with Last-Event-ID */
		if (st->f.since < pg.horizon) {
			cm_changes_page_free(&pg);
			static const char gone[] = "event: resync_required\ndata: {\"code\":\"resync_required\"}\n\n";
			st->ended = true;
			if (buf_add(st, gone, sizeof gone - 1))
				return CM_STREAM_ERROR;
			continue;
		}
		int be = buf_events(st, &pg);
		st->f.since = st->w.since = pg.next;
		int n = pg.n;
		cm_changes_page_free(&pg);
		if (be)
			return CM_STREAM_ERROR;
		long long now = cm_feed_now_ms();
		if (n) {
			st->last_sent_ms = now;
			continue;
		}
		long long keepalive_ms = (long long)st->keepalive_s * 1000;
		if (now - st->last_sent_ms >= keepalive_ms) {
			static const char ka[] = ": keep-alive\n\n";
			st->last_sent_ms = now;
			if (buf_add(st, ka, sizeof ka - 1))
				return CM_STREAM_ERROR;
			continue;
		}
		st->w.deadline_ms = st->last_sent_ms + keepalive_ms;
		int parked = cm_feed_park(&st->w, gen);
		if (parked > 0)
			return 0; /* called again when resumed */
		if (parked < 0)
			return CM_STREAM_END; /* the server is stopping */
		/* a commit was heard of meanwhile: read again */
	}
}

static int start_stream(struct cm_request *req, struct feed_state *st, const struct cm_changes_page *pg)
{
	char head[64];
	int n = snprintf(head, sizeof head, "retry: %d\n: clawmesh changes after %lld\n\n", SSE_RETRY_MS, st->f.since);
	if (buf_add(st, head, (size_t)n) || buf_events(st, pg))
		return -CM_EINTERNAL;
	st->f.since = st->w.since = pg->next;
	st->last_sent_ms = cm_feed_now_ms();
	int e = cm_reply_stream(req, MHD_HTTP_OK, "text/event-stream; charset=utf-8", sse_read, st, NULL);
	if (e == 0)
		cm_reply_header(req, "X-Accel-Buffering", "no"); /* nginx: pass events on as they come */
	return e;
}

/* --- GET /v1/changes ------------------------------------------------------------------------ */

/* The page a long-poll answers with: shared when it was woken and another woken with it has read
 * it already, else read now (and offered to them). 0 or <0. */
static int read_answer(struct feed_state *st, struct answer *a)
{
	uint64_t gen = cm_feed_generation();
	char *key = st->polls ? page_key(&st->f) : NULL;
	if (key && st->woken && shared_take(key, gen, st->parked_seq, a)) {
		free(key);
		return 0;
	}
	uint64_t seq = shared_seq();
	struct cm_changes_page pg;
	int e = cm_store_changes(&st->f, &pg);
	if (e < 0) {
		free(key);
		return e;
	}
	*a = (struct answer){gen, pg.horizon, pg.current, pg.head, pg.next, pg.n, page_text(&pg)};
	cm_changes_page_free(&pg);
	if (!a->body) {
		free(key);
		return -CM_EINTERNAL;
	}
	if (key)
		shared_put(key, seq, a);
	return 0;
}

/* The first page of an event stream, and the stream. */
static int begin_events(struct cm_request *req, struct feed_state *st)
{
	struct cm_changes_page pg;
	int e = cm_store_changes(&st->f, &pg);
	if (e < 0)
		return e;
	e = out_of_reach(req, &pg, st->f.since) ? 0 : start_stream(req, st, &pg);
	cm_changes_page_free(&pg);
	return e;
}

int cm_api_changes(struct cm_request *req)
{
	struct feed_state *st = req->state;
	int e;
	if (!st) {
		if (!(st = calloc(1, sizeof *st)))
			return -CM_EINTERNAL;
		req->state = st;
		req->state_free = state_free;
		if ((e = parse(req, st)))
			return e < 0 ? e : 0;
	}
	if (st->sse)
		return begin_events(req, st);
	for (;;) {
		struct answer a;
		if ((e = read_answer(st, &a)) < 0)
			return e;
		struct cm_changes_page reach = {.horizon = a.horizon, .current = a.current, .head = a.head};
		if (out_of_reach(req, &reach, st->f.since)) {
			free(a.body);
			return 0;
		}
		long long now = cm_feed_now_ms();
		if (a.n || now >= st->wait_until_ms || cm_feed_closing())
			return cm_reply_json_text(req, MHD_HTTP_OK, a.body);
		free(a.body);
		/* Nothing yet: wait for a change from here on (the cursor may have moved past changes
		 * this caller cannot read). */
		st->f.since = st->w.since = a.next;
		st->w.deadline_ms = st->wait_until_ms;
		st->parked_seq = shared_seq();
		int parked = cm_feed_park(&st->w, a.gen);
		if (parked > 0) {
			st->woken = true;
			return 0;
		}
		if (parked < 0)
			st->wait_until_ms = now; /* the server is stopping: answer now */
	}
}

/* --- GET /v1/stats -------------------------------------------------------------------------- */

int cm_api_stats(struct cm_request *req)
{
	bool all;
	char *exact = NULL, *prefixes = NULL, *json = NULL;
	int e = cm_readable_scopes(&req->who, &all, &exact, &prefixes);
	if (e == 0)
		e = cm_store_stats(all, exact, prefixes, req->cfg->heartbeat_window, &json);
	free(exact);
	free(prefixes);
	if (e < 0)
		return e;
	return cm_reply_json_text(req, MHD_HTTP_OK, json);
}
