/* SQL for memory: writes go through the database function cm_memory_write (one round trip,
 * preconditions, history and change row in one statement); reads render entries in SQL so that
 * values come back exactly as stored. Nothing here knows HTTP or grants. */
#ifndef CLAWMESH_STORE_MEMORY_H
#define CLAWMESH_STORE_MEMORY_H
#include "clawmesh/store.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

struct cm_memory_write {
	const char *op;         /* "put" | "patch" | "delete" */
	const char *scope, *key;
	const char *doc;        /* JSON text: put reads doc.value, patch uses doc as the merge patch */
	const char *tags;       /* JSON array of strings; NULL = none given */
	long long ttl;          /* seconds; 0 = none */
	const char *expires_at; /* RFC 3339, or NULL */
	const char *if_match;   /* NULL = none, else a PostgreSQL integer array literal of the versions
				 * If-Match names ("{3}", "{0}" for "*", "{}" for none of ours) */
	bool if_none_match;
	const char *node;       /* provenance: the writing token's node, NULL for none */
	size_t max_value;
	const char *not_before; /* a put from the bridge: its message time (RFC 3339); an entry
				 * last written after it is kept (CM_ST_STALE), else NULL */
};

int cm_store_memory_write(const struct cm_memory_write *w, struct cm_store_result *out);
/* A write (not a bridge put) as one element of cm_store_memory_write_group()'s ops: a JSON object
 * whose fields are the text parameters cm_store_memory_write() would send. Caller frees; NULL on
 * OOM. */
char *cm_store_memory_op_json(const struct cm_memory_write *w);
/* Runs n writes (ops: a JSON array of cm_store_memory_op_json() objects, in order) in one
 * statement, one transaction, one commit (migrations/0005_group_commit.sql). <0 when the group
 * failed as a whole (nothing of it committed, or, the connection lost, not known: -CM_EUNAVAIL);
 * else 0 and, for each op, err[i] = 0 with out[i] as cm_store_memory_write() gives it, or the
 * error that op alone would have met (it wrote nothing; the others committed). */
int cm_store_memory_write_group(const char *ops, size_t max_value, size_t n, struct cm_store_result *out, int *err);
/* What the cache keeps of an entry besides its text: its revision and expiry (ms since the
 * epoch, 0 = none). */
struct cm_memory_stamp {
	long long revision, expires_ms;
};
/* The live entry: 0 with out->status CM_ST_FOUND and, when value is not NULL, *value = the value
 * alone as JSON text (caller frees), when stamp is not NULL *stamp; or -CM_ENOTFOUND (absent,
 * deleted or expired). */
int cm_store_memory_get(const char *scope, const char *key, struct cm_store_result *out, char **value,
			struct cm_memory_stamp *stamp);

/* History items of a key, newest first, with version < before (0 = from the newest), appended to
 * items as raw JSON; *next is the version to continue below, 0 when none is left.
 * -CM_ENOTFOUND when the key has never been written. */
int cm_store_memory_history(const char *scope, const char *key, int before, unsigned limit, cJSON *items,
			    int *next);

enum cm_memory_order { CM_ORDER_KEY, CM_ORDER_RECENT, CM_ORDER_RANK };

struct cm_memory_filter {
	/* Which scopes: the ones asked for, else all the token reads (all_readable), else the
	 * token's readable exact scopes and scope prefixes. JSON arrays of strings. */
	const char *scopes;
	bool all_readable;
	const char *readable, *readable_prefixes;
	const char *prefix, *node, *q, *updated_after;
	const char *tags; /* JSON array: entries carrying every one */
	enum cm_memory_order order;
	const cJSON *after; /* the position a cursor carried, or NULL */
	unsigned limit;
};

/* Live entries matching f, appended to items as raw JSON; *next is the position after the last
 * one (caller frees) when more follow, else NULL. -CM_EBADREQ when f->after is not a position of
 * f->order. */
int cm_store_memory_list(const struct cm_memory_filter *f, cJSON *items, cJSON **next);

/* Runs a validated batch ({"ops":[…]} as text) in one transaction: results[i] for each op run.
 * When an op is refused the transaction is rolled back and *failed is its index; else -1. *n is
 * how many results were filled. */
int cm_store_memory_batch(const char *body, const char *node, size_t max_value, struct cm_store_result *results,
			  size_t cap, size_t *n, int *failed);

#endif
