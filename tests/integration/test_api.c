/* Integration tests: real PostgreSQL, real clawmeshd processes, libcurl. Each test asserts the
 * status, the error code and, where it wrote or was refused, the database afterwards. */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdbool.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct server srv; /* the main server, CORS allowed for https://dash.example */
static char admin[47];

static void suite_up(void)
{
	make_secret(admin);
	const char *args[] = {"--cors-origin", "https://dash.example", NULL};
	ck_assert_int_eq(server_start(&srv, admin, args), 0);
}

/* Anything shaped like a token secret: "cm_" and 43 base64url characters. */
static bool has_token_shape(const char *line)
{
	for (const char *p = strstr(line, "cm_"); p; p = strstr(p + 1, "cm_"))
		if (strspn(p + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") >= 43)
			return true;
	return false;
}

static void suite_down(void)
{
	ck_assert_int_eq(server_stop(&srv), 0);
	/* The access log has a line per request and never a token. */
	FILE *f = fopen(srv.log, "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	long access = 0;
	while (fgets(line, sizeof line, f)) {
		access += strstr(line, " access ") != NULL;
		ck_assert_msg(!has_token_shape(line), "a token secret in the log: %s", line);
		ck_assert_msg(!strstr(line, "Bearer"), "an Authorization header in the log: %s", line);
	}
	fclose(f);
	ck_assert_int_gt(access, 50);
}

static const cJSON *find_grant(const cJSON *grants, const char *scope)
{
	const cJSON *g;
	cJSON_ArrayForEach(g, grants)
		if (!strcmp(cJSON_GetObjectItem(g, "scope")->valuestring, scope))
			return g;
	return NULL;
}

START_TEST(health_and_ready)
{
	struct http_resp rs;
	char b[128];
	ck_assert_int_eq(http(&srv, REQ(.path = "/healthz"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "status")->valuestring, "ok");
	ck_assert_ptr_nonnull(resp_header(&rs, "X-Request-Id", b, sizeof b));
	resp_free(&rs);

	ck_assert_int_eq(http(&srv, REQ(.method = "HEAD", .path = "/healthz"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_uint_eq(rs.len, 0);
	resp_free(&rs);

	ck_assert_int_eq(http(&srv, REQ(.path = "/readyz"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "status")->valuestring, "ready");
	ck_assert_int_eq(cJSON_GetObjectItem(rs.json, "schema_version")->valueint,
			 (int)db_count(pg, "SELECT max(version) FROM clawmesh_migrations"));
	resp_free(&rs);

	ck_assert_int_eq(http(&srv, REQ(.path = "/openapi.yaml"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert(!strncmp(rs.body, "openapi: 3.1", 12));
	ck_assert_ptr_nonnull(resp_header(&rs, "Content-Type", b, sizeof b));
	ck_assert(!strncmp(b, "application/yaml", 16));
	resp_free(&rs);
}
END_TEST

START_TEST(request_ids)
{
	struct http_resp rs;
	char b[128];
	ck_assert_int_eq(http(&srv, REQ(.path = "/healthz", .headers = {"X-Request-Id: agent-42.turn:7"}), &rs), 0);
	ck_assert_str_eq(resp_header(&rs, "X-Request-Id", b, sizeof b), "agent-42.turn:7");
	resp_free(&rs);
	/* Not sane (spaces, quotes, too long): replaced by our own. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/healthz", .headers = {"X-Request-Id: a b\"<x>"}), &rs), 0);
	ck_assert_str_ne(resp_header(&rs, "X-Request-Id", b, sizeof b), "a b\"<x>");
	ck_assert_uint_eq(strspn(b, "0123456789abcdef"), 20);
	resp_free(&rs);
	char longid[200] = "X-Request-Id: ";
	memset(longid + 14, 'a', 100);
	ck_assert_int_eq(http(&srv, REQ(.path = "/healthz", .headers = {longid}), &rs), 0);
	ck_assert_uint_eq(strlen(resp_header(&rs, "X-Request-Id", b, sizeof b)), 20);
	resp_free(&rs);
	/* Our own ids never repeat, across the batches they are drawn in (64 a thread). */
	enum { IDS = 300 };
	static char ids[IDS][24];
	for (int i = 0; i < IDS; i++) {
		ck_assert_int_eq(http(&srv, REQ(.path = "/healthz"), &rs), 0);
		ck_assert_ptr_nonnull(resp_header(&rs, "X-Request-Id", ids[i], sizeof ids[i]));
		ck_assert_uint_eq(strspn(ids[i], "0123456789abcdef"), 20);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
		resp_free(&rs);
	}
}
END_TEST

START_TEST(routing_errors)
{
	struct http_resp rs;
	char b[128];
	ck_assert_int_eq(http(&srv, REQ(.path = "/nope"), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
	/* Unknown /v1 paths are 404 before any token check, so routes cannot be probed either way. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/nope"), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/tokens", .token = admin), &rs), 0);
	expect_error(&rs, 405, "method_not_allowed");
	ck_assert_str_eq(resp_header(&rs, "Allow", b, sizeof b), "GET, HEAD, POST, OPTIONS");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/healthz"), &rs), 0);
	expect_error(&rs, 405, "method_not_allowed");
	ck_assert_str_eq(resp_header(&rs, "Allow", b, sizeof b), "GET, HEAD, OPTIONS");
	resp_free(&rs);
	/* An encoded slash never forges a segment. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens/a%2Fb", .token = admin), &rs), 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1%2Fwhoami", .token = admin), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
}
END_TEST

START_TEST(cors)
{
	struct http_resp rs;
	char b[256];
	ck_assert_int_eq(http(&srv, REQ(.method = "OPTIONS", .path = "/v1/whoami",
					.headers = {"Origin: https://dash.example", "Access-Control-Request-Method: GET"}),
			      &rs), 0);
	ck_assert_int_eq(rs.status, 204);
	ck_assert_str_eq(resp_header(&rs, "Access-Control-Allow-Origin", b, sizeof b), "https://dash.example");
	ck_assert(strstr(resp_header(&rs, "Access-Control-Allow-Headers", b, sizeof b), "Authorization"));
	ck_assert(strstr(resp_header(&rs, "Access-Control-Allow-Methods", b, sizeof b), "GET"));
	resp_free(&rs);

	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = admin, .headers = {"Origin: https://dash.example"}), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(resp_header(&rs, "Access-Control-Allow-Origin", b, sizeof b), "https://dash.example");
	resp_free(&rs);

	ck_assert_int_eq(http(&srv, REQ(.method = "OPTIONS", .path = "/v1/whoami",
					.headers = {"Origin: https://evil.example", "Access-Control-Request-Method: GET"}),
			      &rs), 0);
	ck_assert_int_eq(rs.status, 204);
	ck_assert_ptr_null(resp_header(&rs, "Access-Control-Allow-Origin", b, sizeof b));
	resp_free(&rs);
}
END_TEST

START_TEST(unauthorized)
{
	struct http_resp rs;
	char b[128];
	char unknown[47];
	make_secret(unknown);
	char near[47];
	snprintf(near, sizeof near, "%s", admin);
	near[45] = near[45] == 'A' ? 'B' : 'A'; /* one character off the real admin token */
	const char *bad[] = {NULL, "", "cm_short", unknown, near, "Basic abc"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct http_req rq = {.path = "/v1/whoami", .token = bad[i]};
		if (bad[i] && !strcmp(bad[i], "Basic abc")) {
			rq.token = NULL;
			rq.headers[0] = "Authorization: Basic abc";
		}
		ck_assert_int_eq(http(&srv, &rq, &rs), 0);
		expect_error(&rs, 401, "unauthorized");
		ck_assert(!strncmp(resp_header(&rs, "WWW-Authenticate", b, sizeof b), "Bearer", 6));
		resp_free(&rs);
	}
}
END_TEST

/* A flood of bad tokens cannot fill the audit table: a fresh server records the first 30 refusals
 * from one address, then one every 2 s, and counts the rest in /metrics; a valid token's 403s are
 * all recorded meanwhile. */
START_TEST(unauthenticated_refusals_have_an_audit_budget)
{
	struct server s;
	ck_assert_int_eq(server_start(&s, admin, NULL), 0);
	char *last = db_value(pg, "SELECT coalesce(max(id), 0) FROM audit", 0, NULL);
	char secret[47], id[29];
	create_token(&s, admin, "{\"node\":\"sec\"}", secret, id);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const int flood = 100;
	for (int i = 0; i < flood; i++) {
		ck_assert_int_eq(status_at(&s, REQ(.path = "/v1/whoami", .token = "cm_not-a-real-token")), 401);
		if (i % 10 == 0)
			ck_assert_int_eq(status_at(&s, REQ(.path = "/v1/memory/node:ceo/x", .token = secret)), 403);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	char *n = db_value(pg, "SELECT count(*) FROM audit WHERE id > $1 AND status = 401", 1, (const char *[]){last});
	char *forbidden = db_value(pg, "SELECT count(*) FROM audit WHERE id > $1 AND status = 403", 1, (const char *[]){last});
	long recorded = atol(n);
	printf("# audit budget: %d bad-token requests in %.2f s, %ld recorded\n", flood, secs, recorded);
	ck_assert_int_ge(recorded, 30);
	ck_assert_int_le(recorded, 30 + (long)(secs * 0.5) + 1);
	ck_assert_int_eq(atol(forbidden), flood / 10);
	free(n);
	free(forbidden);
	free(last);
	struct http_resp rs;
	ck_assert_int_eq(http(&s, REQ(.path = "/metrics", .token = admin), &rs), 0);
	char want[64];
	snprintf(want, sizeof want, "\nclawmesh_audit_suppressed_total %ld\n", flood - recorded);
	ck_assert_ptr_nonnull(strstr(rs.body, want));
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

START_TEST(whoami_admin)
{
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(rs.json, "admin")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rs.json, "node")));
	const cJSON *star = find_grant(cJSON_GetObjectItem(rs.json, "grants"), "*");
	ck_assert_ptr_nonnull(star);
	ck_assert_str_eq(cJSON_GetObjectItem(star, "access")->valuestring, "rw");
	ck_assert(!strncmp(cJSON_GetObjectItem(rs.json, "token_id")->valuestring, "tok_", 4));
	resp_free(&rs);
}
END_TEST

START_TEST(token_lifecycle)
{
	char secret[47], id[29], b[256];
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin,
					.body = "{\"label\":\"Sec NAS\",\"node\":\"sec\"}"), &rs), 0);
	ck_assert_int_eq(rs.status, 201);
	snprintf(secret, sizeof secret, "%s", cJSON_GetObjectItem(rs.json, "token")->valuestring);
	snprintf(id, sizeof id, "%s", cJSON_GetObjectItem(rs.json, "id")->valuestring);
	snprintf(b, sizeof b, "/v1/tokens/%s", id);
	char loc[256];
	ck_assert_str_eq(resp_header(&rs, "Location", loc, sizeof loc), b);
	ck_assert_uint_eq(strlen(secret), 46);
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "node")->valuestring, "sec");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(rs.json, "admin")));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rs.json, "revoked_at")));
	resp_free(&rs);

	/* Only the SHA-256 is stored: no column holds the secret. */
	unsigned char h[32];
	unsigned int hl = 32;
	EVP_Digest(secret, strlen(secret), h, &hl, EVP_sha256(), NULL);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	const char *p[] = {id};
	char *stored = db_value(pg, "SELECT encode(secret_hash, 'hex') FROM tokens WHERE id = $1", 1, p);
	ck_assert_str_eq(stored, hex);
	free(stored);
	const char *s[] = {secret};
	char *leak = db_value(pg, "SELECT count(*) FROM tokens t WHERE row_to_json(t)::text LIKE '%' || $1 || '%'", 1, s);
	ck_assert_str_eq(leak, "0");
	free(leak);

	/* The new node token: mesh rw by default, its own node rw implicitly, not admin. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "node")->valuestring, "sec");
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "label")->valuestring, "Sec NAS");
	const cJSON *grants = cJSON_GetObjectItem(rs.json, "grants");
	ck_assert_str_eq(cJSON_GetObjectItem(find_grant(grants, "mesh"), "access")->valuestring, "rw");
	ck_assert_str_eq(cJSON_GetObjectItem(find_grant(grants, "node:sec"), "access")->valuestring, "rw");
	ck_assert_ptr_null(find_grant(grants, "*"));
	resp_free(&rs);

	/* A node token is not an admin: 403 on the admin endpoints, and nothing is created. */
	long before = db_count(pg, "SELECT count(*) FROM tokens");
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = secret, .body = "{\"admin\":true}"), &rs), 0);
	expect_error(&rs, 403, "forbidden");
	resp_free(&rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM tokens"), before);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens", .token = secret), &rs), 0);
	expect_error(&rs, 403, "forbidden");
	resp_free(&rs);
	/* The same 403 whether or not the target exists. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens/tok_000000000000000000000000", .token = secret), &rs), 0);
	expect_error(&rs, 403, "forbidden");
	resp_free(&rs);

	/* Read it back: public fields only, last_used_at now set. */
	ck_assert_int_eq(http(&srv, REQ(.path = b, .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_ptr_null(cJSON_GetObjectItem(rs.json, "token"));
	ck_assert_ptr_null(cJSON_GetObjectItem(rs.json, "secret_hash"));
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(rs.json, "last_used_at")));
	ck_assert(!strstr(rs.body, secret));
	resp_free(&rs);

	/* Revoke: 204, refused at once, revoking again is still 204, the row stays with revoked_at. */
	ck_assert_int_eq(http(&srv, REQ(.method = "DELETE", .path = b, .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 204);
	ck_assert_uint_eq(rs.len, 0);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	expect_error(&rs, 401, "unauthorized");
	resp_free(&rs);
	char *rev1 = db_value(pg, "SELECT revoked_at::text FROM tokens WHERE id = $1", 1, p);
	ck_assert_ptr_nonnull(rev1);
	ck_assert_int_eq(http(&srv, REQ(.method = "DELETE", .path = b, .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 204);
	resp_free(&rs);
	char *rev2 = db_value(pg, "SELECT revoked_at::text FROM tokens WHERE id = $1", 1, p);
	ck_assert_str_eq(rev1, rev2);
	free(rev1);
	free(rev2);
	ck_assert_int_eq(http(&srv, REQ(.path = b, .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(rs.json, "revoked_at")));
	resp_free(&rs);

	ck_assert_int_eq(http(&srv, REQ(.method = "DELETE", .path = "/v1/tokens/tok_000000000000000000000000", .token = admin), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens/whatever", .token = admin), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
}
END_TEST

START_TEST(token_grants_and_expiry)
{
	char secret[47], id[29];
	struct http_resp rs;
	create_token(&srv, admin, "{\"label\":\"dashboard\",\"grants\":[{\"scope\":\"*\",\"access\":\"r\"}],\"expires_in\":\"1h\"}", secret, id);
	const char *p[] = {id};
	char *secs = db_value(pg, "SELECT round(extract(epoch FROM expires_at - created_at)) FROM tokens WHERE id = $1", 1, p);
	ck_assert_str_eq(secs, "3600");
	free(secs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(rs.json, "node")));
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(rs.json, "grants")), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(find_grant(cJSON_GetObjectItem(rs.json, "grants"), "*"), "access")->valuestring, "r");
	resp_free(&rs);

	/* Expiry moved into the past by SQL (another process): refused once the server hears the
	 * token NOTIFY (its token cache), within a second. */
	PQclear(PQexecParams(pg, "UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1", 1, NULL, p, NULL, NULL, 0));
	ck_assert(status_within(&srv, REQ(.path = "/v1/whoami", .token = secret), 401, 1000) >= 0);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	expect_error(&rs, 401, "unauthorized");
	resp_free(&rs);

	/* A node token with grants given keeps exactly those (plus its own node). */
	create_token(&srv, admin, "{\"node\":\"ceo\",\"grants\":[{\"scope\":\"project:*\",\"access\":\"r\"}],\"expires_in\":60}", secret, id);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	const cJSON *g = cJSON_GetObjectItem(rs.json, "grants");
	ck_assert_ptr_null(find_grant(g, "mesh"));
	ck_assert_ptr_nonnull(find_grant(g, "project:*"));
	ck_assert_ptr_nonnull(find_grant(g, "node:ceo"));
	resp_free(&rs);
}
END_TEST

START_TEST(token_bad_input)
{
	struct http_resp rs;
	char b[64];
	long before = db_count(pg, "SELECT count(*) FROM tokens");
	const struct {
		const char *body, *ctype;
		long status;
		const char *code, *field;
	} cases[] = {
		{"{\"node\":\"Not An Id\"}", NULL, 422, "validation_failed", "node"},
		{"{\"grants\":[{\"scope\":\"team:x\",\"access\":\"r\"}]}", NULL, 422, "validation_failed", "grants"},
		{"{\"grants\":[{\"scope\":\"mesh\",\"access\":\"write\"}]}", NULL, 422, "validation_failed", "grants"},
		{"{\"expires_in\":-5}", NULL, 422, "validation_failed", "expires_in"},
		{"{\"admin\":\"yes\"}", NULL, 422, "validation_failed", "admin"},
		{"{\"colour\":\"blue\"}", NULL, 422, "validation_failed", "colour"},
		/* An unknown member's name is echoed only when short, printable and clean (as elsewhere). */
		{"{\"\":1}", NULL, 422, "validation_failed", "(unknown field)"},
		{"{\"ghp_0123456789abcdefghijABCDEFGHIJ0123456789\":1}", NULL, 422, "validation_failed", "(unknown field)"},
		{"{\"two words\":1}", NULL, 422, "validation_failed", "(unknown field)"},
		{"{\"label\":\"x\",\"\xc3\xbc" "ber\":1}", NULL, 422, "validation_failed", "(unknown field)"},
		{"[]", NULL, 400, "bad_request", NULL},
		{"\"just a string\"", NULL, 400, "bad_request", NULL},
		{"{\"label\":", NULL, 400, "invalid_json", NULL},
		{"{\"label\":\"x\"} trailing", NULL, 400, "invalid_json", NULL},
		{"{\"label\":\"\xc3\x28\"}", NULL, 400, "invalid_json", NULL},
		{"", NULL, 400, "invalid_json", NULL},
		{"{\"label\":\"x\"}", "text/plain", 415, "unsupported_media_type", NULL},
		{"{\"label\":\"x\"}", "application/json; charset=latin1", 415, "unsupported_media_type", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_req rq = {.method = "POST", .path = "/v1/tokens", .token = admin, .body = cases[i].body,
				      .content_type = cases[i].ctype};
		if (!cases[i].body[0])
			rq.body_len = 0, rq.headers[0] = "Content-Length: 0";
		ck_assert_int_eq(http(&srv, &rq, &rs), 0);
		ck_assert_msg(rs.status == cases[i].status, "case %zu: %ld %s", i, rs.status, rs.body);
		expect_error(&rs, cases[i].status, cases[i].code);
		if (cases[i].field) {
			const cJSON *d = cJSON_GetObjectItem(cJSON_GetObjectItem(rs.json, "error"), "details");
			ck_assert_str_eq(cJSON_GetObjectItem(d, "field")->valuestring, cases[i].field);
		}
		ck_assert_msg(!strstr(rs.body, "ghp_0123456789"), "case %zu echoes a credential: %s", i, rs.body);
		resp_free(&rs);
	}
	/* A 512 KiB member name is not sent back either. */
	size_t long_name = 512 * 1024;
	char *big = malloc(long_name + 16);
	ck_assert_ptr_nonnull(big);
	big[0] = '{', big[1] = '"';
	memset(big + 2, 'n', long_name);
	strcpy(big + 2 + long_name, "\":1}");
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin, .body = big), &rs), 0);
	expect_error(&rs, 422, "validation_failed");
	ck_assert_str_eq(resp_detail(&rs, "field")->valuestring, "(unknown field)");
	ck_assert_msg(rs.len < 4096, "%zu bytes of answer", rs.len);
	resp_free(&rs);
	free(big);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM tokens"), before);

	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens?limit=0", .token = admin), &rs), 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens?limit=abc", .token = admin), &rs), 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/tokens?cursor=%27%3B%20DROP", .token = admin), &rs), 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);
	(void)b;
}
END_TEST

START_TEST(body_limits)
{
	struct http_resp rs;
	long before = db_count(pg, "SELECT count(*) FROM tokens");
	size_t n = 1024 * 1024 + 10;
	char *big = malloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin, .body = big), &rs), 0);
	expect_error(&rs, 413, "payload_too_large");
	resp_free(&rs);
	/* Without a Content-Length (chunked), the limit holds as the body arrives. */
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin, .body = big, .chunked = true), &rs), 0);
	expect_error(&rs, 413, "payload_too_large");
	resp_free(&rs);
	free(big);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM tokens"), before);
	/* A small chunked body is fine. */
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin, .body = "{\"label\":\"chunked\"}", .chunked = true), &rs), 0);
	ck_assert_int_eq(rs.status, 201);
	resp_free(&rs);
	/* The server still serves after all that. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/healthz"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
}
END_TEST

START_TEST(token_listing)
{
	char secret[47], id[29];
	for (int i = 0; i < 3; i++)
		create_token(&srv, admin, "{\"label\":\"page\"}", secret, id);
	long total = db_count(pg, "SELECT count(*) FROM tokens");
	struct http_resp rs;
	char path[128] = "/v1/tokens?limit=2";
	long seen = 0, pages = 0;
	char last[29] = "";
	for (;;) {
		ck_assert_int_eq(http(&srv, REQ(.path = path, .token = admin), &rs), 0);
		ck_assert_int_eq(rs.status, 200);
		const cJSON *it;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(rs.json, "items")) {
			const char *tid = cJSON_GetObjectItem(it, "id")->valuestring;
			ck_assert_int_gt(strcmp(tid, last), 0); /* ordered, no repeats */
			snprintf(last, sizeof last, "%s", tid);
			ck_assert_ptr_null(cJSON_GetObjectItem(it, "token"));
			seen++;
		}
		pages++;
		const cJSON *next = cJSON_GetObjectItem(rs.json, "next_cursor");
		if (cJSON_IsNull(next)) {
			resp_free(&rs);
			break;
		}
		snprintf(path, sizeof path, "/v1/tokens?limit=2&cursor=%s", next->valuestring);
		resp_free(&rs);
	}
	ck_assert_int_eq(seen, total);
	ck_assert_int_eq(pages, (total + 1) / 2);
}
END_TEST

START_TEST(cli_tokens)
{
	char *out = NULL;
	const char *create[] = {"token", "create", "--node", "sec", "--grant", "mesh:rw", "--grant", "project:*:r",
				"--label", "from cli", "--expires", "90d", NULL};
	ck_assert_int_eq(run_clawmeshd(create, &out), 0);
	cJSON *t = cJSON_Parse(out);
	free(out);
	ck_assert_ptr_nonnull(t);
	const char *secret = cJSON_GetObjectItem(t, "token")->valuestring;
	const char *id = cJSON_GetObjectItem(t, "id")->valuestring;
	ck_assert_str_eq(cJSON_GetObjectItem(t, "label")->valuestring, "from cli");
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(t, "expires_at")));

	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	const cJSON *g = cJSON_GetObjectItem(rs.json, "grants");
	ck_assert_str_eq(cJSON_GetObjectItem(find_grant(g, "project:*"), "access")->valuestring, "r");
	ck_assert_str_eq(cJSON_GetObjectItem(find_grant(g, "mesh"), "access")->valuestring, "rw");
	resp_free(&rs);

	const char *list[] = {"token", "list", NULL};
	ck_assert_int_eq(run_clawmeshd(list, &out), 0);
	ck_assert(strstr(out, id));
	ck_assert(!strstr(out, secret));
	free(out);

	/* Revoked by another process: the server hears of it through NOTIFY (its token cache). */
	const char *revoke[] = {"token", "revoke", id, NULL};
	ck_assert_int_eq(run_clawmeshd(revoke, NULL), 0);
	double ms = status_within(&srv, REQ(.path = "/v1/whoami", .token = secret), 401, 1000);
	fprintf(stderr, "cli_tokens: revoked by the CLI, refused by the server after %.1f ms\n", ms);
	ck_assert(ms >= 0);
	const char *revoke_unknown[] = {"token", "revoke", "tok_000000000000000000000000", NULL};
	ck_assert_int_eq(run_clawmeshd(revoke_unknown, NULL), 1);
	cJSON_Delete(t);

	/* Usage errors: one line, exit 2, nothing created. */
	long before = db_count(pg, "SELECT count(*) FROM tokens");
	const char *bad1[] = {"token", "create", "--grant", "mesh", NULL};
	const char *bad2[] = {"serve", "--no-such-flag", NULL};
	const char *bad3[] = {"token", "create", "--node", "NOPE", NULL};
	const char *bad4[] = {"frobnicate", NULL};
	const char *bad5[] = {"serve", "--max-body", "lots", NULL};
	ck_assert_int_eq(run_clawmeshd(bad1, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(bad2, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(bad3, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(bad4, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(bad5, NULL), 2);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM tokens"), before);
}
END_TEST

START_TEST(bootstrap_admin_token)
{
	/* The admin secret given through the environment exists once, as an admin, by hash. */
	unsigned char h[32];
	unsigned int hl = 32;
	EVP_Digest(admin, strlen(admin), h, &hl, EVP_sha256(), NULL);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	const char *p[] = {hex};
	char *n = db_value(pg, "SELECT count(*) FROM tokens WHERE secret_hash = decode($1, 'hex') AND admin", 1, p);
	ck_assert_str_eq(n, "1");
	free(n);
	/* A second server with the same secret does not add another. */
	struct server two;
	ck_assert_int_eq(server_start(&two, admin, NULL), 0);
	ck_assert_int_eq(server_stop(&two), 0);
	n = db_value(pg, "SELECT count(*) FROM tokens WHERE secret_hash = decode($1, 'hex')", 1, p);
	ck_assert_str_eq(n, "1");
	free(n);
	/* A malformed bootstrap secret is a usage error. */
	const char *args[] = {"serve", NULL};
	setenv("CLAWMESH_ADMIN_TOKEN", "not-a-token", 1);
	ck_assert_int_eq(run_clawmeshd(args, NULL), 2);
	unsetenv("CLAWMESH_ADMIN_TOKEN");
}
END_TEST

START_TEST(concurrent_migrations)
{
	/* Two processes migrating one fresh database at once: each file applied exactly once. */
	PQclear(PQexec(pg, "DROP DATABASE IF EXISTS cm_migrate_race"));
	PGresult *r = PQexec(pg, "CREATE DATABASE cm_migrate_race");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	char url[1024];
	snprintf(url, sizeof url, "%s dbname=cm_migrate_race", env_or_die("CM_TEST_DB_URL"));
	const char *args[] = {"migrate", "--database-url", url, NULL};
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			_exit(run_clawmeshd(args, NULL));
	}
	for (int i = 0; i < 4; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	PGconn *race = db_connect("cm_migrate_race");
	ck_assert_int_eq(db_count(race, "SELECT count(*) FROM clawmesh_migrations"),
			 db_count(pg, "SELECT count(*) FROM clawmesh_migrations"));
	ck_assert_int_eq(db_count(race, "SELECT count(DISTINCT version) FROM clawmesh_migrations"),
			 db_count(race, "SELECT count(*) FROM clawmesh_migrations"));
	/* Running it again applies nothing and changes nothing. */
	char *before = db_value(race, "SELECT string_agg(version || applied_at::text, ',') FROM clawmesh_migrations", 0, NULL);
	ck_assert_int_eq(run_clawmeshd(args, NULL), 0);
	char *after = db_value(race, "SELECT string_agg(version || applied_at::text, ',') FROM clawmesh_migrations", 0, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	/* An edited landed migration is refused rather than silently diverging. */
	PQclear(PQexec(race, "UPDATE clawmesh_migrations SET sha256 = 'edited' WHERE version = 1"));
	ck_assert_int_eq(run_clawmeshd(args, NULL), 1);
	PQfinish(race);
	PQclear(PQexec(pg, "DROP DATABASE cm_migrate_race"));
}
END_TEST

START_TEST(slow_client_is_cut)
{
	/* A client that sends half a request and stalls is disconnected after --conn-timeout. */
	struct server s;
	const char *args[] = {"--conn-timeout", "1", NULL};
	ck_assert_int_eq(server_start(&s, NULL, args), 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	const char *partial = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
	ck_assert_int_eq(write(fd, partial, strlen(partial)), (ssize_t)strlen(partial));
	struct pollfd p = {.fd = fd, .events = POLLIN};
	time_t t0 = time(NULL);
	ck_assert_int_eq(poll(&p, 1, 5000), 1); /* readable = closed by the server */
	char c;
	ck_assert_int_le(read(fd, &c, 1), 0);
	ck_assert_int_le(time(NULL) - t0, 4);
	close(fd);
	/* Meanwhile and afterwards, others are served. */
	struct http_resp rs;
	ck_assert_int_eq(http(&s, REQ(.path = "/healthz"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

START_TEST(tls)
{
	struct server s;
	const char *args[] = {"--tls-cert", env_or_die("CM_TEST_CA"), "--tls-key", env_or_die("CM_TEST_KEY"), NULL};
	ck_assert_int_eq(server_start(&s, admin, args), 0);
	struct http_resp rs;
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/whoami", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(rs.json, "admin")));
	resp_free(&rs);
	/* Headers near the 8 KiB limit fit the connection's memory over TLS too. */
	static char pad[4][1900];
	for (int i = 0; i < 4; i++) {
		int n = snprintf(pad[i], sizeof pad[i], "X-Pad-%d: ", i);
		memset(pad[i] + n, 'v', sizeof pad[i] - 1 - (size_t)n);
	}
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/whoami", .token = admin, .headers = {pad[0], pad[1], pad[2], pad[3]}), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&s), 0);
	/* A key that does not exist is a start-up failure, not a plain-HTTP fallback. */
	const char *bad[] = {"serve", "--listen", "127.0.0.1:1", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key", NULL};
	ck_assert_int_eq(run_clawmeshd(bad, NULL), 1);
}
END_TEST

START_TEST(request_framing)
{
	/* Ambiguous framing is refused and the connection closed, so nothing can be smuggled. */
	char *out = raw_exchange(&srv, "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
					"Content-Length: 33\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_msg(!strncmp(out, "HTTP/1.1 400", 12), "%s", out);
	ck_assert(strstr(out, "\"bad_request\""));
	ck_assert_ptr_null(strstr(out + 12, "HTTP/1.1 ")); /* the smuggled request got no answer */
	free(out);
	out = raw_exchange(&srv, "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	ck_assert_msg(!strncmp(out, "HTTP/1.1 400", 12), "%s", out);
	free(out);
	/* A request line with spaces in its target could forge an access-log line: not served. */
	out = raw_exchange(&srv, "GET /v1/x 200 1us forged HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_ptr_null(strstr(out, " 200 "));
	free(out);
	/* Keep-alive holds for ordinary requests: two on one connection, two answers. */
	out = raw_exchange(&srv, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
				 "Connection: close\r\n\r\n");
	char *second = strstr(out + 1, "HTTP/1.1 200");
	ck_assert_msg(!strncmp(out, "HTTP/1.1 200", 12) && second, "%s", out);
	free(out);
}
END_TEST

/* A request of exactly `bytes` bytes (request line, headers, blank line) and `fields` fields
 * (headers and query parameters), padded with X-Pad-N headers, from the admin, with an Origin
 * the server allows and a 64-character request id: the largest response headers we send. */
static char *sized_request(const char *query, size_t bytes, size_t fields)
{
	char *out = malloc(bytes + 1);
	ck_assert_ptr_nonnull(out);
	int n = snprintf(out, bytes + 1,
			 "GET /v1/whoami%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: https://dash.example\r\n"
			 "X-Request-Id: %064d\r\nAuthorization: Bearer %s\r\n",
			 query, 0, admin);
	size_t len = (size_t)n, have = 5 + (query[0] != '\0');
	for (const char *q = query; (q = strchr(q, '&')); q++)
		have++;
	ck_assert_uint_le(have, fields);
	size_t pads = fields - have;
	for (size_t i = 0; i < pads; i++) {
		size_t left = bytes - 2 - len, per = left / (pads - i);
		int h = snprintf(out + len, bytes + 1 - len, "X-Pad-%zu: ", i);
		ck_assert_uint_ge(per, (size_t)h + 3);
		memset(out + len + h, 'v', per - (size_t)h - 2);
		memcpy(out + len + per - 2, "\r\n", 2);
		len += per;
	}
	memcpy(out + len, "\r\n", 3);
	ck_assert_uint_eq(strlen(out), bytes);
	return out;
}

START_TEST(header_limits)
{
	/* At the limits (8 KiB, 100 fields) together, with CORS and an echoed request id: served. */
	char *rq = sized_request("?a=1&b=2", 8192, 100);
	char *out = raw_exchange(&srv, rq);
	ck_assert_msg(!strncmp(out, "HTTP/1.1 200", 12), "%.200s", out);
	ck_assert_ptr_nonnull(strstr(out, "Access-Control-Allow-Origin: https://dash.example"));
	ck_assert_ptr_nonnull(strstr(out, "\"admin\":true"));
	free(out);
	free(rq);
	/* One byte over, or one field over: our own 400 bad_request with the envelope, never HTML. */
	const size_t over[][2] = {{8193, 100}, {8192, 101}, {2000, 101}};
	for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
		rq = sized_request("?a=1&b=2", over[i][0], over[i][1]);
		out = raw_exchange(&srv, rq);
		ck_assert_msg(!strncmp(out, "HTTP/1.1 400", 12), "%zu/%zu: %.200s", over[i][0], over[i][1], out);
		ck_assert_ptr_nonnull(strstr(out, "application/json"));
		ck_assert_ptr_nonnull(strstr(out, "\"code\":\"bad_request\""));
		ck_assert_ptr_nonnull(strstr(out, "over 8 KiB"));
		ck_assert_ptr_nonnull(strstr(out, "X-Request-Id: 0000000000"));
		ck_assert_ptr_null(strstr(out, "<html"));
		free(out);
		free(rq);
	}
	/* Past what the connection's memory holds at all (one 20 KiB header, 300 fields): the
	 * library's own 431, and the server carries on. */
	const size_t huge[][2] = {{20000, 6}, {6000, 300}};
	for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
		rq = sized_request("", huge[i][0], huge[i][1]);
		out = raw_exchange(&srv, rq);
		ck_assert_msg(!strncmp(out, "HTTP/1.1 431", 12), "%.200s", out);
		free(out);
		free(rq);
	}
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/whoami", .token = admin)), 200);
}
END_TEST

START_TEST(parallel_first_requests)
{
	/* Many threads opening their first database connection at once: nobody gets a 503. */
	struct server s;
	const char *args[] = {"--threads", "8", NULL};
	ck_assert_int_eq(server_start(&s, admin, args), 0);
	for (int round = 0; round < 3; round++) {
		pid_t kids[16];
		for (int i = 0; i < 16; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				unsetenv("CM_TEST_RECORD");
				struct http_resp rs;
				int ok = http(&s, REQ(.path = "/v1/whoami", .token = admin), &rs) == 0 && rs.status == 200;
				_exit(ok ? 0 : 1);
			}
		}
		int failures = 0;
		for (int i = 0; i < 16; i++) {
			int st;
			waitpid(kids[i], &st, 0);
			failures += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		ck_assert_int_eq(failures, 0);
	}
	ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

START_TEST(transient_database_error)
{
	/* A statement that times out (here: behind a lock) is 503 with Retry-After, not a 500, and
	 * the connection stays usable. The configured conninfo overrides our statement_timeout. */
	struct server s;
	char url[1024];
	snprintf(url, sizeof url, "%s options='-c statement_timeout=300'", env_or_die("CM_TEST_DB_URL"));
	const char *args[] = {"--database-url", url, "--threads", "1", NULL};
	ck_assert_int_eq(server_start(&s, admin, args), 0);
	struct http_resp rs;
	char b[32];
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/whoami", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	/* (The admin token is cached by now, so the statement held up is the listing's.) */
	PQclear(PQexec(pg, "BEGIN; LOCK TABLE memory IN ACCESS EXCLUSIVE MODE"));
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/memory?scope=mesh", .token = admin), &rs), 0);
	expect_error(&rs, 503, "unavailable");
	ck_assert_ptr_nonnull(resp_header(&rs, "Retry-After", b, sizeof b));
	resp_free(&rs);
	PQclear(PQexec(pg, "ROLLBACK"));
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/memory?scope=mesh", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

START_TEST(json_edge_cases)
{
	struct http_resp rs;
	long before = db_count(pg, "SELECT count(*) FROM tokens");
	/* An escaped NUL would silently cut the label: refused instead. */
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin,
					.body = "{\"label\":\"a\\u0000b\"}"), &rs), 0);
	expect_error(&rs, 400, "invalid_json");
	resp_free(&rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM tokens"), before);
	/* An escaped backslash followed by "u0000" is just text. */
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin,
					.body = "{\"label\":\"a\\\\u0000b\"}"), &rs), 0);
	ck_assert_int_eq(rs.status, 201);
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "label")->valuestring, "a\\u0000b");
	resp_free(&rs);
}
END_TEST

START_TEST(restart_while_idle_costs_no_request)
{
	/* The database restarts while the server is idle: its pooled connections are dead, and the
	 * first requests after the restart (on every worker thread) still all succeed. */
	char secret[47], id[29];
	create_token(&srv, admin, "{\"node\":\"ceo\"}", secret, id);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/whoami", .token = secret)), 200);
	PQfinish(pg);
	ck_assert_int_eq(pg_control("stop fast"), 0);
	ck_assert_int_eq(pg_control("start"), 0);
	pg = db_connect(NULL); /* the database answers again */
	ck_assert_ptr_nonnull(pg);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/whoami", .token = secret)), 200);
}
END_TEST

START_TEST(database_outage)
{
	char secret[47], id[29];
	create_token(&srv, admin, "{\"node\":\"ceo\"}", secret, id);
	long tokens = db_count(pg, "SELECT count(*) FROM tokens");
	PQfinish(pg);
	pg = NULL;
	const char *modes[] = {"stop fast", "stop immediate"};
	for (int m = 0; m < 2; m++) {
		ck_assert_int_eq(pg_control(modes[m]), 0);
		struct http_resp rs;
		char b[32];
		ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
		expect_error(&rs, 503, "unavailable");
		ck_assert_ptr_nonnull(resp_header(&rs, "Retry-After", b, sizeof b));
		resp_free(&rs);
		ck_assert_int_eq(http(&srv, REQ(.path = "/readyz"), &rs), 0);
		expect_error(&rs, 503, "unavailable");
		resp_free(&rs);
		ck_assert_int_eq(http(&srv, REQ(.path = "/healthz"), &rs), 0); /* the process stays up */
		ck_assert_int_eq(rs.status, 200);
		resp_free(&rs);

		ck_assert_int_eq(pg_control("start"), 0);
		long t0 = mono_ms(), served = -1;
		while (mono_ms() - t0 < 3000) {
			ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
			long st = rs.status;
			resp_free(&rs);
			if (st == 200) {
				served = mono_ms() - t0;
				break;
			}
			struct timespec ts = {0, 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
		ck_assert_msg(served >= 0 && served <= 1000, "served again after %ld ms", served);
		fprintf(stderr, "database_outage(%s): served again %ld ms after the database came back\n", modes[m], served);
		/* Every worker thread recovers, not just one: a burst all succeeds. */
		for (int i = 0; i < 20; i++) {
			ck_assert_int_eq(http(&srv, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
			ck_assert_int_eq(rs.status, 200);
			resp_free(&rs);
		}
	}
	pg = db_connect(NULL);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM tokens"), tokens);
}
END_TEST

TCase *memory_tcase(void);
TCase *skills_tcase(void);
TCase *changes_tcase(void);
TCase *export_tcase(void);
TCase *cache_tcase(void);
TCase *group_tcase(void);
TCase *faults_tcase(void);
TCase *acl_tcase(void);
TCase *abuse_tcase(void);
TCase *ratelimit_tcase(void);
TCase *ui_tcase(void);

Suite *cm_test_suite(void);
Suite *cm_test_suite(void)
{
	Suite *s = suite_create("integration");
	suite_add_tcase(s, memory_tcase());
	suite_add_tcase(s, skills_tcase());
	suite_add_tcase(s, changes_tcase());
	suite_add_tcase(s, export_tcase());
	suite_add_tcase(s, cache_tcase());
	suite_add_tcase(s, group_tcase());
	suite_add_tcase(s, faults_tcase());
	suite_add_tcase(s, acl_tcase());
	suite_add_tcase(s, abuse_tcase());
	suite_add_tcase(s, ratelimit_tcase());
	suite_add_tcase(s, ui_tcase());
	TCase *tc = tcase_create("api");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, suite_up, suite_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, health_and_ready);
	tcase_add_test(tc, request_ids);
	tcase_add_test(tc, routing_errors);
	tcase_add_test(tc, cors);
	tcase_add_test(tc, unauthorized);
	tcase_add_test(tc, unauthenticated_refusals_have_an_audit_budget);
	tcase_add_test(tc, whoami_admin);
	tcase_add_test(tc, token_lifecycle);
	tcase_add_test(tc, token_grants_and_expiry);
	tcase_add_test(tc, token_bad_input);
	tcase_add_test(tc, body_limits);
	tcase_add_test(tc, token_listing);
	tcase_add_test(tc, cli_tokens);
	tcase_add_test(tc, bootstrap_admin_token);
	tcase_add_test(tc, concurrent_migrations);
	tcase_add_test(tc, slow_client_is_cut);
	tcase_add_test(tc, tls);
	tcase_add_test(tc, request_framing);
	tcase_add_test(tc, header_limits);
	tcase_add_test(tc, parallel_first_requests);
	tcase_add_test(tc, transient_database_error);
	tcase_add_test(tc, json_edge_cases);
	/* Last: it stops and starts the database under the running server. */
	tcase_add_test(tc, restart_while_idle_costs_no_request);
	tcase_add_test(tc, database_outage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	SRunner *sr = srunner_create(cm_test_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
