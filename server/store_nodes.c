/* SQL for the node registry (migrations/0003_skills_nodes.sql). A heartbeat is one UPDATE of
 * last_seen: no write lock, no change row, so frequent heartbeats never queue behind writers. */
#include "clawmesh/store_nodes.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CM_STMT(stmt_write, 8,
	"SELECT o_status, o_version, NULL FROM cm_node_write($1, $2, $3, $4,"
	" CASE WHEN $5::jsonb IS NOT NULL THEN cm_tags($5::jsonb) END, $6, $7::jsonb, $8)");
CM_STMT(stmt_heartbeat, 1, "UPDATE nodes SET last_seen = clock_timestamp() WHERE id = $1");
/* A node's view for a viewer whose window, all, exact scopes and prefixes are parameters w..w+3:
 * its skills are the live skills whose latest version it published (as GET /v1/skills?node=
 * counts them), in the scopes the viewer reads. */
#define NODE_VIEW(w, a, e, p) \
	"cm_node_view(n, make_interval(secs => $" w "::integer), ARRAY(SELECT DISTINCT s.name FROM skills s" \
	" WHERE s.node = n.id AND NOT s.deleted AND cm_scope_in(s.scope, $" a "::boolean," \
	" ARRAY(SELECT jsonb_array_elements_text($" e "::jsonb)), ARRAY(SELECT jsonb_array_elements_text($" p "::jsonb)))" \
	" ORDER BY 1))"

CM_STMT(stmt_get, 5, "SELECT n.version, " NODE_VIEW("2", "3", "4", "5") " FROM nodes n WHERE n.id = $1");
CM_STMT(stmt_list, 8,
	"SELECT n.id, " NODE_VIEW("5", "6", "7", "8") " FROM nodes n WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM unnest(n.capabilities) c WHERE lower(c) = lower($1)))"
	" AND ($2::integer < 0 OR (n.last_seen > clock_timestamp() - make_interval(secs => $5::integer)) = ($2::integer = 1))"
	" AND ($3::text IS NULL OR n.id > $3) ORDER BY n.id LIMIT $4::integer");

/* The viewer's parameters: window, all, exact scopes, prefixes. */
static void viewer_params(const struct cm_node_viewer *v, char *window, size_t cap, const char **p)
{
	snprintf(window, cap, "%u", v->window);
	p[0] = window;
	p[1] = v->in.all_readable ? "true" : "false";
	p[2] = v->in.readable ? v->in.readable : "[]";
	p[3] = v->in.readable_prefixes ? v->in.readable_prefixes : "[]";
}

int cm_store_node_get(const char *id, const struct cm_node_viewer *viewer, struct cm_store_result *out)
{
	char window[16];
	const char *p[5] = {id};
	viewer_params(viewer, window, sizeof window, p + 1);
	PGresult *r;
	int e = cm_db_exec(&stmt_get, p, &r);
	return e < 0 ? e : cm_store_found(r, out, NULL);
}

int cm_store_node_write(const struct cm_node_write *w, const struct cm_node_viewer *viewer,
			struct cm_store_result *out)
{
	const char *p[] = {w->op, w->id, w->name, w->description, w->capabilities, w->endpoint, w->meta, w->node};
	PGresult *r;
	/* The write and its view in one transaction: a delete committing in between cannot turn a
	 * committed registration into a 404. */
	int e = cm_db_begin();
	if (e == 0 && (e = cm_db_exec(&stmt_write, p, &r)) == 0)
		e = cm_store_written(r, out);
	if (e == 0 && CM_ST_DONE(out->status) && out->status != CM_ST_DELETED) {
		struct cm_store_result view = {.version = -1};
		if ((e = cm_store_node_get(w->id, viewer, &view)) == 0) {
			out->entry = view.entry;
			view.entry = NULL;
		}
		cm_store_result_clear(&view);
	}
	if (e < 0) {
		cm_db_rollback();
		return e;
	}
	return cm_db_commit();
}

int cm_store_node_heartbeat(const char *id)
{
	const char *p[] = {id};
	PGresult *r;
	int e = cm_db_exec(&stmt_heartbeat, p, &r);
	if (e < 0)
		return e;
	e = strcmp(PQcmdTuples(r), "1") ? -CM_ENOTFOUND : 0;
	PQclear(r);
	return e;
}

int cm_store_node_list(const struct cm_node_filter *f, const struct cm_node_viewer *viewer, cJSON *items,
		       char **next)
{
	*next = NULL;
	char window[16], online[8], lim[16];
	snprintf(online, sizeof online, "%d", f->online);
	snprintf(lim, sizeof lim, "%u", f->limit + 1);
	const char *p[8] = {f->capability, online, f->after, lim};
	viewer_params(viewer, window, sizeof window, p + 4);
	PGresult *r;
	int e = cm_db_exec(&stmt_list, p, &r);
	if (e < 0)
		return e;
	int n = PQntuples(r);
	int shown = n > (int)f->limit ? (int)f->limit : n;
	e = cm_store_append_raw(r, shown, 1, items);
	if (e == 0 && n > shown && !(*next = strdup(PQgetvalue(r, shown - 1, 0))))
		e = -CM_EINTERNAL;
	PQclear(r);
	return e;
}
