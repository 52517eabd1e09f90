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

START_TEST(tags)
{
	ck_assert(cm_valid_tag("prefs"));
	ck_assert(cm_valid_tag("project alpha"));
	ck_assert(cm_valid_tag("caf\xc3\xa9"));
	ck_assert(cm_valid_tag(repeat('t', 64)));
	ck_assert(!cm_valid_tag(repeat('t', 65)));
	/* 64 characters of two bytes each is still 64 characters. */
	char wide[200] = "";
	for (int i = 0; i < 64; i++)
		strcat(wide, "\xc3\xa9");
	ck_assert(cm_valid_tag(wide));
	strcat(wide, "\xc3\xa9");
	ck_assert(!cm_valid_tag(wide));
	ck_assert(!cm_valid_tag(""));
	ck_assert(!cm_valid_tag(NULL));
	ck_assert(!cm_valid_tag("a\tb"));
	ck_assert(!cm_valid_tag("a\nb"));
	ck_assert(!cm_valid_tag("\x7f"));
}
END_TEST

START_TEST(times)
{
	ck_assert(cm_valid_time("2026-02-01T10:00:00Z"));
	ck_assert(cm_valid_time("2026-02-01T10:00:00.123Z"));
	ck_assert(cm_valid_time("2026-02-01t10:00:00.123456789z"));
	ck_assert(cm_valid_time("2026-02-01T10:00:00+02:00"));
	ck_assert(cm_valid_time("2026-02-01T10:00:00.5-05:30"));
	ck_assert(cm_valid_time("2024-02-29T00:00:00Z"));
	ck_assert(cm_valid_time("2000-02-29T00:00:00Z"));
	ck_assert(!cm_valid_time("1900-02-29T00:00:00Z"));
	ck_assert(!cm_valid_time("2026-02-29T00:00:00Z"));
	ck_assert(!cm_valid_time("2026-04-31T00:00:00Z"));
	ck_assert(!cm_valid_time("2026-13-01T00:00:00Z"));
	ck_assert(!cm_valid_time("2026-00-01T00:00:00Z"));
	ck_assert(!cm_valid_time("2026-01-01T24:00:00Z"));
	ck_assert(!cm_valid_time("2026-01-01T10:60:00Z"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:60Z"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:00"));     /* no offset */
	ck_assert(!cm_valid_time("2026-01-01 10:00:00Z"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:00.Z"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:00.1234567890Z"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:00+0200"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:00+24:00"));
	ck_assert(!cm_valid_time("2026-01-01T10:00:00Zjunk"));
	ck_assert(!cm_valid_time("0000-01-01T10:00:00Z"));
	ck_assert(!cm_valid_time("tomorrow"));
	ck_assert(!cm_valid_time(""));
	ck_assert(!cm_valid_time(NULL));
}
END_TEST

START_TEST(counts)
{
	long long v = -1;
	ck_assert(cm_parse_count("0", &v) && v == 0);
	ck_assert(cm_parse_count("9223372036854775807", &v) && v == 9223372036854775807LL);
	static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "9223372036854775808",
					  "99999999999999999999", "1.0", NULL};
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(!cm_parse_count(bad[i], &v), "%s", bad[i]);
	ck_assert(!cm_parse_count(NULL, &v));
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
	tcase_add_test(tc, tags);
	tcase_add_test(tc, times);
	tcase_add_test(tc, counts);
	suite_add_tcase(s, tc);
	return s;
}
