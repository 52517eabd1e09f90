/* Shared by the store_*.c files: status names of the database functions, raw JSON rows, and the
 * listing query builder. */
#include "clawmesh/store.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cm_store_result_clear(struct cm_store_result *r)
{
	free(r->entry);
	memset(r, 0, sizeof *r);
	r->version = -1;
}

int cm_store_result_from_row(const PGresult *r, int row, int col, struct cm_store_result *out)
{
	static const char *const names[] = {
		[CM_ST_CREATED] = "created",
		[CM_ST_UPDATED] = "updated",
		[CM_ST_UNCHANGED] = "unchanged",
		[CM_ST_DELETED] = "deleted",
		[CM_ST_FOUND] = "found",
		[CM_ST_ALREADY_EXISTS] = "already_exists",
		[CM_ST_VERSION_MISMATCH] = "version_mismatch",
		[CM_ST_NOT_FOUND] = "not_found",
		[CM_ST_TOO_LARGE] = "too_large",
		[CM_ST_BAD_EXPIRY] = "bad_expiry",
		[CM_ST_STALE] = "stale",
	};
	cm_store_result_clear(out);
	const char *name = PQgetvalue(r, row, col);
	size_t s = 0;
	while (s < sizeof names / sizeof names[0] && strcmp(names[s], name))
		s++;
	if (s == sizeof names / sizeof names[0]) {
		cm_log_error("store: a write function answered an unknown status %.32s", name);
		return -CM_EINTERNAL;
	}
	out->status = (enum cm_store_status)s;
	out->version = PQgetisnull(r, row, col + 1) ? -1 : atoi(PQgetvalue(r, row, col + 1));
	if (!PQgetisnull(r, row, col + 2) && !(out->entry = strdup(PQgetvalue(r, row, col + 2))))
		return -CM_EINTERNAL;
	return 0;
}

int cm_store_found(PGresult *r, struct cm_store_result *out, char **extra)
{
	int e = -CM_ENOTFOUND;
	cm_store_result_clear(out);
	if (PQntuples(r) == 1) {
		out->status = CM_ST_FOUND;
		out->version = atoi(PQgetvalue(r, 0, 0));
		e = (out->entry = strdup(PQgetvalue(r, 0, 1))) ? 0 : -CM_EINTERNAL;
		if (e == 0 && extra && !(*extra = strdup(PQgetvalue(r, 0, 2))))
			e = -CM_EINTERNAL;
	}
	PQclear(r);
	return e;
}

int cm_store_written(PGresult *r, struct cm_store_result *out)
{
	int e = PQntuples(r) == 1 ? cm_store_result_from_row(r, 0, 0, out) : -CM_EINTERNAL;
	PQclear(r);
	return e;
}

int cm_store_append_raw(const PGresult *r, int rows, int col, cJSON *items)
{
	for (int i = 0; i < rows; i++) {
		cJSON *raw = cJSON_CreateRaw(PQgetvalue(r, i, col));
		if (!raw)
			return -CM_EINTERNAL;
		cJSON_AddItemToArray(items, raw);
	}
	return 0;
}

void cm_query_add(struct cm_query *q, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(q->sql + q->len, sizeof q->sql - q->len, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof q->sql - q->len)
		q->overflow = true;
	else
		q->len += (size_t)w;
}

int cm_query_param(struct cm_query *q, const char *value)
{
	if (q->n == (int)(sizeof q->params / sizeof q->params[0])) {
		q->overflow = true;
		return 1;
	}
	q->params[q->n++] = value;
	return q->n;
}

int cm_store_version_page(struct cm_stmt *page, struct cm_stmt *exists, const char *scope, const char *name,
			  int before, unsigned limit, cJSON *items, int *next)
{
	char b[16], lim[16];
	snprintf(b, sizeof b, "%d", before);
	snprintf(lim, sizeof lim, "%u", limit + 1);
	const char *p[] = {scope, name, b, lim};
	PGresult *r;
	int e = cm_db_exec(page, p, &r);
	if (e < 0)
		return e;
	int n = PQntuples(r);
	*next = 0;
	if (n == 0 && before == 0) {
		e = -CM_ENOTFOUND;
	} else if (n == 0) {
		/* A page below the oldest version: fine if the key or skill exists at all. */
		PQclear(r);
		const char *q[] = {scope, name};
		if ((e = cm_db_exec(exists, q, &r)) < 0)
			return e;
		e = PQntuples(r) ? 0 : -CM_ENOTFOUND;
	} else {
		int shown = n > (int)limit ? (int)limit : n;
		int fetched = PQnfields(r) > 2 ? atoi(PQgetvalue(r, 0, 2)) : n;
		e = cm_store_append_raw(r, shown, 1, items);
		if (fetched > shown)
			*next = atoi(PQgetvalue(r, shown - 1, 0));
	}
	PQclear(r);
	return e;
}
