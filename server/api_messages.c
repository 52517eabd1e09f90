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

static int check_memory(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *m,
			struct cm_message_input *in, struct cm_problem *p)
{
	int e;
	in->key = string_of(m, "key");
	in->value = cJSON_GetObjectItemCaseSensitive(m, "value");
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(m, "tags");
	if ((e = message_scope(who, m, in->scope, sizeof in->scope, p)))
		return e;
	if (!in->key || !cm_valid_key(in->key))
		return cm_problem(p, CM_EVALIDATION, "key", "key must be 1-256 characters of A-Z a-z 0-9 . _ : @ -, not starting with a dot.");
	if (!in->value)
		return cm_problem(p, CM_EVALIDATION, "value", "value is required.");
	if (cm_json_depth(in->value) > MAX_VALUE_DEPTH)
		return cm_problem(p, CM_EVALIDATION, "value", "The value nests deeper than 100 levels.");
	if ((e = message_ts(m, in->ts, sizeof in->ts, p)) || (e = cm_check_scope(who, in->scope, CM_ACCESS_RW, p)) ||
	    (e = cm_check_secret(cfg, "key", NULL, in->key, strlen(in->key), p)) ||
	    (e = cm_check_secret(cfg, "value", in->value, NULL, 0, p)))
		return e;
	return tags ? cm_check_tags(cfg, tags, &in->tags_text, p) : 0;
}

/* The grant and the skill's own validation are cm_skill_publish's (api_skills.c). */
static int check_skill(const struct cm_identity *who, const cJSON *m, struct cm_message_input *in,
		       struct cm_problem *p)
{
	struct cm_skill_input *s = &in->skill;
	int e = message_scope(who, m, in->scope, sizeof in->scope, p);
	if (e)
		return e;
	s->scope = in->scope;
	s->name = string_of(m, "name");
	if (!s->name || !cm_valid_skill_name(s->name))
		return cm_problem(p, CM_EVALIDATION, "name", "name is a skill name: 1-64 characters of a-z 0-9 -.");
	s->content = string_of(m, "content");
	if (!s->content)
		return cm_problem(p, CM_EVALIDATION, "content", "content is the skill's text, a string.");
	s->len = strlen(s->content);
	s->description = cJSON_GetObjectItemCaseSensitive(m, "description");
	s->tags = cJSON_GetObjectItemCaseSensitive(m, "tags");
	s->metadata = cJSON_GetObjectItemCaseSensitive(m, "metadata");
	return 0;
}

static int check_request(const struct cm_identity *who, const cJSON *m, struct cm_message_input *in,
			 struct cm_problem *p)
{
	const char *what = string_of(m, "what");
	int e;
	in->memory = what && !strcmp(what, "memory");
	if (!in->memory && !(what && !strcmp(what, "skill")))
		return cm_problem(p, CM_EVALIDATION, "what", "what is memory or skill.");
	const char *name = string_of(m, in->memory ? "key" : "name");
	if ((e = message_scope(who, m, in->scope, sizeof in->scope, p)))
		return e;
	if (in->memory ? !name || !cm_valid_key(name) : !name || !cm_valid_skill_name(name))
		return cm_problem(p, CM_EVALIDATION, in->memory ? "key" : "name",
				  in->memory ? "key is a memory key." : "name is a skill name.");
	*(in->memory ? &in->key : &in->name) = name;
	return cm_check_scope(who, in->scope, CM_ACCESS_R, p);
}

static int check_capabilities(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *m,
			      struct cm_message_input *in, struct cm_problem *p)
{
	if (!who->node[0])
		return cm_problem(p, CM_EFORBIDDEN, NULL, "Capabilities are a node's own; this token speaks for no node.");
	const cJSON *skills = cJSON_GetObjectItemCaseSensitive(m, "skills");
	if (!skills)
		skills = cJSON_GetObjectItemCaseSensitive(m, "capabilities");
	return skills ? cm_check_capabilities(cfg, skills, &in->caps, p)
		      : cm_problem(p, CM_EVALIDATION, "skills", "skills is the list of what this node can do.");
}

static const char *const kinds[] = {"memory", "skill", "request", "capabilities"};

int cm_message_check(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *m,
		     struct cm_message_input *in, struct cm_problem *p)
{
	memset(in, 0, sizeof *in);
	const char *type = string_of(m, "type");
	size_t k = 0;
	while (type && k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k], type))
		k++;
	if (!cJSON_IsObject(m))
		return cm_problem(p, CM_EVALIDATION, NULL, "A message is an object with a type.");
	if (!type || k == sizeof kinds / sizeof kinds[0])
		return cm_problem(p, CM_EVALIDATION, "type", "type is memory, skill, request or capabilities.");
	in->kind = (enum cm_message_kind)k;
	in->type = kinds[k];
	int e = check_claims(who, m, p);
	if (e)
		return e;
	switch (in->kind) {
	case CM_MSG_MEMORY:
		return check_memory(cfg, who, m, in, p);
	case CM_MSG_SKILL:
		return check_skill(who, m, in, p);
	case CM_MSG_REQUEST:
		return check_request(who, m, in, p);
	default:
		return check_capabilities(cfg, who, m, in, p);
	}
}

void cm_message_input_free(struct cm_message_input *in)
{
	free(in->tags_text);
	free(in->caps);
	in->tags_text = in->caps = NULL;
}

static int memory_message(struct message *msg, const struct cm_message_input *in, struct cm_problem *p)
{
	const struct cm_config *cfg = msg->req->cfg;
	const struct cm_identity *who = &msg->req->who;
	struct cm_memory_write w = {
		.op = "put",
		.scope = in->scope,
		.key = in->key,
		.doc = msg->text,
		.tags = in->tags_text,
		.node = who->node[0] ? who->node : NULL,
		.max_value = cfg->max_value,
		.not_before = in->ts[0] ? in->ts : NULL,
	};
	struct cm_store_result r = {.version = -1};
	int e = cm_store_memory_write(&w, &r);
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

static int skill_message(struct message *msg, const struct cm_message_input *in, struct cm_problem *p)
{
	struct cm_skill_input s = in->skill;
	s.source = msg->text;
	struct cm_store_result r = {.version = -1};
	int e = cm_skill_publish(msg->req->cfg, &msg->req->who, &s, &r, p);
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

static int request_message(struct message *msg, const struct cm_message_input *in, struct cm_problem *p)
{
	bool memory = in->memory;
	const char *name = memory ? in->key : in->name;
	cJSON_AddStringToObject(msg->result, "what", memory ? "memory" : "skill");
	struct cm_store_result r = {.version = -1};
	char *raw = NULL;
	int e = memory ? cm_store_memory_get(in->scope, name, &r, &raw, NULL)
		       : cm_store_skill_get(in->scope, name, 0, false, &r, &raw);
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

static int capabilities_message(struct message *msg, const struct cm_message_input *in, struct cm_problem *p)
{
	(void)p;
	const struct cm_identity *who = &msg->req->who;
	struct cm_node_write w = {.op = "capabilities", .id = who->node, .capabilities = in->caps, .node = who->node};
	struct cm_node_viewer v;
	struct cm_store_result r = {.version = -1};
	int e = cm_node_viewer_init(msg->req->cfg, who, &v);
	if (e == 0)
		e = cm_store_node_write(&w, &v, &r);
	if (e == 0)
		add_raw(msg->result, "node", &r.entry);
	cm_node_viewer_free(&v);
	cm_store_result_clear(&r);
	return e;
}

/* Applies one message into msg->result; a refusal becomes {"ok":false,"error":…}. <0 only for
 * what fails the whole request (the database unreachable, memory). */
static int apply(struct message *msg, int index)
{
	static int (*const run[])(struct message *, const struct cm_message_input *, struct cm_problem *) = {
		[CM_MSG_MEMORY] = memory_message,
		[CM_MSG_SKILL] = skill_message,
		[CM_MSG_REQUEST] = request_message,
		[CM_MSG_CAPABILITIES] = capabilities_message,
	};
	struct cm_problem p = {.err = CM_OK};
	struct cm_message_input in;
	cJSON_AddBoolToObject(msg->result, "ok", true);
	int e = cm_message_check(msg->req->cfg, &msg->req->who, msg->m, &in, &p);
	const char *type = in.type; /* static text: outlives the input's free below */
	if (e == 0) {
		cJSON_AddStringToObject(msg->result, "type", type);
		e = run[in.kind](msg, &in, &p);
	}
	cm_message_input_free(&in);
	if (e == 1) {
		/* A refused message is audited as the refused request it would have been, so a forged
		 * nodeId shows up as a 403 even though the request answers 200. */
		char target[64];
		snprintf(target, sizeof target, "message %d (%s)", index < 0 ? 0 : index,
			 type ? type : "unknown type");
		cm_api_audit_part(msg->req, "message", target, cm_err_status(p.err));
		cJSON *r = cJSON_CreateObject();
		if (!r)
			return cm_problem_clear(&p), -CM_EINTERNAL;
		cJSON_AddBoolToObject(r, "ok", false);
		if (type)
			cJSON_AddStringToObject(r, "type", type);
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

int cm_messages_body_check(const cJSON *body, int *n, struct cm_problem *p)
{
	bool array = cJSON_IsArray(body);
	*n = array ? cJSON_GetArraySize(body) : 1;
	if ((!array && !cJSON_IsObject(body)) || *n < 1 || *n > MAX_MESSAGES)
		return cm_problem(p, CM_EVALIDATION, NULL, "The body is one message or an array of 1 to 100.");
	return 0;
}

int cm_api_messages(struct cm_request *req)
{
	cJSON *body;
	int e = cm_req_json(req, NULL, &body);
	if (e < 0)
		return e;
	bool array = cJSON_IsArray(body);
	int n;
	size_t(*span)[2] = NULL;
	cJSON *out = NULL, *results = NULL;
	struct cm_problem p = {.err = CM_OK};
	if (cm_messages_body_check(body, &n, &p)) {
		e = cm_reply_problem(req, &p, -1);
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
		struct message msg = {req, m, text, cJSON_CreateObject()};
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
