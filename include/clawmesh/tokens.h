/* Token management shared by the HTTP API and the `clawmeshd token` commands: validating a
 * creation request, minting the secret, rendering a token (never its secret or hash). */
#ifndef CLAWMESH_TOKENS_H
#define CLAWMESH_TOKENS_H
#include "clawmesh/auth.h"

#include <cjson/cJSON.h>

#define CM_TS_MAX 32

struct cm_token {
	struct cm_identity who;
	char created_at[CM_TS_MAX];
	char expires_at[CM_TS_MAX];   /* "" = never */
	char last_used_at[CM_TS_MAX]; /* "" = never used */
	char revoked_at[CM_TS_MAX];   /* "" = live */
};

struct cm_token_request {
	char label[CM_LABEL_MAX + 1];
	char node[CM_ID_MAX + 1]; /* "" = none */
	bool admin;
	bool grants_given;
	size_t ngrants;
	struct cm_grant grants[CM_MAX_GRANTS];
	long long expires_in; /* seconds; 0 = never */
};

/* Fills req from a POST /v1/tokens body: -CM_EBADREQ when it is not an object, -CM_EVALIDATION
 * with *field naming the bad field; *msg says why in either case. */
int cm_token_request_from_json(const cJSON *body, struct cm_token_request *req, const char **field,
			       const char **msg);
/* Applies API.md's defaults (a node token with no grants gets mesh rw), mints a secret and an
 * id, stores the hash. secret gets CM_TOKEN_SECRET_LEN + 1 bytes. */
int cm_token_create(struct cm_token_request *req, struct cm_token *out, char *secret);
/* "mesh:rw", "project:*:r" -> grant (the CLI's --grant syntax). */
int cm_grant_parse_cli(const char *s, struct cm_grant *out);

/* [{"scope","access"}] <-> grants. Caller frees the cJSON. */
int cm_grants_from_json(const cJSON *arr, struct cm_grant *out, size_t *n, const char **msg);
cJSON *cm_grants_to_json(const struct cm_grant *g, size_t n);
cJSON *cm_token_to_json(const struct cm_token *t);
/* A cm_store_token_list() callback: appends the token's JSON to the cJSON array ctx. */
int cm_token_append_json(void *array, const struct cm_token *t);

#endif
