/* libFuzzer harness: POST /v1/import and `clawmeshd import`, i.e. cm_import_begin / _feed /
 * _finish / _free (server/export.c) against a real, migrated PostgreSQL database. The input is
 * the body, an NDJSON file. Each run imports it twice from the same start state: once fed whole,
 * once cut into pieces at positions derived from the input (1-byte pieces, small ones, large
 * ones, cuts at the newlines, empty pieces between), and asserts:
 * - the outcome is a summary or a refusal whose err is one API.md gives an import (400
 *   bad_request / invalid_json, 409 conflict); 503/500 are failures of the harness's database
 *   and abort; its line is 0 or one of the file's, its message non-empty UTF-8, its details
 *   {"line" = line, "type"?, "field"?, key members?};
 * - both feeds give the same outcome (same err, line, message and details, or the same summary);
 * - once refused, feeding more and finishing repeat the same refusal;
 * - a refusal, and a success that imported nothing, leave the database exactly as it was
 *   (rows, revision sequence, feed horizon); a success leaves as many rows of each type as the
 *   summary says were imported, lines = the lines before the trailer, revision >= the header's,
 *   and every token's grants are ones the server can read back (store_tokens.c);
 * - importing the same file again, on what the first import committed, succeeds and imports
 *   nothing: every line is skipped (operations.md: "re-importing a file changes nothing").
 * The start state is an empty migrated database. A run that committed is undone by deleting
 * every row (triggers off for that session, as the history tables refuse deletes) and setting
 * the sequence and horizon back; the fingerprint then must equal the start's again, so a reset
 * that misses something aborts too. Needs CM_FUZZ_DB_URL (smoke.sh makes a throwaway cluster
 * whose user is a superuser, which session_replication_role needs). */
#include "clawmesh/config.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/export.h"
#include "clawmesh/json.h"
#include "clawmesh/tokens.h"
#include "fuzz_common.h"

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUE (256 * 1024) /* the server's default --max-value */
#define NTYPES 7

/* The line types and the table each fills, in the summary's order. */
static const char *const types[NTYPES] = {"token", "node", "memory_version", "memory", "skill_version", "skill", "change"};
static const char *const tables[NTYPES] = {"tokens", "nodes", "memory_history", "memory", "skill_versions", "skills",
					   "changes"};

static PGconn *db;        /* the harness's own connection: fingerprints and resets */
static char start[512];   /* the start state's fingerprint */
static char start_seq[2][32];
static bool show;

static PGresult *q(const char *sql, int n, const char *const *p)
{
	PGresult *r = PQexecParams(db, sql, n, NULL, p, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		fprintf(stderr, "fuzz_import: %s: %s", sql, PQerrorMessage(db));
		abort();
	}
	return r;
}

/* Rows per table, the revision sequence, the feed's horizon: all an import may change. */
static void fingerprint(char *out, size_t cap)
{
	PGresult *r = q("SELECT (SELECT count(*) FROM tokens) || ' ' || (SELECT count(*) FROM nodes) || ' ' ||"
			" (SELECT count(*) FROM memory_history) || ' ' || (SELECT count(*) FROM memory) || ' ' ||"
			" (SELECT count(*) FROM skill_versions) || ' ' || (SELECT count(*) FROM skills) || ' ' ||"
			" (SELECT count(*) FROM changes) || ' seq ' || (SELECT last_value || ' ' || is_called FROM cm_revision)"
			" || ' horizon ' || (SELECT horizon FROM cm_feed)",
			0, NULL);
	snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

static long rows(int t)
{
	char sql[96];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[t]);
	PGresult *r = q(sql, 0, NULL);
	long n = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

/* Back to the start state, when anything moved; then it must be the start state. */
static void reset(void)
{
	char now[512];
	fingerprint(now, sizeof now);
	if (!strcmp(now, start))
		return;
	const char *p[] = {start_seq[0], start_seq[1]};
	PQclear(q("BEGIN", 0, NULL));
	PQclear(q("SET LOCAL session_replication_role = replica", 0, NULL));
	for (int t = NTYPES - 1; t >= 0; t--) {
		char sql[64];
		snprintf(sql, sizeof sql, "DELETE FROM %s", tables[t]);
		PQclear(q(sql, 0, NULL));
	}
	PQclear(q("UPDATE cm_feed SET horizon = 0", 0, NULL));
	PQclear(q("SELECT setval('cm_revision', $1::bigint, $2::boolean)", 2, p));
	PQclear(q("COMMIT", 0, NULL));
	fingerprint(now, sizeof now);
	if (strcmp(now, start))
		fprintf(stderr, "reset to %s, start was %s\n", now, start);
	check(!strcmp(now, start));
}

/* An import's outcome, comparable between two runs. */
struct outcome {
	int rc;
	struct cm_import_failure fail; /* details rendered into detail */
	char *detail;
	char *summary;
	long imported[NTYPES], skipped[NTYPES], lines, revision;
};

static void outcome_free(struct outcome *o)
{
	free(o->detail);
	free(o->summary);
}

static void read_summary(struct outcome *o)
{
	cJSON *s = cJSON_Parse(o->summary);
	check(cJSON_IsObject(s));
	const cJSON *in = cJSON_GetObjectItemCaseSensitive(s, "imported"), *sk = cJSON_GetObjectItemCaseSensitive(s, "skipped");
	const cJSON *lines = cJSON_GetObjectItemCaseSensitive(s, "lines"), *rev = cJSON_GetObjectItemCaseSensitive(s, "revision");
	check(cJSON_IsObject(in) && cJSON_IsObject(sk) && cJSON_IsNumber(lines) && cJSON_IsNumber(rev));
	check(cJSON_GetArraySize(s) == 4 && cJSON_GetArraySize(in) == NTYPES && cJSON_GetArraySize(sk) == NTYPES);
	for (int t = 0; t < NTYPES; t++) {
		const cJSON *i = cJSON_GetObjectItemCaseSensitive(in, types[t]), *k = cJSON_GetObjectItemCaseSensitive(sk, types[t]);
		check(cJSON_IsNumber(i) && cJSON_IsNumber(k) && i->valuedouble >= 0 && k->valuedouble >= 0);
		o->imported[t] = (long)i->valuedouble;
		o->skipped[t] = (long)k->valuedouble;
	}
	o->lines = (long)lines->valuedouble;
	o->revision = (long)rev->valuedouble;
	cJSON_Delete(s);
}

/* What a refusal must look like, whichever way it was fed. nlines: the file's lines. */
static void check_refusal(const struct outcome *o, long nlines)
{
	const struct cm_import_failure *f = &o->fail;
	if (f->err == CM_EUNAVAIL || f->err == CM_EINTERNAL)
		fprintf(stderr, "fuzz_import: the database failed: %s\n", f->message);
	check(f->err == CM_EBADREQ || f->err == CM_EINVJSON || f->err == CM_ECONFLICT);
	check(o->rc == -(int)f->err);
	check(f->line >= 0 && f->line <= nlines);
	size_t n = strnlen(f->message, sizeof f->message);
	check(n > 0 && n < sizeof f->message && cm_utf8_valid(f->message, n));
	if (f->line > 0 || f->err == CM_ECONFLICT)
		check(o->detail);
	if (!o->detail)
		return;
	cJSON *d = cJSON_Parse(o->detail);
	check(cJSON_IsObject(d));
	const cJSON *line = cJSON_GetObjectItemCaseSensitive(d, "line");
	check(f->line > 0 ? cJSON_IsNumber(line) && line->valuedouble == (double)f->line : !line);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
	if (type) {
		check(cJSON_IsString(type));
		bool known = false;
		for (int t = 0; t < NTYPES; t++)
			known |= !strcmp(type->valuestring, types[t]);
		check(known || !strcmp(type->valuestring, "clawmesh-export") || !strcmp(type->valuestring, "end"));
	}
	const cJSON *field = cJSON_GetObjectItemCaseSensitive(d, "field");
	check(!field || (cJSON_IsString(field) && field->valuestring[0]));
	if (f->err == CM_ECONFLICT) /* a conflict names the row: its key members */
		check(type && cJSON_GetArraySize(d) > 2);
	cJSON_Delete(d);
}

/* One import of the file: whole (cuts == NULL) or in the pieces cuts gives. */
static void import(struct outcome *o, const char *data, size_t size, const size_t *cuts, size_t ncuts, long nlines)
{
	memset(o, 0, sizeof *o);
	struct cm_import *im = NULL;
	int rc = cm_import_begin(MAX_VALUE, &im);
	check(im);
	if (rc < 0 && (cm_import_failure(im)->err == CM_EUNAVAIL || cm_import_failure(im)->err == CM_EINTERNAL))
		fprintf(stderr, "fuzz_import: begin: %s\n", cm_import_failure(im)->message);
	check(rc == 0);
	if (!cuts) {
		rc = cm_import_feed(im, data, size);
	} else {
		size_t at = 0;
		int first = 0;
		for (size_t i = 0; i <= ncuts; i++) {
			size_t to = i < ncuts ? cuts[i] : size;
			rc = cm_import_feed(im, data + at, to - at);
			at = to;
			if (rc < 0 && !first)
				first = rc;
			check(!first || rc == first); /* fed on after a refusal, it repeats it */
		}
		rc = first;
	}
	if (rc == 0)
		rc = cm_import_finish(im);
	struct cm_import_failure *f = cm_import_failure(im);
	if (rc < 0 && cuts) /* and finishing after a refusal repeats it too */
		check(cm_import_finish(im) == rc && f->err == (enum cm_err)-rc);
	o->rc = rc;
	o->fail = *f;
	o->fail.details = NULL;
	if (rc < 0) {
		o->detail = f->details ? cm_json_render(f->details, NULL) : NULL;
		check_refusal(o, nlines);
	} else {
		check(!f->err);
		o->summary = cm_import_summary(im);
		read_summary(o);
		long lines, imported, skipped, sum_i = 0, sum_s = 0;
		cm_import_counts(im, &lines, &imported, &skipped);
		for (int t = 0; t < NTYPES; t++)
			sum_i += o->imported[t], sum_s += o->skipped[t];
		/* Every line but the header and the trailer was imported or skipped. */
		check(imported == sum_i && skipped == sum_s && lines == o->lines + 1 && sum_i + sum_s == o->lines - 1);
		check(o->lines + 1 <= nlines);
	}
	cm_import_free(im);
}

static void same(const struct outcome *a, const struct outcome *b)
{
	if (a->rc != b->rc || a->fail.line != b->fail.line || strcmp(a->fail.message, b->fail.message) ||
	    (a->detail == NULL) != (b->detail == NULL) || (a->detail && strcmp(a->detail, b->detail)) ||
	    (a->summary == NULL) != (b->summary == NULL) || (a->summary && strcmp(a->summary, b->summary)))
		fprintf(stderr, "whole:  %d line %ld %s %s %s\npieces: %d line %ld %s %s %s\n", a->rc, a->fail.line,
			a->fail.message, a->detail ? a->detail : "", a->summary ? a->summary : "", b->rc, b->fail.line,
			b->fail.message, b->detail ? b->detail : "", b->summary ? b->summary : "");
	check(a->rc == b->rc && a->fail.line == b->fail.line && !strcmp(a->fail.message, b->fail.message));
	check((a->detail == NULL) == (b->detail == NULL) && (!a->detail || !strcmp(a->detail, b->detail)));
	check((a->summary == NULL) == (b->summary == NULL) && (!a->summary || !strcmp(a->summary, b->summary)));
}

/* What the database holds after the import o: the start state, or the rows it says it imported. */
static void check_state(const struct outcome *o, const char *data, size_t size)
{
	char now[512];
	fingerprint(now, sizeof now);
	long imported = 0;
	for (int t = 0; t < NTYPES && o->rc == 0; t++)
		imported += o->imported[t];
	if (!imported) { /* refused, or nothing new: nothing committed, nothing moved */
		if (strcmp(now, start))
			fprintf(stderr, "the database moved from %s to %s (%s)\n", start, now, o->summary ? o->summary : o->fail.message);
		check(!strcmp(now, start));
		return;
	}
	for (int t = 0; t < NTYPES; t++) {
		if (rows(t) != o->imported[t])
			fprintf(stderr, "%s: %ld rows, %ld imported\n", tables[t], rows(t), o->imported[t]);
		check(rows(t) == o->imported[t]);
	}
	/* What the server reads back in C, it can read: a token's grants (store_tokens.c). */
	PGresult *g = q("SELECT grants::text FROM tokens", 0, NULL);
	for (int i = 0; i < PQntuples(g); i++) {
		cJSON *arr = cJSON_Parse(PQgetvalue(g, i, 0));
		struct cm_grant out[CM_MAX_GRANTS];
		size_t n;
		const char *why = NULL;
		if (cm_grants_from_json(arr, out, &n, &why) < 0)
			fprintf(stderr, "imported grants the server cannot read: %s (%s)\n", PQgetvalue(g, i, 0), why);
		check(why == NULL);
		cJSON_Delete(arr);
	}
	PQclear(g);
	/* The revision moved up to the header's at least (its digits, as the file has them). A
	 * success means every line parsed, so the file holds no NUL. */
	char *file = strndup(data, size);
	const char *p[] = {file};
	PGresult *r = q("SELECT ((split_part($1, E'\\n', 1))::jsonb ->> 'revision')::bigint <="
			" (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cm_revision)",
			1, p);
	check(!strcmp(PQgetvalue(r, 0, 0), "t"));
	PQclear(r);
	free(file);
}

/* Cut positions derived from the input (FNV-1a of it), in one of four styles. */
static size_t plan_cuts(const uint8_t *data, size_t size, size_t *cuts, size_t cap)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	size_t n = 0, at = 0;
	unsigned style = (unsigned)(h & 3);
	while (n < cap) {
		h ^= h << 13, h ^= h >> 7, h ^= h << 17;
		size_t step;
		if (style == 0) {
			step = 1;
		} else if (style == 1) {
			step = h % 17; /* 0: an empty piece */
		} else if (style == 2) {
			step = size ? h % (size + 1) : 0;
		} else { /* at a newline, or just after it */
			const uint8_t *nl = at < size ? memchr(data + at, '\n', size - at) : NULL;
			if (!nl)
				break;
			step = (size_t)(nl - (data + at)) + (h & 1);
			if (step == 0)
				step = 1;
		}
		if (at + step > size)
			break;
		at += step;
		cuts[n++] = at;
	}
	return n;
}

static void once_long_line(void)
{
	/* A line over 6 x max_value + 64 KiB is refused, as line 1, whole or in pieces; inputs of
	 * the fuzzer are too short to reach it, so it is tried once here, with max_value 0. */
	size_t len = 64 * 1024 + 1;
	char *big = malloc(len);
	memset(big, ' ', len);
	for (int pieces = 0; pieces < 2; pieces++) {
		struct cm_import *im = NULL;
		check(cm_import_begin(0, &im) == 0);
		int rc = 0;
		for (size_t at = 0; at < len && rc == 0; at += pieces ? 4096 : len)
			rc = cm_import_feed(im, big + at, pieces && len - at > 4096 ? 4096 : len - at);
		check(rc == -CM_EBADREQ && cm_import_failure(im)->line == 1);
		cm_import_free(im);
	}
	free(big);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *url = fuzz_db_url("fuzz_import");
	static struct cm_config cfg;
	cfg.database_url = (char *)url;
	cfg.max_value = MAX_VALUE;
	if (cm_db_init(&cfg) < 0)
		exit(2);
	db = fuzz_db_connect("fuzz_import", url);
	PQclear(q("SET client_min_messages = warning", 0, NULL));
	/* The start state: a store as migrate leaves it. A database this harness used before (it
	 * marks it) is emptied again, as a crash leaves it as it was; any other must be fresh. */
	snprintf(start_seq[0], sizeof start_seq[0], "1");
	snprintf(start_seq[1], sizeof start_seq[1], "false");
	snprintf(start, sizeof start, "0 0 0 0 0 0 0 seq 1 false horizon 0");
	PGresult *r = q("SELECT to_regclass('fuzz_import_scratch') IS NOT NULL", 0, NULL);
	bool ours = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	char now[512];
	fingerprint(now, sizeof now);
	if (!ours && strcmp(now, start)) {
		fprintf(stderr, "fuzz_import: CM_FUZZ_DB_URL must name a freshly migrated store (it has %s)\n", now);
		exit(2);
	}
	PQclear(q("CREATE TABLE IF NOT EXISTS fuzz_import_scratch ()", 0, NULL));
	reset();
	once_long_line();
	show = getenv("CM_FUZZ_SHOW") != NULL;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	const char *text = (const char *)data;
	long nlines = 1; /* the last one may lack its '\n' */
	for (size_t i = 0; i < size; i++)
		nlines += text[i] == '\n';

	struct outcome whole, pieces;
	import(&whole, text, size, NULL, 0, nlines);
	if (show) /* CM_FUZZ_SHOW=1: what each input did, to read a corpus by */
		fprintf(stderr, "outcome: %s%s %s\n", whole.summary ? whole.summary : whole.fail.message,
			whole.detail ? " " : "", whole.detail ? whole.detail : "");
	check_state(&whole, text, size);
	if (whole.rc == 0) {
		long imported = 0;
		for (int t = 0; t < NTYPES; t++)
			imported += whole.imported[t];
		if (imported) {
			/* Again, on what it committed: nothing new, every line skipped. */
			struct outcome again;
			import(&again, text, size, NULL, 0, nlines);
			if (again.rc)
				fprintf(stderr, "re-import refused: %s %s\n", again.fail.message, again.detail ? again.detail : "");
			check(again.rc == 0);
			for (int t = 0; t < NTYPES; t++)
				check(again.imported[t] == 0 && again.skipped[t] == whole.imported[t] + whole.skipped[t]);
			check_state(&whole, text, size);
			outcome_free(&again);
		}
	}
	reset();

	static size_t cuts[65536];
	size_t ncuts = plan_cuts(data, size, cuts, sizeof cuts / sizeof *cuts);
	import(&pieces, text, size, cuts, ncuts, nlines);
	same(&whole, &pieces);
	reset();
	outcome_free(&whole);
	outcome_free(&pieces);
	return 0;
}
