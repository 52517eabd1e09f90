/* SQL for tokens: nothing here knows HTTP. Hashes are cm_token_hash()'s hex form. */
#ifndef CLAWMESH_STORE_TOKENS_H
#define CLAWMESH_STORE_TOKENS_H
#include "clawmesh/tokens.h"

struct cm_token_auth {
	struct cm_token token;
	char hash[CM_TOKEN_HASH_HEX + 1];
	bool active;    /* not revoked, not expired, by the database's clock */
	bool touch_due; /* last_used_at is over a minute old */
};

int cm_store_token_insert(const struct cm_token_request *req, const char *id,
			  const char *hash, struct cm_token *out);
int cm_store_token_by_hash(const char *hash, struct cm_token_auth *out);
int cm_store_token_get(const char *id, struct cm_token *out);
/* Tokens with id > after (NULL = from the start), oldest id first, at most limit; *more says
 * whether another page follows. each() returning non-zero stops and is returned. */
int cm_store_token_list(const char *after, unsigned limit,
			int (*each)(void *ctx, const struct cm_token *t), void *ctx, bool *more);
/* 0, or -CM_ENOTFOUND. Revoking twice keeps the first time. */
int cm_store_token_revoke(const char *id);
int cm_store_token_touch(const char *id);
/* Ensures an admin token with this hash exists; *revoked tells if it exists but was revoked. */
int cm_store_token_ensure_admin(const char *hash, bool *created, bool *revoked);

#endif
