/* SQL for the audit log. */
#include "clawmesh/store_audit.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"

#include <stdio.h>
#include <stdlib.h>

#define AUDIT_JSON                                                                                 \
	"json_build_object('id', a.id, 'at', cm_ts(a.at), 'token_id', a.token_id, 'node', a.node," \
	" 'action', a.action, 'target', a.target, 'status', a.status, 'request_id', a.request_id,"  \
	" 'remote_addr', a.remote_addr)::text"

/* The audit row commits without waiting for its WAL flush (synchronous_commit off for this one
 * statement's transaction): a write's own commit has already been flushed, and a second flush per
 * request would halve single-client write throughput. A database crash can lose the last few
 * hundred milliseconds of audit rows, never a write. */
CM_STMT(stmt_insert, 7,
	"WITH async AS (SELECT set_config('synchronous_commit', 'off', true))"
	" INSERT INTO audit (token_id, node, action, target, status, request_id, remote_addr)"
	" SELECT $1, $2, $3, left($4, 1024), $5::smallint, $6, $7 FROM async");
CM_STMT(stmt_after, 2, "SELECT a.id, " AUDIT_JSON " FROM audit a WHERE a.id > $1::bigint ORDER BY a.id LIMIT $2::integer");
CM_STMT(stmt_tail, 1,
	"SELECT * FROM (SELECT a.id, " AUDIT_JSON " FROM audit a ORDER BY a.id DESC LIMIT $1::integer) t ORDER BY id");

int cm_store_audit_insert(const struct cm_audit_row *row)
{
	char status[8];
	snprintf(status, sizeof status, "%u", row->status);
	const char *p[] = {row->token_id, row->node, row->action, row->target, status, row->request_id,
			   row->remote_addr};
	PGresult *r;
	int e = cm_db_exec(&stmt_insert, p, &r);
	PQclear(r);
	return e;
}

int cm_store_audit_list(long long since, unsigned limit, cJSON *items, long long *last)
{
	char s[24], lim[16];
	snprintf(s, sizeof s, "%lld", since);
	snprintf(lim, sizeof lim, "%u", limit);
	const char *after[] = {s, lim}, *tail[] = {lim};
	PGresult *r;
	int e = since >= 0 ? cm_db_exec(&stmt_after, after, &r) : cm_db_exec(&stmt_tail, tail, &r);
	if (e < 0)
		return e;
	*last = since < 0 ? 0 : since;
	for (int i = 0; e == 0 && i < PQntuples(r); i++) {
		cJSON *raw = cJSON_CreateRaw(PQgetvalue(r, i, 1));
		if (!raw)
			e = -CM_EINTERNAL;
		else
			cJSON_AddItemToArray(items, raw);
		*last = atoll(PQgetvalue(r, i, 0));
	}
	PQclear(r);
	return e;
}
