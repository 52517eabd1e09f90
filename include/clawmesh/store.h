/* What every store_*.c shares: the outcome of a write or read as the database functions name it,
 * and a builder for listing queries assembled from fixed fragments with every value a parameter. */
#ifndef CLAWMESH_STORE_H
#define CLAWMESH_STORE_H
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* What a write or read did: the first five are done, the rest refusals (nothing written). The
 * database functions (cm_memory_write, cm_skill_write, cm_node_write) name them; the stores map
 * the names once, here. */
enum cm_store_status {
	CM_ST_CREATED,
	CM_ST_UPDATED,
	CM_ST_UNCHANGED,
	CM_ST_DELETED,
	CM_ST_FOUND,
	CM_ST_ALREADY_EXISTS,
	CM_ST_VERSION_MISMATCH,
	CM_ST_NOT_FOUND,
	CM_ST_TOO_LARGE,
	CM_ST_BAD_EXPIRY,
	CM_ST_STALE, /* a bridge message older than what is stored: not applied */
};
#define CM_ST_DONE(s) ((s) <= CM_ST_FOUND)

struct cm_store_result {
	enum cm_store_status status;
	int version; /* the current version, -1 when there is none */
	char *entry; /* the entry, skill or node as JSON text, or NULL; caller frees */
};

void cm_store_result_clear(struct cm_store_result *r);
/* Fills out from columns col (status name), col + 1 (version) and col + 2 (JSON text) of a row. */
int cm_store_result_from_row(const PGresult *r, int row, int col, struct cm_store_result *out);
/* The one row of a read, if any: version in column 0, JSON in column 1 and, when extra is not
 * NULL, column 2 as text into *extra (caller frees). 0 with out->status CM_ST_FOUND, or
 * -CM_ENOTFOUND. Clears r. */
int cm_store_found(PGresult *r, struct cm_store_result *out, char **extra);
/* The one row a write function answers (status, version, JSON), into out. Clears r. */
int cm_store_written(PGresult *r, struct cm_store_result *out);
/* Appends column col of the first rows rows to items as raw JSON. */
int cm_store_append_raw(const PGresult *r, int rows, int col, cJSON *items);

/* A page of versions, newest first (a key's history, a skill's versions): runs page with
 * (scope, name, before, limit + 1), whose rows are (version, JSON[, rows fetched before a byte cap
 * cut the page]), appends up to limit of them to items and sets *next to the version to continue
 * below (0 = the last page). An empty page is -CM_ENOTFOUND unless before is set and exists
 * (scope, name) has a row. */
struct cm_stmt;
int cm_store_version_page(struct cm_stmt *page, struct cm_stmt *exists, const char *scope, const char *name,
			  int before, unsigned limit, cJSON *items, int *next);

/* A listing query assembled from fixed fragments; every value is a parameter. */
struct cm_query {
	char sql[4096];
	size_t len;
	const char *params[20];
	int n;
	bool overflow;
};
/* Appends printf-formatted SQL; overflow is set (and checked by the caller) when it does not fit. */
void cm_query_add(struct cm_query *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a parameter (not copied: it must outlive the query); its number for the SQL text. */
int cm_query_param(struct cm_query *q, const char *value);

/* A page holds at most `limit` rows and, past its first row, at most this many bytes of values or
 * contents: listings choose their rows first, then cut where the running sum of stored sizes
 * passes the cap, and render only the rows kept. */
#define CM_PAGE_BYTES "4194304"

#endif
