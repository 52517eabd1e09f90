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

/* api_memory.c */
int cm_api_memory_put(struct cm_request *req);
int cm_api_memory_get(struct cm_request *req);
int cm_api_memory_patch(struct cm_request *req);
int cm_api_memory_delete(struct cm_request *req);
int cm_api_memory_history(struct cm_request *req);
int cm_api_memory_list(struct cm_request *req);
int cm_api_batch(struct cm_request *req);

/* api_audit.c */
int cm_api_audit_list(struct cm_request *req);
/* Writes one audit row for a finished request (http.c calls it for the requests it audits). */
void cm_api_audit_record(struct cm_request *req);

#endif
