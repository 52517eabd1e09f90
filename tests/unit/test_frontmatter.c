/* SKILL.md front matter: the YAML subset real OpenClaw skills use, what is refused and why, the
 * limits, and a fixed-seed mutation fuzz run over the examples. */
#include "clawmesh/err.h"
#include "clawmesh/frontmatter.h"
#include "clawmesh/json.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char basic[] = "---\n"
			    "name: my-skill\n"
			    "description: Short summary of what this skill does.\n"
			    "version: 1.0.0\n"
			    "---\n"
			    "# body\n";

static const char billclaw[] = "---\n"
			       "name: billclaw\n"
			       "description: \"Sync bank transactions: Plaid, GoCardless\"\n"
			       "homepage: https://github.com/fire-la/billclaw\n"
			       "metadata:\n"
			       "  {\n"
			       "    \"openclaw\":\n"
			       "      {\n"
			       "        \"emoji\": \"\xf0\x9f\x92\xb0\",\n"
			       "        \"requires\": { \"env\": [\"PLAID_CLIENT_ID\"], \"anyBins\": [\"node\", \"bun\"] },\n"
			       "        \"primaryEnv\": \"PLAID_CLIENT_ID\",\n"
			       "        \"install\": [{ \"id\": \"node\", \"kind\": \"node\", \"package\": \"billclaw\", \"bins\": [\"billclaw\"] }],\n"
			       "      },\n"
			       "  }\n"
			       "---\n";

static const char banana[] = "---\n"
			     "name: nano-banana\n"
			     "metadata: {\"openclaw\":{\"emoji\":\"\xf0\x9f\x8d\x8c\",\"requires\":{\"bins\":[\"uv\"],\"env\":"
			     "[\"GEMINI_API_KEY\"]},\"primaryEnv\":\"GEMINI_API_KEY\"}}\n"
			     "---\n"
			     "Use it.\n";

static const char todoist[] = "---\n"
			      "name: todoist\n"
			      "description: Manage tasks via the Todoist API.\n"
			      "user-invocable: true\n"
			      "metadata:\n"
			      "  openclaw:\n"
			      "    requires:\n"
			      "      env:\n"
			      "        - TODOIST_API_KEY\n"
			      "      bins: [curl, jq]\n"
			      "    install:\n"
			      "      - id: brew\n"
			      "        kind: brew\n"
			      "        formula: jq\n"
			      "    primaryEnv: TODOIST_API_KEY\n"
			      "---\n";

static const char scalars[] = "\xEF\xBB\xBF---\r\n"
			      "name: folded\r\n"
			      "description: >-\r\n"
			      "  Folds these\r\n"
			      "  lines into one.\r\n"
			      "\r\n"
			      "  Then a paragraph.\r\n"
			      "usage: |\r\n"
			      "  run it\r\n"
			      "    indented\r\n"
			      "---\r\n"
			      "body\r\n";

/* Parses a copy of exactly len bytes with no NUL after them, so ASan sees any overread. */
static int parse_n(const char *doc, size_t len, cJSON **out, size_t *body, struct cm_fm_error *err)
{
	char *copy = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, doc, len);
	int rc = cm_frontmatter_parse(copy, len, out, body, err);
	free(copy);
	return rc;
}

/* The front matter of doc rendered as compact JSON ("NULL" when there is none); caller frees. */
static char *render(const char *doc, size_t *body, struct cm_fm_error *err)
{
	cJSON *out = NULL;
	int rc = parse_n(doc, strlen(doc), &out, body, err);
	ck_assert_msg(rc == 0, "parse failed (%d) on line %d: %s", rc, err->line, err->message);
	char *json = out ? cJSON_PrintUnformatted(out) : strdup("NULL");
	cJSON_Delete(out);
	return json;
}

static void expect_json(const char *doc, const char *want)
{
	struct cm_fm_error err;
	char *json = render(doc, NULL, &err);
	ck_assert_str_eq(json, want);
	ck_assert_int_eq(err.line, 0);
	free(json);
}

/* The front matter "---\n<yaml>---\n" parsed to want. */
static void expect_yaml(const char *yaml, const char *want)
{
	char doc[4096];
	snprintf(doc, sizeof doc, "---\n%s---\n", yaml);
	expect_json(doc, want);
}

static void expect_error_n(const char *doc, size_t len, int line, const char *fragment)
{
	cJSON *out = (cJSON *)1;
	size_t body = 99;
	struct cm_fm_error err;
	int rc = parse_n(doc, len, &out, &body, &err);
	ck_assert_msg(rc == -CM_EVALIDATION, "rc %d for %.60s", rc, doc);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(body, 0);
	ck_assert_msg(strstr(err.message, fragment), "message \"%s\" lacks \"%s\"", err.message, fragment);
	ck_assert_msg(err.line == line, "line %d, expected %d: %s", err.line, line, err.message);
}

static void expect_error(const char *doc, int line, const char *fragment)
{
	expect_error_n(doc, strlen(doc), line, fragment);
}

START_TEST(example_basic)
{
	size_t body;
	struct cm_fm_error err;
	char *json = render(basic, &body, &err);
	ck_assert_str_eq(json, "{\"name\":\"my-skill\",\"description\":\"Short summary of what this skill does.\","
			       "\"version\":\"1.0.0\"}");
	ck_assert_str_eq(basic + body, "# body\n");
	free(json);
}
END_TEST

START_TEST(example_flow_json_trailing_commas)
{
	size_t body;
	struct cm_fm_error err;
	char *json = render(billclaw, &body, &err);
	ck_assert_str_eq(json, "{\"name\":\"billclaw\",\"description\":\"Sync bank transactions: Plaid, GoCardless\","
			       "\"homepage\":\"https://github.com/fire-la/billclaw\",\"metadata\":{\"openclaw\":{"
			       "\"emoji\":\"\xf0\x9f\x92\xb0\",\"requires\":{\"env\":[\"PLAID_CLIENT_ID\"],"
			       "\"anyBins\":[\"node\",\"bun\"]},\"primaryEnv\":\"PLAID_CLIENT_ID\",\"install\":[{"
			       "\"id\":\"node\",\"kind\":\"node\",\"package\":\"billclaw\",\"bins\":[\"billclaw\"]}]}}}");
	ck_assert_uint_eq(body, strlen(billclaw));
	free(json);
}
END_TEST

START_TEST(example_single_line_json)
{
	size_t body;
	struct cm_fm_error err;
	char *json = render(banana, &body, &err);
	ck_assert_str_eq(json, "{\"name\":\"nano-banana\",\"metadata\":{\"openclaw\":{\"emoji\":\"\xf0\x9f\x8d\x8c\","
			       "\"requires\":{\"bins\":[\"uv\"],\"env\":[\"GEMINI_API_KEY\"]},"
			       "\"primaryEnv\":\"GEMINI_API_KEY\"}}}");
	ck_assert_str_eq(banana + body, "Use it.\n");
	free(json);
}
END_TEST

START_TEST(example_block_style)
{
	size_t body;
	struct cm_fm_error err;
	char *json = render(todoist, &body, &err);
	ck_assert_str_eq(json, "{\"name\":\"todoist\",\"description\":\"Manage tasks via the Todoist API.\","
			       "\"user-invocable\":true,\"metadata\":{\"openclaw\":{\"requires\":{\"env\":"
			       "[\"TODOIST_API_KEY\"],\"bins\":[\"curl\",\"jq\"]},\"install\":[{\"id\":\"brew\","
			       "\"kind\":\"brew\",\"formula\":\"jq\"}],\"primaryEnv\":\"TODOIST_API_KEY\"}}}");
	ck_assert_uint_eq(body, strlen(todoist));
	free(json);
}
END_TEST

START_TEST(example_bom_crlf_block_scalars)
{
	size_t body;
	struct cm_fm_error err;
	char *json = render(scalars, &body, &err);
	ck_assert_str_eq(json, "{\"name\":\"folded\",\"description\":\"Folds these lines into one.\\nThen a paragraph.\","
			       "\"usage\":\"run it\\n  indented\\n\"}");
	ck_assert_str_eq(scalars + body, "body\r\n");
	free(json);
}
END_TEST

START_TEST(presence_and_delimiters)
{
	size_t body = 99;
	struct cm_fm_error err;
	char *json;
	/* No front matter: 0, no object, body from 0. */
	const char *none[] = {"", "# Title\n", "--- x\n---\n", " ---\n---\n", "----\n---\n", "\n---\n---\n", "--\n"};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		json = render(none[i], &body, &err);
		ck_assert_str_eq(json, "NULL");
		ck_assert_uint_eq(body, 0);
		free(json);
	}
	cJSON *out = (cJSON *)1;
	ck_assert_int_eq(cm_frontmatter_parse(NULL, 0, &out, &body, &err), 0);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(cm_frontmatter_parse("---\na: 1\n---\n", 13, &out, NULL, NULL), 0); /* optional outputs */
	cJSON_Delete(out);

	json = render("---\n---\nbody", &body, &err);
	ck_assert_str_eq(json, "{}");
	ck_assert_uint_eq(body, 8);
	free(json);
	json = render("---\n---", &body, &err);
	ck_assert_str_eq(json, "{}");
	ck_assert_uint_eq(body, 7);
	free(json);
	json = render("---  \r\n# only a comment\n\n...\r\nrest", &body, &err); /* "..." closes too */
	ck_assert_str_eq(json, "{}");
	ck_assert_uint_eq(body, 30);
	free(json);
	json = render("--- \na: 1\n---  \r", &body, &err);
	ck_assert_str_eq(json, "{\"a\":1}");
	ck_assert_uint_eq(body, 16);
	free(json);
	/* The first line that is exactly "---" closes it, even where a markdown rule was meant. */
	json = render("---\na: x\n---\n---\nb: y\n", &body, &err);
	ck_assert_str_eq(json, "{\"a\":\"x\"}");
	ck_assert_uint_eq(body, 13);
	free(json);

	expect_error("---\nname: x\n", 1, "never closed");
	expect_error("---", 1, "never closed");
	expect_error("\xEF\xBB\xBF---\nname: x\n--- not a close\n", 1, "never closed");
}
END_TEST

START_TEST(scalar_typing)
{
	static const struct {
		const char *value, *json;
	} table[] = {
		{"true", "true"},        {"false", "false"},     {"True", "true"},       {"False", "false"},
		{"TRUE", "true"},        {"FALSE", "false"},     {"tRUE", "\"tRUE\""},   {"yes", "\"yes\""},
		{"no", "\"no\""},        {"on", "\"on\""},       {"null", "null"},       {"Null", "null"},
		{"NULL", "null"},        {"~", "null"},          {"", "null"},           {"nULL", "\"nULL\""},
		{"3", "3"},              {"-2", "-2"},           {"0", "0"},             {"1.5", "1.5"},
		{"-0.25", "-0.25"},      {"1e3", "1e3"},         {"2.5E-1", "2.5E-1"},    {"1.0.0", "\"1.0.0\""},
		{"01", "\"01\""},        {"+1", "\"+1\""},       {".5", "\".5\""},       {"1.", "\"1.\""},
		{"0x1F", "\"0x1F\""},    {"0o17", "\"0o17\""},   {".inf", "\".inf\""},   {".nan", "\".nan\""},
		{"1e999", "\"1e999\""},  {"-x", "\"-x\""},         {"12abc", "\"12abc\""}, {"3 # three", "3"},
		{"https://x", "\"https://x\""},                  {"hello world", "\"hello world\""},
		{"a#b", "\"a#b\""},      {"a: b", NULL},         {"'true'", "\"true\""}, {"\"3\"", "\"3\""},
		{"\"null\"", "\"null\""}, {"''", "\"\""},        {"\"\"", "\"\""},       {"  padded  ", "\"padded\""},
		{"-1", "-1"},            {":x", "\":x\""},       {"?x", "\"?x\""},       {"a:b", "\"a:b\""},
		{"Q&A", "\"Q&A\""},      {"it's", "\"it's\""},   {"[1, 2.5, true, null, x]", "[1,2.5,true,null,\"x\"]"},
		/* Numbers keep their digits: no rounding through a double. */
		{"1093847561234567890", "1093847561234567890"}, {"9007199254740993", "9007199254740993"},
		{"0.1000000000000000055", "0.1000000000000000055"},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		char yaml[200], want[200];
		snprintf(yaml, sizeof yaml, "v: %s\n", table[i].value);
		if (!table[i].json) {
			char doc[220];
			snprintf(doc, sizeof doc, "---\n%s---\n", yaml);
			expect_error(doc, 2, "': '");
			continue;
		}
		snprintf(want, sizeof want, "{\"v\":%s}", table[i].json);
		expect_yaml(yaml, want);
	}
}
END_TEST

START_TEST(quoting_and_escapes)
{
	expect_yaml("a: 'it''s # not a comment'\n", "{\"a\":\"it's # not a comment\"}");
	expect_yaml("a: 'back\\slash'\n", "{\"a\":\"back\\\\slash\"}");
	expect_yaml("a: \"q\\\" b\\\\ s\\/ n\\n t\\t r\\r b\\b f\\f\"\n",
		    "{\"a\":\"q\\\" b\\\\ s/ n\\n t\\t r\\r b\\b f\\f\"}");
	expect_yaml("a: \"\\u00e9\\u20AC\"\n", "{\"a\":\"\xc3\xa9\xe2\x82\xac\"}");
	expect_yaml("a: \"\\ud83d\\ude00\"\n", "{\"a\":\"\xf0\x9f\x98\x80\"}"); /* a surrogate pair */
	expect_yaml("a: \"\\u0001\"\n", "{\"a\":\"\\u0001\"}");
	/* YAML's own escapes, as PyYAML writes non-ASCII text by default. */
	expect_yaml("a: \"\\xE9\\U0001F4B0\\ \\N\\_\\L\\P\\e\\a\\v\\\t.\"\n",
		    "{\"a\":\"\xc3\xa9\xf0\x9f\x92\xb0 \xc2\x85\xc2\xa0\xe2\x80\xa8\xe2\x80\xa9\\u001b\\u0007\\u000b\\t.\"}");
	expect_yaml("a: \"kept \\\n  \\ lead\"\n", "{\"a\":\"kept  lead\"}");
	expect_yaml("\"quoted key\": 1\n'single: key': 2\n\"\": 3\n", "{\"quoted key\":1,\"single: key\":2,\"\":3}");
	expect_yaml("a: \"x\" # comment\n", "{\"a\":\"x\"}");
	/* Quoted scalars over several lines fold: a break is a space, a blank line a newline. */
	expect_yaml("a: \"one  \n   two\n\n   three\"\n", "{\"a\":\"one two\\nthree\"}");
	expect_yaml("a: 'one\n  two'\n", "{\"a\":\"one two\"}");
	expect_yaml("a: \"join\\\n   ed\"\n", "{\"a\":\"joined\"}");

	expect_error("---\na: \"\\0\"\n---\n", 2, "NUL");
	expect_error("---\na: \"\\u0000\"\n---\n", 2, "NUL");
	expect_error("---\na: \"\\x00\"\n---\n", 2, "NUL");
	expect_error("---\na: \"\\U00000000\"\n---\n", 2, "NUL");
	expect_error("---\na: \"\\U00110000\"\n---\n", 2, "not a character");
	expect_error("---\na: \"\\U0000D800\"\n---\n", 2, "not a character");
	expect_error("---\na: \"\\x4\"\n---\n", 2, "2 hex digits");
	expect_error("---\na: \"\\q\"\n---\n", 2, "invalid escape \\q");
	expect_error("---\na: \"\\u12\"\n---\n", 2, "4 hex digits");
	expect_error("---\na: \"\\u12G4\"\n---\n", 2, "4 hex digits");
	expect_error("---\na: \"\\ud83d\"\n---\n", 2, "high surrogate");
	expect_error("---\na: \"\\ud83d\\u0041\"\n---\n", 2, "high surrogate");
	expect_error("---\na: \"\\ude00\"\n---\n", 2, "not a character on its own"); /* a low surrogate */
	expect_error("---\na: \"x\" y\n---\n", 2, "unexpected text");
	expect_error("---\nb: 1\na: \"abc\n---\n", 3, "never closed");
	expect_error("---\na: 'abc\nb: 2\n---\n", 2, "never closed");
	expect_error("---\na: \"abc\\\n---\n", 2, "never closed");
}
END_TEST

START_TEST(block_scalars)
{
	expect_yaml("a: |\n  one\n  two\n", "{\"a\":\"one\\ntwo\\n\"}");
	expect_yaml("a: |-\n  one\n  two\n\n", "{\"a\":\"one\\ntwo\"}");
	expect_yaml("a: |+\n  one\n\n\nb: 1\n", "{\"a\":\"one\\n\\n\\n\",\"b\":1}");
	expect_yaml("a: >\n  one\n  two\n\n  three\n    deeper\n  four\n",
		    "{\"a\":\"one two\\nthree\\n  deeper\\nfour\\n\"}");
	expect_yaml("a: >+\n  x\n\n", "{\"a\":\"x\\n\\n\"}");
	expect_yaml("a: | # why\n    # not a comment\n    x: y\nb: |\nc: >-\n", "{\"a\":\"# not a comment\\nx: y\\n\",\"b\":\"\",\"c\":\"\"}");
	expect_yaml("a: |2\n    two extra\n  base\n", "{\"a\":\"  two extra\\nbase\\n\"}");
	expect_yaml("a: -|\n", "{\"a\":\"-|\"}");
	expect_yaml("list:\n  - |\n    item\n  - >-\n    x\n    y\n", "{\"list\":[\"item\\n\",\"x y\"]}");
	expect_error("---\na: |x\n---\n", 2, "block scalar header");
	expect_error("---\na: |\n  text\n\tb: 1\n---\n", 4, "tab"); /* ends the text, then is refused */
}
END_TEST

START_TEST(block_structure)
{
	expect_yaml("a:\n  b:\n    c: 1\n  d: 2\ne: 3\n", "{\"a\":{\"b\":{\"c\":1},\"d\":2},\"e\":3}");
	expect_yaml("empty:\nnext: x\n", "{\"empty\":null,\"next\":\"x\"}");
	expect_yaml("a: # comment\n\n  # another\n  b: 1 # and another\n", "{\"a\":{\"b\":1}}");
	/* Compact sequences at the key's own indentation, and inside a sequence's mapping. */
	expect_yaml("env:\n- A\n- B\nbins:\n  - c\n", "{\"env\":[\"A\",\"B\"],\"bins\":[\"c\"]}");
	expect_yaml("i:\n  - id: a\n    env:\n    - X\n    kind: k\n  - id: b\n",
		    "{\"i\":[{\"id\":\"a\",\"env\":[\"X\"],\"kind\":\"k\"},{\"id\":\"b\"}]}");
	expect_yaml("s:\n  - - a\n    - b\n  -\n  - -c\n  -\n    x: 1\n", "{\"s\":[[\"a\",\"b\"],null,\"-c\",{\"x\":1}]}");
	expect_yaml("s:\n  -   id: spaced\n      k: v\n", "{\"s\":[{\"id\":\"spaced\",\"k\":\"v\"}]}");
	expect_yaml("a:\n  [1, 2]\nb:\n  'quoted'\nc:\n  plain\n", "{\"a\":[1,2],\"b\":\"quoted\",\"c\":\"plain\"}");
	/* Plain scalars continue on deeper lines, folded like a quoted one. */
	expect_yaml("d: one\n  two\n\n  three\ne: x\n", "{\"d\":\"one two\\nthree\",\"e\":\"x\"}");
	expect_yaml("  a: 1\n  b: 2\n", "{\"a\":1,\"b\":2}");
	expect_yaml("a:\ttab separated\n", "{\"a\":\"tab separated\"}");
	expect_yaml("url: https://example.com:8080/x # port\n", "{\"url\":\"https://example.com:8080/x\"}");
	expect_yaml("same:\n  k: 1\nother:\n  k: 2\n", "{\"same\":{\"k\":1},\"other\":{\"k\":2}}");
	expect_yaml("true: 1\n3: x\nnull: y\n", "{\"true\":1,\"3\":\"x\",\"null\":\"y\"}"); /* keys stay text */
	expect_yaml("{\"name\": \"x\", \"n\": 2}\n", "{\"name\":\"x\",\"n\":2}");
}
END_TEST

/* What PyYAML's safe_dump writes by default (width 40 here to force the wrapping): folded quoted
 * scalars, \U escapes instead of UTF-8, flow sequences inside block mappings. */
START_TEST(emitter_output)
{
	expect_yaml("name: billclaw\n"
		    "description: 'Sync bank transactions from\n"
		    "  Plaid and GoCardless into your ledger: daily,\n"
		    "  with retries.'\n"
		    "user-invocable: true\n"
		    "metadata:\n"
		    "  openclaw:\n"
		    "    emoji: \"\\U0001F4B0\"\n"
		    "    requires:\n"
		    "      env: [PLAID_CLIENT_ID, GOCARDLESS_SECRET_ID]\n"
		    "      bins: [node]\n"
		    "    notes: 'line one\n"
		    "\n"
		    "      line two\n"
		    "\n"
		    "      '\n",
		    "{\"name\":\"billclaw\",\"description\":\"Sync bank transactions from Plaid and GoCardless into "
		    "your ledger: daily, with retries.\",\"user-invocable\":true,\"metadata\":{\"openclaw\":{"
		    "\"emoji\":\"\xf0\x9f\x92\xb0\",\"requires\":{\"env\":[\"PLAID_CLIENT_ID\",\"GOCARDLESS_SECRET_ID\"],"
		    "\"bins\":[\"node\"]},\"notes\":\"line one\\nline two\\n\"}}}");
}
END_TEST

START_TEST(flow_collections)
{
	expect_yaml("a: []\nb: {}\nc: [ ]\n", "{\"a\":[],\"b\":{},\"c\":[]}");
	expect_yaml("a: [x, 'y', \"z\", [1, [2]], {k: v}]\n", "{\"a\":[\"x\",\"y\",\"z\",[1,[2]],{\"k\":\"v\"}]}");
	expect_yaml("a: {k: v, n: 1, e: , t: true,}\n", "{\"a\":{\"k\":\"v\",\"n\":1,\"e\":null,\"t\":true}}");
	expect_yaml("a: {\"k\":\"v\",'q':1}\n", "{\"a\":{\"k\":\"v\",\"q\":1}}");
	expect_yaml("a: {k:}\n", "{\"a\":{\"k\":null}}");
	expect_yaml("a: [https://x.y/z, a b , c:d]\n", "{\"a\":[\"https://x.y/z\",\"a b\",\"c:d\"]}");
	expect_yaml("a: [1,\n  2, # two\n  3,\n]\n", "{\"a\":[1,2,3]}");
	expect_yaml("a: {\n\t\"k\": [\n\t\t1\n\t]\n}\n", "{\"a\":{\"k\":[1]}}"); /* pasted JSON with tabs */

	expect_error("---\na: [x, y\n---\n", 2, "never closed");
	expect_error("---\na: {k: v\n\n---\n", 2, "never closed");
	expect_error("---\na: [x,,y]\n---\n", 2, "unexpected ','");
	expect_error("---\na: [,]\n---\n", 2, "unexpected ','");
	expect_error("---\na: [x y z] more\n---\n", 2, "unexpected text");
	expect_yaml("a: [x\n  y z\n\n  w]\n", "{\"a\":[\"x y z\\nw\"]}");
	expect_yaml("a: {k: long\n  text, j: 1}\n", "{\"a\":{\"k\":\"long text\",\"j\":1}}"); /* plain ones span lines */
	expect_error("---\na: [\"x\" \"y\"]\n---\n", 2, "expected ','"); /* ...a quoted one ends */
	expect_error("---\na: {k}\n---\n", 2, "no ':'");
	expect_error("---\na: {a:1}\n---\n", 2, "no ':'");
	expect_error("---\na: [k: v]\n---\n", 2, "inside [ ]");
	expect_error("---\na: [- x]\n---\n", 2, "'- '");
	expect_error("---\na: [|]\n---\n", 2, "block scalar");
	expect_error("---\na: {[k]: v}\n---\n", 2, "not a collection");
	expect_error("---\na: {k: 1, k: 2}\n---\n", 2, "duplicate key \"k\"");
	expect_error("---\na: [:]\n---\n", 2, "unexpected ':'");
	expect_error("---\na: [x]]\n---\n", 2, "unexpected text");
}
END_TEST

START_TEST(refusals)
{
	expect_error("---\nname: &a x\n---\n", 2, "anchors");
	expect_error("---\na: 1\nb: *a\n---\n", 3, "aliases");
	expect_error("---\na: !foo x\n---\n", 2, "tags");
	expect_error("---\na: !!str 3\n---\n", 2, "tags");
	expect_error("---\na: [!!str 3]\n---\n", 2, "tags");
	expect_error("---\na: 1\n<<: {b: 2}\n---\n", 3, "merge keys");
	expect_error("---\na: {<<: {b: 2}}\n---\n", 2, "merge keys");
	expect_error("---\na: 1\n--- # second\nb: 2\n---\n", 3, "second YAML document");
	expect_error("---\na: 1\n... more\n---\n", 3, "second YAML document");
	expect_error("---\n? complex\n: key\n---\n", 2, "complex keys");
	expect_error("---\n%YAML 1.2\n---\n", 2, "'%'");
	expect_error("---\na: @x\n---\n", 2, "'@'");
	/* Duplicate keys at any level, in any style. */
	expect_error("---\nname: a\nx: 1\nname: b\n---\n", 4, "duplicate key \"name\"");
	expect_error("---\na:\n  b: 1\n  b: 2\n---\n", 4, "duplicate key \"b\"");
	expect_error("---\ns:\n  - id: 1\n    id: 2\n---\n", 4, "duplicate key \"id\"");
	expect_error("---\n\"k\": 1\nk: 2\n---\n", 3, "duplicate key");
	expect_error("---\n'\xc3\xa9': 1\n\"\\u00e9\": 2\n---\n", 3, "duplicate key \"\xc3\xa9\"");
	/* Not a key, not indented right, not a mapping. */
	expect_error("---\nname: x\ndescription\n---\n", 3, "no ': '");
	expect_error("---\nkey:value\n---\n", 2, "no ': '");
	expect_error("---\na:\n    b: 1\n  c: 2\n---\n", 4, "bad indentation");
	expect_error("---\na: 1\n  b: 2\n---\n", 3, "bad indentation");
	expect_error("---\na: 'x'\n  b\n---\n", 3, "bad indentation");
	expect_error("---\n  a: 1\nb: 2\n---\n", 3, "bad indentation");
	expect_error("---\na:\n  - x\n  b: 1\n---\n", 4, "bad indentation");
	expect_error("---\na: - x\n---\n", 2, "sequence may not start");
	expect_error("---\na: b: c\n---\n", 2, "': '");
	expect_error("---\na: 'b': c\n---\n", 2, "mapping is not allowed");
	expect_error("---\na: 1\n- b\n---\n", 3, "'- ' entry");
	expect_error("---\na:\n\tb: 1\n---\n", 3, "tab");
	expect_error("---\na:\n  \tb: 1\n---\n", 3, "tab");
	expect_error("---\nhello\n---\n", 2, "no ': '");
	expect_error("---\n- a\n- b\n---\n", 2, "not a sequence");
	expect_error("---\n[a, b]\n---\n", 2, "not a sequence");
	expect_error("---\n\"just a string\"\n---\n", 2, "quoted key");
	expect_error("---\n{a: 1}\nb: 2\n---\n", 3, "outside the top-level mapping");
	/* Bytes the front matter may not hold. */
	static const char nul[] = "---\na: 1\nb: x\0y\n---\n";
	expect_error_n(nul, sizeof nul - 1, 3, "NUL");
	expect_error("---\na: 1\nb: x\x01y\n---\n", 3, "control character 0x01");
	expect_error("---\na: 1\nb: x\ry\n---\n", 3, "carriage return");
	expect_error("---\na: 1\nb: caf\xc3\n---\n", 3, "UTF-8");
	expect_error("---\na: 1\nb: \xed\xa0\x80\n---\n", 3, "UTF-8");
	/* Outside the front matter anything goes. */
	static const char junk_body[] = "---\na: 1\n---\n\0\xff\x01";
	cJSON *out = NULL;
	struct cm_fm_error err;
	ck_assert_int_eq(parse_n(junk_body, sizeof junk_body - 1, &out, NULL, &err), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(out, "a")->valuestring, "1");
	cJSON_Delete(out);
}
END_TEST

START_TEST(error_messages_quote_little)
{
	char doc[1200], key[260];
	memset(key, 'k', 250);
	memcpy(key + 39, "\xc3\xa9", 2); /* a character across the 40-byte cut */
	key[250] = '\0';
	snprintf(doc, sizeof doc, "---\n%s: 1\n%s: 2\n---\n", key, key);
	struct cm_fm_error err;
	cJSON *out;
	ck_assert_int_eq(cm_frontmatter_parse(doc, strlen(doc), &out, NULL, &err), -CM_EVALIDATION);
	ck_assert_int_eq(err.line, 3);
	ck_assert_ptr_nonnull(strstr(err.message, "duplicate key"));
	ck_assert_ptr_null(strstr(err.message, "\xc3")); /* cut before the character, not inside it */
	ck_assert(cm_utf8_valid(err.message, strlen(err.message)));
	ck_assert_uint_le(strlen(err.message), strlen("duplicate key \"\"") + 40);
}
END_TEST

/* "---\n" head, n copies of unit, "\n---\n"; caller frees. */
static char *repeated(const char *head, const char *unit, size_t n, size_t *len)
{
	size_t hl = strlen(head), ul = strlen(unit);
	char *doc = malloc(4 + hl + n * ul + 6);
	ck_assert_ptr_nonnull(doc);
	memcpy(doc, "---\n", 4);
	memcpy(doc + 4, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(doc + 4 + hl + i * ul, unit, ul);
	memcpy(doc + 4 + hl + n * ul, "\n---\n", 6);
	*len = 4 + hl + n * ul + 5;
	return doc;
}

/* A document whose front matter is exactly size bytes: a literal block of 16-byte lines. */
static char *sized(size_t size, size_t *len)
{
	char *doc = malloc(size + 16);
	ck_assert_ptr_nonnull(doc);
	memcpy(doc, "---\na: |\n", 9);
	size_t n = 5;
	while (size - n > 32) {
		memcpy(doc + 4 + n, "  xxxxxxxxxxxxx\n", 16);
		n += 16;
	}
	memset(doc + 4 + n, 'y', size - n); /* the last line, whatever length is left */
	memcpy(doc + 4 + n, "  ", 2);
	doc[4 + size - 1] = '\n';
	memcpy(doc + 4 + size, "---\n", 4);
	*len = 4 + size + 4;
	return doc;
}

/* Parses and returns the result code, asserting it took under a second (no quadratic path). */
static int timed(const char *doc, size_t len, struct cm_fm_error *err)
{
	cJSON *out = NULL;
	clock_t t0 = clock();
	int rc = cm_frontmatter_parse(doc, len, &out, NULL, err);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	ck_assert_msg(secs < 1.0, "took %.2f s", secs);
	cJSON_Delete(out);
	return rc;
}

START_TEST(limits)
{
	struct cm_fm_error err;
	size_t len;
	char *doc;

	doc = repeated("a: ", "[", 60 * 1024, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "deeper than 32"));
	ck_assert_int_eq(err.line, 2);
	free(doc);
	doc = repeated("", "[", 60 * 1024, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	free(doc);
	doc = repeated("a: ", "{a: ", 15 * 1024, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "deeper than 32"));
	free(doc);
	doc = repeated("a:\n  ", "- ", 30 * 1024, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	free(doc);

	/* Depth: 32 levels of block mappings parse, 40 do not; a flow collection adds to the count. */
	char nest[4096] = "";
	for (int d = 0; d < 40; d++) {
		char line[128];
		snprintf(line, sizeof line, "%*sk%d:\n", 2 * d, "", d);
		strcat(nest, line);
		if (d == 31) {
			char ok[4200];
			snprintf(ok, sizeof ok, "---\n%s%*sleaf: 1\n---\n", nest, 64, "");
			ck_assert_int_eq(timed(ok, strlen(ok), &err), -CM_EVALIDATION); /* the 33rd mapping */
			snprintf(ok, sizeof ok, "---\n%s%*s[]\n---\n", nest, 64, "");
			ck_assert_int_eq(timed(ok, strlen(ok), &err), -CM_EVALIDATION); /* a 33rd level as [] */
			snprintf(ok, sizeof ok, "---\n%s%*sleaf\n---\n", nest, 64, "");
			ck_assert_int_eq(timed(ok, strlen(ok), &err), 0); /* 32 mappings and a scalar */
		}
	}
	doc = repeated(nest, "", 0, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "deeper than 32"));
	ck_assert_int_eq(err.line, 34);
	free(doc);

	/* Keys and values: 4096 in all (10000 null-valued keys fit in 64 KiB written in hex). */
	char *keys = malloc(10000 * 16), *k = keys;
	for (int i = 0; i < 10000; i++)
		k += sprintf(k, "%x:\n", i);
	doc = repeated(keys, "", 0, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "more than 4096"));
	ck_assert_int_eq(err.line, 2050); /* key 2049 is the 4097th scalar */
	free(doc);
	k = keys;
	for (int i = 0; i < 2048; i++)
		k += sprintf(k, "k%d: 1\n", i);
	doc = repeated(keys, "", 0, &len); /* 2048 keys, 4096 scalars */
	ck_assert_int_eq(timed(doc, len, &err), 0);
	free(doc);
	free(keys);
	doc = repeated("", "a: 1\n", 10000, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "duplicate key"));
	ck_assert_int_eq(err.line, 3);
	free(doc);
	doc = repeated("a: [", "1,", 5000, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "more than 4096"));
	free(doc);

	/* Key length: 256 bytes. */
	char key[300];
	memset(key, 'k', 257);
	key[256] = '\0';
	char kdoc[400];
	snprintf(kdoc, sizeof kdoc, "---\n%s: 1\n---\n", key);
	ck_assert_int_eq(timed(kdoc, strlen(kdoc), &err), 0);
	key[256] = 'k', key[257] = '\0';
	snprintf(kdoc, sizeof kdoc, "---\n%s: 1\n---\n", key);
	ck_assert_int_eq(timed(kdoc, strlen(kdoc), &err), -CM_EVALIDATION);
	ck_assert_ptr_nonnull(strstr(err.message, "longer than 256"));

	/* Size: 64 KiB between the lines, not a byte more. */
	for (size_t size = CM_FM_SIZE_MAX - 1; size <= CM_FM_SIZE_MAX + 1; size++) {
		doc = sized(size, &len);
		ck_assert_int_eq(timed(doc, len, &err), size <= CM_FM_SIZE_MAX ? 0 : -CM_EVALIDATION);
		if (size > CM_FM_SIZE_MAX) {
			ck_assert_ptr_nonnull(strstr(err.message, "larger than 65536"));
			ck_assert_int_eq(err.line, 4097); /* where the 65537th byte is */
		}
		free(doc);
	}

	/* Long inputs that stay within the limits stay linear. */
	doc = repeated("a: ", "word ", 12000, &len);
	ck_assert_int_eq(timed(doc, len, &err), 0);
	free(doc);
	doc = repeated("a: 1\n", "\n  # comment\n", 4000, &len);
	ck_assert_int_eq(timed(doc, len, &err), 0);
	free(doc);
	doc = repeated("a: >\n", "  x\n\n", 12000, &len);
	ck_assert_int_eq(timed(doc, len, &err), 0);
	free(doc);
	doc = repeated("a: \"", "\\u00e9 \n", 7000, &len);
	ck_assert_int_eq(timed(doc, len, &err), -CM_EVALIDATION); /* never closed, found in one pass */
	free(doc);
	doc = repeated("a: ", ":x:x:x:x", 7000, &len);
	ck_assert_int_eq(timed(doc, len, &err), 0);
	free(doc);
}
END_TEST

/* xorshift64*: a fixed sequence on every machine, unlike rand(). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static bool opens_front_matter(const char *d, size_t n)
{
	size_t i = n >= 3 && !memcmp(d, "\xEF\xBB\xBF", 3) ? 3 : 0;
	if (n - i < 3 || memcmp(d + i, "---", 3))
		return false;
	for (i += 3; i < n && (d[i] == ' ' || d[i] == '\r'); i++)
		;
	return i == n || d[i] == '\n';
}

#define FUZZ_MAX 4096
/* Check writes a record for every passing ck_assert; 200000 iterations call it only on failure. */
#define REQUIRE(cond)                                                                     \
	do {                                                                              \
		if (!(cond))                                                              \
			ck_abort_msg("iteration %d: %s failed on %.*s", iter, #cond, (int)len, cur); \
	} while (0)

START_TEST(fuzz_mutations)
{
	static const char *const seeds[] = {basic, billclaw, banana, todoist, scalars};
	static const char alphabet[] = ":{}[],'\"#-|> \n\t";
	static char cur[FUZZ_MAX];
	size_t len = 0, accepted = 0, refused = 0;
	for (int iter = 0; iter < 200000; iter++) {
		if (iter % 4 == 0 || len == 0) { /* mostly keep mutating the last input, reseed now and then */
			const char *s = seeds[rng() % 5];
			len = strlen(s);
			memcpy(cur, s, len);
		}
		for (int m = 1 + (int)(rng() % 4); m > 0; m--) {
			size_t at = len ? rng() % len : 0, span = 1 + rng() % 16;
			switch (rng() % 5) {
			case 0:
				if (len)
					cur[at] ^= (char)(1u << (rng() % 8));
				break;
			case 1:
				if (len < FUZZ_MAX) {
					memmove(cur + at + 1, cur + at, len - at);
					cur[at] = alphabet[rng() % (sizeof alphabet - 1)];
					len++;
				}
				break;
			case 2:
				len = at + (len - at) / 2; /* truncate somewhere after at */
				break;
			case 3:
				if (at + span <= len && len + span <= FUZZ_MAX) { /* duplicate a span elsewhere */
					char tmp[16];
					size_t to = rng() % (len + 1);
					memcpy(tmp, cur + at, span);
					memmove(cur + to + span, cur + to, len - to);
					memcpy(cur + to, tmp, span);
					len += span;
				}
				break;
			default:
				if (at + span <= len) { /* delete a span */
					memmove(cur + at, cur + at + span, len - at - span);
					len -= span;
				}
			}
		}
		cJSON *out = (cJSON *)1;
		size_t body = 99;
		struct cm_fm_error err;
		char *copy = malloc(len ? len : 1); /* exactly len bytes, for ASan */
		memcpy(copy, cur, len);
		int rc = cm_frontmatter_parse(copy, len, &out, &body, &err);
		free(copy);
		REQUIRE(rc == 0 || rc == -CM_EVALIDATION);
		if (rc == 0) {
			accepted++;
			REQUIRE(body <= len);
			REQUIRE(err.line == 0);
			if (!out) {
				REQUIRE(!opens_front_matter(cur, len));
				REQUIRE(body == 0);
				continue;
			}
			REQUIRE(opens_front_matter(cur, len));
			REQUIRE(cJSON_IsObject(out));
			char *json = cJSON_PrintUnformatted(out);
			REQUIRE(json);
			REQUIRE(cm_utf8_valid(json, strlen(json)));
			free(json);
			cJSON_Delete(out);
		} else {
			refused++;
			REQUIRE(!out);
			REQUIRE(body == 0);
			REQUIRE(err.message[0] && err.line >= 1);
			REQUIRE(cm_utf8_valid(err.message, strlen(err.message)));
		}
	}
	/* Both outcomes were exercised, or the mutations were too weak to test anything. */
	ck_assert_uint_gt(accepted, 10000);
	ck_assert_uint_gt(refused, 10000);
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("frontmatter");
	TCase *tc = tcase_create("yaml");
	tcase_add_test(tc, example_basic);
	tcase_add_test(tc, example_flow_json_trailing_commas);
	tcase_add_test(tc, example_single_line_json);
	tcase_add_test(tc, example_block_style);
	tcase_add_test(tc, example_bom_crlf_block_scalars);
	tcase_add_test(tc, presence_and_delimiters);
	tcase_add_test(tc, scalar_typing);
	tcase_add_test(tc, quoting_and_escapes);
	tcase_add_test(tc, block_scalars);
	tcase_add_test(tc, block_structure);
	tcase_add_test(tc, flow_collections);
	tcase_add_test(tc, emitter_output);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, error_messages_quote_little);
	suite_add_tcase(s, tc);
	TCase *big = tcase_create("limits_and_fuzz");
	tcase_set_timeout(big, 50);
	tcase_add_test(big, limits);
	tcase_add_test(big, fuzz_mutations);
	suite_add_tcase(s, big);
	return s;
}
