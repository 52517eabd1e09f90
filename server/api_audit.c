/* The audit log: http.c records every audited request here once it has its answer; admins read
 * it with GET /v1/audit?since=&limit=. */
#include "clawmesh/api.h"
#include "clawmesh/validate.h"
#include "clawmesh/log.h"
#include "clawmesh/router.h"
#include "clawmesh/store_audit.h"

#include <stdlib.h>
#include <string.h>

void cm_api_audit_record(struct cm_request *req)
{
	cm_api_audit_part(req, req->route->action, req->audit_target[0] ? req->audit_target : NULL, req->status);
}

void cm_api_audit_part(struct cm_request *req, const char *action, const char *target, unsigned status)
{
	char addr[64];
	cm_req_remote_addr(req, addr, sizeof addr);
	struct cm_audit_row row = {
		.token_id = req->authenticated ? req->who.token_id : NULL,
		.node = req->authenticated && req->who.node[0] ? req->who.node : NULL,
		.action = action,
		.target = target,
		.status = status,
		.request_id = req->request_id,
		.remote_addr = addr[0] ? addr : NULL,
	};
	if (cm_store_audit_insert(&row) < 0)
		cm_log_warn("audit: could not record %s %u (request %s)", row.action, row.status, req->request_id);
}

int cm_api_audit_list(struct cm_request *req)
{
	unsigned limit;
	if (cm_req_limit(req, &limit) < 0)
		return cm_reply_error(req, CM_EBADREQ, CM_LIMIT_INVALID, NULL);
	const char *s = cm_req_query(req, "since");
	long long since = -1;
	if (s && !cm_parse_count(s, &since))
		return cm_reply_error(req, CM_EBADREQ, "since is an audit id (a whole number) from a previous answer.", NULL);
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	long long last = 0;
	int e = items ? cm_store_audit_list(since, limit, items, &last) : -CM_EINTERNAL;
	if (e == 0 && !cJSON_AddNumberToObject(o, "next", (double)last))
		e = -CM_EINTERNAL;
	if (e < 0) {
		cJSON_Delete(o);
		return e;
	}
	return cm_reply_json(req, 200, o);
}
