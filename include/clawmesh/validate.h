/* The grammar of API.md for scopes, ids, memory keys and skill names. Pure functions. */
#ifndef CLAWMESH_VALIDATE_H
#define CLAWMESH_VALIDATE_H
#include <stdbool.h>

#define CM_ID_MAX 64
#define CM_SCOPE_MAX (8 + CM_ID_MAX) /* "project:" + id */
#define CM_KEY_MAX 256
#define CM_SKILL_NAME_MAX 64
#define CM_TAG_MAX 64
#define CM_TIME_MAX 40

/* id = [a-z0-9][a-z0-9._-]{0,63} (node, user, project ids). */
bool cm_valid_id(const char *s);
/* mesh | node:<id> | user:<id> | project:<id> */
bool cm_valid_scope(const char *s);
/* [A-Za-z0-9._:@-]{1,256}, not starting with '.' */
bool cm_valid_key(const char *s);
/* [a-z0-9][a-z0-9-]{0,63} */
bool cm_valid_skill_name(const char *s);
/* A tag: 1..64 characters of valid UTF-8, no control characters. */
bool cm_valid_tag(const char *s);
/* A whole number from 0 written as digits only (no sign, no space, no exponent), within a
 * bigint: revisions, audit ids. */
bool cm_parse_count(const char *s, long long *out);
/* RFC 3339: 2026-02-01T10:00:00Z, with optional .fraction (1-9 digits) and a Z or +hh:mm offset
 * (at most ±15:59, as PostgreSQL takes them); a real calendar date, years 0001-9999. */
bool cm_valid_time(const char *s);

#endif
