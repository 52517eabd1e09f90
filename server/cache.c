/* The caches (see cache.h). This first version keeps both off: every call misses. */
#include "clawmesh/cache.h"

#include <string.h>

void cm_cache_init(size_t max_entries) { (void)max_entries; }
void cm_cache_shutdown(void) {}
struct cm_cache_ticket cm_cache_ticket(void) { return (struct cm_cache_ticket){0, false}; }
bool cm_cache_token_get(const char *hash, struct cm_identity *out, bool *touch_due)
{
	(void)hash, (void)out, (void)touch_due;
	return false;
}
void cm_cache_token_put(struct cm_cache_ticket t, const char *hash, const struct cm_identity *who)
{
	(void)t, (void)hash, (void)who;
}
bool cm_cache_memory_get(const char *scope, const char *key, struct cm_cached_entry *out)
{
	(void)scope, (void)key, (void)out;
	return false;
}
void cm_cache_memory_put(struct cm_cache_ticket t, const char *scope, const char *key, long long revision,
			 long long expires_ms, int version, const char *json)
{
	(void)t, (void)scope, (void)key, (void)revision, (void)expires_ms, (void)version, (void)json;
}
void cm_cache_memory_written(const char *scope, const char *key, const char *entry_json)
{
	(void)scope, (void)key, (void)entry_json;
}
void cm_cache_heard(unsigned kind, const char *scope, const char *name, long long revision)
{
	(void)kind, (void)scope, (void)name, (void)revision;
}
void cm_cache_flush(bool tokens, bool memory) { (void)tokens, (void)memory; }
void cm_cache_listening(bool on) { (void)on; }
void cm_cache_stats(struct cm_cache_stats *out) { memset(out, 0, sizeof *out); }
