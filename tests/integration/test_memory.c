/* Integration tests of /v1/memory, /v1/batch and /v1/audit against a real clawmeshd and a real
 * PostgreSQL: the access matrix, CAS under concurrent writers, every bad input with the database
 * checked afterwards, history, listings, search, TTL, the change rows' commit order, the audit log. */
#include "harness.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct server srv;
static char admin[47];

enum { T_CEO, T_SEC, T_PROJ, T_DASH, T_ADMIN, NTOK };
static char tok[NTOK][47], tok_id[NTOK][29];
static const char *const tok_name[NTOK] = {"ceo", "sec", "project-reader", "dashboard", "admin"};

static void memory_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start(&srv, admin, NULL), 0);
	create_token(&srv, admin, "{\"label\":\"ceo\",\"node\":\"ceo\"}", tok[T_CEO], tok_id[T_CEO]);
	create_token(&srv, admin, "{\"label\":\"sec\",\"node\":\"sec\"}", tok[T_SEC], tok_id[T_SEC]);
	create_token(&srv, admin, "{\"label\":\"project reader\",\"grants\":[{\"scope\":\"project:*\",\"access\":\"r\"}]}", tok[T_PROJ],
		     tok_id[T_PROJ]);
	create_token(&srv, admin, "{\"label\":\"dashboard\",\"grants\":[{\"scope\":\"*\",\"access\":\"r\"}]}", tok[T_DASH], tok_id[T_DASH]);
	create_token(&srv, admin, "{\"label\":\"second admin\",\"admin\":true}", tok[T_ADMIN], tok_id[T_ADMIN]);
}

static void memory_down(void)
{
	ck_assert_int_eq(server_stop(&srv), 0);
}

/* Rows in the tables a write touches: equal before and after = nothing written. */
static char *db_state(void)
{
	return db_value(pg,
			"SELECT (SELECT count(*) FROM memory) || '/' || (SELECT count(*) FROM memory_history) || '/' ||"
			" (SELECT count(*) FROM changes) || '/' || coalesce((SELECT max(revision) FROM changes), 0) || '/' ||"
			" coalesce((SELECT md5(string_agg(m::text, ',' ORDER BY scope, key)) FROM memory m), '')",
			0, NULL);
}

static long put(const char *token, const char *path, const char *body, struct http_resp *rs)
{
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = path, .token = token, .body = body), rs), 0);
	return rs->status;
}

/* GETs path (which has a query already) page after page as a client would, following
 * next_cursor; calls each() on every item (ctx passed on). The item count; *pages the pages.
 * A page over max_bytes (when not 0) fails the test. */
static int walk_pages(const char *path, const char *token, void (*each)(const cJSON *item, void *ctx), void *ctx,
		      size_t max_bytes, int *pages)
{
	char cursor[1100] = "", url[2400];
	int total = 0;
	*pages = 0;
	do {
		snprintf(url, sizeof url, "%s%s%s", path, cursor[0] ? "&cursor=" : "", cursor);
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.path = url, .token = token), &rs), 0);
		ck_assert_msg(rs.status == 200, "%s: %ld %s", url, rs.status, rs.body);
		ck_assert_msg(!max_bytes || rs.len <= max_bytes, "a page of %zu bytes", rs.len);
		const cJSON *it;
		cJSON_ArrayForEach(it, resp_field(&rs, "items"))
		{
			if (each)
				each(it, ctx);
			total++;
		}
		const cJSON *next = resp_field(&rs, "next_cursor");
		snprintf(cursor, sizeof cursor, "%s", cJSON_IsString(next) ? next->valuestring : "");
		resp_free(&rs);
		(*pages)++;
	} while (cursor[0] && *pages < 50);
	return total;
}

START_TEST(crud_etags_and_history)
{
	struct http_resp rs;
	char b[256];
	/* Created: 201, the entry, ETag, Location, provenance from the token. */
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/user.preferences",
			     "{\"value\":{\"short\":true,\"id\":12345678901234567890123456789,\"pi\":3.14159265358979323846},"
			     "\"tags\":[\"prefs\",\"user\",\"prefs\"]}",
			     &rs),
			 201);
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	ck_assert_str_eq(resp_header(&rs, "Location", b, sizeof b), "/v1/memory/mesh/user.preferences");
	ck_assert_str_eq(resp_field(&rs, "scope")->valuestring, "mesh");
	ck_assert_str_eq(resp_field(&rs, "key")->valuestring, "user.preferences");
	ck_assert_str_eq(resp_field(&rs, "node")->valuestring, "ceo");
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 1);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "tags")), 2); /* the duplicate tag dropped */
	ck_assert(cJSON_IsNull(resp_field(&rs, "expires_at")));
	ck_assert_str_eq(resp_field(&rs, "created_at")->valuestring, resp_field(&rs, "updated_at")->valuestring);
	ck_assert_uint_eq(strlen(resp_field(&rs, "created_at")->valuestring), 24);
	/* Numbers keep every digit: the server never rounds a value through a double. */
	ck_assert_ptr_nonnull(strstr(rs.body, "12345678901234567890123456789"));
	ck_assert_ptr_nonnull(strstr(rs.body, "3.14159265358979323846"));
	double rev1 = resp_field(&rs, "revision")->valuedouble;
	resp_free(&rs);
	const char *k[] = {"mesh", "user.preferences"};
	char *v = db_value(pg, "SELECT value->>'id' FROM memory WHERE scope = $1 AND key = $2", 2, k);
	ck_assert_str_eq(v, "12345678901234567890123456789");
	free(v);

	/* The identical write again (members in another order, the same value): 200, same version,
	 * no history, no change row. */
	char *before = db_state();
	ck_assert_int_eq(put(tok[T_SEC], "/v1/memory/mesh/user.preferences",
			     "{\"value\":{\"pi\":3.14159265358979323846,\"short\":true,\"id\":12345678901234567890123456789},"
			     "\"tags\":[\"prefs\",\"user\"]}",
			     &rs),
			 200);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 1);
	ck_assert_str_eq(resp_field(&rs, "node")->valuestring, "ceo");
	resp_free(&rs);
	char *after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* Tags are kept as given: the same tags in another order are a change (version 2), and
	 * the original order back is another (version 3). */
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/node:ceo/tag.order", "{\"value\":1,\"tags\":[\"x\",\"y\"]}", &rs), 201);
	resp_free(&rs);
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/node:ceo/tag.order", "{\"value\":1,\"tags\":[\"y\",\"x\"]}", &rs), 200);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 2);
	ck_assert_str_eq(cJSON_GetArrayItem(resp_field(&rs, "tags"), 0)->valuestring, "y");
	resp_free(&rs);

	/* If-Match compares strongly: a weak ETag, or one that is no version of ours, never
	 * matches (412); a list matches if any of its ETags does. */
	const char *never[] = {"If-Match: W/\"2\"", "If-Match: \"0\"", "If-Match: \"99999999999\"", "If-Match: \"abc\""};
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/memory/node:ceo/tag.order", .token = tok[T_CEO],
						.body = "{\"value\":2}", .headers = {never[i]}), &rs), 0);
		expect_error(&rs, 412, "version_mismatch");
		resp_free(&rs);
	}
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/node:ceo/tag.order", .token = tok[T_CEO],
				       .body = "{\"value\":2}", .headers = {"If-Match: \"7\", W/\"2\", \"2\" "})), 200);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/node:ceo/tag.order", .token = tok[T_CEO],
				       .body = "{\"value\":3}", .headers = {"If-Match: 3"})), 200);

	/* GET with the ETag: 304; without: 200 with the ETag. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/mesh/user.preferences", .token = tok[T_SEC],
					.headers = {"If-None-Match: \"1\""}), &rs), 0);
	ck_assert_int_eq(rs.status, 304);
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	ck_assert_uint_eq(rs.len, 0);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/mesh/user.preferences", .token = tok[T_SEC],
					.headers = {"If-None-Match: \"7\", W/\"8\""}), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	resp_free(&rs);

	/* If-None-Match: * on an existing key, a stale If-Match: 412 with the current version. */
	before = db_state();
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/user.preferences", .token = tok[T_SEC],
					.body = "{\"value\":1}", .headers = {"If-None-Match: *"}), &rs), 0);
	expect_error(&rs, 412, "already_exists");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(resp_field(&rs, "error"), "details"), "current_version")->valueint, 1);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/user.preferences", .token = tok[T_SEC],
					.body = "{\"value\":1}", .headers = {"If-Match: \"4\""}), &rs), 0);
	expect_error(&rs, 412, "version_mismatch");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(resp_field(&rs, "error"), "details"), "current_version")->valueint, 1);
	resp_free(&rs);
	after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* PATCH: RFC 7386 on the value; tags and provenance follow the writer. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PATCH", .path = "/v1/memory/mesh/user.preferences", .token = tok[T_SEC],
					.body = "{\"short\":null,\"lang\":{\"primary\":\"en\"},\"id\":7}",
					.content_type = "application/merge-patch+json", .headers = {"If-Match: \"1\""}), &rs), 0);
	ck_assert_msg(rs.status == 200, "%s", rs.body);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 2);
	ck_assert_str_eq(resp_field(&rs, "node")->valuestring, "sec");
	const cJSON *val = resp_field(&rs, "value");
	ck_assert_ptr_null(cJSON_GetObjectItem(val, "short"));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(val, "lang"), "primary")->valuestring, "en");
	ck_assert_int_eq(cJSON_GetObjectItem(val, "id")->valueint, 7);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "tags")), 2);
	ck_assert(resp_field(&rs, "revision")->valuedouble > rev1);
	resp_free(&rs);

	/* DELETE: 204, then 404; a tombstone in history; the value before it stays there. */
	ck_assert_int_eq(http(&srv, REQ(.method = "DELETE", .path = "/v1/memory/mesh/user.preferences", .token = tok[T_CEO],
					.headers = {"If-Match: \"1\""}), &rs), 0);
	expect_error(&rs, 412, "version_mismatch");
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/memory/mesh/user.preferences", .token = tok[T_CEO],
				       .headers = {"If-Match: \"2\""})), 204);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/mesh/user.preferences", .token = tok[T_CEO]), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/memory/mesh/user.preferences", .token = tok[T_CEO])),
			 404);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/mesh/user.preferences/history", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	const cJSON *items = resp_field(&rs, "items");
	ck_assert_int_eq(cJSON_GetArraySize(items), 3);
	const char *ops[] = {"delete", "patch", "put"};
	for (int i = 0; i < 3; i++) {
		const cJSON *it = cJSON_GetArrayItem(items, i);
		ck_assert_int_eq(cJSON_GetObjectItem(it, "version")->valueint, 3 - i);
		ck_assert_str_eq(cJSON_GetObjectItem(it, "op")->valuestring, ops[i]);
		ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(it, "revision")));
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(it, "at")));
	}
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "value")));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "node")->valuestring, "ceo");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 2), "value"), "short")));
	ck_assert(cJSON_IsNull(resp_field(&rs, "next_cursor")));
	resp_free(&rs);

	/* Written again after the delete: 201, and the version goes on counting. */
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/user.preferences", "{\"value\":\"back\"}", &rs), 201);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 4);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "tags")), 0);
	resp_free(&rs);
	/* If-None-Match: * creates only what is absent; If-Match: * needs it present. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/only.once", .token = tok[T_CEO],
				       .body = "{\"value\":1}", .headers = {"If-Match: *"})), 412);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/only.once", .token = tok[T_CEO],
				       .body = "{\"value\":1}", .headers = {"If-None-Match: *"})), 201);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/only.once", .token = tok[T_CEO],
				       .body = "{\"value\":2}", .headers = {"If-Match: *"})), 200);
	/* A null value is a value. */
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/nothing", "{\"value\":null}", &rs), 201);
	ck_assert(cJSON_IsNull(resp_field(&rs, "value")));
	resp_free(&rs);
	/* HEAD answers like GET, without a body. */
	ck_assert_int_eq(http(&srv, REQ(.method = "HEAD", .path = "/v1/memory/mesh/nothing", .token = tok[T_CEO]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	resp_free(&rs);

	/* Every write made exactly one change row, with the entry's revision and version. */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM changes c JOIN memory_history h USING (revision)"
				      " WHERE c.kind = 'memory' AND c.scope = h.scope AND c.name = h.key AND c.version = h.version"),
			 db_count(pg, "SELECT count(*) FROM changes"));
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history"), db_count(pg, "SELECT count(*) FROM changes"));

	/* The history is append-only, even for someone with SQL access. */
	const char *tamper[] = {"UPDATE memory_history SET value = '1'", "DELETE FROM memory_history",
				"TRUNCATE memory_history"};
	for (size_t i = 0; i < 3; i++) {
		PGresult *r = PQexec(pg, tamper[i]);
		ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR, "%s was allowed", tamper[i]);
		ck_assert_ptr_nonnull(strstr(PQresultErrorMessage(r), "append-only"));
		PQclear(r);
	}
}
END_TEST

static void count_down_versions(const cJSON *it, void *ctx)
{
	int *next = ctx;
	ck_assert_int_eq(cJSON_GetObjectItem(it, "version")->valueint, (*next)--);
}

START_TEST(history_pages)
{
	struct http_resp rs;
	char body[64];
	for (int i = 1; i <= 5; i++) {
		snprintf(body, sizeof body, "{\"value\":%d}", i);
		ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/node:ceo/counter.pages", body, &rs), i == 1 ? 201 : 200);
		resp_free(&rs);
	}
	int seen = 5, pages;
	ck_assert_int_eq(walk_pages("/v1/memory/node:ceo/counter.pages/history?limit=2", tok[T_CEO], count_down_versions,
				    &seen, 0, &pages),
			 5);
	ck_assert_int_eq(seen, 0);
	ck_assert_int_eq(pages, 3);
	/* Never written: 404. A cursor that is not ours: 400. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/node:ceo/never/history", .token = tok[T_CEO]), &rs), 0);
	expect_error(&rs, 404, "not_found");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/node:ceo/counter.pages/history?cursor=zzzz", .token = tok[T_CEO]), &rs), 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);
}
END_TEST

/* 0 none, 1 read, 2 read and write: what API.md's grant rules give each token on each scope. */
static const char *const matrix_scopes[] = {"mesh", "node:ceo", "node:sec", "user:alice", "project:alpha"};
#define NSCOPES 5
static const int matrix[NTOK][NSCOPES] = {
	[T_CEO] = {2, 2, 0, 0, 0},
	[T_SEC] = {2, 0, 2, 0, 0},
	[T_PROJ] = {0, 0, 0, 0, 1},
	[T_DASH] = {1, 1, 1, 1, 1},
	[T_ADMIN] = {2, 2, 2, 2, 2},
};

static void cell(int t, int s, const char *op, long got, long want)
{
	ck_assert_msg(got == want, "%s on %s, %s: got %ld, wanted %ld", tok_name[t], matrix_scopes[s], op, got, want);
}

START_TEST(access_matrix)
{
	char path[256], body[512];
	long writes = 0, hist0 = db_count(pg, "SELECT count(*) FROM memory_history");
	for (int s = 0; s < NSCOPES; s++) {
		snprintf(path, sizeof path, "/v1/memory/%s/seed", matrix_scopes[s]);
		ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = path, .token = admin, .body = "{\"value\":\"seed\"}")), 201);
		writes++;
	}
	for (int t = 0; t < NTOK; t++) {
		for (int s = 0; s < NSCOPES; s++) {
			const char *sc = matrix_scopes[s], *tk = tok[t];
			int a = matrix[t][s];
			long r = a >= 1 ? 200 : 403, w = a == 2;
			snprintf(path, sizeof path, "/v1/memory/%s/seed", sc);
			cell(t, s, "get", status_at(&srv, REQ(.path = path, .token = tk)), r);
			cell(t, s, "head", status_at(&srv, REQ(.method = "HEAD", .path = path, .token = tk)), r);
			/* The same answer whether or not the key exists. */
			snprintf(path, sizeof path, "/v1/memory/%s/no.such.key", sc);
			cell(t, s, "get missing", status_at(&srv, REQ(.path = path, .token = tk)), a >= 1 ? 404 : 403);
			cell(t, s, "delete missing", status_at(&srv, REQ(.method = "DELETE", .path = path, .token = tk)), w ? 404 : 403);
			snprintf(path, sizeof path, "/v1/memory/%s/seed/history", sc);
			cell(t, s, "history", status_at(&srv, REQ(.path = path, .token = tk)), r);
			snprintf(path, sizeof path, "/v1/memory?scope=%s", sc);
			cell(t, s, "list", status_at(&srv, REQ(.path = path, .token = tk)), r);
			snprintf(body, sizeof body, "{\"ops\":[{\"op\":\"get\",\"scope\":\"%s\",\"key\":\"seed\"}]}", sc);
			cell(t, s, "batch get", status_at(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = tk, .body = body)), r);

			/* Writes: put creates, patch and delete follow; or every one is refused. */
			snprintf(path, sizeof path, "/v1/memory/%s/by.%s", sc, tok_name[t]);
			cell(t, s, "put", status_at(&srv, REQ(.method = "PUT", .path = path, .token = tk, .body = "{\"value\":{\"n\":1}}")),
			     w ? 201 : 403);
			cell(t, s, "patch",
			     status_at(&srv, REQ(.method = "PATCH", .path = path, .token = tk, .body = "{\"n\":2}",
					   .content_type = "application/merge-patch+json")),
			     w ? 200 : 403);
			snprintf(body, sizeof body, "{\"ops\":[{\"op\":\"put\",\"scope\":\"%s\",\"key\":\"by.%s\",\"value\":3}]}", sc,
				 tok_name[t]);
			cell(t, s, "batch put", status_at(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = tk, .body = body)),
			     w ? 200 : 403);
			cell(t, s, "delete", status_at(&srv, REQ(.method = "DELETE", .path = path, .token = tk)), w ? 204 : 403);
			snprintf(path, sizeof path, "/v1/memory/%s/seed", sc);
			cell(t, s, "put existing",
			     status_at(&srv, REQ(.method = "PUT", .path = path, .token = tk, .body = "{\"value\":\"seed\"}")), w ? 200 : 403);
			cell(t, s, "patch existing",
			     status_at(&srv, REQ(.method = "PATCH", .path = path, .token = tk, .body = "{\"x\":1}",
					   .content_type = "application/merge-patch+json")),
			     w ? 200 : 403);
			cell(t, s, "delete existing", status_at(&srv, REQ(.method = "DELETE", .path = path, .token = tk)), w ? 204 : 403);
			if (w) {
				writes += 6; /* put, patch, batch put, delete, patch existing, delete existing */
				ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = path, .token = admin,
							       .body = "{\"value\":\"seed\"}")), 201);
				writes++;
			}
		}
		/* Without a scope filter a listing spans what the token reads, and nothing else. */
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?limit=1000&prefix=seed", .token = tok[t]), &rs), 0);
		ck_assert_int_eq(rs.status, 200);
		int shown[NSCOPES] = {0};
		const cJSON *it;
		cJSON_ArrayForEach(it, resp_field(&rs, "items"))
		{
			const char *sc = cJSON_GetObjectItem(it, "scope")->valuestring;
			int found = -1;
			for (int s = 0; s < NSCOPES; s++)
				if (!strcmp(sc, matrix_scopes[s]))
					found = s;
			ck_assert_msg(found >= 0 && matrix[t][found] >= 1, "%s sees %s", tok_name[t], sc);
			shown[found]++;
		}
		for (int s = 0; s < NSCOPES; s++)
			ck_assert_msg(shown[s] == (matrix[t][s] >= 1), "%s: %s shown %d times", tok_name[t], matrix_scopes[s],
				      shown[s]);
		resp_free(&rs);
	}
	/* Refused writes wrote nothing: the history grew by exactly the allowed writes. */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history") - hist0, writes);
	/* Provenance is the token's node, never the client's word. */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE key = 'by.ceo' AND node IS DISTINCT FROM 'ceo'"), 0);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE key = 'by.sec' AND node IS DISTINCT FROM 'sec'"), 0);
	ck_assert_int_gt(db_count(pg, "SELECT count(*) FROM memory_history WHERE key = 'by.sec'"), 0);
}
END_TEST

/* Concurrent read-modify-write with If-Match on one key, while other writers hit other keys and
 * a reader follows the change rows as a feed would. */
#define INCREMENTERS 4
#define INCREMENTS 25
#define OTHER_WRITERS 4
#define OTHER_WRITES 60

static int workers_finished;

struct worker {
	int id;
	int done, retries;
	char failure[256];
};

static void *incrementer(void *arg)
{
	struct worker *w = arg;
	while (w->done < INCREMENTS && !w->failure[0]) {
		struct http_resp rs;
		if (http(&srv, REQ(.path = "/v1/memory/mesh/counter", .token = tok[w->id % 2 ? T_SEC : T_CEO]), &rs) ||
		    rs.status != 200) {
			snprintf(w->failure, sizeof w->failure, "GET: %ld %s", rs.status, rs.body ? rs.body : "");
			resp_free(&rs);
			break;
		}
		char etag[32], hdr[64], body[64];
		resp_header(&rs, "ETag", etag, sizeof etag);
		int n = cJSON_GetObjectItem(rs.json, "value")->valueint;
		resp_free(&rs);
		snprintf(hdr, sizeof hdr, "If-Match: %s", etag);
		snprintf(body, sizeof body, "{\"value\":%d}", n + 1);
		if (http(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/counter", .token = tok[w->id % 2 ? T_SEC : T_CEO],
				   .body = body, .headers = {hdr}), &rs)) {
			snprintf(w->failure, sizeof w->failure, "PUT: no answer");
		} else if (rs.status == 200) {
			w->done++;
		} else if (rs.status == 412 && !strcmp(resp_error_code(&rs), "version_mismatch")) {
			w->retries++;
		} else {
			snprintf(w->failure, sizeof w->failure, "PUT: %ld %s", rs.status, rs.body);
		}
		resp_free(&rs);
	}
	__atomic_add_fetch(&workers_finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *other_writer(void *arg)
{
	struct worker *w = arg;
	char path[64], body[64];
	snprintf(path, sizeof path, "/v1/memory/mesh/other.%d", w->id);
	for (int i = 0; i < OTHER_WRITES && !w->failure[0]; i++) {
		struct http_resp rs;
		snprintf(body, sizeof body, "{\"value\":%d}", i);
		if (http(&srv, REQ(.method = "PUT", .path = path, .token = tok[T_CEO], .body = body), &rs) ||
		    (rs.status != 200 && rs.status != 201))
			snprintf(w->failure, sizeof w->failure, "PUT other: %ld %s", rs.status, rs.body ? rs.body : "");
		else
			w->done++;
		resp_free(&rs);
	}
	__atomic_add_fetch(&workers_finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(concurrent_increments_lose_nothing)
{
	struct http_resp rs;
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/counter", "{\"value\":0}", &rs), 201);
	resp_free(&rs);
	char *start = db_value(pg, "SELECT coalesce(max(revision), 0) FROM changes", 0, NULL);
	long long last = atoll(start);
	free(start);

	workers_finished = 0;
	pthread_t th[INCREMENTERS + OTHER_WRITERS];
	struct worker w[INCREMENTERS + OTHER_WRITERS];
	memset(w, 0, sizeof w);
	for (int i = 0; i < INCREMENTERS + OTHER_WRITERS; i++) {
		w[i].id = i;
		pthread_create(&th[i], NULL, i < INCREMENTERS ? incrementer : other_writer, &w[i]);
	}
	/* Follow the change rows as the feed will: everything above the last revision seen. A
	 * revision that committed after a higher one had been seen would be skipped this way. */
	const long expected = INCREMENTERS * INCREMENTS + OTHER_WRITERS * OTHER_WRITES;
	long followed = 0;
	bool last_look = false;
	char since[24];
	for (;;) {
		snprintf(since, sizeof since, "%lld", last);
		const char *p[] = {since};
		PGresult *r = PQexecParams(pg, "SELECT revision FROM changes WHERE revision > $1::bigint ORDER BY revision", 1,
					   NULL, p, NULL, NULL, 0);
		ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
		for (int i = 0; i < PQntuples(r); i++) {
			last = atoll(PQgetvalue(r, i, 0));
			followed++;
		}
		PQclear(r);
		if (followed >= expected || last_look)
			break;
		last_look = __atomic_load_n(&workers_finished, __ATOMIC_ACQUIRE) == INCREMENTERS + OTHER_WRITERS;
		usleep(500);
	}
	int retries = 0;
	for (int i = 0; i < INCREMENTERS + OTHER_WRITERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!w[i].failure[0], "worker %d: %s", i, w[i].failure);
		retries += w[i].retries;
	}
	/* No lost update: the counter is the number of increments; history has every version. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/mesh/counter", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(cJSON_GetObjectItem(rs.json, "value")->valueint, INCREMENTERS * INCREMENTS);
	ck_assert_int_eq(cJSON_GetObjectItem(rs.json, "version")->valueint, INCREMENTERS * INCREMENTS + 1);
	resp_free(&rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE scope = 'mesh' AND key = 'counter'"),
			 INCREMENTERS * INCREMENTS + 1);
	ck_assert_int_eq(db_count(pg, "SELECT count(DISTINCT value) FROM memory_history WHERE scope = 'mesh' AND key = 'counter'"),
			 INCREMENTERS * INCREMENTS + 1);
	/* The follower saw every change: none committed below a revision it had already passed. */
	ck_assert_int_eq(followed, INCREMENTERS * INCREMENTS + OTHER_WRITERS * OTHER_WRITES);
	fprintf(stderr, "concurrency: %d increments by %d clients, %d retries on 412, %ld changes followed\n",
		INCREMENTERS * INCREMENTS, INCREMENTERS, retries, followed);
}
END_TEST

struct bad {
	const char *method, *path, *content_type, *body, *header;
	long status;
	const char *code, *field;
};

START_TEST(bad_inputs_change_nothing)
{
	struct http_resp rs;
	ck_assert_int_eq(put(admin, "/v1/memory/mesh/exists", "{\"value\":1}", &rs), 201);
	resp_free(&rs);
	static char big[300 * 1024], deep[1024], many_tags[2048], long_key[300], batch_big[16384];
	snprintf(big, sizeof big, "{\"value\":\"%0*d\"}", 270 * 1024, 0);
	int n = snprintf(deep, sizeof deep, "{\"value\":");
	for (int i = 0; i < 101; i++)
		deep[n++] = '[';
	for (int i = 0; i < 101; i++)
		deep[n++] = ']';
	snprintf(deep + n, sizeof deep - (size_t)n, "}");
	n = snprintf(many_tags, sizeof many_tags, "{\"value\":1,\"tags\":[");
	for (int i = 0; i < 33; i++)
		n += snprintf(many_tags + n, sizeof many_tags - (size_t)n, "%s\"t%d\"", i ? "," : "", i);
	snprintf(many_tags + n, sizeof many_tags - (size_t)n, "]}");
	memset(long_key, 'k', sizeof long_key);
	memcpy(long_key, "/v1/memory/mesh/", 16);
	long_key[16 + 257] = '\0';
	n = snprintf(batch_big, sizeof batch_big, "{\"ops\":[");
	for (int i = 0; i < 101; i++)
		n += snprintf(batch_big + n, sizeof batch_big - (size_t)n, "%s{\"op\":\"get\",\"scope\":\"mesh\",\"key\":\"k\"}",
			      i ? "," : "");
	snprintf(batch_big + n, sizeof batch_big - (size_t)n, "]}");

	const struct bad cases[] = {
		/* the path */
		{"PUT", "/v1/memory/bogus/k", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", "/v1/memory/node:CEO/k", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", "/v1/memory/project:/k", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/.hidden", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/a%20b", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/a%2Fb", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", long_key, NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory/user:/k", NULL, NULL, NULL, 400, "bad_request", NULL},
		/* the body */
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":\"\xff\"}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":01}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"value\":2}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":\"a\\u0000b\"}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1e999999}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":\"a\nb\"}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":\x0c1}", NULL, 400, "invalid_json", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":[1e129999,1e129999,1e129999,1e129999,1e129999,1e129999,1e129999,1e129999,1e129999]}",
		 NULL, 413, "payload_too_large", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"cm_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\":1}", NULL, 422,
		 "validation_failed", "(unknown field)"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"expires_at\":\"2027-01-01T00:00:00+16:00\"}", NULL, 422,
		 "validation_failed", "expires_at"},
		{"PUT", "/v1/memory/mesh/k%FF", NULL, "{\"value\":1}", NULL, 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/k", "text/plain", "{\"value\":1}", NULL, 415, "unsupported_media_type", NULL},
		{"PUT", "/v1/memory/mesh/k", NULL, "{}", NULL, 422, "validation_failed", "value"},
		{"PUT", "/v1/memory/mesh/k", NULL, "[1]", NULL, 422, "validation_failed", "value"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"node\":\"sec\"}", NULL, 422, "validation_failed", "node"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"tags\":\"x\"}", NULL, 422, "validation_failed", "tags"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"tags\":[1]}", NULL, 422, "validation_failed", "tags"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"tags\":[\"\"]}", NULL, 422, "validation_failed", "tags"},
		{"PUT", "/v1/memory/mesh/k", NULL,
		 "{\"value\":1,\"tags\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}", NULL, 422,
		 "validation_failed", "tags"},
		{"PUT", "/v1/memory/mesh/k", NULL, many_tags, NULL, 422, "validation_failed", "tags"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"ttl\":0}", NULL, 422, "validation_failed", "ttl"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"ttl\":1.5}", NULL, 422, "validation_failed", "ttl"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"ttl\":\"60\"}", NULL, 422, "validation_failed", "ttl"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"ttl\":60,\"expires_at\":\"2030-01-01T00:00:00Z\"}", NULL, 422,
		 "validation_failed", "ttl"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"expires_at\":\"tomorrow\"}", NULL, 422, "validation_failed",
		 "expires_at"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"expires_at\":\"2001-01-01T00:00:00Z\"}", NULL, 422,
		 "validation_failed", "expires_at"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"expires_at\":\"9999-12-31T23:59:59-05:00\"}", NULL, 422,
		 "validation_failed", "expires_at"},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":1,\"expires_at\":\"2001-01-01T00:00:00Z\"}]}",
		 NULL, 422, "validation_failed", "ops[0].expires_at"},
		{"PUT", "/v1/memory/mesh/k", NULL, deep, NULL, 422, "validation_failed", "value"},
		{"PUT", "/v1/memory/mesh/k", NULL, big, NULL, 413, "payload_too_large", "value"},
		/* secrets: named by kind, never echoed */
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":{\"note\":\"key AKIAIOSFODNN7EXAMPLE here\"}}", NULL, 422,
		 "secret_detected", "value"},
		{"PUT", "/v1/memory/mesh/k", NULL,
		 "{\"value\":\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEpAIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----\"}", NULL, 422,
		 "secret_detected", "value"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":[\"sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123\"]}", NULL, 422,
		 "secret_detected", "value"},
		{"PUT", "/v1/memory/mesh/k", NULL, "{\"value\":1,\"tags\":[\"ghp_abcdefghijklmnopqrstuvwxyz0123456789\"]}", NULL,
		 422, "secret_detected", "tags"},
		{"PUT", "/v1/memory/mesh/cm_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", NULL, "{\"value\":1}", NULL, 422,
		 "secret_detected", "key"},
		/* preconditions */
		{"PUT", "/v1/memory/mesh/exists", NULL, "{\"value\":2}", "If-Match: yes", 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/exists", NULL, "{\"value\":2}", "If-Match: \"1", 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/exists", NULL, "{\"value\":2}", "If-Match: \"1\",,\"2\"", 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/exists", NULL, "{\"value\":2}", "If-None-Match: \"1\"", 400, "bad_request", NULL},
		{"PUT", "/v1/memory/mesh/exists", NULL, "{\"value\":2}", "If-Match: \"2\"", 412, "version_mismatch", NULL},
		{"PUT", "/v1/memory/mesh/exists", NULL, "{\"value\":2}", "If-None-Match: *", 412, "already_exists", NULL},
		{"PATCH", "/v1/memory/mesh/exists", "text/plain", "{\"a\":1}", NULL, 415, "unsupported_media_type", NULL},
		{"PATCH", "/v1/memory/mesh/exists", "application/merge-patch+json", "{\"a\":", NULL, 400, "invalid_json", NULL},
		{"PATCH", "/v1/memory/mesh/absent", "application/merge-patch+json", "{\"a\":1}", NULL, 404, "not_found", NULL},
		{"PATCH", "/v1/memory/mesh/exists", "application/merge-patch+json", "{\"a\":\"xoxb-1234567890-abcdefghij\"}",
		 NULL, 422, "secret_detected", "value"},
		{"DELETE", "/v1/memory/mesh/absent", NULL, NULL, NULL, 404, "not_found", NULL},
		{"DELETE", "/v1/memory/mesh/exists", NULL, NULL, "If-Match: \"9\"", 412, "version_mismatch", NULL},
		{"POST", "/v1/memory/mesh/exists", NULL, "{}", NULL, 405, "method_not_allowed", NULL},
		/* listings */
		{"GET", "/v1/memory?limit=0", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?limit=1001", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?limit=ten", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?order=random", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?cursor=bm90IG91cnM", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?cursor=!!", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?q=x&cursor=eyJvIjoicmFuayIsInMiOiJtZXNoIiwiayI6ImsxIiwibiI6IjFlMzA5In0", NULL, NULL, NULL, 400,
		 "bad_request", NULL},
		{"GET", "/v1/memory?q=x&cursor=eyJvIjoicmFuayIsInMiOiJtZXNoIiwiayI6ImsxIiwibiI6Ii0xIn0", NULL, NULL, NULL, 400,
		 "bad_request", NULL},
		{"GET", "/v1/memory?order=recent&cursor=eyJvIjoicmVjZW50IiwibiI6IjEuNSJ9", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?order=recent&cursor=eyJvIjoicmVjZW50IiwibiI6Ijk5OTk5OTk5OTk5OTk5OTk5OTk5In0", NULL, NULL, NULL,
		 400, "bad_request", NULL},
		{"GET", "/v1/memory?q=%FF", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?tag=caf%C3", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?updated_after=2020-01-01T00:00:00%2B16:00", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?updated_after=yesterday", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?scope=everything", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?prefix=a%20b", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?node=CEO", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?q=", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory?tag=", NULL, NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/memory/mesh/exists/history?limit=0", NULL, NULL, NULL, 400, "bad_request", NULL},
		/* batches */
		{"POST", "/v1/batch", NULL, "{\"ops\":[]}", NULL, 422, "validation_failed", "ops"},
		{"POST", "/v1/batch", NULL, "{\"op\":[]}", NULL, 422, "validation_failed", "ops"},
		{"POST", "/v1/batch", NULL, "[]", NULL, 422, "validation_failed", "ops"},
		{"POST", "/v1/batch", NULL, batch_big, NULL, 422, "validation_failed", "ops"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":1},{\"op\":\"copy\"}]}",
		 NULL, 422, "validation_failed", "ops[1].op"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\"}]}", NULL, 422,
		 "validation_failed", "ops[0].value"},
		/* Where a refusal points inside a batch (kept when the validation became cm_batch_check). */
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"get\",\"scope\":\"mesh\",\"key\":\"b1\"},7]}", NULL, 422,
		 "validation_failed", "ops[1]"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"get\",\"scope\":\"mesh\",\"key\":\"b1\",\"colour\":1}]}", NULL,
		 422, "validation_failed", "ops[0].colour"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"get\",\"scope\":\"mesh\",\"key\":\"b1\"}],\"atomic\":true}", NULL,
		 422, "validation_failed", "atomic"},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"patch\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":{},\"ttl\":5}]}", NULL, 422,
		 "validation_failed", "ops[0].ttl"},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"AKIAIOSFODNN7EXAMPLE\",\"value\":1}]}", NULL, 422,
		 "secret_detected", "ops[0].key"},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":1,\"if_none_match\":\"1\"}]}", NULL, 422,
		 "validation_failed", "ops[0].if_none_match"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"get\",\"scope\":\"meshy\",\"key\":\"b1\"}]}", NULL, 422,
		 "validation_failed", "ops[0].scope"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"delete\",\"scope\":\"mesh\",\"key\":\"b1\",\"if_match\":\"x\"}]}",
		 NULL, 422, "validation_failed", "ops[0].if_match"},
		{"POST", "/v1/batch", NULL, "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":\"AKIAIOSFODNN7EXAMPLE\"}]}",
		 NULL, 422, "secret_detected", "ops[0].value"},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":1},{\"op\":\"put\",\"scope\":\"mesh\","
		 "\"key\":\"exists\",\"value\":5,\"if_match\":7}]}",
		 NULL, 409, "conflict", NULL},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":1},{\"op\":\"get\",\"scope\":\"mesh\","
		 "\"key\":\"absent\"}]}",
		 NULL, 404, "not_found", NULL},
		{"POST", "/v1/batch", NULL,
		 "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"b1\",\"value\":1},{\"op\":\"patch\",\"scope\":\"mesh\","
		 "\"key\":\"absent\",\"value\":{}}]}",
		 NULL, 404, "not_found", NULL},
	};
	char *before = db_state();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct bad *c = &cases[i];
		ck_assert_int_eq(http(&srv, REQ(.method = c->method, .path = c->path, .token = admin, .body = c->body,
						.content_type = c->content_type, .headers = {c->header}), &rs), 0);
		ck_assert_msg(rs.status == c->status && !strcmp(resp_error_code(&rs), c->code), "case %zu (%s %.60s): %ld %s", i,
			      c->method, c->path, rs.status, rs.body);
		expect_error(&rs, c->status, c->code);
		const cJSON *details = cJSON_GetObjectItem(resp_field(&rs, "error"), "details");
		if (c->field)
			ck_assert_msg(cJSON_IsString(cJSON_GetObjectItem(details, "field")) &&
					      !strcmp(cJSON_GetObjectItem(details, "field")->valuestring, c->field),
				      "case %zu: details %s", i, rs.body);
		ck_assert_msg(!strstr(rs.body, "ABCDEFGHIJKLMNOPQ"), "case %zu echoes a token: %s", i, rs.body);
		if (!strcmp(c->code, "secret_detected")) {
			ck_assert(cJSON_IsString(cJSON_GetObjectItem(details, "kind")));
			ck_assert_msg(!strstr(rs.body, "AKIAIOSFODNN7EXAMPLE") && !strstr(rs.body, "MIIEpAIBAAKCAQEA") &&
					      !strstr(rs.body, "abcdefghijklmnopqrstuvwxyz0123"),
				      "case %zu echoes the secret: %s", i, rs.body);
		}
		if (!strcmp(c->path, "/v1/batch") && (c->status == 409 || strchr(c->field ? c->field : "", '[')))
			ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(details, "index")), "case %zu: no index: %s", i, rs.body);
		resp_free(&rs);
		char *after = db_state();
		ck_assert_msg(!strcmp(before, after), "case %zu changed the database", i);
		free(after);
	}
	free(before);
}
END_TEST

START_TEST(batches)
{
	struct http_resp rs;
	const char *body =
		"{\"ops\":[{\"op\":\"put\",\"scope\":\"project:beta\",\"key\":\"plan\",\"value\":{\"step\":1},\"tags\":[\"plan\"]},"
		"{\"op\":\"patch\",\"scope\":\"project:beta\",\"key\":\"plan\",\"value\":{\"owner\":\"ceo\"},\"if_match\":\"1\"},"
		"{\"op\":\"get\",\"scope\":\"project:beta\",\"key\":\"plan\"},"
		"{\"op\":\"put\",\"scope\":\"project:beta\",\"key\":\"tmp\",\"value\":1,\"if_none_match\":\"*\"},"
		"{\"op\":\"delete\",\"scope\":\"project:beta\",\"key\":\"tmp\",\"if_match\":1.0},"
		"{\"op\":\"put\",\"scope\":\"project:beta\",\"key\":\"brief\",\"value\":1,\"ttl\":60.0}]}";
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = admin, .body = body), &rs), 0);
	ck_assert_msg(rs.status == 200, "%s", rs.body);
	const cJSON *res = resp_field(&rs, "results");
	ck_assert_int_eq(cJSON_GetArraySize(res), 6);
	const long want[] = {201, 200, 200, 201, 204, 201};
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(res, i), "status")->valueint, want[i]);
	const cJSON *got = cJSON_GetObjectItem(cJSON_GetArrayItem(res, 2), "entry");
	ck_assert_int_eq(cJSON_GetObjectItem(got, "version")->valueint, 2);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(got, "value"), "owner")->valuestring, "ceo");
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 4), "entry"));
	resp_free(&rs);
	/* Each write its own revision, in op order. */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM changes WHERE scope = 'project:beta'"), 5);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM (SELECT revision, row_number() OVER (ORDER BY revision) rn,"
				      " row_number() OVER (ORDER BY name, version) FROM changes WHERE scope = 'project:beta'"
				      " AND name = 'plan') t"),
			 2);
	/* All or nothing: a failing third op undoes the first two. */
	char *before = db_state();
	body = "{\"ops\":[{\"op\":\"put\",\"scope\":\"project:beta\",\"key\":\"plan\",\"value\":{\"step\":2}},"
	       "{\"op\":\"put\",\"scope\":\"project:beta\",\"key\":\"new\",\"value\":1},"
	       "{\"op\":\"put\",\"scope\":\"project:beta\",\"key\":\"plan\",\"value\":3,\"if_match\":2}]}";
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = admin, .body = body), &rs), 0);
	expect_error(&rs, 409, "conflict");
	const cJSON *d = cJSON_GetObjectItem(resp_field(&rs, "error"), "details");
	ck_assert_int_eq(cJSON_GetObjectItem(d, "index")->valueint, 2);
	ck_assert_int_eq(cJSON_GetObjectItem(d, "current_version")->valueint, 3);
	resp_free(&rs);
	char *after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	/* A refused op names its index, before anything runs. */
	body = "{\"ops\":[{\"op\":\"get\",\"scope\":\"mesh\",\"key\":\"x\"},{\"op\":\"put\",\"scope\":\"node:sec\",\"key\":\"x\",\"value\":1}]}";
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = tok[T_CEO], .body = body), &rs), 0);
	expect_error(&rs, 403, "forbidden");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(resp_field(&rs, "error"), "details"), "index")->valueint, 1);
	resp_free(&rs);
}
END_TEST

static void keys_ascend(const cJSON *it, void *ctx)
{
	char *prev = ctx, k[300];
	snprintf(k, sizeof k, "%s/%s", cJSON_GetObjectItem(it, "scope")->valuestring, cJSON_GetObjectItem(it, "key")->valuestring);
	ck_assert_msg(strcmp(prev, k) < 0, "%s after %s", k, prev);
	snprintf(prev, 300, "%s", k);
}

static void revisions_descend(const cJSON *it, void *ctx)
{
	double *last = ctx, r = cJSON_GetObjectItem(it, "revision")->valuedouble;
	ck_assert(r < *last);
	*last = r;
}

START_TEST(listing_filters_and_pages)
{
	struct http_resp rs;
	/* 250 entries in three batches, tagged by remainder, written by two nodes. */
	static char body[32768];
	for (int b = 0; b < 3; b++) {
		int n = snprintf(body, sizeof body, "{\"ops\":[");
		for (int i = b * 100; i < (b + 1) * 100 && i < 250; i++)
			n += snprintf(body + n, sizeof body - (size_t)n,
				      "%s{\"op\":\"put\",\"scope\":\"%s\",\"key\":\"list.%03d\",\"value\":%d,\"tags\":[\"r%d\"]}",
				      i > b * 100 ? "," : "", i % 2 && b != 1 ? "user:alice" : "mesh", i, i, i % 3);
		snprintf(body + n, sizeof body - (size_t)n, "]}");
		/* The middle hundred by sec, all in mesh; the rest by admin, odd ones in user:alice. */
		ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = b == 1 ? tok[T_SEC] : admin,
						.body = body), &rs), 0);
		ck_assert_msg(rs.status == 200, "%s", rs.body);
		resp_free(&rs);
	}
	/* Pages by key: every entry once, in order; by recency: revisions only go down. */
	char prev[300] = "", path[512];
	int pages;
	ck_assert_int_eq(walk_pages("/v1/memory?scope=mesh&scope=user:alice&prefix=list.&limit=100", tok[T_DASH],
				    keys_ascend, prev, 0, &pages),
			 250);
	ck_assert_int_eq(pages, 3);
	double last_rev = 1e18;
	ck_assert_int_eq(walk_pages("/v1/memory?prefix=list.&order=recent&limit=70", admin, revisions_descend, &last_rev, 0,
				    &pages),
			 250);
	ck_assert_int_eq(pages, 4);
	/* A cursor of one order is refused by the other. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?prefix=list.&order=recent&limit=1", .token = admin), &rs), 0);
	snprintf(path, sizeof path, "/v1/memory?order=key&cursor=%s", resp_field(&rs, "next_cursor")->valuestring);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = admin), &rs), 0);
	expect_error(&rs, 400, "bad_request");
	resp_free(&rs);

	/* A prefix is literal: '_' is no wildcard. */
	ck_assert_int_eq(put(admin, "/v1/memory/mesh/under_score", "{\"value\":1}", &rs), 201);
	resp_free(&rs);
	ck_assert_int_eq(put(admin, "/v1/memory/mesh/underXscore", "{\"value\":1}", &rs), 201);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?prefix=under_", .token = admin), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "key")->valuestring, "under_score");
	resp_free(&rs);

	/* Filters: scope, tag (each given must be carried), node, updated_after. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?scope=user:alice&prefix=list.&tag=r0&limit=1000", .token = admin), &rs), 0);
	int count = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, resp_field(&rs, "items"))
	{
		ck_assert_str_eq(cJSON_GetObjectItem(it, "scope")->valuestring, "user:alice");
		ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(it, "tags"), 0)->valuestring, "r0");
		count++;
	}
	int want = 0;
	for (int i = 0; i < 250; i++)
		want += i % 2 && (i < 100 || i >= 200) && i % 3 == 0;
	ck_assert_int_eq(count, want);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?prefix=list.&tag=r0&tag=r1", .token = admin), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 0);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?prefix=list.&node=sec&limit=1000", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 100);
	cJSON_ArrayForEach(it, resp_field(&rs, "items")) ck_assert_str_eq(cJSON_GetObjectItem(it, "node")->valuestring, "sec");
	resp_free(&rs);
	char *mark = db_value(pg, "SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
				  " FROM memory WHERE key = 'list.200'", 0, NULL);
	snprintf(path, sizeof path, "/v1/memory?prefix=list.&updated_after=%s&limit=1000", mark);
	free(mark);
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	cJSON_ArrayForEach(it, resp_field(&rs, "items")) ck_assert_int_gt(cJSON_GetObjectItem(it, "value")->valueint, 200);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 49);
	resp_free(&rs);
}
END_TEST

START_TEST(search_ranks_the_phrase_first)
{
	struct http_resp rs;
	const char *docs[][3] = {
		{"/v1/memory/mesh/notes.board", "{\"value\":\"Board games night is on Friday; the meeting room is booked\"}"},
		{"/v1/memory/mesh/notes.moved", "{\"value\":{\"text\":\"We moved the rack. Meeting of the board is later.\"}}"},
		{"/v1/memory/mesh/notes.meeting",
		 "{\"value\":{\"summary\":\"The quarterly board meeting moved to Thursday afternoon\",\"n\":3},\"tags\":[\"calendar\"]}"},
		{"/v1/memory/project:alpha/board.meeting", "{\"value\":\"Alpha: board meeting notes, nothing moved\"}"},
		{"/v1/memory/user:alice/unrelated", "{\"value\":\"Alice prefers short answers\"}"},
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		ck_assert_int_eq(put(admin, docs[i][0], docs[i][1], &rs), 201);
		resp_free(&rs);
	}
	/* A phrase from the value ranks its entry first. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=board%20meeting%20moved%20to%20thursday", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_ge(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "key")->valuestring, "notes.meeting");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=%22board%20meeting%20moved%22", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_ge(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "key")->valuestring, "notes.meeting");
	resp_free(&rs);
	/* Several match; the phrase still comes first, and stemming finds "meetings". */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=board%20meetings%20moved&limit=2", .token = tok[T_DASH]), &rs), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "key")->valuestring, "notes.meeting");
	ck_assert(cJSON_IsString(resp_field(&rs, "next_cursor")));
	char path[1200];
	snprintf(path, sizeof path, "/v1/memory?q=board%%20meetings%%20moved&limit=2&cursor=%s",
		 resp_field(&rs, "next_cursor")->valuestring);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1); /* three match in all */
	resp_free(&rs);
	/* Combined with filters: scope, tag; and only readable scopes. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=board%20meeting&scope=project:alpha", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "key")->valuestring, "board.meeting");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=board&tag=calendar", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=board%20meeting", .token = tok[T_PROJ]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	resp_free(&rs);
	/* Keys and tags are searched too. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=calendar", .token = tok[T_DASH]), &rs), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "key")->valuestring, "notes.meeting");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?q=unrelated", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	resp_free(&rs);
}
END_TEST

START_TEST(ttl_expires)
{
	struct http_resp rs;
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/short.lived", "{\"value\":\"soon gone\",\"ttl\":1}", &rs), 201);
	ck_assert(cJSON_IsString(resp_field(&rs, "expires_at")));
	resp_free(&rs);
	/* An offset is honoured; the answer is UTC with milliseconds. */
	time_t at = time(NULL) + 400 * 86400;
	time_t wall = at + 3600;
	char body[128], want[40];
	strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&at));
	int n = (int)strftime(body, sizeof body, "{\"value\":1,\"expires_at\":\"%Y-%m-%dT%H:%M:%S", gmtime(&wall));
	snprintf(body + n, sizeof body - (size_t)n, "+01:00\"}");
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/dated", body, &rs), 201);
	ck_assert_str_eq(resp_field(&rs, "expires_at")->valuestring, want);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/short.lived", .token = tok[T_CEO])), 200);
	usleep(1300 * 1000);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/short.lived", .token = tok[T_CEO])), 404);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?prefix=short.", .token = tok[T_CEO]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 0);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PATCH", .path = "/v1/memory/mesh/short.lived", .token = tok[T_CEO],
				       .body = "{}", .content_type = "application/merge-patch+json")), 404);
	/* Written again after expiry: created anew, the version counting on; a PUT without a ttl keeps none. */
	ck_assert_int_eq(put(tok[T_CEO], "/v1/memory/mesh/short.lived", "{\"value\":\"soon gone\"}", &rs), 201);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 2);
	ck_assert(cJSON_IsNull(resp_field(&rs, "expires_at")));
	resp_free(&rs);
}
END_TEST

START_TEST(audit_log)
{
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/audit?limit=1", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	long long since = (long long)resp_field(&rs, "next")->valuedouble;
	resp_free(&rs);
	ck_assert_int_eq(put(tok[T_SEC], "/v1/memory/mesh/audited", "{\"value\":1}", &rs), 201);
	char rid_put[80];
	resp_header(&rs, "X-Request-Id", rid_put, sizeof rid_put);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/node:ceo/x", .token = tok[T_SEC])), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/audited", .token = "cm_not-a-real-token")), 401);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/audited", .token = tok[T_SEC])), 200); /* a read: not logged */
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/audit", .token = tok[T_DASH])), 403);
	char path[128];
	snprintf(path, sizeof path, "/v1/audit?since=%lld", since);
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	const cJSON *items = resp_field(&rs, "items");
	ck_assert_int_eq(cJSON_GetArraySize(items), 4);
	const char *actions[] = {"memory.put", "memory.get", "memory.get", "audit.list"};
	const long statuses[] = {201, 403, 401, 403};
	const char *tokens[] = {tok_id[T_SEC], tok_id[T_SEC], NULL, tok_id[T_DASH]};
	for (int i = 0; i < 4; i++) {
		const cJSON *it = cJSON_GetArrayItem(items, i);
		ck_assert_str_eq(cJSON_GetObjectItem(it, "action")->valuestring, actions[i]);
		ck_assert_int_eq(cJSON_GetObjectItem(it, "status")->valueint, statuses[i]);
		if (tokens[i])
			ck_assert_str_eq(cJSON_GetObjectItem(it, "token_id")->valuestring, tokens[i]);
		else
			ck_assert(cJSON_IsNull(cJSON_GetObjectItem(it, "token_id")));
		ck_assert_str_eq(cJSON_GetObjectItem(it, "remote_addr")->valuestring, "127.0.0.1");
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(it, "at")));
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(it, "request_id")));
	}
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "request_id")->valuestring, rid_put);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "node")->valuestring, "sec");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "target")->valuestring, "mesh/audited");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 1), "target")->valuestring, "node:ceo/x");
	resp_free(&rs);
	/* Token operations are audited too. */
	char secret[47], id[29];
	create_token(&srv, admin, "{\"label\":\"audited\"}", secret, id);
	snprintf(path, sizeof path, "/v1/tokens/%s", id);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = path, .token = admin)), 204);
	char *n = db_value(pg, "SELECT count(*) FROM audit WHERE action IN ('token.create', 'token.revoke') AND status IN (201, 204)"
			       " AND (target = $1 OR action = 'token.create')", 1, (const char *[]){id});
	ck_assert_int_ge(atoi(n), 2);
	free(n);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/audit?since=-1", .token = admin)), 400);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/audit?limit=5000", .token = admin)), 400);
}
END_TEST

/* The mechanism behind the feed's promise, shown deterministically: while one writer's
 * transaction is open, another writer waits, so revisions commit in the order they are drawn.
 * Readers do not wait. */
START_TEST(writes_commit_in_revision_order)
{
	PGconn *a = db_connect(NULL), *b = db_connect(NULL);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	PQclear(PQexec(a, "BEGIN"));
	PGresult *r = PQexec(a, "SELECT o_status, (o_entry::jsonb ->> 'revision')::bigint FROM cm_memory_write('put', 'mesh',"
				"'order.first', '1', NULL, NULL, NULL, NULL, false, 'ceo', 262144)");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "created");
	long long first = atoll(PQgetvalue(r, 0, 1));
	PQclear(r);
	ck_assert_int_eq(PQsendQuery(b, "SELECT (o_entry::jsonb ->> 'revision')::bigint FROM cm_memory_write('put', 'mesh',"
				     "'order.second', '2', NULL, NULL, NULL, NULL, false, 'sec', 262144)"),
			 1);
	/* An HTTP read meanwhile is served at once; the HTTP write waits like b. */
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory?prefix=order.", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 0); /* the first write is not committed */
	resp_free(&rs);
	usleep(300 * 1000);
	ck_assert_int_eq(PQconsumeInput(b), 1);
	ck_assert_msg(PQisBusy(b), "a second writer went ahead while the first held its revision uncommitted");
	PQclear(PQexec(a, "COMMIT"));
	r = PQgetResult(b);
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_gt(atoll(PQgetvalue(r, 0, 0)), first);
	PQclear(r);
	while ((r = PQgetResult(b)))
		PQclear(r);
	PQfinish(a);
	PQfinish(b);
}
END_TEST

/* The guard and the value limit follow the configuration. */
START_TEST(configured_guard_and_limit)
{
	struct server other;
	const char *args[] = {"--secret-guard", "jwt", "--max-value", "1KiB", NULL};
	ck_assert_int_eq(server_start(&other, admin, args), 0);
	struct http_resp rs;
	ck_assert_int_eq(http(&other, REQ(.method = "PUT", .path = "/v1/memory/mesh/guard.aws", .token = admin,
					  .body = "{\"value\":\"AKIAIOSFODNN7EXAMPLE\"}"), &rs), 0);
	ck_assert_int_eq(rs.status, 201); /* not a kind this server refuses */
	resp_free(&rs);
	ck_assert_int_eq(http(&other, REQ(.method = "PUT", .path = "/v1/memory/mesh/guard.jwt", .token = admin,
					  .body = "{\"value\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl\"}"), &rs), 0);
	expect_error(&rs, 422, "secret_detected");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rs.json, "error"), "details"), "kind")->valuestring,
			 "jwt");
	resp_free(&rs);
	static char body[2048];
	snprintf(body, sizeof body, "{\"value\":\"%01500d\"}", 7);
	ck_assert_int_eq(http(&other, REQ(.method = "PUT", .path = "/v1/memory/mesh/guard.big", .token = admin, .body = body), &rs), 0);
	expect_error(&rs, 413, "payload_too_large");
	resp_free(&rs);
	/* A patch that makes the value too large is refused as well, and changes nothing. */
	ck_assert_int_eq(http(&other, REQ(.method = "PUT", .path = "/v1/memory/mesh/guard.grow", .token = admin,
					  .body = "{\"value\":{\"a\":1}}"), &rs), 0);
	ck_assert_int_eq(rs.status, 201);
	resp_free(&rs);
	snprintf(body, sizeof body, "{\"b\":\"%01000d\"}", 7);
	ck_assert_int_eq(http(&other, REQ(.method = "PATCH", .path = "/v1/memory/mesh/guard.grow", .token = admin, .body = body,
					  .content_type = "application/merge-patch+json"), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	ck_assert_int_eq(http(&other, REQ(.method = "PATCH", .path = "/v1/memory/mesh/guard.grow", .token = admin, .body = body,
					  .content_type = "application/merge-patch+json"), &rs), 0);
	ck_assert_int_eq(rs.status, 200); /* the same patch again: a no-op */
	resp_free(&rs);
	snprintf(body, sizeof body, "{\"c\":\"%0100d\"}", 7);
	ck_assert_int_eq(http(&other, REQ(.method = "PATCH", .path = "/v1/memory/mesh/guard.grow", .token = admin, .body = body,
					  .content_type = "application/merge-patch+json"), &rs), 0);
	expect_error(&rs, 413, "payload_too_large");
	resp_free(&rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE key = 'guard.grow'"), 2);
	ck_assert_int_eq(server_stop(&other), 0);
}
END_TEST

/* A page stops at about 4 MiB of values, however high the limit; the cursor carries on. */
START_TEST(pages_are_bounded_in_bytes)
{
	static char body[260 * 1024];
	snprintf(body, sizeof body, "{\"value\":\"%0*d\"}", 250 * 1024, 0);
	char path[128];
	struct http_resp rs;
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof path, "/v1/memory/project:big/v%02d", i);
		ck_assert_int_eq(put(admin, path, body, &rs), 201);
		resp_free(&rs);
	}
	int pages;
	ck_assert_int_eq(walk_pages("/v1/memory?scope=project:big&limit=1000", admin, NULL, NULL, 4 * 1024 * 1024 + 300 * 1024,
				    &pages),
			 20);
	ck_assert_int_eq(pages, 2);
	/* History pages the same way. */
	for (int i = 0; i < 19; i++) {
		body[12] = (char)('1' + i % 9);
		ck_assert_int_eq(put(admin, "/v1/memory/project:big/v00", body, &rs), 200);
		resp_free(&rs);
	}
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/project:big/v00/history?limit=1000", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_lt(cJSON_GetArraySize(resp_field(&rs, "items")), 20);
	ck_assert(cJSON_IsString(resp_field(&rs, "next_cursor")));
	resp_free(&rs);
}
END_TEST

/* A key that is a token is refused, and named by kind in the access and audit logs. */
START_TEST(secret_keys_stay_out_of_logs)
{
	const char *token_key = "cm_Zk3JvbS1hLXRlc3QtdGhhdC1pcy1ub3QtYS1zZWNyZX";
	char path[128];
	snprintf(path, sizeof path, "/v1/memory/mesh/%s", token_key);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = path, .token = admin, .body = "{\"value\":1}")), 422);
	ck_assert_int_eq(status_at(&srv, REQ(.path = path, .token = tok[T_PROJ])), 403);
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/audit?limit=2", .token = admin), &rs), 0);
	ck_assert_ptr_null(strstr(rs.body, token_key));
	ck_assert_ptr_nonnull(strstr(rs.body, "withheld"));
	resp_free(&rs);
	usleep(100 * 1000); /* the access line is written as the request completes */
	FILE *f = fopen(srv.log, "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	while (fgets(line, sizeof line, f))
		ck_assert_msg(!strstr(line, token_key), "the log holds the token: %s", line);
	fclose(f);
}
END_TEST

/* RFC 7386 Appendix A, every example, against the merge patch the server runs. */
START_TEST(merge_patch_rfc7386_examples)
{
	const char *cases[][3] = {
		{"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
		{"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
		{"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
		{"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
		{"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
		{"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
		{"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
		{"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
		{"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
		{"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
		{"{\"a\":\"foo\"}", "null", "null"},
		{"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
		{"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
		{"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
		{"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *same = db_value(pg, "SELECT cm_merge_patch($1::jsonb, $2::jsonb) = $3::jsonb", 3, cases[i]);
		ck_assert_msg(same && !strcmp(same, "t"), "example %zu: %s + %s", i + 1, cases[i][0], cases[i][1]);
		free(same);
	}
}
END_TEST

TCase *memory_tcase(void);
TCase *memory_tcase(void)
{
	TCase *tc = tcase_create("memory");
	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, memory_up, memory_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, crud_etags_and_history);
	tcase_add_test(tc, history_pages);
	tcase_add_test(tc, access_matrix);
	tcase_add_test(tc, concurrent_increments_lose_nothing);
	tcase_add_test(tc, writes_commit_in_revision_order);
	tcase_add_test(tc, bad_inputs_change_nothing);
	tcase_add_test(tc, batches);
	tcase_add_test(tc, merge_patch_rfc7386_examples);
	tcase_add_test(tc, listing_filters_and_pages);
	tcase_add_test(tc, search_ranks_the_phrase_first);
	tcase_add_test(tc, ttl_expires);
	tcase_add_test(tc, audit_log);
	tcase_add_test(tc, configured_guard_and_limit);
	tcase_add_test(tc, pages_are_bounded_in_bytes);
	tcase_add_test(tc, secret_keys_stay_out_of_logs);
	return tc;
}
