/* Tokens and grants. A secret is "cm_" + base64url(32 random bytes); only its SHA-256 is stored,
 * looked up by that hash and confirmed with a constant-time compare. Grants are patterns over
 * scopes; cm_grant_allows() is the single check every endpoint calls. */
#include "clawmesh/auth.h"
#include "clawmesh/cache.h"
#include "clawmesh/err.h"
#include "clawmesh/hex.h"
#include "clawmesh/log.h"
#include "clawmesh/store_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

void cm_identity_copy(struct cm_identity *dst, const struct cm_identity *src)
{
	size_t n = src->ngrants < CM_MAX_GRANTS ? src->ngrants : CM_MAX_GRANTS;
	memcpy(dst, src, offsetof(struct cm_identity, grants) + n * sizeof src->grants[0]);
}

bool cm_grant_pattern_valid(const char *p)
{
	if (!p)
		return false;
	size_t n = strlen(p);
	if (n == 0 || n > CM_PATTERN_MAX)
		return false;
	if (!strcmp(p, "*"))
		return true;
	if (p[n - 1] != '*')
		return cm_valid_scope(p);
	/* A prefix wildcard: "kind:" then a (possibly empty) id prefix, then '*'. */
	char scope[CM_PATTERN_MAX + 2];
	memcpy(scope, p, n - 1);
	scope[n - 1] = '\0';
	const char *colon = strchr(scope, ':');
	if (!colon)
		return false;
	if (colon[1] == '\0') { /* "project:*": the kind must be real */
		scope[colon - scope + 1] = 'x';
		scope[colon - scope + 2] = '\0';
	}
	return strcmp(scope, "mesh") && cm_valid_scope(scope);
}

bool cm_grant_pattern_matches(const char *pattern, const char *scope)
{
	size_t n = strlen(pattern);
	if (n && pattern[n - 1] == '*')
		return strncmp(scope, pattern, n - 1) == 0;
	return strcmp(scope, pattern) == 0;
}

enum cm_access cm_access_parse(const char *s)
{
	if (s && !strcmp(s, "r"))
		return CM_ACCESS_R;
	if (s && !strcmp(s, "rw"))
		return CM_ACCESS_RW;
	return CM_ACCESS_NONE;
}

const char *cm_access_name(enum cm_access a)
{
	return a == CM_ACCESS_RW ? "rw" : a == CM_ACCESS_R ? "r" : "none";
}

static bool is_own_node_scope(const struct cm_identity *id, const char *scope)
{
	return id->node[0] && !strncmp(scope, "node:", 5) && !strcmp(scope + 5, id->node);
}

enum cm_access cm_access_for(const struct cm_identity *id, const char *scope)
{
	if (id->admin || is_own_node_scope(id, scope))
		return CM_ACCESS_RW;
	enum cm_access best = CM_ACCESS_NONE;
	for (size_t i = 0; i < id->ngrants && i < CM_MAX_GRANTS; i++)
		if (id->grants[i].access > best && cm_grant_pattern_matches(id->grants[i].pattern, scope))
			best = id->grants[i].access;
	return best;
}

bool cm_grant_allows(const struct cm_identity *id, const char *scope, enum cm_access need)
{
	return need != CM_ACCESS_NONE && cm_access_for(id, scope) >= need;
}

static size_t add_grant(struct cm_grant *out, size_t n, size_t max, const char *pattern, enum cm_access a)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(out[i].pattern, pattern)) {
			if (a > out[i].access)
				out[i].access = a;
			return n;
		}
	if (n == max)
		return n;
	snprintf(out[n].pattern, sizeof out[n].pattern, "%s", pattern);
	out[n].access = a;
	return n + 1;
}

size_t cm_effective_grants(const struct cm_identity *id, struct cm_grant *out, size_t max)
{
	size_t n = 0;
	if (id->admin)
		n = add_grant(out, n, max, "*", CM_ACCESS_RW);
	if (id->node[0]) {
		char own[CM_PATTERN_MAX + 1];
		snprintf(own, sizeof own, "node:%s", id->node);
		n = add_grant(out, n, max, own, CM_ACCESS_RW);
	}
	for (size_t i = 0; i < id->ngrants && i < CM_MAX_GRANTS; i++)
		n = add_grant(out, n, max, id->grants[i].pattern, id->grants[i].access);
	return n;
}

static bool base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool cm_token_secret_valid(const char *s)
{
	if (!s || strncmp(s, "cm_", 3))
		return false;
	size_t i = 3;
	for (; s[i]; i++)
		if (i >= CM_TOKEN_SECRET_LEN || !base64url_char(s[i]))
			return false;
	return i == CM_TOKEN_SECRET_LEN;
}

int cm_token_secret_new(char *out)
{
	unsigned char raw[32];
	unsigned char b64[48];
	if (RAND_bytes(raw, sizeof raw) != 1)
		return -CM_EINTERNAL;
	int n = EVP_EncodeBlock(b64, raw, sizeof raw); /* 44 characters, the last one '=' */
	OPENSSL_cleanse(raw, sizeof raw);
	if (n != 44)
		return -CM_EINTERNAL;
	memcpy(out, "cm_", 3);
	for (int i = 0; i < 43; i++) { /* standard alphabet -> URL-safe alphabet, padding dropped */
		char c = (char)b64[i];
		out[3 + i] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	out[CM_TOKEN_SECRET_LEN] = '\0';
	OPENSSL_cleanse(b64, sizeof b64);
	return 0;
}

int cm_token_id_new(char *out)
{
	memcpy(out, "tok_", 4);
	return cm_random_hex(out + 4, (CM_TOKEN_ID_LEN - 4) / 2);
}

/* SHA-256 fetched once: EVP_sha256() in EVP_Digest looks the implementation up on every call. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void cm_token_hash(const char *secret, char *out)
{
	unsigned char d[32];
	unsigned int n = sizeof d;
	pthread_once(&sha256_once, fetch_sha256);
	if (EVP_Digest(secret, strlen(secret), d, &n, sha256 ? sha256 : EVP_sha256(), NULL) != 1)
		memset(d, 0, sizeof d); /* never matches: stored hashes come from real secrets */
	cm_hex_encode(d, sizeof d, out);
	OPENSSL_cleanse(d, sizeof d);
}

const char *cm_auth_bearer(const char *header, size_t *len)
{
	if (!header || strncasecmp(header, "Bearer", 6) || (header[6] != ' ' && header[6] != '\t'))
		return NULL;
	const char *s = header + 7;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0)
		return NULL;
	*len = n;
	return s;
}

/* The token by its hash from the database, cached when it is good. */
static int lookup(const char *hash, struct cm_identity *out, bool *touch_due)
{
	struct cm_cache_ticket ticket = cm_cache_ticket(); /* before the read: see cache.h */
	struct cm_token_auth found;
	int r = cm_store_token_by_hash(hash, &found);
	if (r == -CM_ENOTFOUND)
		return -CM_EUNAUTH;
	if (r < 0)
		return r;
	/* The lookup was by hash; confirm in constant time so no code path compares secrets early-out. */
	if (CRYPTO_memcmp(found.hash, hash, CM_TOKEN_HASH_HEX) != 0 || !found.active)
		return -CM_EUNAUTH;
	cm_identity_copy(out, &found.token.who);
	*touch_due = found.touch_due;
	cm_cache_token_put(ticket, hash, out);
	return 0;
}

int cm_auth_identify(const char *authorization, struct cm_identity *out)
{
	size_t len;
	const char *b = cm_auth_bearer(authorization, &len);
	if (!b || len != CM_TOKEN_SECRET_LEN)
		return -CM_EUNAUTH;
	char secret[CM_TOKEN_SECRET_LEN + 1];
	memcpy(secret, b, len);
	secret[len] = '\0';
	if (!cm_token_secret_valid(secret)) {
		OPENSSL_cleanse(secret, sizeof secret);
		return -CM_EUNAUTH;
	}
	char hash[CM_TOKEN_HASH_HEX + 1];
	cm_token_hash(secret, hash);
	OPENSSL_cleanse(secret, sizeof secret);

	/* A token this replica has seen, unless any token changed since (cache.h); else the database. */
	bool touch_due = false;
	if (!cm_cache_token_get(hash, out, &touch_due)) {
		int r = lookup(hash, out, &touch_due);
		if (r < 0)
			return r;
	}
	if (touch_due)
		(void)cm_store_token_touch(out->token_id); /* best effort: last_used_at is advisory */
	return 0;
}
