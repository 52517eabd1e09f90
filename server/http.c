/* libmicrohttpd glue and the request life cycle, stated once:
 *   1. URI callback: allocate the request context, keep the raw URI (routing never sees
 *      libmicrohttpd's decoded copy, so %2F cannot forge a path segment).
 *   2. First handler call: headers only. Match the path (once; the match is kept). Reject a
 *      declared oversize body at once; otherwise return without a response (a response queued
 *      on the first call forces Connection: close).
 *   3. Body calls: append under the hard limit.
 *   4. Last call: admit (routing answers, token, its rate limit, admin check) -> handler -> one queued response
 *      with common headers. A handler may park instead (cm_req_suspend) and run again on resume.
 *   5. Completion callback: one access-log line, metrics, free the context.
 * Routes flagged CM_ROUTE_STREAM_BODY (an import, of any size) differ in 2-4: they are admitted on
 * the headers call, and their handler's body_sink takes the body as it arrives and answers at
 * its end (stream_begin(), stream_body()). */
#include "clawmesh/http.h"
#include "clawmesh/api.h"
#include "clawmesh/db.h"
#include "clawmesh/feed.h"
#include "clawmesh/hex.h"
#include "clawmesh/json.h"
#include "clawmesh/log.h"
#include "clawmesh/metrics.h"
#include "clawmesh/reaper.h"
#include "clawmesh/router.h"
#include "clawmesh/secrets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* libmicrohttpd's per-connection pool: the request line and headers (parsed in place, plus
 * ~56 bytes of bookkeeping a field), our response headers, and an event stream's chunk buffer.
 * It zeroes the whole pool after every request (MHD_pool_reset), so every connection that has
 * answered once costs all of it: 16 KiB keeps 1,000 woken long-polls at 16 MiB. What a client
 * may send is bounded below it by HEADER_BYTES_MAX / HEADER_FIELDS_MAX, answered with our own
 * 400 bad_request; only a block past what the pool holds at all (~14 KiB, or ~200 fields) gets the
 * library's fixed non-JSON 431. */
#define CONNECTION_MEMORY (16 * 1024)
/* The request line and header block as sent, and its fields (headers and query parameters):
 * Tomcat's and Jetty's default size, Apache's default field count. Both together still fit
 * CONNECTION_MEMORY with room for the largest response headers (tests/integration/test_api.c). */
#define HEADER_BYTES_MAX (8 * 1024)
#define HEADER_FIELDS_MAX 100
/* A body over the limit is read and dropped up to this many times the limit (so the client
 * gets its 413); past that the connection is cut. */
#define DISCARD_FACTOR 4

static const char *const cors_allow_headers =
	"Authorization, Content-Type, If-Match, If-None-Match, X-Request-Id, Last-Event-ID";
static const char *const cors_expose_headers =
	"ETag, Location, Retry-After, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
	"RateLimit-Policy";

static char *tls_cert_pem, *tls_key_pem;

/* Shutdown (cm_http_quiesce, cm_http_drain): requests whose head is in and whose answer is not
 * yet done, and whether we drain: new connections are then closed as accepted, and answers close
 * their connection (a kept-alive connection must not start another request while we drain). */
static unsigned long in_flight;
static bool draining;

/* --max-connections is ours to enforce (CM_HTTP_LIMIT_HEADROOM, http.h). */
static unsigned long open_connections;
static unsigned connection_cap;

static double elapsed_us(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e6 + (double)(now.tv_nsec - since->tv_nsec) / 1e3;
}

static bool request_id_sane(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
			  c == '_' || c == '.' || c == ':';
		if (!ok || n >= CM_REQUEST_ID_MAX)
			return false;
	}
	return n > 0;
}

/* Our request ids: 80 bits from OpenSSL's RNG as 20 hex characters, as unguessable as before,
 * but drawn 64 at a time per thread: one RAND_bytes() (~6,800 instructions and a getpid()
 * system call each) per request was 4 % of a GET. */
#define REQUEST_ID_BYTES 10
static __thread unsigned char request_id_batch[REQUEST_ID_BYTES * 64];
static __thread size_t request_id_left;

static void request_id_new(char out[2 * REQUEST_ID_BYTES + 1])
{
	if (request_id_left < REQUEST_ID_BYTES) {
		if (RAND_bytes(request_id_batch, (int)sizeof request_id_batch) != 1) {
			cm_random_hex(out, REQUEST_ID_BYTES); /* leaves out empty if that fails too */
			return;
		}
		request_id_left = sizeof request_id_batch;
	}
	unsigned char *b = request_id_batch + sizeof request_id_batch - request_id_left;
	cm_hex_encode(b, REQUEST_ID_BYTES, out);
	memset(b, 0, REQUEST_ID_BYTES); /* each id is drawn once */
	request_id_left -= REQUEST_ID_BYTES;
}

const char *cm_req_header(struct cm_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *cm_req_query(struct cm_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_all {
	const char *name;
	const char **out;
	size_t max, n;
	bool overflow;
};

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct query_all *q = cls;
	if (strcmp(key, q->name))
		return MHD_YES;
	if (q->n == q->max) {
		q->overflow = true;
		return MHD_NO;
	}
	q->out[q->n++] = value ? value : "";
	return MHD_YES;
}

int cm_req_query_all(struct cm_request *req, const char *name, const char **out, size_t max)
{
	struct query_all q = {name, out, max, 0, false};
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_query, &q);
	return q.overflow ? -CM_EBADREQ : (int)q.n;
}

int cm_req_limit(struct cm_request *req, unsigned *out)
{
	const char *s = cm_req_query(req, "limit");
	if (!s) {
		*out = CM_LIST_DEFAULT;
		return 0;
	}
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 1 || v > CM_LIST_MAX)
		return -CM_EBADREQ;
	*out = (unsigned)v;
	return 0;
}

void cm_req_remote_addr(struct cm_request *req, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	out[0] = '\0';
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* Is header the media type type? Its parameters may be the charset we speak (UTF-8) and
 * text/markdown's variant (RFC 7763: GFM, CommonMark, …); anything else is not what we read. */
static bool media_type_is(const char *header, const char *type)
{
	if (!header)
		return false;
	size_t n = strlen(type);
	if (strncasecmp(header, type, n))
		return false;
	for (const char *rest = header + n;;) {
		rest += strspn(rest, " \t");
		if (*rest == '\0')
			return true;
		if (*rest != ';')
			return false;
		rest += 1 + strspn(rest + 1, " \t");
		size_t len = strcspn(rest, ";");
		while (len && (rest[len - 1] == ' ' || rest[len - 1] == '\t'))
			len--;
		bool charset = (len == 13 && !strncasecmp(rest, "charset=utf-8", 13)) ||
			       (len == 15 && !strncasecmp(rest, "charset=\"utf-8\"", 15));
		bool variant = len > 8 && !strncasecmp(rest, "variant=", 8) && !strcasecmp(type, "text/markdown");
		if (!charset && !variant)
			return false;
		rest += strcspn(rest, ";");
	}
}

bool cm_req_content_type_is(struct cm_request *req, const char *type)
{
	return media_type_is(cm_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE), type);
}

int cm_req_json(struct cm_request *req, const char *also_type, cJSON **out)
{
	*out = NULL;
	const char *ct = cm_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!media_type_is(ct, "application/json") && !(also_type && media_type_is(ct, also_type)))
		return -CM_EMEDIA;
	return cm_json_parse(req->body ? req->body : "", req->body_len, out);
}

static void set_response(struct cm_request *req, unsigned status, struct MHD_Response *r)
{
	if (req->response)
		MHD_destroy_response(req->response);
	req->response = r;
	req->status = status;
}

int cm_reply_raw(struct cm_request *req, unsigned status, const char *content_type, const char *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return -CM_EINTERNAL;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	set_response(req, status, r);
	return 0;
}

int cm_reply_owned(struct cm_request *req, unsigned status, const char *content_type, char *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(data);
		return -CM_EINTERNAL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	set_response(req, status, r);
	return 0;
}

int cm_reply_json(struct cm_request *req, unsigned status, cJSON *body)
{
	char *text = body ? cm_json_render(body, NULL) : NULL;
	cJSON_Delete(body);
	return cm_reply_json_text(req, status, text);
}

int cm_reply_json_text(struct cm_request *req, unsigned status, char *text)
{
	if (!text)
		return -CM_EINTERNAL;
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return -CM_EINTERNAL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	set_response(req, status, r);
	return 0;
}

int cm_reply_stream(struct cm_request *req, unsigned status, const char *content_type, cm_stream_reader reader,
		    void *cls, void (*done)(void *cls))
{
	/* The reader's codes are libmicrohttpd's own; say so where it counts. */
	_Static_assert(CM_STREAM_END == MHD_CONTENT_READER_END_OF_STREAM, "end-of-stream code");
	_Static_assert(CM_STREAM_ERROR == MHD_CONTENT_READER_END_WITH_ERROR, "error code");
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, cls, done);
	if (!r) {
		if (done)
			done(cls);
		return -CM_EINTERNAL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	set_response(req, status, r);
	return 0;
}

void cm_req_suspend(struct cm_request *req)
{
	req->parked = true;
	MHD_suspend_connection(req->conn);
}

void cm_req_resume(struct cm_request *req)
{
	MHD_resume_connection(req->conn);
}

int cm_reply_empty(struct cm_request *req, unsigned status)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r)
		return -CM_EINTERNAL;
	set_response(req, status, r);
	return 0;
}

void cm_reply_header(struct cm_request *req, const char *name, const char *value)
{
	if (req->response)
		MHD_add_response_header(req->response, name, value);
}

int cm_reply_error(struct cm_request *req, enum cm_err e, const char *message, cJSON *details)
{
	cJSON *body = cm_json_error(cm_err_code(e), message ? message : cm_err_message(e), req->request_id, details);
	int r = cm_reply_json(req, cm_err_status(e), body);
	if (r < 0)
		return r;
	if (e == CM_EUNAUTH)
		cm_reply_header(req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"clawmesh\"");
	if (e == CM_EUNAVAIL || (e == CM_ERATE && !req->rate_on))
		cm_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	/* A refusal by the rate limiter has its own Retry-After (rate_headers()). */
	return 0;
}

int cm_reply_invalid(struct cm_request *req, const char *field, const char *message)
{
	cJSON *details = cJSON_CreateObject();
	if (field)
		cJSON_AddStringToObject(details, "field", field);
	return cm_reply_error(req, CM_EVALIDATION, message, details);
}

static const char *allowed_origin(struct cm_request *req)
{
	const char *origin = cm_req_header(req, "Origin");
	if (!origin || !req->cfg->n_cors_origins)
		return NULL;
	for (size_t i = 0; i < req->cfg->n_cors_origins; i++)
		if (!strcmp(req->cfg->cors_origins[i], "*") || !strcmp(req->cfg->cors_origins[i], origin))
			return origin;
	return NULL;
}

static void preflight(struct cm_request *req, const char *allow)
{
	cm_reply_empty(req, MHD_HTTP_NO_CONTENT);
	cm_reply_header(req, MHD_HTTP_HEADER_ALLOW, allow);
	if (allowed_origin(req)) {
		cm_reply_header(req, "Access-Control-Allow-Methods", allow);
		cm_reply_header(req, "Access-Control-Allow-Headers", cors_allow_headers);
		cm_reply_header(req, "Access-Control-Max-Age", "600");
	}
}

static enum MHD_Result check_utf8(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	bool *ok = cls;
	*ok = cm_utf8_valid(key, strlen(key)) && (!value || cm_utf8_valid(value, strlen(value)));
	return *ok ? MHD_YES : MHD_NO;
}

/* Every query parameter, decoded, must be UTF-8: they reach SQL as text. */
static bool query_is_utf8(struct cm_request *req)
{
	bool ok = true;
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_utf8, &ok);
	return ok;
}

/* A path can carry a credential (a memory key that is a token): the access log and the audit
 * log name it by kind instead. Empty when the text is clean. */
static const char *secret_in(const char *s)
{
	enum cm_secret_kind k = cm_secret_scan(s, strlen(s), CM_SECRET_ALL);
	return k == CM_SECRET_NONE ? "" : k == CM_SECRET_KIND_COUNT ? "unknown" : cm_secret_kind_name(k);
}

/* Writes, token operations and every refusal of a token go to the audit log. A failure to
 * record is logged, never turned into a failed request: the write itself has committed.
 * A 429 is not recorded, though its route be audited: it changed nothing, and a row per refusal
 * would let a limited token go on loading the database at the rate it is refused at. It is
 * counted (clawmesh_rate_limited_total) and in the access log. */
static void audit(struct cm_request *req)
{
	bool refused = req->status == MHD_HTTP_UNAUTHORIZED || req->status == MHD_HTTP_FORBIDDEN;
	if (!req->route || (!(req->route->flags & CM_ROUTE_AUDIT) && !refused) ||
	    req->status == MHD_HTTP_TOO_MANY_REQUESTS)
		return;
	if (!req->audit_target[0]) {
		size_t n = 0;
		for (size_t i = 0; i < req->nparams && n < sizeof req->audit_target - 1; i++)
			n += (size_t)snprintf(req->audit_target + n, sizeof req->audit_target - n, "%s%s", i ? "/" : "",
					      req->params[i]);
		const char *kind = secret_in(req->audit_target);
		if (*kind)
			snprintf(req->audit_target, sizeof req->audit_target, "(withheld: a %s)", kind);
	}
	cm_api_audit_record(req);
}

/* The token's rate limit on /v1, charged once per request: after the token is known (a request
 * without a valid one gets its 401 and is counted nowhere but the audit budget) and before the
 * admin check (a 403 writes an audit row too). true when the request is refused. */
static bool rate_limited(struct cm_request *req)
{
	if (req->rate_charged || strncmp(req->path, "/v1/", 4))
		return false;
	req->rate_charged = true;
	req->rate_on = cm_ratelimit_take(req->who.token_id, &req->rate);
	return req->rate_on && !req->rate.allowed;
}

/* Routing answers (preflight, 405, 404, a bad path or query), then the token, its rate limit and
 * the admin check: 0 when the route's handler may run, 1 when answered. The path was matched on
 * the headers call. */
static int admit(struct cm_request *req)
{
	int e = req->match_err;
	if (e == -CM_EMETHOD && !strcmp(req->method, "OPTIONS")) {
		preflight(req, req->allow);
		return 1;
	}
	if (e == -CM_EMETHOD) {
		cm_reply_error(req, CM_EMETHOD, NULL, NULL);
		cm_reply_header(req, MHD_HTTP_HEADER_ALLOW, req->allow);
		return 1;
	}
	if (e < 0) {
		cm_reply_error(req, -e,
			       e == -CM_EBADREQ ? "The path has a bad percent-encoding, a segment that is not UTF-8, or one too long."
						: NULL,
			       NULL);
		return 1;
	}
	if (!query_is_utf8(req)) {
		cm_reply_error(req, CM_EBADREQ, "Query parameters must be UTF-8.", NULL);
		return 1;
	}
	req->route = req->matched;
	if (!(req->route->flags & CM_ROUTE_PUBLIC)) {
		e = cm_auth_identify(req->auth_ambiguous ? NULL : cm_req_header(req, MHD_HTTP_HEADER_AUTHORIZATION),
				     &req->who);
		req->authenticated = e == 0;
		if (e < 0)
			return cm_reply_error(req, -e, NULL, NULL), 1;
		if (rate_limited(req)) {
			char msg[96];
			snprintf(msg, sizeof msg, "Too many requests with this token; try again in %u s.",
				 req->rate.retry_after_s);
			return cm_reply_error(req, CM_ERATE, msg, NULL), 1;
		}
		if ((req->route->flags & CM_ROUTE_ADMIN) && !req->who.admin)
			return cm_reply_error(req, CM_EFORBIDDEN, "This needs an admin token.", NULL), 1;
	}
	return 0;
}

static void dispatch(struct cm_request *req)
{
	if (req->keep_admission || admit(req) == 0) {
		req->parked = false;
		int e = req->route->handler(req);
		cm_db_end_request();
		if (e == 0 && req->parked && !req->response)
			return; /* suspended: the handler runs again on resume, and answers then */
		if (e < 0)
			cm_reply_error(req, -e, NULL, NULL);
		else if (!req->response)
			cm_reply_error(req, CM_EINTERNAL, NULL, NULL);
	}
	audit(req);
}

/* What the headers call checks of the header block, in one pass over it. */
struct header_scan {
	int content_length;
	int transfer_encoding;
	int authorization;
	bool te_other;  /* a Transfer-Encoding other than plain "chunked" */
	bool nul;       /* a NUL byte inside a header or a decoded query parameter */
	size_t bytes;   /* "Name: value\r\n" as sent (whitespace around the value aside) */
	size_t fields;  /* headers and query parameters */
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	struct header_scan *f = cls;
	f->fields++;
	/* Everything after us reads these as C strings: a NUL would cut them short ("Bearer <secret>\0x"
	 * would pass for the secret, "prefix=a%00b" for "a"). */
	if (strlen(key) != key_size || (value && memchr(value, '\0', value_size)))
		f->nul = true;
	if (kind != MHD_HEADER_KIND)
		return MHD_YES; /* a query parameter: its bytes are the request line's */
	f->bytes += key_size + value_size + 4;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		f->content_length++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->transfer_encoding++;
		f->te_other |= !value || strcasecmp(value, "chunked");
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION)) {
		f->authorization++;
	}
	return MHD_YES;
}

static struct header_scan scan_headers(struct cm_request *req, const char *method)
{
	struct header_scan f = {0, 0, 0, false, false, 0, 0};
	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, scan_header, &f);
	f.bytes += strlen(method) + strlen(req->uri) + sizeof " HTTP/1.1\r\n" + 2; /* the line, the blank line */
	return f;
}

/* Two Content-Length headers, or one with Transfer-Encoding, frame the body ambiguously: a proxy
 * in front may split the stream elsewhere than we do (request smuggling). Refuse them, and any
 * transfer coding but chunked: libmicrohttpd would wait for a body it cannot delimit until the
 * connection times out (RFC 9112 6.3: 400 and close). */
static bool framing_ambiguous(const struct header_scan *f)
{
	return f->content_length > 1 || (f->content_length && f->transfer_encoding) || f->transfer_encoding > 1 ||
	       f->te_other;
}

/* The fields of the IETF httpapi draft "RateLimit header fields for HTTP"
 * (draft-ietf-httpapi-ratelimit-headers-06, the last to have them as three fields), in its
 * meanings: Limit, the quota, is the bucket's size (the most a client may send at once);
 * Remaining, what is left of it now; Reset, the seconds until the quota is whole again (the
 * bucket full), except on a 429, where the draft wants it to name the same point in time as
 * Retry-After: when one request is allowed again. Policy, informative: the refill per 1 s
 * window, the bucket's size as a comment parameter. */
static void rate_headers(struct cm_request *req, struct MHD_Response *r)
{
	char v[64];
	snprintf(v, sizeof v, "%u", req->rate.limit);
	MHD_add_response_header(r, "RateLimit-Limit", v);
	snprintf(v, sizeof v, "%u", req->rate.remaining);
	MHD_add_response_header(r, "RateLimit-Remaining", v);
	snprintf(v, sizeof v, "%u", req->rate.reset_s);
	MHD_add_response_header(r, "RateLimit-Reset", v);
	snprintf(v, sizeof v, "%u;w=1;burst=%u", req->cfg->rate_limit, req->rate.limit);
	MHD_add_response_header(r, "RateLimit-Policy", v);
	if (!req->rate.allowed) {
		snprintf(v, sizeof v, "%u", req->rate.retry_after_s);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
}

/* Every answer: a browser must not read a JSON body (which may echo stored text) or a YAML one as
 * anything but its declared type, and a URL (a memory key may be a secret's name) must not leak
 * onward in a Referer. Both are inert for the agents and curl; ~60 bytes an answer. */
static const char *const common_headers[][2] = {
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
};

/* The dashboard's answers (/ui and below, their 304s and 404s too): scripts and styles from this
 * origin only, never inline or eval'd; trusted types make an innerHTML-style sink throw, a second
 * wall behind the page's rendering of stored values as text only; never framed, no opener, no
 * referrer. Only here: a JSON client has no use for them, and the CSP alone is ~300 bytes of
 * each answer's share of the connection's memory (CONNECTION_MEMORY). */
static const char *const ui_headers[][2] = {
	{"Content-Security-Policy",
	 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
	 "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
	 "require-trusted-types-for 'script'; trusted-types 'none'"},
	{"X-Frame-Options", "DENY"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
};

static bool is_ui_path(const char *path)
{
	return !strncmp(path, "/ui", 3) && (path[3] == '\0' || path[3] == '/');
}

static enum MHD_Result queue(struct cm_request *req)
{
	if (!req->response && cm_reply_error(req, CM_EINTERNAL, NULL, NULL) < 0)
		return MHD_NO;
	struct MHD_Response *r = req->response;
	MHD_add_response_header(r, "X-Request-Id", req->request_id);
	for (size_t i = 0; i < sizeof common_headers / sizeof common_headers[0]; i++)
		MHD_add_response_header(r, common_headers[i][0], common_headers[i][1]);
	if (is_ui_path(req->path))
		for (size_t i = 0; i < sizeof ui_headers / sizeof ui_headers[0]; i++)
			MHD_add_response_header(r, ui_headers[i][0], ui_headers[i][1]);
	if (!strncmp(req->path, "/v1/", 4))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (req->rate_on)
		rate_headers(req, r);
	const char *origin = allowed_origin(req);
	if (origin) {
		MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(r, "Access-Control-Expose-Headers", cors_expose_headers);
		MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
	}
	if (__atomic_load_n(&draining, __ATOMIC_ACQUIRE))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	req->queued = true;
	cm_conn_answering(req->tcp);
	enum MHD_Result ok = MHD_queue_response(req->conn, req->status, r);
	MHD_destroy_response(r);
	req->response = NULL;
	return ok;
}

static bool append_body(struct cm_request *req, const char *data, size_t n)
{
	size_t max = req->cfg->max_body;
	if (req->body_too_large || req->body_len + n > max) {
		req->body_too_large = true;
		req->body_discarded += n;
		return req->body_discarded <= (size_t)DISCARD_FACTOR * max;
	}
	if (req->body_len + n + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap : 4096;
		while (cap < req->body_len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		char *b = realloc(req->body, cap);
		if (!b)
			return false;
		req->body = b;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
	return true;
}

/* CM_ROUTE_STREAM_BODY: everything that needs no body runs on the headers call: routing, the
 * token, the admin check, then the handler, which sets req->body_sink or answers. An answer now
 * (401, 403, 415, 503) is queued at once, so the body is never read and the connection closes.
 * false: not such a route, the request goes the usual way. */
static bool stream_begin(struct cm_request *req)
{
	if (!req->matched || !(req->matched->flags & CM_ROUTE_STREAM_BODY))
		return false;
	if (admit(req) == 0) {
		int e = req->route->handler(req);
		cm_db_end_request();
		if (e < 0)
			cm_reply_error(req, -e, NULL, NULL);
		else if (!req->response && !req->body_sink)
			cm_reply_error(req, CM_EINTERNAL, NULL, NULL);
	}
	if (req->response)
		audit(req);
	return true;
}

/* After the headers of a CM_ROUTE_STREAM_BODY request: each piece of the body to the sink
 * (dropped once there is an answer), then (NULL, 0) at its end, and the answer. */
static enum MHD_Result stream_body(struct cm_request *req, const char *data, size_t *size)
{
	cm_conn_body_bytes(req->tcp, *size);
	if (!req->response) {
		int e = req->body_sink(req, *size ? data : NULL, *size);
		cm_db_end_request();
		if (e < 0 && !req->response)
			cm_reply_error(req, -e, NULL, NULL);
		else if (!*size && !req->response)
			cm_reply_error(req, CM_EINTERNAL, NULL, NULL);
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	audit(req);
	return queue(req);
}

/* A request of the change feed may park for a minute, a thousand at a time, and one commit ends
 * them together, while libmicrohttpd zeroes each of their connections' whole pool. From malloc,
 * their freed contexts would stay resident in its arenas through that (the fan-out's peak was
 * the two added up); on pages of their own, munmap() hands each back as it ends, before its
 * pool is zeroed. Everything else comes from malloc: a mapping per GET would cost two system
 * calls. */
static struct cm_request *request_new(const char *uri)
{
	static const char feed[] = "/v1/changes";
	char after = uri[sizeof feed - 1];
	if (!strncmp(uri, feed, sizeof feed - 1) && (after == '\0' || after == '?' || after == '/')) {
		struct cm_request *req =
			mmap(NULL, sizeof *req, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (req != MAP_FAILED) {
			req->mapped = true; /* zero-filled, as calloc() */
			return req;
		}
	}
	return calloc(1, sizeof(struct cm_request));
}

static void request_free(struct cm_request *req)
{
	if (req->mapped)
		munmap(req, sizeof *req);
	else
		free(req);
}

static struct cm_conn *tcp_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	void *ctx = ci ? ci->socket_context : NULL;
	return ctx == (void *)&open_connections ? NULL : ctx; /* that marker: counted, without deadlines */
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct cm_conn *tcp = tcp_of(conn);
	cm_conn_request_line(tcp);
	struct cm_request *req = request_new(uri ? uri : "");
	if (!req)
		return NULL;
	req->tcp = tcp;
	clock_gettime(CLOCK_MONOTONIC, &req->started);
	req->cfg = cls;
	req->uri = strdup(uri ? uri : "");
	req->path = req->uri ? strndup(req->uri, strcspn(req->uri, "?")) : NULL;
	return req;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)cls;
	(void)url;
	(void)version;
	struct cm_request *req = *con_cls; /* made by on_uri(), which libmicrohttpd calls first */
	if (!req || !req->uri || !req->path)
		return MHD_NO;
	if (!req->headers_seen) {
		req->headers_seen = true;
		/* In flight for the shutdown drain from here: a head still arriving is the reaper's
		 * (--header-timeout), and must not hold every shutdown to its deadline. */
		__atomic_add_fetch(&in_flight, 1, __ATOMIC_ACQ_REL);
		req->conn = conn;
		cm_conn_body_begin(req->tcp);
		snprintf(req->method, sizeof req->method, "%s", strlen(method) < sizeof req->method ? method : "?");
		const char *rid = cm_req_header(req, "X-Request-Id");
		if (rid && request_id_sane(rid))
			snprintf(req->request_id, sizeof req->request_id, "%s", rid);
		else
			request_id_new(req->request_id);
		struct header_scan hs = scan_headers(req, method);
		if (hs.bytes > HEADER_BYTES_MAX || hs.fields > HEADER_FIELDS_MAX) {
			/* API.md's status codes are fixed: an oversized head is a malformed request. */
			cm_reply_error(req, CM_EBADREQ,
				       "The request line and headers are over 8 KiB, or have over 100 fields (headers and query parameters).",
				       NULL);
			return queue(req); /* on the first call: the connection closes after it */
		}
		if (framing_ambiguous(&hs)) {
			cm_reply_error(req, CM_EBADREQ,
				       "Conflicting Content-Length / Transfer-Encoding headers, or a transfer coding other than chunked.",
				       NULL);
			return queue(req); /* on the first call: the connection closes after it */
		}
		if (hs.nul) {
			cm_reply_error(req, CM_EBADREQ, "A header or query parameter holds a NUL byte.", NULL);
			return queue(req);
		}
		/* Which of two tokens would be the caller's? Neither: the request has no valid token. */
		req->auth_ambiguous = hs.authorization > 1;
		struct cm_route_match m;
		req->match_err = cm_router_match(cm_routes, cm_routes_count, req->method, req->path, &m, req->allow,
						 sizeof req->allow);
		if (req->match_err == 0) {
			req->matched = m.route;
			req->nparams = m.nparams;
			for (size_t i = 0; i < m.nparams; i++)
				memcpy(req->params[i], m.params[i], strlen(m.params[i]) + 1);
		}
		if (stream_begin(req))
			return req->response ? queue(req) : MHD_YES;
		const char *cl = cm_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > req->cfg->max_body) {
			/* Refuse before the body is sent; the connection closes after this answer. */
			cm_reply_error(req, CM_ETOOLARGE, NULL, NULL);
			return queue(req);
		}
		return MHD_YES;
	}
	if (req->body_sink && !req->queued)
		return stream_body(req, upload_data, upload_data_size);
	if (*upload_data_size) {
		cm_conn_body_bytes(req->tcp, *upload_data_size);
		if (!req->queued && !append_body(req, upload_data, *upload_data_size))
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->queued)
		return MHD_YES;
	cm_conn_answering(req->tcp); /* the body is in: the handler's time and a parked wait are not the client's */
	if (req->body_too_large)
		cm_reply_error(req, CM_ETOOLARGE, NULL, NULL);
	else
		dispatch(req);
	if (req->parked && !req->response)
		return MHD_YES;
	return queue(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	const struct cm_config *cfg = cls;
	struct cm_request *req = *con_cls;
	if (!req)
		return;
	cm_conn_idle(req->tcp);
	if (cfg->access_log && req->headers_seen) {
		/* The path is the client's: only printable ASCII reaches the log, so no line can be forged. */
		char path[512];
		size_t n = 0;
		for (const char *p = req->path ? req->path : "-"; *p && n < sizeof path - 4; p++)
			path[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
		if (req->path && strlen(req->path) > n)
			path[n++] = '.', path[n++] = '.', path[n++] = '.';
		path[n] = '\0';
		const char *kind = req->path ? secret_in(req->path) : "";
		if (*kind)
			snprintf(path, sizeof path, "(path withheld: it holds a %s)", kind);
		cm_log_info("access %s %s %u %.0fus %s%s", req->method, path,
			    req->queued ? req->status : 0, elapsed_us(&req->started), req->request_id,
			    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
	}
	if (req->headers_seen)
		cm_metrics_request(req->matched ? (int)(req->matched - cm_routes) : -1, req->queued ? req->status : 0,
				   elapsed_us(&req->started) / 1e6);
	if (req->response)
		MHD_destroy_response(req->response);
	if (req->state_free)
		req->state_free(req->state);
	free(req->body);
	free(req->uri);
	free(req->path);
	bool counted = req->headers_seen;
	request_free(req);
	*con_cls = NULL;
	if (counted)
		__atomic_sub_fetch(&in_flight, 1, __ATOMIC_ACQ_REL);
}

/* A connection past --max-connections is closed as soon as it is accepted: the client learns at
 * once (and can try a replica), and the connections being served are not touched. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)cls;
	(void)addr;
	(void)addrlen;
	if (__atomic_load_n(&draining, __ATOMIC_ACQUIRE))
		return MHD_NO; /* shutting down: cm_http_quiesce() */
	return __atomic_load_n(&open_connections, __ATOMIC_ACQUIRE) < connection_cap ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		/* Counted (only those are uncounted on close), and under the deadlines of reaper.c. */
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct cm_conn *tcp = ci ? cm_conn_open(ci->connect_fd) : NULL;
		*socket_context = tcp ? (void *)tcp : (void *)&open_connections;
		__atomic_add_fetch(&open_connections, 1, __ATOMIC_ACQ_REL);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		/* libmicrohttpd closes the fd only after this: the reaper never touches a reused one. */
		if (*socket_context != (void *)&open_connections)
			cm_conn_close(*socket_context);
		*socket_context = NULL;
		__atomic_sub_fetch(&open_connections, 1, __ATOMIC_ACQ_REL);
	}
}

/* libmicrohttpd's own messages. Most are about one client (it left mid-request, it hit the
 * connection limit), so any client can make them as often as it likes: the log takes at most
 * MHD_LOG_BURST of them a minute, then says how many it left out. */
#define MHD_LOG_BURST 10
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static long long window_ms;
	static unsigned said, dropped;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	/* A client that leaves before its request is complete, which the slow-client reaper does to
	 * hundreds at once (it logs them itself, reaper.c); the access log marks such requests
	 * "aborted" once they had a request line. */
	if (!strncmp(msg, "Connection socket is closed when reading request", 48))
		return;
	long long ms = cm_feed_now_ms();
	unsigned left_out = 0;
	bool say;
	pthread_mutex_lock(&lock);
	if (!window_ms || ms - window_ms >= 60000) {
		left_out = dropped;
		window_ms = ms;
		said = dropped = 0;
	}
	say = said < MHD_LOG_BURST;
	if (say)
		said++;
	else
		dropped++;
	pthread_mutex_unlock(&lock);
	if (left_out)
		cm_log_warn("http: %u more libmicrohttpd messages in the last minute were left out", left_out);
	if (say)
		cm_log_warn("http: %s", msg);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cm_log_error("tls: cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4097 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > 1024 * 1024) {
				cm_log_error("tls: %s is larger than 1 MiB", path);
				break;
			}
			char *b = realloc(buf, cap);
			if (!b)
				break;
			buf = b;
		}
		size_t n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n < 4096) {
			fclose(f);
			buf[len] = '\0';
			return buf;
		}
	}
	fclose(f);
	free(buf);
	return NULL;
}

struct MHD_Daemon *cm_http_start(const struct cm_config *cfg)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, cfg->listen_host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(cfg->listen_port);
	} else if (inet_pton(AF_INET6, cfg->listen_host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(cfg->listen_port);
		flags |= MHD_USE_IPv6;
	} else {
		cm_log_error("http: bad listen address %s", cfg->listen_host);
		return NULL;
	}
	if (cfg->tls_cert) {
		free(tls_cert_pem);
		free(tls_key_pem);
		tls_cert_pem = read_file(cfg->tls_cert);
		tls_key_pem = read_file(cfg->tls_key);
		if (!tls_cert_pem || !tls_key_pem)
			return NULL;
		flags |= MHD_USE_TLS;
	}
	signal(SIGPIPE, SIG_IGN);

	struct MHD_OptionItem opts[] = {
		{MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL}, /* first, or early messages miss it */
		{MHD_OPTION_SOCK_ADDR, 0, &ss},
		{MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections + CM_HTTP_LIMIT_HEADROOM, NULL},
		{MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, NULL},
		/* One address holding every slot (slowloris: heads or bodies trickled a byte at a time,
		 * which the idle timeout never ends) is what this stops; past it a connection from that
		 * address is closed as soon as it is accepted. Many addresses (or all through one proxy)
		 * are what the deadlines of reaper.c stop. */
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip, NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL},
		{MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
		/* Strict HTTP/1.1 parsing: no spaces in the request target, no bare LF, no obs-fold. */
		{MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL},
		{MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, (void *)cfg},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, (void *)cfg},
		/* TLS last: without TLS these are END markers, and anything after them would be ignored. */
		{cfg->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls_cert_pem},
		{cfg->tls_cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, tls_key_pem},
		{cfg->tls_cert ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
		 (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
		{MHD_OPTION_END, 0, NULL},
	};
	connection_cap = cfg->max_connections;
	if (cm_reaper_start(cfg) < 0) {
		cm_log_error("http: cannot start the slow-client reaper thread");
		return NULL;
	}
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, accept_policy, NULL, on_request, (void *)cfg,
						MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!d) {
		cm_log_error("http: cannot listen on %s port %u (in use, or not allowed)", cfg->listen_host,
			     cfg->listen_port);
		cm_reaper_stop();
	}
	return d;
}

void cm_http_quiesce(struct MHD_Daemon *d)
{
	(void)d;
	/* Not MHD_quiesce_daemon(): with epoll and a thread pool it races a worker removing the same
	 * listening socket from its epoll set, and the loser aborts the process (MHD_PANIC on ENOENT,
	 * an open libmicrohttpd defect). The accept policy closes every new connection instead, as
	 * soon as it is accepted: the client learns at once and can try a replica. */
	__atomic_store_n(&draining, true, __ATOMIC_RELEASE);
}

bool cm_http_drain(long long deadline_ms)
{
	for (;;) {
		unsigned long n = __atomic_load_n(&in_flight, __ATOMIC_ACQUIRE);
		long long ms = cm_feed_now_ms();
		if (n == 0)
			return true;
		if (ms >= deadline_ms) {
			cm_log_warn("http: %lu requests still unfinished at the shutdown deadline; their connections are cut", n);
			return false;
		}
		struct timespec tick = {0, 10 * 1000000L};
		nanosleep(&tick, NULL);
	}
}

void cm_http_stop(struct MHD_Daemon *d)
{
	cm_reaper_stop();
	if (d)
		MHD_stop_daemon(d);
	__atomic_store_n(&draining, false, __ATOMIC_RELEASE);
	free(tls_cert_pem);
	free(tls_key_pem);
	tls_cert_pem = tls_key_pem = NULL;
}
