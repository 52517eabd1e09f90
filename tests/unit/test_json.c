/* Strict body parsing, UTF-8 validation, the error envelope and the error table. */
#include "clawmesh/err.h"
#include "clawmesh/json.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s)
{
	cJSON *doc = NULL;
	int r = cm_json_parse(s, strlen(s), &doc);
	cJSON_Delete(doc);
	return r;
}

START_TEST(utf8)
{
	ck_assert(cm_utf8_valid("plain", 5));
	ck_assert(cm_utf8_valid("caf\xc3\xa9", 5));
	ck_assert(cm_utf8_valid("\xe2\x82\xac", 3));          /* € */
	ck_assert(cm_utf8_valid("\xf0\x9f\xa6\x80", 4));      /* 🦀 */
	ck_assert(!cm_utf8_valid("\xc3", 1));                 /* truncated */
	ck_assert(!cm_utf8_valid("\xc0\xaf", 2));             /* overlong '/' */
	ck_assert(!cm_utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
	ck_assert(!cm_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
	ck_assert(!cm_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
	ck_assert(!cm_utf8_valid("\xff", 1));
	ck_assert(!cm_utf8_valid("a\x80", 2));
}
END_TEST

START_TEST(strict_parse)
{
	ck_assert_int_eq(parse("{\"a\":1}"), 0);
	ck_assert_int_eq(parse("  [1, 2]\n"), 0);
	ck_assert_int_eq(parse("\"x\""), 0);
	ck_assert_int_eq(parse(""), -CM_EINVJSON);
	ck_assert_int_eq(parse("{"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"a\":1} {}"), -CM_EINVJSON); /* two documents */
	ck_assert_int_eq(parse("{\"a\":1}x"), -CM_EINVJSON);
	ck_assert_int_eq(parse("\xef\xbb\xbf{\"a\":1}"), -CM_EINVJSON); /* a byte order mark, as jsonb refuses it */
	ck_assert_int_eq(parse("{\"a\":\"\xff\"}"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{'a':1}"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"a\":\"x\\u0000y\"}"), -CM_EINVJSON);    /* escaped NUL */
	ck_assert_int_eq(parse("{\"a\":\"x\\\\\\u0000\"}"), -CM_EINVJSON); /* \\ then \u0000 */
	ck_assert_int_eq(parse("{\"a\":\"x\\\\u0000\"}"), 0);            /* \\ then text u0000 */
	ck_assert_int_eq(parse("{\"u0000\":1}"), 0);
	ck_assert_int_eq(parse("{\"a\":\"\\u0041\"}"), 0);
	cJSON *doc = NULL;
	ck_assert_int_eq(cm_json_parse("{}\0{}", 5, &doc), -CM_EINVJSON); /* NUL inside */
	ck_assert_ptr_null(doc);
}
END_TEST

START_TEST(numbers_as_rfc8259_and_postgres)
{
	const char *ok[] = {"0", "-0", "1", "-12", "1.5", "1e5", "1E+5", "1e-5", "-0.25e3",
			    "12345678901234567890123456789", "[1,2.5,-3e2]", "{\"a\":{\"b\":-1}}",
			    "1e100000", "1e-16000", "\"01 +1 .5 1.\""};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		ck_assert_msg(parse(ok[i]) == 0, "refused %s", ok[i]);
	const char *bad[] = {"01", "-01", "+1", "1.", "-.5", ".5", "1e", "1e+", "--1", "-", "[1.]",
			     "{\"a\":01}", "1e200000", "1e-20000", "0.5e-16000", "[1,+2]"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(parse(bad[i]) == -CM_EINVJSON, "accepted %s", bad[i]);
}
END_TEST

START_TEST(control_characters)
{
	ck_assert_int_eq(parse(" {\"a\" :\t[1,\r\n2]}\n"), 0);
	ck_assert_int_eq(parse("{\"a\":\x0c1}"), -CM_EINVJSON);  /* form feed as whitespace */
	ck_assert_int_eq(parse("\x0b{\"x\":1}"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"a\":1}\x01"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"a\":\"x\ny\"}"), -CM_EINVJSON); /* raw newline in a string */
	ck_assert_int_eq(parse("{\"a\":\"x\ty\"}"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"a\":\"x\\ny\"}"), 0);          /* escaped: fine */
	ck_assert_int_eq(parse("{\"a\x1f\":1}"), -CM_EINVJSON);
}
END_TEST

START_TEST(numbers_that_grow_written_out)
{
	/* 1e100000 is 100001 digits when PostgreSQL prints it: fine alone, too large eleven times. */
	char buf[256] = "[";
	for (int i = 0; i < 11; i++)
		strcat(buf, i ? ",1e100000" : "1e100000");
	strcat(buf, "]");
	ck_assert_int_eq(parse(buf), -CM_ETOOLARGE);
	buf[strlen("[1e100000")] = ']';
	buf[strlen("[1e100000") + 1] = '\0';
	ck_assert_int_eq(parse(buf), 0);
	ck_assert_int_eq(parse("[1e-15000,1e-15000,1e-15000,1e-15000,1e-15000,1e-15000,1e-15000,1e-15000,1e-15000]"), 0);
	/* Short numbers cost nothing: a million digits written as such are not "growth". */
	static char digits[1100000];
	memset(digits, '7', sizeof digits - 1);
	ck_assert_int_eq(parse(digits + sizeof digits - 1 - 130000), 0);
	/* The size as stored: what a size limit on client text (node meta) must count. */
	ck_assert_int_eq(cm_json_stored_size("{\"a\":1}", 7), 7);
	ck_assert_int_eq(cm_json_stored_size("[1e5]", 5), 8); /* [100000] */
	ck_assert_int_eq(cm_json_stored_size("[1e20000]", 9), 9 - 7 + 20001);
	ck_assert_int_eq(cm_json_stored_size("[01]", 4), -1);
	/* Past the parser's growth limit the size is still at least what is stored, never the bytes
	 * sent: a limit above 1 MiB must refuse it. */
	char eleven[256] = "[";
	for (int i = 0; i < 11; i++)
		strcat(eleven, i ? ",1e100000" : "1e100000");
	strcat(eleven, "]");
	ck_assert_int_gt(cm_json_stored_size(eleven, strlen(eleven)), 1024 * 1024);
}
END_TEST

START_TEST(duplicate_names)
{
	ck_assert_int_eq(parse("{\"a\":1,\"a\":2}"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"x\":[{\"b\":1,\"c\":2,\"b\":3}]}"), -CM_EINVJSON);
	ck_assert_int_eq(parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"), 0); /* same name, other objects */
	ck_assert_int_eq(parse("{\"a\":1,\"A\":2}"), 0);
}
END_TEST

START_TEST(depth)
{
	cJSON *doc = NULL;
	ck_assert_int_eq(cm_json_parse("1", 1, &doc), 0);
	ck_assert_int_eq(cm_json_depth(doc), 0);
	cJSON_Delete(doc);
	const char *s = "{\"a\":[1,{\"b\":[[]]}],\"c\":{}}";
	ck_assert_int_eq(cm_json_parse(s, strlen(s), &doc), 0);
	ck_assert_int_eq(cm_json_depth(doc), 5);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(envelope)
{
	cJSON *details = cJSON_CreateObject();
	cJSON_AddStringToObject(details, "field", "grants");
	cJSON *e = cm_json_error("validation_failed", "bad grants", "rid-1", details);
	char *s = cm_json_render(e, NULL);
	ck_assert_str_eq(s, "{\"error\":{\"code\":\"validation_failed\",\"message\":\"bad grants\","
			    "\"request_id\":\"rid-1\",\"details\":{\"field\":\"grants\"}}}");
	cJSON_free(s);
	cJSON_Delete(e);

	e = cm_json_error("not_found", "none", "r", NULL);
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "details"));
	cJSON_Delete(e);
}
END_TEST

START_TEST(error_table)
{
	ck_assert_uint_eq(cm_err_status(CM_EBADREQ), 400);
	ck_assert_str_eq(cm_err_code(CM_EINVJSON), "invalid_json");
	ck_assert_uint_eq(cm_err_status(CM_EINVJSON), 400);
	ck_assert_uint_eq(cm_err_status(CM_EUNAUTH), 401);
	ck_assert_uint_eq(cm_err_status(CM_EFORBIDDEN), 403);
	ck_assert_uint_eq(cm_err_status(CM_ENOTFOUND), 404);
	ck_assert_uint_eq(cm_err_status(CM_EMETHOD), 405);
	ck_assert_uint_eq(cm_err_status(CM_ECONFLICT), 409);
	ck_assert_str_eq(cm_err_code(CM_EGONE), "resync_required");
	ck_assert_uint_eq(cm_err_status(CM_EVERSION), 412);
	ck_assert_str_eq(cm_err_code(CM_EEXISTS), "already_exists");
	ck_assert_uint_eq(cm_err_status(CM_ETOOLARGE), 413);
	ck_assert_uint_eq(cm_err_status(CM_EMEDIA), 415);
	ck_assert_str_eq(cm_err_code(CM_ESECRET), "secret_detected");
	ck_assert_uint_eq(cm_err_status(CM_ESECRET), 422);
	ck_assert_uint_eq(cm_err_status(CM_ERATE), 429);
	ck_assert_uint_eq(cm_err_status(CM_EINTERNAL), 500);
	ck_assert_uint_eq(cm_err_status(CM_EUNAVAIL), 503);
	ck_assert_str_eq(cm_err_code(CM_EUNAVAIL), "unavailable");
	/* Out-of-range values map to internal, never read past the table. */
	ck_assert_uint_eq(cm_err_status((enum cm_err)999), 500);
	for (int e = 1; e < CM_ERR_COUNT; e++) {
		ck_assert_ptr_nonnull(cm_err_code((enum cm_err)e));
		ck_assert_ptr_nonnull(cm_err_message((enum cm_err)e));
	}
}
END_TEST

/* The span of a member's value, as written; "" when not found. */
static const char *span_of(const char *text, const char *name, char *buf, size_t cap)
{
	size_t off, n;
	if (!cm_json_member_span(text, strlen(text), name, &off, &n))
		return "";
	snprintf(buf, cap, "%.*s", (int)n, text + off);
	return buf;
}

START_TEST(member_spans)
{
	char b[256];
	const char *doc = " { \"content\" : \"a \\\"metadata\\\": 1 }\", \"x\":[1,{\"metadata\":2}],"
			  "\"metadata\" : {\"id\": 12345678901234567890123, \"s\": \"}]\"} , \"n\":-1.50e+3 }";
	ck_assert_str_eq(span_of(doc, "metadata", b, sizeof b), "{\"id\": 12345678901234567890123, \"s\": \"}]\"}");
	ck_assert_str_eq(span_of(doc, "n", b, sizeof b), "-1.50e+3");
	ck_assert_str_eq(span_of(doc, "x", b, sizeof b), "[1,{\"metadata\":2}]");
	ck_assert_str_eq(span_of(doc, "content", b, sizeof b), "\"a \\\"metadata\\\": 1 }\"");
	ck_assert_str_eq(span_of(doc, "missing", b, sizeof b), "");
	ck_assert_str_eq(span_of("{\"a\":true}", "a", b, sizeof b), "true");
	ck_assert_str_eq(span_of("{\"a\":null,\"b\":[]}", "b", b, sizeof b), "[]");
	ck_assert_str_eq(span_of("{}", "a", b, sizeof b), "");
	ck_assert_str_eq(span_of("[1]", "a", b, sizeof b), "");
	/* A key written with an escape is not matched (the caller renders the parsed item instead). */
	ck_assert_str_eq(span_of("{\"met\\u0061data\":1}", "metadata", b, sizeof b), "");
	/* Found by tests/fuzz/fuzz_json.c: a name with a backslash matched another member's escaped
	 * spelling ("\\\\" is the key "\\"), whose value came back for it. Such names are never found. */
	ck_assert_str_eq(span_of("{\"\\\\\":0,\"\\\\\\\\\":1}", "\\\\", b, sizeof b), "");
	ck_assert_str_eq(span_of("{\"\\\\\":0}", "\\", b, sizeof b), "");
	/* Cut short: never read past the end. */
	ck_assert_str_eq(span_of("{\"a\":\"unterminated", "b", b, sizeof b), "");
	ck_assert_str_eq(span_of("{\"a", "a", b, sizeof b), "");
	/* The text to store: the client's own where the member is found, else the item rendered. */
	const char *body = "{\"meta\": {\"n\": 12345678901234567890123}, \"m\\u0065ta2\": {\"n\": 1.0}}";
	cJSON *parsed = cJSON_Parse(body);
	size_t n = 0;
	char *t = cm_json_member_text(body, "meta", cJSON_GetObjectItem(parsed, "meta"), &n);
	ck_assert_str_eq(t, "{\"n\": 12345678901234567890123}");
	ck_assert_uint_eq(n, strlen(t));
	free(t);
	t = cm_json_member_text(body, "meta2", cJSON_GetObjectItem(parsed, "meta2"), &n);
	ck_assert_str_eq(t, "{\"n\":1}");
	ck_assert_uint_eq(n, strlen(t));
	free(t);
	t = cm_json_member_text(NULL, "meta", cJSON_GetObjectItem(parsed, "meta"), &n);
	ck_assert_str_eq(t, "{\"n\":1.2345678901234568e+22}");
	free(t);
	cJSON_Delete(parsed);
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, utf8);
	tcase_add_test(tc, strict_parse);
	tcase_add_test(tc, numbers_as_rfc8259_and_postgres);
	tcase_add_test(tc, duplicate_names);
	tcase_add_test(tc, control_characters);
	tcase_add_test(tc, numbers_that_grow_written_out);
	tcase_add_test(tc, depth);
	tcase_add_test(tc, envelope);
	tcase_add_test(tc, error_table);
	tcase_add_test(tc, member_spans);
	suite_add_tcase(s, tc);
	return s;
}
