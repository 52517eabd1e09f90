/* The route table: method + path pattern -> handler. Patterns are literal segments and {name}
 * segments; a {name} matches one non-empty segment, percent-decoded. */
#ifndef CLAWMESH_ROUTER_H
#define CLAWMESH_ROUTER_H
#include "clawmesh/http.h"

typedef int (*cm_handler)(struct cm_request *req);

enum cm_route_flags {
	CM_ROUTE_PUBLIC = 1, /* no token needed */
	CM_ROUTE_ADMIN = 2,  /* an admin token needed */
	CM_ROUTE_AUDIT = 4,  /* every call is written to the audit log (401/403 always are) */
	/* The body is not buffered (nor bounded by --max-body): the handler runs once the headers
	 * are in and sets req->body_sink, which takes the body as it arrives (see http.h). */
	CM_ROUTE_STREAM_BODY = 8,
};

struct cm_route {
	const char *method;
	const char *pattern;
	cm_handler handler;
	unsigned flags;
	const char *action; /* the audit log's name for it: "memory.put" */
};

struct cm_route_match {
	const struct cm_route *route;
	size_t nparams;
	char params[CM_MAX_PARAMS][CM_PARAM_MAX + 1];
};

extern const struct cm_route cm_routes[];
extern const size_t cm_routes_count;

/* Finds the route for method (HEAD uses GET's) and raw path. 0 with *m filled (params up to
 * m->nparams; allow left empty);
 * -CM_ENOTFOUND; -CM_EMETHOD with allow = "GET, HEAD, OPTIONS"-style list; -CM_EBADREQ for a
 * bad percent-encoding or an over-long segment. OPTIONS on a known path gives -CM_EMETHOD with
 * allow filled, for the caller to answer as a preflight. */
int cm_router_match(const struct cm_route *routes, size_t n, const char *method, const char *path,
		    struct cm_route_match *m, char *allow, size_t allow_len);

/* Percent-decodes src into dst (cap bytes incl. NUL); -CM_EBADREQ for bad escapes, NUL, '/' or
 * a result that is not UTF-8. */
int cm_percent_decode(const char *src, size_t len, char *dst, size_t cap);

#endif
