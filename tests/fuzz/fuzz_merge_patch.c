/* libFuzzer harness, differential: PATCH /v1/memory's RFC 7386 merge patch runs in PostgreSQL
 * (cm_merge_patch, migrations/0002_memory.sql); this sends it (target, patch) pairs the server
 * would accept and compares its result with RFC 7386's algorithm written here with cJSON, by
 * jsonb equality (so 1.0 and 1 are one number). It also asserts that PostgreSQL never fails on a
 * pair the C side lets through (a failure there is a 500 to the client).
 * Input: the target's JSON, a NUL byte, the patch's JSON. Needs CM_FUZZ_DB_URL: a migrated
 * database (smoke.sh makes a throwaway cluster). */
#include "clawmesh/json.h"
#include "fuzz_common.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUE_DEPTH 100 /* api_memory.c's limit on a value and on a patch */

static PGconn *db;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	db = fuzz_db_connect("fuzz_merge_patch", fuzz_db_url("fuzz_merge_patch"));
	PGresult *r = PQprepare(db, "mp",
				"SELECT cm_merge_patch($1::jsonb, $2::jsonb) = $3::jsonb, cm_merge_patch($1::jsonb, $2::jsonb)::text",
				3, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "fuzz_merge_patch: %s", PQerrorMessage(db));
		exit(2);
	}
	PQclear(r);
	return 0;
}

/* RFC 7386, section 2, as written there. Takes target (may be NULL); returns the result. */
static cJSON *merge_patch(cJSON *target, const cJSON *patch)
{
	if (!cJSON_IsObject(patch)) {
		cJSON_Delete(target);
		return cJSON_Duplicate(patch, true);
	}
	if (!cJSON_IsObject(target)) {
		cJSON_Delete(target);
		target = cJSON_CreateObject();
	}
	for (const cJSON *m = patch->child; m; m = m->next) {
		if (cJSON_IsNull(m)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, m->string);
			continue;
		}
		cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(target, m->string);
		cJSON_AddItemToObject(target, m->string, merge_patch(old, m));
	}
	return target;
}

/* A document as the server accepts it (strict, at most 100 levels), or NULL. */
static cJSON *accepted(const char *text, size_t len)
{
	char *buf = strndup(text, len);
	cJSON *doc = NULL;
	if (buf && strlen(buf) == len && cm_json_parse(buf, len, &doc) == 0 &&
	    (cm_json_depth(doc) > MAX_VALUE_DEPTH || !fuzz_finite_numbers(doc))) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	free(buf);
	return doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	if (!nul)
		return 0;
	cJSON *target = accepted(text, (size_t)(nul - text));
	cJSON *patch = accepted(nul + 1, size - (size_t)(nul - text) - 1);
	if (target && patch) {
		/* Both sides get the numbers as cJSON prints them, so they compare the same values. */
		char *t = cm_json_render(target, NULL), *p = cm_json_render(patch, NULL);
		cJSON *want = merge_patch(cJSON_Duplicate(target, true), patch);
		char *w = cm_json_render(want, NULL);
		const char *params[3] = {t, p, w};
		PGresult *r = PQexecPrepared(db, "mp", 3, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fprintf(stderr, "PostgreSQL failed: %s\ntarget %.200s\npatch %.200s\n", PQerrorMessage(db), t, p);
		check(PQresultStatus(r) == PGRES_TUPLES_OK);
		if (strcmp(PQgetvalue(r, 0, 0), "t"))
			fprintf(stderr, "target %.300s\npatch  %.300s\nRFC    %.300s\npg     %.300s\n", t, p, w, PQgetvalue(r, 0, 1));
		check(!strcmp(PQgetvalue(r, 0, 0), "t"));
		PQclear(r);
		free(t);
		free(p);
		free(w);
		cJSON_Delete(want);
	}
	cJSON_Delete(target);
	cJSON_Delete(patch);
	return 0;
}
