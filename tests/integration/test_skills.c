/* Integration tests of /v1/skills, /v1/nodes and /v1/messages against a real clawmeshd and a real
 * PostgreSQL: byte-exact publish and fetch, versions and the sha256 no-op rule, front matter, bad
 * input with the database checked afterwards, listings, the node registry with heartbeat expiry
 * and capability routing, and every bridge example of the seed document. */
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

enum { T_CEO, T_SEC, T_DASH, T_PROJ, NTOK };
static char tok[NTOK][47], tok_id[NTOK][29];

static void skills_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start(&srv, admin, NULL), 0);
	create_token(&srv, admin, "{\"label\":\"ceo\",\"node\":\"ceo\"}", tok[T_CEO], tok_id[T_CEO]);
	create_token(&srv, admin, "{\"label\":\"sec\",\"node\":\"sec\"}", tok[T_SEC], tok_id[T_SEC]);
	create_token(&srv, admin, "{\"label\":\"dashboard\",\"grants\":[{\"scope\":\"*\",\"access\":\"r\"}]}", tok[T_DASH],
		     tok_id[T_DASH]);
	create_token(&srv, admin, "{\"label\":\"alpha\",\"grants\":[{\"scope\":\"project:alpha\",\"access\":\"rw\"}]}",
		     tok[T_PROJ], tok_id[T_PROJ]);
}

static void skills_down(void)
{
	ck_assert_int_eq(server_stop(&srv), 0);
}

/* Rows of what skill, node and bridge writes touch: equal before and after = nothing written. */
static char *db_state(void)
{
	return db_value(pg,
			"SELECT (SELECT count(*) FROM skills) || '/' || (SELECT count(*) FROM skill_versions) || '/' ||"
			" (SELECT count(*) FROM nodes) || '/' || (SELECT count(*) FROM memory) || '/' ||"
			" (SELECT count(*) FROM changes) || '/' ||"
			" coalesce((SELECT md5(string_agg(s::text, ',' ORDER BY scope, name)) FROM skills s), '') || '/' ||"
			" coalesce((SELECT md5(string_agg(n.id || n.version, ',' ORDER BY id)) FROM nodes n), '')",
			0, NULL);
}

static long changes_of(const char *kind, const char *name)
{
	const char *p[] = {kind, name};
	char *v = db_value(pg, "SELECT count(*) FROM changes WHERE kind = $1 AND name = $2", 2, p);
	long n = v ? atol(v) : -1;
	free(v);
	return n;
}

static long publish_md(const char *token, const char *path, const char *md, size_t len, struct http_resp *rs)
{
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = path, .token = token, .body = md, .body_len = len,
					.content_type = "text/markdown"),
			      rs),
			 0);
	return rs->status;
}

/* sha256sum's answer for bytes, the way a node would check its local copy. */
static void sha256sum(const char *bytes, size_t len, char out[65])
{
	char file[] = "/tmp/cm-skill-XXXXXX";
	int fd = mkstemp(file);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	char cmd[64];
	snprintf(cmd, sizeof cmd, "sha256sum %s", file);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(out, 65, p));
	pclose(p);
	unlink(file);
	ck_assert_uint_eq(strlen(out), 64);
}

static const char skill_md[] = "---\n"
			       "name: triage\n"
			       "description: How the CEO node triages incoming mail\n"
			       "homepage: https://example.org/triage\n"
			       "metadata: {\"openclaw\":{\"emoji\":\"\xf0\x9f\x93\xac\",\"requires\":{\"bins\":[\"curl\"]}}}\n"
			       "---\n"
			       "# Triage\n"
			       "\n"
			       "Sort by urgency; hand \xc3\xbc" "ber to Sec when it is a chore.\n";

START_TEST(publish_fetch_byte_exact_and_versions)
{
	struct http_resp rs;
	char b[256], sha[65];
	size_t len = strlen(skill_md);
	char *before = db_state();
	ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/triage", skill_md, len, &rs), 201);
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	ck_assert_str_eq(resp_header(&rs, "Location", b, sizeof b), "/v1/skills/mesh/triage");
	ck_assert_str_eq(resp_field(&rs, "name")->valuestring, "triage");
	ck_assert_str_eq(resp_field(&rs, "description")->valuestring, "How the CEO node triages incoming mail");
	ck_assert_str_eq(resp_field(&rs, "node")->valuestring, "ceo");
	ck_assert_int_eq(resp_field(&rs, "size")->valueint, (int)len);
	ck_assert_ptr_null(resp_field(&rs, "content"));
	/* The rest of the front matter is the metadata, OpenClaw's inline JSON included. */
	const cJSON *meta = resp_field(&rs, "metadata");
	ck_assert_str_eq(cJSON_GetObjectItem(meta, "homepage")->valuestring, "https://example.org/triage");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "metadata"), "openclaw"), "emoji")
				 ->valuestring,
			 "\xf0\x9f\x93\xac");
	ck_assert_ptr_null(cJSON_GetObjectItem(meta, "name"));
	sha256sum(skill_md, len, sha);
	ck_assert_str_eq(resp_field(&rs, "sha256")->valuestring, sha);
	resp_free(&rs);
	free(before);

	/* Raw markdown back: every byte as published, the trailing newline and UTF-8 included. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/triage", .token = tok[T_SEC],
					.headers = {"Accept: text/markdown"}),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(resp_header(&rs, "Content-Type", b, sizeof b), "text/markdown; charset=utf-8");
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	ck_assert_uint_eq(rs.len, len);
	ck_assert(memcmp(rs.body, skill_md, len) == 0);
	resp_free(&rs);
	/* JSON by default (and when JSON ranks higher), with the content. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/triage", .token = tok[T_SEC],
					.headers = {"Accept: text/markdown;q=0.5, application/json"}),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_str_eq(resp_field(&rs, "content")->valuestring, skill_md);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 1);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/triage", .token = tok[T_SEC], .headers = {"If-None-Match: \"1\""})),
			 304);

	/* The same bytes again, raw or as JSON: 200, nothing new, no change row. */
	long rows = changes_of("skill", "triage");
	before = db_state();
	ck_assert_int_eq(publish_md(tok[T_SEC], "/v1/skills/mesh/triage", skill_md, len, &rs), 200);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 1);
	ck_assert_str_eq(resp_field(&rs, "node")->valuestring, "ceo");
	resp_free(&rs);
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "content", skill_md);
	char *json = cJSON_PrintUnformatted(doc);
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/triage", .token = tok[T_CEO], .body = json), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	char *after = db_state();
	ck_assert_str_eq(before, after);
	ck_assert_int_eq(changes_of("skill", "triage"), rows);
	free(before);
	free(after);

	/* Changed bytes: a new version, by whoever published it; the old one stays readable. */
	char v2[sizeof skill_md + 32];
	snprintf(v2, sizeof v2, "%sAlso: escalate invoices.\n", skill_md);
	ck_assert_int_eq(publish_md(tok[T_SEC], "/v1/skills/mesh/triage", v2, strlen(v2), &rs), 201);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 2);
	ck_assert_str_eq(resp_field(&rs, "node")->valuestring, "sec");
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/triage?version=1", .token = tok[T_CEO],
					.headers = {"Accept: text/markdown"}),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_uint_eq(rs.len, len);
	ck_assert(memcmp(rs.body, skill_md, len) == 0);
	ck_assert_str_eq(resp_header(&rs, "ETag", b, sizeof b), "\"1\"");
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/triage?version=3", .token = tok[T_CEO])), 404);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/triage?version=0", .token = tok[T_CEO])), 400);

	/* Preconditions as memory's. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/triage", .token = tok[T_CEO],
					.body = "{\"content\":\"stale\"}", .headers = {"If-Match: \"1\""}),
			      &rs),
			 0);
	expect_error(&rs, 412, "version_mismatch");
	ck_assert_int_eq(resp_detail(&rs, "current_version")->valueint, 2);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/triage", .token = tok[T_CEO],
					.body = "{\"content\":\"new\"}", .headers = {"If-None-Match: *"}),
			      &rs),
			 0);
	expect_error(&rs, 412, "already_exists");
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/fresh", .token = tok[T_CEO],
				       .body = "{\"content\":\"fresh\"}", .headers = {"If-None-Match: *"})),
			 201);

	/* Versions, newest first, without content; pages of one. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/triage/versions?limit=1", .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	const cJSON *items = resp_field(&rs, "items");
	ck_assert_int_eq(cJSON_GetArraySize(items), 1);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "version")->valueint, 2);
	ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "content"));
	char url[1200];
	snprintf(url, sizeof url, "/v1/skills/mesh/triage/versions?limit=1&cursor=%s", resp_field(&rs, "next_cursor")->valuestring);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = url, .token = tok[T_DASH]), &rs), 0);
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "version")->valueint, 1);
	ck_assert(cJSON_IsNull(resp_field(&rs, "next_cursor")));
	resp_free(&rs);

	/* Delete: a tombstone; the versions stay, the name can be published again. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/skills/mesh/triage", .token = tok[T_CEO],
				       .headers = {"If-Match: \"1\""})),
			 412);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/skills/mesh/triage", .token = tok[T_CEO])), 204);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/skills/mesh/triage", .token = tok[T_CEO])), 404);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/triage", .token = tok[T_CEO])), 404);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/triage?version=2", .token = tok[T_CEO])), 200);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/triage/versions", .token = tok[T_CEO])), 200);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/skills/mesh/never/versions", .token = tok[T_CEO])), 404);
	ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/triage", skill_md, len, &rs), 201);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 3);
	resp_free(&rs);
	/* One change row per publish and per delete, in revision order. */
	char *ops = db_value(pg,
			     "SELECT string_agg(op || version, ',' ORDER BY revision) FROM changes"
			     " WHERE kind = 'skill' AND scope = 'mesh' AND name = 'triage'",
			     0, NULL);
	ck_assert_str_eq(ops, "put1,put2,delete2,put3");
	free(ops);
	cJSON_Delete(doc);
	free(json);
}
END_TEST

#define PUBLISHERS 4
#define PUBLISHES 15

struct publisher {
	int id;
	char failure[256];
};

/* Publishes new content again and again, alternating with bridge publishes of the same skill. */
static void *publisher(void *arg)
{
	struct publisher *p = arg;
	for (int i = 0; i < PUBLISHES && !p->failure[0]; i++) {
		char body[160];
		struct http_resp rs;
		int e;
		if (i % 3 == 2) {
			snprintf(body, sizeof body, "{\"type\":\"skill\",\"name\":\"raced\",\"content\":\"writer %d, round %d\"}", p->id, i);
			e = http(&srv, REQ(.method = "POST", .path = "/v1/messages", .token = tok[p->id % 2 ? T_SEC : T_CEO], .body = body), &rs);
			if (!e && (rs.status != 200 || !strstr(rs.body, "\"status\":201")))
				e = 1;
		} else {
			snprintf(body, sizeof body, "writer %d, round %d", p->id, i);
			e = http(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/raced", .token = tok[p->id % 2 ? T_SEC : T_CEO],
					   .body = body, .content_type = "text/markdown"),
				 &rs);
			if (!e && rs.status != 201)
				e = 1;
		}
		if (e)
			snprintf(p->failure, sizeof p->failure, "%ld %.200s", rs.status, rs.body ? rs.body : "");
		resp_free(&rs);
	}
	return NULL;
}

/* Concurrent publishers of one skill: every publish is a version, numbered 1..n without a gap or
 * a duplicate, each with its change row, in revision order. */
START_TEST(concurrent_publishes_number_versions_without_gaps)
{
	pthread_t th[PUBLISHERS];
	struct publisher p[PUBLISHERS];
	memset(p, 0, sizeof p);
	for (int i = 0; i < PUBLISHERS; i++) {
		p[i].id = i;
		pthread_create(&th[i], NULL, publisher, &p[i]);
	}
	for (int i = 0; i < PUBLISHERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!p[i].failure[0], "publisher %d: %s", i, p[i].failure);
	}
	char *v = db_value(pg,
			   "SELECT count(*) || '/' || min(version) || '/' || max(version) || '/' || count(DISTINCT sha256) || '/' ||"
			   " bool_and(version = rank) FROM (SELECT version, sha256, rank() OVER (ORDER BY revision) AS rank"
			   " FROM skill_versions WHERE scope = 'mesh' AND name = 'raced') t",
			   0, NULL);
	char want[64];
	snprintf(want, sizeof want, "%d/1/%d/%d/true", PUBLISHERS * PUBLISHES, PUBLISHERS * PUBLISHES, PUBLISHERS * PUBLISHES);
	ck_assert_str_eq(v, want);
	free(v);
	ck_assert_int_eq(changes_of("skill", "raced"), PUBLISHERS * PUBLISHES);
	v = db_value(pg, "SELECT version FROM skills WHERE scope = 'mesh' AND name = 'raced'", 0, NULL);
	ck_assert_int_eq(atoi(v), PUBLISHERS * PUBLISHES);
	free(v);
}
END_TEST

/* Front matter: where description and metadata come from, and what is refused. */
START_TEST(front_matter_edge_cases)
{
	struct http_resp rs;
	/* CRLF line endings, a BOM, folded description; the bytes stay as sent. */
	static const char crlf[] = "\xef\xbb\xbf---\r\nname: crlf\r\ndescription: >-\r\n  two\r\n  lines\r\n---\r\nbody\r\n";
	ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/crlf", crlf, strlen(crlf), &rs), 201);
	ck_assert_str_eq(resp_field(&rs, "description")->valuestring, "two lines");
	ck_assert_int_eq(resp_field(&rs, "size")->valueint, (int)strlen(crlf));
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/crlf", .token = tok[T_CEO], .headers = {"Accept: text/markdown"}), &rs),
			 0);
	ck_assert_uint_eq(rs.len, strlen(crlf));
	ck_assert(memcmp(rs.body, crlf, rs.len) == 0);
	resp_free(&rs);
	/* No front matter at all: a SOUL snippet is a skill too. RFC 7763's variant is accepted. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/tone", .token = tok[T_CEO], .body = "Be brief.",
					.content_type = "text/markdown; charset=UTF-8; variant=GFM"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 201);
	ck_assert(cJSON_IsNull(resp_field(&rs, "description")));
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "metadata")), 0);
	resp_free(&rs);
	/* The request's own description, tags and metadata win over the front matter's. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/given", .token = tok[T_CEO],
					.body = "{\"content\":\"---\\nname: given\\ndescription: from the file\\n---\\nx\","
						"\"description\":\"from the request\",\"tags\":[\"mail\",\"mail\"],\"metadata\":{\"k\":1}}"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 201);
	ck_assert_str_eq(resp_field(&rs, "description")->valuestring, "from the request");
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "tags")), 1);
	ck_assert_int_eq(cJSON_GetObjectItem(resp_field(&rs, "metadata"), "k")->valueint, 1);
	resp_free(&rs);

	/* Numbers keep every digit; a name YAML reads as a number or a bool still names the skill. */
	static const char ids[] = "---\nname: 404\nchannel: 1093847561234567890\n---\n";
	ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/404", ids, strlen(ids), &rs), 201);
	ck_assert_ptr_nonnull(strstr(rs.body, "1093847561234567890"));
	resp_free(&rs);
	ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/true", "---\nname: true\n---\n", 19, &rs), 201);
	resp_free(&rs);

	/* Refused, each naming the field, with nothing written. */
	static const struct {
		const char *md, *field;
	} bad[] = {
		{"---\nname: other\n---\nx", "name"},
		{"---\nname: [a]\n---\nx", "name"},
		{"---\nname: fm\ndescription: [1, 2]\n---\nx", "description"},
		{"---\nname: fm\n", "content"},
		{"---\nname: fm\nname: fm\n---\nx", "content"},
		{"---\nname: &a fm\n---\nx", "content"},
		{"---\n- a\n- b\n---\nx", "content"},
		{"---\nmetadata: {\"a\": [1, 2\n---\nx", "content"},
	};
	char *before = db_state();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/fm", bad[i].md, strlen(bad[i].md), &rs), 422);
		expect_error(&rs, 422, "validation_failed");
		ck_assert_msg(!strcmp(resp_detail(&rs, "field")->valuestring, bad[i].field), "case %zu: %s", i, rs.body);
		resp_free(&rs);
	}
	char *after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

START_TEST(skill_bad_inputs_change_nothing)
{
	static const struct {
		const char *method, *path, *token_name, *ctype, *body;
		long status;
		const char *code, *field;
	} cases[] = {
		{"PUT", "/v1/skills/Mesh/x", "ceo", "text/markdown", "x", 400, "bad_request", NULL},
		{"PUT", "/v1/skills/mesh/Upper", "ceo", "text/markdown", "x", 400, "bad_request", NULL},
		{"PUT", "/v1/skills/mesh/-dash", "ceo", "text/markdown", "x", 400, "bad_request", NULL},
		{"PUT", "/v1/skills/node:ceo/x", "sec", "text/markdown", "x", 403, "forbidden", NULL},
		{"PUT", "/v1/skills/mesh/x", "dash", "text/markdown", "x", 403, "forbidden", NULL},
		{"PUT", "/v1/skills/mesh/x", "ceo", "text/plain", "x", 415, "unsupported_media_type", NULL},
		{"PUT", "/v1/skills/mesh/x", "ceo", "text/markdown; charset=iso-8859-1", "x", 415, "unsupported_media_type", NULL},
		{"PUT", "/v1/skills/mesh/x", "ceo", "application/json; variant=GFM", "{\"content\":\"x\"}", 415,
		 "unsupported_media_type", NULL},
		{"PUT", "/v1/skills/mesh/x", "ceo", "text/markdown", "", 422, "validation_failed", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", "text/markdown", "caf\xc3", 422, "validation_failed", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", "text/markdown", "use ghp_0123456789abcdefghijABCDEFGHIJ012345 here", 422,
		 "secret_detected", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\",\"description\":\"key AKIAABCDEFGHIJKLMNOP\"}", 422,
		 "secret_detected", "description"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\",\"metadata\":{\"t\":\"sk-abcdefghijklmnopqrstuvwxyz\"}}",
		 422, "secret_detected", "metadata"},
		/* A credential escaped in the front matter is found whatever the body overrides. */
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL,
		 "{\"content\":\"---\\nname: x\\ndescription: \\\"AKIA\\\\u0049OSFODNN7EXAMPLE\\\"\\n---\\nbody\",\"description\":\"harmless\"}",
		 422, "secret_detected", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL,
		 "{\"content\":\"---\\nname: x\\nfoo: \\\"gh\\\\x70_0123456789abcdefghijABCDEFGHIJ012345\\\"\\n---\\nbody\",\"metadata\":{}}",
		 422, "secret_detected", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\",\"colour\":1}", 422, "validation_failed", "colour"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":7}", 422, "validation_failed", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{}", 422, "validation_failed", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "[]", 422, "validation_failed", "content"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\",\"tags\":\"mail\"}", 422, "validation_failed", "tags"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\",\"metadata\":[1]}", 422, "validation_failed", "metadata"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\",\"description\":3}", 422, "validation_failed",
		 "description"},
		{"PUT", "/v1/skills/mesh/x", "ceo", NULL, "{\"content\":\"ok\"", 400, "invalid_json", NULL},
		{"DELETE", "/v1/skills/mesh/nothing-here", "ceo", NULL, NULL, 404, "not_found", NULL},
		{"DELETE", "/v1/skills/mesh/x", "dash", NULL, NULL, 403, "forbidden", NULL},
		{"GET", "/v1/skills/node:ceo/x", "sec", NULL, NULL, 403, "forbidden", NULL},
		{"GET", "/v1/skills/mesh/x?version=abc", "ceo", NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/skills?include=everything", "ceo", NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/skills?sha256=xyz", "ceo", NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/skills?sha256=0000000000000000000000000000000000000000000000000000000000000000&q=a", "ceo", NULL, NULL,
		 400, "bad_request", NULL},
		{"GET", "/v1/skills?scope=node:ceo", "sec", NULL, NULL, 403, "forbidden", NULL},
		{"GET", "/v1/skills?cursor=bm9wZQ", "ceo", NULL, NULL, 400, "bad_request", NULL},
		{"GET", "/v1/skills?limit=0", "ceo", NULL, NULL, 400, "bad_request", NULL},
	};
	char *before = db_state();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *t = !strcmp(cases[i].token_name, "ceo") ? tok[T_CEO]
				: !strcmp(cases[i].token_name, "sec") ? tok[T_SEC]
									: tok[T_DASH];
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.method = cases[i].method, .path = cases[i].path, .token = t, .body = cases[i].body,
						.body_len = cases[i].body ? strlen(cases[i].body) : 0,
						.content_type = cases[i].ctype),
				      &rs),
				 0);
		ck_assert_msg(rs.status == cases[i].status, "case %zu (%s): %ld %s", i, cases[i].path, rs.status, rs.body);
		expect_error(&rs, cases[i].status, cases[i].code);
		if (cases[i].field)
			ck_assert_msg(resp_detail(&rs, "field") && !strcmp(resp_detail(&rs, "field")->valuestring, cases[i].field),
				      "case %zu: %s", i, rs.body);
		/* The guard names the kind and never echoes the secret. */
		ck_assert_ptr_null(strstr(rs.body, "ghp_0123"));
		ck_assert_ptr_null(strstr(rs.body, "AKIAABCD"));
		resp_free(&rs);
	}
	/* Content over --max-value (256 KiB by default) but within the body limit: 413 naming it. */
	size_t big = 300 * 1024;
	char *md = malloc(big);
	memset(md, 'a', big);
	struct http_resp rs;
	ck_assert_int_eq(publish_md(tok[T_CEO], "/v1/skills/mesh/big", md, big, &rs), 413);
	expect_error(&rs, 413, "payload_too_large");
	ck_assert_str_eq(resp_detail(&rs, "field")->valuestring, "content");
	ck_assert_int_eq(resp_detail(&rs, "limit")->valueint, 256 * 1024);
	resp_free(&rs);
	free(md);
	char *after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

/* GETs a listing and joins its items into out: "scope/name" for skills, the id for nodes. */
static int items_of(const char *path, const char *token, char *out, size_t cap)
{
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = token), &rs), 0);
	ck_assert_msg(rs.status == 200, "%s: %ld %s", path, rs.status, rs.body);
	out[0] = '\0';
	int n = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, resp_field(&rs, "items"))
	{
		size_t l = strlen(out);
		const cJSON *id = cJSON_GetObjectItem(it, "id");
		if (id)
			snprintf(out + l, cap - l, "%s%s", n++ ? "," : "", id->valuestring);
		else
			snprintf(out + l, cap - l, "%s%s/%s", n++ ? "," : "", cJSON_GetObjectItem(it, "scope")->valuestring,
				 cJSON_GetObjectItem(it, "name")->valuestring);
	}
	resp_free(&rs);
	return n;
}

START_TEST(listing_search_and_sha256_lookup)
{
	struct http_resp rs;
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/node:ceo/secret-plan", .token = tok[T_CEO],
				       .body = "{\"content\":\"---\\nname: secret-plan\\ndescription: reminders for the board\\n---\\n\"}")),
			 201);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/project:alpha/reminders", .token = tok[T_PROJ],
				       .body = "{\"content\":\"---\\nname: reminders\\ndescription: Set and chase reminders\\n---\\n"
					       "Use the calendar.\",\"tags\":[\"time\"]}")),
			 201);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/research", .token = tok[T_SEC],
				       .body = "{\"content\":\"Light research: search, read, summarise; set reminders when asked.\","
					       "\"tags\":[\"time\",\"web\"]}")),
			 201);
	char names[2048];
	/* sec reads mesh and node:sec: neither node:ceo nor project:alpha. */
	items_of("/v1/skills?limit=1000", tok[T_SEC], names, sizeof names);
	ck_assert_ptr_null(strstr(names, "node:ceo/"));
	ck_assert_ptr_null(strstr(names, "project:alpha/"));
	ck_assert_ptr_nonnull(strstr(names, "mesh/research"));
	items_of("/v1/skills?limit=1000", tok[T_DASH], names, sizeof names);
	ck_assert_ptr_nonnull(strstr(names, "node:ceo/secret-plan"));
	/* Search over name, description and content; the name weighs most. */
	ck_assert_int_eq(items_of("/v1/skills?q=reminders", tok[T_DASH], names, sizeof names), 3);
	ck_assert_str_eq(names, "project:alpha/reminders,node:ceo/secret-plan,mesh/research");
	ck_assert_int_eq(items_of("/v1/skills?q=reminders", tok[T_SEC], names, sizeof names), 1);
	ck_assert_int_eq(items_of("/v1/skills?tag=time&tag=web", tok[T_DASH], names, sizeof names), 1);
	ck_assert_str_eq(names, "mesh/research");
	/* node = the latest version's publisher: research is sec's, triage (v3 by ceo) is not. */
	items_of("/v1/skills?node=sec&scope=mesh", tok[T_DASH], names, sizeof names);
	ck_assert_ptr_nonnull(strstr(names, "mesh/research"));
	ck_assert_ptr_null(strstr(names, "mesh/triage"));
	ck_assert_int_eq(items_of("/v1/skills?scope=project:alpha&scope=node:ceo", tok[T_DASH], names, sizeof names), 2);
	/* Pages of two, walked by cursor, see every skill once. */
	int all = items_of("/v1/skills?limit=1000", tok[T_DASH], names, sizeof names), seen = 0, pages = 0;
	char cursor[1100] = "", url[1300];
	do {
		snprintf(url, sizeof url, "/v1/skills?limit=2%s%s", cursor[0] ? "&cursor=" : "", cursor);
		ck_assert_int_eq(http(&srv, REQ(.path = url, .token = tok[T_DASH]), &rs), 0);
		ck_assert_int_eq(rs.status, 200);
		seen += cJSON_GetArraySize(resp_field(&rs, "items"));
		const cJSON *next = resp_field(&rs, "next_cursor");
		snprintf(cursor, sizeof cursor, "%s", cJSON_IsString(next) ? next->valuestring : "");
		resp_free(&rs);
	} while (cursor[0] && ++pages < 100);
	ck_assert_int_eq(seen, all);
	/* include=content adds the text. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills?scope=mesh&q=research&include=content", .token = tok[T_SEC]), &rs), 0);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(resp_field(&rs, "items"), 0), "content")->valuestring,
			 "Light research: search, read, summarise; set reminders when asked.");
	resp_free(&rs);

	/* Which version has these bytes? A node asks about its local copy. */
	static const char copy[] = "Light research: search, read, summarise; set reminders when asked.";
	char sha[65], path[200];
	sha256sum(copy, strlen(copy), sha);
	snprintf(path, sizeof path, "/v1/skills?sha256=%s", sha);
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = tok[T_CEO]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	const cJSON *hit = cJSON_GetArrayItem(resp_field(&rs, "items"), 0);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(hit, "current")));
	ck_assert_int_eq(cJSON_GetObjectItem(hit, "latest_version")->valueint, 1);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/research", .token = tok[T_SEC],
				       .body = "{\"content\":\"Light research, revised.\"}")),
			 201);
	for (char *c = sha; *c; c++) /* upper case is accepted too */
		*c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
	snprintf(path, sizeof path, "/v1/skills?sha256=%s", sha);
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = tok[T_CEO]), &rs), 0);
	hit = cJSON_GetArrayItem(resp_field(&rs, "items"), 0);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(hit, "current")));
	ck_assert_int_eq(cJSON_GetObjectItem(hit, "version")->valueint, 1);
	ck_assert_int_eq(cJSON_GetObjectItem(hit, "latest_version")->valueint, 2);
	resp_free(&rs);
	/* Versions in scopes the caller cannot read are not shown. */
	char plan[65];
	static const char plan_md[] = "---\nname: secret-plan\ndescription: reminders for the board\n---\n";
	sha256sum(plan_md, strlen(plan_md), plan);
	snprintf(path, sizeof path, "/v1/skills?sha256=%s", plan);
	ck_assert_int_eq(items_of(path, tok[T_SEC], names, sizeof names), 0);
	ck_assert_int_eq(items_of(path, tok[T_DASH], names, sizeof names), 1);
}
END_TEST

static cJSON *get_node(const char *token, const char *id)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/nodes/%s", id);
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = path, .token = token), &rs), 0);
	ck_assert_msg(rs.status == 200, "%s: %ld %s", path, rs.status, rs.body);
	cJSON *n = rs.json;
	rs.json = NULL;
	resp_free(&rs);
	return n;
}

START_TEST(node_registry_and_capability_routing)
{
	struct http_resp rs;
	char ids[512];
	/* Two gateways register themselves; a node token only for its own id. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_CEO],
					.body = "{\"name\":\"CEO Mac Mini\",\"description\":\"plans and delegates\","
						"\"capabilities\":[\"triage\",\"delegation\"],\"endpoint\":\"https://ceo.local:18789\","
						"\"meta\":{\"os\":\"macOS\"}}"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 201);
	ck_assert(cJSON_IsTrue(resp_field(&rs, "online")));
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 1);
	resp_free(&rs);
	long rows = changes_of("node", "ceo");
	ck_assert_int_eq(rows, 1);
	/* Registering the same again is a heartbeat, not a change. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_CEO],
					.body = "{\"name\":\"CEO Mac Mini\",\"description\":\"plans and delegates\","
						"\"capabilities\":[\"triage\",\"delegation\"],\"endpoint\":\"https://ceo.local:18789\","
						"\"meta\":{\"os\":\"macOS\"}}"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 1);
	resp_free(&rs);
	ck_assert_int_eq(changes_of("node", "ceo"), 1);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/sec", .token = tok[T_SEC],
				       .body = "{\"name\":\"Sec on the NAS\",\"capabilities\":[\"triage\",\"Reminders\",\"light research\"]}")),
			 201);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/sec", .token = tok[T_CEO], .body = "{}")), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_DASH], .body = "{}")), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/printer", .token = admin, .body = "{}")), 201);
	cJSON *n = get_node(tok[T_DASH], "printer");
	ck_assert_str_eq(cJSON_GetObjectItem(n, "name")->valuestring, "printer");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(n, "capabilities")), 0);
	cJSON_Delete(n);

	/* "Who can do reminders?" — case-insensitive, and only online nodes when asked. */
	ck_assert_int_eq(items_of("/v1/nodes?capability=reminders", tok[T_CEO], ids, sizeof ids), 1);
	ck_assert_str_eq(ids, "sec");
	ck_assert_int_eq(items_of("/v1/nodes?capability=triage&online=true", tok[T_CEO], ids, sizeof ids), 2);
	ck_assert_str_eq(ids, "ceo,sec");
	ck_assert_int_eq(items_of("/v1/nodes?online=false", tok[T_CEO], ids, sizeof ids), 0);
	ck_assert_int_eq(items_of("/v1/nodes?capability=light%20research", tok[T_DASH], ids, sizeof ids), 1);
	/* Pages by id. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/nodes?limit=2", .token = tok[T_SEC]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 2);
	char url[1200];
	snprintf(url, sizeof url, "/v1/nodes?limit=2&cursor=%s", resp_field(&rs, "next_cursor")->valuestring);
	resp_free(&rs);
	ck_assert_int_eq(items_of(url, tok[T_SEC], ids, sizeof ids), 1);
	ck_assert_str_eq(ids, "sec");

	/* skills: what the node published, in scopes the caller reads. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/node:ceo/board-prep", .token = tok[T_CEO],
				       .body = "{\"content\":\"prep\"}")),
			 201);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/handoff", .token = tok[T_CEO],
				       .body = "{\"content\":\"hand off to sec\"}")),
			 201);
	n = get_node(tok[T_SEC], "ceo");
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(n, "skills"));
	ck_assert_ptr_nonnull(strstr(s, "\"handoff\""));
	ck_assert_ptr_null(strstr(s, "board-prep"));
	free(s);
	cJSON_Delete(n);
	n = get_node(tok[T_CEO], "ceo");
	s = cJSON_PrintUnformatted(cJSON_GetObjectItem(n, "skills"));
	ck_assert_ptr_nonnull(strstr(s, "\"board-prep\""));
	free(s);
	cJSON_Delete(n);

	/* Heartbeats: own node or admin; an unknown node is told to register. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/nodes/sec/heartbeat", .token = tok[T_SEC])), 204);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/nodes/sec/heartbeat", .token = tok[T_CEO])), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/nodes/ghost/heartbeat", .token = admin)), 404);
	ck_assert_int_eq(changes_of("node", "sec"), 1);

	/* Bad registrations change nothing. */
	static const char *const bad[] = {
		"{\"capabilities\":\"triage\"}",
		"{\"capabilities\":[\"\"]}",
		"{\"capabilities\":[1]}",
		"{\"name\":\"\"}",
		"{\"endpoint\":\"ftp://x\"}",
		"{\"endpoint\":\"https://ceo.local/?token=ghp_0123456789abcdefghijABCDEFGHIJ012345\"}",
		"{\"meta\":[1]}",
		"{\"name\":\"a\\u0007bell\"}",
		"{\"name\":\"next\\u0085line\"}",
		"{\"name\":\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
		"0123456789012345678901234567890\"}",
		"{\"colour\":\"red\"}",
		"[]",
	};
	char *before = db_state();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_CEO], .body = bad[i]), &rs), 0);
		ck_assert_msg(rs.status == 422, "case %zu: %ld %s", i, rs.status, rs.body);
		ck_assert_ptr_null(strstr(rs.body, "ghp_0123"));
		resp_free(&rs);
	}
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/Bad", .token = admin, .body = "{}")), 400);
	char *after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* An update is a new version and a change row; delete is for admins. */
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_CEO],
					.body = "{\"name\":\"CEO Mac Mini\",\"capabilities\":[\"triage\"]}"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(resp_field(&rs, "version")->valueint, 2);
	ck_assert(cJSON_IsNull(resp_field(&rs, "endpoint")));
	resp_free(&rs);
	ck_assert_int_eq(changes_of("node", "ceo"), 2);
	/* A display name may be longer than an id: up to 128 bytes. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/printer", .token = admin,
				       .body = "{\"name\":\"The office printer in the hallway by the kitchen, second floor, next to the "
					       "plant that nobody waters\"}")),
			 200);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/nodes/printer", .token = tok[T_CEO])), 403);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/nodes/printer", .token = admin)), 204);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/nodes/printer", .token = admin)), 404);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/nodes/printer", .token = admin)), 404);
	char *ops = db_value(pg, "SELECT string_agg(op, ',' ORDER BY revision) FROM changes WHERE kind = 'node' AND name = 'printer'",
			     0, NULL);
	ck_assert_str_eq(ops, "put,put,delete");
	free(ops);
}
END_TEST

/* A node is online for the heartbeat window after it was last heard (a server with a 1 s window). */
START_TEST(heartbeat_window_expires)
{
	struct server short_srv;
	const char *args[] = {"--heartbeat-window", "1", NULL};
	ck_assert_int_eq(server_start(&short_srv, NULL, args), 0);
	struct http_resp rs;
	ck_assert_int_eq(http(&short_srv, REQ(.method = "PUT", .path = "/v1/nodes/sec", .token = tok[T_SEC],
					      .body = "{\"name\":\"Sec on the NAS\",\"capabilities\":[\"reminders\"]}"),
			      &rs),
			 0);
	ck_assert_msg(rs.status == 200 || rs.status == 201, "%ld %s", rs.status, rs.body);
	ck_assert(cJSON_IsTrue(resp_field(&rs, "online")));
	resp_free(&rs);
	usleep(1300 * 1000);
	ck_assert_int_eq(http(&short_srv, REQ(.path = "/v1/nodes?capability=reminders&online=true", .token = tok[T_CEO]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 0);
	resp_free(&rs);
	ck_assert_int_eq(http(&short_srv, REQ(.path = "/v1/nodes/sec", .token = tok[T_CEO]), &rs), 0);
	ck_assert(cJSON_IsFalse(resp_field(&rs, "online")));
	resp_free(&rs);
	ck_assert_int_eq(http(&short_srv, REQ(.method = "POST", .path = "/v1/nodes/sec/heartbeat", .token = tok[T_SEC]), &rs), 0);
	ck_assert_int_eq(rs.status, 204);
	resp_free(&rs);
	ck_assert_int_eq(http(&short_srv, REQ(.path = "/v1/nodes?capability=reminders&online=true", .token = tok[T_CEO]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	resp_free(&rs);
	ck_assert_int_eq(server_stop(&short_srv), 0);
}
END_TEST

static cJSON *post_messages(const char *token, const char *body)
{
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/messages", .token = token, .body = body), &rs), 0);
	ck_assert_msg(rs.status == 200, "%ld %s", rs.status, rs.body);
	cJSON *results = cJSON_DetachItemFromObject(rs.json, "results");
	resp_free(&rs);
	ck_assert(cJSON_IsArray(results));
	return results;
}

static const cJSON *result(const cJSON *results, int i)
{
	return cJSON_GetArrayItem(results, i);
}

static void expect_result_error(const cJSON *r, const char *code, int index)
{
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r, "ok")));
	const cJSON *err = cJSON_GetObjectItem(r, "error");
	ck_assert_str_eq(cJSON_GetObjectItem(err, "code")->valuestring, code);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(err, "message")));
	if (index >= 0)
		ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(err, "details"), "index")->valueint, index);
}

/* Every bridge example of the seed document, verbatim, then the phase-1 shapes of API.md. */
START_TEST(bridge_seed_examples)
{
	/* Option A's memory message: no nodeId, no ts. */
	cJSON *res = post_messages(tok[T_CEO], "{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"user.preferences\","
					       "\"value\":{\"shortAnswers\":true}}");
	ck_assert_int_eq(cJSON_GetArraySize(res), 1);
	const cJSON *r = result(res, 0);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "applied")));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "entry"), "node")->valuestring, "ceo");
	cJSON_Delete(res);
	const char *k[] = {"mesh", "user.preferences"};
	char *v = db_value(pg, "SELECT value::text FROM memory WHERE scope = $1 AND key = $2", 2, k);
	ck_assert_str_eq(v, "{\"shortAnswers\": true}");
	free(v);
	/* Option A's skill message, with "source". */
	res = post_messages(tok[T_CEO], "{\"type\":\"skill\",\"name\":\"triage-rules\",\"source\":\"ceo\",\"content\":\"Urgent first.\"}");
	r = result(res, 0);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	ck_assert_int_eq(cJSON_GetObjectItem(r, "status")->valueint, 201);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "skill"), "scope")->valuestring, "mesh");
	cJSON_Delete(res);

	/* Phase 1, API.md's four shapes in one array, in order; numbers keep their digits. */
	res = post_messages(
		tok[T_SEC],
		"[{\"type\":\"memory\",\"scope\":\"mesh\",\"key\":\"project.alpha\",\"value\":{\"n\":12345678901234567890123},"
		"\"nodeId\":\"sec\",\"ts\":\"2026-02-01T10:00:00.123Z\"},"
		"{\"type\":\"skill\",\"name\":\"reminders\",\"sourceNode\":\"sec\",\"content\":\"---\\nname: reminders\\n"
		"description: Chase reminders\\n---\\nAsk the calendar.\\n\"},"
		"{\"type\":\"request\",\"what\":\"memory\",\"scope\":\"mesh\",\"key\":\"project.alpha\"},"
		"{\"type\":\"request\",\"what\":\"skill\",\"scope\":\"mesh\",\"name\":\"reminders\"},"
		"{\"type\":\"capabilities\",\"nodeId\":\"sec\",\"skills\":[\"triage\",\"reminders\",\"light research\"]}]");
	ck_assert_int_eq(cJSON_GetArraySize(res), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(result(res, i), "ok")), "message %d failed", i);
	ck_assert_str_eq(cJSON_GetObjectItem(result(res, 1), "type")->valuestring, "skill");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(result(res, 1), "skill"), "description")->valuestring,
			 "Chase reminders");
	ck_assert(cJSON_IsObject(cJSON_GetObjectItem(result(res, 2), "value")));
	ck_assert_str_eq(cJSON_GetObjectItem(result(res, 3), "content")->valuestring,
			 "---\nname: reminders\ndescription: Chase reminders\n---\nAsk the calendar.\n");
	const cJSON *node = cJSON_GetObjectItem(result(res, 4), "node");
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(node, "capabilities")), 3);
	cJSON_Delete(res);
	k[1] = "project.alpha";
	v = db_value(pg, "SELECT value::text FROM memory WHERE scope = $1 AND key = $2", 2, k);
	ck_assert_str_eq(v, "{\"n\": 12345678901234567890123}");
	free(v);
	/* The request's value comes back digit for digit too. */
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/messages", .token = tok[T_SEC],
					.body = "{\"type\":\"request\",\"what\":\"memory\",\"key\":\"project.alpha\"}"),
			      &rs),
			 0);
	ck_assert_ptr_nonnull(strstr(rs.body, "12345678901234567890123"));
	resp_free(&rs);
	/* "Who can do reminders?" now finds sec through its capabilities message. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/nodes?capability=reminders", .token = tok[T_CEO]), &rs), 0);
	ck_assert_int_eq(cJSON_GetArraySize(resp_field(&rs, "items")), 1);
	resp_free(&rs);
}
END_TEST

START_TEST(bridge_spoofing_stale_and_mixed)
{
	/* A stale ts is not applied: last write wins. */
	cJSON *res = post_messages(tok[T_CEO], "{\"type\":\"memory\",\"key\":\"user.timezone\",\"value\":\"Europe/Berlin\"}");
	cJSON_Delete(res);
	char *before = db_state();
	res = post_messages(tok[T_SEC], "{\"type\":\"memory\",\"key\":\"user.timezone\",\"value\":\"UTC\",\"nodeId\":\"sec\","
					"\"ts\":\"2020-01-01T00:00:00Z\"}");
	const cJSON *r = result(res, 0);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r, "applied")));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "entry"), "value")->valuestring, "Europe/Berlin");
	cJSON_Delete(res);
	/* Epoch milliseconds (JavaScript's Date.now()) work as ts too: 2020 is stale as well. */
	res = post_messages(tok[T_SEC], "{\"type\":\"memory\",\"key\":\"user.timezone\",\"value\":\"UTC\",\"ts\":1577836800000}");
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(result(res, 0), "applied")));
	cJSON_Delete(res);
	/* A delayed queue replayed out of order: the newest message wins, whatever the arrival order. */
	res = post_messages(tok[T_SEC],
			    "[{\"type\":\"memory\",\"key\":\"queue.order\",\"value\":\"newer\",\"ts\":\"2026-11-02T00:00:00Z\"},"
			    "{\"type\":\"memory\",\"key\":\"queue.order\",\"value\":\"older\",\"ts\":\"2026-11-01T00:00:00Z\"}]");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(result(res, 0), "applied")));
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(result(res, 1), "applied")));
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(result(res, 1), "entry"), "value")->valuestring, "newer");
	cJSON_Delete(res);
	/* The same value re-sent later moves the entry's time on: a message from between is stale. */
	res = post_messages(tok[T_SEC],
			    "[{\"type\":\"memory\",\"key\":\"queue.resend\",\"value\":\"v1\",\"ts\":\"2026-01-01T10:00:00Z\"},"
			    "{\"type\":\"memory\",\"key\":\"queue.resend\",\"value\":\"v1\",\"ts\":\"2026-01-01T10:30:00Z\"},"
			    "{\"type\":\"memory\",\"key\":\"queue.resend\",\"value\":\"v2\",\"ts\":\"2026-01-01T10:20:00Z\"}]");
	ck_assert_int_eq(cJSON_GetObjectItem(result(res, 1), "status")->valueint, 200);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(result(res, 2), "applied")));
	cJSON_Delete(res);
	/* A clock far ahead counts as now: it cannot shut out the messages that follow. */
	res = post_messages(tok[T_SEC], "{\"type\":\"memory\",\"key\":\"queue.order\",\"value\":\"fast clock\",\"ts\":\"2099-01-01T00:00:00Z\"}");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(result(res, 0), "applied")));
	cJSON_Delete(res);
	char now[160];
	snprintf(now, sizeof now, "{\"type\":\"memory\",\"key\":\"queue.order\",\"value\":\"on time\",\"ts\":%lld}",
		 (long long)time(NULL) * 1000 + 999);
	res = post_messages(tok[T_SEC], now);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(result(res, 0), "applied")));
	cJSON_Delete(res);
	/* A write through the REST API is the entry's time from then on. */
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/queue.order", .token = tok[T_CEO],
				       .body = "{\"value\":\"rest\"}")),
			 200);
	snprintf(now, sizeof now, "{\"type\":\"memory\",\"key\":\"queue.order\",\"value\":\"late\",\"ts\":%lld}",
		 (long long)time(NULL) * 1000 - 60000);
	res = post_messages(tok[T_SEC], now);
	ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(result(res, 0), "applied")));
	cJSON_Delete(res);
	free(before);
	before = db_state();

	/* Claiming another node is refused, whichever field claims it. */
	res = post_messages(tok[T_SEC],
			    "[{\"type\":\"memory\",\"key\":\"user.timezone\",\"value\":\"UTC\",\"nodeId\":\"ceo\"},"
			    "{\"type\":\"skill\",\"name\":\"evil\",\"sourceNode\":\"ceo\",\"content\":\"x\"},"
			    "{\"type\":\"skill\",\"name\":\"evil\",\"source\":\"ceo\",\"content\":\"x\"},"
			    "{\"type\":\"capabilities\",\"nodeId\":\"ceo\",\"skills\":[\"everything\"]}]");
	for (int i = 0; i < 4; i++)
		expect_result_error(result(res, i), "forbidden", i);
	cJSON_Delete(res);
	/* An admin token speaks for no node: it may not claim one either. */
	res = post_messages(admin, "{\"type\":\"capabilities\",\"nodeId\":\"sec\",\"skills\":[\"x\"]}");
	expect_result_error(result(res, 0), "forbidden", -1);
	cJSON_Delete(res);
	char *after = db_state();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* A mixed array: each message on its own, in order, one result each. */
	res = post_messages(tok[T_SEC],
			    "[{\"type\":\"memory\",\"key\":\"mixed.one\",\"value\":1,\"nodeId\":\"sec\"},"
			    "{\"type\":\"memory\",\"scope\":\"node:ceo\",\"key\":\"mixed.two\",\"value\":2},"
			    "{\"type\":\"request\",\"what\":\"memory\",\"key\":\"mixed.one\"},"
			    "{\"type\":\"request\",\"what\":\"memory\",\"key\":\"mixed.none\"},"
			    "{\"type\":\"gossip\"},"
			    "{\"type\":\"memory\",\"key\":\"mixed.secret\",\"value\":\"AKIAABCDEFGHIJKLMNOP\"},"
			    "{\"type\":\"memory\",\"key\":\".bad\",\"value\":1},"
			    "\"not an object\","
			    "{\"type\":\"memory\",\"scope\":\"node\",\"key\":\"mixed.mine\",\"value\":3,\"extra\":\"ignored\"},"
			    "{\"type\":\"request\",\"what\":\"memory\",\"key\":\"mixed.one\"},"
			    /* Brackets, braces, commas and escapes inside strings: each message's own text
			     * is what reaches the store. */
			    " {\"type\":\"memory\",\"key\":\"mixed.tricky\",\"value\":{\"s\":\"a],[{\\\"b\\\\\","
			    "\"arr\":[[1, 2.50],{\"x\":\"}\"}]}} ]");
	ck_assert_int_eq(cJSON_GetArraySize(res), 11);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(result(res, 0), "ok")));
	expect_result_error(result(res, 1), "forbidden", 1);
	ck_assert_int_eq(cJSON_GetObjectItem(result(res, 2), "value")->valueint, 1);
	expect_result_error(result(res, 3), "not_found", 3);
	expect_result_error(result(res, 4), "validation_failed", 4);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(result(res, 4), "type")));
	expect_result_error(result(res, 5), "secret_detected", 5);
	expect_result_error(result(res, 6), "validation_failed", 6);
	expect_result_error(result(res, 7), "validation_failed", 7);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(result(res, 8), "entry"), "scope")->valuestring, "node:sec");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(result(res, 9), "ok")));
	const char *tricky[] = {"mesh", "mixed.tricky"};
	char *v = db_value(pg, "SELECT value::text FROM memory WHERE scope = $1 AND key = $2", 2, tricky);
	ck_assert_str_eq(v, "{\"s\": \"a],[{\\\"b\\\\\", \"arr\": [[1, 2.50], {\"x\": \"}\"}]}");
	free(v);
	char *s = cJSON_PrintUnformatted(res);
	ck_assert_ptr_null(strstr(s, "AKIAABCD"));
	free(s);
	cJSON_Delete(res);

	/* Whole-body refusals. */
	static const struct {
		const char *body;
		long status;
		const char *code;
	} bad[] = {
		{"[]", 422, "validation_failed"},
		{"7", 422, "validation_failed"},
		{"{\"type\":", 400, "invalid_json"},
		{"\xef\xbb\xbf{\"type\":\"memory\",\"key\":\"bom\",\"value\":1}", 400, "invalid_json"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/messages", .token = tok[T_SEC], .body = bad[i].body), &rs), 0);
		expect_error(&rs, bad[i].status, bad[i].code);
		resp_free(&rs);
	}
	char many[101 * 16 + 4] = "[";
	for (int i = 0; i < 101; i++)
		strcat(many, i ? ",{\"type\":\"x\"}" : "{\"type\":\"x\"}");
	strcat(many, "]");
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "POST", .path = "/v1/messages", .token = tok[T_SEC], .body = many), &rs), 0);
	expect_error(&rs, 422, "validation_failed");
	resp_free(&rs);
}
END_TEST

/* Writes are audited; successful heartbeats (every minute from every node) are not. */
START_TEST(audit_names_the_new_writes)
{
	char *v = db_value(pg,
			   "SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM audit"
			   " WHERE status < 400"
			   " AND action IN ('skill.put', 'skill.delete', 'node.put', 'node.delete', 'messages', 'node.heartbeat')",
			   0, NULL);
	ck_assert_str_eq(v, "messages,node.delete,node.put,skill.delete,skill.put");
	free(v);
	/* Each refused bridge message is a row of its own, with the status it would have had. */
	ck_assert_int_ge(db_count(pg, "SELECT count(*) FROM audit WHERE action = 'message' AND status = 403"), 5);
	ck_assert_int_ge(db_count(pg, "SELECT count(*) FROM audit WHERE action = 'message' AND status = 422"), 4);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM audit WHERE action = 'node.heartbeat' AND status = 204"), 0);
}
END_TEST

/* Metadata given as JSON, by REST or by the bridge, is stored as written: a 23-digit id stays. */
START_TEST(json_metadata_keeps_every_digit)
{
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/skills/mesh/digits", .token = tok[T_CEO],
					     .body = "{\"content\":\"---\\nname: digits\\n---\\nx\\n\",\"metadata\":"
						     "{\"id\": 12345678901234567890123, \"f\": 0.10000000000000000001}}")),
			 201);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/messages", .token = tok[T_CEO],
					     .body = "{\"type\":\"skill\",\"name\":\"digits-bridge\",\"sourceNode\":\"ceo\","
						     "\"content\":\"y\",\"metadata\":{\"id\":98765432109876543210987}}")),
			 200);
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/digits", .token = tok[T_CEO]), &rs), 0);
	ck_assert_msg(strstr(rs.body, "12345678901234567890123") && strstr(rs.body, "0.10000000000000000001"), "%s", rs.body);
	resp_free(&rs);
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/skills/mesh/digits-bridge", .token = tok[T_CEO]), &rs), 0);
	ck_assert_msg(strstr(rs.body, "98765432109876543210987"), "%s", rs.body);
	resp_free(&rs);
}
END_TEST

/* A node's meta is stored as the client wrote it, as skill metadata is: no rounding, no null for
 * a number too large for a double. */
START_TEST(node_meta_keeps_every_digit)
{
	long st = status_at(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_CEO],
				      .body = "{\"name\":\"CEO\",\"meta\":{\"id\": 12345678901234567890,"
					      " \"f\": 0.10000000000000000001, \"big\": 1e400}}"));
	ck_assert_msg(st == 200 || st == 201, "%ld", st);
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/nodes/ceo", .token = tok[T_CEO]), &rs), 0);
	const cJSON *meta = resp_field(&rs, "meta");
	ck_assert_msg(strstr(rs.body, "12345678901234567890") && strstr(rs.body, "0.10000000000000000001"), "%s", rs.body);
	ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(meta, "big")), "%s", rs.body);
	resp_free(&rs);
	/* The 16 KiB bound is on meta as stored: 1e20000 is 7 bytes sent and 20,001 written out. */
	char *before = db_value(pg, "SELECT meta::text FROM nodes WHERE id = 'ceo'", 0, NULL);
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/nodes/ceo", .token = tok[T_CEO],
				       .body = "{\"name\":\"CEO\",\"meta\":{\"big\": 1e20000}}"), &rs), 0);
	expect_error(&rs, 422, "validation_failed");
	ck_assert_str_eq(resp_detail(&rs, "field")->valuestring, "meta");
	resp_free(&rs);
	char *after = db_value(pg, "SELECT meta::text FROM nodes WHERE id = 'ceo'", 0, NULL);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

TCase *skills_tcase(void);
TCase *skills_tcase(void)
{
	TCase *tc = tcase_create("skills");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, skills_up, skills_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, publish_fetch_byte_exact_and_versions);
	tcase_add_test(tc, concurrent_publishes_number_versions_without_gaps);
	tcase_add_test(tc, front_matter_edge_cases);
	tcase_add_test(tc, skill_bad_inputs_change_nothing);
	tcase_add_test(tc, listing_search_and_sha256_lookup);
	tcase_add_test(tc, node_registry_and_capability_routing);
	tcase_add_test(tc, heartbeat_window_expires);
	tcase_add_test(tc, bridge_seed_examples);
	tcase_add_test(tc, bridge_spoofing_stale_and_mixed);
	tcase_add_test(tc, audit_names_the_new_writes);
	tcase_add_test(tc, json_metadata_keeps_every_digit);
	tcase_add_test(tc, node_meta_keeps_every_digit);
	return tc;
}
