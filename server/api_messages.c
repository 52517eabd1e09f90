/* POST /v1/messages: the seed's phase-1 bridge messages (memory, skill, request, capabilities),
 * accepted in their own camelCase shapes so an existing bridge can point at clawmesh unchanged.
 * Each message is applied on its own, in order, and gets one result; a refusal is that message's
 * result, never the request's. Provenance still comes from the token: a message that claims
 * another node is refused. */
#include "clawmesh/api.h"
#include "clawmesh/json.h"
#include "clawmesh/store_memory.h"
#include "clawmesh/store_nodes.h"
#include "clawmesh/store_skills.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MESSAGES 100
#define MAX_VALUE_DEPTH 100
#define MAX_EPOCH_MS 253402300799999.0 /* 9999-12-31T23:59:59.999Z */

/* One message being applied: where it is, the text it came in (for values, whose numbers must
 * reach the store digit for digit), and its result being built. */
struct message {
	struct cm_request *req;
	const cJSON *m;
	const char *text; /* the message's own JSON text */
	const char *type;
	cJSON *result;
};

/* An element starts at its first character and ends after its last, outside strings and at depth 0. */
int cm_message_spans(const char *s, size_t len, size_t (*span)[2], int max)
{
	size_t i = 0;
	while (i < len && s[i] != '[')
		i++;
	int n = 0, depth = 0;
	bool in_str = false, open = false;
	size_t last = 0;
	for (i++; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false, last = i;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		bool closes = (c == ']' || c == '}') && depth == 0;
		if (depth == 0 && (c == ',' || closes)) {
			if (open && n < max)
				span[n++][1] = last + 1;
			open = false;
			if (closes)
				break;
			continue;
		}
		if (!open && n < max)
			open = true, span[n][0] = i;
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		last = i;
	}
	return n;
}

static const char *string_of(const cJSON *m, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A message may say which node sent it (nodeId, sourceNode, source); it must be the token's. */
static int check_claims(const struct cm_identity *who, const cJSON *m, struct cm_problem *p)
{
	static const char *const claims[] = {"nodeId", "sourceNode", "source"};
	for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, claims[i]);
		if (!v || cJSON_IsNull(v))
			continue;
		if (!cJSON_IsString(v) || !who->node[0] || strcmp(v->valuestring, who->node))
			return cm_problem(p, CM_EFORBIDDEN, claims[i], "The message's %s is not the node this token speaks for.",
					  claims[i]);
	}
	return 0;
}

/* scope: absent = mesh; the seed's "node" = this token's node:<id>. Into buf. 1 = refused. */
static int message_scope(const struct cm_identity *who, const cJSON *m, char *buf, size_t cap, struct cm_problem *p)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "scope");
	if (!s) {
		snprintf(buf, cap, "mesh");
		return 0;
	}
	if (cJSON_IsString(s) && !strcmp(s->valuestring, "node")) {
		if (!who->node[0])
			return cm_problem(p, CM_EVALIDATION, "scope", "Scope node means this token's own node; it speaks for none.");
		snprintf(buf, cap, "node:%s", who->node);
		return 0;
	}
	if (!cJSON_IsString(s) || !cm_valid_scope(s->valuestring))
		return cm_problem(p, CM_EVALIDATION, "scope", "scope must be mesh, node, node:<id>, user:<id> or project:<id>.");
	snprintf(buf, cap, "%s", s->valuestring);
	return 0;
}

/* ts as RFC 3339 text into buf ("" when absent): a time string or JavaScript's epoch milliseconds. */
static int message_ts(const cJSON *m, char *buf, size_t cap, struct cm_problem *p)
{
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "ts");
	buf[0] = '\0';
	if (!ts || cJSON_IsNull(ts))
		return 0;
	if (cJSON_IsString(ts) && cm_valid_time(ts->valuestring) && strlen(ts->valuestring) < cap) {
		snprintf(buf, cap, "%s", ts->valuestring);
		return 0;
	}
	double ms = cJSON_IsNumber(ts) ? ts->valuedouble : -1;
	if (ms < 0 || ms > MAX_EPOCH_MS || ms != (double)(long long)ms)
		return cm_problem(p, CM_EVALIDATION, "ts", "ts is an RFC 3339 time or epoch milliseconds.");
	time_t secs = (time_t)((long long)ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char day[32];
	strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%03dZ", day, (int)((long long)ms % 1000));
	return 0;
}

static void add_raw(cJSON *o, const char *name, char **text)
{
	if (*text)
		cJSON_AddItemToObject(o, name, cJSON_CreateRaw(*text));
	else
		cJSON_AddNullToObject(o, name);
	free(*text);
	*text = NULL;
}

static int memory_message(struct message *msg, struct cm_problem *p)
{
	const struct cm_identity *who = &msg->req->who;
	const struct cm_config *cfg = msg->req->cfg;
	char scope[CM_SCOPE_MAX + 1], ts[CM_TIME_MAX + 1];
	const char *key = string_of(msg->m, "key");
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(msg->m, "value");
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(msg->m, "tags");
	char *tags_text = NULL;
	int e;
	if ((e = message_scope(who, msg->m, scope, sizeof scope, p)))
		return e;
	if (!key || !cm_valid_key(key))
		return cm_problem(p, CM_EVALIDATION, "key", "key must be 1-256 characters of A-Z a-z 0-9 . _ : @ -, not starting with a dot.");
	if (!value)
		return cm_problem(p, CM_EVALIDATION, "value", "value is required.");
	if (cm_json_depth(value) > MAX_VALUE_DEPTH)
		return cm_problem(p, CM_EVALIDATION, "value", "The value nests deeper than 100 levels.");
	if ((e = message_ts(msg->m, ts, sizeof ts, p)) || (e = cm_check_scope(who, scope, CM_ACCESS_RW, p)) ||
	    (e = cm_check_secret(cfg, "key", NULL, key, strlen(key), p)) || (e = cm_check_secret(cfg, "value", value, NULL, 0, p)))
		return e;
	if (tags && (e = cm_check_tags(cfg, tags, &tags_text, p)))
		return e;
	struct cm_memory_write w = {
		.op = "put",
		.scope = scope,
		.key = key,
		.doc = msg->text,
		.tags = tags_text,
		.node = who->node[0] ? who->node : NULL,
		.max_value = cfg->max_value,
		.not_before = ts[0] ? ts : NULL,
	};
	struct cm_store_result r = {.version = -1};
	e = cm_store_memory_write(&w, &r);
	free(tags_text);
	if (e == 0 && r.status == CM_ST_TOO_LARGE) {
		cm_problem(p, CM_ETOOLARGE, "value", "The value is larger than the limit of %zu bytes.", cfg->max_value);
		cm_problem_number(p, "limit", (double)cfg->max_value);
		e = 1;
	} else if (e == 0 && !CM_ST_DONE(r.status) && r.status != CM_ST_STALE) {
		e = -CM_EINTERNAL;
	} else if (e == 0) {
		bool applied = r.status != CM_ST_STALE; /* the store told the cache */
		cJSON_AddBoolToObject(msg->result, "applied", applied);
		if (applied)
			cJSON_AddNumberToObject(msg->result, "status", r.status == CM_ST_CREATED ? 201 : 200);
		add_raw(msg->result, "entry", &r.entry);
	}
	cm_store_result_clear(&r);
	return e;
}

static int skill_message(struct message *msg, struct cm_problem *p)
{
	char scope[CM_SCOPE_MAX + 1];
	struct cm_skill_input in = {.scope = scope, .if_none_match = false};
	int e = message_scope(&msg->req->who, msg->m, scope, sizeof scope, p);
	if (e)
		return e;
	in.name = string_of(msg->m, "name");
	if (!in.name || !cm_valid_skill_name(in.name))
		return cm_problem(p, CM_EVALIDATION, "name", "name is a skill name: 1-64 characters of a-z 0-9 -.");
	in.content = string_of(msg->m, "content");
	if (!in.content)
		return cm_problem(p, CM_EVALIDATION, "content", "content is the skill's text, a string.");
	in.len = strlen(in.content);
	in.description = cJSON_GetObjectItemCaseSensitive(msg->m, "description");
	in.tags = cJSON_GetObjectItemCaseSensitive(msg->m, "tags");
	in.metadata = cJSON_GetObjectItemCaseSensitive(msg->m, "metadata");
	in.source = msg->text;
	struct cm_store_result r = {.version = -1};
	e = cm_skill_publish(msg->req->cfg, &msg->req->who, &in, &r, p);
	if (e == 0) {
		/* The same bytes as the latest version: accepted, nothing new (as PUT's 200), so applied
		 * as a memory no-op is; "applied":false means last-write-wins refused it (openapi.yaml). */
		cJSON_AddBoolToObject(msg->result, "applied", true);
		cJSON_AddNumberToObject(msg->result, "status", r.status == CM_ST_UNCHANGED ? 200 : 201);
		add_raw(msg->result, "skill", &r.entry);
	}
	cm_store_result_clear(&r);
	return e;
}

static int request_message(struct message *msg, struct cm_problem *p)
{
	const struct cm_identity *who = &msg->req->who;
	const char *what = string_of(msg->m, "what");
	char scope[CM_SCOPE_MAX + 1];
	int e;
	bool memory = what && !strcmp(what, "memory");
	if (!memory && !(what && !strcmp(what, "skill")))
		return cm_problem(p, CM_EVALIDATION, "what", "what is memory or skill.");
	const char *name = string_of(msg->m, memory ? "key" : "name");
	if ((e = message_scope(who, msg->m, scope, sizeof scope, p)))
		return e;
	if (memory ? !name || !cm_valid_key(name) : !name || !cm_valid_skill_name(name))
		return cm_problem(p, CM_EVALIDATION, memory ? "key" : "name",
				  memory ? "key is a memory key." : "name is a skill name.");
	if ((e = cm_check_scope(who, scope, CM_ACCESS_R, p)))
		return e;
	cJSON_AddStringToObject(msg->result, "what", what);
	struct cm_store_result r = {.version = -1};
	char *raw = NULL;
	e = memory ? cm_store_memory_get(scope, name, &r, &raw, NULL) : cm_store_skill_get(scope, name, 0, false, &r, &raw);
	if (e == -CM_ENOTFOUND) {
		e = cm_problem(p, CM_ENOTFOUND, NULL, memory ? "No such entry." : "No such skill.");
	} else if (e == 0 && memory) {
		add_raw(msg->result, "value", &raw);
		add_raw(msg->result, "entry", &r.entry);
	} else if (e == 0) {
		cJSON_AddStringToObject(msg->result, "content", raw);
		add_raw(msg->result, "skill", &r.entry);
	}
	free(raw);
	cm_store_result_clear(&r);
	return e;
}

static int capabilities_message(struct message *msg, struct cm_problem *p)
{
	const struct cm_identity *who = &msg->req->who;
	if (!who->node[0])
		return cm_problem(p, CM_EFORBIDDEN, NULL, "Capabilities are a node's own; this token speaks for no node.");
	const cJSON *skills = cJSON_GetObjectItemCaseSensitive(msg->m, "skills");
	if (!skills)
		skills = cJSON_GetObjectItemCaseSensitive(msg->m, "capabilities");
	char *caps = NULL;
	int e = skills ? cm_check_capabilities(msg->req->cfg, skills, &caps, p)
		       : cm_problem(p, CM_EVALIDATION, "skills", "skills is the list of what this node can do.");
	if (e) {
		free(caps);
		return e;
	}
	struct cm_node_write w = {.op = "capabilities", .id = who->node, .capabilities = caps, .node = who->node};
	struct cm_node_viewer v;
	struct cm_store_result r = {.version = -1};
	e = cm_node_viewer_init(msg->req->cfg, who, &v);
	if (e == 0)
		e = cm_store_node_write(&w, &v, &r);
	if (e == 0)
		add_raw(msg->result, "node", &r.entry);
	cm_node_viewer_free(&v);
	cm_store_result_clear(&r);
	free(caps);
	return e;
}

/* Applies one message into msg->result; a refusal becomes {"ok":false,"error":…}. <0 only for
 * what fails the whole request (the database unreachable, memory). */
static int apply(struct message *msg, int index)
{
	static const struct {
		const char *type;
		int (*run)(struct message *, struct cm_problem *);
	} kinds[] = {
		{"memory", memory_message},
		{"skill", skill_message},
		{"request", request_message},
		{"capabilities", capabilities_message},
	};
	struct cm_problem p = {.err = CM_OK};
	int e;
	msg->type = string_of(msg->m, "type");
	size_t k = 0;
	while (msg->type && k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].type, msg->type))
		k++;
	cJSON_AddBoolToObject(msg->result, "ok", true);
	if (!cJSON_IsObject(msg->m))
		e = cm_problem(&p, CM_EVALIDATION, NULL, "A message is an object with a type.");
	else if (!msg->type || k == sizeof kinds / sizeof kinds[0])
		e = cm_problem(&p, CM_EVALIDATION, "type", "type is memory, skill, request or capabilities.");
	else if ((e = check_claims(&msg->req->who, msg->m, &p)) == 0) {
		cJSON_AddStringToObject(msg->result, "type", msg->type);
		e = kinds[k].run(msg, &p);
	}
	if (e == 1) {
		/* A refused message is audited as the refused request it would have been, so a forged
		 * nodeId shows up as a 403 even though the request answers 200. */
		char target[64];
		snprintf(target, sizeof target, "message %d (%s)", index < 0 ? 0 : index,
			 msg->type && k < sizeof kinds / sizeof kinds[0] ? msg->type : "unknown type");
		cm_api_audit_part(msg->req, "message", target, cm_err_status(p.err));
		cJSON *r = cJSON_CreateObject();
		if (!r)
			return cm_problem_clear(&p), -CM_EINTERNAL;
		cJSON_AddBoolToObject(r, "ok", false);
		if (msg->type && k < sizeof kinds / sizeof kinds[0])
			cJSON_AddStringToObject(r, "type", msg->type);
		else
			cJSON_AddNullToObject(r, "type");
		cJSON_AddItemToObject(r, "error", cm_problem_json(&p, index));
		cJSON_Delete(msg->result);
		msg->result = r;
		e = 0;
	}
	cm_problem_clear(&p);
	return e;
}

int cm_api_messages(struct cm_request *req)
{
	cJSON *body;
	int e = cm_req_json(req, NULL, &body);
	if (e < 0)
		return e;
	bool array = cJSON_IsArray(body);
	int n = array ? cJSON_GetArraySize(body) : 1;
	size_t(*span)[2] = NULL;
	cJSON *out = NULL, *results = NULL;
	if ((!array && !cJSON_IsObject(body)) || n < 1 || n > MAX_MESSAGES) {
		e = cm_reply_error(req, CM_EVALIDATION, "The body is one message or an array of 1 to 100.", NULL);
		goto done;
	}
	span = calloc((size_t)n, sizeof *span);
	out = cJSON_CreateObject();
	results = out ? cJSON_AddArrayToObject(out, "results") : NULL;
	if (!span || !results) {
		e = -CM_EINTERNAL;
		goto done;
	}
	if (!array) {
		span[0][0] = 0;
		span[0][1] = req->body_len;
	} else if (cm_message_spans(req->body, req->body_len, span, n) != n) {
		e = -CM_EINTERNAL;
		goto done;
	}
	int i = 0;
	const cJSON *m = array ? body->child : body;
	for (; m && e == 0 && i < n; m = array ? m->next : NULL, i++) {
		char *text = strndup(req->body + span[i][0], span[i][1] - span[i][0]);
		struct message msg = {req, m, text, NULL, cJSON_CreateObject()};
		e = text && msg.result ? apply(&msg, array ? i : -1) : -CM_EINTERNAL;
		if (msg.result)
			cJSON_AddItemToArray(results, msg.result);
		free(text);
	}
	if (e == 0) {
		snprintf(req->audit_target, sizeof req->audit_target, "%d message%s", n, n == 1 ? "" : "s");
		e = cm_reply_json(req, 200, out);
		out = NULL;
	}
done:
	cJSON_Delete(out);
	free(span);
	cJSON_Delete(body);
	return e < 0 ? e : 0;
}
