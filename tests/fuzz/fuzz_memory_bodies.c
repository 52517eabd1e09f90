/* libFuzzer harness for the memory write bodies: PUT /v1/memory/{scope}/{key}
 * (cm_memory_put_parse), PATCH's merge patch (cm_memory_value_check) and POST /v1/batch
 * (cm_batch_check), the very functions the handlers call, after the same strict JSON gate, for
 * one of three callers (an admin, a node token, a read-only user token).
 * Invariants: only validation_failed, secret_detected (and forbidden in a batch) come out; a 422
 * names its field as API.md does ("ttl", "ops[3].value", details.index = 3); and a reference
 * validator written here from API.md, which accepts exactly what the server must, agrees on
 * accept or refuse and, for a batch, on which op is refused. What is accepted is checked again
 * field by field (tags as stored, ttl, expires_at).
 * Input: one byte (endpoint, caller, secret guard on or off), then the body. */
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

static struct cm_config cfg = {.max_value = 256 * 1024, .secret_kinds = CM_SECRET_ALL};

static bool ref_value(const cJSON *v)
{
	return v && fuzz_ref_depth(v) <= 100 && fuzz_clean(cfg.secret_kinds, v);
}

static bool ref_tags(const cJSON *t)
{
	return fuzz_tag_array(t, 32) && fuzz_clean(cfg.secret_kinds, t);
}

static bool ref_ttl(const cJSON *t)
{
	if (!cJSON_IsNumber(t))
		return false;
	double d = t->valuedouble;
	return d >= 1 && d <= 315360000 && d == (double)(long long)d;
}

static const char *const put_fields[] = {"value", "tags", "ttl", "expires_at", NULL};
static const char *const op_fields[] = {"op",  "scope",    "key",      "value",         "tags",
					"ttl", "expires_at", "if_match", "if_none_match", NULL};

/* PUT body or op (kind put/patch/delete/get): API.md's rules for its write fields. */
static bool ref_write(const cJSON *o, const char *kind, const char *const *fields)
{
	if (!fuzz_only_fields(o, fields))
		return false;
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
	const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(o, "ttl");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expires_at");
	if (!strcmp(kind, "delete") || !strcmp(kind, "get"))
		return !value && !tags && !ttl && !exp;
	if (!ref_value(value))
		return false;
	if (!strcmp(kind, "patch"))
		return !tags && !ttl && !exp;
	return (!tags || ref_tags(tags)) && !(ttl && exp) && (!ttl || ref_ttl(ttl)) &&
	       (!exp || (cJSON_IsString(exp) && cm_valid_time(exp->valuestring)));
}

/* if_match: 3, "3", "\"3\"" or "*"; a version is 1 to 999999999. */
static bool ref_if_match(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return v->valuedouble >= 1 && v->valuedouble <= 999999999 && v->valuedouble == (double)(long long)v->valuedouble;
	if (!cJSON_IsString(v))
		return false;
	const char *s = v->valuestring;
	size_t n = strlen(s);
	if (!strcmp(s, "*"))
		return true;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		s++, n -= 2;
	if (n < 1 || n > 9 || s[0] < '1' || s[0] > '9')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool ref_op(int caller, const cJSON *op)
{
	if (!cJSON_IsObject(op))
		return false;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "op");
	const cJSON *scope = cJSON_GetObjectItemCaseSensitive(op, "scope");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(op, "key");
	if (!cJSON_IsString(kind))
		return false;
	const char *k = kind->valuestring;
	bool get = !strcmp(k, "get"), put = !strcmp(k, "put");
	if (!get && !put && strcmp(k, "patch") && strcmp(k, "delete"))
		return false;
	if (!cJSON_IsString(scope) || !cm_valid_scope(scope->valuestring) || !cJSON_IsString(key) ||
	    !cm_valid_key(key->valuestring) || !fuzz_ref_allows(caller, scope->valuestring, !get))
		return false;
	if (!get && cfg.secret_kinds &&
	    cm_secret_scan(key->valuestring, strlen(key->valuestring), cfg.secret_kinds) != CM_SECRET_NONE)
		return false;
	const cJSON *im = cJSON_GetObjectItemCaseSensitive(op, "if_match");
	const cJSON *inm = cJSON_GetObjectItemCaseSensitive(op, "if_none_match");
	if (im && (get || !ref_if_match(im)))
		return false;
	if (inm && (!put || !cJSON_IsString(inm) || strcmp(inm->valuestring, "*")))
		return false;
	return ref_write(op, k, op_fields);
}

/* The op the reference refuses first: -1 = the body itself, n = none. */
static int ref_batch(int caller, const cJSON *body, int *n)
{
	const cJSON *ops = cJSON_IsObject(body) ? cJSON_GetObjectItemCaseSensitive(body, "ops") : NULL;
	*n = cJSON_GetArraySize(ops);
	if (!cJSON_IsArray(ops) || *n < 1 || *n > 100 || !fuzz_only_fields(body, (const char *const[]){"ops", NULL}))
		return -1;
	int i = 0;
	const cJSON *op;
	cJSON_ArrayForEach(op, ops)
	{
		if (!ref_op(caller, op))
			return i;
		i++;
	}
	return i;
}

static void refusal_well_formed(const struct cm_problem *p, bool forbidden_ok)
{
	check(p->err == CM_EVALIDATION || p->err == CM_ESECRET || (forbidden_ok && p->err == CM_EFORBIDDEN));
	check(p->message[0] && cm_utf8_valid(p->message, strlen(p->message)));
	check(p->err == CM_EFORBIDDEN ? !p->field[0] : p->field[0] != '\0');
	if (p->err == CM_ESECRET) {
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(p->details, "kind");
		check(cJSON_IsString(kind) && kind->valuestring[0]);
	}
	/* Never a credential in what is answered. */
	check(cm_secret_scan(p->field, strlen(p->field), CM_SECRET_ALL) == CM_SECRET_NONE);
}

static void accepted_fields(const cJSON *o, const struct cm_memory_fields *w)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
	const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(o, "ttl");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expires_at");
	check(!tags == !w->tags_text);
	if (tags)
		check(fuzz_same_text(w->tags_text, tags));
	check(ttl ? w->ttl == (long long)ttl->valuedouble && w->ttl >= 1 : w->ttl == 0);
	check(exp ? w->expires_at == exp->valuestring : !w->expires_at);
}

static void put(const cJSON *body)
{
	struct cm_memory_fields w = {.ttl = 0};
	struct cm_problem p = {.err = CM_OK};
	int rc = cm_memory_put_parse(&cfg, body, &w, &p);
	bool ref = cJSON_IsObject(body) && ref_write(body, "put", put_fields);
	check(rc == 0 || rc == 1);
	check((rc == 0) == ref);
	if (rc == 1) {
		refusal_well_formed(&p, false);
		check(fuzz_shown_name(p.field, put_fields));
		if (p.err == CM_ESECRET)
			check(!strcmp(p.field, "value") || !strcmp(p.field, "tags"));
	} else {
		accepted_fields(body, &w);
	}
	cm_memory_fields_free(&w);
	cm_problem_clear(&p);
}

static void patch(const cJSON *body)
{
	struct cm_problem p = {.err = CM_OK};
	int rc = cm_memory_value_check(&cfg, body, &p);
	check(rc == 0 || rc == 1);
	check((rc == 0) == ref_value(body));
	if (rc == 1) {
		refusal_well_formed(&p, false);
		check(!strcmp(p.field, "value"));
	}
	cm_problem_clear(&p);
}

static void batch(int caller, const cJSON *body)
{
	struct cm_problem p = {.err = CM_OK};
	int index = -2, n;
	int rc = cm_batch_check(&cfg, &fuzz_who[caller], body, &index, &p);
	int ref = ref_batch(caller, body, &n);
	check(rc == 0 || rc == 1);
	check((rc == 0) == (ref == n && n >= 1));
	if (rc == 0) {
		check(index == -1);
	} else {
		/* The op refused is the first one the reference refuses, and its field says so. */
		check(index == ref && index >= -1 && index < 100);
		refusal_well_formed(&p, index >= 0);
		if (index < 0) {
			check(!strcmp(p.field, "ops") || fuzz_shown_name(p.field, (const char *const[]){"ops", NULL}));
		} else if (p.field[0]) {
			char pre[16];
			int k = snprintf(pre, sizeof pre, "ops[%d]", index);
			check(!strncmp(p.field, pre, (size_t)k));
			check(p.field[k] == '\0' || (p.field[k] == '.' && fuzz_shown_name(p.field + k + 1, op_fields)));
			if (p.field[k] == '\0') /* the op itself: only when it is no object */
				check(!cJSON_IsObject(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(body, "ops"), index)));
		}
	}
	cm_problem_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_body b;
	if (!fuzz_body_read(data, size, &b))
		return 0;
	int which = b.selector % 3, caller = (b.selector / 3) % FUZZ_CALLERS;
	cfg.secret_kinds = fuzz_secret_guard(b.selector);
	if (b.json && which == 0)
		put(b.json);
	else if (b.json && which == 1)
		patch(b.json);
	else if (b.json)
		batch(caller, b.json);
	fuzz_body_free(&b);
	return 0;
}
