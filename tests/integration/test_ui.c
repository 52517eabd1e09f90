/* Integration tests of the dashboard's files at /ui/ (server/api_ui.c): each file served with its
 * type and exactly the bytes of server/ui, a strong ETag and 304 on revalidation, the strict
 * security headers on every /ui answer (404s, 304s, 405s and the redirect too), nothing but
 * those files reachable however the path is spelled, no token needed, no rate limit, no audit. */
#include "harness.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CM_SOURCE_ROOT
#error "tests/meson.build defines CM_SOURCE_ROOT: the files are compared with the tree's"
#endif

#define CSP                                                                                                \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
	"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "                   \
	"require-trusted-types-for 'script'; trusted-types 'none'"

static struct server srv, limited; /* limited: --rate-limit 1 --rate-burst 2 */
static char admin[47];

static void ui_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start(&srv, admin, NULL), 0);
	const char *args[] = {"--rate-limit", "1", "--rate-burst", "2", NULL};
	ck_assert_int_eq(server_start(&limited, admin, args), 0);
}

static void ui_down(void)
{
	int a = server_stop(&limited), b = server_stop(&srv); /* both, whatever the first says */
	ck_assert_int_eq(a, 0);
	ck_assert_int_eq(b, 0);
}

static const struct {
	const char *name, *type;
} files[] = {
	{"index.html", "text/html; charset=utf-8"},
	{"app.js", "text/javascript; charset=utf-8"},
	{"app.css", "text/css; charset=utf-8"},
	{"diff.min.js", "text/javascript; charset=utf-8"},
	{"diff-LICENSE.txt", "text/plain; charset=utf-8"},
};
#define NFILES (sizeof files / sizeof files[0])

/* server/ui/name as in the source tree; caller frees. */
static char *source_file(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/server/ui/%s", CM_SOURCE_ROOT, name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		ck_assert_int_eq(buf_append(&b, chunk, n), 0);
	fclose(f);
	*len = b.len;
	return b.p ? b.p : calloc(1, 1);
}

/* The answer's body is exactly server/ui/name's bytes. */
static void expect_tree_bytes(const struct http_resp *rs, const char *name)
{
	size_t len;
	char *want = source_file(name, &len);
	ck_assert_msg(rs->len == len && !memcmp(rs->body, want, len), "%s: %zu bytes served, %zu in the tree", name, rs->len,
		      len);
	free(want);
}

/* How many times the header name occurs in the raw block (case-insensitively). */
static void expect_header(const struct http_resp *rs, const char *name, const char *value)
{
	char b[1024];
	ck_assert_msg(resp_header_count(rs, name) == 1, "%s: %d times, wanted once", name, resp_header_count(rs, name));
	ck_assert_str_eq(resp_header(rs, name, b, sizeof b), value);
}

/* The headers every answer of the server carries, /ui or not. */
static void expect_common_headers(const struct http_resp *rs)
{
	expect_header(rs, "X-Content-Type-Options", "nosniff");
	expect_header(rs, "Referrer-Policy", "no-referrer");
}

/* The whole set every /ui answer carries, whatever its status. */
static void expect_ui_headers(const struct http_resp *rs)
{
	char b[1024];
	expect_common_headers(rs);
	expect_header(rs, "Content-Security-Policy", CSP);
	resp_header(rs, "Content-Security-Policy", b, sizeof b);
	ck_assert_ptr_null(strstr(b, "unsafe-")); /* -inline, -eval, -hashes: none */
	ck_assert_ptr_null(strstr(b, "*"));
	expect_header(rs, "X-Frame-Options", "DENY");
	expect_header(rs, "Cross-Origin-Opener-Policy", "same-origin");
	expect_header(rs, "Cross-Origin-Resource-Policy", "same-origin");
	expect_header(rs, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
	ck_assert_ptr_nonnull(resp_header(rs, "X-Request-Id", b, sizeof b));
}

/* A strong entity tag: quoted, no W/, nothing else. */
static void expect_strong_etag(const struct http_resp *rs, char *etag, size_t cap)
{
	ck_assert_int_eq(resp_header_count(rs, "ETag"), 1);
	ck_assert_ptr_nonnull(resp_header(rs, "ETag", etag, cap));
	size_t n = strlen(etag);
	ck_assert_msg(n >= 3 && etag[0] == '"' && strchr(etag + 1, '"') == etag + n - 1, "not a strong entity tag: %s",
		      etag);
}

START_TEST(every_file_as_in_the_tree)
{
	char etags[NFILES][128];
	for (size_t i = 0; i < NFILES; i++) {
		char path[64];
		snprintf(path, sizeof path, "/ui/%s", files[i].name);
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.path = path), &rs), 0);
		ck_assert_msg(rs.status == 200, "%s: %ld", path, rs.status);
		expect_header(&rs, "Content-Type", files[i].type);
		expect_header(&rs, "Cache-Control", "no-cache");
		expect_ui_headers(&rs);
		expect_tree_bytes(&rs, files[i].name);
		expect_strong_etag(&rs, etags[i], sizeof etags[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(etags[i], etags[j]);
		resp_free(&rs);
	}
	/* /ui/ is index.html, the same representation (so the same tag). */
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/ui/"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	expect_header(&rs, "Content-Type", "text/html; charset=utf-8");
	expect_ui_headers(&rs);
	expect_tree_bytes(&rs, "index.html");
	char etag[128];
	expect_strong_etag(&rs, etag, sizeof etag);
	ck_assert_str_eq(etag, etags[0]);
	resp_free(&rs);
	/* A query string changes nothing. */
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/ui/app.js?v=2")), 200);
	/* Replicas behind one balancer agree on the tags: a revalidation may reach any of them. */
	ck_assert_int_eq(http(&limited, REQ(.path = "/ui/diff.min.js"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	expect_strong_etag(&rs, etag, sizeof etag);
	ck_assert_str_eq(etag, etags[3]);
	resp_free(&rs);
}
END_TEST

START_TEST(redirect_to_the_directory)
{
	const char *methods[] = {"GET", "HEAD"};
	const char *paths[] = {"/ui", "/ui?token=x"};
	for (size_t m = 0; m < 2; m++)
		for (size_t p = 0; p < 2; p++) {
			struct http_resp rs;
			ck_assert_int_eq(http(&srv, REQ(.method = methods[m], .path = paths[p]), &rs), 0);
			ck_assert_msg(rs.status == 308, "%s %s: %ld", methods[m], paths[p], rs.status);
			expect_header(&rs, "Location", "/ui/");
			expect_ui_headers(&rs);
			ck_assert_int_eq((int)rs.len, 0);
			resp_free(&rs);
		}
}
END_TEST

START_TEST(head_as_get)
{
	char len_want[32], b[128], etag_get[128], etag_head[128];
	for (size_t i = 0; i < NFILES; i++) {
		char path[64];
		snprintf(path, sizeof path, "/ui/%s", files[i].name);
		struct http_resp get, head;
		ck_assert_int_eq(http(&srv, REQ(.path = path), &get), 0);
		ck_assert_int_eq(http(&srv, REQ(.method = "HEAD", .path = path), &head), 0);
		ck_assert_int_eq(head.status, 200);
		ck_assert_int_eq((int)head.len, 0);
		snprintf(len_want, sizeof len_want, "%zu", get.len);
		expect_header(&head, "Content-Length", len_want);
		expect_header(&head, "Content-Type", files[i].type);
		expect_header(&head, "Cache-Control", "no-cache");
		expect_ui_headers(&head);
		expect_strong_etag(&get, etag_get, sizeof etag_get);
		expect_strong_etag(&head, etag_head, sizeof etag_head);
		ck_assert_str_eq(etag_get, etag_head);
		resp_free(&get);
		resp_free(&head);
	}
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "HEAD", .path = "/ui/nope.js"), &rs), 0);
	ck_assert_int_eq(rs.status, 404);
	ck_assert_int_eq((int)rs.len, 0);
	expect_ui_headers(&rs);
	ck_assert_str_eq(resp_header(&rs, "Content-Type", b, sizeof b), "application/json; charset=utf-8");
	resp_free(&rs);
}
END_TEST

/* If-None-Match with the given value on path: the status, and the answer's checks. */
static long revalidate(const char *method, const char *path, const char *inm)
{
	char h[1024];
	snprintf(h, sizeof h, "If-None-Match: %s", inm);
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = method, .path = path, .headers = {h}), &rs), 0);
	if (rs.status == 304) {
		ck_assert_int_eq((int)rs.len, 0);
		char etag[128];
		expect_strong_etag(&rs, etag, sizeof etag);
		expect_header(&rs, "Cache-Control", "no-cache");
		expect_ui_headers(&rs);
	}
	long st = rs.status;
	resp_free(&rs);
	return st;
}

START_TEST(etag_revalidation)
{
	char etag[128], other[128], b[1200];
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/ui/app.js"), &rs), 0);
	expect_strong_etag(&rs, etag, sizeof etag);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/ui/app.css"), &rs), 0);
	expect_strong_etag(&rs, other, sizeof other);
	resp_free(&rs);

	ck_assert_int_eq(revalidate("GET", "/ui/app.js", etag), 304);
	ck_assert_int_eq(revalidate("HEAD", "/ui/app.js", etag), 304);
	snprintf(b, sizeof b, "W/%s", etag); /* If-None-Match compares weakly (RFC 9110 13.1.2) */
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", b), 304);
	snprintf(b, sizeof b, "\"a,b\", %s ,\"zz\"", etag); /* a tag may hold a comma */
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", b), 304);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", "*"), 304);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", other), 200);
	/* A near miss, prefixes and malformed lists: the whole file, never a wrong 304. */
	snprintf(b, sizeof b, "%.*s\"", (int)strlen(etag) - 2, etag);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", b), 200);
	snprintf(b, sizeof b, "%sx", etag);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", b), 200);
	snprintf(b, sizeof b, "%.*s", (int)strlen(etag) - 1, etag); /* no closing quote */
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", b), 200);
	snprintf(b, sizeof b, "garbage, %s", etag); /* unquoted: the list ends unread */
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", b), 200);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", "\""), 200);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", ""), 200);
	ck_assert_int_eq(revalidate("GET", "/ui/app.js", "W/"), 200);
	/* index.html under both its names. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/ui/index.html"), &rs), 0);
	expect_strong_etag(&rs, etag, sizeof etag);
	resp_free(&rs);
	ck_assert_int_eq(revalidate("GET", "/ui/", etag), 304);
	/* A long list (a header near the server's 8 KiB limit) is read to its end. */
	struct buf list = {0};
	for (int i = 0; list.len < 7000; i++) {
		char t[48];
		int n = snprintf(t, sizeof t, "W/\"%032d\", ", i);
		ck_assert_int_eq(buf_append(&list, t, (size_t)n), 0);
	}
	ck_assert_int_eq(buf_append(&list, etag, strlen(etag)), 0);
	char *h = malloc(list.len + 32);
	snprintf(h, list.len + 32, "If-None-Match: %s", list.p);
	ck_assert_int_eq(http(&srv, REQ(.path = "/ui/index.html", .headers = {h}), &rs), 0);
	ck_assert_int_eq(rs.status, 304);
	expect_ui_headers(&rs);
	resp_free(&rs);
	free(h);
	free(list.p);
	/* The 304's share of the connection's memory, at the limits: served, all headers present. */
	struct buf pad = {0};
	ck_assert_int_eq(buf_append(&pad, "X-Pad: ", 7), 0);
	while (pad.len < 7800)
		ck_assert_int_eq(buf_append(&pad, "aaaaaaaaaa", 10), 0);
	ck_assert_int_eq(http(&srv, REQ(.path = "/ui/", .headers = {pad.p}), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	expect_ui_headers(&rs);
	resp_free(&rs);
	free(pad.p);
}
END_TEST

/* Paths that must not serve anything: 404 not_found (or 400 bad_request for an encoded '/', NUL
 * or bad escape, as everywhere), the JSON envelope, the /ui headers, and no file's bytes. */
START_TEST(nothing_else_reachable)
{
	static const struct {
		const char *path;
		long status;
	} cases[] = {
		{"/ui/nope.js", 404},
		{"/ui/openapi.yaml", 404},
		{"/ui/0001_tokens.sql", 404},
		{"/ui/0006_gin_fastupdate.sql", 404},
		{"/ui/README.md", 404},
		{"/ui/ui", 404},
		{"/ui/index.html/", 404},
		{"/ui/app.js/x", 404},
		{"/ui//app.js", 404},
		{"/ui/./app.js", 404},
		{"/ui/.", 404},
		{"/ui/..", 404},
		{"/ui/../openapi.yaml", 404},
		{"/ui/../migrations/0001_tokens.sql", 404},
		{"/ui/../../etc/passwd", 404},
		{"/ui/%2e%2e", 404},
		{"/ui/%2e%2e%2fopenapi.yaml", 400},
		{"/ui/..%2Fopenapi.yaml", 400},
		{"/ui/..%2f..%2fmigrations%2f0001_tokens.sql", 400},
		{"/ui/ui%2Fapp.js", 400},
		{"/ui/%2Fetc%2Fpasswd", 400},
		{"/ui/..%5Copenapi.yaml", 404},
		{"/ui/app.js%00", 400},
		{"/ui/app.js%00.css", 400},
		{"/ui/%", 400},
		{"/ui/%zz", 400},
		{"/ui/%C0%AE%C0%AE", 400}, /* overlong UTF-8 for "..": not UTF-8 at all */
		{"/ui/APP.JS", 404},
		{"/ui/app.js%20", 404},
		{"/ui/%61pp.js", 200}, /* a plain letter, encoded: the same file */
		{"/UI/", 404},
		{"/uix", 404},
		{"/ui.html", 404},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.path = cases[i].path), &rs), 0);
		ck_assert_msg(rs.status == cases[i].status, "%s: %ld, wanted %ld: %.200s", cases[i].path, rs.status,
			      cases[i].status, rs.body);
		if (cases[i].status == 404)
			expect_error(&rs, 404, "not_found");
		else if (cases[i].status == 400)
			expect_error(&rs, 400, "bad_request");
		if (!strncmp(cases[i].path, "/ui/", 4))
			expect_ui_headers(&rs);
		else
			expect_common_headers(&rs);
		if (cases[i].status != 200) {
			ck_assert_ptr_null(strstr(rs.body, "openapi:"));
			ck_assert_ptr_null(strstr(rs.body, "CREATE"));
			ck_assert_ptr_null(strstr(rs.body, "<"));
		}
		resp_free(&rs);
	}
	/* A raw request line, past any client's normalising. */
	char *out = raw_exchange(&srv, "GET /ui/../openapi.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	ck_assert_msg(!strncmp(out, "HTTP/1.1 404", 12), "%.200s", out);
	ck_assert_ptr_null(strstr(out, "openapi:"));
	free(out);
	/* The server's own files are still where they were. */
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/openapi.yaml")), 200);
}
END_TEST

START_TEST(methods)
{
	static const struct {
		const char *method, *path;
	} cases[] = {
		{"POST", "/ui/"},     {"PUT", "/ui/"},       {"DELETE", "/ui/"}, {"PATCH", "/ui/app.js"},
		{"POST", "/ui/nope"}, {"POST", "/ui"},      {"PUT", "/ui/index.html"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.method = cases[i].method, .path = cases[i].path, .body = "{}"), &rs), 0);
		expect_error(&rs, 405, "method_not_allowed");
		expect_header(&rs, "Allow", "GET, HEAD, OPTIONS");
		expect_ui_headers(&rs);
		resp_free(&rs);
	}
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "OPTIONS", .path = "/ui/"), &rs), 0);
	ck_assert_int_eq(rs.status, 204);
	expect_header(&rs, "Allow", "GET, HEAD, OPTIONS");
	expect_ui_headers(&rs);
	resp_free(&rs);
}
END_TEST

START_TEST(no_token_needed_none_charged)
{
	char b[256];
	/* Any Authorization header, or two, or none: the page is served (it asks for a token itself). */
	const char *headers[][3] = {
		{NULL},
		{"Authorization: Bearer cm_nonsense", NULL},
		{"Authorization: Basic Zm9vOmJhcg==", NULL},
		{"Authorization: Bearer a", "Authorization: Bearer b", NULL},
		{"Authorization: ", NULL},
	};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.path = "/ui/", .headers = {headers[i][0], headers[i][1], NULL}), &rs),
				 0);
		ck_assert_msg(rs.status == 200, "headers %zu: %ld", i, rs.status);
		ck_assert_int_eq(resp_header_count(&rs, "WWW-Authenticate"), 0);
		resp_free(&rs);
	}
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/ui/app.js", .token = admin)), 200);
	/* Not audited: neither the files nor the bad tokens that came with them. */
	const char *rid = "ui-audit-probe-1";
	snprintf(b, sizeof b, "X-Request-Id: %s", rid);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/ui/", .token = "cm_bogus", .headers = {b})), 200);
	const char *params[] = {rid};
	char *n = db_value(pg, "SELECT count(*) FROM audit WHERE request_id = $1 OR action = 'ui'", 1, params);
	ck_assert_str_eq(n, "0");
	free(n);
	/* The rate limit is /v1's: far past the burst of 2, every file still comes, uncounted. */
	char secret[47], id[29];
	create_token(&srv, admin, "{\"label\":\"ui rate\",\"node\":\"uirate\"}", secret, id);
	for (int i = 0; i < 12; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&limited, REQ(.path = i % 2 ? "/ui/app.js" : "/ui/", .token = secret), &rs), 0);
		ck_assert_msg(rs.status == 200, "request %d: %ld", i, rs.status);
		ck_assert_int_eq(resp_header_count(&rs, "RateLimit-Limit"), 0);
		resp_free(&rs);
	}
	struct http_resp rs; /* and the token's /v1 bucket is still whole */
	ck_assert_int_eq(http(&limited, REQ(.path = "/v1/whoami", .token = secret), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(resp_header(&rs, "RateLimit-Remaining", b, sizeof b), "1");
	resp_free(&rs);
}
END_TEST

START_TEST(other_answers_headers)
{
	/* nosniff and no-referrer go on every answer; the page's own policy only on /ui. */
	static const struct {
		const char *path;
		bool token;
		long status;
	} cases[] = {
		{"/healthz", false, 200},   {"/openapi.yaml", false, 200}, {"/v1/whoami", true, 200},
		{"/v1/whoami", false, 401}, {"/nope", false, 404},         {"/metrics", true, 200},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.path = cases[i].path, .token = cases[i].token ? admin : NULL), &rs), 0);
		ck_assert_msg(rs.status == cases[i].status, "%s: %ld", cases[i].path, rs.status);
		expect_common_headers(&rs);
		ck_assert_int_eq(resp_header_count(&rs, "Content-Security-Policy"), 0);
		ck_assert_int_eq(resp_header_count(&rs, "X-Frame-Options"), 0);
		resp_free(&rs);
	}
	/* The metrics count the dashboard by its routes. */
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/ui/app.css")), 200);
	ck_assert_int_gt(metric_value(&srv, admin,
				      "clawmesh_http_requests_total{method=\"GET\",route=\"/ui/{file}\",status=\"200\"}"),
			 0);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/ui")), 308);
	ck_assert_int_gt(
		metric_value(&srv, admin, "clawmesh_http_requests_total{method=\"GET\",route=\"/ui\",status=\"308\"}"), 0);
}
END_TEST

TCase *ui_tcase(void);
TCase *ui_tcase(void)
{
	TCase *tc = tcase_create("ui");
	tcase_set_timeout(tc, 60);
	tcase_add_unchecked_fixture(tc, ui_up, ui_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, every_file_as_in_the_tree);
	tcase_add_test(tc, redirect_to_the_directory);
	tcase_add_test(tc, head_as_get);
	tcase_add_test(tc, etag_revalidation);
	tcase_add_test(tc, nothing_else_reachable);
	tcase_add_test(tc, methods);
	tcase_add_test(tc, no_token_needed_none_charged);
	tcase_add_test(tc, other_answers_headers);
	return tc;
}
