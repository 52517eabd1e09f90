/* The route table and its matcher. Matching works on the raw path, segment by segment, and
 * decodes each parameter on its own, so an encoded '/' (%2F) can never split or join segments. */
#include "clawmesh/router.h"
#include "clawmesh/api.h"
#include "clawmesh/json.h"

#include <stdio.h>
#include <string.h>

const struct cm_route cm_routes[] = {
	{"GET", "/healthz", cm_api_healthz, CM_ROUTE_PUBLIC, "healthz"},
	{"GET", "/readyz", cm_api_readyz, CM_ROUTE_PUBLIC, "readyz"},
	{"GET", "/openapi.yaml", cm_api_openapi, CM_ROUTE_PUBLIC, "openapi"},
	{"GET", "/metrics", cm_api_metrics, CM_ROUTE_ADMIN, "metrics"},
	{"GET", "/v1/whoami", cm_api_whoami, 0, "whoami"},
	{"GET", "/v1/tokens", cm_api_tokens_list, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT, "token.list"},
	{"POST", "/v1/tokens", cm_api_tokens_create, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT, "token.create"},
	{"GET", "/v1/tokens/{id}", cm_api_tokens_get, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT, "token.get"},
	{"DELETE", "/v1/tokens/{id}", cm_api_tokens_revoke, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT, "token.revoke"},
	{"GET", "/v1/memory", cm_api_memory_list, 0, "memory.list"},
	{"GET", "/v1/memory/{scope}/{key}", cm_api_memory_get, 0, "memory.get"},
	{"PUT", "/v1/memory/{scope}/{key}", cm_api_memory_put, CM_ROUTE_AUDIT, "memory.put"},
	{"PATCH", "/v1/memory/{scope}/{key}", cm_api_memory_patch, CM_ROUTE_AUDIT, "memory.patch"},
	{"DELETE", "/v1/memory/{scope}/{key}", cm_api_memory_delete, CM_ROUTE_AUDIT, "memory.delete"},
	{"GET", "/v1/memory/{scope}/{key}/history", cm_api_memory_history, 0, "memory.history"},
	{"POST", "/v1/batch", cm_api_batch, CM_ROUTE_AUDIT, "memory.batch"},
	{"GET", "/v1/skills", cm_api_skill_list, 0, "skill.list"},
	{"GET", "/v1/skills/{scope}/{name}", cm_api_skill_get, 0, "skill.get"},
	{"PUT", "/v1/skills/{scope}/{name}", cm_api_skill_put, CM_ROUTE_AUDIT, "skill.put"},
	{"DELETE", "/v1/skills/{scope}/{name}", cm_api_skill_delete, CM_ROUTE_AUDIT, "skill.delete"},
	{"GET", "/v1/skills/{scope}/{name}/versions", cm_api_skill_versions, 0, "skill.versions"},
	{"GET", "/v1/nodes", cm_api_node_list, 0, "node.list"},
	{"GET", "/v1/nodes/{id}", cm_api_node_get, 0, "node.get"},
	{"PUT", "/v1/nodes/{id}", cm_api_node_put, CM_ROUTE_AUDIT, "node.put"},
	{"DELETE", "/v1/nodes/{id}", cm_api_node_delete, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT, "node.delete"},
	{"POST", "/v1/nodes/{id}/heartbeat", cm_api_node_heartbeat, 0, "node.heartbeat"},
	{"POST", "/v1/messages", cm_api_messages, CM_ROUTE_AUDIT, "messages"},
	{"GET", "/v1/changes", cm_api_changes, 0, "changes"},
	{"GET", "/v1/stats", cm_api_stats, 0, "stats"},
	{"GET", "/v1/audit", cm_api_audit_list, CM_ROUTE_ADMIN, "audit.list"},
	{"GET", "/v1/export", cm_api_export, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT, "export"},
	{"POST", "/v1/import", cm_api_import, CM_ROUTE_ADMIN | CM_ROUTE_AUDIT | CM_ROUTE_STREAM_BODY, "import"},
};
const size_t cm_routes_count = sizeof cm_routes / sizeof cm_routes[0];

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cm_percent_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -CM_EBADREQ;
			int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -CM_EBADREQ;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || c == '/' || o + 1 >= cap)
			return -CM_EBADREQ;
		dst[o++] = c;
	}
	dst[o] = '\0';
	return cm_utf8_valid(dst, o) ? 0 : -CM_EBADREQ; /* parameters reach SQL as text */
}

/* Does path match pattern? Fills params when m is given. 1 = yes, 0 = no, <0 = bad segment. */
static int match_pattern(const char *pattern, const char *path, struct cm_route_match *m)
{
	size_t np = 0;
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return 0;
		p++;
		s++;
		size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (slen == 0 || np == CM_MAX_PARAMS)
				return 0;
			if (m) {
				int e = cm_percent_decode(s, slen, m->params[np], sizeof m->params[np]);
				if (e < 0)
					return e;
			}
			np++;
		} else if (plen != slen || strncmp(p, s, plen)) {
			return 0;
		}
		p += plen;
		s += slen;
	}
	if (*p || *s)
		return 0;
	if (m)
		m->nparams = np;
	return 1;
}

static void allow_add(char *allow, size_t len, const char *method)
{
	if (strstr(allow, method)) /* methods are whole words and none is a substring of another */
		return;
	size_t n = strlen(allow);
	snprintf(allow + n, len - n, "%s%s", n ? ", " : "", method);
}

int cm_router_match(const struct cm_route *routes, size_t n, const char *method, const char *path,
		    struct cm_route_match *m, char *allow, size_t allow_len)
{
	const char *want = strcmp(method, "HEAD") ? method : "GET";
	bool path_known = false;
	if (allow_len)
		allow[0] = '\0';
	memset(m, 0, sizeof *m);
	for (size_t i = 0; i < n; i++) {
		/* Parameters are decoded only for the route that would run. */
		bool wanted = !m->route && !strcmp(routes[i].method, want);
		int r = match_pattern(routes[i].pattern, path, wanted ? m : NULL);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		path_known = true;
		allow_add(allow, allow_len, routes[i].method);
		if (!strcmp(routes[i].method, "GET"))
			allow_add(allow, allow_len, "HEAD");
		if (wanted)
			m->route = &routes[i];
	}
	if (!path_known)
		return -CM_ENOTFOUND;
	allow_add(allow, allow_len, "OPTIONS");
	if (!m->route)
		return -CM_EMETHOD;
	return 0;
}
