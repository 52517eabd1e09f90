/* Token rules shared by POST /v1/tokens and `clawmeshd token create`: what a creation request
 * may say, API.md's defaults, minting, and the public JSON shape (no secret, no hash). */
#include "clawmesh/tokens.h"
#include "clawmesh/config.h"
#include "clawmesh/err.h"
#include "clawmesh/json.h"
#include "clawmesh/store_tokens.h"

#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define MAX_EXPIRES_IN (10LL * 366 * 24 * 3600)

int cm_grants_from_json(const cJSON *arr, struct cm_grant *out, size_t *n, const char **msg)
{
	*n = 0;
	if (!cJSON_IsArray(arr)) {
		*msg = "grants must be an array of {\"scope\",\"access\"}";
		return -CM_EVALIDATION;
	}
	if (cJSON_GetArraySize(arr) > CM_MAX_GRANTS) {
		*msg = "at most 64 grants";
		return -CM_EVALIDATION;
	}
	const cJSON *g;
	cJSON_ArrayForEach(g, arr) {
		const cJSON *scope = cJSON_GetObjectItemCaseSensitive(g, "scope");
		const cJSON *access = cJSON_GetObjectItemCaseSensitive(g, "access");
		if (!cJSON_IsObject(g) || cJSON_GetArraySize(g) != 2 || !cJSON_IsString(scope) ||
		    !cJSON_IsString(access)) {
			*msg = "each grant is exactly {\"scope\": PATTERN, \"access\": \"r\"|\"rw\"}";
			return -CM_EVALIDATION;
		}
		if (!cm_grant_pattern_valid(scope->valuestring)) {
			*msg = "a grant scope must be '*', a scope (mesh, node:ID, user:ID, project:ID) or a prefix ending in '*'";
			return -CM_EVALIDATION;
		}
		enum cm_access a = cm_access_parse(access->valuestring);
		if (a == CM_ACCESS_NONE) {
			*msg = "a grant access is \"r\" or \"rw\"";
			return -CM_EVALIDATION;
		}
		snprintf(out[*n].pattern, sizeof out[*n].pattern, "%s", scope->valuestring);
		out[*n].access = a;
		(*n)++;
	}
	return 0;
}

cJSON *cm_grants_to_json(const struct cm_grant *g, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o || !cJSON_AddStringToObject(o, "scope", g[i].pattern) ||
		    !cJSON_AddStringToObject(o, "access", cm_access_name(g[i].access))) {
			cJSON_Delete(o);
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int expires_from_json(const cJSON *v, long long *out)
{
	if (cJSON_IsNull(v)) {
		*out = 0;
		return 0;
	}
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (!isfinite(d) || d < 1 || d > (double)MAX_EXPIRES_IN || d != floor(d))
			return -CM_EVALIDATION;
		*out = (long long)d;
		return 0;
	}
	if (cJSON_IsString(v))
		return cm_parse_duration(v->valuestring, out) < 0 ? -CM_EVALIDATION : 0;
	return -CM_EVALIDATION;
}

int cm_token_request_from_json(const cJSON *body, struct cm_token_request *req, const char **field,
			       const char **msg)
{
	static const char *const known[] = {"label", "node", "grants", "admin", "expires_in"};
	memset(req, 0, sizeof *req);
	*field = NULL;
	if (!cJSON_IsObject(body)) {
		*msg = "The body must be a JSON object.";
		return -CM_EBADREQ;
	}
	const cJSON *item;
	cJSON_ArrayForEach(item, body) {
		bool ok = false;
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			ok |= item->string && !strcmp(item->string, known[i]);
		if (!ok) {
			*field = item->string;
			*msg = "unknown field";
			return -CM_EVALIDATION;
		}
	}
	const cJSON *label = cJSON_GetObjectItemCaseSensitive(body, "label");
	if (label && !cJSON_IsNull(label)) {
		*field = "label";
		if (!cJSON_IsString(label) || strlen(label->valuestring) > CM_LABEL_MAX) {
			*msg = "label must be a string of at most 128 bytes";
			return -CM_EVALIDATION;
		}
		snprintf(req->label, sizeof req->label, "%s", label->valuestring);
	}
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(body, "node");
	if (node && !cJSON_IsNull(node)) {
		*field = "node";
		if (!cJSON_IsString(node) || !cm_valid_id(node->valuestring)) {
			*msg = "node must be an id: [a-z0-9][a-z0-9._-]{0,63}";
			return -CM_EVALIDATION;
		}
		snprintf(req->node, sizeof req->node, "%s", node->valuestring);
	}
	const cJSON *admin = cJSON_GetObjectItemCaseSensitive(body, "admin");
	if (admin && !cJSON_IsNull(admin)) {
		*field = "admin";
		if (!cJSON_IsBool(admin)) {
			*msg = "admin must be true or false";
			return -CM_EVALIDATION;
		}
		req->admin = cJSON_IsTrue(admin);
	}
	const cJSON *grants = cJSON_GetObjectItemCaseSensitive(body, "grants");
	if (grants && !cJSON_IsNull(grants)) {
		*field = "grants";
		int e = cm_grants_from_json(grants, req->grants, &req->ngrants, msg);
		if (e < 0)
			return e;
		req->grants_given = true;
	}
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(body, "expires_in");
	if (exp) {
		*field = "expires_in";
		if (expires_from_json(exp, &req->expires_in) < 0) {
			*msg = "expires_in must be whole seconds (1 to 10 years) or a duration like \"90d\", \"12h\", \"30m\"";
			return -CM_EVALIDATION;
		}
	}
	*field = NULL;
	return 0;
}

int cm_grant_parse_cli(const char *s, struct cm_grant *out)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	if (!colon || (size_t)(colon - s) > CM_PATTERN_MAX)
		return -CM_EVALIDATION;
	char pattern[CM_PATTERN_MAX + 1];
	memcpy(pattern, s, (size_t)(colon - s));
	pattern[colon - s] = '\0';
	enum cm_access a = cm_access_parse(colon + 1);
	if (a == CM_ACCESS_NONE || !cm_grant_pattern_valid(pattern))
		return -CM_EVALIDATION;
	snprintf(out->pattern, sizeof out->pattern, "%s", pattern);
	out->access = a;
	return 0;
}

int cm_token_create(struct cm_token_request *req, struct cm_token *out, char *secret)
{
	/* API.md: a new node token with no grants given gets mesh rw (its own node is implicit). */
	if (req->node[0] && !req->grants_given && req->ngrants == 0) {
		snprintf(req->grants[0].pattern, sizeof req->grants[0].pattern, "mesh");
		req->grants[0].access = CM_ACCESS_RW;
		req->ngrants = 1;
	}
	char id[CM_TOKEN_ID_LEN + 1];
	char hash[CM_TOKEN_HASH_HEX + 1];
	int e = cm_token_id_new(id);
	if (e == 0)
		e = cm_token_secret_new(secret);
	if (e < 0)
		return e;
	cm_token_hash(secret, hash);
	e = cm_store_token_insert(req, id, hash, out);
	OPENSSL_cleanse(hash, sizeof hash);
	if (e < 0)
		OPENSSL_cleanse(secret, CM_TOKEN_SECRET_LEN + 1);
	return e;
}

cJSON *cm_token_to_json(const struct cm_token *t)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	bool ok = cJSON_AddStringToObject(o, "id", t->who.token_id) &&
		  cJSON_AddStringToObject(o, "label", t->who.label) &&
		  cm_json_add_string_or_null(o, "node", t->who.node[0] ? t->who.node : NULL) &&
		  cJSON_AddBoolToObject(o, "admin", t->who.admin);
	cJSON *g = ok ? cm_grants_to_json(t->who.grants, t->who.ngrants) : NULL;
	if (g)
		cJSON_AddItemToObject(o, "grants", g);
	ok = ok && g && cJSON_AddStringToObject(o, "created_at", t->created_at) &&
	     cm_json_add_string_or_null(o, "expires_at", t->expires_at[0] ? t->expires_at : NULL) &&
	     cm_json_add_string_or_null(o, "last_used_at", t->last_used_at[0] ? t->last_used_at : NULL) &&
	     cm_json_add_string_or_null(o, "revoked_at", t->revoked_at[0] ? t->revoked_at : NULL);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int cm_token_append_json(void *array, const struct cm_token *t)
{
	cJSON *o = cm_token_to_json(t);
	if (!o)
		return -CM_EINTERNAL;
	cJSON_AddItemToArray(array, o);
	return 0;
}
