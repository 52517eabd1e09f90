/* SQL for memory. Writes are one call of the database function cm_memory_write (see
 * migrations/0002_memory.sql): it takes the write lock, checks the preconditions, writes the
 * entry, its history row and its change row, and renders the entry, in one round trip. Values
 * travel as the request's own JSON text and are rendered by PostgreSQL, so no number is ever
 * rounded through a C double. */
#include "clawmesh/store_memory.h"
#include "clawmesh/cache.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/log.h"
#include "clawmesh/store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CM_STMT(stmt_write, 11,
	"SELECT o_status, o_version, o_entry FROM cm_memory_write($1, $2, $3,"
	" CASE WHEN $1 = 'put' THEN ($4::jsonb) -> 'value' ELSE $4::jsonb END,"
	" CASE WHEN $5::jsonb IS NOT NULL THEN cm_tags($5::jsonb) END, $6::bigint, $7::timestamptz,"
	" $8::integer[], $9::boolean, $10, $11::integer)");
CM_STMT(stmt_bridge_put, 7,
	"SELECT o_status, o_version, o_entry FROM cm_memory_bridge_put($1, $2, ($3::jsonb) -> 'value',"
	" CASE WHEN $4::jsonb IS NOT NULL THEN cm_tags($4::jsonb) END, $5::timestamptz, $6, $7::integer)");
CM_STMT(stmt_get, 3,
	"SELECT m.version, cm_memory_entry(m), CASE WHEN $3::boolean THEN m.value::text END, m.revision,"
	" floor(extract(epoch FROM m.expires_at) * 1000)::bigint"
	" FROM memory m WHERE m.scope = $1 AND m.key = $2"
	" AND cm_memory_live(m, now())");
CM_STMT(stmt_history, 4,
	"SELECT t.version, json_build_object('version', t.version, 'op', t.op, 'value', t.value,"
	"  'tags', t.tags, 'node', t.node, 'at', cm_ts(t.at), 'revision', t.revision)::text, t.total"
	" FROM (SELECT h.*, sum(h.size) OVER w - h.size AS before, count(*) OVER () AS total"
	"  FROM (SELECT * FROM memory_history h WHERE h.scope = $1 AND h.key = $2"
	"   AND ($3::integer = 0 OR h.version < $3::integer) ORDER BY h.version DESC LIMIT $4::integer) h"
	"  WINDOW w AS (ORDER BY h.version DESC ROWS UNBOUNDED PRECEDING)) t"
	" WHERE t.before < " CM_PAGE_BYTES " ORDER BY t.version DESC");
CM_STMT(stmt_history_exists, 2, "SELECT 1 FROM memory_history WHERE scope = $1 AND key = $2 LIMIT 1");
CM_STMT(stmt_group, 2,
	"SELECT o_index, o_status, o_version, o_entry FROM cm_memory_write_group($1::jsonb, $2::integer)");
CM_STMT(stmt_batch, 3,
	"SELECT o_index, o_status, o_version, o_entry FROM cm_memory_batch(($1::jsonb) -> 'ops', $2, $3::integer)");

int cm_store_memory_write(const struct cm_memory_write *w, struct cm_store_result *out)
{
	char ttl[24], max[24];
	snprintf(ttl, sizeof ttl, "%lld", w->ttl);
	snprintf(max, sizeof max, "%zu", w->max_value);
	const char *p[] = {w->op, w->scope, w->key, w->doc, w->tags, w->ttl > 0 ? ttl : NULL, w->expires_at,
			   w->if_match, w->if_none_match ? "true" : "false", w->node, max};
	const char *bridge[] = {w->scope, w->key, w->doc, w->tags, w->not_before, w->node, max};
	PGresult *r;
	int e = w->not_before ? cm_db_exec(&stmt_bridge_put, bridge, &r) : cm_db_exec(&stmt_write, p, &r);
	if (e == 0 && (e = cm_store_written(r, out)) == 0 && out->entry)
		cm_cache_memory_written(w->scope, w->key, out->entry); /* before the client hears of it */
	return e;
}

char *cm_store_memory_op_json(const struct cm_memory_write *w)
{
	char ttl[24];
	snprintf(ttl, sizeof ttl, "%lld", w->ttl);
	const char *names[] = {"op", "scope", "key", "doc", "tags", "ttl", "expires_at", "if_match", "if_none_match", "node"};
	const char *vals[] = {w->op, w->scope, w->key, w->doc, w->tags, w->ttl > 0 ? ttl : NULL, w->expires_at,
			      w->if_match, w->if_none_match ? "true" : "false", w->node};
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	for (size_t i = 0; ok && i < sizeof names / sizeof names[0]; i++)
		ok = vals[i] ? cJSON_AddStringToObject(o, names[i], vals[i]) != NULL
			     : cJSON_AddNullToObject(o, names[i]) != NULL;
	char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return text;
}

int cm_store_memory_write_group(const char *ops, size_t max_value, size_t n, struct cm_store_result *out, int *err)
{
	char max[24];
	snprintf(max, sizeof max, "%zu", max_value);
	const char *p[] = {ops, max};
	PGresult *r;
	int e = cm_db_exec(&stmt_group, p, &r);
	if (e < 0)
		return e;
	if ((size_t)PQntuples(r) != n) {
		cm_log_error("store: a group of %zu writes answered %d rows", n, PQntuples(r));
		PQclear(r);
		return -CM_EINTERNAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (atoi(PQgetvalue(r, (int)i, 0)) != (int)i) {
			err[i] = -CM_EINTERNAL;
		} else if (!strcmp(PQgetvalue(r, (int)i, 1), "error")) {
			/* o_entry is "SQLSTATE message", as the op alone would have failed. */
			const char *m = PQgetvalue(r, (int)i, 3);
			char state[6] = "";
			if (strlen(m) > 5)
				memcpy(state, m, 5);
			err[i] = cm_db_state_error(state[0] ? state : NULL, m + strlen(state), "memory write (grouped)");
		} else if ((err[i] = cm_store_result_from_row(r, (int)i, 1, &out[i])) == 0 && out[i].entry) {
			cm_cache_memory_written(NULL, NULL, out[i].entry); /* committed: the statement was its transaction */
		}
	}
	PQclear(r);
	return 0;
}

int cm_store_memory_get(const char *scope, const char *key, struct cm_store_result *out, char **value,
			struct cm_memory_stamp *stamp)
{
	const char *p[] = {scope, key, value ? "true" : "false"};
	PGresult *r;
	int e = cm_db_exec(&stmt_get, p, &r);
	if (e < 0)
		return e;
	if (stamp && PQntuples(r) == 1) {
		stamp->revision = atoll(PQgetvalue(r, 0, 3));
		stamp->expires_ms = PQgetisnull(r, 0, 4) ? 0 : atoll(PQgetvalue(r, 0, 4));
	}
	return cm_store_found(r, out, value);
}

int cm_store_memory_history(const char *scope, const char *key, int before, unsigned limit, cJSON *items,
			    int *next)
{
	return cm_store_version_page(&stmt_history, &stmt_history_exists, scope, key, before, limit, items, next);
}

#define JSON_TEXTS(n) "ARRAY(SELECT jsonb_array_elements_text($%d::jsonb))", n
#define RANK "ts_rank_cd(m.search, websearch_to_tsquery('english', $%d))"

/* The cursor's fields for order o, or -CM_EBADREQ. A cursor comes from the client: its number
 * is re-printed here (a revision as an integer, a rank as a finite float) so that what reaches
 * SQL is always something PostgreSQL parses. */
static int cursor_fields(const cJSON *after, enum cm_memory_order o, const char **s, const char **k,
			 char *num, size_t cap)
{
	static const char *const tag[] = {"key", "recent", "rank"};
	const cJSON *ord = cJSON_GetObjectItemCaseSensitive(after, "o");
	if (!cJSON_IsString(ord) || strcmp(ord->valuestring, tag[o]))
		return -CM_EBADREQ;
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(after, "s");
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(after, "k");
	const cJSON *jn = cJSON_GetObjectItemCaseSensitive(after, "n");
	*s = cJSON_IsString(js) ? js->valuestring : NULL;
	*k = cJSON_IsString(jk) ? jk->valuestring : NULL;
	const char *n = cJSON_IsString(jn) ? jn->valuestring : NULL;
	if (o != CM_ORDER_RECENT && (!*s || !*k))
		return -CM_EBADREQ;
	if (o == CM_ORDER_RECENT) {
		size_t len = n ? strlen(n) : 0;
		if (len < 1 || len > 18 || strspn(n, "0123456789") != len)
			return -CM_EBADREQ;
		snprintf(num, cap, "%lld", atoll(n));
	} else if (o == CM_ORDER_RANK) {
		char *end;
		errno = 0;
		float v = n ? strtof(n, &end) : -1.0f;
		if (!n || !*n || *end || errno || !isfinite(v) || v < 0)
			return -CM_EBADREQ;
		snprintf(num, cap, "%.9g", (double)v);
	}
	return 0;
}

int cm_store_memory_list(const struct cm_memory_filter *f, cJSON *items, cJSON **next)
{
	*next = NULL;
	struct cm_query q = {.len = 0, .n = 0, .overflow = false};
	const char *cs = NULL, *ck = NULL;
	char cn[40] = "";
	if (f->after && cursor_fields(f->after, f->order, &cs, &ck, cn, sizeof cn) < 0)
		return -CM_EBADREQ;
	int qp = f->q ? cm_query_param(&q, f->q) : 0;
	/* The rows of the page first (inner), then the byte cap over them, then render (outer). */
	static const char *const order_by[] = {"scope, key", "revision DESC", "rk DESC, scope, key"};
	cm_query_add(&q, "SELECT cm_memory_entry(t.m), t.scope, t.key, t.revision::text, t.rk::text, t.total FROM"
		" (SELECT u.*, sum(u.size) OVER w - u.size AS before, count(*) OVER () AS total FROM"
		" (SELECT m, m.scope, m.key, m.revision, m.size, ");
	if (qp)
		cm_query_add(&q, RANK " AS rk", qp);
	else
		cm_query_add(&q, "0::real AS rk");
	cm_query_add(&q, " FROM memory m WHERE cm_memory_live(m, now())");
	if (f->scopes) {
		cm_query_add(&q, " AND m.scope = ANY(" JSON_TEXTS(cm_query_param(&q, f->scopes)));
		cm_query_add(&q, ")");
	} else if (!f->all_readable) {
		cm_query_add(&q, " AND (m.scope = ANY(" JSON_TEXTS(cm_query_param(&q, f->readable)));
		cm_query_add(&q, ") OR EXISTS (SELECT 1 FROM jsonb_array_elements_text($%d::jsonb) p"
			" WHERE starts_with(m.scope, p)))", cm_query_param(&q, f->readable_prefixes));
	}
	char like[2 * 256 + 2];
	if (f->prefix) {
		size_t o = 0;
		for (const char *c = f->prefix; *c && o < sizeof like - 3; c++) {
			if (*c == '_' || *c == '%' || *c == '\\')
				like[o++] = '\\';
			like[o++] = *c;
		}
		like[o++] = '%';
		like[o] = '\0';
		cm_query_add(&q, " AND m.key LIKE $%d", cm_query_param(&q, like));
	}
	if (f->node)
		cm_query_add(&q, " AND m.node = $%d", cm_query_param(&q, f->node));
	if (f->tags)
		cm_query_add(&q, " AND m.tags @> " JSON_TEXTS(cm_query_param(&q, f->tags)));
	if (f->updated_after)
		cm_query_add(&q, " AND m.updated_at > $%d::timestamptz", cm_query_param(&q, f->updated_after));
	if (qp)
		cm_query_add(&q, " AND m.search @@ websearch_to_tsquery('english', $%d)", qp);
	if (f->after) {
		if (f->order == CM_ORDER_KEY) {
			int a = cm_query_param(&q, cs);
			cm_query_add(&q, " AND (m.scope, m.key) > ($%d, $%d)", a, cm_query_param(&q, ck));
		} else if (f->order == CM_ORDER_RECENT) {
			cm_query_add(&q, " AND m.revision < $%d::bigint", cm_query_param(&q, cn));
		} else {
			int a = cm_query_param(&q, cn), b = cm_query_param(&q, cs), c = cm_query_param(&q, ck);
			cm_query_add(&q, " AND (" RANK " < $%d::real OR (" RANK " = $%d::real AND (m.scope, m.key) > ($%d, $%d)))", qp, a,
			    qp, a, b, c);
		}
	}
	char lim[16];
	snprintf(lim, sizeof lim, "%u", f->limit + 1);
	cm_query_add(&q, " ORDER BY %s LIMIT $%d::integer) u WINDOW w AS (ORDER BY %s ROWS UNBOUNDED PRECEDING)) t"
		" WHERE t.before < " CM_PAGE_BYTES " ORDER BY %s",
	    order_by[f->order], cm_query_param(&q, lim), order_by[f->order], order_by[f->order]);
	if (q.overflow) {
		cm_log_error("store: memory listing query too long");
		return -CM_EINTERNAL;
	}

	PGresult *r;
	int e = cm_db_query("memory list", q.sql, q.n, q.params, &r);
	if (e < 0)
		return e;
	int n = PQntuples(r);
	int shown = n > (int)f->limit ? (int)f->limit : n;
	e = cm_store_append_raw(r, shown, 0, items);
	if (e == 0 && n > 0 && atoi(PQgetvalue(r, 0, 5)) > shown) {
		static const char *const tag[] = {"key", "recent", "rank"};
		cJSON *pos = cJSON_CreateObject();
		int last = shown - 1;
		if (!pos || !cJSON_AddStringToObject(pos, "o", tag[f->order]) ||
		    (f->order != CM_ORDER_RECENT && (!cJSON_AddStringToObject(pos, "s", PQgetvalue(r, last, 1)) ||
						     !cJSON_AddStringToObject(pos, "k", PQgetvalue(r, last, 2)))) ||
		    (f->order != CM_ORDER_KEY &&
		     !cJSON_AddStringToObject(pos, "n", PQgetvalue(r, last, f->order == CM_ORDER_RECENT ? 3 : 4)))) {
			cJSON_Delete(pos);
			e = -CM_EINTERNAL;
		} else {
			*next = pos;
		}
	}
	PQclear(r);
	return e;
}

int cm_store_memory_batch(const char *body, const char *node, size_t max_value, struct cm_store_result *results,
			  size_t cap, size_t *n, int *failed)
{
	*n = 0;
	*failed = -1;
	char max[24];
	snprintf(max, sizeof max, "%zu", max_value);
	const char *p[] = {body, node, max};
	int e = cm_db_begin();
	if (e < 0)
		return e;
	PGresult *r;
	e = cm_db_exec(&stmt_batch, p, &r);
	if (e < 0) {
		cm_db_rollback();
		return e;
	}
	int rows = PQntuples(r);
	for (int i = 0; e == 0 && i < rows && (size_t)i < cap; i++) {
		e = cm_store_result_from_row(r, i, 1, &results[i]);
		*n = (size_t)i + 1;
		if (e == 0 && !CM_ST_DONE(results[i].status))
			*failed = atoi(PQgetvalue(r, i, 0));
	}
	PQclear(r);
	if (e < 0 || *failed >= 0) {
		cm_db_rollback();
		return e;
	}
	if ((e = cm_db_commit()) < 0)
		return e;
	for (size_t i = 0; i < *n; i++)
		if (results[i].entry && results[i].status != CM_ST_FOUND)
			cm_cache_memory_written(NULL, NULL, results[i].entry);
	return 0;
}
