/* Grants, token secrets and bearer parsing: the pure half of auth.c. */
#include "clawmesh/auth.h"
#include "clawmesh/tokens.h"

#include <check.h>
#include <openssl/evp.h>
#include <string.h>

static struct cm_identity ident(const char *node, bool admin)
{
	struct cm_identity id;
	memset(&id, 0, sizeof id);
	snprintf(id.token_id, sizeof id.token_id, "tok_000000000000000000000000");
	if (node)
		snprintf(id.node, sizeof id.node, "%s", node);
	id.admin = admin;
	return id;
}

static void grant(struct cm_identity *id, const char *pattern, enum cm_access a)
{
	snprintf(id->grants[id->ngrants].pattern, sizeof id->grants[0].pattern, "%s", pattern);
	id->grants[id->ngrants++].access = a;
}

START_TEST(pattern_grammar)
{
	const char *good[] = {"*", "mesh", "node:ceo", "user:alice", "project:alpha", "project:*", "user:*",
			      "node:*", "project:al*", "user:a.b-*"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(cm_grant_pattern_valid(good[i]), "%s should be valid", good[i]);
	const char *bad[] = {"", "**", "mesh*", "m*", "team:*", "project:", "project", "project:-*", "project:A*",
			     "*:*", "project:*x", "project:a*b", "mesh:*", " mesh", "node:ceo ", NULL};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!cm_grant_pattern_valid(bad[i]), "%s should be invalid", bad[i] ? bad[i] : "NULL");
}
END_TEST

START_TEST(pattern_matching)
{
	ck_assert(cm_grant_pattern_matches("*", "mesh"));
	ck_assert(cm_grant_pattern_matches("*", "project:x"));
	ck_assert(cm_grant_pattern_matches("mesh", "mesh"));
	ck_assert(!cm_grant_pattern_matches("mesh", "node:mesh"));
	ck_assert(cm_grant_pattern_matches("project:*", "project:alpha"));
	ck_assert(!cm_grant_pattern_matches("project:*", "user:alpha"));
	ck_assert(!cm_grant_pattern_matches("project:*", "mesh"));
	ck_assert(cm_grant_pattern_matches("project:al*", "project:alpha"));
	ck_assert(!cm_grant_pattern_matches("project:al*", "project:beta"));
	ck_assert(!cm_grant_pattern_matches("user:alice", "user:alice2"));
	ck_assert(!cm_grant_pattern_matches("user:alice2", "user:alice"));
}
END_TEST

START_TEST(access_rules)
{
	struct cm_identity ceo = ident("ceo", false);
	grant(&ceo, "mesh", CM_ACCESS_RW);
	grant(&ceo, "project:*", CM_ACCESS_R);
	grant(&ceo, "project:alpha", CM_ACCESS_RW);

	ck_assert(cm_grant_allows(&ceo, "mesh", CM_ACCESS_RW));
	ck_assert(cm_grant_allows(&ceo, "node:ceo", CM_ACCESS_RW)); /* implicit own node */
	ck_assert(!cm_grant_allows(&ceo, "node:sec", CM_ACCESS_R));
	ck_assert(cm_grant_allows(&ceo, "project:beta", CM_ACCESS_R));
	ck_assert(!cm_grant_allows(&ceo, "project:beta", CM_ACCESS_RW));
	ck_assert(cm_grant_allows(&ceo, "project:alpha", CM_ACCESS_RW)); /* the strongest grant wins */
	ck_assert(!cm_grant_allows(&ceo, "user:alice", CM_ACCESS_R));
	ck_assert(!cm_grant_allows(&ceo, "mesh", CM_ACCESS_NONE));

	struct cm_identity dash = ident(NULL, false);
	grant(&dash, "*", CM_ACCESS_R);
	ck_assert(cm_grant_allows(&dash, "node:ceo", CM_ACCESS_R));
	ck_assert(!cm_grant_allows(&dash, "node:ceo", CM_ACCESS_RW));
	ck_assert(!cm_grant_allows(&dash, "node:", CM_ACCESS_RW)); /* no node: no implicit grant */

	struct cm_identity admin = ident(NULL, true);
	ck_assert(cm_grant_allows(&admin, "user:bob", CM_ACCESS_RW));

	struct cm_identity none = ident(NULL, false);
	ck_assert_int_eq(cm_access_for(&none, "mesh"), CM_ACCESS_NONE);
}
END_TEST

START_TEST(effective_grants)
{
	struct cm_identity sec = ident("sec", false);
	grant(&sec, "mesh", CM_ACCESS_R);
	grant(&sec, "node:sec", CM_ACCESS_R); /* weaker than the implicit one: merged to rw */
	struct cm_grant out[CM_MAX_GRANTS + 2];
	size_t n = cm_effective_grants(&sec, out, CM_MAX_GRANTS + 2);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(out[0].pattern, "node:sec");
	ck_assert_int_eq(out[0].access, CM_ACCESS_RW);
	ck_assert_str_eq(out[1].pattern, "mesh");
	ck_assert_int_eq(out[1].access, CM_ACCESS_R);

	struct cm_identity admin = ident(NULL, true);
	n = cm_effective_grants(&admin, out, CM_MAX_GRANTS + 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(out[0].pattern, "*");
}
END_TEST

START_TEST(secret_format)
{
	char a[CM_TOKEN_SECRET_LEN + 1], b[CM_TOKEN_SECRET_LEN + 1];
	ck_assert_int_eq(cm_token_secret_new(a), 0);
	ck_assert_int_eq(cm_token_secret_new(b), 0);
	ck_assert_uint_eq(strlen(a), 46);
	ck_assert(!strncmp(a, "cm_", 3));
	ck_assert(cm_token_secret_valid(a));
	ck_assert_str_ne(a, b);
	ck_assert(strspn(a + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);

	ck_assert(!cm_token_secret_valid(NULL));
	ck_assert(!cm_token_secret_valid("cm_"));
	char near[64];
	snprintf(near, sizeof near, "%s", a);
	near[10] = '+';
	ck_assert(!cm_token_secret_valid(near)); /* standard base64 is not base64url */
	snprintf(near, sizeof near, "%sA", a);
	ck_assert(!cm_token_secret_valid(near));
	snprintf(near, sizeof near, "%.45s", a);
	ck_assert(!cm_token_secret_valid(near));
	snprintf(near, sizeof near, "CM_%s", a + 3);
	ck_assert(!cm_token_secret_valid(near));

	char id[CM_TOKEN_ID_LEN + 1];
	ck_assert_int_eq(cm_token_id_new(id), 0);
	ck_assert_uint_eq(strlen(id), 28);
	ck_assert(!strncmp(id, "tok_", 4));
	ck_assert_uint_eq(strspn(id + 4, "0123456789abcdef"), 24);
}
END_TEST

START_TEST(hash_is_sha256)
{
	char h[CM_TOKEN_HASH_HEX + 1], want_hex[65];
	unsigned char want[32];
	unsigned int n = 32;
	const char *s = "cm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	cm_token_hash(s, h);
	EVP_Digest(s, strlen(s), want, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(want_hex + 2 * i, 3, "%02x", want[i]);
	ck_assert_str_eq(h, want_hex);
}
END_TEST

START_TEST(bearer_parsing)
{
	size_t len;
	const char *t = cm_auth_bearer("Bearer abc", &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(len, 3);
	ck_assert(!strncmp(t, "abc", 3));
	t = cm_auth_bearer("bearer   abc  ", &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(len, 3);
	ck_assert_ptr_null(cm_auth_bearer(NULL, &len));
	ck_assert_ptr_null(cm_auth_bearer("Basic abc", &len));
	ck_assert_ptr_null(cm_auth_bearer("Bearer", &len));
	ck_assert_ptr_null(cm_auth_bearer("Bearer ", &len));
	ck_assert_ptr_null(cm_auth_bearer("Bearerabc", &len));
}
END_TEST

START_TEST(cli_grants)
{
	struct cm_grant g;
	ck_assert_int_eq(cm_grant_parse_cli("mesh:rw", &g), 0);
	ck_assert_str_eq(g.pattern, "mesh");
	ck_assert_int_eq(g.access, CM_ACCESS_RW);
	ck_assert_int_eq(cm_grant_parse_cli("project:*:r", &g), 0);
	ck_assert_str_eq(g.pattern, "project:*");
	ck_assert_int_eq(g.access, CM_ACCESS_R);
	ck_assert_int_eq(cm_grant_parse_cli("node:sec:rw", &g), 0);
	ck_assert_str_eq(g.pattern, "node:sec");
	ck_assert_int_lt(cm_grant_parse_cli("mesh", &g), 0);
	ck_assert_int_lt(cm_grant_parse_cli("mesh:w", &g), 0);
	ck_assert_int_lt(cm_grant_parse_cli("team:x:r", &g), 0);
	ck_assert_int_lt(cm_grant_parse_cli(":r", &g), 0);
}
END_TEST

START_TEST(request_from_json)
{
	struct cm_token_request req;
	const char *field, *msg;
	cJSON *b = cJSON_Parse("{\"label\":\"Sec\",\"node\":\"sec\",\"grants\":[{\"scope\":\"project:*\",\"access\":\"r\"}],"
			       "\"admin\":false,\"expires_in\":\"90d\"}");
	ck_assert_int_eq(cm_token_request_from_json(b, &req, &field, &msg), 0);
	ck_assert_str_eq(req.node, "sec");
	ck_assert_uint_eq(req.ngrants, 1);
	ck_assert_int_eq(req.expires_in, 90LL * 86400);
	cJSON_Delete(b);

	const struct {
		const char *body, *field;
	} bad[] = {
		{"[]", NULL},
		{"{\"nodes\":\"x\"}", "nodes"},
		{"{\"node\":\"Sec\"}", "node"},
		{"{\"node\":7}", "node"},
		{"{\"admin\":\"yes\"}", "admin"},
		{"{\"grants\":{}}", "grants"},
		{"{\"grants\":[{\"scope\":\"team:x\",\"access\":\"r\"}]}", "grants"},
		{"{\"grants\":[{\"scope\":\"mesh\",\"access\":\"w\"}]}", "grants"},
		{"{\"grants\":[{\"scope\":\"mesh\",\"access\":\"r\",\"x\":1}]}", "grants"},
		{"{\"expires_in\":0}", "expires_in"},
		{"{\"expires_in\":1.5}", "expires_in"},
		{"{\"expires_in\":\"soon\"}", "expires_in"},
		{"{\"expires_in\":1e300}", "expires_in"},
		{"{\"label\":1}", "label"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = cJSON_Parse(bad[i].body);
		ck_assert_ptr_nonnull(b);
		ck_assert_int_lt(cm_token_request_from_json(b, &req, &field, &msg), 0);
		if (bad[i].field)
			ck_assert_msg(field && !strcmp(field, bad[i].field), "%s: field %s", bad[i].body, field);
		ck_assert_ptr_nonnull(msg);
		cJSON_Delete(b);
	}
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("grants");
	tcase_add_test(tc, pattern_grammar);
	tcase_add_test(tc, pattern_matching);
	tcase_add_test(tc, access_rules);
	tcase_add_test(tc, effective_grants);
	tcase_add_test(tc, cli_grants);
	tcase_add_test(tc, request_from_json);
	suite_add_tcase(s, tc);
	tc = tcase_create("tokens");
	tcase_add_test(tc, secret_format);
	tcase_add_test(tc, hash_is_sha256);
	tcase_add_test(tc, bearer_parsing);
	suite_add_tcase(s, tc);
	return s;
}
