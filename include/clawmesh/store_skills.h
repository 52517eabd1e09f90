/* SQL for skills: publishing and deleting go through the database function cm_skill_write (one
 * round trip: preconditions, the sha256 no-op rule, the version row and the change row); reads
 * render skills in SQL. Nothing here knows HTTP or grants. */
#ifndef CLAWMESH_STORE_SKILLS_H
#define CLAWMESH_STORE_SKILLS_H
#include "clawmesh/store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct cm_skill_write {
	const char *op; /* "put" | "delete" */
	const char *scope, *name;
	const char *content;     /* put: the SKILL.md text exactly as published */
	const char *description; /* NULL = none */
	const char *tags;        /* JSON array of strings; NULL = none */
	const char *metadata;    /* JSON object; NULL = {} */
	const char *if_match;    /* as struct cm_memory_write's */
	bool if_none_match;
	const char *node; /* provenance: the token's node, NULL for none */
	size_t max_size;
};

int cm_store_skill_write(const struct cm_skill_write *w, struct cm_store_result *out);

/* The live latest version (version 0) or version N (kept after a delete): 0 with out->entry (with
 * content when with_content) and, when raw is not NULL, *raw = the content exactly as published
 * (caller frees); -CM_ENOTFOUND. */
int cm_store_skill_get(const char *scope, const char *name, int version, bool with_content,
		       struct cm_store_result *out, char **raw);

/* Versions newest first, with version < before (0 = from the newest), appended to items; *next
 * is the version to continue below, 0 when none is left. -CM_ENOTFOUND when never published. */
int cm_store_skill_versions(const char *scope, const char *name, int before, unsigned limit, cJSON *items,
			    int *next);

/* Which scopes a listing covers: the ones asked for (a JSON array), else what the caller reads. */
struct cm_scope_filter {
	const char *scopes;
	bool all_readable;
	const char *readable, *readable_prefixes; /* JSON arrays */
};

struct cm_skill_filter {
	struct cm_scope_filter in;
	const char *q, *node;
	const char *tags; /* JSON array: skills whose latest version carries every one */
	const char *sha256; /* instead of the latest versions: every version with these bytes */
	bool with_content;
	const cJSON *after; /* the position a cursor carried, or NULL */
	unsigned limit;
};

/* Live skills' latest versions (or, with f->sha256, the matching versions, each with "current"
 * and "latest_version") appended to items; *next = the position after the last one when more
 * follow (caller frees), else NULL. -CM_EBADREQ when f->after is not a position of this listing. */
int cm_store_skill_list(const struct cm_skill_filter *f, cJSON *items, cJSON **next);

#endif
