/* The secret guard: recognises credentials (private keys, cloud and API keys, tokens) in memory
 * values so a write can be refused naming the kind of secret, never echoing it. Detection only. */
#ifndef CLAWMESH_SECRETS_H
#define CLAWMESH_SECRETS_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

enum cm_secret_kind {
	CM_SECRET_NONE = 0,
	CM_SECRET_PRIVATE_KEY,    /* "-----BEGIN [A-Z ]*PRIVATE KEY-----", PGP's "... KEY BLOCK-----" too */
	CM_SECRET_AWS_ACCESS_KEY, /* AKIA|ASIA|ABIA|ACCA + exactly 16 [A-Z0-9], alnum-bounded both sides */
	CM_SECRET_GITHUB_TOKEN,   /* gh[pousr]_ + >=36 [A-Za-z0-9]; github_pat_ + >=22 [A-Za-z0-9_] */
	CM_SECRET_SLACK_TOKEN,    /* xox[bpares]- + >=10 [A-Za-z0-9-]; hooks.slack.com/services/ URLs */
	CM_SECRET_API_KEY,        /* "sk-" + >=20 [A-Za-z0-9_-] (OpenAI, Anthropic), not after [A-Za-z0-9] */
	CM_SECRET_JWT,            /* eyJ…(>=10).eyJ…(>=10).…, base64url, not after a base64url char */
	CM_SECRET_CLAWMESH_TOKEN, /* "cm_" + exactly 43 base64url, not after [A-Za-z0-9] */
	CM_SECRET_KIND_COUNT
};

#define CM_SECRET_ALL ((1u << CM_SECRET_KIND_COUNT) - 2u) /* every kind's bit: bit k = 1u << k */

/* "private_key", "aws_access_key_id", …; "" for CM_SECRET_NONE and anything out of range. */
const char *cm_secret_kind_name(enum cm_secret_kind k);
/* "on"|"all" -> CM_SECRET_ALL, "off"|"none" -> 0, "jwt,api_key" -> those bits; 0, or -1 (mask untouched). */
int cm_secret_kinds_parse(const char *s, unsigned *mask);
/* The leftmost secret in s[0..len) among the kinds in mask (any bytes, no NUL needed); NONE if none. */
enum cm_secret_kind cm_secret_scan(const char *s, size_t len, unsigned mask);
/* First in document order in item's string values and member names (not item's own); KIND_COUNT on OOM. */
enum cm_secret_kind cm_secret_scan_json(const cJSON *item, unsigned mask);

#endif
