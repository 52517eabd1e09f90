/* libFuzzer harness for request bodies: the validation of POST /v1/tokens, PUT /v1/nodes/{id}
 * and PUT /v1/skills/{scope}/{name} (JSON and text/markdown), the very functions the handlers
 * call, after the same strict JSON gate. Invariants: only the error codes API.md gives these
 * endpoints, a refusal names its field, and what is accepted is checked again here, field by
 * field, against API.md's rules (so a validator that lets something through is caught even
 * when nothing crashes). Input: one byte choosing the endpoint, then the body. */
#include "clawmesh/api.h"
#include "clawmesh/api_util.h"
#include "clawmesh/config.h"
#include "clawmesh/err.h"
#include "clawmesh/frontmatter.h"
#include "clawmesh/json.h"
#include "clawmesh/secrets.h"
#include "clawmesh/store_nodes.h"
#include "clawmesh/tokens.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct cm_config cfg = {.max_value = 256 * 1024, .secret_kinds = CM_SECRET_ALL};

static bool string_or_null(const cJSON *v, size_t max)
{
	return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && strlen(v->valuestring) <= max);
}

static bool no_controls(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return false;
	return true;
}

static void tokens(const cJSON *body)
{
	static const char *const known[] = {"label", "node", "grants", "admin", "expires_in", NULL};
	struct cm_token_request *tr = malloc(sizeof *tr);
	struct cm_problem p = {.err = CM_OK};
	int rc = cm_token_request_parse(body, tr, &p);
	check(rc == 0 || rc == 1);
	check(rc == 0 || ((p.err == CM_EBADREQ || p.err == CM_EVALIDATION) && p.message[0]));
	if (rc == 1 && p.err == CM_EVALIDATION) {
		/* The field is a known one or an unknown member's name that is safe to show: short,
		 * printable ASCII, nothing credential-shaped (cm_check_unknown_field's rule); the
		 * latter only when the body has a member it does not know. */
		check(fuzz_shown_name(p.field, known));
		if (!fuzz_in_list(p.field, known) && strcmp(p.field, "(unknown field)"))
			check(!fuzz_only_fields(body, known));
	}
	if (rc == 1 && p.err == CM_EBADREQ)
		check(!cJSON_IsObject(body) && !p.field[0]);
	cm_problem_clear(&p);
	if (rc == 0) {
		check(cJSON_IsObject(body) && fuzz_only_fields(body, known));
		check(string_or_null(cJSON_GetObjectItemCaseSensitive(body, "label"), CM_LABEL_MAX));
		const cJSON *node = cJSON_GetObjectItemCaseSensitive(body, "node");
		check(!node || cJSON_IsNull(node) || (cJSON_IsString(node) && cm_valid_id(node->valuestring) &&
						       !strcmp(tr->node, node->valuestring)));
		const cJSON *admin = cJSON_GetObjectItemCaseSensitive(body, "admin");
		check(!admin || cJSON_IsNull(admin) || cJSON_IsBool(admin));
		check(tr->ngrants <= CM_MAX_GRANTS);
		for (size_t i = 0; i < tr->ngrants; i++)
			check(cm_grant_pattern_valid(tr->grants[i].pattern) &&
			      (tr->grants[i].access == CM_ACCESS_R || tr->grants[i].access == CM_ACCESS_RW));
		check(tr->expires_in >= 0 && tr->expires_in <= 10LL * 366 * 86400);
	}
	free(tr);
}

static void nodes(const cJSON *body, const char *text)
{
	static const char *const known[] = {"name", "description", "capabilities", "endpoint", "meta", NULL};
	struct cm_node_write w = {.op = "put", .id = "sec", .node = "sec"};
	struct cm_problem p = {.err = CM_OK};
	char *caps = NULL, *meta = NULL;
	int rc = cm_node_put_parse(&cfg, body, text, &w, &caps, &meta, &p);
	check(rc == 0 || rc == 1);
	if (rc == 1)
		check((p.err == CM_EVALIDATION || p.err == CM_ESECRET) && p.field[0] && p.message[0]);
	if (rc == 0) {
		check(cJSON_IsObject(body) && fuzz_only_fields(body, known));
		check(w.name && strlen(w.name) >= 1 && strlen(w.name) <= 128 && no_controls(w.name));
		check(string_or_null(cJSON_GetObjectItemCaseSensitive(body, "description"), 1024));
		check(!w.endpoint || ((!strncasecmp(w.endpoint, "http://", 7) || !strncasecmp(w.endpoint, "https://", 8)) &&
				      strlen(w.endpoint) <= 2048 && !strpbrk(w.endpoint, " \t\r\n")));
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "capabilities");
		check(!c || fuzz_tag_array(c, 64));
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "meta");
		check(!m || cJSON_IsNull(m) || (cJSON_IsObject(m) && cm_json_depth(m) <= 16 && meta && strlen(meta) <= 16384));
		if (m && !cJSON_IsNull(m)) {
			/* meta as stored is meta as sent: the same JSON (and, for a plainly spelled key, the
			 * client's own text, so no number is rounded on the way). */
			cJSON *again = NULL;
			check(cm_json_parse(meta, strlen(meta), &again) == 0);
			char *r1 = cm_json_render(again, NULL), *r2 = cm_json_render(m, NULL); /* 1e400: inf != inf */
			check(r1 && r2 && !strcmp(r1, r2));
			free(r1);
			free(r2);
			cJSON_Delete(again);
			check(w.meta == meta);
			size_t off, n;
			if (cm_json_member_span(text, strlen(text), "meta", &off, &n))
				check(strlen(meta) == n && !memcmp(meta, text + off, n));
		}
		check(caps && w.capabilities == caps);
		/* Nothing registered carries a credential, anywhere in the body. */
		check(cm_secret_scan_json(body, CM_SECRET_ALL) == CM_SECRET_NONE);
	}
	cm_problem_clear(&p);
	free(caps);
	free(meta);
}

static void skill(const cJSON *body, const char *text, size_t len, bool markdown)
{
	struct cm_skill_input in = {.scope = "mesh", .name = "triage"};
	struct cm_problem p = {.err = CM_OK};
	int rc = 0;
	if (markdown) {
		in.content = text;
		in.len = len;
	} else {
		rc = cm_skill_input_from_json(body, text, &in, &p);
		check(rc == 0 || rc == 1);
		if (rc == 1)
			check(p.err == CM_EVALIDATION && p.field[0]);
	}
	if (rc == 0) {
		rc = cm_skill_check(&cfg, &in, &p);
		check(rc == 0 || rc == 1);
		if (rc == 1)
			check((p.err == CM_EVALIDATION || p.err == CM_ESECRET || p.err == CM_ETOOLARGE) && p.field[0] &&
			      p.message[0] && cm_utf8_valid(p.message, strlen(p.message)));
		if (rc == 0) {
			check(in.len >= 1 && in.len <= cfg.max_value && !memchr(in.content, '\0', in.len) &&
			      cm_utf8_valid(in.content, in.len));
			check(cm_secret_scan(in.content, in.len, CM_SECRET_ALL) == CM_SECRET_NONE);
			cJSON *fm = NULL;
			struct cm_fm_error fe;
			check(cm_frontmatter_parse(in.content, in.len, &fm, NULL, &fe) == 0);
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(fm, "name");
			check(!name || (cJSON_IsString(name) || cJSON_IsRaw(name) || cJSON_IsBool(name) || cJSON_IsNull(name)));
			if (name && cJSON_IsString(name))
				check(!strcmp(name->valuestring, "triage"));
			cJSON_Delete(fm);
			check(!in.metadata || (cJSON_IsObject(in.metadata) && cm_json_depth(in.metadata) <= 32));
			check(!in.tags || fuzz_tag_array(in.tags, 32));
		}
	}
	cm_problem_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_body b;
	if (!fuzz_body_read(data, size, &b))
		return 0;
	int which = b.selector % 4;
	if (which == 3)
		skill(NULL, b.text, b.len, true); /* text/markdown: no JSON gate */
	else if (b.json && which == 0)
		tokens(b.json);
	else if (b.json && which == 1)
		nodes(b.json, b.text);
	else if (b.json)
		skill(b.json, b.text, b.len, false);
	fuzz_body_free(&b);
	return 0;
}
