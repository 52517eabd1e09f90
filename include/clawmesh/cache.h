/* In-process caches: tokens by secret hash, and memory entries by (scope, key). Both are only as
 * fresh as what this replica has been told, and never less:
 *   - The feed hub tells them every commit it hears of (NOTIFY clawmesh_changes / clawmesh_tokens),
 *     and this process tells them its own writes before answering them, so a client reads its own
 *     write at once. While the hub is not listening, both caches are off and empty.
 *   - A fill races with what is being told: a reader takes a ticket (cm_cache_ticket) before its
 *     query, and a fill is refused when anything that could concern its row was told meanwhile.
 *   - Memory entries are version-checked: a change at revision R evicts only an entry older than R,
 *     and an entry older than a change already heard for its stripe is never stored.
 * --cache-mb 0 turns the memory cache off; the token cache is always on (its entries are
 * dropped on every token change anywhere). */
#ifndef CLAWMESH_CACHE_H
#define CLAWMESH_CACHE_H
#include "clawmesh/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes the memory cache (bytes, entries and their bookkeeping; 0 = off). Before any thread uses it. */
void cm_cache_init(size_t max_bytes);
void cm_cache_shutdown(void);

/* What a reader holds across its query; a fill with a ticket older than a flush is refused. */
struct cm_cache_ticket {
	uint64_t epoch;
	bool on;
};
struct cm_cache_ticket cm_cache_ticket(void);

/* Tokens. hash is the secret's SHA-256 as hex. */
bool cm_cache_token_get(const char *hash, struct cm_identity *out, bool *touch_due);
void cm_cache_token_put(struct cm_cache_ticket t, const char *hash, const struct cm_identity *who);

/* Memory entries. The entry is its JSON text as GET answers it. */
struct cm_cached_entry {
	char *json; /* caller frees */
	int version;
};
bool cm_cache_memory_get(const char *scope, const char *key, struct cm_cached_entry *out);
/* A row just read: revision is the entry's, expires_ms its expiry (wall clock, ms; 0 = none). */
void cm_cache_memory_put(struct cm_cache_ticket t, const char *scope, const char *key, long long revision,
			 long long expires_ms, int version, const char *json);
/* This process wrote (scope, key) (committed, or about to be: being told early is harmless):
 * entry_json is the entry the write answered, which carries the revision (and the scope and key,
 * taken from it when they are NULL). Call it before answering the write. */
void cm_cache_memory_written(const char *scope, const char *key, const char *entry_json);

/* The hub's side. A change heard of (scope NULL for a node change). */
void cm_cache_heard(unsigned kind, const char *scope, const char *name, long long revision);
/* Everything may have changed (too many rows, a token change, a reconnect): drop all. */
void cm_cache_flush(bool tokens, bool memory);
/* The hub lost or regained its LISTEN: off and empty while deaf. */
void cm_cache_listening(bool on);

/* For /metrics and the benchmark. */
struct cm_cache_stats {
	unsigned long long token_hits, token_misses, memory_hits, memory_misses, memory_entries, memory_bytes;
};
void cm_cache_stats(struct cm_cache_stats *out);

#endif
