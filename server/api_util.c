/* Helpers the handlers share. A refusal is a value (struct cm_problem) until someone answers it:
 * a REST handler replies with it, the bridge puts it into the message's result. */
#include "clawmesh/api_util.h"
#include "clawmesh/cursor.h"
#include "clawmesh/json.h"
#include "clawmesh/secrets.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TAGS 32
#define IF_MATCH_MAX_TAGS 16

int cm_problem(struct cm_problem *p, enum cm_err err, const char *field, const char *fmt, ...)
{
	p->err = err;
	snprintf(p->field, sizeof p->field, "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof p->message, fmt, ap);
	va_end(ap);
	return 1;
}

void cm_problem_number(struct cm_problem *p, const char *name, double v)
{
	if (!p->details)
		p->details = cJSON_CreateObject();
	if (p->details)
		cJSON_AddNumberToObject(p->details, name, v);
}

void cm_problem_clear(struct cm_problem *p)
{
	cJSON_Delete(p->details);
	memset(p, 0, sizeof *p);
}

cJSON *cm_problem_details(struct cm_problem *p, int index)
{
	cJSON *d = p->details;
	p->details = NULL;
	if (!p->field[0] && index < 0)
		return d;
	if (!d && !(d = cJSON_CreateObject()))
		return NULL;
	if (p->field[0])
		cJSON_AddStringToObject(d, "field", p->field);
	if (index >= 0)
		cJSON_AddNumberToObject(d, "index", index);
	return d;
}

int cm_reply_problem(struct cm_request *req, struct cm_problem *p, int index)
{
	cJSON *d = cm_problem_details(p, index);
	int e = cm_reply_error(req, p->err, p->message[0] ? p->message : NULL, d);
	cm_problem_clear(p);
	return e;
}

cJSON *cm_problem_json(struct cm_problem *p, int index)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *d = cm_problem_details(p, index);
	if (o) {
		cJSON_AddStringToObject(o, "code", cm_err_code(p->err));
		cJSON_AddStringToObject(o, "message", p->message[0] ? p->message : cm_err_message(p->err));
		if (d)
			cJSON_AddItemToObject(o, "details", d), d = NULL;
	}
	cJSON_Delete(d);
	cm_problem_clear(p);
	return o;
}

int cm_check_scope(const struct cm_identity *who, const char *scope, enum cm_access need, struct cm_problem *p)
{
	if (cm_grant_allows(who, scope, need))
		return 0;
	return cm_problem(p, CM_EFORBIDDEN, NULL, "This token may not %s scope %s.",
			  need == CM_ACCESS_RW ? "write" : "read", scope);
}

int cm_check_secret(const struct cm_config *cfg, const char *field, const cJSON *item, const char *text,
		    size_t len, struct cm_problem *p)
{
	unsigned kinds = cfg->secret_kinds;
	if (!kinds)
		return 0;
	enum cm_secret_kind k = item ? cm_secret_scan_json(item, kinds) : cm_secret_scan(text, len, kinds);
	if (k == CM_SECRET_NONE)
		return 0;
	if (k == CM_SECRET_KIND_COUNT) /* the scan ran out of memory: refuse, never pass unscanned */
		return -CM_EINTERNAL;
	cm_problem(p, CM_ESECRET, field, "The %s carries what looks like a credential (%s); secrets stay node-local.",
		   field, cm_secret_kind_name(k));
	if (!p->details)
		p->details = cJSON_CreateObject();
	if (p->details)
		cJSON_AddStringToObject(p->details, "kind", cm_secret_kind_name(k));
	return 1;
}

int cm_check_unknown_field(const char *name, struct cm_problem *p)
{
	size_t n = strlen(name);
	bool echo = n >= 1 && n <= 40 && cm_secret_scan(name, n, CM_SECRET_ALL) == CM_SECRET_NONE;
	for (size_t i = 0; echo && i < n; i++)
		echo = name[i] > 0x20 && name[i] < 0x7f;
	return cm_problem(p, CM_EVALIDATION, echo ? name : "(unknown field)", "Unknown field%s%s.", echo ? " " : "",
			  echo ? name : "");
}

int cm_check_tags(const struct cm_config *cfg, const cJSON *tags, char **text, struct cm_problem *p)
{
	if (!cJSON_IsArray(tags))
		return cm_problem(p, CM_EVALIDATION, "tags", "tags must be an array of strings.");
	if (cJSON_GetArraySize(tags) > MAX_TAGS)
		return cm_problem(p, CM_EVALIDATION, "tags", "At most 32 tags.");
	const cJSON *t;
	cJSON_ArrayForEach(t, tags)
	{
		if (!cJSON_IsString(t) || !cm_valid_tag(t->valuestring))
			return cm_problem(p, CM_EVALIDATION, "tags",
					  "Each tag is a string of 1-64 characters, no control characters.");
	}
	int e = cm_check_secret(cfg, "tags", tags, NULL, 0, p);
	if (e)
		return e;
	*text = cm_json_render(tags, NULL);
	return *text ? 0 : -CM_EINTERNAL;
}

bool cm_field_known(const char *name, const char *const *fields)
{
	for (size_t i = 0; fields[i]; i++)
		if (!strcmp(name, fields[i]))
			return true;
	return false;
}

int cm_req_if_match(struct cm_request *req, char *out)
{
	const char *h = cm_req_header(req, "If-Match");
	out[0] = '\0';
	if (!h)
		return 0;
	size_t o = 0, tags = 0;
	out[o++] = '{';
	for (const char *p = h;;) {
		p += strspn(p, " \t");
		size_t n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		bool weak = n > 2 && !strncmp(p, "W/", 2);
		const char *t = weak ? p + 2 : p;
		size_t tn = weak ? n - 2 : n;
		bool quoted = tn >= 2 && t[0] == '"' && t[tn - 1] == '"';
		bool star = n == 1 && *p == '*';
		if (!n || ++tags > IF_MATCH_MAX_TAGS || (!quoted && !star && strspn(p, "0123456789") != n) ||
		    (quoted && memchr(t + 1, '"', tn - 2))) {
			cm_reply_error(req, CM_EBADREQ, "If-Match must be * or ETags (\"3\") this server gave out.", NULL);
			return 1;
		}
		if (quoted)
			t++, tn -= 2;
		else
			t = p, tn = n;
		if (star) {
			o += (size_t)snprintf(out + o, CM_IF_MATCH_TEXT - o, "%s0", o > 1 ? "," : "");
		} else if (!weak && tn >= 1 && tn <= 10 && t[0] != '0' && strspn(t, "0123456789") >= tn) {
			long long v = strtoll(t, NULL, 10);
			if (v <= 2147483647LL)
				o += (size_t)snprintf(out + o, CM_IF_MATCH_TEXT - o, "%s%lld", o > 1 ? "," : "", v);
		}
		p += strcspn(p, ",");
		if (!*p)
			break;
		p++;
	}
	snprintf(out + o, CM_IF_MATCH_TEXT - o, "}");
	return 0;
}

int cm_req_if_none_match_star(struct cm_request *req, bool *set)
{
	const char *inm = cm_req_header(req, "If-None-Match");
	*set = inm != NULL;
	if (inm && strcmp(inm, "*")) {
		cm_reply_error(req, CM_EBADREQ, "On a write, If-None-Match can only be *.", NULL);
		return 1;
	}
	return 0;
}

bool cm_etag_in(const char *field, const char *etag)
{
	size_t n = strlen(etag);
	for (const char *p = field;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return false;
		if (*p == '*')
			return true;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p != '"')
			return false;
		const char *close = strchr(p + 1, '"');
		if (!close || !strchr(" \t,", close[1])) /* strchr finds the NUL too: the end */
			return false;
		if ((size_t)(close + 1 - p) == n && !memcmp(p, etag, n))
			return true;
		p = close + 1;
	}
}

bool cm_etag_listed(const char *h, int version)
{
	char want[16];
	snprintf(want, sizeof want, "\"%d\"", version);
	return cm_etag_in(h, want);
}

void cm_reply_etag(struct cm_request *req, int version)
{
	char etag[16];
	snprintf(etag, sizeof etag, "\"%d\"", version);
	cm_reply_header(req, "ETag", etag);
}

int cm_req_cursor(struct cm_request *req, cJSON **out)
{
	*out = NULL;
	const char *c = cm_req_query(req, "cursor");
	if (!c)
		return 0;
	*out = cm_cursor_decode(c);
	if (!*out) {
		cm_reply_error(req, CM_EBADREQ, "cursor is not one this server gave out.", NULL);
		return 1;
	}
	return 0;
}

int cm_reply_page(struct cm_request *req, cJSON *items, cJSON *next)
{
	cJSON *o = cJSON_CreateObject();
	char *cursor = next ? cm_cursor_encode(next) : NULL;
	cJSON_Delete(next);
	if (!o || (next && !cursor)) {
		cJSON_Delete(o);
		cJSON_Delete(items);
		free(cursor);
		return -CM_EINTERNAL;
	}
	cJSON_AddItemToObject(o, "items", items);
	bool ok = cm_json_add_string_or_null(o, "next_cursor", cursor);
	free(cursor);
	if (!ok) {
		cJSON_Delete(o);
		return -CM_EINTERNAL;
	}
	return cm_reply_json(req, 200, o);
}

int cm_req_version_page(struct cm_request *req, unsigned *limit, int *before)
{
	*before = 0;
	if (cm_req_limit(req, limit) < 0)
		return cm_reply_error(req, CM_EBADREQ, CM_LIMIT_INVALID, NULL), 1;
	cJSON *cur;
	if (cm_req_cursor(req, &cur))
		return 1;
	if (!cur)
		return 0;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cur, "v");
	*before = cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 2147483648.0 ? (int)v->valuedouble : -1;
	cJSON_Delete(cur);
	if (*before < 1)
		return cm_reply_error(req, CM_EBADREQ, "cursor is not one this server gave out.", NULL), 1;
	return 0;
}

int cm_reply_version_page(struct cm_request *req, cJSON *items, int next)
{
	cJSON *pos = NULL;
	if (next && (!(pos = cJSON_CreateObject()) || !cJSON_AddNumberToObject(pos, "v", next))) {
		cJSON_Delete(pos);
		cJSON_Delete(items);
		return -CM_EINTERNAL;
	}
	return cm_reply_page(req, items, pos);
}

int cm_readable_scopes(const struct cm_identity *who, bool *all, char **exact, char **prefixes)
{
	*all = false;
	*exact = *prefixes = NULL;
	struct cm_grant g[CM_MAX_GRANTS + 2];
	size_t n = cm_effective_grants(who, g, sizeof g / sizeof g[0]);
	cJSON *ex = cJSON_CreateArray(), *pre = cJSON_CreateArray();
	int e = ex && pre ? 0 : -CM_EINTERNAL;
	for (size_t i = 0; e == 0 && i < n; i++) {
		if (g[i].access < CM_ACCESS_R)
			continue;
		size_t len = strlen(g[i].pattern);
		if (!strcmp(g[i].pattern, "*"))
			*all = true;
		else if (len && g[i].pattern[len - 1] == '*')
			g[i].pattern[len - 1] = '\0', cJSON_AddItemToArray(pre, cJSON_CreateString(g[i].pattern));
		else
			cJSON_AddItemToArray(ex, cJSON_CreateString(g[i].pattern));
	}
	if (e == 0 && (!(*exact = cm_json_render(ex, NULL)) || !(*prefixes = cm_json_render(pre, NULL))))
		e = -CM_EINTERNAL;
	cJSON_Delete(ex);
	cJSON_Delete(pre);
	return e;
}

int cm_req_query_list(struct cm_request *req, const char *name, bool (*check)(const char *), const char *what,
		      char **out, const char **v, int *count)
{
	*out = NULL;
	int n = *count = cm_req_query_all(req, name, v, CM_MAX_FILTER_VALUES);
	char msg[128];
	if (n < 0) {
		snprintf(msg, sizeof msg, "At most %d %s parameters.", CM_MAX_FILTER_VALUES, name);
		cm_reply_error(req, CM_EBADREQ, msg, NULL);
		return 1;
	}
	if (n == 0)
		return 0;
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; arr && i < n; i++) {
		if (!check(v[i])) {
			cJSON_Delete(arr);
			snprintf(msg, sizeof msg, "%s is not %s.", name, what);
			cm_reply_error(req, CM_EBADREQ, msg, NULL);
			return 1;
		}
		cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
	}
	*out = arr ? cm_json_render(arr, NULL) : NULL;
	cJSON_Delete(arr);
	return *out ? 0 : -CM_EINTERNAL;
}
