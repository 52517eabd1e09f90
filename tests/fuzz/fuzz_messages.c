/* libFuzzer harness for POST /v1/messages (the phase-1 bridge): cm_messages_body_check and
 * cm_message_check on each message, the very functions the handler calls, after the same strict
 * JSON gate, for one of three callers (an admin without a node, node "ceo", a read-only user
 * token). A skill message the check lets through goes on to cm_skill_check, as the publish does.
 * Invariants: only validation_failed, secret_detected and forbidden; a 422 names its field
 * (but for a message that is no object); and a reference written here from API.md (the four
 * types and their required fields, nodeId / sourceNode / source the token's node, an array of
 * at most 100) accepts exactly what the server accepts. What is accepted is checked again:
 * the scope as resolved, ts as RFC 3339 of the same instant, tags and capabilities as stored.
 * Input: one byte (caller, secret guard on or off), then the body. */
#include "clawmesh/api.h"
#include "clawmesh/api_util.h"
#include "clawmesh/auth.h"
#include "clawmesh/config.h"
#include "clawmesh/err.h"
#include "clawmesh/json.h"
#include "clawmesh/secrets.h"
#include "clawmesh/validate.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct cm_config cfg = {.max_value = 256 * 1024, .secret_kinds = CM_SECRET_ALL};
static bool ref_clean_text(const char *s)
{
	return !cfg.secret_kinds || cm_secret_scan(s, strlen(s), cfg.secret_kinds) == CM_SECRET_NONE;
}

/* An array of at most max strings of 1-64 characters, no control characters, no credential. */
static bool ref_words(const cJSON *a, int max)
{
	return fuzz_tag_array(a, max) && fuzz_clean(cfg.secret_kinds, a);
}

static const char *str(const cJSON *m, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The scope a message names, as API.md's bridge section resolves it, into out; false = invalid. */
static bool ref_scope(int caller, const cJSON *m, char *out, size_t cap)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(m, "scope");
	if (!s) {
		snprintf(out, cap, "mesh");
		return true;
	}
	if (!cJSON_IsString(s))
		return false;
	if (!strcmp(s->valuestring, "node")) {
		snprintf(out, cap, "node:%s", fuzz_who[caller].node);
		return fuzz_who[caller].node[0] != '\0';
	}
	snprintf(out, cap, "%s", s->valuestring);
	return cm_valid_scope(s->valuestring);
}

/* ts: absent or null, an RFC 3339 time, or whole epoch milliseconds up to the year 9999. */
static bool ref_ts(const cJSON *m)
{
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "ts");
	if (!ts || cJSON_IsNull(ts))
		return true;
	if (cJSON_IsString(ts))
		return cm_valid_time(ts->valuestring) && strlen(ts->valuestring) <= CM_TIME_MAX;
	return cJSON_IsNumber(ts) && ts->valuedouble >= 0 && ts->valuedouble <= 253402300799999.0 &&
	       ts->valuedouble == (double)(long long)ts->valuedouble;
}

static bool ref_message(int caller, const cJSON *m)
{
	static const char *const claims[] = {"nodeId", "sourceNode", "source"};
	const char *type = str(m, "type");
	if (!cJSON_IsObject(m) || !type)
		return false;
	for (int i = 0; i < 3; i++) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, claims[i]);
		if (c && !cJSON_IsNull(c) &&
		    (!cJSON_IsString(c) || !fuzz_who[caller].node[0] || strcmp(c->valuestring, fuzz_who[caller].node)))
			return false;
	}
	char scope[96];
	if (!strcmp(type, "memory")) {
		const char *key = str(m, "key");
		const cJSON *value = cJSON_GetObjectItemCaseSensitive(m, "value");
		const cJSON *tags = cJSON_GetObjectItemCaseSensitive(m, "tags");
		return ref_scope(caller, m, scope, sizeof scope) && key && cm_valid_key(key) && value &&
		       fuzz_ref_depth(value) <= 100 && ref_ts(m) && fuzz_ref_allows(caller, scope, true) &&
		       ref_clean_text(key) && fuzz_clean(cfg.secret_kinds, value) && (!tags || ref_words(tags, 32));
	}
	if (!strcmp(type, "skill")) {
		const char *name = str(m, "name");
		return ref_scope(caller, m, scope, sizeof scope) && name && cm_valid_skill_name(name) && str(m, "content");
	}
	if (!strcmp(type, "request")) {
		const char *what = str(m, "what");
		bool memory = what && !strcmp(what, "memory");
		if (!memory && !(what && !strcmp(what, "skill")))
			return false;
		const char *name = str(m, memory ? "key" : "name");
		return ref_scope(caller, m, scope, sizeof scope) && name &&
		       (memory ? cm_valid_key(name) : cm_valid_skill_name(name)) && fuzz_ref_allows(caller, scope, false);
	}
	if (!strcmp(type, "capabilities")) {
		const cJSON *skills = cJSON_GetObjectItemCaseSensitive(m, "skills");
		if (!skills)
			skills = cJSON_GetObjectItemCaseSensitive(m, "capabilities");
		return fuzz_who[caller].node[0] && skills && ref_words(skills, 64);
	}
	return false;
}

/* The checked message's fields, again. */
static void accepted(int caller, const cJSON *m, const struct cm_message_input *in)
{
	char scope[96];
	check(in->type && !strcmp(in->type, str(m, "type")));
	if (in->kind != CM_MSG_CAPABILITIES) {
		check(ref_scope(caller, m, scope, sizeof scope) && !strcmp(in->scope, scope) && cm_valid_scope(in->scope));
	}
	switch (in->kind) {
	case CM_MSG_MEMORY: {
		check(in->key == str(m, "key") && in->value == cJSON_GetObjectItemCaseSensitive(m, "value"));
		const cJSON *tags = cJSON_GetObjectItemCaseSensitive(m, "tags");
		check(!tags == !in->tags_text);
		if (tags)
			check(fuzz_same_text(in->tags_text, tags));
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(m, "ts");
		check((!ts || cJSON_IsNull(ts)) == !in->ts[0]);
		if (in->ts[0])
			check(cm_valid_time(in->ts));
		if (cJSON_IsString(ts))
			check(!strcmp(in->ts, ts->valuestring));
		if (cJSON_IsNumber(ts)) {
			/* The same instant: seconds and milliseconds read back from the text. */
			struct tm tm = {0};
			int ms = -1;
			const char *rest = strptime(in->ts, "%Y-%m-%dT%H:%M:%S", &tm);
			check(rest && sscanf(rest, ".%3dZ", &ms) == 1);
			long long back = (long long)timegm(&tm) * 1000 + ms;
			check(back == (long long)ts->valuedouble);
		}
		break;
	}
	case CM_MSG_SKILL: {
		check(in->skill.scope == in->scope && in->skill.name == str(m, "name"));
		check(in->skill.content == str(m, "content") && in->skill.len == strlen(in->skill.content));
		/* What cm_skill_publish then checks (grant aside): its own refusals, documented ones. */
		struct cm_problem p = {.err = CM_OK};
		int rc = cm_skill_check(&cfg, &in->skill, &p);
		check(rc == 0 || rc == 1);
		if (rc == 1)
			check((p.err == CM_EVALIDATION || p.err == CM_ESECRET || p.err == CM_ETOOLARGE) && p.field[0] &&
			      p.message[0]);
		cm_problem_clear(&p);
		break;
	}
	case CM_MSG_REQUEST:
		check(in->memory ? in->key && cm_valid_key(in->key) : in->name && cm_valid_skill_name(in->name));
		check(!strcmp(str(m, "what"), in->memory ? "memory" : "skill"));
		break;
	case CM_MSG_CAPABILITIES: {
		const cJSON *skills = cJSON_GetObjectItemCaseSensitive(m, "skills");
		check(fuzz_same_text(in->caps, skills ? skills : cJSON_GetObjectItemCaseSensitive(m, "capabilities")));
		check(fuzz_who[caller].node[0]);
		break;
	}
	default:
		check(!"a kind");
	}
}

static void message(int caller, const cJSON *m)
{
	static const char *const fields[] = {"type", "scope", "key", "value", "ts", "tags", "name", "content",
					     "description", "metadata", "what", "skills", "capabilities",
					     "nodeId", "sourceNode", "source", NULL};
	struct cm_message_input in;
	struct cm_problem p = {.err = CM_OK};
	int rc = cm_message_check(&cfg, &fuzz_who[caller], m, &in, &p);
	check(rc == 0 || rc == 1);
	check((rc == 0) == ref_message(caller, m));
	if (rc == 0) {
		accepted(caller, m, &in);
	} else {
		check(p.err == CM_EVALIDATION || p.err == CM_ESECRET || p.err == CM_EFORBIDDEN);
		check(p.message[0] && cm_utf8_valid(p.message, strlen(p.message)));
		if (p.err != CM_EFORBIDDEN)
			check(p.field[0] || !cJSON_IsObject(m));
		if (p.field[0])
			check(fuzz_in_list(p.field, fields));
		if (p.err == CM_ESECRET)
			check(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p.details, "kind")));
		/* A type is known to the result exactly when it is one of the four. */
		const char *t = str(m, "type");
		bool four = cJSON_IsObject(m) && t &&
			    (!strcmp(t, "memory") || !strcmp(t, "skill") || !strcmp(t, "request") || !strcmp(t, "capabilities"));
		check(four == (in.type != NULL));
	}
	cm_message_input_free(&in);
	cm_problem_clear(&p);
}

/* The body: one message or an array of 1 to 100, each then checked on its own. */
static void messages(int caller, const cJSON *body, const char *text, size_t len)
{
	struct cm_problem p = {.err = CM_OK};
	int n = -1;
	int rc = cm_messages_body_check(body, &n, &p);
	bool array = cJSON_IsArray(body);
	bool ref = (cJSON_IsObject(body) || (array && cJSON_GetArraySize(body) >= 1 && cJSON_GetArraySize(body) <= 100));
	check((rc == 0) == ref);
	if (rc == 0) {
		check(n == (array ? cJSON_GetArraySize(body) : 1));
		/* The handler gives each message its own text: the spans cover exactly n. */
		if (array) {
			size_t(*span)[2] = calloc((size_t)n, sizeof *span);
			check(span && cm_message_spans(text, len, span, n) == n);
			free(span);
		}
		for (const cJSON *m = array ? body->child : body; m; m = array ? m->next : NULL)
			message(caller, m);
	} else {
		check(p.err == CM_EVALIDATION && p.message[0]);
	}
	cm_problem_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_body b;
	if (!fuzz_body_read(data, size, &b))
		return 0;
	cfg.secret_kinds = fuzz_secret_guard(b.selector);
	if (b.json)
		messages(b.selector % FUZZ_CALLERS, b.json, b.text, b.len);
	fuzz_body_free(&b);
	return 0;
}
