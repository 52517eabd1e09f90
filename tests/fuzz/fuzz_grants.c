/* libFuzzer harness for grants (auth.h, api_util.h): pattern validity against a regular
 * expression, pattern matching and the access an identity has against a tiny reference, and the
 * listing filter (cm_readable_scopes) against the grant check, so that a listing can never show
 * a scope the single-entry check would refuse, nor hide one it allows.
 * Input, one item a line: the token's node ("" = none; a leading '!' = admin), then grants as
 * "r PATTERN" / "w PATTERN" (invalid ones are skipped, as the token endpoint refuses them), then
 * the scope asked about last. */
#include "clawmesh/api_util.h"
#include "clawmesh/auth.h"
#include "fuzz_common.h"

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static regex_t pattern_re;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* "*", a scope, or "kind:" + an id prefix (maybe empty) + "*". */
	if (regcomp(&pattern_re,
		    "^(\\*|mesh|(node|user|project):[a-z0-9][-a-z0-9._]{0,63}|(node|user|project):([a-z0-9][-a-z0-9._]{0,63})?\\*)$",
		    REG_EXTENDED | REG_NOSUB))
		abort();
	return 0;
}

/* A pattern denotes: "*" every scope; "x*" every scope starting with x; else that one scope. */
static bool ref_matches(const char *pattern, const char *scope)
{
	size_t n = strlen(pattern);
	if (n > 0 && pattern[n - 1] == '*') {
		for (size_t i = 0; i + 1 < n; i++)
			if (scope[i] != pattern[i])
				return false;
		return true;
	}
	return strcmp(pattern, scope) == 0;
}

static bool in_json_list(const char *list, const char *scope, bool prefix)
{
	cJSON *a = cJSON_Parse(list);
	bool found = false;
	const cJSON *v;
	cJSON_ArrayForEach(v, a)
	{
		check(cJSON_IsString(v));
		if (prefix ? !strncmp(scope, v->valuestring, strlen(v->valuestring)) : !strcmp(scope, v->valuestring))
			found = true;
	}
	cJSON_Delete(a);
	return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	char *text = strndup((const char *)data, size);
	if (!text)
		return 0;
	char *lines[CM_MAX_GRANTS + 2];
	size_t n = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < sizeof lines / sizeof lines[0];
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	if (n < 2) {
		free(text);
		return 0;
	}
	struct cm_identity *id = calloc(1, sizeof *id);
	const char *node = lines[0];
	if (*node == '!')
		id->admin = true, node++;
	if (cm_valid_id(node))
		snprintf(id->node, sizeof id->node, "%s", node);
	const char *scope = lines[n - 1];
	enum cm_access ref = CM_ACCESS_NONE;
	for (size_t i = 1; i + 1 < n; i++) {
		const char *g = lines[i];
		bool pattern_ok = regexec(&pattern_re, g + (g[0] && g[1] == ' ' ? 2 : 0), 0, NULL, 0) == 0;
		if (g[0] && g[1] == ' ')
			check(cm_grant_pattern_valid(g + 2) == pattern_ok);
		check(cm_grant_pattern_matches(g, scope) == ref_matches(g, scope));
		if ((g[0] != 'r' && g[0] != 'w') || g[1] != ' ' || !pattern_ok)
			continue;
		struct cm_grant *gr = &id->grants[id->ngrants++];
		snprintf(gr->pattern, sizeof gr->pattern, "%s", g + 2);
		gr->access = g[0] == 'w' ? CM_ACCESS_RW : CM_ACCESS_R;
		if (ref_matches(gr->pattern, scope) && gr->access > ref)
			ref = gr->access;
	}
	if (id->admin || (id->node[0] && !strncmp(scope, "node:", 5) && !strcmp(scope + 5, id->node)))
		ref = CM_ACCESS_RW;
	enum cm_access got = cm_access_for(id, scope);
	check(got == ref);
	check(cm_grant_allows(id, scope, CM_ACCESS_R) == (ref >= CM_ACCESS_R));
	check(cm_grant_allows(id, scope, CM_ACCESS_RW) == (ref == CM_ACCESS_RW));
	check(!cm_grant_allows(id, scope, CM_ACCESS_NONE));

	/* whoami's effective grants, given to a plain token, grant exactly the same. */
	struct cm_identity *plain = calloc(1, sizeof *plain);
	plain->ngrants = cm_effective_grants(id, plain->grants, CM_MAX_GRANTS);
	if (id->ngrants + 2 <= CM_MAX_GRANTS)
		check(cm_access_for(plain, scope) == ref);

	/* A listing filtered by the readable scopes shows scope exactly when the check allows reading it. */
	if (cm_valid_scope(scope)) {
		bool all;
		char *exact, *prefixes;
		check(cm_readable_scopes(id, &all, &exact, &prefixes) == 0);
		bool listed = all || in_json_list(exact, scope, false) || in_json_list(prefixes, scope, true);
		check(listed == (ref >= CM_ACCESS_R));
		free(exact);
		free(prefixes);
	}
	free(plain);
	free(id);
	free(text);
	return 0;
}
