/* The abuse suite: one table of hostile requests against every endpoint family. Each row states
 * the exact status and error code it must get; after each, the database (everything but the
 * audit log and tokens' last_used_at) must be exactly as before, and every error must be the
 * API.md envelope in JSON (never HTML, never a 500). Rows run one per forked Check iteration
 * against one server; the last test checks that server is still healthy and its log clean. */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct server srv;
static char admin[47], node_tok[47], read_tok[47], revoked[47], expired[47];
static char admin_id[29], node_id[29];

enum tok { T_NONE, T_ADMIN, T_NODE, T_READ };

/* Special error codes: a refusal by libmicrohttpd itself (documented in openapi.yaml as the one
 * exception to the envelope), and a connection cut without any answer. */
#define LIB "(libmicrohttpd)"
#define NOT_ERROR NULL

struct row {
	const char *cat;
	const char *name;
	const char *method;
	const char *path; /* placeholders <<…>> expanded */
	enum tok tok;
	const char *ctype; /* default application/json when there is a body */
	const char *body;
	size_t body_len;    /* 0 = strlen(body); set for bodies with NUL bytes */
	const char *h[4];   /* extra headers, placeholders expanded */
	bool chunked;
	char *(*gen)(int arg, size_t *len); /* a generated body instead of body */
	int arg;
	const char *raw; /* raw request line and headers (no Host/Connection, no blank line) */
	size_t raw_len;  /* 0 = strlen(raw); set for heads with NUL bytes */
	long status;     /* 0: the connection is cut without an answer */
	const char *code;
	void (*check)(const struct http_resp *rs);
};

#define BYTES(s) .body = s, .body_len = sizeof(s) - 1
#define RAWN(s) .raw = s, .raw_len = sizeof(s) - 1
#define A8 "aaaaaaaa"
#define A64 A8 A8 A8 A8 A8 A8 A8 A8
#define SEED "/v1/memory/mesh/seed.a"
/* Validated, then refused by the precondition: the body passed every check (seed.a is at version 1). */
#define STALE .h = {"If-Match: \"999\""}

/* ---- generated bodies ---- */

static char *nest(int depth, const char *pre, const char *open, const char *leaf, const char *close,
		  const char *post, size_t *len)
{
	struct buf b = {0};
	buf_append(&b, pre, strlen(pre));
	for (int i = 0; i < depth; i++)
		buf_append(&b, open, strlen(open));
	buf_append(&b, leaf, strlen(leaf));
	for (int i = 0; i < depth; i++)
		buf_append(&b, close, strlen(close));
	buf_append(&b, post, strlen(post));
	*len = b.len;
	return b.p;
}

static char *value_arrays(int depth, size_t *len)
{
	return nest(depth, "{\"value\":", "[", "1", "]", "}", len);
}

static char *value_objects(int depth, size_t *len)
{
	return nest(depth, "{\"value\":", "{\"a\":", "1", "}", "}", len);
}

static char *patch_objects(int depth, size_t *len)
{
	return nest(depth, "", "{\"a\":", "1", "}", "", len);
}

static char *import_objects(int depth, size_t *len)
{
	return nest(depth, "", "{\"a\":", "1", "}", "\n", len);
}

static char *batch_arrays(int depth, size_t *len)
{
	return nest(depth, "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"k\",\"value\":", "[", "1", "]", "}]}", len);
}

static char *token_grants_arrays(int depth, size_t *len)
{
	return nest(depth, "{\"label\":\"deep\",\"grants\":", "[", "1", "]", "}", len);
}

static char *node_meta_objects(int depth, size_t *len)
{
	return nest(depth, "{\"name\":\"abn\",\"meta\":", "{\"a\":", "1", "}", "}", len);
}

static char *skill_metadata_objects(int depth, size_t *len)
{
	return nest(depth, "{\"content\":\"# x\",\"metadata\":", "{\"a\":", "1", "}", "}", len);
}

static char *message_arrays(int depth, size_t *len)
{
	return nest(depth, "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"deep\",\"nodeId\":\"abn\",\"value\":", "[", "1", "]",
		    "}", len);
}

/* A JSON text of exactly n bytes (n >= 16): pre, then a string of 'x', then post. */
static char *sized(size_t n, const char *pre, const char *post, size_t *len)
{
	size_t a = strlen(pre), c = strlen(post);
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memcpy(s, pre, a);
	memset(s + a, 'x', n - a - c);
	memcpy(s + n - c, post, c);
	s[n] = '\0';
	*len = n;
	return s;
}

/* arg KiB + 1 byte of body, in a memory PUT. */
static char *body_kib(int kib, size_t *len)
{
	return sized((size_t)kib * 1024 + 1, "{\"value\":\"", "\"}", len);
}

/* A value whose JSON text is arg KiB + 1 byte (the string, its quotes). */
static char *value_kib(int kib, size_t *len)
{
	return sized((size_t)kib * 1024 + 1 + 12, "{\"value\":\"", "\"}", len);
}

static char *batch_value_kib(int kib, size_t *len)
{
	const char *pre = "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"k\",\"value\":\"";
	return sized((size_t)kib * 1024 + 1 + strlen(pre) + 4, pre, "\"}]}", len);
}

static char *skill_json_kib(int kib, size_t *len)
{
	return sized((size_t)kib * 1024 + 1 + 16, "{\"content\":\"", "\"}", len);
}

static char *markdown_kib(int kib, size_t *len)
{
	return sized((size_t)kib * 1024 + 1, "# big\n", "\n", len);
}

static char *message_kib(int kib, size_t *len)
{
	const char *pre = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"big\",\"nodeId\":\"abn\",\"value\":\"";
	return sized((size_t)kib * 1024 + 1 + strlen(pre) + 2, pre, "\"}", len);
}

static char *tokens_kib(int kib, size_t *len)
{
	return sized((size_t)kib * 1024 + 1, "{\"label\":\"", "\"}", len);
}

/* arg numbers that PostgreSQL would print as 100,001 digits each. */
static char *number_bomb(int n, size_t *len)
{
	struct buf b = {0};
	buf_append(&b, "{\"value\":[", 10);
	for (int i = 0; i < n; i++)
		buf_append(&b, i ? ",1e100000" : "1e100000", i ? 9 : 8);
	buf_append(&b, "]}", 2);
	*len = b.len;
	return b.p;
}

/* ---- placeholders ---- */

static void near_miss(char *out, const char *secret, int at)
{
	snprintf(out, 48, "%s", secret);
	out[at] = out[at] == 'A' ? 'B' : 'A';
}

/* The expansion of <<NAME>> (malloc'd), or NULL when NAME is unknown. */
static char *placeholder(const char *name)
{
	char *s = calloc(1, 32768);
	ck_assert_ptr_nonnull(s);
	int n;
	if (!strcmp(name, "A"))
		strcpy(s, admin);
	else if (!strcmp(name, "N"))
		strcpy(s, node_tok);
	else if (!strcmp(name, "R"))
		strcpy(s, read_tok);
	else if (!strcmp(name, "REVOKED"))
		strcpy(s, revoked);
	else if (!strcmp(name, "EXPIRED"))
		strcpy(s, expired);
	else if (!strcmp(name, "A_ID"))
		strcpy(s, admin_id);
	else if (!strcmp(name, "N_ID"))
		strcpy(s, node_id);
	else if (!strcmp(name, "A_FIRST"))
		near_miss(s, admin, 3);
	else if (!strcmp(name, "A_MID"))
		near_miss(s, admin, 24);
	else if (!strcmp(name, "A_LAST"))
		near_miss(s, admin, 45);
	else if (!strcmp(name, "N_MID"))
		near_miss(s, node_tok, 20);
	else if (!strcmp(name, "A_SHORT"))
		snprintf(s, 48, "%.45s", admin);
	else if (!strcmp(name, "A_LONG"))
		snprintf(s, 49, "%sA", admin);
	else if (!strcmp(name, "A_UPPER") || !strcmp(name, "A_LOWER")) {
		strcpy(s, admin);
		for (char *p = s + 3; *p; p++)
			*p = (char)(name[2] == 'U' ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
	} else if (!strcmp(name, "A_CM")) {
		strcpy(s, admin);
		memcpy(s, "CM_", 3);
	} else if (!strcmp(name, "A_HASH") || !strcmp(name, "A_CMHASH")) {
		unsigned char d[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)admin, strlen(admin), d);
		char *o = s;
		if (name[2] == 'C')
			o += sprintf(o, "cm_");
		for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
			o += sprintf(o, "%02x", d[i]);
	} else if (sscanf(name, "PAD%d", &n) == 1 && n < 32000)
		memset(s, 'a', (size_t)n);
	else if (sscanf(name, "HDRS%d", &n) == 1 && n < 1000)
		for (int i = 0, o = 0; i < n; i++)
			o += sprintf(s + o, "X-H-%d: v\r\n", i);
	else if (sscanf(name, "QS%d", &n) == 1 && n < 1000)
		for (int i = 0, o = 0; i < n; i++)
			o += sprintf(s + o, "%sp%d=v", i ? "&" : "", i);
	else {
		free(s);
		return NULL;
	}
	return s;
}

/* in (n bytes, NULs allowed) with every <<NAME>> expanded; *out_len its length. Caller frees. */
static char *expand_n(const char *in, size_t n, size_t *out_len)
{
	struct buf b = {0};
	buf_append(&b, "", 0);
	for (const char *p = in, *end = in + n; p < end;) {
		const char *o = memmem(p, (size_t)(end - p), "<<", 2);
		const char *c = o ? memmem(o, (size_t)(end - o), ">>", 2) : NULL;
		if (!c) {
			buf_append(&b, p, (size_t)(end - p));
			break;
		}
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(c - o - 2), o + 2);
		char *v = placeholder(name);
		ck_assert_msg(v != NULL, "unknown placeholder %s", name);
		buf_append(&b, p, (size_t)(o - p));
		buf_append(&b, v, strlen(v));
		free(v);
		p = c + 2;
	}
	if (out_len)
		*out_len = b.len;
	return b.p;
}

static char *expand(const char *in)
{
	return in ? expand_n(in, strlen(in), NULL) : NULL;
}

/* ---- raw requests ---- */

/* Sends head (request line and headers, with Host and Connection: close added after the request
 * line) and body, reads until the server closes, parses what came back into rs. 0 = an answer,
 * 1 = the connection was closed without one. */
static int raw_request(const char *head, size_t head_len, const char *body, size_t body_len, struct http_resp *rs)
{
	memset(rs, 0, sizeof *rs);
	const char *eol = memmem(head, head_len, "\r\n", 2);
	ck_assert_ptr_nonnull(eol);
	struct buf req = {0};
	buf_append(&req, head, (size_t)(eol - head) + 2);
	const char *std = "Host: 127.0.0.1\r\nConnection: close\r\n";
	buf_append(&req, std, strlen(std));
	buf_append(&req, eol + 2, head_len - (size_t)(eol + 2 - head));
	buf_append(&req, "\r\n", 2);
	if (body)
		buf_append(&req, body, body_len);

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	for (size_t off = 0; off < req.len;) {
		ssize_t w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server stopped reading: its answer (if any) is read below */
		off += (size_t)w;
	}
	free(req.p);
	struct buf in = {0};
	char chunk[4096];
	ssize_t r;
	while ((r = recv(fd, chunk, sizeof chunk, 0)) > 0)
		buf_append(&in, chunk, (size_t)r);
	close(fd);
	if (!in.p || strncmp(in.p, "HTTP/1.1 ", 9)) {
		free(in.p);
		rs->body = strdup("");
		rs->headers = strdup("");
		return 1;
	}
	rs->status = strtol(in.p + 9, NULL, 10);
	char *end = strstr(in.p, "\r\n\r\n");
	size_t hlen = end ? (size_t)(end - in.p) + 4 : in.len;
	rs->headers = strndup(in.p, hlen);
	rs->body = strdup(in.p + hlen);
	rs->len = strlen(rs->body);
	rs->json = cJSON_Parse(rs->body);
	free(in.p);
	return 0;
}

/* A chunked body of arg MiB, in 64 KiB chunks. */
static char *chunked_mib(int mib, size_t *len)
{
	struct buf b = {0};
	static char piece[65536];
	memset(piece, 'x', sizeof piece);
	for (int i = 0; i < mib * 16; i++) {
		buf_append(&b, "10000\r\n", 7);
		buf_append(&b, piece, sizeof piece);
		buf_append(&b, "\r\n", 2);
	}
	buf_append(&b, "0\r\n\r\n", 5);
	*len = b.len;
	return b.p;
}

/* ---- checks for rows that succeed ---- */

static int items_count(const struct http_resp *rs)
{
	const cJSON *items = resp_field(rs, "items");
	ck_assert_msg(cJSON_IsArray(items), "no items: %.300s", rs->body);
	return cJSON_GetArraySize(items);
}

static void no_items(const struct http_resp *rs)
{
	ck_assert_msg(items_count(rs) == 0, "a LIKE wildcard matched: %.300s", rs->body);
}

static void all_refused(const struct http_resp *rs)
{
	const cJSON *r, *results = resp_field(rs, "results");
	ck_assert(cJSON_GetArraySize(results) >= 1);
	cJSON_ArrayForEach(r, results)
		ck_assert_msg(cJSON_IsFalse(cJSON_GetObjectItem(r, "ok")), "a message was applied: %.300s", rs->body);
}

static void is_admin(const struct http_resp *rs)
{
	ck_assert_msg(cJSON_IsTrue(resp_field(rs, "admin")), "%.300s", rs->body);
}

/* ---- the table ---- */

static const struct row rows[] = {
	/* Oversized heads: up to 8 KiB and 100 fields ours; past what the connection holds, the library's. */
	{"headers", "one 9 KiB header", .path = "/v1/whoami", .tok = T_ADMIN, .h = {"X-Big: <<PAD9000>>"},
	 .status = 400, .code = "bad_request"},
	{"headers", "one 20 KiB header", .raw = "GET /v1/whoami HTTP/1.1\r\nX-Big: <<PAD18000>>\r\n", .status = 431,
	 .code = LIB},
	{"headers", "101 headers", .raw = "GET /v1/whoami HTTP/1.1\r\n<<HDRS101>>", .status = 400, .code = "bad_request"},
	{"headers", "300 headers", .raw = "GET /v1/whoami HTTP/1.1\r\n<<HDRS300>>", .status = 431, .code = LIB},
	{"headers", "a 9 KiB Authorization", .path = "/v1/whoami", .h = {"Authorization: Bearer cm_<<PAD9000>>"},
	 .status = 400, .code = "bad_request"},
	{"headers", "a 4 KiB Authorization", .path = "/v1/whoami", .h = {"Authorization: Bearer cm_<<PAD4000>>"},
	 .status = 401, .code = "unauthorized"},
	/* Between the two: the head fits the connection's 16 KiB, but no answer's head fits beside it. */
	{"headers", "a 16 KiB Authorization: no room for any answer, closed", .raw = "GET /v1/whoami HTTP/1.1\r\n"
												"Authorization: Bearer <<PAD16000>>\r\n",
	 .status = 0},
	{"headers", "a 20 KiB Authorization", .raw = "GET /v1/whoami HTTP/1.1\r\nAuthorization: Bearer <<PAD20000>>\r\n",
	 .status = 431, .code = LIB},
	{"headers", "a 9 KiB path", .path = "/v1/memory/mesh/<<PAD9000>>", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"headers", "a 9 KiB query", .path = "/v1/memory?q=<<PAD9000>>", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"headers", "101 query parameters", .path = "/v1/memory?<<QS101>>", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"headers", "a 600-byte path segment", .path = "/v1/memory/mesh/<<PAD600>>", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"headers", "a 5 KiB X-Request-Id is replaced, not echoed", .path = "/v1/whoami", .tok = T_ADMIN,
	 .h = {"X-Request-Id: <<PAD5000>>"}, .status = 200, .code = NOT_ERROR, .check = is_admin},
	{"headers", "a 9 KiB If-Match", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1}",
	 .h = {"If-Match: \"<<PAD9000>>\""}, .status = 400, .code = "bad_request"},

	/* Bodies over --max-body (1 MiB) and values over 256 KiB, declared and chunked. */
	{"bodies", "memory PUT of 1 MiB + 1", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = body_kib, .arg = 1024,
	 .status = 413, .code = "payload_too_large"},
	{"bodies", "memory PUT of 1 MiB + 1, chunked", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = body_kib,
	 .arg = 1024, .chunked = true, .status = 413, .code = "payload_too_large"},
	{"bodies", "a value of 256 KiB + 1", .method = "PUT", .path = "/v1/memory/mesh/new.big", .tok = T_ADMIN,
	 .gen = value_kib, .arg = 256, .status = 413, .code = "payload_too_large"},
	{"bodies", "a value of 256 KiB + 1, chunked", .method = "PUT", .path = "/v1/memory/mesh/new.big", .tok = T_ADMIN,
	 .gen = value_kib, .arg = 256, .chunked = true, .status = 413, .code = "payload_too_large"},
	{"bodies", "a batch op value of 256 KiB + 1", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .gen = batch_value_kib, .arg = 256, .status = 413, .code = "payload_too_large"},
	{"bodies", "PATCH of 1 MiB + 1", .method = "PATCH", .path = SEED, .tok = T_ADMIN, .gen = body_kib, .arg = 1024,
	 .status = 413, .code = "payload_too_large"},
	{"bodies", "skill JSON content of 256 KiB + 1", .method = "PUT", .path = "/v1/skills/mesh/big", .tok = T_ADMIN,
	 .gen = skill_json_kib, .arg = 256, .status = 413, .code = "payload_too_large"},
	{"bodies", "skill markdown of 256 KiB + 1", .method = "PUT", .path = "/v1/skills/mesh/big", .tok = T_ADMIN,
	 .ctype = "text/markdown", .gen = markdown_kib, .arg = 256, .status = 413, .code = "payload_too_large"},
	{"bodies", "skill markdown of 1 MiB + 1, chunked", .method = "PUT", .path = "/v1/skills/mesh/big", .tok = T_ADMIN,
	 .ctype = "text/markdown", .gen = markdown_kib, .arg = 1024, .chunked = true, .status = 413,
	 .code = "payload_too_large"},
	{"bodies", "a bridge message over 1 MiB", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .gen = message_kib, .arg = 1024, .status = 413, .code = "payload_too_large"},
	{"bodies", "a token body over 1 MiB", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN, .gen = tokens_kib,
	 .arg = 1024, .status = 413, .code = "payload_too_large"},
	{"bodies", "a node body over 1 MiB", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE, .gen = tokens_kib,
	 .arg = 1024, .status = 413, .code = "payload_too_large"},
	{"bodies", "Content-Length of 2^64 + 1", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							 "Content-Type: application/json\r\nContent-Length: 18446744073709551617\r\n",
	 .status = 413, .code = LIB},
	{"bodies", "Content-Length of 2 GiB, nothing sent", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
								     "Content-Type: application/json\r\nContent-Length: 2147483648\r\n",
	 .status = 413, .code = "payload_too_large"},
	{"bodies", "Content-Length -1", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
					      "Content-Type: application/json\r\nContent-Length: -1\r\n",
	 BYTES("{\"value\":1}"), .status = 400, .code = LIB},
	{"bodies", "Content-Length not a number", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							"Content-Type: application/json\r\nContent-Length: 1x\r\n",
	 BYTES("{\"value\":1}"), .status = 400, .code = LIB},
	{"bodies", "an empty JSON body", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "", .status = 400,
	 .code = "invalid_json"},
	{"bodies", "a body of blanks", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = " \r\n\t ", .status = 400,
	 .code = "invalid_json"},
	{"bodies", "two JSON documents", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1}{\"value\":2}",
	 .status = 400, .code = "invalid_json"},
	{"bodies", "a numbers bomb (11 x 1e100000)", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = number_bomb,
	 .arg = 11, .status = 413, .code = "payload_too_large"},

	/* Nesting depth: 100 levels pass validation, 101 are refused, 10,000 are not parsed at all. */
	{"nesting", "value arrays 100 deep pass (then If-Match)", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .gen = value_arrays, .arg = 100, STALE, .status = 412, .code = "version_mismatch"},
	{"nesting", "value arrays 101 deep", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = value_arrays, .arg = 101,
	 .status = 422, .code = "validation_failed"},
	{"nesting", "value objects 101 deep", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = value_objects,
	 .arg = 101, .status = 422, .code = "validation_failed"},
	{"nesting", "value arrays 10,000 deep", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = value_arrays,
	 .arg = 10000, .status = 400, .code = "invalid_json"},
	{"nesting", "value objects 10,000 deep", .method = "PUT", .path = SEED, .tok = T_ADMIN, .gen = value_objects,
	 .arg = 10000, .status = 400, .code = "invalid_json"},
	{"nesting", "merge patch 100 deep passes (then If-Match)", .method = "PATCH", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/merge-patch+json", .gen = patch_objects, .arg = 100, STALE, .status = 412,
	 .code = "version_mismatch"},
	{"nesting", "merge patch 101 deep", .method = "PATCH", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/merge-patch+json", .gen = patch_objects, .arg = 101, .status = 422,
	 .code = "validation_failed"},
	{"nesting", "merge patch 10,000 deep", .method = "PATCH", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/merge-patch+json", .gen = patch_objects, .arg = 10000, .status = 400,
	 .code = "invalid_json"},
	{"nesting", "batch op value 101 deep", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN, .gen = batch_arrays,
	 .arg = 101, .status = 422, .code = "validation_failed"},
	{"nesting", "batch 10,000 deep", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN, .gen = batch_arrays,
	 .arg = 10000, .status = 400, .code = "invalid_json"},
	{"nesting", "token grants 10,000 deep", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .gen = token_grants_arrays, .arg = 10000, .status = 400, .code = "invalid_json"},
	{"nesting", "token grants 101 deep", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .gen = token_grants_arrays, .arg = 101, .status = 422, .code = "validation_failed"},
	{"nesting", "node meta 101 deep", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .gen = node_meta_objects, .arg = 101, .status = 422, .code = "validation_failed"},
	{"nesting", "node meta 10,000 deep", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .gen = node_meta_objects, .arg = 10000, .status = 400, .code = "invalid_json"},
	{"nesting", "skill metadata 101 deep", .method = "PUT", .path = "/v1/skills/mesh/deep", .tok = T_ADMIN,
	 .gen = skill_metadata_objects, .arg = 101, .status = 422, .code = "validation_failed"},
	{"nesting", "skill metadata 10,000 deep", .method = "PUT", .path = "/v1/skills/mesh/deep", .tok = T_ADMIN,
	 .gen = skill_metadata_objects, .arg = 10000, .status = 400, .code = "invalid_json"},
	{"nesting", "bridge memory value 101 deep", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .gen = message_arrays, .arg = 101, .status = 200, .code = NOT_ERROR, .check = all_refused},
	{"nesting", "bridge message 10,000 deep", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .gen = message_arrays, .arg = 10000, .status = 400, .code = "invalid_json"},

	/* Numbers: what PostgreSQL's numeric holds passes; the rest, and non-JSON literals, do not. */
	{"numbers", "1e400 passes (then If-Match)", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1e400}",
	 STALE, .status = 412, .code = "version_mismatch"},
	{"numbers", "-0 passes (then If-Match)", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":-0}", STALE,
	 .status = 412, .code = "version_mismatch"},
	{"numbers", "a 30-digit integer passes (then If-Match)", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":123456789012345678901234567890}", STALE, .status = 412, .code = "version_mismatch"},
	{"numbers", "1e200000 (over numeric)", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1e200000}", .status = 400, .code = "invalid_json"},
	{"numbers", "1e-20000 (over numeric's scale)", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1e-20000}", .status = 400, .code = "invalid_json"},
	{"numbers", "1e99999999999999999999", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1e99999999999999999999}", .status = 400, .code = "invalid_json"},
	{"numbers", "NaN", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":NaN}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", "Infinity", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":Infinity}",
	 .status = 400, .code = "invalid_json"},
	{"numbers", "-Infinity", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":-Infinity}",
	 .status = 400, .code = "invalid_json"},
	{"numbers", "a leading zero", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":0123}",
	 .status = 400, .code = "invalid_json"},
	{"numbers", "-01", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":-01}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", "1.", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1.}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", ".5", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":.5}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", "+1", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":+1}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", "0x10", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":0x10}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", "1e", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1e}", .status = 400,
	 .code = "invalid_json"},
	{"numbers", "ttl 1e400", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1,\"ttl\":1e400}",
	 .status = 422, .code = "validation_failed"},
	{"numbers", "ttl -0", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1,\"ttl\":-0}",
	 .status = 422, .code = "validation_failed"},
	{"numbers", "ttl 1.5", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1,\"ttl\":1.5}",
	 .status = 422, .code = "validation_failed"},
	{"numbers", "ttl of 30 digits", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"ttl\":123456789012345678901234567890}", .status = 422, .code = "validation_failed"},
	{"numbers", "batch if_match 1e400", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"seed.a\",\"value\":1,\"if_match\":1e400}]}",
	 .status = 422, .code = "validation_failed"},
	{"numbers", "batch if_match -0", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"seed.a\",\"value\":1,\"if_match\":-0}]}",
	 .status = 422, .code = "validation_failed"},
	{"numbers", "token expires_in 1e400", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"label\":\"n\",\"expires_in\":1e400}", .status = 422, .code = "validation_failed"},
	{"numbers", "token expires_in -1", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"label\":\"n\",\"expires_in\":-1}", .status = 422, .code = "validation_failed"},
	{"numbers", "limit=1e3", .path = "/v1/memory?limit=1e3", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"numbers", "limit of 20 digits", .path = "/v1/memory?limit=99999999999999999999", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"numbers", "limit=-0", .path = "/v1/skills?limit=-0", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"numbers", "changes since=1e400", .path = "/v1/changes?since=1e400", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"numbers", "changes since=-1", .path = "/v1/changes?since=-1", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"numbers", "changes since of 30 digits", .path = "/v1/changes?since=123456789012345678901234567890",
	 .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"numbers", "changes wait=1e400", .path = "/v1/changes?since=0&wait=1e400", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"numbers", "changes wait=61", .path = "/v1/changes?since=0&wait=61", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"numbers", "skill ?version=1e400", .path = "/v1/skills/mesh/seedskill?version=1e400", .tok = T_ADMIN,
	 .status = 400, .code = "bad_request"},
	{"numbers", "skill ?version=0", .path = "/v1/skills/mesh/seedskill?version=0", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"numbers", "audit since=-1", .path = "/v1/audit?since=-1", .tok = T_ADMIN, .status = 400, .code = "bad_request"},

	/* Invalid UTF-8 in bodies, keys, tags, paths, queries, headers. */
	{"utf8", "an overlong '/' in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"a\xc0\xaf\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "a surrogate U+D800 in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"\xed\xa0\x80\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "a truncated sequence in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"\xe2\x82\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "0xFF in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":\"\xff\"}",
	 .status = 400, .code = "invalid_json"},
	{"utf8", "a code point over U+10FFFF", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"\xf4\x90\x80\x80\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "invalid UTF-8 in a member name", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":{\"\xc3\":1}}", .status = 400, .code = "invalid_json"},
	{"utf8", "invalid UTF-8 in a tag", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"tags\":[\"\xed\xbf\xbf\"]}", .status = 400, .code = "invalid_json"},
	{"utf8", "an escaped lone high surrogate", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"\\ud800\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "an escaped lone low surrogate", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"\\udc00x\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "a byte order mark", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "\xef\xbb\xbf{\"value\":1}",
	 .status = 400, .code = "invalid_json"},
	{"utf8", "Latin-1 bytes in a batch key", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"caf\xe9\",\"value\":1}]}", .status = 400,
	 .code = "invalid_json"},
	{"utf8", "invalid UTF-8 in skill markdown", .method = "PUT", .path = "/v1/skills/mesh/bad", .tok = T_ADMIN,
	 .ctype = "text/markdown", .body = "# x\n\xc0\xaf\n", .status = 422, .code = "validation_failed"},
	{"utf8", "invalid UTF-8 in a node name", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .body = "{\"name\":\"\xff\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "invalid UTF-8 in a token label", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"label\":\"\xed\xa0\x80\"}", .status = 400, .code = "invalid_json"},
	{"utf8", "invalid UTF-8 in a bridge message", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .body = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"k\",\"value\":\"\xe2\x82\",\"nodeId\":\"abn\"}",
	 .status = 400, .code = "invalid_json"},
	{"utf8", "path %ff", .path = "/v1/memory/mesh/%ff", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"utf8", "path %c0%af (an overlong '/')", .path = "/v1/memory/mesh/a%c0%afb", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"utf8", "path %ed%a0%80 (a surrogate)", .method = "DELETE", .path = "/v1/memory/mesh/%ed%a0%80", .tok = T_ADMIN,
	 .status = 400, .code = "bad_request"},
	{"utf8", "a raw 0xFF byte in the path", .raw = "GET /v1/memory/mesh/\xff HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n",
	 .status = 400, .code = "bad_request"},
	{"utf8", "prefix=%ff", .path = "/v1/memory?prefix=%ff", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"utf8", "q=%c0%af", .path = "/v1/memory?q=%c0%af", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"utf8", "tag=%ed%a0%80", .path = "/v1/memory?tag=%ed%a0%80", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"utf8", "skills q=%e2%82", .path = "/v1/skills?q=%e2%82", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"utf8", "nodes capability=%ff", .path = "/v1/nodes?capability=%ff", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"utf8", "a parameter name %ff", .path = "/v1/stats?%ff=1", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	/* RFC 9110: an entity tag may hold obs-text (0x80-0xFF); it is simply not one of ours. */
	{"utf8", "0xFF in an If-Match entity tag", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1}",
	 .h = {"If-Match: \"\xff\""}, .status = 412, .code = "version_mismatch"},
	{"utf8", "0xFF unquoted in If-Match", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1}",
	 .h = {"If-Match: \xff"}, .status = 400, .code = "bad_request"},
	{"utf8", "0xFF in the bearer token", .path = "/v1/whoami", .h = {"Authorization: Bearer cm_\xff<<PAD42>>"},
	 .status = 401, .code = "unauthorized"},
	{"utf8", "0xFF in X-Request-Id is replaced", .path = "/v1/whoami", .tok = T_ADMIN, .h = {"X-Request-Id: a\xff"},
	 .status = 200, .code = NOT_ERROR, .check = is_admin},

	/* NUL bytes, escaped and raw. */
	{"nul", "\\u0000 in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":\"a\\u0000b\"}",
	 .status = 400, .code = "invalid_json"},
	{"nul", "\\u0000 in a member name", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":{\"a\\u0000\":1}}", .status = 400, .code = "invalid_json"},
	{"nul", "\\u0000 in a tag", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"tags\":[\"\\u0000\"]}", .status = 400, .code = "invalid_json"},
	{"nul", "a raw NUL in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN, BYTES("{\"value\":\"a\0b\"}"),
	 .status = 400, .code = "invalid_json"},
	{"nul", "a raw NUL after the document", .method = "PUT", .path = SEED, .tok = T_ADMIN, BYTES("{\"value\":1}\0"),
	 .status = 400, .code = "invalid_json"},
	{"nul", "a raw NUL in skill markdown", .method = "PUT", .path = "/v1/skills/mesh/nul", .tok = T_ADMIN,
	 .ctype = "text/markdown", BYTES("# x\n\0\n"), .status = 422, .code = "validation_failed"},
	{"nul", "\\u0000 in skill JSON content", .method = "PUT", .path = "/v1/skills/mesh/nul", .tok = T_ADMIN,
	 .body = "{\"content\":\"# x\\u0000\"}", .status = 400, .code = "invalid_json"},
	{"nul", "\\u0000 in a token label", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"label\":\"a\\u0000b\"}", .status = 400, .code = "invalid_json"},
	{"nul", "\\u0000 in a bridge key", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .body = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"k\\u0000\",\"value\":1,\"nodeId\":\"abn\"}", .status = 400,
	 .code = "invalid_json"},
	{"nul", "path %00", .method = "PUT", .path = "/v1/memory/mesh/seed.a%00x", .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 400, .code = "bad_request"},
	{"nul", "scope %00", .path = "/v1/memory/mesh%00/seed.a", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"nul", "prefix=seed%00x must not become prefix=seed", .path = "/v1/memory?prefix=seed%00x", .tok = T_ADMIN,
	 .status = 400, .code = "bad_request"},
	{"nul", "scope=mesh%00x must not become scope=mesh", .path = "/v1/memory?scope=mesh%00x", .tok = T_ADMIN,
	 .status = 400, .code = "bad_request"},
	{"nul", "q=%00", .path = "/v1/memory?q=%00", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	/* libmicrohttpd 0.9.75 hands a header value over cut at a NUL (and never says so): what follows
	 * it is lost. It cannot make a bad token good; a good one before it is the sender's anyway. */
	{"nul", "a NUL in a header value", RAWN("GET /v1/whoami HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\nX-A: a\0b\r\n"),
	 .status = 200, .code = NOT_ERROR, .check = is_admin},
	{"nul", "a NUL after the token", RAWN("GET /v1/whoami HTTP/1.1\r\nAuthorization: Bearer <<A>>\0x\r\n"),
	 .status = 200, .code = NOT_ERROR, .check = is_admin},
	{"nul", "a NUL before the token", RAWN("GET /v1/whoami HTTP/1.1\r\nAuthorization: Bearer cm_x\0<<A>>\r\n"),
	 .status = 401, .code = "unauthorized"},
	{"nul", "a NUL in a header name", RAWN("GET /v1/whoami HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\nX\0Y: 1\r\n"),
	 .status = 400, .code = LIB},
	{"nul", "a NUL in a parameter name", .path = "/v1/memory?prefix%00=seed", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},

	/* Path traversal and percent-encoding tricks in scope, key, name and id. */
	{"paths", "key ..", .path = "/v1/memory/mesh/..", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "key %2e%2e", .method = "PUT", .path = "/v1/memory/mesh/%2e%2e", .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 400, .code = "bad_request"},
	{"paths", "key .", .method = "PUT", .path = "/v1/memory/mesh/.", .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 400, .code = "bad_request"},
	{"paths", "scope ..", .path = "/v1/memory/../tokens", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "../ up to another route", .path = "/v1/memory/mesh/../../tokens", .tok = T_ADMIN, .status = 404,
	 .code = "not_found"},
	{"paths", "key a%2Fb", .method = "PUT", .path = "/v1/memory/mesh/a%2Fb", .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 400, .code = "bad_request"},
	{"paths", "scope mesh%2fseed.a", .path = "/v1/memory/mesh%2fseed.a/history", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "double-encoded %252F", .method = "PUT", .path = "/v1/memory/mesh/a%252Fb", .tok = T_ADMIN,
	 .body = "{\"value\":1}", .status = 400, .code = "bad_request"},
	{"paths", "double-encoded %252e%252e", .path = "/v1/memory/mesh/%252e%252e", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a broken escape %zz", .path = "/v1/memory/mesh/a%zz", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a truncated escape %4", .path = "/v1/memory/mesh/a%4", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a trailing %", .path = "/v1/memory/mesh/a%", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "a backslash", .method = "PUT", .path = "/v1/memory/mesh/a\\b", .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 400, .code = "bad_request"},
	{"paths", "an encoded backslash ..%5c", .path = "/v1/memory/mesh/..%5cb", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "uppercase scope MESH", .method = "PUT", .path = "/v1/memory/MESH/seed.a", .tok = T_ADMIN,
	 .body = "{\"value\":1}", .status = 400, .code = "bad_request"},
	{"paths", "scope Node:abn", .path = "/v1/memory/Node:abn/k", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "scope node:ABN", .path = "/v1/memory/node:ABN/k", .tok = T_NODE, .status = 400, .code = "bad_request"},
	{"paths", "scope node: (empty id)", .method = "PUT", .path = "/v1/memory/node:/k", .tok = T_ADMIN,
	 .body = "{\"value\":1}", .status = 400, .code = "bad_request"},
	{"paths", "scope node:%20abn", .path = "/v1/memory/node:%20abn/k", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a 64-character id is fine", .path = "/v1/memory/node:" A64 "/k", .tok = T_ADMIN, .status = 404,
	 .code = "not_found"},
	{"paths", "a 65-character id", .path = "/v1/memory/node:" A64 "a/k", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a 256-character key is fine", .path = "/v1/memory/mesh/" A64 A64 A64 A64, .tok = T_ADMIN,
	 .status = 404, .code = "not_found"},
	{"paths", "a 257-character key", .method = "PUT", .path = "/v1/memory/mesh/" A64 A64 A64 A64 "a", .tok = T_ADMIN,
	 .body = "{\"value\":1}", .status = 400, .code = "bad_request"},
	{"paths", "a key starting with .", .method = "PUT", .path = "/v1/memory/mesh/.hidden", .tok = T_ADMIN,
	 .body = "{\"value\":1}", .status = 400, .code = "bad_request"},
	{"paths", "a key with %20", .path = "/v1/memory/mesh/a%20b", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "a key with é", .path = "/v1/memory/mesh/caf%c3%a9", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a trailing slash", .path = "/v1/memory/mesh/seed.a/", .tok = T_ADMIN, .status = 404,
	 .code = "not_found"},
	{"paths", "a double slash", .path = "/v1//memory/mesh/seed.a", .tok = T_ADMIN, .status = 404, .code = "not_found"},
	{"paths", "nine segments", .path = "/v1/memory/mesh/a/b/c/d/e/f", .tok = T_ADMIN, .status = 404,
	 .code = "not_found"},
	{"paths", "skill name ..", .path = "/v1/skills/mesh/..", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "skill name Triage", .method = "PUT", .path = "/v1/skills/mesh/Triage", .tok = T_ADMIN,
	 .body = "{\"content\":\"# x\"}", .status = 400, .code = "bad_request"},
	{"paths", "skill name with _", .path = "/v1/skills/mesh/a_b/versions", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "skill name %2F", .method = "DELETE", .path = "/v1/skills/mesh/a%2Fb", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "a 65-character skill name", .path = "/v1/skills/mesh/" A64 "a", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "node id %2e%2e", .method = "POST", .path = "/v1/nodes/%2e%2e/heartbeat", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "node id ABN", .method = "PUT", .path = "/v1/nodes/ABN", .tok = T_ADMIN, .body = "{\"name\":\"x\"}",
	 .status = 400, .code = "bad_request"},
	{"paths", "node id empty", .path = "/v1/nodes/", .tok = T_ADMIN, .status = 404, .code = "not_found"},
	{"paths", "a 65-character node id", .method = "DELETE", .path = "/v1/nodes/" A64 "a", .tok = T_ADMIN,
	 .status = 400, .code = "bad_request"},
	{"paths", "token id ..%2F", .method = "DELETE", .path = "/v1/tokens/..%2Ftok", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"paths", "token id with a quote", .path = "/v1/tokens/tok_%27", .tok = T_ADMIN, .status = 404,
	 .code = "not_found"},
	{"paths", "a token id one longer", .method = "DELETE", .path = "/v1/tokens/<<A_ID>>0", .tok = T_ADMIN,
	 .status = 404, .code = "not_found"},
	{"paths", "?scope=MESH", .path = "/v1/memory?scope=MESH", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "?scope=node:", .path = "/v1/skills?scope=node:", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"paths", "changes ?scope=..", .path = "/v1/changes?since=0&scope=..", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},

	/* SQL metacharacters: refused by the grammar, or bound as parameters and matched literally. */
	{"sql", "key with '", .method = "PUT", .path = "/v1/memory/mesh/a%27b", .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 400, .code = "bad_request"},
	{"sql", "key with ;DROP", .path = "/v1/memory/mesh/a%3BDROP%20TABLE%20memory", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"sql", "scope with '--", .path = "/v1/memory/mesh%27--/a", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"sql", "prefix=% must not match everything", .path = "/v1/memory?prefix=%25", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"sql", "prefix=_ matches only a literal _", .path = "/v1/memory?prefix=_", .tok = T_ADMIN, .status = 200,
	 .code = NOT_ERROR, .check = no_items},
	{"sql", "prefix=seed_ does not match seed.a", .path = "/v1/memory?prefix=seed_", .tok = T_ADMIN, .status = 200,
	 .code = NOT_ERROR, .check = no_items},
	{"sql", "prefix=seed%5c", .path = "/v1/memory?prefix=seed%5c", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"sql", "prefix=' OR 1=1", .path = "/v1/memory?prefix=%27%20OR%201%3D1", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"sql", "q with tsquery operators", .path = "/v1/memory?q=qq%20%26%20zz%20%7C%20!yy%20%3A*%20(%20)", .tok = T_ADMIN,
	 .status = 200, .code = NOT_ERROR, .check = no_items},
	{"sql", "q=&|!:*()", .path = "/v1/memory?q=%26%7C!%3A*()", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR,
	 .check = no_items},
	{"sql", "q=' OR ''='", .path = "/v1/memory?q=%27%20OR%20%27%27%3D%27", .tok = T_ADMIN, .status = 200,
	 .code = NOT_ERROR, .check = no_items},
	{"sql", "q=$1", .path = "/v1/memory?q=%241", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR, .check = no_items},
	{"sql", "q=\\", .path = "/v1/memory?q=%5c", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR, .check = no_items},
	{"sql", "q=%", .path = "/v1/memory?q=%25", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR, .check = no_items},
	{"sql", "q=--", .path = "/v1/memory?q=--", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR, .check = no_items},
	{"sql", "q=\"unbalanced", .path = "/v1/memory?q=%22seed", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR},
	{"sql", "q=<-> (a phrase operator)", .path = "/v1/memory?q=qq%20%3C-%3E%20zz", .tok = T_ADMIN, .status = 200,
	 .code = NOT_ERROR, .check = no_items},
	{"sql", "skills q with operators", .path = "/v1/skills?q=!(%26%7C)%3A*%27", .tok = T_ADMIN, .status = 200,
	 .code = NOT_ERROR, .check = no_items},
	{"sql", "tag='; DROP TABLE memory; --", .path = "/v1/memory?tag=%27%3B%20DROP%20TABLE%20memory%3B%20--",
	 .tok = T_ADMIN, .status = 200, .code = NOT_ERROR, .check = no_items},
	{"sql", "node='", .path = "/v1/memory?node=%27", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"sql", "skills node=%", .path = "/v1/skills?node=%25", .tok = T_ADMIN, .status = 400, .code = "bad_request"},
	{"sql", "capability=%", .path = "/v1/nodes?capability=%25", .tok = T_ADMIN, .status = 200, .code = NOT_ERROR,
	 .check = no_items},
	{"sql", "changes kind=memory'", .path = "/v1/changes?since=0&kind=memory%27", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"sql", "updated_after with a quote", .path = "/v1/memory?updated_after=2026-01-01T00:00:00Z%27", .tok = T_ADMIN,
	 .status = 400, .code = "bad_request"},
	{"sql", "cursor='; DROP", .path = "/v1/memory?cursor=%27%3B%20DROP", .tok = T_ADMIN, .status = 400,
	 .code = "bad_request"},
	{"sql", "a value of SQL passes (then If-Match)", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"'); DROP TABLE memory; --\",\"tags\":[\"$1\",\"%\",\"\\\\\"]}", STALE, .status = 412,
	 .code = "version_mismatch"},
	{"sql", "a grant pattern with SQL", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"grants\":[{\"scope\":\"mesh'; --\",\"access\":\"rw\"}]}", .status = 422, .code = "validation_failed"},
	{"sql", "a token node with SQL", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"node\":\"x' OR '1'='1\"}", .status = 422, .code = "validation_failed"},
	{"sql", "a batch key with a quote", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"delete\",\"scope\":\"mesh\",\"key\":\"seed.a' OR 'x'='x\"}]}", .status = 422,
	 .code = "validation_failed"},
	{"sql", "a bridge key with SQL", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .body = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"k;--\",\"value\":1,\"nodeId\":\"abn\"}", .status = 200,
	 .code = NOT_ERROR, .check = all_refused},

	/* Duplicate member names: refused everywhere (cJSON would read the first, jsonb keep the last). */
	{"duplicates", "{\"value\":1,\"value\":2}", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"value\":2}", .status = 400, .code = "invalid_json"},
	{"duplicates", "a duplicate spelled with an escape", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"valu\\u0065\":2}", .status = 400, .code = "invalid_json"},
	{"duplicates", "inside the value", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":{\"a\":1,\"b\":[{\"c\":1,\"c\":2}]}}", .status = 400, .code = "invalid_json"},
	{"duplicates", "in a merge patch", .method = "PATCH", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/merge-patch+json", .body = "{\"text\":null,\"text\":\"x\"}", .status = 400,
	 .code = "invalid_json"},
	{"duplicates", "ops twice in a batch", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"get\",\"scope\":\"mesh\",\"key\":\"seed.a\"}],\"ops\":[{\"op\":\"delete\",\"scope\":"
		 "\"mesh\",\"key\":\"seed.a\"}]}",
	 .status = 400, .code = "invalid_json"},
	{"duplicates", "scope twice in a batch op", .method = "POST", .path = "/v1/batch", .tok = T_NODE,
	 .body = "{\"ops\":[{\"op\":\"delete\",\"scope\":\"node:abn\",\"scope\":\"mesh\",\"key\":\"seed.a\"}]}",
	 .status = 400, .code = "invalid_json"},
	{"duplicates", "admin twice in a token", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"admin\":false,\"admin\":true}", .status = 400, .code = "invalid_json"},
	{"duplicates", "nodeId twice in a message", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .body = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"k\",\"value\":1,\"nodeId\":\"abn\",\"nodeId\":\"ceo\"}",
	 .status = 400, .code = "invalid_json"},
	{"duplicates", "content twice in a skill", .method = "PUT", .path = "/v1/skills/mesh/dup", .tok = T_ADMIN,
	 .body = "{\"content\":\"# a\",\"content\":\"# b\"}", .status = 400, .code = "invalid_json"},
	{"duplicates", "name twice in a node", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .body = "{\"name\":\"a\",\"name\":\"b\"}", .status = 400, .code = "invalid_json"},

	/* Wrong content types. */
	{"content-type", "text/plain", .method = "PUT", .path = SEED, .tok = T_ADMIN, .ctype = "text/plain",
	 .body = "{\"value\":1}", .status = 415, .code = "unsupported_media_type"},
	{"content-type", "none at all", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\nContent-Length: 11\r\n",
	 BYTES("{\"value\":1}"), .status = 415, .code = "unsupported_media_type"},
	{"content-type", "an empty Content-Type", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							  "Content-Type: \r\nContent-Length: 11\r\n",
	 BYTES("{\"value\":1}"), .status = 415, .code = "unsupported_media_type"},
	{"content-type", "charset=latin1", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/json; charset=latin1", .body = "{\"value\":1}", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "charset=utf-16", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .ctype = "application/json;charset=utf-16", .body = "{\"ops\":[]}", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "multipart/form-data", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .ctype = "multipart/form-data; boundary=x", .body = "--x\r\n\r\n{\"value\":1}\r\n--x--\r\n", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "form-urlencoded", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .ctype = "application/x-www-form-urlencoded", .body = "label=x&admin=true", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "application/jsonp (a prefix)", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/jsonp", .body = "{\"value\":1}", .status = 415, .code = "unsupported_media_type"},
	{"content-type", "application/json-patch+json on PATCH", .method = "PATCH", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/json-patch+json", .body = "[{\"op\":\"remove\",\"path\":\"/text\"}]", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "merge-patch on PUT", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .ctype = "application/merge-patch+json", .body = "{\"value\":1}", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "a skill as text/plain", .method = "PUT", .path = "/v1/skills/mesh/ct", .tok = T_ADMIN,
	 .ctype = "text/plain", .body = "# x\n", .status = 415, .code = "unsupported_media_type"},
	{"content-type", "a skill as text/markdown; charset=latin1", .method = "PUT", .path = "/v1/skills/mesh/ct",
	 .tok = T_ADMIN, .ctype = "text/markdown; charset=latin1", .body = "# x\n", .status = 415,
	 .code = "unsupported_media_type"},
	{"content-type", "a node as text/xml", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .ctype = "text/xml", .body = "<name>x</name>", .status = 415, .code = "unsupported_media_type"},
	{"content-type", "messages as text/plain", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .ctype = "text/plain", .body = "{}", .status = 415, .code = "unsupported_media_type"},
	{"content-type", "an import as application/json", .method = "POST", .path = "/v1/import", .tok = T_ADMIN,
	 .body = "{}", .status = 415, .code = "unsupported_media_type"},
	{"content-type", "two Content-Types", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
						      "Content-Type: text/plain\r\nContent-Type: application/json\r\n"
						      "Content-Length: 11\r\n",
	 BYTES("{\"value\":1}"), .status = 415, .code = "unsupported_media_type"},

	/* Chunked bodies beyond limits and malformed chunking. */
	{"chunked", "6 MiB chunked: read to 5 MiB, then cut", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
									"Content-Type: application/json\r\n"
									"Transfer-Encoding: chunked\r\n",
	 .gen = chunked_mib, .arg = 6, .status = 0, .code = NULL},
	{"chunked", "2 MiB chunked: 413", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
						 "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
	 .gen = chunked_mib, .arg = 2, .status = 413, .code = "payload_too_large"},
	{"chunked", "a chunk size that is not hex", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							   "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
	 BYTES("zz\r\n{\"value\":1}\r\n0\r\n\r\n"), .status = 400, .code = LIB},
	{"chunked", "a chunk size over 2^64", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
						     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
	 BYTES("fffffffffffffffffff\r\n{\"value\":1}\r\n0\r\n\r\n"), .status = 413, .code = LIB},
	{"chunked", "a chunk longer than its size", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							   "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
	 BYTES("2\r\n{\"value\":1}\r\n0\r\n\r\n"), .status = 400, .code = LIB},
	{"chunked", "Transfer-Encoding: gzip, chunked", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							       "Content-Type: application/json\r\n"
							       "Transfer-Encoding: gzip, chunked\r\n",
	 BYTES("b\r\n{\"value\":1}\r\n0\r\n\r\n"), .status = 400, .code = "bad_request"},
	{"chunked", "Transfer-Encoding: gzip", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
						      "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n",
	 BYTES("{\"value\":1}"), .status = 400, .code = "bad_request"},
	{"chunked", "Transfer-Encoding: identity", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							  "Content-Type: application/json\r\nTransfer-Encoding: identity\r\n",
	 BYTES("{\"value\":1}"), .status = 400, .code = "bad_request"},
	{"chunked", "Transfer-Encoding twice", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
						      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
						      "Transfer-Encoding: chunked\r\n",
	 BYTES("b\r\n{\"value\":1}\r\n0\r\n\r\n"), .status = 400, .code = "bad_request"},
	{"chunked", "chunked with a Content-Length", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
							    "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
							    "Content-Length: 11\r\n",
	 BYTES("b\r\n{\"value\":1}\r\n0\r\n\r\n"), .status = 400, .code = "bad_request"},
	{"chunked", "two Content-Lengths", .raw = "PUT " SEED " HTTP/1.1\r\nAuthorization: Bearer <<A>>\r\n"
						  "Content-Type: application/json\r\nContent-Length: 11\r\nContent-Length: 11\r\n",
	 BYTES("{\"value\":1}"), .status = 400, .code = "bad_request"},
	{"chunked", "a chunked import by a read-only token: refused before its body",
	 .raw = "POST /v1/import HTTP/1.1\r\nAuthorization: Bearer <<R>>\r\nContent-Type: application/x-ndjson\r\n"
		"Transfer-Encoding: chunked\r\n",
	 .gen = chunked_mib, .arg = 2, .status = 403, .code = "forbidden"},

	/* Bearer tokens that are near misses of real ones: one answer for all of them. */
	{"tokens", "no Authorization", .path = "/v1/whoami", .status = 401, .code = "unauthorized"},
	{"tokens", "Bearer and nothing", .path = "/v1/whoami", .h = {"Authorization: Bearer "}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "first secret character changed", .path = "/v1/whoami", .h = {"Authorization: Bearer <<A_FIRST>>"},
	 .status = 401, .code = "unauthorized"},
	{"tokens", "a middle character changed", .method = "PUT", .path = SEED, .body = "{\"value\":1}",
	 .h = {"Authorization: Bearer <<A_MID>>"}, .status = 401, .code = "unauthorized"},
	{"tokens", "the last character changed", .method = "DELETE", .path = SEED, .h = {"Authorization: Bearer <<A_LAST>>"},
	 .status = 401, .code = "unauthorized"},
	{"tokens", "a node token's middle changed", .method = "POST", .path = "/v1/nodes/abn/heartbeat",
	 .h = {"Authorization: Bearer <<N_MID>>"}, .status = 401, .code = "unauthorized"},
	{"tokens", "truncated by one", .path = "/v1/tokens", .h = {"Authorization: Bearer <<A_SHORT>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "one extra character", .path = "/v1/export", .h = {"Authorization: Bearer <<A_LONG>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret uppercased", .path = "/v1/stats", .h = {"Authorization: Bearer <<A_UPPER>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret lowercased", .path = "/v1/audit", .h = {"Authorization: Bearer <<A_LOWER>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "CM_ for cm_", .path = "/v1/changes?since=0", .h = {"Authorization: Bearer <<A_CM>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the token id instead of the secret", .path = "/v1/whoami", .h = {"Authorization: Bearer <<A_ID>>"},
	 .status = 401, .code = "unauthorized"},
	{"tokens", "the stored hash instead of the secret", .path = "/v1/whoami", .h = {"Authorization: Bearer <<A_HASH>>"},
	 .status = 401, .code = "unauthorized"},
	{"tokens", "cm_ and the hash", .path = "/v1/whoami", .h = {"Authorization: Bearer <<A_CMHASH>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "a revoked token", .path = "/v1/whoami", .h = {"Authorization: Bearer <<REVOKED>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "an expired token", .method = "POST", .path = "/v1/messages", .body = "{}",
	 .h = {"Authorization: Bearer <<EXPIRED>>"}, .status = 401, .code = "unauthorized"},
	{"tokens", "Basic", .path = "/v1/whoami", .h = {"Authorization: Basic YWRtaW46YWRtaW4="}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "Basic with the secret", .path = "/v1/whoami", .h = {"Authorization: Basic <<A>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "Token scheme", .path = "/v1/whoami", .h = {"Authorization: Token <<A>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret without a scheme", .path = "/v1/whoami", .h = {"Authorization: <<A>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "Bearer glued to the secret", .path = "/v1/whoami", .h = {"Authorization: Bearer<<A>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "Bearers", .path = "/v1/whoami", .h = {"Authorization: Bearers <<A>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret quoted", .path = "/v1/whoami", .h = {"Authorization: Bearer \"<<A>>\""}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret twice", .path = "/v1/whoami", .h = {"Authorization: Bearer <<A>> <<A>>"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret and a comma", .path = "/v1/whoami", .h = {"Authorization: Bearer <<A>>,"}, .status = 401,
	 .code = "unauthorized"},
	{"tokens", "two Authorization headers, the good one first", .path = "/v1/whoami",
	 .h = {"Authorization: Bearer <<A>>", "Authorization: Bearer cm_nope"}, .status = 401, .code = "unauthorized"},
	{"tokens", "two Authorization headers, the good one second", .path = "/v1/whoami",
	 .h = {"Authorization: Bearer cm_nope", "Authorization: Bearer <<A>>"}, .status = 401, .code = "unauthorized"},
	{"tokens", "two Authorization headers, both good", .method = "DELETE", .path = SEED,
	 .h = {"Authorization: Bearer <<A>>", "Authorization: Bearer <<A>>"}, .status = 401, .code = "unauthorized"},
	{"tokens", "the secret in the query", .path = "/v1/whoami?access_token=<<A>>", .status = 401,
	 .code = "unauthorized"},
	{"tokens", "the secret in a cookie", .path = "/v1/whoami", .h = {"Cookie: token=<<A>>"}, .status = 401,
	 .code = "unauthorized"},
	/* RFC 7235: the scheme is case-insensitive and 1*SP separates it; the secret is compared exactly. */
	{"tokens", "bearer in lowercase is the scheme still", .path = "/v1/whoami", .h = {"Authorization: bearer <<A>>"},
	 .status = 200, .code = NOT_ERROR, .check = is_admin},
	{"tokens", "extra spaces after Bearer", .path = "/v1/whoami", .h = {"Authorization: Bearer   <<A>>"},
	 .status = 200, .code = NOT_ERROR, .check = is_admin},
	{"tokens", "a tab after Bearer", .path = "/v1/whoami", .h = {"Authorization: Bearer\t<<A>>"}, .status = 200,
	 .code = NOT_ERROR, .check = is_admin},

	/* Grants: a real token asking for more than it has. */
	{"grants", "read-only PUT", .method = "PUT", .path = SEED, .tok = T_READ, .body = "{\"value\":1}", .status = 403,
	 .code = "forbidden"},
	{"grants", "read-only PATCH", .method = "PATCH", .path = SEED, .tok = T_READ,
	 .ctype = "application/merge-patch+json", .body = "{\"a\":1}", .status = 403, .code = "forbidden"},
	{"grants", "read-only DELETE", .method = "DELETE", .path = SEED, .tok = T_READ, .status = 403, .code = "forbidden"},
	{"grants", "read-only batch put", .method = "POST", .path = "/v1/batch", .tok = T_READ,
	 .body = "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"seed.a\",\"value\":2}]}", .status = 403,
	 .code = "forbidden"},
	{"grants", "read-only skill PUT", .method = "PUT", .path = "/v1/skills/mesh/seedskill", .tok = T_READ,
	 .ctype = "text/markdown", .body = "# x\n", .status = 403, .code = "forbidden"},
	{"grants", "read-only skill DELETE", .method = "DELETE", .path = "/v1/skills/mesh/seedskill", .tok = T_READ,
	 .status = 403, .code = "forbidden"},
	{"grants", "node token reads another node's scope", .path = "/v1/memory/node:other/k", .tok = T_NODE,
	 .status = 403, .code = "forbidden"},
	{"grants", "node token lists another node's scope", .path = "/v1/memory?scope=node:other", .tok = T_NODE,
	 .status = 403, .code = "forbidden"},
	{"grants", "node token registers another node", .method = "PUT", .path = "/v1/nodes/other", .tok = T_NODE,
	 .body = "{\"name\":\"x\"}", .status = 403, .code = "forbidden"},
	{"grants", "node token heartbeats another node", .method = "POST", .path = "/v1/nodes/other/heartbeat",
	 .tok = T_NODE, .status = 403, .code = "forbidden"},
	{"grants", "node token deletes a node", .method = "DELETE", .path = "/v1/nodes/abn", .tok = T_NODE, .status = 403,
	 .code = "forbidden"},
	{"grants", "node token creates a token", .method = "POST", .path = "/v1/tokens", .tok = T_NODE,
	 .body = "{\"admin\":true}", .status = 403, .code = "forbidden"},
	{"grants", "node token revokes the admin", .method = "DELETE", .path = "/v1/tokens/<<A_ID>>", .tok = T_NODE,
	 .status = 403, .code = "forbidden"},
	{"grants", "read-only token lists tokens", .path = "/v1/tokens", .tok = T_READ, .status = 403, .code = "forbidden"},
	{"grants", "node token reads the audit", .path = "/v1/audit", .tok = T_NODE, .status = 403, .code = "forbidden"},
	{"grants", "read-only token exports", .path = "/v1/export", .tok = T_READ, .status = 403, .code = "forbidden"},
	{"grants", "node token imports", .method = "POST", .path = "/v1/import", .tok = T_NODE,
	 .ctype = "application/x-ndjson", .body = "{}\n", .status = 403, .code = "forbidden"},
	{"grants", "node token reads /metrics", .path = "/metrics", .tok = T_NODE, .status = 403, .code = "forbidden"},
	{"grants", "a message in another node's name", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .body = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"k\",\"value\":1,\"nodeId\":\"ceo\"}", .status = 200,
	 .code = NOT_ERROR, .check = all_refused},
	{"grants", "read-only message write", .method = "POST", .path = "/v1/messages", .tok = T_READ,
	 .body = "[{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"k\",\"value\":1},{\"type\":\"skill\",\"name\":\"s\","
		 "\"content\":\"# s\"}]",
	 .status = 200, .code = NOT_ERROR, .check = all_refused},

	/* Bad content in valid JSON, per endpoint. */
	{"content", "a body that is an array", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "[1]", .status = 422,
	 .code = "validation_failed"},
	{"content", "an unknown field", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1,\"node\":\"x\"}",
	 .status = 422, .code = "validation_failed"},
	{"content", "tags not strings", .method = "PUT", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1,\"tags\":[1]}",
	 .status = 422, .code = "validation_failed"},
	{"content", "a 65-character tag", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"tags\":[\"" A64 "a\"]}", .status = 422, .code = "validation_failed"},
	{"content", "a control character in a tag", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"tags\":[\"a\\u0007\"]}", .status = 422, .code = "validation_failed"},
	{"content", "expires_at in the past", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"expires_at\":\"2000-01-01T00:00:00Z\"}", .status = 422, .code = "validation_failed"},
	{"content", "expires_at 30 February", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":1,\"expires_at\":\"2030-02-30T00:00:00Z\"}", .status = 422, .code = "validation_failed"},
	{"content", "a secret in a value", .method = "PUT", .path = SEED, .tok = T_ADMIN,
	 .body = "{\"value\":\"token <<N>>\"}", .status = 422, .code = "secret_detected"},
	{"content", "a batch of no ops", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN, .body = "{\"ops\":[]}",
	 .status = 422, .code = "validation_failed"},
	{"content", "a batch op of unknown kind", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"drop\",\"scope\":\"mesh\",\"key\":\"seed.a\"}]}", .status = 422,
	 .code = "validation_failed"},
	{"content", "a failing batch leaves the good ops undone", .method = "POST", .path = "/v1/batch", .tok = T_ADMIN,
	 .body = "{\"ops\":[{\"op\":\"delete\",\"scope\":\"mesh\",\"key\":\"seed.b\"},{\"op\":\"put\",\"scope\":\"mesh\","
		 "\"key\":\"seed.a\",\"value\":2,\"if_match\":99}]}",
	 .status = 409, .code = "conflict"},
	{"content", "a skill whose front matter names another", .method = "PUT", .path = "/v1/skills/mesh/fm", .tok = T_ADMIN,
	 .ctype = "text/markdown", .body = "---\nname: other\n---\n# x\n", .status = 422, .code = "validation_failed"},
	{"content", "a skill with broken front matter", .method = "PUT", .path = "/v1/skills/mesh/fm", .tok = T_ADMIN,
	 .ctype = "text/markdown", .body = "---\nname: [fm\n---\n# x\n", .status = 422, .code = "validation_failed"},
	{"content", "skill content not a string", .method = "PUT", .path = "/v1/skills/mesh/fm", .tok = T_ADMIN,
	 .body = "{\"content\":1}", .status = 422, .code = "validation_failed"},
	{"content", "a node with an empty name", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .body = "{\"name\":\"\"}", .status = 422, .code = "validation_failed"},
	{"content", "node capabilities not an array", .method = "PUT", .path = "/v1/nodes/abn", .tok = T_NODE,
	 .body = "{\"name\":\"x\",\"capabilities\":\"all\"}", .status = 422, .code = "validation_failed"},
	{"content", "a token with an unknown access", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"grants\":[{\"scope\":\"mesh\",\"access\":\"rwx\"}]}", .status = 422, .code = "validation_failed"},
	{"content", "a token label of 129 characters", .method = "POST", .path = "/v1/tokens", .tok = T_ADMIN,
	 .body = "{\"label\":\"" A64 A64 "a\"}", .status = 422, .code = "validation_failed"},
	{"content", "messages: an empty array", .method = "POST", .path = "/v1/messages", .tok = T_NODE, .body = "[]",
	 .status = 422, .code = "validation_failed"},
	{"content", "messages: a number", .method = "POST", .path = "/v1/messages", .tok = T_NODE, .body = "1",
	 .status = 422, .code = "validation_failed"},
	{"content", "messages: an unknown type", .method = "POST", .path = "/v1/messages", .tok = T_NODE,
	 .body = "{\"type\":\"sql\",\"query\":\"DROP TABLE memory\"}", .status = 200, .code = NOT_ERROR,
	 .check = all_refused},
	{"content", "an import that is not NDJSON", .method = "POST", .path = "/v1/import", .tok = T_ADMIN,
	 .ctype = "application/x-ndjson", .body = "not json\n", .status = 400, .code = "invalid_json"},
	{"content", "an import with a bad header line", .method = "POST", .path = "/v1/import", .tok = T_ADMIN,
	 .ctype = "application/x-ndjson", .body = "{\"type\":\"header\",\"format\":1}\n", .status = 400,
	 .code = "bad_request"},
	{"content", "an import whose second line is bad", .method = "POST", .path = "/v1/import", .tok = T_ADMIN,
	 .ctype = "application/x-ndjson",
	 .body = "{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":99}\n{\"type\":\"memory\",\"scope\":\"MESH\"}\n",
	 .status = 400, .code = "bad_request"},
	{"content", "an import with duplicate names", .method = "POST", .path = "/v1/import", .tok = T_ADMIN,
	 .ctype = "application/x-ndjson",
	 .body = "{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":99,\"revision\":1}\n", .status = 400,
	 .code = "invalid_json"},
	{"content", "an import of 10,000-deep nesting", .method = "POST", .path = "/v1/import", .tok = T_ADMIN,
	 .ctype = "application/x-ndjson", .gen = import_objects, .arg = 10000, .status = 400, .code = "invalid_json"},

	/* Methods and routes. */
	{"routes", "TRACE", .method = "TRACE", .path = "/v1/whoami", .tok = T_ADMIN, .status = 405,
	 .code = "method_not_allowed"},
	{"routes", "POST on a memory entry", .method = "POST", .path = SEED, .tok = T_ADMIN, .body = "{\"value\":1}",
	 .status = 405, .code = "method_not_allowed"},
	{"routes", "DELETE on the memory listing", .method = "DELETE", .path = "/v1/memory", .tok = T_ADMIN, .status = 405,
	 .code = "method_not_allowed"},
	{"routes", "PUT on history", .method = "PUT", .path = SEED "/history", .tok = T_ADMIN, .body = "{}",
	 .status = 405, .code = "method_not_allowed"},
	{"routes", "a made-up method", .method = "PURGE", .path = "/v1/memory", .tok = T_ADMIN, .status = 405,
	 .code = "method_not_allowed"},
	{"routes", "/v2", .path = "/v2/whoami", .tok = T_ADMIN, .status = 404, .code = "not_found"},
	{"routes", "/V1 in capitals", .path = "/V1/whoami", .tok = T_ADMIN, .status = 404, .code = "not_found"},
	{"routes", "an absolute-form target elsewhere", .raw = "GET http://evil.example/v1/whoami HTTP/1.1\r\n"
								"Authorization: Bearer <<A>>\r\n",
	 .status = 404, .code = "not_found"},
	{"routes", "an asterisk target", .raw = "OPTIONS * HTTP/1.1\r\n", .status = 404, .code = "not_found"},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* ---- the database fingerprint ---- */

static const char fingerprint_sql[] =
	"SELECT md5(concat_ws('|',"
	" (SELECT string_agg(t::text, ',' ORDER BY scope, key) FROM memory t),"
	" (SELECT string_agg(t::text, ',' ORDER BY revision) FROM memory_history t),"
	" (SELECT string_agg(t::text, ',' ORDER BY scope, name) FROM skills t),"
	" (SELECT string_agg(t::text, ',' ORDER BY revision) FROM skill_versions t),"
	" (SELECT string_agg(t::text, ',' ORDER BY id) FROM nodes t),"
	" (SELECT string_agg((t.id, t.secret_hash, t.label, t.node, t.admin, t.grants, t.created_at, t.expires_at,"
	"   t.revoked_at)::text, ',' ORDER BY id) FROM tokens t),"
	" (SELECT string_agg(t::text, ',' ORDER BY revision) FROM changes t),"
	" (SELECT string_agg(t::text, ',') FROM cm_feed t)))";

static char *fingerprint(void)
{
	char *f = db_value(pg, fingerprint_sql, 0, NULL);
	ck_assert_ptr_nonnull(f);
	return f;
}

/* ---- running a row ---- */

static const char *secret_of(enum tok t)
{
	return t == T_ADMIN ? admin : t == T_NODE ? node_tok : t == T_READ ? read_tok : NULL;
}

static void send_row(const struct row *r, struct http_resp *rs, int *cut)
{
	size_t glen = 0;
	char *gen = r->gen ? r->gen(r->arg, &glen) : NULL;
	if (!gen && r->body)
		gen = expand_n(r->body, r->body_len ? r->body_len : strlen(r->body), &glen);
	const char *body = gen;
	size_t blen = glen;
	*cut = 0;
	if (r->raw) {
		size_t hlen;
		char *head = expand_n(r->raw, r->raw_len ? r->raw_len : strlen(r->raw), &hlen);
		*cut = raw_request(head, hlen, body, blen, rs);
		free(head);
		free(gen);
		return;
	}
	char *path = expand(r->path);
	char *hs[4] = {NULL};
	struct http_req rq = {.method = r->method, .path = path, .token = secret_of(r->tok), .body = body,
			      .body_len = blen, .content_type = r->ctype, .chunked = r->chunked};
	for (int i = 0; i < 4 && r->h[i]; i++)
		rq.headers[i] = hs[i] = expand(r->h[i]);
	ck_assert_int_eq(http(&srv, &rq, rs), 0);
	for (int i = 0; i < 4; i++)
		free(hs[i]);
	free(path);
	free(gen);
}

START_TEST(abuse_row)
{
	const struct row *r = &rows[_i];
	char *before = fingerprint();
	struct http_resp rs;
	int cut;
	send_row(r, &rs, &cut);
	if (r->status == 0) {
		ck_assert_msg(cut, "[%s/%s] wanted the connection cut, got %ld %s", r->cat, r->name, rs.status, rs.body);
	} else {
		ck_assert_msg(!cut, "[%s/%s] no answer", r->cat, r->name);
		ck_assert_msg(rs.status == r->status, "[%s/%s] status %ld, wanted %ld: %.300s", r->cat, r->name, rs.status,
			      r->status, rs.body);
		ck_assert_msg(rs.status != 500, "[%s/%s] a 500", r->cat, r->name);
		if (r->code && !strcmp(r->code, LIB)) {
			/* libmicrohttpd's own refusal: the documented exception; no JSON. */
			ck_assert_ptr_null(rs.json);
		} else if (r->code) {
			ck_assert_msg(rs.json && resp_error_code(&rs)[0], "[%s/%s] no envelope: %.300s", r->cat, r->name,
				      rs.body);
			ck_assert_msg(!strcmp(resp_error_code(&rs), r->code), "[%s/%s] code %s, wanted %s: %.300s", r->cat,
				      r->name, resp_error_code(&rs), r->code, rs.body);
			expect_error(&rs, r->status, r->code);
			ck_assert_ptr_null(strstr(rs.body, "<html"));
			if (r->status == 401) {
				/* One answer whatever was wrong: nothing tells a near miss from a random string. */
				char b[128];
				const cJSON *e = cJSON_GetObjectItem(rs.json, "error");
				ck_assert_str_eq(cJSON_GetObjectItem(e, "message")->valuestring, "A valid bearer token is required.");
				ck_assert_ptr_null(cJSON_GetObjectItem(e, "details"));
				ck_assert_ptr_nonnull(resp_header(&rs, "WWW-Authenticate", b, sizeof b));
				ck_assert_str_eq(b, "Bearer realm=\"clawmesh\"");
			}
		}
		if (r->check)
			r->check(&rs);
	}
	resp_free(&rs);
	char *after = fingerprint();
	ck_assert_msg(!strcmp(before, after), "[%s/%s] the database changed", r->cat, r->name);
	free(before);
	free(after);
}
END_TEST

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A well-formed secret that is wrong costs the same however near it is to a real one: it is looked
 * up by its SHA-256, so where it differs changes nothing. Rounds interleave the kinds, so a busy
 * machine slows them alike; the medians are printed, and must agree within a loose bound. */
START_TEST(near_misses_take_the_same_time)
{
	enum { KINDS = 5, ROUNDS = 40 };
	static const char *const kinds[KINDS] = {"A_FIRST", "A_MID", "A_LAST", "N_MID", "random"};
	char secrets[KINDS][48];
	for (int k = 0; k < KINDS; k++) {
		char *v = k < KINDS - 1 ? placeholder(kinds[k]) : NULL;
		if (v)
			snprintf(secrets[k], sizeof secrets[k], "%s", v);
		else
			make_secret(secrets[k]);
		free(v);
	}
	static double us[KINDS][ROUNDS];
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < KINDS; k++) {
			double t0 = now_us();
			long s = status_at(&srv, REQ(.path = "/v1/whoami", .token = secrets[k]));
			us[k][r] = now_us() - t0;
			ck_assert_int_eq(s, 401);
		}
	double med[KINDS], lo = 1e18, hi = 0;
	printf("# near-miss 401 medians (us):");
	for (int k = 0; k < KINDS; k++) {
		qsort(us[k], ROUNDS, sizeof us[k][0], cmp_double);
		med[k] = us[k][ROUNDS / 2];
		lo = med[k] < lo ? med[k] : lo;
		hi = med[k] > hi ? med[k] : hi;
		printf(" %s %.0f", kinds[k], med[k]);
	}
	printf("\n");
	ck_assert_msg(hi < 2 * lo + 2000, "medians from %.0f to %.0f us", lo, hi);
}
END_TEST

/* After the table: the server serves, and (below, in the teardown) stops cleanly with a clean log. */
START_TEST(still_healthy)
{
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/healthz")), 200);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/whoami", .token = admin)), 200);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/seed.a", .token = read_tok)), 200);
	const char *last = NULL;
	int n = 0;
	printf("# abuse: %d rows:", NROWS);
	for (int i = 0; i <= NROWS; i++) {
		if (i == NROWS || (last && strcmp(last, rows[i].cat))) {
			printf(" %s %d%s", last, n, i == NROWS ? "\n" : ",");
			n = 0;
		}
		if (i < NROWS)
			last = rows[i].cat, n++;
	}
}
END_TEST

/* ---- fixture ---- */

static void put_ok(const char *method, const char *path, const char *token, const char *ctype, const char *body)
{
	long s = status_at(&srv, REQ(.method = method, .path = path, .token = token, .body = body, .content_type = ctype));
	ck_assert_msg(s >= 200 && s < 300, "%s %s: %ld", method, path, s);
}

/* A database of its own: the fingerprint covers every row, and rows such as "q=' OR ''='
 * matches nothing" hold only where nothing but the seed below exists (in the shared database,
 * after the other cases, that search found their entries). */
static void abuse_db_up(void)
{
	pg = db_connect("cm_abuse");
	ck_assert_ptr_nonnull(pg);
}

static void suite_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start_own_db(&srv, admin, "cm_abuse"), 0);
	abuse_db_up();
	char *id = db_value(pg, "SELECT id FROM tokens WHERE secret_hash = sha256(convert_to($1, 'UTF8'))", 1,
			    (const char *[]){admin});
	ck_assert_ptr_nonnull(id);
	snprintf(admin_id, sizeof admin_id, "%s", id);
	free(id);
	char tid[29];
	create_token(&srv, admin, "{\"label\":\"abuse node\",\"node\":\"abn\"}", node_tok, node_id);
	create_token(&srv, admin,
		     "{\"label\":\"abuse read\",\"grants\":[{\"scope\":\"mesh\",\"access\":\"r\"},"
		     "{\"scope\":\"project:*\",\"access\":\"r\"}]}",
		     read_tok, tid);
	create_token(&srv, admin, "{\"label\":\"abuse revoked\"}", revoked, tid);
	char path[64];
	snprintf(path, sizeof path, "/v1/tokens/%s", tid);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = path, .token = admin)), 204);
	create_token(&srv, admin, "{\"label\":\"abuse expired\",\"expires_in\":1}", expired, tid);
	put_ok("PUT", "/v1/memory/mesh/seed.a", admin, NULL, "{\"value\":{\"text\":\"hello seed\"},\"tags\":[\"t1\"]}");
	put_ok("PUT", "/v1/memory/mesh/seed.b", admin, NULL, "{\"value\":[1,2,3]}");
	put_ok("PUT", "/v1/memory/node:abn/own", node_tok, NULL, "{\"value\":\"mine\"}");
	put_ok("PUT", "/v1/memory/project:p1/x", admin, NULL, "{\"value\":null}");
	put_ok("PUT", "/v1/skills/mesh/seedskill", admin, "text/markdown",
	       "---\nname: seedskill\ndescription: a seed\n---\n# Seed\n");
	put_ok("PUT", "/v1/nodes/abn", node_tok, NULL, "{\"name\":\"abuse\",\"capabilities\":[\"triage\"]}");
	sleep_ms(1100); /* the expired token's second passes */
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/whoami", .token = expired)), 401);
	pg_each_down();
}

static void suite_down(void)
{
	ck_assert_int_eq(server_stop(&srv), 0); /* under ASan: 0 means no leak */
	FILE *f = fopen(srv.log, "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	while (fgets(line, sizeof line, f)) {
		ck_assert_msg(!strstr(line, "Sanitizer") && !strstr(line, "runtime error"), "sanitizer: %s", line);
		ck_assert_msg(!strstr(line, admin) && !strstr(line, node_tok), "a secret in the log: %s", line);
	}
	fclose(f);
}

TCase *abuse_tcase(void);
TCase *abuse_tcase(void)
{
	TCase *tc = tcase_create("abuse");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, suite_up, suite_down);
	tcase_add_checked_fixture(tc, abuse_db_up, pg_each_down);
	tcase_add_loop_test(tc, abuse_row, 0, NROWS);
	tcase_add_test(tc, near_misses_take_the_same_time);
	tcase_add_test(tc, still_healthy);
	return tc;
}
