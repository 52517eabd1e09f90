/* /v1/whoami and the admin /v1/tokens endpoints. A secret leaves the server once, in the 201
 * of its creation; listings and reads show only the public fields. */
#include "clawmesh/api.h"
#include "clawmesh/json.h"
#include "clawmesh/store_tokens.h"
#include "clawmesh/tokens.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int cm_api_whoami(struct cm_request *req)
{
	struct cm_grant eff[CM_MAX_GRANTS + 2];
	size_t n = cm_effective_grants(&req->who, eff, sizeof eff / sizeof eff[0]);
	cJSON *o = cJSON_CreateObject();
	cJSON *g = cm_grants_to_json(eff, n);
	if (!o || !g || !cJSON_AddStringToObject(o, "token_id", req->who.token_id) ||
	    !cJSON_AddStringToObject(o, "label", req->who.label) ||
	    !cm_json_add_string_or_null(o, "node", req->who.node[0] ? req->who.node : NULL) ||
	    !cJSON_AddBoolToObject(o, "admin", req->who.admin)) {
		cJSON_Delete(o);
		cJSON_Delete(g);
		return -CM_EINTERNAL;
	}
	cJSON_AddItemToObject(o, "grants", g);
	return cm_reply_json(req, 200, o);
}

int cm_token_request_parse(const cJSON *body, struct cm_token_request *tr, struct cm_problem *p)
{
	static const char *const fields[] = {"label", "node", "grants", "admin", "expires_in", NULL};
	const char *field = NULL, *msg = NULL;
	int e = cm_token_request_from_json(body, tr, &field, &msg);
	if (e != -CM_EVALIDATION && e != -CM_EBADREQ)
		return e;
	/* An unknown member's name is the client's: echoed only under the rule every endpoint uses
	 * (it may be "", a megabyte long, or a credential pasted into the wrong place). */
	if (e == -CM_EVALIDATION && field && !cm_field_known(field, fields))
		return cm_check_unknown_field(field, p);
	return cm_problem(p, -e, e == -CM_EVALIDATION ? field : NULL, "%s", msg ? msg : "");
}

int cm_api_tokens_create(struct cm_request *req)
{
	cJSON *body;
	int e = cm_req_json(req, NULL, &body);
	if (e < 0)
		return e;
	struct cm_token_request *tr = malloc(sizeof *tr);
	struct cm_token *t = malloc(sizeof *t);
	struct cm_problem p = {.err = CM_OK};
	if (!tr || !t) {
		e = -CM_EINTERNAL;
		goto out;
	}
	if ((e = cm_token_request_parse(body, tr, &p))) {
		if (e == 1)
			e = cm_reply_problem(req, &p, -1);
		goto out;
	}
	char secret[CM_TOKEN_SECRET_LEN + 1];
	e = cm_token_create(tr, t, secret);
	if (e < 0)
		goto out;
	cJSON *o = cm_token_to_json(t);
	if (!o || !cJSON_AddStringToObject(o, "token", secret)) {
		cJSON_Delete(o);
		e = -CM_EINTERNAL;
	} else {
		e = cm_reply_json(req, 201, o);
	}
	OPENSSL_cleanse(secret, sizeof secret);
	if (e == 0) {
		char loc[64];
		snprintf(loc, sizeof loc, "/v1/tokens/%s", t->who.token_id);
		cm_reply_header(req, "Location", loc);
	}
out:
	cJSON_Delete(body);
	free(tr);
	free(t);
	return e;
}

int cm_api_tokens_list(struct cm_request *req)
{
	unsigned limit;
	if (cm_req_limit(req, &limit) < 0)
		return cm_reply_error(req, CM_EBADREQ, CM_LIMIT_INVALID, NULL);
	/* The cursor is the last id of the previous page; it must look like one. */
	const char *cursor = cm_req_query(req, "cursor");
	if (cursor && (strlen(cursor) != CM_TOKEN_ID_LEN || strncmp(cursor, "tok_", 4) ||
		       strspn(cursor + 4, "0123456789abcdef") != CM_TOKEN_ID_LEN - 4))
		return cm_reply_error(req, CM_EBADREQ, "cursor is not one this server gave out.", NULL);

	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	bool more = false;
	int e = items ? cm_store_token_list(cursor, limit, cm_token_append_json, items, &more) : -CM_EINTERNAL;
	if (e < 0) {
		cJSON_Delete(o);
		return e;
	}
	const cJSON *last = cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1);
	const cJSON *last_id = last ? cJSON_GetObjectItemCaseSensitive(last, "id") : NULL;
	cm_json_add_string_or_null(o, "next_cursor", more && last_id ? last_id->valuestring : NULL);
	return cm_reply_json(req, 200, o);
}

static bool token_id_plausible(const char *id)
{
	return strlen(id) == CM_TOKEN_ID_LEN && !strncmp(id, "tok_", 4);
}

int cm_api_tokens_get(struct cm_request *req)
{
	if (!token_id_plausible(req->params[0]))
		return -CM_ENOTFOUND;
	struct cm_token *t = malloc(sizeof *t);
	if (!t)
		return -CM_EINTERNAL;
	int e = cm_store_token_get(req->params[0], t);
	if (e == 0) {
		cJSON *o = cm_token_to_json(t);
		e = o ? cm_reply_json(req, 200, o) : -CM_EINTERNAL;
	}
	free(t);
	return e;
}

int cm_api_tokens_revoke(struct cm_request *req)
{
	if (!token_id_plausible(req->params[0]))
		return -CM_ENOTFOUND;
	int e = cm_store_token_revoke(req->params[0]);
	return e < 0 ? e : cm_reply_empty(req, 204);
}
