/* Integration tests of GET /v1/export, POST /v1/import, `clawmeshd export` and `clawmeshd import`
 * against real clawmeshd processes and real PostgreSQL databases: a store populated through the
 * API goes out and into fresh databases and comes back byte for byte; re-imports, truncated,
 * conflicting and bad files change nothing; an import far over --max-body streams; an export
 * taken while a writer writes is one snapshot; a client leaving midway frees its connection. */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct server srv;
static char admin[47];

enum { T_CEO, T_SEC, T_GONE, T_SOON, NTOK };
static char tok[NTOK][47], tok_id[NTOK][29];

#define NTYPES 7
static const char *const types[NTYPES] = {"token", "node", "memory_version", "memory", "skill_version", "skill", "change"};
static const char *const tables[NTYPES] = {"tokens", "nodes", "memory_history", "memory", "skill_versions", "skills", "changes"};

/* The first version of the triage skill: a BOM, CRLF line ends, non-ASCII. */
static const char triage_v1[] = "\xef\xbb\xbf---\r\nname: export-triage\r\ndescription: Sort the inbox\r\n---\r\n"
				"# Triage\r\n\r\nUrgent first; hand \xc3\xbc" "ber to Sec.\r\n";

static long call(const char *method, const char *path, const char *token, const char *body, const char *type)
{
	return status_at(&srv, REQ(.method = method, .path = path, .token = token, .body = body, .content_type = type));
}

/* Memory with several versions, a patch, a tombstone, a TTL, tags, big numbers, unicode and
 * escapes, a bridge write (msg_ts); skills with three versions and a deleted one; nodes, one
 * deleted; tokens, one revoked and one expiring. */
static void export_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start(&srv, admin, NULL), 0);
	create_token(&srv, admin, "{\"label\":\"ceo\",\"node\":\"exp-ceo\"}", tok[T_CEO], tok_id[T_CEO]);
	create_token(&srv, admin,
		     "{\"label\":\"sec\",\"node\":\"exp-sec\",\"grants\":[{\"scope\":\"mesh\",\"access\":\"rw\"},"
		     "{\"scope\":\"project:*\",\"access\":\"rw\"}]}",
		     tok[T_SEC], tok_id[T_SEC]);
	create_token(&srv, admin, "{\"label\":\"gone\"}", tok[T_GONE], tok_id[T_GONE]);
	create_token(&srv, admin, "{\"label\":\"soon \xe2\x8f\xb0\",\"expires_in\":\"1h\",\"grants\":[{\"scope\":\"*\",\"access\":\"r\"}]}",
		     tok[T_SOON], tok_id[T_SOON]);
	char path[64];
	snprintf(path, sizeof path, "/v1/tokens/%s", tok_id[T_GONE]);
	ck_assert_int_eq(call("DELETE", path, admin, NULL, NULL), 204);

	const char *ceo = tok[T_CEO], *sec = tok[T_SEC];
	ck_assert_int_eq(call("PUT", "/v1/memory/mesh/export.prefs", ceo,
			      "{\"value\":{\"short_answers\":true,\"lang\":\"en\",\"id\":12345678901234567890,"
			      "\"f\":0.1000000000000000055,\"s\":\"\xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "de \\u2028 \\\"q\\\" \\\\ \\n\\t\\u0001\"},"
			      "\"tags\":[\"prefs\",\"\xc3\xbc\"]}",
			      NULL),
			 201);
	ck_assert_int_eq(call("PATCH", "/v1/memory/mesh/export.prefs", ceo, "{\"lang\":\"de\",\"short_answers\":null}",
			      "application/merge-patch+json"),
			 200);
	ck_assert_int_eq(call("PUT", "/v1/memory/mesh/export.prefs", sec,
			      "{\"value\":{\"lang\":\"fr\",\"big\":[1e400, -0.0, 1.5e-300]},\"tags\":[\"prefs\"]}", NULL),
			 200);
	ck_assert_int_eq(call("PUT", "/v1/memory/node:exp-ceo/session.summary", ceo, "{\"value\":\"short-lived\",\"ttl\":3600}", NULL),
			 201);
	ck_assert_int_eq(call("PUT", "/v1/memory/mesh/export.doomed", ceo, "{\"value\":[1,2,3]}", NULL), 201);
	ck_assert_int_eq(call("DELETE", "/v1/memory/mesh/export.doomed", ceo, NULL, NULL), 204);
	ck_assert_int_eq(call("PUT", "/v1/memory/mesh/export.nothing", ceo, "{\"value\":null}", NULL), 201);
	ck_assert_int_eq(call("PUT", "/v1/memory/project:exp-alpha/context", sec, "{\"value\":\"Ships in March\",\"tags\":[\"a\",\"b\"]}", NULL),
			 201);
	ck_assert_int_eq(call("POST", "/v1/messages", ceo,
			      "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"export.bridge\",\"value\":{\"x\":1},"
			      "\"nodeId\":\"exp-ceo\",\"ts\":\"2026-01-01T10:00:00.123456Z\"}",
			      NULL),
			 200);

	ck_assert_int_eq(call("PUT", "/v1/skills/mesh/export-triage", sec, triage_v1, "text/markdown"), 201);
	ck_assert_int_eq(call("PUT", "/v1/skills/mesh/export-triage", ceo,
			      "{\"content\":\"# Triage\\n\\nv2 \\u00e9\\n\",\"description\":\"Second\",\"tags\":[\"mail\"],"
			      "\"metadata\":{\"openclaw\":{\"emoji\":\"\xf0\x9f\x93\xac\",\"n\":42}}}",
			      NULL),
			 201);
	ck_assert_int_eq(call("PUT", "/v1/skills/mesh/export-triage", sec, "# Triage\n\nv3\n", "text/markdown"), 201);
	ck_assert_int_eq(call("PUT", "/v1/skills/project:exp-alpha/notes", sec, "notes", "text/markdown"), 201);
	ck_assert_int_eq(call("DELETE", "/v1/skills/project:exp-alpha/notes", sec, NULL, NULL), 204);

	ck_assert_int_eq(call("PUT", "/v1/nodes/exp-ceo", ceo,
			      "{\"name\":\"CEO (Mac Mini)\",\"capabilities\":[\"triage\",\"reminders\"],\"endpoint\":\"https://ceo.local\","
			      "\"meta\":{\"os\":\"macOS\",\"cores\":10}}",
			      NULL),
			 201);
	ck_assert_int_eq(call("PUT", "/v1/nodes/exp-sec", sec, "{\"name\":\"Sec (NAS)\",\"description\":\"Synology\"}", NULL), 201);
	ck_assert_int_eq(call("PUT", "/v1/nodes/exp-nas", admin, "{\"capabilities\":[\"storage\"]}", NULL), 201);
	ck_assert_int_eq(call("PUT", "/v1/nodes/exp-old", admin, "{}", NULL), 201);
	ck_assert_int_eq(call("DELETE", "/v1/nodes/exp-old", admin, NULL, NULL), 204);
}

static void export_down(void)
{
	ck_assert_int_eq(server_stop(&srv), 0);
}

/* --- helpers -------------------------------------------------------------------------------- */

/* The test cluster's conninfo for another database of it (libpq: the last dbname wins). */
static const char *db_url(const char *name)
{
	static char url[1024];
	snprintf(url, sizeof url, "%s dbname=%s", env_or_die("CM_TEST_DB_URL"), name);
	return url;
}

static void fresh_db(const char *name)
{
	char sql[128];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
	PQclear(PQexec(pg, sql));
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGresult *r = PQexec(pg, sql);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
	PQclear(r);
}

static char *write_temp(const char *name, const char *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", env_or_die("CM_TEST_TMP"), name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* GET /v1/export as token on s; asserts 200 and the NDJSON content type. Caller frees. */
static char *export_http(const struct server *s, const char *token, size_t *len)
{
	struct http_resp rs;
	char b[128];
	ck_assert_int_eq(http(s, REQ(.path = "/v1/export", .token = token), &rs), 0);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	ck_assert_str_eq(resp_header(&rs, "Content-Type", b, sizeof b), "application/x-ndjson");
	char *body = rs.body;
	*len = rs.len;
	rs.body = NULL;
	resp_free(&rs);
	return body;
}

/* POST /v1/import; the response (caller frees). */
static void import_http(const struct server *s, const char *token, const char *file, size_t len, bool chunked,
			struct http_resp *rs)
{
	ck_assert_int_eq(http(s, REQ(.method = "POST", .path = "/v1/import", .token = token, .body = file, .body_len = len,
				     .content_type = "application/x-ndjson", .chunked = chunked),
			      rs),
			 0);
}

struct lines {
	char **line; /* without their '\n' */
	int n;
};

static struct lines split(const char *buf, size_t len)
{
	struct lines l = {NULL, 0};
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		ck_assert_msg(nl, "line %d has no newline", l.n + 1);
		l.line = realloc(l.line, (size_t)(l.n + 1) * sizeof *l.line);
		l.line[l.n++] = strndup(buf + i, (size_t)(nl - buf - (long)i));
		i = (size_t)(nl - buf) + 1;
	}
	return l;
}

static void lines_free(struct lines *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
}

/* Lines 0..n-1 (the header first) as a file, with the trailer that counts them. Caller frees. */
static char *join(char *const *line, int n, size_t *len)
{
	size_t cap = 64;
	for (int i = 0; i < n; i++)
		cap += strlen(line[i]) + 1;
	char *f = malloc(cap);
	size_t o = 0;
	for (int i = 0; i < n; i++)
		o += (size_t)sprintf(f + o, "%s\n", line[i]);
	o += (size_t)sprintf(f + o, "{\"type\":\"end\",\"lines\":%d}\n", n);
	*len = o;
	return f;
}

static const char *type_of(const char *line, char *buf, size_t cap)
{
	cJSON *o = cJSON_Parse(line);
	const cJSON *t = cJSON_GetObjectItem(o, "type");
	snprintf(buf, cap, "%s", cJSON_IsString(t) ? t->valuestring : "");
	cJSON_Delete(o);
	return buf;
}

static int type_index(const char *type)
{
	for (int t = 0; t < NTYPES; t++)
		if (!strcmp(types[t], type))
			return t;
	return -1;
}

/* Lines of each type in an export. */
static void count_types(const struct lines *l, long *count)
{
	char b[32];
	memset(count, 0, NTYPES * sizeof *count);
	for (int i = 1; i < l->n - 1; i++) {
		int t = type_index(type_of(l->line[i], b, sizeof b));
		ck_assert_msg(t >= 0, "line %d: unknown type", i + 1);
		count[t]++;
	}
}

/* Everything an import could change: every exported table's rows whole (their generated
 * search vectors included; tokens without last_used_at, which requests move) and the
 * revision sequence. */
static char *store_state(PGconn *c)
{
	return db_value(c,
			"SELECT concat_ws('/',"
			" (SELECT md5(coalesce(string_agg((to_jsonb(x) - 'last_used_at')::text, '|' ORDER BY id), '')) FROM tokens x),"
			" (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY id), '')) FROM nodes x),"
			" (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY scope, key, version), '')) FROM memory_history x),"
			" (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY scope, key), '')) FROM memory x),"
			" (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY scope, name, version), '')) FROM skill_versions x),"
			" (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY scope, name), '')) FROM skills x),"
			" (SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY revision), '')) FROM changes x),"
			" (SELECT last_value || ':' || is_called FROM cm_revision))",
			0, NULL);
}

static void expect_summary(const char *json, const long *imported, const long *skipped, long lines, long long revision)
{
	cJSON *o = cJSON_Parse(json);
	ck_assert_msg(o, "not a summary: %s", json);
	for (int t = 0; t < NTYPES; t++) {
		ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "imported"), types[t])->valueint, imported[t]);
		ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "skipped"), types[t])->valueint, skipped[t]);
	}
	ck_assert_int_eq(cJSON_GetObjectItem(o, "lines")->valueint, lines);
	ck_assert_int_eq((long long)cJSON_GetObjectItem(o, "revision")->valuedouble, revision);
	cJSON_Delete(o);
}

static const long zero[NTYPES];

static long long header_revision(const struct lines *l)
{
	cJSON *h = cJSON_Parse(l->line[0]);
	long long r = (long long)cJSON_GetObjectItem(h, "revision")->valuedouble;
	cJSON_Delete(h);
	return r;
}

static bool notified(PGconn *c, int ms)
{
	for (int waited = 0; waited <= ms; waited += 20) {
		PQconsumeInput(c);
		PGnotify *n = PQnotifies(c);
		if (n) {
			bool ours = !strcmp(n->relname, "clawmesh_changes");
			PQfreemem(n);
			return ours;
		}
		sleep_ms(20);
	}
	return false;
}

/* --- tests ---------------------------------------------------------------------------------- */

START_TEST(round_trip_is_byte_identical)
{
	size_t len;
	char *a = export_http(&srv, admin, &len);
	struct lines l = split(a, len);
	ck_assert_int_ge(l.n, 30);
	/* The header names the store's revision; the trailer counts the lines before it. */
	char *rev = db_value(pg, "SELECT last_value FROM cm_revision", 0, NULL);
	char want[128];
	snprintf(want, sizeof want, "{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":%s}", rev);
	ck_assert_str_eq(l.line[0], want);
	snprintf(want, sizeof want, "{\"type\":\"end\",\"lines\":%d}", l.n - 1);
	ck_assert_str_eq(l.line[l.n - 1], want);
	free(rev);

	/* Every table in full: a line per row, and every column that is not generated, in order
	 * (a column added by a later migration and forgotten here fails this). */
	long count[NTYPES];
	count_types(&l, count);
	char b[32], sql[160];
	for (int t = 0; t < NTYPES; t++) {
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[t]);
		ck_assert_msg(count[t] == db_count(pg, sql) && count[t] > 0, "%s: %ld lines", types[t], count[t]);
		const char *p[] = {tables[t]};
		char *cols = db_value(pg,
				      "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns"
				      " WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER'",
				      1, p);
		for (int i = 1; i < l.n - 1; i++) {
			if (strcmp(type_of(l.line[i], b, sizeof b), types[t]))
				continue;
			cJSON *o = cJSON_Parse(l.line[i]);
			char members[1024] = "";
			ck_assert_str_eq(o->child->string, "type");
			for (const cJSON *c = o->child->next; c; c = c->next)
				snprintf(members + strlen(members), sizeof members - strlen(members), "%s%s", members[0] ? "," : "",
					 c->string);
			ck_assert_str_eq(members, cols);
			cJSON_Delete(o);
			break;
		}
		free(cols);
	}
	/* Full precision: times to the microsecond, numbers with every digit, the stored hash. */
	ck_assert_ptr_nonnull(strstr(a, "12345678901234567890"));
	ck_assert_ptr_nonnull(strstr(a, "0.1000000000000000055"));
	ck_assert_ptr_nonnull(strstr(a, "\"msg_ts\" : \"2026-01-01T10:00:00.123456Z\""));
	ck_assert_ptr_null(strstr(a, admin));
	ck_assert_ptr_null(strstr(a, tok[T_CEO]));

	/* Into an empty database through the CLI, which migrates it first. */
	fresh_db("export_copy");
	char *file = write_temp("export-a.ndjson", a, len);
	char *out = NULL;
	const char *imp[] = {"import", file, "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd(imp, &out), 0);
	expect_summary(out, count, zero, l.n - 1, header_revision(&l));
	free(out);

	/* Out again, to stdout and to a file: the same bytes. */
	const char *exp[] = {"export", "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd(exp, &out), 0);
	ck_assert_uint_eq(strlen(out), len);
	ck_assert(memcmp(out, a, len) == 0);
	free(out);
	char path[512];
	snprintf(path, sizeof path, "%s/export-b.ndjson", env_or_die("CM_TEST_TMP"));
	const char *exp_file[] = {"export", "--output", path, "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd(exp_file, NULL), 0);
	size_t blen;
	char *bfile = read_all(path, &blen);
	ck_assert_uint_eq(blen, len);
	ck_assert(memcmp(bfile, a, len) == 0);
	free(bfile);

	/* Row for row the same tables, the search vectors PostgreSQL recomputed included; the feed
	 * reaches back no further than the source's. */
	PGconn *copy = db_connect("export_copy");
	char *s1 = store_state(pg), *s2 = store_state(copy);
	ck_assert_str_eq(s1, s2);
	free(s1);
	free(s2);
	ck_assert_int_ge(db_count(copy, "SELECT horizon FROM cm_feed"), db_count(pg, "SELECT horizon FROM cm_feed"));

	/* The copy serves what the source serves, and numbers its next write after the file's. */
	struct server other;
	const char *args[] = {"--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(server_start(&other, NULL, args), 0);
	const char *paths[] = {"/v1/memory/mesh/export.prefs", "/v1/memory/mesh/export.prefs/history",
			       "/v1/skills/mesh/export-triage/versions", "/v1/nodes/exp-ceo", "/v1/tokens", "/v1/memory/mesh/export.bridge"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct http_resp r1, r2;
		ck_assert_int_eq(http(&srv, REQ(.path = paths[i], .token = admin), &r1), 0);
		ck_assert_int_eq(http(&other, REQ(.path = paths[i], .token = admin), &r2), 0);
		ck_assert_int_eq(r1.status, 200);
		ck_assert_int_eq(r2.status, 200);
		/* last_seen and last_used_at are not data: the node view and token list carry them. */
		if (strcmp(paths[i], "/v1/nodes/exp-ceo") && strcmp(paths[i], "/v1/tokens"))
			ck_assert_str_eq(r1.body, r2.body);
		resp_free(&r1);
		resp_free(&r2);
	}
	struct http_resp rs;
	ck_assert_int_eq(http(&other, REQ(.path = "/v1/skills/mesh/export-triage?version=1", .token = tok[T_SEC],
					  .headers = {"Accept: text/markdown"}),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_uint_eq(rs.len, strlen(triage_v1));
	ck_assert(memcmp(rs.body, triage_v1, rs.len) == 0);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&other, REQ(.path = "/v1/whoami", .token = tok[T_GONE])), 401);
	ck_assert_int_eq(http(&other, REQ(.method = "PUT", .path = "/v1/memory/mesh/after.import", .token = tok[T_CEO],
					  .body = "{\"value\":1}"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 201);
	ck_assert_int_eq((long long)resp_field(&rs, "revision")->valuedouble, header_revision(&l) + 1);
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&other), 0);
	PQfinish(copy);
	lines_free(&l);
	free(a);
}
END_TEST

/* The same file through POST /v1/import into a second server on an empty database, which
 * notifies the change feed; the same again imports nothing and notifies nothing. */
START_TEST(http_import_into_an_empty_store)
{
	size_t len;
	char *a = export_http(&srv, admin, &len);
	struct lines l = split(a, len);
	long count[NTYPES];
	count_types(&l, count);

	fresh_db("export_http");
	struct server other;
	char other_admin[47];
	make_secret(other_admin);
	const char *args[] = {"--database-url", db_url("export_http"), NULL};
	ck_assert_int_eq(server_start(&other, other_admin, args), 0);
	PGconn *target = db_connect("export_http");
	PQclear(PQexec(target, "LISTEN clawmesh_changes"));
	char *bootstrap_id = db_value(target, "SELECT id FROM tokens", 0, NULL);

	struct http_resp rs;
	import_http(&other, other_admin, a, len, false, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, count, zero, l.n - 1, header_revision(&l));
	resp_free(&rs);
	ck_assert(notified(target, 2000));

	/* Its export is the file, plus the token the second server was started with. */
	size_t blen;
	char *b = export_http(&other, other_admin, &blen);
	struct lines m = split(b, blen);
	ck_assert_int_eq(m.n, l.n + 1);
	int j = 0;
	for (int i = 0; i < m.n - 1; i++) {
		if (strstr(m.line[i], bootstrap_id))
			continue;
		ck_assert_str_eq(m.line[i], l.line[j++]);
	}
	ck_assert_int_eq(j, l.n - 1);

	/* Again: nothing imported, everything skipped, nothing changed, no notification. */
	char *before = store_state(target);
	import_http(&other, other_admin, a, len, true, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, zero, count, l.n - 1, header_revision(&l));
	resp_free(&rs);
	ck_assert(!notified(target, 300));
	char *after = store_state(target);
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(db_count(target, "SELECT count(*) FROM audit WHERE action = 'import' AND status = 200"), 2);

	free(before);
	free(after);
	free(bootstrap_id);
	lines_free(&m);
	free(b);
	PQfinish(target);
	ck_assert_int_eq(server_stop(&other), 0);
	lines_free(&l);
	free(a);
}
END_TEST

START_TEST(reimport_changes_nothing)
{
	size_t len;
	char *a = export_http(&srv, admin, &len);
	struct lines l = split(a, len);
	long count[NTYPES];
	count_types(&l, count);
	char *before = store_state(pg);

	/* Onto its own store, over HTTP: every row is there as it is. */
	struct http_resp rs;
	import_http(&srv, admin, a, len, false, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, zero, count, l.n - 1, header_revision(&l));
	resp_free(&rs);
	char *after = store_state(pg);
	ck_assert_str_eq(before, after);
	char target[64];
	snprintf(target, sizeof target, "%d lines: 0 imported, %d skipped", l.n - 1, l.n - 2);
	const char *p[] = {target};
	char *v = db_value(pg, "SELECT count(*) FROM audit WHERE action = 'import' AND status = 200 AND target = $1", 1, p);
	ck_assert_str_eq(v, "1");
	free(v);

	/* Even after its tokens were used and its nodes heard from: those times are not data. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/nodes/exp-ceo/heartbeat", .token = tok[T_CEO])), 204);
	const char *used[] = {tok_id[T_CEO]};
	PQclear(PQexecParams(pg, "UPDATE tokens SET last_used_at = now() WHERE id = $1", 1, NULL, used, NULL, NULL, 0));
	import_http(&srv, admin, a, len, false, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, zero, count, l.n - 1, header_revision(&l));
	resp_free(&rs);

	/* A file that imports nothing leaves the revision sequence alone, also when its header names
	 * a revision above the store's: setval is not transactional, and moved it although the
	 * import rolled back (found by fuzz_import). */
	char *state = store_state(pg);
	long long current = db_count(pg, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cm_revision");
	const char *nl = memchr(a, '\n', len);
	size_t rest = len - (size_t)(nl - a);
	char *raised = malloc(rest + 96);
	int hl = snprintf(raised, 96, "{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":%lld}", current + 1000);
	memcpy(raised + hl, nl, rest);
	import_http(&srv, admin, raised, (size_t)hl + rest, false, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, zero, count, l.n - 1, current);
	resp_free(&rs);
	char *state_after = store_state(pg);
	ck_assert_str_eq(state, state_after);
	free(state);
	free(state_after);
	free(raised);

	/* From stdin through the CLI into the copy, which wrote once after its import: nothing
	 * imported, the revision its own. */
	char *file = write_temp("export-a.ndjson", a, len);
	char *out = NULL;
	PGconn *copy = db_connect("export_copy");
	char *copy_before = store_state(copy);
	const char *imp[] = {"import", "-", "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd_in(imp, file, &out), 0);
	expect_summary(out, zero, count, l.n - 1, header_revision(&l) + 1);
	free(out);
	const char *imp_stdin[] = {"import", "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd_in(imp_stdin, file, &out), 0);
	expect_summary(out, zero, count, l.n - 1, header_revision(&l) + 1);
	free(out);
	char *copy_after = store_state(copy);
	ck_assert_str_eq(copy_before, copy_after);
	free(copy_before);
	free(copy_after);
	PQfinish(copy);

	free(before);
	free(after);
	lines_free(&l);
	free(a);
}
END_TEST

/* An import refused for the file's sake: the status, its code, and details.line when wanted. */
static void refused(const char *file, size_t len, long status, const char *code, long line, const char *needle)
{
	struct http_resp rs;
	import_http(&srv, admin, file, len, false, &rs);
	expect_error(&rs, status, code);
	if (line > 0) {
		ck_assert_msg(resp_detail(&rs, "line"), "no details.line: %s", rs.body);
		ck_assert_int_eq(resp_detail(&rs, "line")->valueint, line);
	}
	if (needle)
		ck_assert_msg(strstr(cJSON_GetObjectItem(resp_field(&rs, "error"), "message")->valuestring, needle), "%s", rs.body);
	resp_free(&rs);
}

START_TEST(truncated_and_conflicting_files_change_nothing)
{
	size_t len;
	char *a = export_http(&srv, admin, &len);
	struct lines l = split(a, len);
	char *before = store_state(pg);
	char *copy_before = NULL;
	const char *exp[] = {"export", "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd(exp, &copy_before), 0);

	/* Without its trailer, cut inside a line, or with a line gone: truncated. */
	size_t without = len - strlen(l.line[l.n - 1]) - 1;
	refused(a, without, 400, "bad_request", 0, "truncated");
	refused(a, len / 2, 400, "bad_request", 0, "truncated");
	char *cut = malloc(len);
	size_t at = strlen(l.line[0]) + 1 + strlen(l.line[1]) + 1; /* drop line 3 */
	memcpy(cut, a, at);
	size_t skip = strlen(l.line[2]) + 1;
	memcpy(cut + at, a + at + skip, len - at - skip);
	refused(cut, len - skip, 400, "bad_request", l.n - 1, "truncated");
	free(cut);
	const char *cli_cut[] = {"import", write_temp("export-cut.ndjson", a, without), "--database-url", db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd(cli_cut, NULL), 2);

	/* A new entry, then a line that differs from the row the store has: 409 at that line,
	 * and the new entry is not there either. */
	char **mod = calloc((size_t)l.n + 3, sizeof *mod);
	int n = 0, conflict_line = 0;
	mod[n++] = l.line[0];
	mod[n++] = "{\"type\":\"memory_version\",\"scope\":\"mesh\",\"key\":\"export.new\",\"version\":1,\"op\":\"put\",\"value\":7,"
		   "\"size\":1,\"tags\":[],\"expires_at\":null,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\",\"revision\":999999}";
	mod[n++] = "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"export.new\",\"value\":7,\"size\":1,\"tags\":[],\"version\":1,"
		   "\"revision\":999999,\"node\":null,\"created_at\":\"2026-01-01T00:00:00.000000Z\",\"updated_at\":"
		   "\"2026-01-01T00:00:00.000000Z\",\"expires_at\":null,\"deleted\":false,\"msg_ts\":null,\"msg_rev\":null}";
	char *altered = NULL;
	for (int i = 1; i < l.n - 1; i++) {
		if (!altered && strstr(l.line[i], "\"key\" : \"export.prefs\", \"version\" : 2,") && strstr(l.line[i], "\"lang\": \"de\"")) {
			altered = strdup(l.line[i]);
			memcpy(strstr(altered, "\"lang\": \"de\"") + 9, "nl", 2);
			mod[n++] = altered;
			conflict_line = n;
			continue;
		}
		mod[n++] = l.line[i];
	}
	ck_assert_ptr_nonnull(altered);
	size_t mlen;
	char *m = join(mod, n, &mlen);
	struct http_resp rs;
	import_http(&srv, admin, m, mlen, false, &rs);
	expect_error(&rs, 409, "conflict");
	ck_assert_int_eq(resp_detail(&rs, "line")->valueint, conflict_line);
	ck_assert_str_eq(resp_detail(&rs, "type")->valuestring, "memory_version");
	ck_assert_str_eq(resp_detail(&rs, "scope")->valuestring, "mesh");
	ck_assert_str_eq(resp_detail(&rs, "key")->valuestring, "export.prefs");
	ck_assert_int_eq(resp_detail(&rs, "version")->valueint, 2);
	resp_free(&rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE key = 'export.new'"), 0);
	/* The CLI refuses it alike. */
	const char *cli_conflict[] = {"import", write_temp("export-conflict.ndjson", m, mlen), "--database-url",
				      db_url("export_copy"), NULL};
	ck_assert_int_eq(run_clawmeshd(cli_conflict, NULL), 2);
	free(m);

	/* Versions without their head (a file cut at a line boundary and given a new trailer):
	 * refused as incomplete, even where nothing conflicts. */
	char *partial[] = {l.line[0], mod[1]};
	m = join(partial, 2, &mlen);
	refused(m, mlen, 400, "bad_request", 0, "incomplete");
	free(m);
	free(mod);
	free(altered);

	char *after = store_state(pg);
	ck_assert_str_eq(before, after);
	/* The copy, which the CLI was refused into, too. */
	char *copy_after = NULL;
	ck_assert_int_eq(run_clawmeshd(exp, &copy_after), 0);
	ck_assert_str_eq(copy_before, copy_after);
	free(copy_before);
	free(copy_after);
	free(before);
	free(after);
	lines_free(&l);
	free(a);
}
END_TEST

static char *one_line_file(const char *line, size_t *len)
{
	char *lines[] = {"{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":1}", (char *)line};
	return join(lines, line ? 2 : 1, len);
}

START_TEST(refusals)
{
	char *before = store_state(pg);
	size_t len;
	char *ok = one_line_file(NULL, &len);
	/* Admin only, both ways; the refusal comes before the body is read. */
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/export", .token = tok[T_CEO])), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/export")), 401);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/export", .token = tok[T_SOON])), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .token = tok[T_CEO], .body = ok,
					     .content_type = "application/x-ndjson")),
			 403);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .body = ok, .content_type = "application/x-ndjson")),
			 401);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .token = tok[T_GONE], .body = ok,
					     .content_type = "application/x-ndjson")),
			 401);
	/* Its content types. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .token = admin, .body = ok)), 415);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .token = admin, .body = ok,
					     .content_type = "text/plain")),
			 415);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .token = admin, .body = ok,
					     .content_type = "application/jsonl")),
			 200);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/import", .token = admin, .body = ok,
					     .content_type = "application/x-ndjson; charset=utf-8")),
			 200);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "GET", .path = "/v1/import", .token = admin)), 405);
	free(ok);

	/* Bad lines: 400 with the line, nothing imported. */
	static const struct {
		const char *line;
		const char *code;
		const char *field;
	} bad[] = {
		{"not json", "invalid_json", NULL},
		{"[1,2]", "bad_request", NULL},
		{"{\"type\":\"gadget\"}", "bad_request", "type"},
		{"{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":1}", "bad_request", "type"},
		{"{\"type\":\"change\",\"revision\":5,\"kind\":\"memory\",\"op\":\"put\",\"scope\":\"Mesh\",\"name\":\"k\","
		 "\"version\":1,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\"}",
		 "bad_request", "scope"},
		{"{\"type\":\"change\",\"revision\":5,\"kind\":\"memory\",\"op\":\"put\",\"scope\":\"mesh\",\"name\":\".k\","
		 "\"version\":1,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\"}",
		 "bad_request", "name"},
		{"{\"type\":\"change\",\"revision\":5,\"kind\":\"memory\",\"op\":\"put\",\"scope\":\"mesh\",\"name\":\"k\","
		 "\"version\":1,\"node\":null,\"at\":\"2026-01-01T00:00:00Z\"}",
		 "bad_request", "at"},
		{"{\"type\":\"change\",\"revision\":5,\"kind\":\"memory\",\"op\":\"put\",\"scope\":\"mesh\",\"name\":\"k\","
		 "\"version\":1,\"node\":null}",
		 "bad_request", "at"},
		{"{\"type\":\"change\",\"revision\":-5,\"kind\":\"memory\",\"op\":\"put\",\"scope\":\"mesh\",\"name\":\"k\","
		 "\"version\":1,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\"}",
		 "bad_request", "revision"},
		{"{\"type\":\"change\",\"revision\":5,\"kind\":\"memory\",\"op\":\"put\",\"scope\":\"mesh\",\"name\":\"k\","
		 "\"version\":1,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\",\"extra\":true}",
		 "bad_request", NULL},
		{"{\"type\":\"change\",\"revision\":5,\"kind\":\"gossip\",\"op\":\"put\",\"scope\":\"mesh\",\"name\":\"k\","
		 "\"version\":1,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\"}",
		 "bad_request", "name"},
		/* sha256 that is not the content's */
		{"{\"type\":\"skill_version\",\"scope\":\"mesh\",\"name\":\"fake\",\"version\":1,\"content\":\"x\",\"sha256\":"
		 "\"0000000000000000000000000000000000000000000000000000000000000000\",\"size\":1,\"description\":null,"
		 "\"tags\":[],\"metadata\":{},\"node\":null,\"created_at\":\"2026-01-01T00:00:00.000000Z\","
		 "\"at\":\"2026-01-01T00:00:00.000000Z\",\"revision\":999998}",
		 "bad_request", "sha256"},
		/* a delete with a value: stored without it, the same file would conflict with itself on
		 * a re-import (found by fuzz_import) */
		{"{\"type\":\"memory_version\",\"scope\":\"mesh\",\"key\":\"gone\",\"version\":1,\"op\":\"delete\",\"value\":5,"
		 "\"size\":0,\"tags\":[],\"expires_at\":null,\"node\":null,\"at\":\"2026-01-01T00:00:00.000000Z\",\"revision\":999997}",
		 "bad_request", "value"},
		{"{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"gone\",\"value\":{\"a\":1},\"size\":0,\"tags\":[],\"version\":1,"
		 "\"revision\":999997,\"node\":null,\"created_at\":\"2026-01-01T00:00:00.000000Z\","
		 "\"updated_at\":\"2026-01-01T00:00:00.000000Z\",\"expires_at\":null,\"deleted\":true,\"msg_ts\":null,\"msg_rev\":null}",
		 "bad_request", "value"},
		/* grants the server cannot read back: every use of the token, and GET /v1/tokens, would
		 * answer 500 (found with fuzz_import) */
		{"{\"type\":\"token\",\"id\":\"tok_00000000000000000000beef\",\"secret_hash\":"
		 "\"1111111111111111111111111111111111111111111111111111111111111111\",\"label\":\"x\",\"node\":null,"
		 "\"admin\":false,\"grants\":[5],\"created_at\":\"2026-01-01T00:00:00.000000Z\",\"expires_at\":null,"
		 "\"last_used_at\":null,\"revoked_at\":null}",
		 "bad_request", "grants"},
		{"{\"type\":\"token\",\"id\":\"tok_00000000000000000000beef\",\"secret_hash\":"
		 "\"1111111111111111111111111111111111111111111111111111111111111111\",\"label\":\"x\",\"node\":null,"
		 "\"admin\":false,\"grants\":[{\"scope\":\"mesh\",\"access\":\"rwx\"}],\"created_at\":\"2026-01-01T00:00:00.000000Z\","
		 "\"expires_at\":null,\"last_used_at\":null,\"revoked_at\":null}",
		 "bad_request", "grants"},
		/* a token id the database refuses (its CHECK) */
		{"{\"type\":\"token\",\"id\":\"tok_nothex\",\"secret_hash\":\"0000000000000000000000000000000000000000000000000000000000000000\","
		 "\"label\":\"x\",\"node\":null,\"admin\":true,\"grants\":[],\"created_at\":\"2026-01-01T00:00:00.000000Z\","
		 "\"expires_at\":null,\"last_used_at\":null,\"revoked_at\":null}",
		 "bad_request", NULL},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *f = one_line_file(bad[i].line, &len);
		struct http_resp rs;
		import_http(&srv, admin, f, len, false, &rs);
		expect_error(&rs, 400, bad[i].code);
		ck_assert_msg(resp_detail(&rs, "line") && resp_detail(&rs, "line")->valueint == 2, "%zu: %s", i, rs.body);
		if (bad[i].field)
			ck_assert_msg(resp_detail(&rs, "field") && !strcmp(resp_detail(&rs, "field")->valuestring, bad[i].field), "%zu: %s", i,
				      rs.body);
		resp_free(&rs);
		free(f);
	}
	/* A skill version whose skill line never comes: the line of the version. */
	const char *fake = "{\"type\":\"skill_version\",\"scope\":\"mesh\",\"name\":\"orphan\",\"version\":1,\"content\":\"x\",\"sha256\":"
			   "\"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\",\"size\":1,\"description\":null,"
			   "\"tags\":[],\"metadata\":{},\"node\":null,\"created_at\":\"2026-01-01T00:00:00.000000Z\","
			   "\"at\":\"2026-01-01T00:00:00.000000Z\",\"revision\":999998}";
	char *f = one_line_file(fake, &len);
	refused(f, len, 400, "bad_request", 2, "no skill line");
	free(f);
	/* An over-long line (6 x --max-value + 64 KiB), refused. */
	size_t big = 6 * 256 * 1024 + 64 * 1024 + 10;
	char *huge = malloc(big + 32);
	int k = sprintf(huge, "{\"type\":\"memory\",\"x\":\"");
	memset(huge + k, 'a', big);
	strcpy(huge + k + big, "\"}");
	f = one_line_file(huge, &len);
	refused(f, len, 400, "bad_request", 2, "longer than");
	free(f);
	free(huge);
	/* Not a header first; another format; data after the trailer; an empty body. */
	refused("{\"type\":\"end\",\"lines\":0}\n", 0, 400, "bad_request", 1, "not a clawmesh export");
	refused("{\"type\":\"clawmesh-export\",\"format\":2,\"revision\":1}\n{\"type\":\"end\",\"lines\":1}\n", 0, 400, "bad_request",
		1, "format");
	/* A whole revision written with a fraction: bigint refuses "5.0", a 400 and not a 500
	 * (found by fuzz_import). */
	refused("{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":5.0}\n{\"type\":\"end\",\"lines\":1}\n", 0, 400,
		"bad_request", 1, "revision");
	refused("{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":1}\n{\"type\":\"end\",\"lines\":1}\n{}\n", 0, 400,
		"bad_request", 3, "trailer");
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/import", .token = admin, .body = "", .body_len = 0,
					.content_type = "application/x-ndjson"),
			      &rs),
			 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);

	/* The CLI: bad usage and unreadable files exit 2, an unreachable database 1. */
	const char *u1[] = {"import", "a", "b", NULL};
	const char *u2[] = {"export", "--node", "x", NULL};
	const char *u3[] = {"import", "/nonexistent/file", NULL};
	const char *u4[] = {"import", "--output", "x", NULL};
	const char *u5[] = {"export", "--database-url", "host=/nonexistent", NULL};
	ck_assert_int_eq(run_clawmeshd(u1, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(u2, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(u3, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(u4, NULL), 2);
	ck_assert_int_eq(run_clawmeshd(u5, NULL), 1);

	char *after = store_state(pg);
	ck_assert_str_eq(before, after);
	ck_assert_int_ge(db_count(pg, "SELECT count(*) FROM audit WHERE action = 'import' AND status = 400"), 15);
	free(before);
	free(after);
}
END_TEST

/* --- a larger store, on a server with a small --max-body ------------------------------------- */

#define BULK 1200

/* An export of BULK memory entries, each a version, a head and a change: about 1.5 MB. Written
 * now, so the feed's retention (30 days) keeps its change rows. */
static char *bulk_file(size_t *len)
{
	char ts[32];
	time_t now = time(NULL);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&now));
	char pad[301];
	memset(pad, 'x', 300);
	pad[300] = '\0';
	size_t cap = (size_t)BULK * 3 * 900 + 256, o = 0;
	char *f = malloc(cap);
	o += (size_t)sprintf(f + o, "{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":%d}\n", BULK);
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < BULK; i++) {
			char value[400];
			int vs = snprintf(value, sizeof value, "{\"i\": %d, \"pad\": \"%s\"}", i, pad);
			if (pass == 0)
				o += (size_t)sprintf(f + o,
						     "{\"type\":\"memory_version\",\"scope\":\"mesh\",\"key\":\"bulk.%04d\",\"version\":1,"
						     "\"op\":\"put\",\"value\":%s,\"size\":%d,\"tags\":[\"bulk\"],\"expires_at\":null,"
						     "\"node\":null,\"at\":\"%s\",\"revision\":%d}\n",
						     i, value, vs, ts, i + 1);
			else if (pass == 1)
				o += (size_t)sprintf(f + o,
						     "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"bulk.%04d\",\"value\":%s,\"size\":%d,"
						     "\"tags\":[\"bulk\"],\"version\":1,\"revision\":%d,\"node\":null,\"created_at\":\"%s\","
						     "\"updated_at\":\"%s\",\"expires_at\":null,\"deleted\":false,\"msg_ts\":null,"
						     "\"msg_rev\":null}\n",
						     i, value, vs, i + 1, ts, ts);
			else
				o += (size_t)sprintf(f + o,
						     "{\"type\":\"change\",\"revision\":%d,\"kind\":\"memory\",\"op\":\"put\","
						     "\"scope\":\"mesh\",\"name\":\"bulk.%04d\",\"version\":1,\"node\":null,\"at\":\"%s\"}\n",
						     i + 1, i, ts);
		}
	o += (size_t)sprintf(f + o, "{\"type\":\"end\",\"lines\":%d}\n", 3 * BULK + 1);
	ck_assert_uint_lt(o, cap);
	*len = o;
	return f;
}

/* A server on the export_big database with a 64 KiB --max-body; the admin secret import_over_
 * max_body_is_streamed made it with (each test runs in a process of its own) into *secret. */
static void big_start(struct server *big, char **secret)
{
	char path[512];
	size_t n;
	snprintf(path, sizeof path, "%s/big-admin", env_or_die("CM_TEST_TMP"));
	*secret = read_all(path, &n);
	const char *args[] = {"--database-url", db_url("export_big"), "--max-body", "64KiB", NULL};
	ck_assert_int_eq(server_start(big, *secret, args), 0);
}

START_TEST(import_over_max_body_is_streamed)
{
	fresh_db("export_big");
	char big_admin[47];
	make_secret(big_admin);
	write_temp("big-admin", big_admin, strlen(big_admin));
	struct server big;
	char *secret;
	big_start(&big, &secret);
	ck_assert_str_eq(secret, big_admin);
	free(secret);

	/* The limit holds for every other route. */
	char *value = malloc(100 * 1024);
	memset(value, 'v', 100 * 1024 - 1);
	value[100 * 1024 - 1] = '\0';
	char *body = malloc(100 * 1024 + 32);
	sprintf(body, "{\"value\":\"%s\"}", value);
	ck_assert_int_eq(status_at(&big, REQ(.method = "PUT", .path = "/v1/memory/mesh/too.big", .token = big_admin, .body = body)),
			 413);
	free(body);
	free(value);

	size_t len;
	char *f = bulk_file(&len);
	ck_assert_uint_gt(len, 1024 * 1024);
	const long bulk[NTYPES] = {0, 0, BULK, BULK, 0, 0, BULK};
	struct http_resp rs;
	import_http(&big, big_admin, f, len, false, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, bulk, zero, 3 * BULK + 1, BULK);
	resp_free(&rs);
	/* Chunked, the same again: skipped. */
	import_http(&big, big_admin, f, len, true, &rs);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	expect_summary(rs.body, zero, bulk, 3 * BULK + 1, BULK);
	resp_free(&rs);

	ck_assert_int_eq(http(&big, REQ(.path = "/v1/memory/mesh/bulk.0777", .token = big_admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(cJSON_GetObjectItem(resp_field(&rs, "value"), "i")->valueint, 777);
	resp_free(&rs);
	free(f);
	ck_assert_int_eq(server_stop(&big), 0);
}
END_TEST

/* An upload still arriving holds nothing: the mesh's writers go on while a slow client sends
 * (the body is spooled, and the import takes the write lock only once it is whole). */
START_TEST(slow_upload_holds_no_lock)
{
	size_t len;
	char *f = bulk_file(&len);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	char head[512];
	int hn = snprintf(head, sizeof head,
			  "POST /v1/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
			  "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n\r\n",
			  admin, len);
	ck_assert_int_eq(write(fd, head, (size_t)hn), hn);
	ck_assert_int_eq(write(fd, f, len / 2), (ssize_t)(len / 2));
	sleep_ms(300);
	/* Half the file is in; a write goes through at once. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long st = call("PUT", "/v1/memory/mesh/during.upload", admin, "{\"value\":1}", NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_msg(st == 200 || st == 201, "%ld", st);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms < 1000, "a write waited %.0f ms behind an upload", ms);
	/* The rest: the import runs, and is refused (this store has other rows at those revisions). */
	ck_assert_int_eq(write(fd, f + len / 2, len - len / 2), (ssize_t)(len - len / 2));
	struct timeval tv = {20, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(!strncmp(buf, "HTTP/1.1 409", 12), "%s", buf);
	close(fd);
	free(f);
}
END_TEST

/* A client that stops reading and leaves: the export's connection and snapshot go with it. */
START_TEST(client_leaving_midway_frees_the_export)
{
	struct server big;
	char *secret;
	big_start(&big, &secret);
	PGconn *c = db_connect("export_big");
	/* Grow the store so the export outlasts every socket buffer on the way. */
	PQclear(PQexec(c, "INSERT INTO changes (revision, kind, op, scope, name, version, node, at)"
			  " SELECT 100000 + g, 'memory', 'put', 'mesh', 'pad.' || g, 1, repeat('n', 60), now()"
			  " FROM generate_series(1, 100000) g"));

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)big.port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	char req[256];
	int rl = snprintf(req, sizeof req, "GET /v1/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", secret);
	ck_assert_int_eq(write(fd, req, (size_t)rl), rl);
	char buf[1024];
	ck_assert_int_gt(read(fd, buf, sizeof buf), 0);
	const char *active = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'export_big' AND state = 'active'"
			     " AND query LIKE 'SELECT json_build_object%'";
	long seen = 0;
	for (int i = 0; i < 100 && !seen; i++, sleep_ms(20))
		seen = db_count(c, active);
	ck_assert_int_eq(seen, 1);
	close(fd);
	long left = 1;
	for (int i = 0; i < 250 && left; i++, sleep_ms(20))
		left = db_count(c, active);
	ck_assert_int_eq(left, 0);
	/* The server serves on, and a whole export still ends with its trailer. */
	struct http_resp rs;
	ck_assert_int_eq(http(&big, REQ(.path = "/v1/export", .token = secret), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_ptr_nonnull(strstr(rs.body, "{\"type\":\"end\",\"lines\":"));
	resp_free(&rs);
	PQclear(PQexec(c, "DELETE FROM changes WHERE revision > 100000"));
	PQfinish(c);
	free(secret);
	ck_assert_int_eq(server_stop(&big), 0);
}
END_TEST

/* --- one snapshot while a writer writes ----------------------------------------------------- */

struct writer {
	const struct server *s;
	const char *token;
	volatile bool stop;
	int writes;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	char path[64], body[64];
	for (int i = 0; !w->stop; i++) {
		snprintf(path, sizeof path, "/v1/memory/mesh/bulk.%04d", i % 40);
		snprintf(body, sizeof body, "{\"value\":%d}", i);
		struct http_resp rs;
		if (http(w->s, REQ(.method = "PUT", .path = path, .token = w->token, .body = body), &rs) == 0 && rs.status == 200)
			w->writes++;
		resp_free(&rs);
	}
	return NULL;
}

START_TEST(export_is_one_snapshot_under_writes)
{
	struct server big;
	char *secret;
	big_start(&big, &secret);
	struct writer w = {&big, secret, false, 0};
	pthread_t th;
	pthread_create(&th, NULL, write_loop, &w);
	long long first = -1, last = -1;
	char b[32];
	for (int round = 0; round < 6; round++) {
		size_t len;
		char *x = export_http(&big, secret, &len);
		struct lines l = split(x, len);
		long long rev = header_revision(&l);
		if (first < 0)
			first = rev;
		last = rev;
		/* Within one export: one memory change row per version, nothing above the header's
		 * revision, and every head at its key's last version line, with its revision. Versions
		 * and heads come in the same key order, so the last version of each key lines up with
		 * the heads one to one. */
		long changes = 0, nversions = 0;
		int nkeys = 0, next = 0;
		cJSON **last_version = calloc((size_t)l.n, sizeof *last_version);
		for (int i = 1; i < l.n - 1; i++) {
			cJSON *o = cJSON_Parse(l.line[i]);
			const char *t = type_of(l.line[i], b, sizeof b);
			const cJSON *r = cJSON_GetObjectItem(o, "revision");
			ck_assert(!r || (long long)r->valuedouble <= rev);
			if (!strcmp(t, "change") && !strcmp(cJSON_GetObjectItem(o, "kind")->valuestring, "memory"))
				changes++;
			if (!strcmp(t, "memory_version")) {
				nversions++;
				if (nkeys && !strcmp(cJSON_GetObjectItem(last_version[nkeys - 1], "key")->valuestring,
						     cJSON_GetObjectItem(o, "key")->valuestring))
					cJSON_Delete(last_version[nkeys - 1]);
				else
					nkeys++;
				last_version[nkeys - 1] = o;
				continue;
			}
			if (!strcmp(t, "memory")) {
				ck_assert_int_lt(next, nkeys);
				cJSON *v = last_version[next++];
				ck_assert_str_eq(cJSON_GetObjectItem(v, "key")->valuestring, cJSON_GetObjectItem(o, "key")->valuestring);
				ck_assert_int_eq(cJSON_GetObjectItem(v, "version")->valueint, cJSON_GetObjectItem(o, "version")->valueint);
				ck_assert_int_eq((long long)cJSON_GetObjectItem(v, "revision")->valuedouble,
						 (long long)cJSON_GetObjectItem(o, "revision")->valuedouble);
			}
			cJSON_Delete(o);
		}
		ck_assert_int_eq(next, nkeys);
		ck_assert_int_eq(nversions, changes);
		for (int k = 0; k < nkeys; k++)
			cJSON_Delete(last_version[k]);
		free(last_version);
		lines_free(&l);
		free(x);
	}
	w.stop = true;
	pthread_join(th, NULL);
	ck_assert_int_gt(w.writes, 0);
	ck_assert_int_gt(last, first); /* the writer wrote between the exports, and during them */
	free(secret);
	ck_assert_int_eq(server_stop(&big), 0);
}
END_TEST

/* A store whose feed was pruned exports only the change rows after its horizon; imported
 * elsewhere, a follower from before them is told to resync (410), not handed a gap. */
START_TEST(import_keeps_the_feed_horizon)
{
	char ts[32];
	time_t now = time(NULL);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&now));
	char *lines[12];
	lines[0] = strdup("{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":20}");
	for (int i = 0; i < 10; i++) {
		lines[i + 1] = malloc(256);
		snprintf(lines[i + 1], 256,
			 "{\"type\":\"change\",\"revision\":%d,\"kind\":\"node\",\"op\":\"put\",\"scope\":null,"
			 "\"name\":\"n%d\",\"version\":1,\"node\":null,\"at\":\"%s\"}",
			 11 + i, 11 + i, ts);
	}
	size_t len;
	char *f = join(lines, 11, &len);
	for (int i = 0; i < 11; i++)
		free(lines[i]);
	fresh_db("export_feed");
	const char *imp[] = {"import", write_temp("export-feed.ndjson", f, len), "--database-url", db_url("export_feed"), NULL};
	ck_assert_int_eq(run_clawmeshd(imp, NULL), 0);
	free(f);
	PGconn *c = db_connect("export_feed");
	ck_assert_int_eq(db_count(c, "SELECT horizon FROM cm_feed"), 10);
	PQfinish(c);

	struct server s;
	char secret[47];
	make_secret(secret);
	const char *args[] = {"--database-url", db_url("export_feed"), NULL};
	ck_assert_int_eq(server_start(&s, secret, args), 0);
	struct http_resp rs;
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/changes?since=3", .token = secret), &rs), 0);
	expect_error(&rs, 410, "resync_required");
	resp_free(&rs);
	ck_assert_int_eq(http(&s, REQ(.path = "/v1/changes?since=10", .token = secret), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "changes")), 10);
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

TCase *export_tcase(void);
TCase *export_tcase(void)
{
	TCase *tc = tcase_create("export");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, export_up, export_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, round_trip_is_byte_identical);
	tcase_add_test(tc, http_import_into_an_empty_store);
	tcase_add_test(tc, reimport_changes_nothing);
	tcase_add_test(tc, truncated_and_conflicting_files_change_nothing);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, import_over_max_body_is_streamed);
	tcase_add_test(tc, client_leaving_midway_frees_the_export);
	tcase_add_test(tc, slow_upload_holds_no_lock);
	tcase_add_test(tc, export_is_one_snapshot_under_writes);
	tcase_add_test(tc, import_keeps_the_feed_horizon);
	return tc;
}
