/* Bearer tokens and grants: the secret format, its hash, and the one grant check every
 * endpoint calls. Everything here but cm_auth_identify is pure. */
#ifndef CLAWMESH_AUTH_H
#define CLAWMESH_AUTH_H
#include "clawmesh/validate.h"

#include <stdbool.h>
#include <stddef.h>

#define CM_TOKEN_SECRET_LEN 46   /* "cm_" + 43 base64url characters (32 random bytes) */
#define CM_TOKEN_ID_LEN 28       /* "tok_" + 24 hex characters (12 random bytes) */
#define CM_TOKEN_HASH_HEX 64     /* SHA-256, as lowercase hex */
#define CM_MAX_GRANTS 64
#define CM_PATTERN_MAX (CM_SCOPE_MAX + 1)
#define CM_LABEL_MAX 128

enum cm_access { CM_ACCESS_NONE = 0, CM_ACCESS_R = 1, CM_ACCESS_RW = 2 };

struct cm_grant {
	char pattern[CM_PATTERN_MAX + 1]; /* "*", a scope, or "kind:idprefix*" */
	enum cm_access access;
};

/* Who is calling: the token's public face, with its stored grants. */
struct cm_identity {
	char token_id[CM_TOKEN_ID_LEN + 1];
	char label[CM_LABEL_MAX + 1];
	char node[CM_ID_MAX + 1]; /* "" when the token speaks for no node */
	bool admin;
	long long expires_mono_ms; /* when it expires, on CLOCK_MONOTONIC in ms (by the database's clock
				    * at lookup); 0 = never. A parked request wakes then. */
	size_t ngrants;
	struct cm_grant grants[CM_MAX_GRANTS];
};

/* *dst = *src, but only the grants in use: an identity is 5 KiB for its 64 grant slots, and a
 * whole-struct copy would touch every page of it in each (parked) request that holds one. */
void cm_identity_copy(struct cm_identity *dst, const struct cm_identity *src);

/* "*", a valid scope, or a valid scope prefix ending in '*' ("project:*", "user:al*"). */
bool cm_grant_pattern_valid(const char *pattern);
bool cm_grant_pattern_matches(const char *pattern, const char *scope);
/* "r" / "rw" -> access; CM_ACCESS_NONE for anything else. */
enum cm_access cm_access_parse(const char *s);
const char *cm_access_name(enum cm_access a);

/* The strongest access the identity has on scope: admin -> rw everywhere, a node token -> rw on
 * node:<its node>, otherwise the best matching grant. */
enum cm_access cm_access_for(const struct cm_identity *id, const char *scope);
/* The grant check: may this identity do `need` on `scope`? */
bool cm_grant_allows(const struct cm_identity *id, const char *scope, enum cm_access need);
/* Grants as whoami shows them: stored ones plus the implicit ones (admin "*", own node). */
size_t cm_effective_grants(const struct cm_identity *id, struct cm_grant *out, size_t max);

/* "cm_" + 43 base64url characters? */
bool cm_token_secret_valid(const char *s);
/* A fresh secret from OpenSSL's RNG into out (CM_TOKEN_SECRET_LEN + 1 bytes). */
int cm_token_secret_new(char *out);
/* A fresh public id "tok_…" into out (CM_TOKEN_ID_LEN + 1 bytes). */
int cm_token_id_new(char *out);
/* SHA-256 of the secret as lowercase hex (CM_TOKEN_HASH_HEX + 1 bytes): the stored form. */
void cm_token_hash(const char *secret, char *out);
/* The secret in an Authorization header value ("Bearer <secret>"), or NULL. Points into header. */
const char *cm_auth_bearer(const char *header, size_t *len);

/* Authorization header -> identity: 0, -CM_EUNAUTH (missing, malformed, unknown, expired,
 * revoked) or -CM_EUNAVAIL. Looks the token up on every call, so revocation is immediate. */
int cm_auth_identify(const char *authorization, struct cm_identity *out);

#endif
