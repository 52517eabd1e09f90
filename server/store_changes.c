/* SQL for the change feed and the stats (migrations/0004_feed.sql). A page is one statement, so
 * the rows, the horizon and the cursor all come from one snapshot: the cursor can then be the
 * highest revision visible in it, which (by the write lock) has nothing uncommitted below it. */
#include "clawmesh/store_changes.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TEXTS "ARRAY(SELECT jsonb_array_elements_text($%d::jsonb))"

/* The bytes of a change's value, for the page cap. */
static const char size_sql[] =
	"CASE c.kind WHEN 'memory' THEN (SELECT h.size FROM memory_history h WHERE h.scope = c.scope AND "
	"h.key = c.name AND h.version = c.version) WHEN 'skill' THEN (SELECT v.size FROM skill_versions v WHERE "
	"c.op = 'put' AND v.scope = c.scope AND v.name = c.name AND v.version = c.version) ELSE 0 END";

/* The value members a change gets with include=value: a memory change its value, tags and expiry
 * at that version; a skill change that version with its content; a node change the node's
 * registration as it is now (nodes keep no history), null once removed. */
static const char value_sql[] =
	"CASE k.kind WHEN 'memory' THEN json_build_object('value', h.value, 'tags', h.tags, 'expires_at', "
	"cm_ts(h.expires_at)) WHEN 'skill' THEN json_build_object('value', CASE WHEN v.version IS NOT NULL THEN "
	"cm_skill_json(v.scope, v.name, v.version, v.description, v.sha256, v.size, v.tags, v.metadata, v.node, "
	"v.created_at, v.at, v.content)::json END) ELSE json_build_object('value', CASE WHEN n.id IS NOT NULL AND "
	"k.op <> 'delete' THEN json_build_object('id', n.id, 'name', n.name, 'description', n.description, "
	"'capabilities', n.capabilities, 'endpoint', n.endpoint, 'meta', n.meta, 'version', n.version) END) END";

static const char value_joins[] =
	" LEFT JOIN memory_history h ON k.kind = 'memory' AND h.scope = k.scope AND h.key = k.name AND "
	"h.version = k.version LEFT JOIN skill_versions v ON k.kind = 'skill' AND k.op = 'put' AND v.scope = "
	"k.scope AND v.name = k.name AND v.version = k.version LEFT JOIN nodes n ON k.kind = 'node' AND n.id = k.name";

static void add_visibility(struct cm_query *q, const char *scopes, bool all, const char *exact, const char *prefixes)
{
	if (scopes) {
		cm_query_add(q, " AND c.scope = ANY(" JSON_TEXTS ")", cm_query_param(q, scopes));
	} else if (!all) {
		int a = cm_query_param(q, exact);
		cm_query_add(q, " AND (c.scope IS NULL OR cm_scope_in(c.scope, false, " JSON_TEXTS ", " JSON_TEXTS "))", a,
			     cm_query_param(q, prefixes));
	}
}

void cm_changes_page_free(struct cm_changes_page *p)
{
	for (int i = 0; p->items && i < p->n; i++)
		free(p->items[i]);
	free(p->items);
	free(p->revisions);
	memset(p, 0, sizeof *p);
}

int cm_store_changes(const struct cm_changes_filter *f, struct cm_changes_page *out)
{
	memset(out, 0, sizeof *out);
	struct cm_query q = {.len = 0};
	char since[24], limit[16];
	snprintf(since, sizeof since, "%lld", f->since);
	snprintf(limit, sizeof limit, "%u", f->limit);
	cm_query_add(&q, "WITH page AS (SELECT c.revision, c.kind, c.op, c.scope, c.name, c.version, c.node, c.at, %s AS sz "
			 "FROM changes c WHERE c.revision > $%d::bigint",
		     f->with_value ? size_sql : "0", cm_query_param(&q, since));
	if (f->kinds)
		cm_query_add(&q, " AND c.kind = ANY(" JSON_TEXTS ")", cm_query_param(&q, f->kinds));
	add_visibility(&q, f->scopes, f->all_readable, f->readable, f->readable_prefixes);
	cm_query_add(&q, " ORDER BY c.revision LIMIT $%d::integer), ", cm_query_param(&q, limit));
	/* Values are capped per page like listings: rows while the bytes before them stay under the cap. */
	cm_query_add(&q, "kept AS (SELECT * FROM (SELECT p.*, sum(coalesce(p.sz, 0)) OVER (ORDER BY p.revision) - "
			 "coalesce(p.sz, 0) AS before FROM page p) x WHERE before < " CM_PAGE_BYTES ") "
			 "SELECT (SELECT horizon FROM cm_feed), (SELECT max(revision) FROM changes), "
			 "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cm_revision), (SELECT count(*) FROM page), "
			 "k.revision, cm_json_append(cm_change_json(k.revision, k.kind, k.op, k.scope, k.name, k.version, "
			 "k.node, k.at), %s) FROM (SELECT 1) one LEFT JOIN kept k ON true%s ORDER BY k.revision",
		     f->with_value ? value_sql : "NULL", f->with_value ? value_joins : "");
	if (q.overflow)
		return -CM_EINTERNAL;
	PGresult *r;
	int e = cm_db_query("changes", q.sql, q.n, q.params, &r);
	if (e < 0)
		return e;
	int rows = PQntuples(r);
	if (rows < 1) {
		PQclear(r);
		return -CM_EINTERNAL;
	}
	out->horizon = atoll(PQgetvalue(r, 0, 0));
	long long head = out->head = PQgetisnull(r, 0, 1) ? out->horizon : atoll(PQgetvalue(r, 0, 1));
	out->current = atoll(PQgetvalue(r, 0, 2));
	long long in_page = atoll(PQgetvalue(r, 0, 3));
	int n = PQgetisnull(r, 0, 4) ? 0 : rows;
	if (n) {
		out->revisions = calloc((size_t)n, sizeof *out->revisions);
		out->items = calloc((size_t)n, sizeof *out->items);
		if (!out->revisions || !out->items) {
			PQclear(r);
			cm_changes_page_free(out);
			return -CM_EINTERNAL;
		}
		for (int i = 0; i < n; i++) {
			out->revisions[i] = atoll(PQgetvalue(r, i, 4));
			if (!(out->items[i] = strdup(PQgetvalue(r, i, 5)))) {
				out->n = i;
				PQclear(r);
				cm_changes_page_free(out);
				return -CM_EINTERNAL;
			}
		}
		out->n = n;
	}
	PQclear(r);
	/* A full or cut page continues after its last change; otherwise nothing the caller may read
	 * lies between since and the newest visible revision, so the cursor moves past it. */
	bool more = in_page == (long long)f->limit || n < in_page;
	if (more)
		out->next = out->revisions[n - 1];
	else
		out->next = head > f->since ? head : f->since;
	return 0;
}

/* The visibility test of column col, with the caller's scopes in parameters all, exact and pre. */
static void visible(char *buf, size_t cap, const char *col, int all, int exact, int pre)
{
	snprintf(buf, cap, "cm_scope_in(%s, $%d::boolean, " JSON_TEXTS ", " JSON_TEXTS ")", col, all, exact, pre);
}

int cm_store_stats(bool all_readable, const char *readable, const char *readable_prefixes, unsigned window,
		   char **json)
{
	*json = NULL;
	struct cm_query q = {.len = 0};
	char win[16];
	snprintf(win, sizeof win, "%u", window);
	/* cm_scope_in() takes "everything" as a parameter: one visibility test, three tables. */
	int all = cm_query_param(&q, all_readable ? "true" : "false");
	int exact = cm_query_param(&q, readable ? readable : "[]");
	int pre = cm_query_param(&q, readable_prefixes ? readable_prefixes : "[]");
	char mvis[256], svis[256], cvis[256];
	visible(mvis, sizeof mvis, "m.scope", all, exact, pre);
	visible(svis, sizeof svis, "s.scope", all, exact, pre);
	visible(cvis, sizeof cvis, "c.scope", all, exact, pre);
	cm_query_add(&q,
		     "WITH ms AS (SELECT m.scope, count(*) AS n, sum(m.size) AS b FROM memory m WHERE NOT m.deleted AND "
		     "(m.expires_at IS NULL OR m.expires_at > clock_timestamp()) AND %s GROUP BY m.scope), "
		     "ss AS (SELECT s.scope, count(*) AS n FROM skills s WHERE NOT s.deleted AND %s GROUP BY s.scope), "
		     "sc AS (SELECT coalesce(ms.scope, ss.scope) AS scope, coalesce(ms.n, 0) AS mem, coalesce(ms.b, 0) AS "
		     "bytes, coalesce(ss.n, 0) AS sk FROM ms FULL JOIN ss ON ms.scope = ss.scope), "
		     "recent AS (SELECT c.* FROM changes c WHERE c.scope IS NULL OR %s ORDER BY c.revision DESC LIMIT 20) "
		     "SELECT json_build_object('revision', (SELECT coalesce(max(revision), 0) FROM changes), "
		     "'horizon', (SELECT horizon FROM cm_feed), "
		     "'memory', json_build_object('entries', (SELECT coalesce(sum(n), 0) FROM ms), 'bytes', "
		     "(SELECT coalesce(sum(b), 0) FROM ms)), "
		     "'skills', json_build_object('count', (SELECT coalesce(sum(n), 0) FROM ss)), "
		     "'nodes', (SELECT json_build_object('total', count(*), 'online', count(*) FILTER (WHERE last_seen > "
		     "clock_timestamp() - make_interval(secs => $%d::integer))) FROM nodes), "
		     "'scopes', coalesce((SELECT json_agg(json_build_object('scope', scope, 'memory', mem, 'bytes', bytes, "
		     "'skills', sk) ORDER BY scope) FROM sc), '[]'), "
		     "'changes', coalesce((SELECT json_agg(cm_change_json(c.revision, c.kind, c.op, c.scope, c.name, "
		     "c.version, c.node, c.at)::json ORDER BY c.revision DESC) FROM recent c), '[]'))::text",
		     mvis, svis, cvis, cm_query_param(&q, win));
	if (q.overflow)
		return -CM_EINTERNAL;
	PGresult *r;
	int e = cm_db_query("stats", q.sql, q.n, q.params, &r);
	if (e < 0)
		return e;
	if (PQntuples(r) != 1 || !(*json = strdup(PQgetvalue(r, 0, 0))))
		e = -CM_EINTERNAL;
	PQclear(r);
	return e;
}
