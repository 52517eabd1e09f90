/* Migrations runner. Files NNNN_name.sql are compiled in (tools/embed.c); the database records
 * what it has in clawmesh_migrations with each file's SHA-256, so an edited landed migration is
 * refused instead of silently diverging. One transaction per file; a session advisory lock makes
 * two processes starting at once apply each file exactly once. */
#include "clawmesh/migrate.h"
#include "clawmesh/db.h"
#include "clawmesh/embedded.h"
#include "clawmesh/err.h"
#include "clawmesh/hex.h"
#include "clawmesh/log.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCK_KEY "7316040533871625031" /* arbitrary, constant: clawmesh's migration lock */

static int migration_number(const char *name)
{
	if (!isdigit((unsigned char)name[0]) || strlen(name) < 6 || strcmp(name + strlen(name) - 4, ".sql"))
		return -1;
	return atoi(name);
}

int cm_migrate_latest(void)
{
	int latest = 0;
	for (size_t i = 0; i < cm_embedded_count; i++) {
		int n = migration_number(cm_embedded_files[i].name);
		if (n > latest)
			latest = n;
	}
	return latest;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char d[32];
	unsigned int n = sizeof d;
	EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
	cm_hex_encode(d, sizeof d, out);
}

/* 0 = not applied yet, 1 = applied with the same content, negative = error or edited. */
static int applied_state(PGconn *pg, int number, const char *name, const char *sum)
{
	char num[16];
	snprintf(num, sizeof num, "%d", number);
	const char *p[] = {num};
	PGresult *r = PQexecParams(pg, "SELECT sha256 FROM clawmesh_migrations WHERE version = $1", 1, NULL, p,
				   NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		int e = cm_db_error(pg, r, "read migrations");
		PQclear(r);
		return e;
	}
	int state = 0;
	if (PQntuples(r) == 1) {
		if (strcmp(PQgetvalue(r, 0, 0), sum)) {
			cm_log_error("migrate: %s was changed after it was applied; add a new migration instead", name);
			state = -CM_EINTERNAL;
		} else {
			state = 1;
		}
	}
	PQclear(r);
	return state;
}

static int apply_one(PGconn *pg, const struct cm_embedded *f, int number, const char *sum)
{
	int e = cm_db_run(pg, "BEGIN", "begin migration");
	if (e < 0)
		return e;
	e = cm_db_run(pg, f->data, f->name);
	if (e == 0) {
		char num[16];
		snprintf(num, sizeof num, "%d", number);
		const char *p[] = {num, f->name, sum};
		PGresult *r = PQexecParams(pg,
					   "INSERT INTO clawmesh_migrations (version, name, sha256) VALUES ($1, $2, $3)",
					   3, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			e = cm_db_error(pg, r, "record migration");
		PQclear(r);
	}
	if (e == 0)
		e = cm_db_run(pg, "COMMIT", "commit migration");
	if (e < 0)
		(void)cm_db_run(pg, "ROLLBACK", "rollback migration");
	return e;
}

int cm_migrate_run(int *applied)
{
	*applied = 0;
	PGconn *pg = cm_db_connect();
	if (!pg)
		return -CM_EUNAVAIL;
	int e = cm_db_run(pg, "SELECT pg_advisory_lock(" LOCK_KEY ")", "migration lock");
	if (e == 0)
		e = cm_db_run(pg,
			    "SET client_min_messages = warning;"
			    "CREATE TABLE IF NOT EXISTS clawmesh_migrations ("
			    " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL,"
			    " applied_at timestamptz NOT NULL DEFAULT now())",
			    "create migrations table");

	/* Files in number order; the embedded list is in build order, so sort by picking. */
	int done = 0;
	while (e == 0) {
		const struct cm_embedded *next = NULL;
		int next_no = 0;
		for (size_t i = 0; i < cm_embedded_count; i++) {
			int n = migration_number(cm_embedded_files[i].name);
			if (n > done && (!next || n < next_no)) {
				next = &cm_embedded_files[i];
				next_no = n;
			}
		}
		if (!next)
			break;
		char sum[65];
		sha256_hex(next->data, next->len, sum);
		int state = applied_state(pg, next_no, next->name, sum);
		if (state < 0) {
			e = state;
			break;
		}
		if (state == 0) {
			e = apply_one(pg, next, next_no, sum);
			if (e < 0) {
				cm_log_error("migrate: %s failed", next->name);
				break;
			}
			cm_log_info("migrate: applied %s", next->name);
			(*applied)++;
		}
		done = next_no;
	}
	(void)cm_db_run(pg, "SELECT pg_advisory_unlock(" LOCK_KEY ")", "migration unlock");
	PQfinish(pg);
	return e;
}

CM_STMT(stmt_current, 0,
	"SELECT coalesce(max(version), 0) FROM clawmesh_migrations");

int cm_migrate_current(int *version)
{
	PGresult *r;
	int e = cm_db_exec(&stmt_current, NULL, &r);
	if (e < 0)
		return e;
	*version = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}
