/* API.md's grammar: ids, scopes, memory keys, skill names. */
#include "clawmesh/validate.h"

#include <check.h>
#include <string.h>

static char long_str[400];

static const char *repeat(char c, size_t n)
{
	memset(long_str, c, n);
	long_str[n] = '\0';
	return long_str;
}

START_TEST(ids)
{
	ck_assert(cm_valid_id("ceo"));
	ck_assert(cm_valid_id("0"));
	ck_assert(cm_valid_id("sec-nas_2.local"));
	ck_assert(cm_valid_id(repeat('a', 64)));
	ck_assert(!cm_valid_id(repeat('a', 65)));
	ck_assert(!cm_valid_id(""));
	ck_assert(!cm_valid_id(NULL));
	ck_assert(!cm_valid_id("-ceo"));
	ck_assert(!cm_valid_id(".ceo"));
	ck_assert(!cm_valid_id("CEO"));
	ck_assert(!cm_valid_id("ce o"));
	ck_assert(!cm_valid_id("ceo:x"));
	ck_assert(!cm_valid_id("ceo/x"));
	ck_assert(!cm_valid_id("é"));
}
END_TEST

START_TEST(scopes)
{
	ck_assert(cm_valid_scope("mesh"));
	ck_assert(cm_valid_scope("node:ceo"));
	ck_assert(cm_valid_scope("user:alice"));
	ck_assert(cm_valid_scope("project:alpha-2"));
	ck_assert(!cm_valid_scope("Mesh"));
	ck_assert(!cm_valid_scope("mesh:x"));
	ck_assert(!cm_valid_scope("node:"));
	ck_assert(!cm_valid_scope("node"));
	ck_assert(!cm_valid_scope("team:x"));
	ck_assert(!cm_valid_scope("user:Alice"));
	ck_assert(!cm_valid_scope("project:*"));
	ck_assert(!cm_valid_scope(""));
	ck_assert(!cm_valid_scope(NULL));
}
END_TEST

START_TEST(keys)
{
	ck_assert(cm_valid_key("user.preferences"));
	ck_assert(cm_valid_key("a"));
	ck_assert(cm_valid_key("Session:2026-02-01@ceo_x-y"));
	ck_assert(cm_valid_key(repeat('k', 256)));
	ck_assert(!cm_valid_key(repeat('k', 257)));
	ck_assert(!cm_valid_key(".hidden"));
	ck_assert(!cm_valid_key(""));
	ck_assert(!cm_valid_key("a/b"));
	ck_assert(!cm_valid_key("a b"));
	ck_assert(!cm_valid_key("a%2Fb"));
	ck_assert(!cm_valid_key("..")); /* starts with '.' */
	ck_assert(!cm_valid_key(NULL));
}
END_TEST

START_TEST(skill_names)
{
	ck_assert(cm_valid_skill_name("triage"));
	ck_assert(cm_valid_skill_name("light-research2"));
	ck_assert(cm_valid_skill_name(repeat('s', 64)));
	ck_assert(!cm_valid_skill_name(repeat('s', 65)));
	ck_assert(!cm_valid_skill_name("-triage"));
	ck_assert(!cm_valid_skill_name("Triage"));
	ck_assert(!cm_valid_skill_name("tri_age"));
	ck_assert(!cm_valid_skill_name("tri.age"));
	ck_assert(!cm_valid_skill_name(""));
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc = tcase_create("grammar");
	tcase_add_test(tc, ids);
	tcase_add_test(tc, scopes);
	tcase_add_test(tc, keys);
	tcase_add_test(tc, skill_names);
	suite_add_tcase(s, tc);
	return s;
}
