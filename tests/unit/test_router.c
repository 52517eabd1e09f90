/* Route matching on raw paths: parameters, percent-decoding, 404 vs 405 and the Allow list. */
#include "clawmesh/err.h"
#include "clawmesh/router.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

static int h_a(struct cm_request *r) { (void)r; return 0; }
static int h_b(struct cm_request *r) { (void)r; return 0; }
static int h_c(struct cm_request *r) { (void)r; return 0; }

static const struct cm_route table[] = {
	{"GET", "/v1/things", h_a, 0, "t"},
	{"POST", "/v1/things", h_b, 0, "t"},
	{"GET", "/v1/things/{scope}/{key}", h_c, 0, "t"},
	{"DELETE", "/v1/things/{scope}/{key}", h_c, 0, "t"},
	{"GET", "/v1/things/{scope}/{key}/history", h_a, 0, "t"},
};
#define N (sizeof table / sizeof table[0])

START_TEST(literal_and_params)
{
	struct cm_route_match m;
	char allow[96];
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things", &m, allow, sizeof allow), 0);
	ck_assert_ptr_eq(m.route->handler, h_a);
	ck_assert_int_eq(cm_router_match(table, N, "POST", "/v1/things", &m, allow, sizeof allow), 0);
	ck_assert_ptr_eq(m.route->handler, h_b);

	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/mesh/user.prefs", &m, allow, sizeof allow), 0);
	ck_assert_ptr_eq(m.route->handler, h_c);
	ck_assert_uint_eq(m.nparams, 2);
	ck_assert_str_eq(m.params[0], "mesh");
	ck_assert_str_eq(m.params[1], "user.prefs");

	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/node%3Aceo/a%40b/history", &m, allow, sizeof allow), 0);
	ck_assert_str_eq(m.params[0], "node:ceo");
	ck_assert_str_eq(m.params[1], "a@b");
	ck_assert_str_eq(m.route->pattern, "/v1/things/{scope}/{key}/history");

	/* HEAD is served by GET routes. */
	ck_assert_int_eq(cm_router_match(table, N, "HEAD", "/v1/things", &m, allow, sizeof allow), 0);
	ck_assert_ptr_eq(m.route->handler, h_a);
}
END_TEST

START_TEST(not_found_and_method)
{
	struct cm_route_match m;
	char allow[96];
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/thing", &m, allow, sizeof allow), -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/", &m, allow, sizeof allow), -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things//k", &m, allow, sizeof allow), -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/a/b/c", &m, allow, sizeof allow), -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "", &m, allow, sizeof allow), -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "v1/things", &m, allow, sizeof allow), -CM_ENOTFOUND);
	/* More segments than any pattern has, or a bad escape in a path no route has: not found. */
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/a/b/c/d/e/f/g/h/i", &m, allow, sizeof allow),
			 -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/a%zz/b/c/d", &m, allow, sizeof allow), -CM_ENOTFOUND);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/", &m, allow, sizeof allow), -CM_ENOTFOUND);

	ck_assert_int_eq(cm_router_match(table, N, "PUT", "/v1/things", &m, allow, sizeof allow), -CM_EMETHOD);
	ck_assert_str_eq(allow, "GET, HEAD, POST, OPTIONS");
	ck_assert_int_eq(cm_router_match(table, N, "PATCH", "/v1/things/mesh/k", &m, allow, sizeof allow), -CM_EMETHOD);
	ck_assert_str_eq(allow, "GET, HEAD, DELETE, OPTIONS");
	ck_assert_int_eq(cm_router_match(table, N, "OPTIONS", "/v1/things", &m, allow, sizeof allow), -CM_EMETHOD);
	ck_assert_str_eq(allow, "GET, HEAD, POST, OPTIONS");
	/* A list longer than the buffer is cut at a whole method, never mid-word. */
	char small[12];
	ck_assert_int_eq(cm_router_match(table, N, "PUT", "/v1/things", &m, small, sizeof small), -CM_EMETHOD);
	ck_assert_str_eq(small, "GET, HEAD");
}
END_TEST

START_TEST(encoded_slash_never_splits)
{
	struct cm_route_match m;
	char allow[96];
	/* %2F decodes inside one segment and is refused there; it never makes a new segment. */
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/mesh/a%2Fb", &m, allow, sizeof allow), -CM_EBADREQ);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/mesh%2Fa/b", &m, allow, sizeof allow), -CM_EBADREQ);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/mesh/a%00", &m, allow, sizeof allow), -CM_EBADREQ);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/mesh/a%zz", &m, allow, sizeof allow), -CM_EBADREQ);
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/things/mesh/a%4", &m, allow, sizeof allow), -CM_EBADREQ);
	/* An encoded literal segment is not the literal. */
	ck_assert_int_eq(cm_router_match(table, N, "GET", "/v1/thing%73", &m, allow, sizeof allow), -CM_ENOTFOUND);
}
END_TEST

START_TEST(decode)
{
	char out[8];
	ck_assert_int_eq(cm_percent_decode("a%20b", 5, out, sizeof out), 0);
	ck_assert_str_eq(out, "a b");
	ck_assert_int_eq(cm_percent_decode("%41%42", 6, out, sizeof out), 0);
	ck_assert_str_eq(out, "AB");
	ck_assert_int_eq(cm_percent_decode("12345678", 8, out, sizeof out), -CM_EBADREQ); /* no room */
	ck_assert_int_eq(cm_percent_decode("1234567", 7, out, sizeof out), 0);
	ck_assert_int_eq(cm_percent_decode("%", 1, out, sizeof out), -CM_EBADREQ);
	ck_assert_int_eq(cm_percent_decode("%2", 2, out, sizeof out), -CM_EBADREQ);
	ck_assert_int_eq(cm_percent_decode("%2f", 3, out, sizeof out), -CM_EBADREQ);
}
END_TEST

/* Found by tests/fuzz/fuzz_router.c: with no room at all, even the empty string's NUL did not fit,
 * yet it was written (one byte past the buffer). */
START_TEST(decode_zero_capacity)
{
	char buf[2] = {'x', 'x'};
	ck_assert_int_eq(cm_percent_decode("", 0, buf, 0), -CM_EBADREQ);
	ck_assert_int_eq(cm_percent_decode("a", 1, buf, 0), -CM_EBADREQ);
	ck_assert_int_eq(buf[0], 'x');
	ck_assert_int_eq(cm_percent_decode("", 0, buf, 1), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(long_segment)
{
	static char path[4096];
	int n = snprintf(path, sizeof path, "/v1/things/mesh/");
	memset(path + n, 'k', 600);
	path[n + 600] = '\0';
	struct cm_route_match m;
	char allow[96];
	ck_assert_int_eq(cm_router_match(table, N, "GET", path, &m, allow, sizeof allow), -CM_EBADREQ);
}
END_TEST

START_TEST(real_table)
{
	struct cm_route_match m;
	char allow[96];
	ck_assert_int_eq(cm_router_match(cm_routes, cm_routes_count, "GET", "/v1/whoami", &m, allow, sizeof allow), 0);
	ck_assert_int_eq(cm_router_match(cm_routes, cm_routes_count, "DELETE", "/v1/tokens/tok_x", &m, allow, sizeof allow), 0);
	ck_assert_str_eq(m.params[0], "tok_x");
	ck_assert(m.route->flags & CM_ROUTE_ADMIN);
	ck_assert_int_eq(cm_router_match(cm_routes, cm_routes_count, "GET", "/healthz", &m, allow, sizeof allow), 0);
	ck_assert(m.route->flags & CM_ROUTE_PUBLIC);
	/* Every /v1 route needs a token. */
	for (size_t i = 0; i < cm_routes_count; i++)
		if (!strncmp(cm_routes[i].pattern, "/v1/", 4))
			ck_assert_msg(!(cm_routes[i].flags & CM_ROUTE_PUBLIC), "%s is public", cm_routes[i].pattern);
	/* Export and import are the admin's: the whole store, token hashes included. The import
	 * takes its body as it arrives, unbounded by --max-body. */
	ck_assert_int_eq(cm_router_match(cm_routes, cm_routes_count, "GET", "/v1/export", &m, allow, sizeof allow), 0);
	ck_assert(m.route->flags & CM_ROUTE_ADMIN);
	ck_assert_int_eq(cm_router_match(cm_routes, cm_routes_count, "POST", "/v1/import", &m, allow, sizeof allow), 0);
	ck_assert_uint_eq(m.route->flags & (CM_ROUTE_ADMIN | CM_ROUTE_AUDIT | CM_ROUTE_STREAM_BODY),
			  CM_ROUTE_ADMIN | CM_ROUTE_AUDIT | CM_ROUTE_STREAM_BODY);
	ck_assert_int_eq(cm_router_match(cm_routes, cm_routes_count, "GET", "/v1/import", &m, allow, sizeof allow), -CM_EMETHOD);
	ck_assert_str_eq(allow, "POST, OPTIONS");
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("router");
	TCase *tc = tcase_create("match");
	tcase_add_test(tc, literal_and_params);
	tcase_add_test(tc, not_found_and_method);
	tcase_add_test(tc, encoded_slash_never_splits);
	tcase_add_test(tc, decode);
	tcase_add_test(tc, decode_zero_capacity);
	tcase_add_test(tc, long_segment);
	tcase_add_test(tc, real_table);
	suite_add_tcase(s, tc);
	return s;
}
