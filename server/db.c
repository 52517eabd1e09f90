/* libpq underneath every store: one connection per worker thread (libmicrohttpd's pool threads
 * each own one, so a request never waits for a connection), statements prepared lazily per
 * connection, and reconnect without restarting. An idle connection whose socket has become
 * readable is being closed by the server (restart, failover): it is replaced before use, so a
 * database restart costs no failed request once the database answers again. That check is a
 * system call; a connection that answered under a millisecond ago (a busy one) skips it. */
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/log.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STMTS 256
/* While the database is down, connection attempts (from all threads together) are spaced this
 * far apart; the first success clears it, so every thread reconnects at once. */
#define RECONNECT_INTERVAL_MS 100

struct conn {
	PGconn *pg;
	uint64_t prepared[MAX_STMTS / 64];
	/* Between cm_db_begin() and its end: a connection lost meanwhile took the transaction with
	 * it, so no statement may run on a replacement until the caller has ended it. */
	bool in_tx;
	long long answered_ns; /* when its last statement's result came (now_ns()), 0 = never */
};

/* A connection that answered this recently is not checked for being closed before its next
 * statement: a server ending it in that window costs that one statement (a 503, like a statement
 * running when the server stops), and a busy connection saves a poll() per statement. */
#define RECHECK_AFTER_NS 1000000LL

static long long next_attempt_ms; /* atomic; 0 = the database was reachable last time */
/* For /metrics (atomic): pooled connections open now, made, and failed attempts. */
static long long pool_open, pool_connects, pool_failures;

static char *conninfo;
static pthread_key_t conn_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int next_slot; /* under slot_lock */
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct conn *tls_conn;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ms(void)
{
	return now_ns() / 1000000;
}

static void conn_free(void *p)
{
	struct conn *c = p;
	if (!c)
		return;
	if (c->pg) {
		PQfinish(c->pg);
		__atomic_sub_fetch(&pool_open, 1, __ATOMIC_RELAXED);
	}
	free(c);
}

static void make_key(void)
{
	pthread_key_create(&conn_key, conn_free);
}

int cm_db_init(const struct cm_config *cfg)
{
	pthread_once(&key_once, make_key);
	free(conninfo);
	conninfo = strdup(cfg->database_url ? cfg->database_url : "");
	return conninfo ? 0 : -CM_EINTERNAL;
}

void cm_db_shutdown(void)
{
	cm_db_thread_release();
	free(conninfo);
	conninfo = NULL;
}

void cm_db_thread_release(void)
{
	if (tls_conn) {
		pthread_setspecific(conn_key, NULL);
		conn_free(tls_conn);
		tls_conn = NULL;
	}
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Our defaults come first: the configured conninfo (expanded from "dbname") overrides them. */
static PGconn *connect_with(const char *statement_timeout)
{
	/* Keepalives and tcp_user_timeout bound how long a silently dead TCP peer (a failover, a
	 * pulled cable) can hold a worker thread; statement_timeout cannot, it runs server-side. */
	const char *keys[] = {"application_name", "connect_timeout", "client_encoding", "keepalives",
			      "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			      "options", "dbname", NULL};
	const char *vals[] = {"clawmeshd", "5", "UTF8", "1", "30", "10", "3", "30000", statement_timeout,
			      conninfo ? conninfo : "", NULL};
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (!pg)
		return NULL;
	if (PQstatus(pg) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		const char *msg = PQerrorMessage(pg);
		size_t n = strcspn(msg, "\n");
		cm_log_warn("db: cannot connect: %.*s", (int)(n > 300 ? 300 : n), msg);
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, quiet_notices, NULL);
	return pg;
}

PGconn *cm_db_connect(void)
{
	return connect_with("");
}

static void drop(struct conn *c)
{
	if (c->pg) {
		PQfinish(c->pg);
		__atomic_sub_fetch(&pool_open, 1, __ATOMIC_RELAXED);
	}
	c->pg = NULL;
	c->answered_ns = 0;
	memset(c->prepared, 0, sizeof c->prepared);
}

/* A statement timeout or a deadlock leaves the connection usable; a lost one does not. */
static void drop_if_broken(struct conn *c)
{
	if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
		drop(c);
}

/* This thread's live connection, or NULL while the database is unreachable. */
static struct conn *acquire(void)
{
	struct conn *c = tls_conn;
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c)
			return NULL;
		pthread_once(&key_once, make_key);
		pthread_setspecific(conn_key, c);
		tls_conn = c;
	}
	if (c->pg && !c->in_tx && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE &&
	    now_ns() - c->answered_ns >= RECHECK_AFTER_NS) {
		/* An idle pooled connection has nothing to read unless the server is ending it (its
		 * FATAL message, then EOF, may arrive in separate reads): replace it before use. */
		struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
		if (poll(&pfd, 1, 0) != 0)
			drop(c);
	}
	if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
		drop(c);
	if (!c->pg && c->in_tx)
		return NULL;
	if (!c->pg) {
		long long t = now_ms();
		if (t < __atomic_load_n(&next_attempt_ms, __ATOMIC_RELAXED))
			return NULL;
		c->pg = connect_with("-c statement_timeout=15000");
		if (!c->pg) {
			/* Only a failure holds the others back; threads connecting to a healthy
			 * database never wait for each other. */
			__atomic_store_n(&next_attempt_ms, now_ms() + RECONNECT_INTERVAL_MS, __ATOMIC_RELAXED);
			__atomic_add_fetch(&pool_failures, 1, __ATOMIC_RELAXED);
			return NULL;
		}
		__atomic_add_fetch(&pool_open, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&pool_connects, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&next_attempt_ms, 0, __ATOMIC_RELAXED);
	}
	return c;
}

static bool sqlstate_is_unavailable(const char *state)
{
	/* 08: connection exception; 57P01-03: shutdown or starting up; 53: out of resources;
	 * 57014: statement timeout or cancel; 40001/40P01: serialization failure or deadlock;
	 * 55P03: lock not available. All transient: the client should retry, not report a bug. */
	static const char *const transient[] = {"57014", "40001", "40P01", "55P03"};
	if (!state)
		return false;
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2))
		return true;
	for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
		if (!strcmp(state, transient[i]))
			return true;
	return false;
}

int cm_db_state_error(const char *state, const char *msg, const char *what)
{
	if (sqlstate_is_unavailable(state))
		return -CM_EUNAVAIL;
	if (state && !strcmp(state, "23505"))
		return -CM_ECONFLICT;
	cm_log_error("db: %s failed: %s %s", what, state ? state : "-", msg ? msg : "");
	return -CM_EINTERNAL;
}

int cm_db_error(PGconn *pg, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!pg || PQstatus(pg) != CONNECTION_OK || sqlstate_is_unavailable(state))
		return -CM_EUNAVAIL;
	/* The primary message only: DETAIL may quote row values. */
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	return cm_db_state_error(state, msg ? msg : PQerrorMessage(pg), what);
}

/* A statement's result: 0 with *res, or the mapped error (the connection dropped if broken). */
static int finish(struct conn *c, PGresult *r, const char *what, PGresult **res)
{
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
		c->answered_ns = now_ns();
		*res = r;
		return 0;
	}
	int e = cm_db_error(c->pg, r, what);
	PQclear(r);
	drop_if_broken(c);
	return e;
}

int cm_db_exec(struct cm_stmt *st, const char *const *params, PGresult **res)
{
	*res = NULL;
	int slot = __atomic_load_n(&st->slot, __ATOMIC_ACQUIRE);
	if (slot < 0) {
		/* Once per statement per process: a lock keeps racing threads from burning slots. */
		pthread_mutex_lock(&slot_lock);
		if (st->slot < 0 && next_slot < MAX_STMTS)
			__atomic_store_n(&st->slot, next_slot++, __ATOMIC_RELEASE);
		slot = st->slot;
		pthread_mutex_unlock(&slot_lock);
		if (slot < 0) {
			cm_log_error("db: more than %d statements", MAX_STMTS);
			return -CM_EINTERNAL;
		}
	}
	struct conn *c = acquire();
	if (!c || !c->pg)
		return -CM_EUNAVAIL;

	char name[16];
	snprintf(name, sizeof name, "s%d", slot);
	uint64_t bit = 1ULL << (slot % 64);
	if (!(c->prepared[slot / 64] & bit)) {
		PGresult *p = PQprepare(c->pg, name, st->sql, st->nparams, NULL);
		if (!p || PQresultStatus(p) != PGRES_COMMAND_OK) {
			int r = cm_db_error(c->pg, p, st->name);
			PQclear(p);
			drop_if_broken(c);
			return r;
		}
		PQclear(p);
		c->prepared[slot / 64] |= bit;
	}
	return finish(c, PQexecPrepared(c->pg, name, st->nparams, params, NULL, NULL, 0), st->name, res);
}

int cm_db_query(const char *what, const char *sql, int nparams, const char *const *params, PGresult **res)
{
	*res = NULL;
	struct conn *c = acquire();
	if (!c || !c->pg)
		return -CM_EUNAVAIL;
	return finish(c, PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0), what, res);
}

static int simple(const char *sql)
{
	struct conn *c = acquire();
	if (!c || !c->pg)
		return -CM_EUNAVAIL;
	PGresult *r = PQexec(c->pg, sql);
	int e = 0;
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		e = cm_db_error(c->pg, r, sql);
		drop_if_broken(c);
	}
	PQclear(r);
	return e;
}

int cm_db_begin(void)
{
	int e = simple("BEGIN");
	if (e == 0)
		tls_conn->in_tx = true;
	return e;
}

int cm_db_commit(void)
{
	struct conn *c = tls_conn;
	bool open = c && c->in_tx;
	if (c)
		c->in_tx = false;
	if (!open || !c->pg)
		return -CM_EUNAVAIL; /* the connection, and the transaction with it, is gone */
	PGresult *r = PQexec(c->pg, "COMMIT");
	int e = 0;
	if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
		e = cm_db_error(c->pg, r, "COMMIT");
		drop_if_broken(c);
	} else if (strcmp(PQcmdStatus(r), "COMMIT")) {
		/* COMMIT of a transaction that failed earlier answers ROLLBACK, not an error. */
		cm_log_error("db: COMMIT rolled back a failed transaction");
		e = -CM_EINTERNAL;
	}
	PQclear(r);
	return e;
}

void cm_db_end_request(void)
{
	/* A handler that returned inside a transaction must not hand it to the next request. */
	if (tls_conn)
		tls_conn->in_tx = false;
	if (tls_conn && tls_conn->pg && PQtransactionStatus(tls_conn->pg) != PQTRANS_IDLE) {
		cm_db_rollback();
		if (PQtransactionStatus(tls_conn->pg) != PQTRANS_IDLE)
			drop(tls_conn);
	}
}

void cm_db_rollback(void)
{
	if (tls_conn && tls_conn->pg && PQtransactionStatus(tls_conn->pg) != PQTRANS_IDLE)
		(void)simple("ROLLBACK");
	if (tls_conn)
		tls_conn->in_tx = false;
}

void cm_db_pool_stats(long long *open, long long *connects, long long *failures)
{
	*open = __atomic_load_n(&pool_open, __ATOMIC_RELAXED);
	*connects = __atomic_load_n(&pool_connects, __ATOMIC_RELAXED);
	*failures = __atomic_load_n(&pool_failures, __ATOMIC_RELAXED);
}

int cm_db_run(PGconn *pg, const char *sql, const char *what)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType s = PQresultStatus(r);
	int e = (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) ? 0 : cm_db_error(pg, r, what);
	PQclear(r);
	return e;
}
