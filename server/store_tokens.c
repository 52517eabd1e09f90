/* SQL for tokens. The secret hash travels as hex text and is decoded in SQL; every statement is
 * parameterised and prepared once per connection. */
#include "clawmesh/store_tokens.h"
#include "clawmesh/cache.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_COLUMNS                                                                      \
	"id, label, node, admin, grants::text, cm_ts(created_at), cm_ts(expires_at),"      \
	" cm_ts(last_used_at), cm_ts(revoked_at),"                                          \
	" revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()),"              \
	" last_used_at IS NULL OR last_used_at < now() - interval '60 seconds',"            \
	" encode(secret_hash, 'hex'),"                                                       \
	" CASE WHEN expires_at IS NOT NULL THEN greatest(0, ceil(extract(epoch FROM expires_at - now()) * 1000))::bigint END"

CM_STMT(stmt_insert, 7,
	"INSERT INTO tokens (id, secret_hash, label, node, admin, grants, expires_at)"
	" VALUES ($1, decode($2, 'hex'), $3, $4, $5, $6::jsonb,"
	"  CASE WHEN $7::bigint > 0 THEN now() + make_interval(secs => $7::bigint) END)"
	" RETURNING " TOKEN_COLUMNS);
CM_STMT(stmt_by_hash, 1, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE secret_hash = decode($1, 'hex')");
CM_STMT(stmt_by_id, 1, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id = $1");
CM_STMT(stmt_list, 2,
	"SELECT " TOKEN_COLUMNS " FROM tokens WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2");
CM_STMT(stmt_revoke, 1, "UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1");
CM_STMT(stmt_touch, 1, "UPDATE tokens SET last_used_at = now() WHERE id = $1");
CM_STMT(stmt_ensure_admin, 2,
	"INSERT INTO tokens (id, secret_hash, label, admin) VALUES ($1, decode($2, 'hex'), 'bootstrap admin', true)"
	" ON CONFLICT (secret_hash) DO NOTHING");
CM_STMT(stmt_hash_state, 1,
	"SELECT revoked_at IS NOT NULL, admin FROM tokens WHERE secret_hash = decode($1, 'hex')");

static void copy_col(char *dst, size_t cap, const PGresult *r, int row, int col)
{
	snprintf(dst, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static int token_from_row(const PGresult *r, int row, struct cm_token *t, struct cm_token_auth *auth)
{
	memset(t, 0, sizeof *t);
	copy_col(t->who.token_id, sizeof t->who.token_id, r, row, 0);
	copy_col(t->who.label, sizeof t->who.label, r, row, 1);
	copy_col(t->who.node, sizeof t->who.node, r, row, 2);
	t->who.admin = PQgetvalue(r, row, 3)[0] == 't';
	cJSON *g = cJSON_Parse(PQgetvalue(r, row, 4));
	const char *msg = NULL;
	int e = cm_grants_from_json(g, t->who.grants, &t->who.ngrants, &msg);
	cJSON_Delete(g);
	if (e < 0) {
		cm_log_error("store: token %s has unreadable grants: %s", t->who.token_id, msg);
		return -CM_EINTERNAL;
	}
	copy_col(t->created_at, sizeof t->created_at, r, row, 5);
	copy_col(t->expires_at, sizeof t->expires_at, r, row, 6);
	copy_col(t->last_used_at, sizeof t->last_used_at, r, row, 7);
	copy_col(t->revoked_at, sizeof t->revoked_at, r, row, 8);
	if (auth) {
		auth->active = PQgetvalue(r, row, 9)[0] == 't';
		auth->touch_due = PQgetvalue(r, row, 10)[0] == 't';
		copy_col(auth->hash, sizeof auth->hash, r, row, 11);
		if (!PQgetisnull(r, row, 12)) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			t->who.expires_mono_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000 + atoll(PQgetvalue(r, row, 12));
		}
	}
	return 0;
}

int cm_store_token_insert(const struct cm_token_request *req, const char *id, const char *hash,
			  struct cm_token *out)
{
	char expires[24];
	snprintf(expires, sizeof expires, "%lld", req->expires_in);
	cJSON *g = cm_grants_to_json(req->grants, req->ngrants);
	char *grants = g ? cJSON_PrintUnformatted(g) : NULL;
	cJSON_Delete(g);
	if (!grants)
		return -CM_EINTERNAL;
	const char *p[] = {id, hash, req->label, req->node[0] ? req->node : NULL,
			   req->admin ? "true" : "false", grants, expires};
	PGresult *r;
	int e = cm_db_exec(&stmt_insert, p, &r);
	free(grants);
	if (e < 0)
		return e;
	e = token_from_row(r, 0, out, NULL);
	PQclear(r);
	return e;
}

int cm_store_token_by_hash(const char *hash, struct cm_token_auth *out)
{
	const char *p[] = {hash};
	PGresult *r;
	int e = cm_db_exec(&stmt_by_hash, p, &r);
	if (e < 0)
		return e;
	e = PQntuples(r) == 1 ? token_from_row(r, 0, &out->token, out) : -CM_ENOTFOUND;
	PQclear(r);
	return e;
}

int cm_store_token_get(const char *id, struct cm_token *out)
{
	const char *p[] = {id};
	PGresult *r;
	int e = cm_db_exec(&stmt_by_id, p, &r);
	if (e < 0)
		return e;
	e = PQntuples(r) == 1 ? token_from_row(r, 0, out, NULL) : -CM_ENOTFOUND;
	PQclear(r);
	return e;
}

int cm_store_token_list(const char *after, unsigned limit,
			int (*each)(void *ctx, const struct cm_token *t), void *ctx, bool *more)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%u", limit + 1); /* one more tells whether a next page exists */
	const char *p[] = {after, lim};
	PGresult *r;
	int e = cm_db_exec(&stmt_list, p, &r);
	if (e < 0)
		return e;
	int n = PQntuples(r);
	*more = n > (int)limit;
	struct cm_token *t = malloc(sizeof *t);
	if (!t)
		e = -CM_EINTERNAL;
	for (int i = 0; e == 0 && i < n && i < (int)limit; i++) {
		e = token_from_row(r, i, t, NULL);
		if (e == 0)
			e = each(ctx, t);
	}
	free(t);
	PQclear(r);
	return e;
}

int cm_store_token_revoke(const char *id)
{
	const char *p[] = {id};
	PGresult *r;
	int e = cm_db_exec(&stmt_revoke, p, &r);
	if (e < 0)
		return e;
	e = strcmp(PQcmdTuples(r), "1") ? -CM_ENOTFOUND : 0;
	PQclear(r);
	if (e == 0)
		cm_cache_flush(true, false); /* refused here from now on, not once the hub hears of it */
	return e;
}

int cm_store_token_touch(const char *id)
{
	const char *p[] = {id};
	PGresult *r;
	int e = cm_db_exec(&stmt_touch, p, &r);
	PQclear(r);
	return e;
}

int cm_store_token_ensure_admin(const char *hash, bool *created, bool *revoked)
{
	char id[CM_TOKEN_ID_LEN + 1];
	int e = cm_token_id_new(id);
	if (e < 0)
		return e;
	const char *p[] = {id, hash};
	PGresult *r;
	e = cm_db_exec(&stmt_ensure_admin, p, &r);
	if (e < 0)
		return e;
	*created = !strcmp(PQcmdTuples(r), "1");
	PQclear(r);
	const char *q[] = {hash};
	e = cm_db_exec(&stmt_hash_state, q, &r);
	if (e < 0)
		return e;
	*revoked = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
	bool admin = PQntuples(r) == 1 && PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (!admin && !*revoked)
		cm_log_warn("bootstrap: CLAWMESH_ADMIN_TOKEN matches an existing token that is not an admin token");
	return 0;
}
