/* /v1/nodes: the registry of OpenClaw gateways — registration, heartbeats, discovery by capability
 * and online state. Any valid token reads the registry; a node token writes only its own entry,
 * an admin any. The skills a node shows are filtered by the caller's readable scopes. */
#include "clawmesh/api.h"
#include "clawmesh/json.h"
#include "clawmesh/store_nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CAPABILITIES 64
#define MAX_NAME 128
#define MAX_DESCRIPTION 1024
#define MAX_ENDPOINT 2048
#define MAX_META (16 * 1024)
#define MAX_META_DEPTH 16

int cm_node_viewer_init(const struct cm_config *cfg, const struct cm_identity *who, struct cm_node_viewer *v)
{
	memset(v, 0, sizeof *v);
	v->window = cfg->heartbeat_window;
	char *exact, *prefixes;
	int e = cm_readable_scopes(who, &v->in.all_readable, &exact, &prefixes);
	v->in.readable = exact;
	v->in.readable_prefixes = prefixes;
	return e;
}

void cm_node_viewer_free(struct cm_node_viewer *v)
{
	free((char *)v->in.readable);
	free((char *)v->in.readable_prefixes);
	memset(v, 0, sizeof *v);
}

int cm_check_capabilities(const struct cm_config *cfg, const cJSON *caps, char **text, struct cm_problem *p)
{
	static const char msg[] = "capabilities is an array of at most 64 strings of 1-64 characters.";
	if (!cJSON_IsArray(caps) || cJSON_GetArraySize(caps) > MAX_CAPABILITIES)
		return cm_problem(p, CM_EVALIDATION, "capabilities", msg);
	const cJSON *c;
	cJSON_ArrayForEach(c, caps)
	{
		if (!cJSON_IsString(c) || !cm_valid_tag(c->valuestring))
			return cm_problem(p, CM_EVALIDATION, "capabilities", msg);
	}
	int e = cm_check_secret(cfg, "capabilities", caps, NULL, 0, p);
	if (e)
		return e;
	*text = cm_json_render(caps, NULL);
	return *text ? 0 : -CM_EINTERNAL;
}

/* 403 unless who speaks for node id or is an admin. */
static int check_own(const struct cm_identity *who, const char *id, struct cm_problem *p)
{
	if (who->admin || !strcmp(who->node, id))
		return 0;
	return cm_problem(p, CM_EFORBIDDEN, NULL, "This token may only write its own node's registration.");
}

/* The id of the path. 1 = refused (answered). */
static int path_id(struct cm_request *req, const char **id)
{
	*id = req->params[0];
	if (cm_valid_id(*id))
		return 0;
	cm_reply_error(req, CM_EBADREQ, "A node id is [a-z0-9][a-z0-9._-]{0,63}.", NULL);
	return 1;
}

/* 1-128 bytes of text without control characters, C1 included (JSON strings are UTF-8 already). */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    ((unsigned char)s[i] == 0xc2 && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f))
			return false;
	return n >= 1 && n <= MAX_NAME;
}

static bool valid_endpoint(const char *s)
{
	size_t n = strlen(s);
	if (n > MAX_ENDPOINT || (strncasecmp(s, "https://", 8) && strncasecmp(s, "http://", 7)))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return n > 8;
}

/* A string field that may be absent or null: its text, NULL when absent or null. 1 = invalid. */
static int optional_string(const cJSON *body, const char *field, size_t max, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, field);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > max)
		return 1;
	*out = v->valuestring;
	return 0;
}

static const char *const put_fields[] = {"name", "description", "capabilities", "endpoint", "meta", NULL};

int cm_node_put_parse(const struct cm_config *cfg, const cJSON *body, const char *source, struct cm_node_write *w,
		      char **caps, char **meta, struct cm_problem *p)
{
	if (!cJSON_IsObject(body))
		return cm_problem(p, CM_EVALIDATION, "name", "The body is an object: {\"name\", \"description\", \"capabilities\", …}.");
	const cJSON *f;
	cJSON_ArrayForEach(f, body)
	{
		if (!cm_field_known(f->string, put_fields))
			return cm_check_unknown_field(f->string, p);
	}
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
	if (name && (!cJSON_IsString(name) || !valid_name(name->valuestring)))
		return cm_problem(p, CM_EVALIDATION, "name", "name is a string of 1-128 characters, no control characters.");
	w->name = name ? name->valuestring : w->id;
	if (optional_string(body, "description", MAX_DESCRIPTION, &w->description))
		return cm_problem(p, CM_EVALIDATION, "description", "description is a string of at most 1024 bytes, or null.");
	if (optional_string(body, "endpoint", MAX_ENDPOINT, &w->endpoint) || (w->endpoint && !valid_endpoint(w->endpoint)))
		return cm_problem(p, CM_EVALIDATION, "endpoint", "endpoint is an http:// or https:// URL of at most 2048 bytes, or null.");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "meta");
	if (m && !cJSON_IsNull(m)) {
		size_t len = 0;
		if (!cJSON_IsObject(m) || cm_json_depth(m) > MAX_META_DEPTH)
			return cm_problem(p, CM_EVALIDATION, "meta", "meta is an object nested at most 16 levels, or null.");
		/* The client's own text, as skill metadata and memory values: cJSON would store
		 * 12345678901234567890 rounded and 1e400 as null. */
		if (!(*meta = cm_json_member_text(source, "meta", m, &len)))
			return -CM_EINTERNAL;
		/* Its numbers as PostgreSQL writes them out: 1e10000 is six bytes sent, 10,001 stored. */
		long stored = cm_json_stored_size(*meta, len);
		if (stored < 0 || (size_t)stored > MAX_META)
			return cm_problem(p, CM_EVALIDATION, "meta", "meta is at most 16 KiB as JSON.");
		w->meta = *meta;
	}
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "capabilities");
	int e = c ? cm_check_capabilities(cfg, c, caps, p) : (*caps = strdup("[]")) ? 0 : -CM_EINTERNAL;
	if (e)
		return e;
	w->capabilities = *caps;
	/* Nothing a node registers may carry a credential: its name, description, endpoint or meta. */
	if ((e = cm_check_secret(cfg, "name", NULL, w->name, strlen(w->name), p)) ||
	    (w->description && (e = cm_check_secret(cfg, "description", NULL, w->description, strlen(w->description), p))) ||
	    (w->endpoint && (e = cm_check_secret(cfg, "endpoint", NULL, w->endpoint, strlen(w->endpoint), p))) ||
	    (w->meta && (e = cm_check_secret(cfg, "meta", m, NULL, 0, p))))
		return e;
	return 0;
}

/* Runs w and answers: the node (201 / 200), 204 when deleted, 404 when there was none. */
static int write_and_reply(struct cm_request *req, const struct cm_node_write *w)
{
	struct cm_node_viewer v;
	struct cm_store_result r = {.version = -1};
	int e = cm_node_viewer_init(req->cfg, &req->who, &v);
	if (e == 0)
		e = cm_store_node_write(w, &v, &r);
	if (e == 0) {
		if (r.status == CM_ST_DELETED) {
			e = cm_reply_empty(req, 204);
		} else if (r.status == CM_ST_NOT_FOUND) {
			e = cm_reply_error(req, CM_ENOTFOUND, "No such node.", NULL);
		} else {
			e = cm_reply_json_text(req, r.status == CM_ST_CREATED ? 201 : 200, r.entry);
			r.entry = NULL;
			if (e == 0 && r.status == CM_ST_CREATED) {
				char loc[CM_PARAM_MAX + 16];
				snprintf(loc, sizeof loc, "/v1/nodes/%s", w->id);
				cm_reply_header(req, "Location", loc);
			}
		}
	}
	cm_store_result_clear(&r);
	cm_node_viewer_free(&v);
	return e;
}

int cm_api_node_put(struct cm_request *req)
{
	struct cm_node_write w = {.op = "put", .node = req->who.node[0] ? req->who.node : NULL};
	struct cm_problem p = {.err = CM_OK};
	if (path_id(req, &w.id))
		return 0;
	if (check_own(&req->who, w.id, &p))
		return cm_reply_problem(req, &p, -1);
	cJSON *body;
	int e = cm_req_json(req, NULL, &body);
	if (e < 0)
		return e;
	char *caps = NULL, *meta = NULL;
	e = cm_node_put_parse(req->cfg, body, req->body, &w, &caps, &meta, &p);
	if (e == 1)
		e = cm_reply_problem(req, &p, -1);
	else if (e == 0)
		e = write_and_reply(req, &w);
	cm_problem_clear(&p);
	free(caps);
	free(meta);
	cJSON_Delete(body);
	return e < 0 ? e : 0;
}

int cm_api_node_delete(struct cm_request *req)
{
	struct cm_node_write w = {.op = "delete", .node = req->who.node[0] ? req->who.node : NULL};
	if (path_id(req, &w.id))
		return 0;
	return write_and_reply(req, &w);
}

int cm_api_node_heartbeat(struct cm_request *req)
{
	const char *id;
	struct cm_problem p = {.err = CM_OK};
	if (path_id(req, &id))
		return 0;
	if (check_own(&req->who, id, &p))
		return cm_reply_problem(req, &p, -1);
	int e = cm_store_node_heartbeat(id);
	if (e == -CM_ENOTFOUND)
		return cm_reply_error(req, CM_ENOTFOUND, "No such node: register it with PUT /v1/nodes/{id} first.", NULL);
	return e < 0 ? e : cm_reply_empty(req, 204);
}

int cm_api_node_get(struct cm_request *req)
{
	const char *id;
	if (path_id(req, &id))
		return 0;
	struct cm_node_viewer v;
	struct cm_store_result r = {.version = -1};
	int e = cm_node_viewer_init(req->cfg, &req->who, &v);
	if (e == 0)
		e = cm_store_node_get(id, &v, &r);
	if (e == -CM_ENOTFOUND) {
		e = cm_reply_error(req, CM_ENOTFOUND, "No such node.", NULL);
	} else if (e == 0) {
		e = cm_reply_json_text(req, 200, r.entry);
		r.entry = NULL;
	}
	cm_store_result_clear(&r);
	cm_node_viewer_free(&v);
	return e;
}

int cm_api_node_list(struct cm_request *req)
{
	struct cm_node_filter f = {.online = -1};
	f.capability = cm_req_query(req, "capability");
	const char *online = cm_req_query(req, "online");
	const char *msg = NULL;
	if (f.capability && !cm_valid_tag(f.capability))
		msg = "capability is 1-64 characters.";
	else if (online && strcmp(online, "true") && strcmp(online, "false"))
		msg = "online is true or false.";
	else if (cm_req_limit(req, &f.limit) < 0)
		msg = CM_LIMIT_INVALID;
	if (msg)
		return cm_reply_error(req, CM_EBADREQ, msg, NULL);
	if (online)
		f.online = !strcmp(online, "true");
	cJSON *cur;
	if (cm_req_cursor(req, &cur))
		return 0;
	if (cur) {
		const cJSON *after = cJSON_GetObjectItemCaseSensitive(cur, "id");
		f.after = cJSON_IsString(after) && cm_valid_id(after->valuestring) ? after->valuestring : NULL;
		if (!f.after) {
			cJSON_Delete(cur);
			return cm_reply_error(req, CM_EBADREQ, "cursor is not one this server gave out.", NULL);
		}
	}
	struct cm_node_viewer v;
	cJSON *items = cJSON_CreateArray(), *pos = NULL;
	char *next = NULL;
	int e = items ? cm_node_viewer_init(req->cfg, &req->who, &v) : -CM_EINTERNAL;
	if (e == 0) {
		e = cm_store_node_list(&f, &v, items, &next);
		cm_node_viewer_free(&v);
	}
	if (e == 0 && next && (!(pos = cJSON_CreateObject()) || !cJSON_AddStringToObject(pos, "id", next)))
		e = -CM_EINTERNAL;
	free(next);
	cJSON_Delete(cur);
	if (e < 0) {
		cJSON_Delete(pos);
		cJSON_Delete(items);
		return e;
	}
	return cm_reply_page(req, items, pos);
}
