/* GET /v1/changes (a page, a long-poll, or Server-Sent Events) and GET /v1/stats.
 *
 * A long-poll that finds nothing parks in the feed hub (feed.c): its connection is suspended, so
 * it holds no worker thread and no database connection, and the handler runs again when a change
 * it may read commits on any replica, when its wait is up, or when a token changes (it is then
 * authenticated again by the dispatcher before it runs). An event stream does the same between
 * its events: its reader parks, and sends a keep-alive comment when --sse-keepalive (15 s) passes without an event,
 * checking its token each time it reads. */
#include "clawmesh/api.h"
#include "clawmesh/db.h"
#include "clawmesh/feed.h"
#include "clawmesh/json.h"
#include "clawmesh/store_changes.h"
#include "clawmesh/validate.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
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
};

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
	if (st->sse) {
		/* The secret alone (the header may pad it with any amount of space). */
		size_t len;
		const char *secret = cm_auth_bearer(cm_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION), &len);
		if (!secret || len != CM_TOKEN_SECRET_LEN)
			return -CM_EUNAUTH; /* cannot be: the dispatcher authenticated it */
		snprintf(st->auth, sizeof st->auth, "Bearer %.*s", (int)len, secret);
		if (!(st->who = malloc(sizeof *st->who)))
			return -CM_EINTERNAL;
		*st->who = req->who;
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

static int reply_page(struct cm_request *req, const struct cm_changes_page *pg)
{
	size_t len = 64;
	for (int i = 0; i < pg->n; i++)
		len += strlen(pg->items[i]) + 1;
	char *out = malloc(len);
	if (!out)
		return -CM_EINTERNAL;
	size_t o = (size_t)snprintf(out, len, "{\"changes\":[");
	for (int i = 0; i < pg->n; i++) {
		if (i)
			out[o++] = ',';
		size_t n = strlen(pg->items[i]);
		memcpy(out + o, pg->items[i], n);
		o += n;
	}
	snprintf(out + o, len - o, "],\"next\":%lld}", pg->next);
	return cm_reply_json_text(req, MHD_HTTP_OK, out);
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
	for (;;) {
		uint64_t gen = cm_feed_generation();
		struct cm_changes_page pg;
		if ((e = cm_store_changes(&st->f, &pg)) < 0)
			return e;
		if (out_of_reach(req, &pg, st->f.since)) {
			cm_changes_page_free(&pg);
			return 0;
		}
		if (st->sse) {
			e = start_stream(req, st, &pg);
			cm_changes_page_free(&pg);
			return e;
		}
		long long now = cm_feed_now_ms();
		if (pg.n || now >= st->wait_until_ms || cm_feed_closing()) {
			e = reply_page(req, &pg);
			cm_changes_page_free(&pg);
			return e;
		}
		/* Nothing yet: wait for a change from here on (the cursor may have moved past changes
		 * this caller cannot read). */
		st->f.since = st->w.since = pg.next;
		cm_changes_page_free(&pg);
		st->w.deadline_ms = st->wait_until_ms;
		int parked = cm_feed_park(&st->w, gen);
		if (parked > 0)
			return 0;
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
