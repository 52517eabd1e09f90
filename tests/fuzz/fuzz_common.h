/* What the libFuzzer harnesses share: the invariant macro, the input as a C string, the test
 * callers and their access, the database of CM_FUZZ_DB_URL, and small helpers the references
 * need (field lists, tag arrays, depth, finite numbers). Only harness-side logic lives here:
 * each reference stays written from API.md, never from the server code it checks, and nothing
 * here calls the function a harness is checking to decide what that function should return.
 * Header only (static inline), so each harness stays one translation unit; docs/fuzzing.md. */
#ifndef CLAWMESH_FUZZ_COMMON_H
#define CLAWMESH_FUZZ_COMMON_H

#include "clawmesh/auth.h"
#include "clawmesh/json.h"
#include "clawmesh/secrets.h"
#include "clawmesh/validate.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant: when it does not hold, say which and where, and abort (libFuzzer's crash). */
#define check(c) ((c) ? (void)0 : (fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__), abort()))

/* The input bytes with a NUL after them (cm_json_parse wants one), NUL bytes inside kept; the
 * caller frees it. NULL when out of memory: the harness skips that input. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/* The body harnesses' input: a selector byte, then the body (at most 64 KiB) as a C string
 * (cm_json_parse wants the NUL after it) and, when it passes the server's strict JSON gate, its
 * parse. */
struct fuzz_body {
	uint8_t selector;
	char *text;
	size_t len;
	cJSON *json; /* NULL: not strict JSON */
};

/* Fills b from the input; false: skip this input. fuzz_body_free(b) after a true. */
static inline bool fuzz_body_read(const uint8_t *data, size_t size, struct fuzz_body *b)
{
	if (size < 1 || size > 65536)
		return false;
	b->selector = data[0];
	b->len = size - 1;
	b->text = fuzz_text(data + 1, b->len);
	b->json = NULL;
	if (b->text && cm_json_parse(b->text, b->len, &b->json) != 0)
		b->json = NULL;
	return b->text != NULL;
}

static inline void fuzz_body_free(struct fuzz_body *b)
{
	cJSON_Delete(b->json);
	free(b->text);
}

/* The secret guard a selector byte asks for: its high bit turns the guard off. */
static inline unsigned fuzz_secret_guard(uint8_t selector)
{
	return selector & 0x80 ? 0 : CM_SECRET_ALL;
}

/* Are all numbers in item finite? cJSON holds them as doubles, and JSON has no text for an
 * infinity: 1e400 (valid JSON, and in PostgreSQL's numeric range) cannot round-trip through cJSON. */
static inline bool fuzz_finite_numbers(const cJSON *item)
{
	if (cJSON_IsNumber(item))
		return item->valuedouble - item->valuedouble == 0;
	for (const cJSON *c = item->child; c; c = c->next)
		if (!fuzz_finite_numbers(c))
			return false;
	return true;
}

/* Is s one of the NULL-terminated list? */
static inline bool fuzz_in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* Has object o no member but those of known? */
static inline bool fuzz_only_fields(const cJSON *o, const char *const *known)
{
	const cJSON *f;
	cJSON_ArrayForEach(f, o)
	if (!fuzz_in_list(f->string, known))
		return false;
	return true;
}

/* An array of at most max tags (1-64 characters, no control characters). */
static inline bool fuzz_tag_array(const cJSON *a, int max)
{
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > max)
		return false;
	const cJSON *t;
	cJSON_ArrayForEach(t, a)
	if (!cJSON_IsString(t) || !cm_valid_tag(t->valuestring))
		return false;
	return true;
}

/* A value's nesting depth as API.md counts it: a scalar 0, a container one more than its deepest child. */
static inline int fuzz_ref_depth(const cJSON *v)
{
	int d = 0;
	for (const cJSON *c = v->child; c; c = c->next) {
		int x = fuzz_ref_depth(c);
		d = x > d ? x : d;
	}
	return cJSON_IsArray(v) || cJSON_IsObject(v) ? d + 1 : 0;
}

/* An unknown member's name as cm_check_unknown_field may show it, or a known field's: short
 * printable ASCII, nothing credential-shaped. */
static inline bool fuzz_shown_name(const char *f, const char *const *fields)
{
	size_t n = strlen(f);
	if (fuzz_in_list(f, fields) || !strcmp(f, "(unknown field)"))
		return true;
	if (n < 1 || n > 40 || cm_secret_scan(f, n, CM_SECRET_ALL) != CM_SECRET_NONE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (f[i] <= 0x20 || f[i] >= 0x7f)
			return false;
	return true;
}

/* The three callers of the body harnesses: 0 an admin (no node), 1 node "ceo" with rw "mesh"
 * and r "project:*", 2 a user token with r "user:alice". */
enum { FUZZ_CALLERS = 3 };
static const struct cm_identity fuzz_who[FUZZ_CALLERS] = {
	{.label = "admin", .admin = true},
	{.node = "ceo",
	 .ngrants = 2,
	 .grants = {{.pattern = "mesh", .access = CM_ACCESS_RW}, {.pattern = "project:*", .access = CM_ACCESS_R}}},
	{.ngrants = 1, .grants = {{.pattern = "user:alice", .access = CM_ACCESS_R}}},
};

/* Those callers' access, from API.md's grant rules, written out by hand (not cm_access_for). */
static inline bool fuzz_ref_allows(int caller, const char *scope, bool write)
{
	if (caller == 0)
		return true;
	if (caller == 1)
		return !strcmp(scope, "mesh") || !strcmp(scope, "node:ceo") || (!write && !strncmp(scope, "project:", 8));
	return !write && !strcmp(scope, "user:alice");
}

/* CM_FUZZ_DB_URL, the migrated database smoke.sh makes; without it the harness cannot run. */
static inline const char *fuzz_db_url(const char *harness)
{
	const char *url = getenv("CM_FUZZ_DB_URL");
	if (!url) {
		fprintf(stderr, "%s: set CM_FUZZ_DB_URL to a migrated clawmesh database\n", harness);
		exit(2);
	}
	return url;
}

/* The harness's own connection to url, or exit. */
static inline PGconn *fuzz_db_connect(const char *harness, const char *url)
{
	PGconn *db = PQconnectdb(url);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "%s: %s", harness, PQerrorMessage(db));
		exit(2);
	}
	return db;
}

/* a and b are the same JSON, members in the same order (both sides of every comparison here come
 * from one text, or one from the other's rendering), numbers within cJSON's own tolerance. Linear:
 * cJSON_Compare looks every object member up in both directions, 2^depth work on nested objects,
 * which timed out on a 32-deep document (the server never compares; it parsed that one in 0.4 ms). */
static inline bool fuzz_same(const cJSON *a, const cJSON *b)
{
	if (!a || !b)
		return a == b;
	if ((a->type & 0xFF) != (b->type & 0xFF))
		return false;
	switch (a->type & 0xFF) {
	case cJSON_Number: {
		double x = a->valuedouble, y = b->valuedouble;
		return fabs(x - y) <= fmax(fabs(x), fabs(y)) * DBL_EPSILON;
	}
	case cJSON_String:
	case cJSON_Raw:
		return a->valuestring && b->valuestring ? !strcmp(a->valuestring, b->valuestring)
							: a->valuestring == b->valuestring;
	case cJSON_Array:
	case cJSON_Object: {
		const cJSON *c = a->child, *d = b->child;
		for (; c && d; c = c->next, d = d->next)
			if ((cJSON_IsObject(a) && (!c->string || !d->string || strcmp(c->string, d->string))) ||
			    !fuzz_same(c, d))
				return false;
		return !c && !d;
	}
	default:
		return true; /* false, true, null */
	}
}

/* Does v carry no credential of kinds (0: the guard is off, nothing is refused)? */
static inline bool fuzz_clean(unsigned kinds, const cJSON *v)
{
	return !kinds || cm_secret_scan_json(v, kinds) == CM_SECRET_NONE;
}

/* Does text (what a check rendered to store) parse strictly to the same JSON as want? */
static inline bool fuzz_same_text(const char *text, const cJSON *want)
{
	cJSON *again = NULL;
	bool same = text && cm_json_parse(text, strlen(text), &again) == 0 && fuzz_same(again, want);
	cJSON_Delete(again);
	return same;
}

#endif
