/* The database layer: one libpq connection per worker thread, statements prepared once per
 * connection, transparent reconnect, and the mapping of failures to CM_EUNAVAIL. */
#ifndef CLAWMESH_DB_H
#define CLAWMESH_DB_H
#include "clawmesh/config.h"

#include <libpq-fe.h>
#include <stdbool.h>

/* A statement a store_*.c file declares once, statically; it is prepared lazily on each
 * connection the first time that connection runs it. */
struct cm_stmt {
	const char *name; /* for logs */
	const char *sql;
	int nparams;
	int slot; /* assigned on first use; -1 before */
};
#define CM_STMT(var, nparams, sql) static struct cm_stmt var = {#var, sql, nparams, -1}

int cm_db_init(const struct cm_config *cfg);
void cm_db_shutdown(void);
/* Closes this thread's connection (the main thread's, for CLI commands). */
void cm_db_thread_release(void);

/* Runs st with text parameters (NULL = SQL NULL) on this thread's connection. 0 with *res
 * (caller PQclear()s), -CM_EUNAVAIL when the database cannot be reached, -CM_ECONFLICT on a
 * unique violation, -CM_EINTERNAL otherwise (logged). */
int cm_db_exec(struct cm_stmt *st, const char *const *params, PGresult **res);
/* A statement built at run time (listings with optional filters): parameterised like cm_db_exec,
 * but parsed and planned on every call. what names it in logs. */
int cm_db_query(const char *what, const char *sql, int nparams, const char *const *params, PGresult **res);
/* BEGIN / COMMIT / ROLLBACK on this thread's connection. If the connection is lost inside the
 * transaction, every statement fails with -CM_EUNAVAIL until ROLLBACK or the request's end, so
 * nothing runs half outside it; COMMIT then reports -CM_EUNAVAIL. */
int cm_db_begin(void);
int cm_db_commit(void);
void cm_db_rollback(void);
/* Called after every request: rolls back (or drops) whatever transaction is still open. */
void cm_db_end_request(void);

/* The worker threads' pool, for /metrics: connections open now, connections made since start,
 * and attempts that failed. */
void cm_db_pool_stats(long long *open, long long *connects, long long *failures);

/* A fresh connection of its own (migrations, bootstrap); NULL with a logged reason. */
PGconn *cm_db_connect(void);
/* Runs sql (no parameters) on a connection of its own: 0, or cm_db_error()'s answer. */
int cm_db_run(PGconn *pg, const char *sql, const char *what);
/* Maps a failed result on conn to -CM_EUNAVAIL or -CM_EINTERNAL, logging the latter. */
int cm_db_error(PGconn *conn, const PGresult *res, const char *what);
/* The same for an error caught inside a statement (an op of a group), by its SQLSTATE and primary
 * message: -CM_EUNAVAIL when transient, -CM_ECONFLICT on a unique violation, else -CM_EINTERNAL
 * (logged). */
int cm_db_state_error(const char *state, const char *msg, const char *what);

#endif
