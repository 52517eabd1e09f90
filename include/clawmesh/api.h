/* Handlers: one api_*.c per resource. Each parses, validates, authorises, calls its store and
 * renders; the route table in router.c maps paths to them. */
#ifndef CLAWMESH_API_H
#define CLAWMESH_API_H
#include "clawmesh/http.h"

/* api_ops.c */
int cm_api_healthz(struct cm_request *req);
int cm_api_readyz(struct cm_request *req);
int cm_api_openapi(struct cm_request *req);

/* api_tokens.c */
int cm_api_whoami(struct cm_request *req);
int cm_api_tokens_create(struct cm_request *req);
int cm_api_tokens_list(struct cm_request *req);
int cm_api_tokens_get(struct cm_request *req);
int cm_api_tokens_revoke(struct cm_request *req);

#endif
