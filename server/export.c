/* Export and import of the whole store as NDJSON, format 1. PostgreSQL renders every line from
 * the columns and reads every imported line's own text back, so numbers keep every digit, JSON
 * values stay jsonb's text, and export -> import -> export is byte-identical. Both sides hold a
 * connection of their own: an export one read-only snapshot, an import one transaction under
 * the write lock. No HTTP here: api_export.c and main.c drive these. */
#include "clawmesh/export.h"
#include "clawmesh/db.h"
#include "clawmesh/json.h"
#include "clawmesh/log.h"
#include "clawmesh/migrate.h"
#include "clawmesh/tokens.h"
#include "clawmesh/validate.h"

#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Times at full precision, so nothing is rounded: 2026-02-01T10:00:00.123456Z. */
#define TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define TIME_LEN 27

/* One line per row of alias x, every column but the generated search vectors, in column order.
 * json_build_object keeps its keys in order (jsonb would not), so "type" comes first. */
#define TOKEN_LINE                                                                                              \
	"json_build_object('type', 'token', 'id', x.id, 'secret_hash', encode(x.secret_hash, 'hex'),"            \
	" 'label', x.label, 'node', x.node, 'admin', x.admin, 'grants', x.grants,"                              \
	" 'created_at', " TS("x.created_at") ", 'expires_at', " TS("x.expires_at") ","                           \
	" 'last_used_at', " TS("x.last_used_at") ", 'revoked_at', " TS("x.revoked_at") ")"
#define NODE_LINE                                                                                               \
	"json_build_object('type', 'node', 'id', x.id, 'name', x.name, 'description', x.description,"            \
	" 'capabilities', x.capabilities, 'endpoint', x.endpoint, 'meta', x.meta, 'version', x.version,"        \
	" 'revision', x.revision, 'node', x.node, 'created_at', " TS("x.created_at") ","                         \
	" 'updated_at', " TS("x.updated_at") ", 'last_seen', " TS("x.last_seen") ")"
#define MEMORY_VERSION_LINE                                                                                     \
	"json_build_object('type', 'memory_version', 'scope', x.scope, 'key', x.key, 'version', x.version,"      \
	" 'op', x.op, 'value', x.value, 'size', x.size, 'tags', x.tags, 'expires_at', " TS("x.expires_at") ","  \
	" 'node', x.node, 'at', " TS("x.at") ", 'revision', x.revision)"
#define MEMORY_LINE                                                                                             \
	"json_build_object('type', 'memory', 'scope', x.scope, 'key', x.key, 'value', x.value, 'size', x.size,"  \
	" 'tags', x.tags, 'version', x.version, 'revision', x.revision, 'node', x.node,"                        \
	" 'created_at', " TS("x.created_at") ", 'updated_at', " TS("x.updated_at") ","                           \
	" 'expires_at', " TS("x.expires_at") ", 'deleted', x.deleted, 'msg_ts', " TS("x.msg_ts") ","             \
	" 'msg_rev', x.msg_rev)"
#define SKILL_VERSION_LINE                                                                                      \
	"json_build_object('type', 'skill_version', 'scope', x.scope, 'name', x.name, 'version', x.version,"     \
	" 'content', x.content, 'sha256', x.sha256, 'size', x.size, 'description', x.description,"              \
	" 'tags', x.tags, 'metadata', x.metadata, 'node', x.node, 'created_at', " TS("x.created_at") ","         \
	" 'at', " TS("x.at") ", 'revision', x.revision)"
#define SKILL_LINE                                                                                              \
	"json_build_object('type', 'skill', 'scope', x.scope, 'name', x.name, 'version', x.version,"             \
	" 'node', x.node, 'revision', x.revision, 'deleted', x.deleted, 'created_at', " TS("x.created_at") ","  \
	" 'updated_at', " TS("x.updated_at") ")"
#define CHANGE_LINE                                                                                             \
	"json_build_object('type', 'change', 'revision', x.revision, 'kind', x.kind, 'op', x.op,"                \
	" 'scope', x.scope, 'name', x.name, 'version', x.version, 'node', x.node, 'at', " TS("x.at") ")"

/* Members of an imported line j (jsonb), as the columns take them. */
#define J_TEXT(k) "(j ->> '" k "')"
#define J_INT(k) "(j ->> '" k "')::integer"
#define J_BIGINT(k) "(j ->> '" k "')::bigint"
#define J_BOOL(k) "(j ->> '" k "')::boolean"
#define J_TIME(k) "(j ->> '" k "')::timestamptz"
#define J_JSON(k) "nullif(j -> '" k "', 'null')"
#define J_TEXTS(k) "ARRAY(SELECT e FROM jsonb_array_elements_text(j -> '" k "') WITH ORDINALITY a(e, i) ORDER BY i)"

/* The import of one line ($1) into table: inserted, skipped (the row is there, exactly as the
 * line has it: the existing row exported compares equal, as jsonb, minus `ignore`) or conflict
 * (a row with its key, or another unique member, is there and differs). The existence check
 * reads the statement's snapshot, from before this insert. */
#define IMPORT(table, cols, exprs, match, line, ignore)                                                        \
	"WITH l AS (SELECT $1::jsonb AS j),"                                                                    \
	" ins AS (INSERT INTO " table " (" cols ") SELECT " exprs " FROM l ON CONFLICT DO NOTHING RETURNING 1)" \
	" SELECT CASE WHEN EXISTS (SELECT FROM ins) THEN 'inserted'"                                            \
	" WHEN EXISTS (SELECT FROM " table " x, l WHERE " match " AND (" line ")::jsonb" ignore " = j" ignore ")" \
	" THEN 'skipped' ELSE 'conflict' END"

/* A skill version comes before its skill's head row (the export's order), yet its foreign key
 * wants the head. So a version whose head is missing inserts a stand-in head, marked by a
 * negative revision (-$2, its line number); the skill line then fills it in. A stand-in left at
 * the end is a version without its skill: the import is refused. The content's sha256 and size
 * are computed here and must be the line's (bad_content otherwise). */
#define SKILL_VERSION_COLS "scope, name, version, content, sha256, size, description, tags, metadata, node, created_at, at, revision"
#define SKILL_VERSION_IMPORT                                                                                    \
	"WITH l AS (SELECT $1::jsonb AS j),"                                                                    \
	" c AS (SELECT j, encode(sha256(convert_to(j ->> 'content', 'UTF8')), 'hex') = j ->> 'sha256'"          \
	" AND octet_length(j ->> 'content') = " J_INT("size") " AS ok FROM l),"                                 \
	" head AS (INSERT INTO skills (scope, name, version, node, revision, deleted, created_at, updated_at)"   \
	" SELECT " J_TEXT("scope") ", " J_TEXT("name") ", " J_INT("version") ", " J_TEXT("node") ","             \
	" -$2::bigint, false, " J_TIME("created_at") ", " J_TIME("at") " FROM c WHERE ok"                        \
	" ON CONFLICT DO NOTHING),"                                                                              \
	" ins AS (INSERT INTO skill_versions (" SKILL_VERSION_COLS ") SELECT " J_TEXT("scope") ", " J_TEXT("name") \
	", " J_INT("version") ", " J_TEXT("content") ", " J_TEXT("sha256") ", " J_INT("size") ","              \
	" " J_TEXT("description") ", " J_TEXTS("tags") ", j -> 'metadata', " J_TEXT("node") ","                   \
	" " J_TIME("created_at") ", " J_TIME("at") ", " J_BIGINT("revision") " FROM c WHERE ok"                 \
	" ON CONFLICT DO NOTHING RETURNING 1)"                                                                   \
	" SELECT CASE WHEN NOT (SELECT ok FROM c) THEN 'bad_content' WHEN EXISTS (SELECT FROM ins) THEN 'inserted'" \
	" WHEN EXISTS (SELECT FROM skill_versions x, l WHERE x.scope = j ->> 'scope' AND x.name = j ->> 'name'"    \
	" AND x.version = " J_INT("version") " AND (" SKILL_VERSION_LINE ")::jsonb = j)"                          \
	" THEN 'skipped' ELSE 'conflict' END"
#define SKILL_SET                                                                                               \
	"version = " J_INT("version") ", node = " J_TEXT("node") ", revision = " J_BIGINT("revision") ","         \
	" deleted = " J_BOOL("deleted") ", created_at = " J_TIME("created_at") ", updated_at = " J_TIME("updated_at")
#define SKILL_IMPORT                                                                                            \
	"WITH l AS (SELECT $1::jsonb AS j),"                                                                    \
	" fill AS (UPDATE skills x SET " SKILL_SET " FROM l WHERE x.scope = j ->> 'scope' AND x.name = j ->> 'name'" \
	" AND x.revision < 0 RETURNING 1),"                                                                      \
	" ins AS (INSERT INTO skills (scope, name, version, node, revision, deleted, created_at, updated_at)"    \
	" SELECT " J_TEXT("scope") ", " J_TEXT("name") ", " J_INT("version") ", " J_TEXT("node") ","             \
	" " J_BIGINT("revision") ", " J_BOOL("deleted") ", " J_TIME("created_at") ", " J_TIME("updated_at")       \
	" FROM l WHERE NOT EXISTS (SELECT FROM fill) ON CONFLICT DO NOTHING RETURNING 1)"                        \
	" SELECT CASE WHEN EXISTS (SELECT FROM fill) OR EXISTS (SELECT FROM ins) THEN 'inserted'"                \
	" WHEN EXISTS (SELECT FROM skills x, l WHERE x.scope = j ->> 'scope' AND x.name = j ->> 'name'"          \
	" AND (" SKILL_LINE ")::jsonb = j) THEN 'skipped' ELSE 'conflict' END"

/* The line types, in the order an export writes them. */
enum line_type {
	L_TOKEN,
	L_NODE,
	L_MEMORY_VERSION,
	L_MEMORY,
	L_SKILL_VERSION,
	L_SKILL,
	L_CHANGE,
	NTYPES
};

enum field_kind {
	F_TEXT,
	F_ID,         /* a node id */
	F_SCOPE,
	F_KEY,        /* a memory key */
	F_SKILL_NAME,
	F_TIME,       /* YYYY-MM-DDTHH:MM:SS.ffffffZ */
	F_INT,        /* a whole number >= 0 */
	F_BOOL,
	F_ANY,        /* any JSON, null included */
	F_OBJECT,
	F_ARRAY,
	F_TEXTS,      /* an array of strings */
	F_HEX64,      /* 64 lowercase hex digits */
};

struct field {
	const char *name;
	enum field_kind kind;
	bool nullable;
};

struct section {
	const char *type;
	const char *select; /* the export: one line per row, in primary-key order */
	const char *import; /* $1 = the line (, $2 = its number): inserted | skipped | conflict | bad_content */
	int nparams;
	const struct field *fields; /* every member but "type", which is all a line may hold */
	const char *const *key;     /* the members that name the row, for a conflict's details */
};

static const struct field token_fields[] = {
	{"id", F_TEXT, false},           {"secret_hash", F_HEX64, false}, {"label", F_TEXT, false},
	{"node", F_ID, true},            {"admin", F_BOOL, false},        {"grants", F_ARRAY, false},
	{"created_at", F_TIME, false},   {"expires_at", F_TIME, true},    {"last_used_at", F_TIME, true},
	{"revoked_at", F_TIME, true},    {NULL, F_TEXT, false},
};
static const struct field node_fields[] = {
	{"id", F_ID, false},           {"name", F_TEXT, false},         {"description", F_TEXT, true},
	{"capabilities", F_TEXTS, false}, {"endpoint", F_TEXT, true},   {"meta", F_OBJECT, true},
	{"version", F_INT, false},     {"revision", F_INT, false},      {"node", F_ID, true},
	{"created_at", F_TIME, false}, {"updated_at", F_TIME, false},   {"last_seen", F_TIME, false},
	{NULL, F_TEXT, false},
};
static const struct field memory_version_fields[] = {
	{"scope", F_SCOPE, false},     {"key", F_KEY, false},    {"version", F_INT, false},
	{"op", F_TEXT, false},         {"value", F_ANY, true},   {"size", F_INT, false},
	{"tags", F_TEXTS, false},      {"expires_at", F_TIME, true}, {"node", F_ID, true},
	{"at", F_TIME, false},         {"revision", F_INT, false}, {NULL, F_TEXT, false},
};
static const struct field memory_fields[] = {
	{"scope", F_SCOPE, false},       {"key", F_KEY, false},          {"value", F_ANY, true},
	{"size", F_INT, false},          {"tags", F_TEXTS, false},       {"version", F_INT, false},
	{"revision", F_INT, false},      {"node", F_ID, true},           {"created_at", F_TIME, false},
	{"updated_at", F_TIME, false},   {"expires_at", F_TIME, true},   {"deleted", F_BOOL, false},
	{"msg_ts", F_TIME, true},        {"msg_rev", F_INT, true},       {NULL, F_TEXT, false},
};
static const struct field skill_version_fields[] = {
	{"scope", F_SCOPE, false},      {"name", F_SKILL_NAME, false}, {"version", F_INT, false},
	{"content", F_TEXT, false},     {"sha256", F_HEX64, false},    {"size", F_INT, false},
	{"description", F_TEXT, true},  {"tags", F_TEXTS, false},      {"metadata", F_OBJECT, false},
	{"node", F_ID, true},           {"created_at", F_TIME, false}, {"at", F_TIME, false},
	{"revision", F_INT, false},     {NULL, F_TEXT, false},
};
static const struct field skill_fields[] = {
	{"scope", F_SCOPE, false},  {"name", F_SKILL_NAME, false}, {"version", F_INT, false},
	{"node", F_ID, true},       {"revision", F_INT, false},    {"deleted", F_BOOL, false},
	{"created_at", F_TIME, false}, {"updated_at", F_TIME, false}, {NULL, F_TEXT, false},
};
static const struct field change_fields[] = {
	{"revision", F_INT, false}, {"kind", F_TEXT, false}, {"op", F_TEXT, false},  {"scope", F_SCOPE, true},
	{"name", F_TEXT, false},    {"version", F_INT, true}, {"node", F_ID, true},   {"at", F_TIME, false},
	{NULL, F_TEXT, false},
};

static const char *const id_key[] = {"id", NULL};
static const char *const entry_key[] = {"scope", "key", NULL};
static const char *const entry_version_key[] = {"scope", "key", "version", NULL};
static const char *const skill_key[] = {"scope", "name", NULL};
static const char *const skill_version_key[] = {"scope", "name", "version", NULL};
static const char *const change_key[] = {"revision", NULL};

static const struct section sections[NTYPES] = {
	[L_TOKEN] = {"token", "SELECT " TOKEN_LINE "::text FROM tokens x ORDER BY x.id COLLATE \"C\"",
			     IMPORT("tokens",
				    "id, secret_hash, label, node, admin, grants, created_at, expires_at, last_used_at, revoked_at",
				    J_TEXT("id") ", decode(j ->> 'secret_hash', 'hex'), " J_TEXT("label") ", " J_TEXT("node") ", "
				    J_BOOL("admin") ", j -> 'grants', " J_TIME("created_at") ", " J_TIME("expires_at") ", "
				    J_TIME("last_used_at") ", " J_TIME("revoked_at"),
				    "x.id = j ->> 'id'", TOKEN_LINE, " - 'last_used_at'"),
			     1, token_fields, id_key},
	[L_NODE] = {"node", "SELECT " NODE_LINE "::text FROM nodes x ORDER BY x.id",
			    IMPORT("nodes",
				   "id, name, description, capabilities, endpoint, meta, version, revision, node, created_at,"
				   " updated_at, last_seen",
				   J_TEXT("id") ", " J_TEXT("name") ", " J_TEXT("description") ", " J_TEXTS("capabilities") ", "
				   J_TEXT("endpoint") ", " J_JSON("meta") ", " J_INT("version") ", " J_BIGINT("revision") ", "
				   J_TEXT("node") ", " J_TIME("created_at") ", " J_TIME("updated_at") ", " J_TIME("last_seen"),
				   "x.id = j ->> 'id'", NODE_LINE, " - 'last_seen'"),
			    1, node_fields, id_key},
	[L_MEMORY_VERSION] = {"memory_version",
				      "SELECT " MEMORY_VERSION_LINE "::text FROM memory_history x ORDER BY x.scope, x.key, x.version",
				      IMPORT("memory_history", "scope, key, version, op, value, size, tags, expires_at, node, at, revision",
					     J_TEXT("scope") ", " J_TEXT("key") ", " J_INT("version") ", " J_TEXT("op") ","
					     " CASE WHEN j ->> 'op' = 'delete' THEN NULL ELSE j -> 'value' END, " J_INT("size") ", "
					     J_TEXTS("tags") ", " J_TIME("expires_at") ", " J_TEXT("node") ", " J_TIME("at") ", "
					     J_BIGINT("revision"),
					     "x.scope = j ->> 'scope' AND x.key = j ->> 'key' AND x.version = " J_INT("version"),
					     MEMORY_VERSION_LINE, ""),
				      1, memory_version_fields, entry_version_key},
	[L_MEMORY] = {"memory", "SELECT " MEMORY_LINE "::text FROM memory x ORDER BY x.scope, x.key",
			      IMPORT("memory",
				     "scope, key, value, size, tags, version, revision, node, created_at, updated_at, expires_at,"
				     " deleted, msg_ts, msg_rev",
				     J_TEXT("scope") ", " J_TEXT("key") ", CASE WHEN " J_BOOL("deleted") " THEN NULL ELSE j -> 'value' END, "
				     J_INT("size") ", " J_TEXTS("tags") ", " J_INT("version") ", " J_BIGINT("revision") ", "
				     J_TEXT("node") ", " J_TIME("created_at") ", " J_TIME("updated_at") ", " J_TIME("expires_at") ", "
				     J_BOOL("deleted") ", " J_TIME("msg_ts") ", " J_BIGINT("msg_rev"),
				     "x.scope = j ->> 'scope' AND x.key = j ->> 'key'", MEMORY_LINE, ""),
			      1, memory_fields, entry_key},
	[L_SKILL_VERSION] = {"skill_version",
				     "SELECT " SKILL_VERSION_LINE "::text FROM skill_versions x ORDER BY x.scope, x.name, x.version",
				     SKILL_VERSION_IMPORT, 2, skill_version_fields, skill_version_key},
	[L_SKILL] = {"skill", "SELECT " SKILL_LINE "::text FROM skills x ORDER BY x.scope, x.name", SKILL_IMPORT, 1,
			     skill_fields, skill_key},
	[L_CHANGE] = {"change", "SELECT " CHANGE_LINE "::text FROM changes x ORDER BY x.revision",
			      IMPORT("changes", "revision, kind, op, scope, name, version, node, at",
				     J_BIGINT("revision") ", " J_TEXT("kind") ", " J_TEXT("op") ", " J_TEXT("scope") ", "
				     J_TEXT("name") ", " J_INT("version") ", " J_TEXT("node") ", " J_TIME("at"),
				     "x.revision = " J_BIGINT("revision"), CHANGE_LINE, ""),
			      1, change_fields, change_key},
};

/* The schema must be the one this binary knows: an older one lacks columns we read, a newer
 * one may hold columns we would silently leave out. 0, or -CM_EUNAVAIL with why filled. */
static int schema_is_current(PGconn *pg, char *why, size_t cap)
{
	PGresult *r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM clawmesh_migrations");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		int e = cm_db_error(pg, r, "read the schema version");
		PQclear(r);
		snprintf(why, cap, "The database does not answer, or has no clawmesh schema.");
		return e == -CM_EINTERNAL ? -CM_EUNAVAIL : e;
	}
	int have = atoi(PQgetvalue(r, 0, 0)), want = cm_migrate_latest();
	PQclear(r);
	if (have == want)
		return 0;
	snprintf(why, cap, "The database schema is at version %d; this clawmeshd reads and writes version %d%s.", have, want,
		 have < want ? " (run clawmeshd migrate)" : "");
	return -CM_EUNAVAIL;
}

/* --- export --------------------------------------------------------------------------------- */

struct cm_export {
	PGconn *pg;
	long long revision;
	int section;       /* -1: the header is next; NTYPES: the trailer; past it: done */
	bool running;      /* sections[section]'s query is sending its rows */
	long lines;        /* written so far, the header included */
	PGresult *row;     /* holds the line being copied */
	const char *pending;
	size_t pending_len;
	bool newline;      /* the pending line's '\n' is still to come */
	int err;           /* a failure not yet returned */
	char small[96];    /* the header or trailer */
};

int cm_export_open(struct cm_export **out, char *why, size_t cap)
{
	*out = NULL;
	struct cm_export *x = calloc(1, sizeof *x);
	if (!x)
		return -CM_EINTERNAL;
	x->section = -1;
	snprintf(why, cap, "The database does not answer.");
	x->pg = cm_db_connect();
	int e = x->pg ? cm_db_run(x->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "export begin") : -CM_EUNAVAIL;
	if (e == 0)
		e = schema_is_current(x->pg, why, cap);
	if (e == 0) {
		/* The snapshot was taken by the first statement. A sequence is not transactional: read
		 * after that, its value is at least every revision the snapshot shows. */
		PGresult *r = PQexec(x->pg, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cm_revision");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			x->revision = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		else
			e = cm_db_error(x->pg, r, "export revision");
		PQclear(r);
	}
	if (e < 0) {
		cm_export_free(x);
		return e == -CM_EINTERNAL ? e : -CM_EUNAVAIL;
	}
	*out = x;
	return 0;
}

long long cm_export_revision(const struct cm_export *x)
{
	return x->revision;
}

/* Makes the next line pending: 1, 0 when there is none left, <0 on a database failure. Rows
 * arrive one at a time (single-row mode), so memory holds one row whatever the table's size. */
static int next_line(struct cm_export *x)
{
	PQclear(x->row);
	x->row = NULL;
	if (x->section < 0) {
		snprintf(x->small, sizeof x->small, "{\"type\":\"clawmesh-export\",\"format\":%d,\"revision\":%lld}",
			 CM_EXPORT_FORMAT, x->revision);
		x->section = 0;
		goto small;
	}
	while (x->section < NTYPES) {
		const struct section *s = &sections[x->section];
		if (!x->running) {
			if (!PQsendQuery(x->pg, s->select) || !PQsetSingleRowMode(x->pg))
				return cm_db_error(x->pg, NULL, s->type);
			x->running = true;
		}
		PGresult *r = PQgetResult(x->pg);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (st == PGRES_SINGLE_TUPLE) {
			x->row = r;
			x->pending = PQgetvalue(r, 0, 0);
			x->pending_len = (size_t)PQgetlength(r, 0, 0);
			x->newline = true;
			x->lines++;
			return 1;
		}
		if (st != PGRES_TUPLES_OK) {
			int e = cm_db_error(x->pg, r, s->type);
			PQclear(r);
			return e;
		}
		PQclear(r);
		while ((r = PQgetResult(x->pg))) /* the end of this query's results */
			PQclear(r);
		x->running = false;
		x->section++;
	}
	if (x->section > NTYPES)
		return 0;
	snprintf(x->small, sizeof x->small, "{\"type\":\"end\",\"lines\":%ld}", x->lines); /* the lines before it */
	x->section++;
small:
	x->pending = x->small;
	x->pending_len = strlen(x->small);
	x->newline = true;
	x->lines++;
	return 1;
}

ssize_t cm_export_read(struct cm_export *x, char *buf, size_t max)
{
	size_t n = 0;
	while (n < max) {
		if (x->pending_len) {
			size_t k = x->pending_len < max - n ? x->pending_len : max - n;
			memcpy(buf + n, x->pending, k);
			x->pending += k;
			x->pending_len -= k;
			n += k;
			continue;
		}
		if (x->newline) {
			buf[n++] = '\n';
			x->newline = false;
			continue;
		}
		if (x->err)
			break;
		int e = next_line(x);
		if (e == 0)
			break;
		if (e < 0)
			x->err = e;
	}
	if (n == 0 && x->err)
		return x->err;
	return (ssize_t)n;
}

void cm_export_free(struct cm_export *x)
{
	if (!x)
		return;
	PQclear(x->row);
	/* Closing ends the query and the snapshot with it, also when a client left midway. */
	if (x->pg)
		PQfinish(x->pg);
	free(x);
}

/* --- import --------------------------------------------------------------------------------- */

#define LOCK_TIMEOUT "15s"
#define LINE_SLACK (64 * 1024)

struct cm_import {
	PGconn *pg;
	size_t max_line;
	char *buf; /* the line being gathered, across pieces */
	size_t len, cap;
	long line;  /* lines complete so far */
	bool header, trailer;
	long imported[NTYPES], skipped[NTYPES];
	bool prepared[NTYPES];
	long long revision;
	struct cm_import_failure fail;
};

/* Records why the import is refused, about line (0 = no line), and returns -err. The first
 * reason stays: what follows a refusal only echoes it. */
static int refuse(struct cm_import *im, long line, enum cm_err err, const char *type, const char *field,
		  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int refuse(struct cm_import *im, long line, enum cm_err err, const char *type, const char *field,
		  const char *fmt, ...)
{
	if (im->fail.err)
		return -im->fail.err;
	im->fail.err = err;
	im->fail.line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(im->fail.message, sizeof im->fail.message, fmt, ap);
	va_end(ap);
	if (line > 0 || type || field) {
		cJSON *d = cJSON_CreateObject();
		if (d && line > 0)
			cJSON_AddNumberToObject(d, "line", (double)line);
		if (d && type)
			cJSON_AddStringToObject(d, "type", type);
		if (d && field)
			cJSON_AddStringToObject(d, "field", field);
		im->fail.details = d;
	}
	return -err;
}

int cm_import_begin(size_t max_value, struct cm_import **out)
{
	struct cm_import *im = calloc(1, sizeof *im);
	*out = im;
	if (!im)
		return -CM_EINTERNAL;
	/* JSON escaping can make a byte of content six (\u0001), so a line may be six times the
	 * value limit: whatever the store took, its export line is taken back. */
	im->max_line = 6 * max_value + LINE_SLACK;
	im->pg = cm_db_connect();
	if (!im->pg)
		return refuse(im, 0, CM_EUNAVAIL, NULL, NULL, "The database does not answer.");
	char why[192];
	int e = schema_is_current(im->pg, why, sizeof why);
	if (e < 0)
		return refuse(im, 0, -e, NULL, NULL, "%s", why);
	if ((e = cm_db_run(im->pg, "BEGIN", "import begin")) < 0)
		return refuse(im, 0, -e, NULL, NULL, "The database does not answer.");
	/* Every writer takes the write lock for milliseconds; waiting longer means another import. */
	e = cm_db_run(im->pg, "SET LOCAL lock_timeout = '" LOCK_TIMEOUT "'; SELECT cm_write_lock()", "import lock");
	if (e < 0)
		return refuse(im, 0, -e, NULL, NULL,
			      "The write lock stayed taken for " LOCK_TIMEOUT " (another import?); nothing was imported.");
	return 0;
}

static bool is_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	if (strlen(s) != TIME_LEN)
		return false;
	for (int i = 0; i < TIME_LEN; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	return cm_valid_time(s);
}

static bool is_hex64(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 64 && !s[n];
}

/* A whole number from 0 to 2^63 - 1 (the exact digits reach SQL as written). */
static bool is_count(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9.2e18 &&
	       floor(v->valuedouble) == v->valuedouble;
}

static bool field_ok(const struct field *f, const cJSON *v)
{
	if (cJSON_IsNull(v))
		return f->nullable || f->kind == F_ANY;
	switch (f->kind) {
	case F_TEXT:
		return cJSON_IsString(v);
	case F_ID:
		return cJSON_IsString(v) && cm_valid_id(v->valuestring);
	case F_SCOPE:
		return cJSON_IsString(v) && cm_valid_scope(v->valuestring);
	case F_KEY:
		return cJSON_IsString(v) && cm_valid_key(v->valuestring);
	case F_SKILL_NAME:
		return cJSON_IsString(v) && cm_valid_skill_name(v->valuestring);
	case F_TIME:
		return cJSON_IsString(v) && is_time(v->valuestring);
	case F_INT:
		return is_count(v);
	case F_BOOL:
		return cJSON_IsBool(v);
	case F_ANY:
		return true;
	case F_OBJECT:
		return cJSON_IsObject(v);
	case F_ARRAY:
		return cJSON_IsArray(v);
	case F_TEXTS:
		if (!cJSON_IsArray(v))
			return false;
		for (const cJSON *c = v->child; c; c = c->next)
			if (!cJSON_IsString(c))
				return false;
		return true;
	case F_HEX64:
		return cJSON_IsString(v) && is_hex64(v->valuestring);
	}
	return false;
}

static const char *kind_says(enum field_kind k)
{
	switch (k) {
	case F_TEXT:
		return "a string";
	case F_ID:
		return "a node id ([a-z0-9][a-z0-9._-]{0,63})";
	case F_SCOPE:
		return "a scope (mesh, node:<id>, user:<id> or project:<id>)";
	case F_KEY:
		return "a memory key ([A-Za-z0-9._:@-]{1,256}, not starting with .)";
	case F_SKILL_NAME:
		return "a skill name ([a-z0-9][a-z0-9-]{0,63})";
	case F_TIME:
		return "a UTC time with microseconds (2026-02-01T10:00:00.123456Z)";
	case F_INT:
		return "a whole number >= 0";
	case F_BOOL:
		return "true or false";
	case F_ANY:
		return "JSON";
	case F_OBJECT:
		return "an object";
	case F_ARRAY:
		return "an array";
	case F_TEXTS:
		return "an array of strings";
	case F_HEX64:
		return "64 lowercase hex digits";
	}
	return "?";
}

/* Every member the type has, of its kind, and no other. 0 or <0 (refused). */
static int check_fields(struct cm_import *im, const struct section *s, const cJSON *o)
{
	size_t known = 1; /* "type" */
	for (const struct field *f = s->fields; f->name; f++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);
		if (!v)
			return refuse(im, im->line, CM_EBADREQ, s->type, f->name, "Line %ld (%s) has no member %s.", im->line,
					   s->type, f->name);
		if (!field_ok(f, v))
			return refuse(im, im->line, CM_EBADREQ, s->type, f->name, "Line %ld (%s): %s must be %s%s.", im->line,
					   s->type, f->name, kind_says(f->kind), f->nullable ? " or null" : "");
		known++;
	}
	if ((size_t)cJSON_GetArraySize(o) != known)
		for (const cJSON *c = o->child; c; c = c->next) {
			bool ours = !strcmp(c->string, "type");
			for (const struct field *f = s->fields; f->name && !ours; f++)
				ours = !strcmp(c->string, f->name);
			if (!ours)
				return refuse(im, im->line, CM_EBADREQ, s->type, NULL,
						   "Line %ld (%s) has a member this format does not know.", im->line, s->type);
		}
	if (s == &sections[L_CHANGE]) {
		/* A change names a memory key, a skill or a node, by its kind. */
		const char *kind = cJSON_GetObjectItemCaseSensitive(o, "kind")->valuestring;
		const char *name = cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring;
		bool ok = !strcmp(kind, "memory") ? cm_valid_key(name)
			  : !strcmp(kind, "skill") ? cm_valid_skill_name(name)
			  : !strcmp(kind, "node")  ? cm_valid_id(name)
						   : false;
		if (!ok)
			return refuse(im, im->line, CM_EBADREQ, s->type, "name",
					   "Line %ld (change): kind is memory, skill or node, and name a key, skill name or node id of it.",
					   im->line);
	}
	/* Grants as the server reads them back (store_tokens.c): any other array would make every
	 * use of the token, and the token listing, a 500. */
	if (s == &sections[L_TOKEN]) {
		struct cm_grant g[CM_MAX_GRANTS];
		size_t n;
		const char *why = NULL;
		if (cm_grants_from_json(cJSON_GetObjectItemCaseSensitive(o, "grants"), g, &n, &why) < 0)
			return refuse(im, im->line, CM_EBADREQ, s->type, "grants", "Line %ld (token): %s.", im->line, why);
	}
	/* A delete keeps no value (the columns hold NULL). One with a value would lose it silently,
	 * and the same file imported again would then conflict with what the first import stored. */
	bool gone = s == &sections[L_MEMORY_VERSION]
			    ? !strcmp(cJSON_GetObjectItemCaseSensitive(o, "op")->valuestring, "delete")
			    : s == &sections[L_MEMORY] && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "deleted"));
	if (gone && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "value")))
		return refuse(im, im->line, CM_EBADREQ, s->type, "value", "Line %ld (%s) is a delete: its value must be null.",
			      im->line, s->type);
	return 0;
}

static int header(struct cm_import *im, const char *text, const cJSON *o)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	const cJSON *format = cJSON_GetObjectItemCaseSensitive(o, "format");
	const cJSON *rev = cJSON_GetObjectItemCaseSensitive(o, "revision");
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "clawmesh-export"))
		return refuse(im, 1, CM_EBADREQ, NULL, NULL,
				   "This is not a clawmesh export: its first line must be {\"type\":\"clawmesh-export\",…}.");
	if (!cJSON_IsNumber(format) || format->valuedouble != CM_EXPORT_FORMAT)
		return refuse(im, 1, CM_EBADREQ, "clawmesh-export", "format",
				   "This export's format is not %d, the one this clawmeshd reads.", CM_EXPORT_FORMAT);
	if (!is_count(rev) || cJSON_GetArraySize(o) != 3)
		return refuse(im, 1, CM_EBADREQ, "clawmesh-export", NULL,
				   "The header is {\"type\":\"clawmesh-export\",\"format\":1,\"revision\":N}, N a whole number.");
	/* Its digits as written: a double could round a large revision. */
	const char *p[] = {text};
	PGresult *r = PQexecParams(im->pg, "SELECT ($1::jsonb ->> 'revision')::bigint", 1, NULL, p, NULL, NULL, 0);
	int e = 0;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		im->revision = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else if (state && !strncmp(state, "22", 2))
		e = -CM_EBADREQ; /* digits bigint does not take as written (5.0): the file's fault, not ours */
	else
		e = cm_db_error(im->pg, r, "import header");
	PQclear(r);
	if (e == -CM_EBADREQ)
		return refuse(im, 1, CM_EBADREQ, "clawmesh-export", "revision",
			      "The header's revision must be a whole number written as digits, without a fraction.");
	if (e < 0)
		return refuse(im, 0, -e, NULL, NULL, "The database failed while reading the header.");
	im->header = true;
	return 0;
}

/* The key members of a line, for a conflict's details. */
static void add_key(struct cm_import *im, const struct section *s, const cJSON *o)
{
	for (const char *const *k = s->key; *k && im->fail.details; k++)
		cJSON_AddItemToObject(im->fail.details, *k, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, *k), 1));
}

/* Runs one line's statement: 0 (counted) or <0 (refused). */
static int store_line(struct cm_import *im, enum line_type t, const char *text, const cJSON *o)
{
	const struct section *s = &sections[t];
	char name[32];
	snprintf(name, sizeof name, "import_%s", s->type);
	if (!im->prepared[t]) {
		PGresult *r = PQprepare(im->pg, name, s->import, s->nparams, NULL);
		int e = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : cm_db_error(im->pg, r, name);
		PQclear(r);
		if (e < 0)
			return refuse(im, 0, -e, NULL, NULL, "The database failed; nothing was imported.");
		im->prepared[t] = true;
	}
	char line[24];
	snprintf(line, sizeof line, "%ld", im->line);
	const char *p[] = {text, line};
	PGresult *r = PQexecPrepared(im->pg, name, s->nparams, p, NULL, NULL, 0);
	int e = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))) {
			/* Data the columns refuse (a CHECK, a cast): the file's fault, not ours. */
			const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
			e = refuse(im, im->line, CM_EBADREQ, s->type, NULL, "Line %ld (%s) is refused by the database: %.200s",
					im->line, s->type, msg ? msg : "invalid data");
		} else {
			e = cm_db_error(im->pg, r, name);
			refuse(im, 0, -e, NULL, NULL, "The database failed; nothing was imported.");
		}
		PQclear(r);
		return e;
	}
	const char *outcome = PQgetvalue(r, 0, 0);
	if (!strcmp(outcome, "inserted")) {
		im->imported[t]++;
	} else if (!strcmp(outcome, "skipped")) {
		im->skipped[t]++;
	} else if (!strcmp(outcome, "bad_content")) {
		e = refuse(im, im->line, CM_EBADREQ, s->type, "sha256",
				"Line %ld (%s): sha256 and size must be those of the content.", im->line, s->type);
	} else {
		e = refuse(im, im->line, CM_ECONFLICT, s->type, NULL,
				"Line %ld (%s) conflicts with the database: a row with its key (or its revision) is there and differs. Nothing was imported.",
				im->line, s->type);
		add_key(im, s, o);
	}
	PQclear(r);
	return e;
}

/* One complete line (NUL-terminated at text[len]). cut: the file ended inside it. */
static int one_line(struct cm_import *im, char *text, size_t len, bool cut)
{
	long n = ++im->line;
	if (im->trailer)
		return refuse(im, n, CM_EBADREQ, NULL, NULL, "Line %ld follows the trailer; nothing may.", n);
	cJSON *o = NULL;
	int e = cm_json_parse(text, len, &o);
	if (e < 0 && cut)
		return refuse(im, n, CM_EBADREQ, NULL, NULL, "The file is truncated: its last line (%ld) is cut short.", n);
	if (e == -CM_EINVJSON)
		return refuse(im, n, CM_EINVJSON, NULL, NULL, "Line %ld is not a JSON document.", n);
	if (e < 0)
		return refuse(im, n, CM_EBADREQ, NULL, NULL, "Line %ld has numbers too long to take.", n);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	if (n == 1) {
		e = cJSON_IsObject(o) ? header(im, text, o) : header(im, text, NULL);
	} else if (!cJSON_IsObject(o) || !cJSON_IsString(type)) {
		e = refuse(im, n, CM_EBADREQ, NULL, NULL, "Line %ld is not an object with a \"type\".", n);
	} else if (!strcmp(type->valuestring, "end")) {
		const cJSON *lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
		if (!is_count(lines) || cJSON_GetArraySize(o) != 2)
			e = refuse(im, n, CM_EBADREQ, "end", "lines", "The trailer is {\"type\":\"end\",\"lines\":K}.");
		else if (lines->valuedouble != (double)(n - 1))
			e = refuse(im, n, CM_EBADREQ, "end", "lines",
					"The file is truncated or spliced: its trailer counts %.0f lines, but %ld came before it.",
					lines->valuedouble, n - 1);
		else
			im->trailer = true;
	} else {
		enum line_type t = 0;
		while (t < NTYPES && strcmp(sections[t].type, type->valuestring))
			t++;
		if (t == NTYPES)
			e = refuse(im, n, CM_EBADREQ, NULL, "type", "Line %ld has a type this format does not know.", n);
		else if ((e = check_fields(im, &sections[t], o)) == 0)
			e = store_line(im, t, text, o);
	}
	cJSON_Delete(o);
	return e;
}

int cm_import_feed(struct cm_import *im, const char *data, size_t len)
{
	if (im->fail.err)
		return -im->fail.err;
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t take = (size_t)((nl ? nl : end) - p);
		if (im->len + take > im->max_line)
			return refuse(im, im->line + 1, CM_EBADREQ, NULL, NULL,
					   "Line %ld is longer than %zu bytes (six times --max-value, plus 64 KiB); an import with a"
					   " larger --max-value takes it.",
					   im->line + 1, im->max_line);
		if (im->len + take + 1 > im->cap) {
			size_t cap = im->cap ? im->cap : 64 * 1024;
			while (cap < im->len + take + 1)
				cap *= 2;
			char *b = realloc(im->buf, cap);
			if (!b)
				return refuse(im, 0, CM_EINTERNAL, NULL, NULL, "Out of memory.");
			im->buf = b;
			im->cap = cap;
		}
		memcpy(im->buf + im->len, p, take);
		im->len += take;
		im->buf[im->len] = '\0';
		p += take;
		if (!nl)
			break;
		p++;
		size_t n = im->len;
		im->len = 0;
		int e = one_line(im, im->buf, n, false);
		if (e < 0)
			return e;
	}
	return 0;
}

/* What the writers rely on, checked once rows were imported: every version has its head, at
 * that version or above (else the next write would number a version that exists), and every
 * skill head its version. A file cut at a line boundary and given a new trailer, or edited,
 * could break that; an export never does. 0 or <0 (refused). */
#define CONSISTENT                                                                                              \
	"SELECT * FROM ("                                                                                       \
	" (SELECT 'memory_version', h.scope, h.key, h.version FROM memory_history h LEFT JOIN memory m"          \
	" ON m.scope = h.scope AND m.key = h.key WHERE m.version IS NULL OR h.version > m.version LIMIT 1)"    \
	" UNION ALL (SELECT 'skill_version', v.scope, v.name, v.version FROM skill_versions v LEFT JOIN skills s" \
	" ON s.scope = v.scope AND s.name = v.name WHERE s.version IS NULL OR v.version > s.version LIMIT 1)"  \
	" UNION ALL (SELECT 'skill', s.scope, s.name, s.version FROM skills s WHERE NOT EXISTS (SELECT FROM"      \
	" skill_versions v WHERE v.scope = s.scope AND v.name = s.name AND v.version = s.version) LIMIT 1)) x LIMIT 1"

static int consistent(struct cm_import *im)
{
	/* A stand-in skill head still there: a skill version whose skill line never came. */
	PGresult *r = PQexec(im->pg, "SELECT -max(revision) FROM skills WHERE revision < 0");
	int e = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		e = cm_db_error(im->pg, r, "import skill heads");
	} else if (!PQgetisnull(r, 0, 0)) {
		long n = atol(PQgetvalue(r, 0, 0));
		e = refuse(im, n, CM_EBADREQ, "skill_version", NULL,
			   "Line %ld (skill_version) is a version of a skill that has no skill line: the file is incomplete.", n);
	}
	PQclear(r);
	if (e < 0)
		return im->fail.err ? e : refuse(im, 0, -e, NULL, NULL, "The database failed; nothing was imported.");
	r = PQexec(im->pg, CONSISTENT);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		e = cm_db_error(im->pg, r, "import consistency");
		refuse(im, 0, -e, NULL, NULL, "The database failed; nothing was imported.");
	} else if (PQntuples(r)) {
		const char *type = PQgetvalue(r, 0, 0);
		bool head = !strcmp(type, "skill");
		e = refuse(im, 0, CM_EBADREQ, type, NULL,
			   "The file is incomplete: %s %s/%s version %s has %s.", type, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
			   PQgetvalue(r, 0, 3), head ? "no skill_version of that version" : "no head line at that version or above");
		cJSON_AddStringToObject(im->fail.details, "scope", PQgetvalue(r, 0, 1));
		cJSON_AddStringToObject(im->fail.details, strncmp(type, "skill", 5) ? "key" : "name", PQgetvalue(r, 0, 2));
		cJSON_AddNumberToObject(im->fail.details, "version", atof(PQgetvalue(r, 0, 3)));
	}
	PQclear(r);
	return e;
}

int cm_import_finish(struct cm_import *im)
{
	if (im->fail.err)
		return -im->fail.err;
	int e = 0;
	if (im->len) { /* a last line without its '\n' */
		size_t n = im->len;
		im->len = 0;
		if ((e = one_line(im, im->buf, n, true)) < 0)
			return e;
	}
	if (!im->header)
		return refuse(im, 0, CM_EBADREQ, NULL, NULL, "The body is empty: an export starts with its header line.");
	if (!im->trailer)
		return refuse(im, 0, CM_EBADREQ, NULL, NULL,
			      "The file is truncated: it does not end with its trailer {\"type\":\"end\",\"lines\":K}. Nothing was imported.");
	long imported = 0;
	for (int t = 0; t < NTYPES; t++)
		imported += im->imported[t];
	if (imported && (e = consistent(im)) < 0)
		return e;
	/* The feed's horizon (0004): rows below the first change row are not there to follow. A
	 * store that pruned its feed exports only the rows after its horizon; imported into an
	 * empty database, a follower from before them must get 410, not a silent gap. */
	if (im->imported[L_CHANGE] && (e = cm_db_run(im->pg,
						  "UPDATE cm_feed SET horizon = c.first - 1 FROM (SELECT min(revision) AS first FROM changes) c"
						  " WHERE horizon < c.first - 1",
						  "import horizon")) < 0)
		return refuse(im, 0, -e, NULL, NULL, "The database failed; nothing was imported.");
	/* New writes must number after everything imported (the header's revision is at least
	 * every one in an export; the maxima guard an edited file). setval is not transactional:
	 * it comes last, once nothing can refuse the import any more, and only when rows were
	 * imported, since an import of nothing rolls back and must leave the store as it was (a
	 * header naming a revision above the store's moved it, rollback or not). The summary then
	 * names the store's revision. The notification wakes the change feed's listeners, on every
	 * replica, once this commits. */
	char rev[24];
	snprintf(rev, sizeof rev, "%lld", im->revision);
	const char *p[] = {rev, imported ? "true" : "false"};
	PGresult *r = PQexecParams(im->pg,
				   "WITH cur AS (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS v FROM cm_revision),"
				   " want AS (SELECT greatest($1::bigint, (SELECT max(revision) FROM changes),"
				   " (SELECT max(revision) FROM memory_history), (SELECT max(revision) FROM skill_versions)) AS v)"
				   " SELECT CASE WHEN $2::boolean AND want.v > cur.v THEN setval('cm_revision', want.v) ELSE cur.v END,"
				   " CASE WHEN $2::boolean THEN pg_notify('clawmesh_changes', '') END FROM cur, want",
				   2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		im->revision = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		e = cm_db_error(im->pg, r, "import revision");
	PQclear(r);
	if (e == 0) {
		/* Nothing imported, nothing to commit: a rollback also keeps the statement trigger on
		 * changes (0004) from waking every follower of the feed for an idempotent re-import. */
		const char *end = imported ? "COMMIT" : "ROLLBACK";
		r = PQexec(im->pg, end);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			e = cm_db_error(im->pg, r, end);
		else if (strcmp(PQcmdStatus(r), end))
			e = -CM_EINTERNAL;
		PQclear(r);
	}
	if (e < 0)
		return refuse(im, 0, -e, NULL, NULL, "The database failed; nothing was imported.");
	return 0;
}

struct cm_import_failure *cm_import_failure(struct cm_import *im)
{
	return &im->fail;
}

void cm_import_counts(const struct cm_import *im, long *lines, long *imported, long *skipped)
{
	*lines = im->line;
	*imported = *skipped = 0;
	for (int t = 0; t < NTYPES; t++) {
		*imported += im->imported[t];
		*skipped += im->skipped[t];
	}
}

char *cm_import_summary(const struct cm_import *im)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *in = cJSON_AddObjectToObject(o, "imported");
	cJSON *sk = cJSON_AddObjectToObject(o, "skipped");
	for (int t = 0; in && sk && t < NTYPES; t++) {
		cJSON_AddNumberToObject(in, sections[t].type, (double)im->imported[t]);
		cJSON_AddNumberToObject(sk, sections[t].type, (double)im->skipped[t]);
	}
	/* The trailer's count: the lines before it. */
	cJSON_AddNumberToObject(o, "lines", (double)(im->trailer ? im->line - 1 : im->line));
	cJSON_AddNumberToObject(o, "revision", (double)im->revision);
	char *s = cm_json_render(o, NULL);
	cJSON_Delete(o);
	return s;
}

void cm_import_free(struct cm_import *im)
{
	if (!im)
		return;
	/* Closing without COMMIT rolls back: a refused import, or a client that left midway. */
	if (im->pg)
		PQfinish(im->pg);
	cJSON_Delete(im->fail.details);
	free(im->buf);
	free(im);
}
