/* /v1/memory and /v1/batch: parse and validate the request, check the grant on the scope (before
 * the database is asked anything, so a refusal says nothing about what exists), run the secret
 * guard, call the store, render. Values are never re-encoded here: the store takes the request's
 * JSON text and returns entries rendered by PostgreSQL. */
#include "clawmesh/api.h"
#include "clawmesh/api_util.h"
#include "clawmesh/cache.h"
#include "clawmesh/cursor.h"
#include "clawmesh/group.h"
#include "clawmesh/json.h"
#include "clawmesh/secrets.h"
#include "clawmesh/store_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUE_DEPTH 100   /* the merge patch recurses in PL/pgSQL; 100 levels fit its stack */
#define MAX_TTL 315360000LL   /* ten years */
#define MAX_QUERY_TEXT 256
#define BATCH_MAX 100

static int bad_request(struct cm_request *req, const char *msg)
{
	return cm_reply_error(req, CM_EBADREQ, msg, NULL);
}

/* bad_request() for code that returns 1 once it has answered. */
static int refused(struct cm_request *req, const char *msg)
{
	int e = bad_request(req, msg);
	return e < 0 ? e : 1;
}

/* p's field as the batch names it: "value" of op 3 is "ops[3].value"; a problem without a
 * field (a grant refusal) stays without one, details.index says which op. */
static void in_op(int index, struct cm_problem *p)
{
	if (index >= 0 && p->field[0]) {
		char name[sizeof p->field];
		snprintf(name, sizeof name, "ops[%d].%.40s", index, p->field);
		memcpy(p->field, name, sizeof name);
	}
}

/* Answers p (refused by a check below) for the request; 1 (answered) or <0. */
static int answer(struct cm_request *req, struct cm_problem *p, int index)
{
	int e = cm_reply_problem(req, p, index);
	return e < 0 ? e : 1;
}

/* 403 unless the token may do `need` on scope. 1 = refused (answered), 0 = allowed. */
static int refuse_scope(struct cm_request *req, const char *scope, enum cm_access need)
{
	struct cm_problem p = {.err = CM_OK};
	return cm_check_scope(&req->who, scope, need, &p) ? answer(req, &p, -1) : 0;
}

/* The scope and key of the path, checked against API.md's grammar. 1 = refused (answered). */
static int path_target(struct cm_request *req, const char **scope, const char **key)
{
	*scope = req->params[0];
	*key = req->params[1];
	if (!cm_valid_scope(*scope)) {
		bad_request(req, "The scope must be mesh, node:<id>, user:<id> or project:<id>.");
		return 1;
	}
	if (!cm_valid_key(*key)) {
		bad_request(req, "The key must be 1-256 characters of A-Z a-z 0-9 . _ : @ -, not starting with a dot.");
		return 1;
	}
	return 0;
}

/* A version as If-Match / if_match carry it: "3", 3, "\"3\"" or "*" (0). -1 when malformed. */
static int parse_version(const char *s)
{
	if (!strcmp(s, "*"))
		return 0;
	size_t n = strlen(s);
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		s++, n -= 2;
	if (n == 0 || n > 9 || strspn(s, "0123456789") != n || s[0] == '0')
		return -1;
	return atoi(s);
}

/* The HTTP status of a done write or read, alone or as a batch result. */
static unsigned op_status(enum cm_store_status s)
{
	return s == CM_ST_CREATED ? 201 : s == CM_ST_DELETED ? 204 : 200;
}

/* The entry as the store rendered it, with its ETag; takes r->entry. */
static int reply_entry(struct cm_request *req, unsigned status, struct cm_store_result *r)
{
	int e = cm_reply_json_text(req, status, r->entry);
	r->entry = NULL;
	if (e == 0)
		cm_reply_etag(req, r->version);
	return e;
}

/* details.current_version: the entry's version, null when there is none. */
static void current_version(struct cm_problem *p, int version)
{
	if (version > 0)
		cm_problem_number(p, "current_version", version);
	else if (p->details || (p->details = cJSON_CreateObject()))
		cJSON_AddNullToObject(p->details, "current_version");
}

/* The answer for a store refusal (status other than a success) of op index of a batch, or of
 * the request (-1): named as a refused check is (in_op), so a batch speaks one way of both. */
static int reply_refusal(struct cm_request *req, const struct cm_store_result *r, int index)
{
	struct cm_problem p = {.err = CM_OK};
	bool batch = index >= 0;
	size_t max = req->cfg->max_value;
	switch (r->status) {
	case CM_ST_VERSION_MISMATCH:
		cm_problem(&p, batch ? CM_ECONFLICT : CM_EVERSION, NULL, "The entry is not at the expected version.");
		current_version(&p, r->version);
		break;
	case CM_ST_ALREADY_EXISTS:
		cm_problem(&p, batch ? CM_ECONFLICT : CM_EEXISTS, NULL, "The entry exists already.");
		current_version(&p, r->version);
		break;
	case CM_ST_NOT_FOUND:
		cm_problem(&p, CM_ENOTFOUND, NULL, "No such entry.");
		break;
	case CM_ST_TOO_LARGE:
		cm_problem(&p, CM_ETOOLARGE, "value", "The value is larger than the limit of %zu bytes.", max);
		cm_problem_number(&p, "limit", (double)max);
		break;
	case CM_ST_BAD_EXPIRY:
		cm_problem(&p, CM_EVALIDATION, "expires_at", "The expiry must be in the future and at most ten years ahead.");
		break;
	default:
		return -CM_EINTERNAL;
	}
	in_op(index, &p);
	return cm_reply_problem(req, &p, index);
}

/* 422 secret_detected when text carries a credential the guard refuses. 1 = refused (answered). */
static int refuse_secret(struct cm_request *req, const char *field, const char *text)
{
	struct cm_problem p = {.err = CM_OK};
	int e = cm_check_secret(req->cfg, field, NULL, text, strlen(text), &p);
	return e == 1 ? answer(req, &p, -1) : e;
}

void cm_memory_fields_free(struct cm_memory_fields *w)
{
	free(w->tags_text);
	w->tags_text = NULL;
}

int cm_memory_value_check(const struct cm_config *cfg, const cJSON *v, struct cm_problem *p)
{
	if (cm_json_depth(v) > MAX_VALUE_DEPTH)
		return cm_problem(p, CM_EVALIDATION, "value", "The value nests deeper than 100 levels.");
	return cm_check_secret(cfg, "value", v, NULL, 0, p);
}

/* Put-only fields: ttl and expires_at, never both. */
static int check_expiry(const cJSON *ttl, const cJSON *exp, struct cm_memory_fields *w, struct cm_problem *p)
{
	if (ttl && exp)
		return cm_problem(p, CM_EVALIDATION, "ttl", "Give ttl or expires_at, not both.");
	if (ttl) {
		double d = cJSON_IsNumber(ttl) ? ttl->valuedouble : 0;
		if (d < 1 || d > (double)MAX_TTL || d != (double)(long long)d)
			return cm_problem(p, CM_EVALIDATION, "ttl", "ttl is a whole number of seconds from 1 to 315360000.");
		w->ttl = (long long)d;
	}
	if (exp) {
		if (!cJSON_IsString(exp) || !cm_valid_time(exp->valuestring))
			return cm_problem(p, CM_EVALIDATION, "expires_at", "expires_at must be an RFC 3339 time.");
		w->expires_at = exp->valuestring;
	}
	return 0;
}

static const char *const put_fields[] = {"value", "tags", "ttl", "expires_at", NULL};
static const char *const op_fields[] = {"op",  "scope",    "key",      "value",         "tags",
					"ttl", "expires_at", "if_match", "if_none_match", NULL};

/* A PUT body or an op of a batch: fields, value, tags, expiry. 0, 1 = refused (p set, the field
 * as the body names it, before in_op), <0. */
static int parse_write(const struct cm_config *cfg, const cJSON *obj, const char *op, const char *const *fields,
		       struct cm_memory_fields *w, struct cm_problem *p)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, obj)
	{
		if (!cm_field_known(f->string, fields))
			return cm_check_unknown_field(f->string, p);
	}
	bool put = !strcmp(op, "put");
	if (!strcmp(op, "delete") || !strcmp(op, "get")) {
		if (cJSON_GetObjectItemCaseSensitive(obj, "value") || cJSON_GetObjectItemCaseSensitive(obj, "tags") ||
		    cJSON_GetObjectItemCaseSensitive(obj, "ttl") || cJSON_GetObjectItemCaseSensitive(obj, "expires_at"))
			return cm_problem(p, CM_EVALIDATION, "op", "A delete or get op takes no value, tags or expiry.");
		return 0;
	}
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(obj, "value");
	if (!value)
		return cm_problem(p, CM_EVALIDATION, "value", "value is required.");
	int e = cm_memory_value_check(cfg, value, p);
	if (e)
		return e;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(obj, "tags");
	const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(obj, "ttl");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(obj, "expires_at");
	if (!put && (tags || ttl || exp))
		return cm_problem(p, CM_EVALIDATION, tags ? "tags" : ttl ? "ttl" : "expires_at",
				  "A patch changes the value only; use put for tags and expiry.");
	if (tags && (e = cm_check_tags(cfg, tags, &w->tags_text, p)))
		return e;
	return check_expiry(ttl, exp, w, p);
}

int cm_memory_put_parse(const struct cm_config *cfg, const cJSON *body, struct cm_memory_fields *w,
			struct cm_problem *p)
{
	if (!cJSON_IsObject(body))
		return cm_problem(p, CM_EVALIDATION, "value",
				  "The body is an object: {\"value\": …, \"tags\"?, \"ttl\"? | \"expires_at\"?}.");
	return parse_write(cfg, body, "put", put_fields, w, p);
}

/* The answer to a single-entry write, done alone or in a group: e < 0 is left to the caller. */
static int answer_write(struct cm_request *req, const char *scope, const char *key, int e, struct cm_store_result *r)
{
	if (e == 0) {
		if (r->status == CM_ST_DELETED) {
			e = cm_reply_empty(req, 204);
		} else if (CM_ST_DONE(r->status)) {
			e = reply_entry(req, op_status(r->status), r);
			if (e == 0 && r->status == CM_ST_CREATED) {
				char loc[CM_PARAM_MAX * 2 + 16];
				snprintf(loc, sizeof loc, "/v1/memory/%s/%s", scope, key);
				cm_reply_header(req, "Location", loc);
			}
		} else {
			e = reply_refusal(req, r, -1);
		}
	}
	cm_store_result_clear(r);
	return e;
}

/* A write queued for group commit comes back here once its group is done: it is answered with
 * its outcome as it stands, and nothing of the request is checked again (it has been, before it
 * was queued; the token included, see keep_admission). true when req was such a write. */
static bool resumed_write(struct cm_request *req, int *e)
{
	struct cm_store_result r = {.version = -1};
	if (!cm_group_outcome(req, e, &r))
		return false;
	*e = answer_write(req, req->params[0], req->params[1], *e, &r);
	return true;
}

/* Queued for the committer (group.h) and parked, or, when group commit is off or stopping,
 * written alone here. */
static int write_one(struct cm_request *req, const char *op, const char *scope, const char *key, const char *doc,
		     const struct cm_memory_fields *w, const char *if_match, bool if_none_match)
{
	struct cm_memory_write mw = {
		.op = op,
		.scope = scope,
		.key = key,
		.doc = doc,
		.tags = w->tags_text,
		.ttl = w->ttl,
		.expires_at = w->expires_at,
		.if_match = if_match[0] ? if_match : NULL,
		.if_none_match = if_none_match,
		.node = req->who.node[0] ? req->who.node : NULL,
		.max_value = req->cfg->max_value,
	};
	int e = cm_group_submit(req, &mw);
	if (e != 0)
		return e < 0 ? e : 0; /* parked: answered on resume */
	struct cm_store_result r = {.version = -1};
	e = cm_store_memory_write(&mw, &r); /* which tells the cache */
	return answer_write(req, scope, key, e, &r);
}

/* Path, grant and key checks every write starts with. 1 = refused (answered). */
static int write_target(struct cm_request *req, const char **scope, const char **key)
{
	if (path_target(req, scope, key) || refuse_scope(req, *scope, CM_ACCESS_RW))
		return 1;
	return refuse_secret(req, "key", *key);
}

int cm_api_memory_put(struct cm_request *req)
{
	int e;
	if (resumed_write(req, &e))
		return e;
	struct cm_memory_fields w = {.ttl = 0};
	struct cm_problem p = {.err = CM_OK};
	char if_match[CM_IF_MATCH_TEXT];
	bool if_none_match = false;
	const char *scope, *key;
	if (write_target(req, &scope, &key) || cm_req_if_match(req, if_match))
		return 0;
	if (cm_req_if_none_match_star(req, &if_none_match))
		return 0;
	cJSON *body;
	e = cm_req_json(req, NULL, &body);
	if (e < 0)
		return e;
	if ((e = cm_memory_put_parse(req->cfg, body, &w, &p)) == 1)
		e = answer(req, &p, -1);
	else if (e == 0)
		e = write_one(req, "put", scope, key, req->body, &w, if_match, if_none_match);
	cm_memory_fields_free(&w);
	cm_problem_clear(&p);
	cJSON_Delete(body);
	return e < 0 ? e : 0;
}

int cm_api_memory_patch(struct cm_request *req)
{
	int e;
	if (resumed_write(req, &e))
		return e;
	struct cm_memory_fields w = {.ttl = 0};
	struct cm_problem p = {.err = CM_OK};
	char if_match[CM_IF_MATCH_TEXT];
	const char *scope, *key;
	if (write_target(req, &scope, &key) || cm_req_if_match(req, if_match))
		return 0;
	cJSON *patch;
	e = cm_req_json(req, "application/merge-patch+json", &patch);
	if (e < 0)
		return e;
	if ((e = cm_memory_value_check(req->cfg, patch, &p)) == 1)
		e = answer(req, &p, -1);
	else if (e == 0)
		e = write_one(req, "patch", scope, key, req->body, &w, if_match, false);
	cm_problem_clear(&p);
	cJSON_Delete(patch);
	return e < 0 ? e : 0;
}

int cm_api_memory_delete(struct cm_request *req)
{
	int e;
	if (resumed_write(req, &e))
		return e;
	struct cm_memory_fields w = {.ttl = 0};
	char if_match[CM_IF_MATCH_TEXT];
	const char *scope, *key;
	if (write_target(req, &scope, &key) || cm_req_if_match(req, if_match))
		return 0;
	return write_one(req, "delete", scope, key, NULL, &w, if_match, false);
}

int cm_api_memory_get(struct cm_request *req)
{
	const char *scope, *key;
	if (path_target(req, &scope, &key) || refuse_scope(req, scope, CM_ACCESS_R))
		return 0;
	struct cm_store_result r = {.version = -1};
	struct cm_cached_entry c;
	int e = 0;
	if (cm_cache_memory_get(scope, key, &c)) {
		r.status = CM_ST_FOUND;
		r.version = c.version;
		r.entry = c.json;
	} else {
		struct cm_cache_ticket t = cm_cache_ticket(); /* before the read: see cache.h */
		struct cm_memory_stamp stamp;
		e = cm_store_memory_get(scope, key, &r, NULL, &stamp);
		if (e == 0)
			cm_cache_memory_put(t, scope, key, stamp.revision, stamp.expires_ms, r.version, r.entry);
	}
	if (e == 0) {
		const char *inm = cm_req_header(req, "If-None-Match");
		if (inm && cm_etag_listed(inm, r.version)) {
			e = cm_reply_empty(req, 304);
			cm_reply_etag(req, r.version);
		} else {
			e = reply_entry(req, 200, &r);
		}
	} else if (e == -CM_ENOTFOUND) {
		e = cm_reply_error(req, CM_ENOTFOUND, "No such entry.", NULL);
	}
	cm_store_result_clear(&r);
	return e;
}

int cm_api_memory_history(struct cm_request *req)
{
	const char *scope, *key;
	unsigned limit;
	if (path_target(req, &scope, &key) || refuse_scope(req, scope, CM_ACCESS_R))
		return 0;
	int before;
	if (cm_req_version_page(req, &limit, &before))
		return 0;
	cJSON *items = cJSON_CreateArray();
	int next = 0;
	int e = items ? cm_store_memory_history(scope, key, before, limit, items, &next) : -CM_EINTERNAL;
	if (e < 0) {
		cJSON_Delete(items);
		return e == -CM_ENOTFOUND ? cm_reply_error(req, CM_ENOTFOUND, "This key has never been written.", NULL) : e;
	}
	return cm_reply_version_page(req, items, next);
}

static bool valid_key_prefix(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= CM_KEY_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-") == n;
}

int cm_api_memory_list(struct cm_request *req)
{
	struct cm_memory_filter f = {.order = CM_ORDER_KEY};
	char *scopes = NULL, *tags = NULL, *exact = NULL, *prefixes = NULL;
	cJSON *cur = NULL, *items = NULL, *next = NULL;
	int e = 0;
	const char *scope_v[CM_MAX_FILTER_VALUES], *tag_v[CM_MAX_FILTER_VALUES];
	int nscopes, ntags;
	if ((e = cm_req_query_list(req, "scope", cm_valid_scope, "mesh, node:<id>, user:<id> or project:<id>", &scopes, scope_v,
			    &nscopes)) ||
	    (e = cm_req_query_list(req, "tag", cm_valid_tag, "a tag of 1-64 characters", &tags, tag_v, &ntags)))
		goto out;
	if (scopes) {
		/* Asking for a scope the token may not read is refused, not silently emptied. */
		for (int i = 0; i < nscopes; i++)
			if ((e = refuse_scope(req, scope_v[i], CM_ACCESS_R)))
				goto out;
	} else if ((e = cm_readable_scopes(&req->who, &f.all_readable, &exact, &prefixes)) < 0) {
		goto out;
	}
	f.scopes = scopes;
	f.tags = tags;
	f.readable = exact;
	f.readable_prefixes = prefixes;
	f.prefix = cm_req_query(req, "prefix");
	f.node = cm_req_query(req, "node");
	f.q = cm_req_query(req, "q");
	f.updated_after = cm_req_query(req, "updated_after");
	const char *order = cm_req_query(req, "order");
	if (f.prefix && !valid_key_prefix(f.prefix))
		e = refused(req, "prefix is 1-256 characters of a key.");
	else if (f.node && !cm_valid_id(f.node))
		e = refused(req, "node is not a node id.");
	else if (f.q && (!f.q[0] || strlen(f.q) > MAX_QUERY_TEXT))
		e = refused(req, "q is 1-256 bytes of search text.");
	else if (f.updated_after && !cm_valid_time(f.updated_after))
		e = refused(req, "updated_after must be an RFC 3339 time.");
	else if (order && strcmp(order, "key") && strcmp(order, "recent"))
		e = refused(req, "order is key or recent.");
	else if (cm_req_limit(req, &f.limit) < 0)
		e = refused(req, CM_LIMIT_INVALID);
	if (e || (e = cm_req_cursor(req, &cur)))
		goto out;
	f.order = order ? (!strcmp(order, "key") ? CM_ORDER_KEY : CM_ORDER_RECENT) : f.q ? CM_ORDER_RANK : CM_ORDER_KEY;
	f.after = cur;
	items = cJSON_CreateArray();
	e = items ? cm_store_memory_list(&f, items, &next) : -CM_EINTERNAL;
	if (e == -CM_EBADREQ) {
		e = refused(req, "cursor is not one this server gave out for this order.");
	} else if (e == 0) {
		e = cm_reply_page(req, items, next);
		items = NULL;
	}
out:
	cJSON_Delete(items);
	cJSON_Delete(cur);
	free(scopes);
	free(tags);
	free(exact);
	free(prefixes);
	return e < 0 ? e : 0;
}

/* One op of a batch, checked before anything runs: its own field names (before in_op). 0, 1 =
 * refused (p set), <0. */
static int check_op(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *op, int index,
		    struct cm_problem *p)
{
	if (!cJSON_IsObject(op)) {
		cm_problem(p, CM_EVALIDATION, NULL, "Each op is an object.");
		snprintf(p->field, sizeof p->field, "ops[%d]", index);
		return 1;
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "op");
	const cJSON *scope = cJSON_GetObjectItemCaseSensitive(op, "scope");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(op, "key");
	const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
	bool get = !strcmp(k, "get");
	if (!get && strcmp(k, "put") && strcmp(k, "patch") && strcmp(k, "delete"))
		return cm_problem(p, CM_EVALIDATION, "op", "op is put, patch, delete or get.");
	if (!cJSON_IsString(scope) || !cm_valid_scope(scope->valuestring))
		return cm_problem(p, CM_EVALIDATION, "scope", "scope must be mesh, node:<id>, user:<id> or project:<id>.");
	if (!cJSON_IsString(key) || !cm_valid_key(key->valuestring))
		return cm_problem(p, CM_EVALIDATION, "key",
				  "key must be 1-256 characters of A-Z a-z 0-9 . _ : @ -, not starting with a dot.");
	int e;
	if ((e = cm_check_scope(who, scope->valuestring, get ? CM_ACCESS_R : CM_ACCESS_RW, p)))
		return e;
	if (!get && (e = cm_check_secret(cfg, "key", NULL, key->valuestring, strlen(key->valuestring), p)))
		return e;
	const cJSON *im = cJSON_GetObjectItemCaseSensitive(op, "if_match");
	const cJSON *inm = cJSON_GetObjectItemCaseSensitive(op, "if_none_match");
	if (im && (get || (cJSON_IsNumber(im) ? !(im->valuedouble >= 1 && im->valuedouble < 1e9 &&
						   im->valuedouble == (double)(int)im->valuedouble)
					     : !cJSON_IsString(im) || parse_version(im->valuestring) < 0)))
		return cm_problem(p, CM_EVALIDATION, "if_match", "if_match is a version (3, \"3\") or \"*\", on a write.");
	if (inm && (strcmp(k, "put") || !cJSON_IsString(inm) || strcmp(inm->valuestring, "*")))
		return cm_problem(p, CM_EVALIDATION, "if_none_match", "if_none_match can only be \"*\", on a put.");
	struct cm_memory_fields w = {.ttl = 0};
	e = parse_write(cfg, op, k, op_fields, &w, p);
	cm_memory_fields_free(&w);
	return e;
}

int cm_batch_check(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *body, int *index,
		   struct cm_problem *p)
{
	*index = -1;
	const cJSON *ops = cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "ops") : NULL;
	int n = cJSON_GetArraySize(ops);
	if (!cJSON_IsArray(ops) || n < 1 || n > BATCH_MAX)
		return cm_problem(p, CM_EVALIDATION, "ops", "ops is an array of 1 to 100 operations.");
	const cJSON *f;
	cJSON_ArrayForEach(f, body)
	{
		if (strcmp(f->string, "ops"))
			return cm_check_unknown_field(f->string, p);
	}
	int i = 0;
	const cJSON *op;
	cJSON_ArrayForEach(op, ops)
	{
		int e = check_op(cfg, who, op, i, p);
		if (e == 1) {
			*index = i;
			if (cJSON_IsObject(op)) /* else the field is "ops[i]" already */
				in_op(i, p);
		}
		if (e)
			return e;
		i++;
	}
	return 0;
}

int cm_api_batch(struct cm_request *req)
{
	cJSON *body;
	int e = cm_req_json(req, NULL, &body);
	if (e < 0)
		return e;
	struct cm_store_result *res = NULL;
	struct cm_problem p = {.err = CM_OK};
	int index, n = 0;
	if ((e = cm_batch_check(req->cfg, &req->who, body, &index, &p))) {
		if (e == 1)
			e = answer(req, &p, index);
		cm_problem_clear(&p);
		goto out;
	}
	const cJSON *ops = cJSON_GetObjectItemCaseSensitive(body, "ops");
	n = cJSON_GetArraySize(ops);
	int i = 0;
	const cJSON *op;
	res = calloc((size_t)n, sizeof *res);
	size_t got = 0;
	int failed = -1;
	e = res ? cm_store_memory_batch(req->body, req->who.node[0] ? req->who.node : NULL, req->cfg->max_value, res,
					(size_t)n, &got, &failed)
		: -CM_EINTERNAL;
	if (e < 0)
		goto out;
	if (failed >= 0) {
		e = reply_refusal(req, &res[got - 1], failed);
		goto out;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *results = cJSON_AddArrayToObject(o, "results");
	i = 0;
	cJSON_ArrayForEach(op, ops)
	{
		if (!results || (size_t)i >= got)
			break;
		cJSON *r = cJSON_CreateObject();
		cJSON_AddItemToArray(results, r);
		cJSON_AddStringToObject(r, "op", cJSON_GetObjectItemCaseSensitive(op, "op")->valuestring);
		cJSON_AddNumberToObject(r, "status", op_status(res[i].status));
		if (res[i].entry && res[i].status != CM_ST_DELETED)
			cJSON_AddItemToObject(r, "entry", cJSON_CreateRaw(res[i].entry));
		i++;
	}
	if (!results || (size_t)i != got) {
		cJSON_Delete(o);
		e = -CM_EINTERNAL;
		goto out;
	}
	snprintf(req->audit_target, sizeof req->audit_target, "%d ops", n);
	e = cm_reply_json(req, 200, o);
out:
	for (int k = 0; res && k < n; k++)
		cm_store_result_clear(&res[k]);
	free(res);
	cJSON_Delete(body);
	return e < 0 ? e : 0;
}
