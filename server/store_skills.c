/* SQL for skills. A publish is one call of cm_skill_write (migrations/0003_skills_nodes.sql),
 * which hashes the content, applies the no-op rule and writes the version and change rows under
 * the write lock. Contents travel as text parameters and come back byte for byte. */
#include "clawmesh/store_skills.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CM_STMT(stmt_write, 11,
	"SELECT o_status, o_version, o_skill FROM cm_skill_write($1, $2, $3, $4, $5,"
	" CASE WHEN $6::jsonb IS NOT NULL THEN cm_tags($6::jsonb) END, $7::jsonb, $8::integer[], $9::boolean,"
	" $10, $11::integer)");
/* cm_skill_json's arguments from the columns of skill_versions alias v. */
#define SKILL_COLUMNS(v) v ".scope, " v ".name, " v ".version, " v ".description, " v ".sha256, " v ".size, " \
	v ".tags, " v ".metadata, " v ".node, " v ".created_at, " v ".at"

CM_STMT(stmt_get, 5,
	"SELECT v.version, cm_skill_json(" SKILL_COLUMNS("v") ", CASE WHEN $4::boolean THEN v.content END),"
	" CASE WHEN $5::boolean THEN v.content END"
	" FROM skills s JOIN skill_versions v ON v.scope = s.scope AND v.name = s.name"
	" WHERE s.scope = $1 AND s.name = $2"
	" AND CASE WHEN $3::integer = 0 THEN v.version = s.version AND NOT s.deleted ELSE v.version = $3::integer END");
CM_STMT(stmt_versions, 4,
	"SELECT v.version, cm_skill_json(" SKILL_COLUMNS("v") ", NULL) FROM skill_versions v WHERE v.scope = $1 AND v.name = $2"
	" AND ($3::integer = 0 OR v.version < $3::integer) ORDER BY v.version DESC LIMIT $4::integer");
CM_STMT(stmt_exists, 2, "SELECT 1 FROM skills WHERE scope = $1 AND name = $2");

int cm_store_skill_write(const struct cm_skill_write *w, struct cm_store_result *out)
{
	char max[24];
	snprintf(max, sizeof max, "%zu", w->max_size);
	const char *p[] = {w->op,       w->scope,    w->name, w->content, w->description,
			   w->tags,     w->metadata, w->if_match, w->if_none_match ? "true" : "false",
			   w->node,     max};
	PGresult *r;
	int e = cm_db_exec(&stmt_write, p, &r);
	return e < 0 ? e : cm_store_written(r, out);
}

int cm_store_skill_get(const char *scope, const char *name, int version, bool with_content,
		       struct cm_store_result *out, char **raw)
{
	char v[16];
	snprintf(v, sizeof v, "%d", version);
	const char *p[] = {scope, name, v, with_content ? "true" : "false", raw ? "true" : "false"};
	PGresult *r;
	int e = cm_db_exec(&stmt_get, p, &r);
	return e < 0 ? e : cm_store_found(r, out, raw);
}

int cm_store_skill_versions(const char *scope, const char *name, int before, unsigned limit, cJSON *items,
			    int *next)
{
	return cm_store_version_page(&stmt_versions, &stmt_exists, scope, name, before, limit, items, next);
}

#define JSON_TEXTS "ARRAY(SELECT jsonb_array_elements_text($%d::jsonb))"
#define RANK "ts_rank_cd(v.search, websearch_to_tsquery('english', $%d))"

enum listing { BY_NAME, BY_RANK, BY_SHA };
static const char *const cursor_tag[] = {"skill", "skill_rank", "skill_sha"};

/* The cursor's position for listing l, its number re-printed so what reaches SQL always parses. */
static int cursor_fields(const cJSON *after, enum listing l, const char **s, const char **k, char *num, size_t cap)
{
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(after, "o");
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(after, "s");
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(after, "k");
	const cJSON *jn = cJSON_GetObjectItemCaseSensitive(after, "n");
	if (!cJSON_IsString(o) || strcmp(o->valuestring, cursor_tag[l]) || !cJSON_IsString(js) || !cJSON_IsString(jk))
		return -CM_EBADREQ;
	*s = js->valuestring;
	*k = jk->valuestring;
	if (l == BY_NAME)
		return 0;
	const char *n = cJSON_IsString(jn) ? jn->valuestring : "";
	char *end;
	errno = 0;
	if (l == BY_RANK) {
		float v = strtof(n, &end);
		if (!*n || *end || errno || !isfinite(v) || v < 0)
			return -CM_EBADREQ;
		snprintf(num, cap, "%.9g", (double)v);
	} else {
		long v = strtol(n, &end, 10);
		if (!*n || *end || errno || v < 1 || v > 2147483647L)
			return -CM_EBADREQ;
		snprintf(num, cap, "%ld", v);
	}
	return 0;
}

static void scope_filter(struct cm_query *q, const struct cm_scope_filter *in)
{
	if (in->scopes) {
		cm_query_add(q, " AND s.scope = ANY(" JSON_TEXTS ")", cm_query_param(q, in->scopes));
	} else if (!in->all_readable) {
		int a = cm_query_param(q, in->readable);
		cm_query_add(q, " AND cm_scope_in(s.scope, false, " JSON_TEXTS ", " JSON_TEXTS ")", a,
			     cm_query_param(q, in->readable_prefixes));
	}
}

int cm_store_skill_list(const struct cm_skill_filter *f, cJSON *items, cJSON **next)
{
	*next = NULL;
	enum listing l = f->sha256 ? BY_SHA : f->q ? BY_RANK : BY_NAME;
	struct cm_query q = {.len = 0, .n = 0, .overflow = false};
	const char *cs = NULL, *ck = NULL;
	char cn[40] = "";
	if (f->after && cursor_fields(f->after, l, &cs, &ck, cn, sizeof cn) < 0)
		return -CM_EBADREQ;
	static const char *const order_by[] = {"scope, name", "rk DESC, scope, name", "scope, name, version"};
	int qp = f->q ? cm_query_param(&q, f->q) : 0;
	/* The rows of the page first (inner), then the byte cap over their contents, then render. */
	/* The content is fetched only for the rows kept (by scope, name and version). */
	cm_query_add(&q, "SELECT CASE WHEN t.sha THEN left(cm_skill_json(" SKILL_COLUMNS("t") ", NULL), -1) || ',\"current\":'"
			 " || CASE WHEN t.is_current THEN 'true' ELSE 'false' END || ',\"latest_version\":' || coalesce(t.latest::text, 'null') || '}'"
			 " ELSE cm_skill_json(" SKILL_COLUMNS("t") ", %s) END, t.scope, t.name, t.rk::text, t.version, t.total FROM"
			 " (SELECT u.*, sum(u.sz) OVER w - u.sz AS before, count(*) OVER () AS total FROM"
			 " (SELECT " SKILL_COLUMNS("v") ", %s AS sha, (v.version = s.version AND NOT s.deleted) AS is_current,"
			 " CASE WHEN NOT s.deleted THEN s.version END AS latest, %s AS sz, ",
		     f->with_content ? "(SELECT c.content FROM skill_versions c WHERE c.scope = t.scope AND c.name = t.name"
				       " AND c.version = t.version)"
				     : "NULL",
		     l == BY_SHA ? "true" : "false", f->with_content ? "v.size" : "0");
	if (qp)
		cm_query_add(&q, RANK " AS rk", qp);
	else
		cm_query_add(&q, "0::real AS rk");
	if (l == BY_SHA)
		cm_query_add(&q, " FROM skill_versions v JOIN skills s ON s.scope = v.scope AND s.name = v.name"
				 " WHERE v.sha256 = $%d", cm_query_param(&q, f->sha256));
	else
		cm_query_add(&q, " FROM skills s JOIN skill_versions v ON v.scope = s.scope AND v.name = s.name"
				 " AND v.version = s.version WHERE NOT s.deleted");
	scope_filter(&q, &f->in);
	if (f->node)
		cm_query_add(&q, " AND s.node = $%d", cm_query_param(&q, f->node));
	if (f->tags)
		cm_query_add(&q, " AND v.tags @> " JSON_TEXTS, cm_query_param(&q, f->tags));
	if (qp)
		cm_query_add(&q, " AND v.search @@ websearch_to_tsquery('english', $%d)", qp);
	if (f->after) {
		int a = cm_query_param(&q, cs), b = cm_query_param(&q, ck);
		if (l == BY_NAME) {
			cm_query_add(&q, " AND (v.scope, v.name) > ($%d, $%d)", a, b);
		} else if (l == BY_SHA) {
			cm_query_add(&q, " AND (v.scope, v.name, v.version) > ($%d, $%d, $%d::integer)", a, b,
				     cm_query_param(&q, cn));
		} else {
			int c = cm_query_param(&q, cn);
			cm_query_add(&q, " AND (" RANK " < $%d::real OR (" RANK " = $%d::real AND (v.scope, v.name) > ($%d, $%d)))",
				     qp, c, qp, c, a, b);
		}
	}
	char lim[16];
	snprintf(lim, sizeof lim, "%u", f->limit + 1);
	cm_query_add(&q, " ORDER BY %s LIMIT $%d::integer) u WINDOW w AS (ORDER BY %s ROWS UNBOUNDED PRECEDING)) t"
			 " WHERE t.before < " CM_PAGE_BYTES " ORDER BY %s",
		     order_by[l], cm_query_param(&q, lim), order_by[l], order_by[l]);
	if (q.overflow) {
		cm_log_error("store: skill listing query too long");
		return -CM_EINTERNAL;
	}

	PGresult *r;
	int e = cm_db_query("skill list", q.sql, q.n, q.params, &r);
	if (e < 0)
		return e;
	int n = PQntuples(r);
	int shown = n > (int)f->limit ? (int)f->limit : n;
	e = cm_store_append_raw(r, shown, 0, items);
	if (e == 0 && n > 0 && atoi(PQgetvalue(r, 0, 5)) > shown) {
		int last = shown - 1;
		cJSON *pos = cJSON_CreateObject();
		if (!pos || !cJSON_AddStringToObject(pos, "o", cursor_tag[l]) ||
		    !cJSON_AddStringToObject(pos, "s", PQgetvalue(r, last, 1)) ||
		    !cJSON_AddStringToObject(pos, "k", PQgetvalue(r, last, 2)) ||
		    (l != BY_NAME && !cJSON_AddStringToObject(pos, "n", PQgetvalue(r, last, l == BY_RANK ? 3 : 4)))) {
			cJSON_Delete(pos);
			e = -CM_EINTERNAL;
		} else {
			*next = pos;
		}
	}
	PQclear(r);
	return e;
}
