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
	{"GET", "/ui", cm_api_ui_redirect, CM_ROUTE_PUBLIC, "ui"},
	{"GET", "/ui/", cm_api_ui, CM_ROUTE_PUBLIC, "ui"},
	{"GET", "/ui/{file}", cm_api_ui, CM_ROUTE_PUBLIC, "ui"},
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
	if (cap == 0) /* not even room for the NUL */
		return -CM_EBADREQ;
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

/* A path split once into its segments ("/a/b/" -> "a", "b", ""), so that each route compares
 * whole segments instead of scanning the path again. No pattern has more than SEGS_MAX. */
#define SEGS_MAX 8
struct segs {
	size_t n;
	const char *s[SEGS_MAX];
	size_t len[SEGS_MAX];
};

/* false when no pattern can match: not absolute, or more segments than any pattern has. */
static bool split_path(const char *path, struct segs *out)
{
	out->n = 0;
	if (*path != '/')
		return false;
	for (const char *p = path; *p == '/';) {
		if (out->n == SEGS_MAX)
			return false;
		const char *e = ++p;
		while (*e && *e != '/')
			e++;
		out->s[out->n] = p;
		out->len[out->n++] = (size_t)(e - p);
		p = e;
	}
	return true;
}

/* Does the path match pattern, segment for segment? Decodes the parameters into m when given
 * (only once the whole path has matched). 1 = yes, 0 = no, <0 = a bad parameter. */
static int match_pattern(const char *pattern, const struct segs *path, struct cm_route_match *m)
{
	size_t i = 0, np = 0;
	size_t at[CM_MAX_PARAMS];
	for (const char *p = pattern; *p == '/'; i++) {
		const char *e = ++p;
		while (*e && *e != '/')
			e++;
		size_t plen = (size_t)(e - p);
		if (i == path->n)
			return 0;
		if (plen > 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (path->len[i] == 0 || np == CM_MAX_PARAMS)
				return 0;
			at[np++] = i;
		} else if (plen != path->len[i] || memcmp(p, path->s[i], plen)) {
			return 0;
		}
		p = e;
	}
	if (i != path->n)
		return 0;
	for (size_t k = 0; m && k < np; k++) {
		int e = cm_percent_decode(path->s[at[k]], path->len[at[k]], m->params[k], sizeof m->params[k]);
		if (e < 0)
			return e;
	}
	if (m)
		m->nparams = np;
	return 1;
}

/* The methods a path takes, in table order, GET followed by HEAD. */
#define METHODS_MAX 8
struct methods {
	size_t n;
	const char *name[METHODS_MAX];
};

static void methods_add(struct methods *ms, const char *method)
{
	for (size_t i = 0; i < ms->n; i++)
		if (!strcmp(ms->name[i], method))
			return;
	if (ms->n < METHODS_MAX)
		ms->name[ms->n++] = method;
}

static void allow_write(const struct methods *ms, char *allow, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < ms->n && len; i++) {
		int w = snprintf(allow + o, len - o, "%s%s", o ? ", " : "", ms->name[i]);
		if (w < 0 || (size_t)w >= len - o) {
			allow[o] = '\0';
			return;
		}
		o += (size_t)w;
	}
}

int cm_router_match(const struct cm_route *routes, size_t n, const char *method, const char *path,
		    struct cm_route_match *m, char *allow, size_t allow_len)
{
	const char *want = strcmp(method, "HEAD") ? method : "GET";
	struct methods ms = {.n = 0};
	struct segs segs;
	if (allow_len)
		allow[0] = '\0';
	m->route = NULL;
	m->nparams = 0;
	if (!split_path(path, &segs))
		return -CM_ENOTFOUND;
	for (size_t i = 0; i < n; i++) {
		/* Parameters are decoded only for the route that would run. */
		bool wanted = !m->route && !strcmp(routes[i].method, want);
		int r = match_pattern(routes[i].pattern, &segs, wanted ? m : NULL);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		methods_add(&ms, routes[i].method);
		if (!strcmp(routes[i].method, "GET"))
			methods_add(&ms, "HEAD");
		if (wanted)
			m->route = &routes[i];
	}
	if (!ms.n)
		return -CM_ENOTFOUND;
	if (m->route)
		return 0;
	methods_add(&ms, "OPTIONS");
	allow_write(&ms, allow, allow_len);
	return -CM_EMETHOD;
}
