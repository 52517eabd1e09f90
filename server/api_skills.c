/* /v1/skills: publish a SKILL.md (JSON or raw markdown), fetch it back byte for byte, its versions,
 * listings and the sha256 lookup. The grant on the scope is checked before the database is asked
 * anything; the content is validated, its front matter read and the secret guard run before the
 * store hashes and writes it. */
#include "clawmesh/api.h"
#include "clawmesh/api_util.h"
#include "clawmesh/frontmatter.h"
#include "clawmesh/json.h"
#include "clawmesh/store_skills.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DESCRIPTION 4096
#define MAX_METADATA (64 * 1024)
#define MAX_METADATA_DEPTH 32
#define MAX_QUERY_TEXT 256

/* The fields of a publish, validated: what the store takes. */
struct prepared {
	char *description; /* NULL = none */
	char *metadata;    /* a JSON object */
	char *tags;        /* a JSON array, NULL = none */
};

static void prepared_free(struct prepared *pr)
{
	free(pr->description);
	free(pr->metadata);
	free(pr->tags);
}

/* Does a front-matter scalar read as name? name: 123 is a number to YAML, name: true a bool, yet
 * both are valid skill names; numbers keep their text (raw items). */
static bool names(const cJSON *v, const char *name)
{
	if (cJSON_IsString(v) || cJSON_IsRaw(v))
		return !strcmp(v->valuestring, name);
	if (cJSON_IsBool(v))
		return !strcmp(cJSON_IsTrue(v) ? "true" : "false", name);
	return cJSON_IsNull(v) && !strcmp(name, "null");
}

/* Content, front matter, description, metadata, tags and the secret guard, in that order.
 * 0, 1 = refused (p set), <0. */
static int prepare(const struct cm_config *cfg, const struct cm_skill_input *in, struct prepared *pr,
		   struct cm_problem *p)
{
	if (in->len == 0)
		return cm_problem(p, CM_EVALIDATION, "content", "content is required and may not be empty.");
	if (in->len > cfg->max_value) {
		cm_problem(p, CM_ETOOLARGE, "content", "The content is larger than the limit of %zu bytes.", cfg->max_value);
		cm_problem_number(p, "limit", (double)cfg->max_value);
		return 1;
	}
	if (memchr(in->content, '\0', in->len) || !cm_utf8_valid(in->content, in->len))
		return cm_problem(p, CM_EVALIDATION, "content", "content must be UTF-8 text without NUL characters.");
	cJSON *fm = NULL;
	struct cm_fm_error fe = {0, ""};
	int e = cm_frontmatter_parse(in->content, in->len, &fm, NULL, &fe);
	if (e == -CM_EVALIDATION)
		return cm_problem(p, CM_EVALIDATION, "content", "The front matter is not valid (line %d): %s", fe.line,
				  fe.message);
	if (e < 0)
		return e;
	const cJSON *fm_name = cJSON_GetObjectItemCaseSensitive(fm, "name");
	const cJSON *fm_desc = cJSON_GetObjectItemCaseSensitive(fm, "description");
	const cJSON *desc = in->description ? in->description : fm_desc;
	if (fm_name && !names(fm_name, in->name)) {
		e = cm_problem(p, CM_EVALIDATION, "name", "The front matter names another skill than %s.", in->name);
	} else if (desc && !cJSON_IsNull(desc) &&
		   (!cJSON_IsString(desc) || strlen(desc->valuestring) > MAX_DESCRIPTION)) {
		e = cm_problem(p, CM_EVALIDATION, "description", "description is a string of at most 4096 bytes.");
	} else if (in->metadata && (!cJSON_IsObject(in->metadata) || cm_json_depth(in->metadata) > MAX_METADATA_DEPTH)) {
		e = cm_problem(p, CM_EVALIDATION, "metadata", "metadata is an object nested at most 32 levels.");
	} else if (desc && cJSON_IsString(desc) && !(pr->description = strdup(desc->valuestring))) {
		e = -CM_EINTERNAL;
	}
	/* The whole front matter as YAML decodes it, whatever the request overrides: an escaped
	 * credential ("AKIA\u0049…") is invisible to the scan of the raw text but not to a reader. */
	if (e == 0 && fm)
		e = cm_check_secret(cfg, "content", fm, NULL, 0, p);
	if (e == 0) {
		/* The front matter's other members are the metadata when the request gives none. */
		cJSON_DeleteItemFromObjectCaseSensitive(fm, "name");
		cJSON_DeleteItemFromObjectCaseSensitive(fm, "description");
		size_t mlen = 0;
		if (in->metadata) /* its own text: cJSON would round numbers */
			pr->metadata = cm_json_member_text(in->source, "metadata", in->metadata, &mlen);
		else
			pr->metadata = fm ? cm_json_render(fm, &mlen) : strdup("{}");
		if (!pr->metadata)
			e = -CM_EINTERNAL;
		else if (mlen > MAX_METADATA)
			e = cm_problem(p, CM_EVALIDATION, "metadata", "metadata is at most 64 KiB as JSON.");
	}
	if (e == 0 && in->tags)
		e = cm_check_tags(cfg, in->tags, &pr->tags, p);
	if (e == 0)
		e = cm_check_secret(cfg, "content", NULL, in->content, in->len, p);
	if (e == 0 && pr->description)
		e = cm_check_secret(cfg, "description", NULL, pr->description, strlen(pr->description), p);
	if (e == 0 && in->metadata)
		e = cm_check_secret(cfg, "metadata", in->metadata, NULL, 0, p);
	cJSON_Delete(fm);
	return e;
}

int cm_skill_check(const struct cm_config *cfg, const struct cm_skill_input *in, struct cm_problem *p)
{
	struct prepared pr = {NULL, NULL, NULL};
	int e = prepare(cfg, in, &pr, p);
	prepared_free(&pr);
	return e;
}

/* A store refusal as a problem. */
static int store_refusal(const struct cm_config *cfg, const struct cm_store_result *r, struct cm_problem *p)
{
	switch (r->status) {
	case CM_ST_VERSION_MISMATCH:
	case CM_ST_ALREADY_EXISTS:
		cm_problem(p, r->status == CM_ST_ALREADY_EXISTS ? CM_EEXISTS : CM_EVERSION, NULL,
			   r->status == CM_ST_ALREADY_EXISTS ? "The skill exists already." : "The skill is not at the expected version.");
		if (!(p->details = cJSON_CreateObject()))
			return -CM_EINTERNAL;
		if (r->version > 0)
			cJSON_AddNumberToObject(p->details, "current_version", r->version);
		else
			cJSON_AddNullToObject(p->details, "current_version");
		return 1;
	case CM_ST_NOT_FOUND:
		return cm_problem(p, CM_ENOTFOUND, NULL, "No such skill.");
	case CM_ST_TOO_LARGE:
		cm_problem(p, CM_ETOOLARGE, "content", "The content is larger than the limit of %zu bytes.", cfg->max_value);
		cm_problem_number(p, "limit", (double)cfg->max_value);
		return 1;
	default:
		return -CM_EINTERNAL;
	}
}

int cm_skill_publish(const struct cm_config *cfg, const struct cm_identity *who, const struct cm_skill_input *in,
		     struct cm_store_result *out, struct cm_problem *p)
{
	if (cm_check_scope(who, in->scope, CM_ACCESS_RW, p))
		return 1;
	struct prepared pr = {NULL, NULL, NULL};
	int e = prepare(cfg, in, &pr, p);
	if (e == 0) {
		/* prepare() refused NULs, and content is NUL-terminated: it goes to SQL as it is. */
		struct cm_skill_write w = {
			.op = "put",
			.scope = in->scope,
			.name = in->name,
			.content = in->content,
			.description = pr.description,
			.tags = pr.tags,
			.metadata = pr.metadata,
			.if_match = in->if_match,
			.if_none_match = in->if_none_match,
			.node = who->node[0] ? who->node : NULL,
			.max_size = cfg->max_value,
		};
		e = cm_store_skill_write(&w, out);
		if (e == 0 && !CM_ST_DONE(out->status))
			e = store_refusal(cfg, out, p);
	}
	prepared_free(&pr);
	return e;
}

/* The scope and name of the path, checked against API.md's grammar. 1 = refused (answered). */
static int path_target(struct cm_request *req, const char **scope, const char **name)
{
	*scope = req->params[0];
	*name = req->params[1];
	if (!cm_valid_scope(*scope))
		return cm_reply_error(req, CM_EBADREQ, "The scope must be mesh, node:<id>, user:<id> or project:<id>.", NULL), 1;
	if (!cm_valid_skill_name(*name))
		return cm_reply_error(req, CM_EBADREQ, "A skill name is 1-64 characters of a-z 0-9 -, starting with a letter or digit.",
				      NULL),
		       1;
	return 0;
}

/* Path and grant: 1 = refused (answered). */
static int target(struct cm_request *req, enum cm_access need, const char **scope, const char **name)
{
	if (path_target(req, scope, name))
		return 1;
	struct cm_problem p = {.err = CM_OK};
	if (cm_check_scope(&req->who, *scope, need, &p))
		return cm_reply_problem(req, &p, -1), 1;
	return 0;
}

static const char *const put_fields[] = {"content", "description", "tags", "metadata", NULL};

int cm_skill_input_from_json(const cJSON *body, const char *source, struct cm_skill_input *in, struct cm_problem *p)
{
	if (!cJSON_IsObject(body))
		return cm_problem(p, CM_EVALIDATION, "content", "The body is an object: {\"content\": \"<SKILL.md>\", …}.");
	const cJSON *f;
	cJSON_ArrayForEach(f, body)
	{
		if (!cm_field_known(f->string, put_fields))
			return cm_check_unknown_field(f->string, p);
	}
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(body, "content");
	if (!cJSON_IsString(content))
		return cm_problem(p, CM_EVALIDATION, "content", "content is the SKILL.md text, a string.");
	in->content = content->valuestring;
	in->len = strlen(content->valuestring);
	in->description = cJSON_GetObjectItemCaseSensitive(body, "description");
	in->tags = cJSON_GetObjectItemCaseSensitive(body, "tags");
	in->source = source;
	in->metadata = cJSON_GetObjectItemCaseSensitive(body, "metadata");
	return 0;
}

int cm_api_skill_put(struct cm_request *req)
{
	struct cm_skill_input in = {.if_none_match = false};
	char if_match[CM_IF_MATCH_TEXT];
	if (target(req, CM_ACCESS_RW, &in.scope, &in.name) || cm_req_if_match(req, if_match) ||
	    cm_req_if_none_match_star(req, &in.if_none_match))
		return 0;
	in.if_match = if_match[0] ? if_match : NULL;
	struct cm_problem p = {.err = CM_OK};
	cJSON *body = NULL;
	int e = 0;
	if (cm_req_content_type_is(req, "text/markdown")) {
		in.content = req->body ? req->body : "";
		in.len = req->body_len;
	} else if ((e = cm_req_json(req, NULL, &body)) < 0) {
		return e == -CM_EMEDIA ? cm_reply_error(req, CM_EMEDIA, "Send application/json or text/markdown.", NULL) : e;
	} else {
		e = cm_skill_input_from_json(body, req->body, &in, &p);
	}
	struct cm_store_result r = {.version = -1};
	if (e == 0)
		e = cm_skill_publish(req->cfg, &req->who, &in, &r, &p);
	if (e == 1) {
		e = cm_reply_problem(req, &p, -1);
	} else if (e == 0) {
		e = cm_reply_json_text(req, r.status == CM_ST_UNCHANGED ? 200 : 201, r.entry);
		r.entry = NULL;
		if (e == 0) {
			cm_reply_etag(req, r.version);
			char loc[CM_PARAM_MAX * 2 + 16];
			snprintf(loc, sizeof loc, "/v1/skills/%s/%s", in.scope, in.name);
			if (r.status != CM_ST_UNCHANGED)
				cm_reply_header(req, "Location", loc);
		}
	}
	cm_problem_clear(&p);
	cm_store_result_clear(&r);
	cJSON_Delete(body);
	return e < 0 ? e : 0;
}

int cm_api_skill_delete(struct cm_request *req)
{
	const char *scope, *name;
	char if_match[CM_IF_MATCH_TEXT];
	if (target(req, CM_ACCESS_RW, &scope, &name) || cm_req_if_match(req, if_match))
		return 0;
	struct cm_skill_write w = {
		.op = "delete",
		.scope = scope,
		.name = name,
		.if_match = if_match[0] ? if_match : NULL,
		.node = req->who.node[0] ? req->who.node : NULL,
		.max_size = req->cfg->max_value,
	};
	struct cm_store_result r = {.version = -1};
	struct cm_problem p = {.err = CM_OK};
	int e = cm_store_skill_write(&w, &r);
	if (e == 0 && r.status == CM_ST_DELETED)
		e = cm_reply_empty(req, 204);
	else if (e == 0 && (e = store_refusal(req->cfg, &r, &p)) == 1)
		e = cm_reply_problem(req, &p, -1);
	cm_store_result_clear(&r);
	return e < 0 ? e : 0;
}

/* Does the Accept header ask for text/markdown at least as much as for JSON? */
static bool wants_markdown(const char *accept)
{
	double md = 0, js = -1;
	for (const char *s = accept; s && *s;) {
		s += strspn(s, " \t,");
		size_t n = strcspn(s, ",");
		size_t t = strcspn(s, ";,");
		while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
			t--;
		double q = 1;
		const char *qp = strcasestr(s, ";q=");
		if (!qp)
			qp = strcasestr(s, "; q=");
		if (qp && qp < s + n)
			q = strtod(strchr(qp, '=') + 1, NULL);
		if (t == 13 && !strncasecmp(s, "text/markdown", 13))
			md = q > md ? q : md;
		else if (t == 16 && !strncasecmp(s, "application/json", 16))
			js = q > js ? q : js;
		s += n;
	}
	return md > 0 && md >= js;
}

/* ?version=N: 0 when absent, -1 when malformed. */
static int query_version(struct cm_request *req)
{
	const char *v = cm_req_query(req, "version");
	if (!v)
		return 0;
	size_t n = strlen(v);
	if (n < 1 || n > 10 || strspn(v, "0123456789") != n || v[0] == '0')
		return -1;
	long long x = atoll(v);
	return x <= 2147483647LL ? (int)x : -1;
}

int cm_api_skill_get(struct cm_request *req)
{
	const char *scope, *name;
	if (target(req, CM_ACCESS_R, &scope, &name))
		return 0;
	int version = query_version(req);
	if (version < 0)
		return cm_reply_error(req, CM_EBADREQ, "version must be a whole number from 1.", NULL);
	bool raw = wants_markdown(cm_req_header(req, "Accept"));
	struct cm_store_result r = {.version = -1};
	char *content = NULL;
	int e = cm_store_skill_get(scope, name, version, !raw, &r, raw ? &content : NULL);
	if (e == -CM_ENOTFOUND) {
		e = cm_reply_error(req, CM_ENOTFOUND, version ? "No such version of this skill." : "No such skill.", NULL);
	} else if (e == 0) {
		const char *inm = cm_req_header(req, "If-None-Match");
		if (inm && cm_etag_listed(inm, r.version)) {
			e = cm_reply_empty(req, 304);
		} else if (raw) {
			e = cm_reply_owned(req, 200, "text/markdown; charset=utf-8", content, strlen(content));
			content = NULL;
		} else {
			e = cm_reply_json_text(req, 200, r.entry);
			r.entry = NULL;
		}
		if (e == 0) {
			cm_reply_etag(req, r.version);
			cm_reply_header(req, "Vary", "Accept");
		}
	}
	free(content);
	cm_store_result_clear(&r);
	return e;
}

int cm_api_skill_versions(struct cm_request *req)
{
	const char *scope, *name;
	unsigned limit;
	int before;
	if (target(req, CM_ACCESS_R, &scope, &name) || cm_req_version_page(req, &limit, &before))
		return 0;
	cJSON *items = cJSON_CreateArray();
	int next = 0;
	int e = items ? cm_store_skill_versions(scope, name, before, limit, items, &next) : -CM_EINTERNAL;
	if (e < 0) {
		cJSON_Delete(items);
		return e == -CM_ENOTFOUND ? cm_reply_error(req, CM_ENOTFOUND, "This skill has never been published.", NULL) : e;
	}
	return cm_reply_version_page(req, items, next);
}

/* 64 hexadecimal digits, into out in lower case. */
static bool parse_sha256(const char *s, char *out)
{
	if (strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
		return false;
	for (int i = 0; i <= 64; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return true;
}

int cm_api_skill_list(struct cm_request *req)
{
	struct cm_skill_filter f = {.limit = CM_LIST_DEFAULT};
	char *scopes = NULL, *tags = NULL, *exact = NULL, *prefixes = NULL;
	cJSON *cur = NULL, *items = NULL, *next = NULL;
	const char *scope_v[CM_MAX_FILTER_VALUES], *tag_v[CM_MAX_FILTER_VALUES];
	int nscopes, ntags;
	const char *msg = NULL;
	char sha[65];
	int e = cm_req_query_list(req, "scope", cm_valid_scope, "mesh, node:<id>, user:<id> or project:<id>", &scopes,
				  scope_v, &nscopes);
	if (e || (e = cm_req_query_list(req, "tag", cm_valid_tag, "a tag of 1-64 characters", &tags, tag_v, &ntags)))
		goto out;
	struct cm_problem p = {.err = CM_OK};
	for (int i = 0; scopes && i < nscopes; i++)
		if (cm_check_scope(&req->who, scope_v[i], CM_ACCESS_R, &p)) {
			e = cm_reply_problem(req, &p, -1);
			e = e < 0 ? e : 1;
			goto out;
		}
	if (!scopes && (e = cm_readable_scopes(&req->who, &f.in.all_readable, &exact, &prefixes)) < 0)
		goto out;
	f.in.scopes = scopes;
	f.in.readable = exact;
	f.in.readable_prefixes = prefixes;
	f.tags = tags;
	f.q = cm_req_query(req, "q");
	f.node = cm_req_query(req, "node");
	f.sha256 = cm_req_query(req, "sha256");
	const char *include = cm_req_query(req, "include");
	f.with_content = include && !strcmp(include, "content");
	if (include && !f.with_content)
		msg = "include can only be content.";
	else if (f.q && (!f.q[0] || strlen(f.q) > MAX_QUERY_TEXT))
		msg = "q is 1-256 bytes of search text.";
	else if (f.node && !cm_valid_id(f.node))
		msg = "node is not a node id.";
	else if (f.sha256 && !parse_sha256(f.sha256, sha))
		msg = "sha256 is 64 hexadecimal digits.";
	else if (f.sha256 && (f.q || f.node || tags || include))
		msg = "sha256 combines only with scope, limit and cursor.";
	else if (cm_req_limit(req, &f.limit) < 0)
		msg = CM_LIMIT_INVALID;
	if (msg) {
		e = cm_reply_error(req, CM_EBADREQ, msg, NULL);
		goto out;
	}
	if ((e = cm_req_cursor(req, &cur)))
		goto out;
	f.after = cur;
	if (f.sha256)
		f.sha256 = sha;
	items = cJSON_CreateArray();
	e = items ? cm_store_skill_list(&f, items, &next) : -CM_EINTERNAL;
	if (e == -CM_EBADREQ) {
		e = cm_reply_error(req, CM_EBADREQ, "cursor is not one this server gave out for this listing.", NULL);
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
