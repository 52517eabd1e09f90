/* Listing cursors: what goes in comes out, and nothing else decodes. */
#include "clawmesh/cursor.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(round_trip)
{
	cJSON *pos = cJSON_CreateObject();
	cJSON_AddStringToObject(pos, "o", "key");
	cJSON_AddStringToObject(pos, "s", "project:alpha");
	cJSON_AddStringToObject(pos, "k", "a.b:c@d-e_f");
	char *c = cm_cursor_encode(pos);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(c));
	cJSON *back = cm_cursor_decode(c);
	ck_assert_ptr_nonnull(back);
	ck_assert(cJSON_Compare(pos, back, 1));
	cJSON_Delete(back);
	free(c);
	/* Every padding length: 1, 2 and 3 bytes short of a multiple of three. */
	for (int n = 0; n < 3; n++) {
		cJSON *p = cJSON_CreateObject();
		char v[4] = "xyz";
		v[n] = '\0';
		cJSON_AddStringToObject(p, "v", v);
		char *e = cm_cursor_encode(p);
		cJSON *d = cm_cursor_decode(e);
		ck_assert_msg(d && cJSON_Compare(p, d, 1), "padding case %d: %s", n, e);
		cJSON_Delete(d);
		cJSON_Delete(p);
		free(e);
	}
	cJSON_Delete(pos);
}
END_TEST

START_TEST(garbage_refused)
{
	ck_assert_ptr_null(cm_cursor_decode(NULL));
	ck_assert_ptr_null(cm_cursor_decode(""));
	ck_assert_ptr_null(cm_cursor_decode("not a cursor"));
	ck_assert_ptr_null(cm_cursor_decode("abc+/="));
	ck_assert_ptr_null(cm_cursor_decode("a"));
	ck_assert_ptr_null(cm_cursor_decode("aGVsbG8"));   /* "hello": not JSON */
	ck_assert_ptr_null(cm_cursor_decode("WzEsMl0"));   /* [1,2]: not an object */
	ck_assert_ptr_null(cm_cursor_decode("eyJhIjoxfQA")); /* {"a":1} and a NUL */
	char big[CM_CURSOR_MAX + 8];
	memset(big, 'A', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_ptr_null(cm_cursor_decode(big));
	cJSON *ok = cm_cursor_decode("eyJhIjoxfQ"); /* {"a":1} */
	ck_assert_ptr_nonnull(ok);
	cJSON_Delete(ok);
}
END_TEST

Suite *cm_test_suite(void);
Suite *cm_test_suite(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("cursor");
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, garbage_refused);
	suite_add_tcase(s, tc);
	return s;
}
