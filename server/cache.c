/* The token and memory caches (see cache.h for the rules they keep). One mutex guards both: every
 * operation under it is a hash lookup and a copy of a few hundred bytes.
 *
 * Why a fill can never leave a stale entry behind (memory):
 *   - stripe_rev[s] is the highest revision of any change told for a key hashing to stripe s.
 *     A fill of a row at revision r is refused when stripe_rev[s] > r: a newer change to that key
 *     (or to one sharing its stripe) was already told, and the row read may predate it.
 *   - A change told at revision R drops the key's entry when the entry is older than R, and
 *     raises stripe_rev. A change not yet told cannot be missed: telling it comes later and drops
 *     any older entry then.
 *   - A flush (unknown changes) bumps the epoch; a fill whose ticket predates it is refused, since
 *     its row may predate what the flush stood for. A flush resets stripe_rev: every fill after it
 *     reads after the changes it stood for.
 * Tokens have no revisions: any token change anywhere flushes them all (they change rarely). */
#include "clawmesh/cache.h"
#include "clawmesh/feed.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRIPES 4096
#define TOKENS_MAX 256
#define TOKEN_TOUCH_MS 60000 /* as store_tokens.c: last_used_at is refreshed once a minute */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool on;         /* the hub is listening */
static uint64_t epoch;  /* bumped by every flush and every change of `on` */

struct ment {
	struct ment *hnext;        /* bucket chain */
	struct ment *older, *newer; /* recency list */
	uint64_t h;
	long long revision, expires_ms;
	int version;
	size_t size; /* bytes charged to the budget */
	size_t slen, klen, jlen;
	char data[]; /* scope NUL key NUL json NUL */
};

static struct ment **buckets;
static size_t nbuckets; /* a power of two; 0 = the memory cache is off */
static size_t budget, used, nentries;
static struct ment *newest, *oldest;
static long long stripe_rev[STRIPES];

struct tent {
	bool used;
	char hash[CM_TOKEN_HASH_HEX + 1];
	struct cm_identity who;
	long long touched_ms; /* when last_used_at was last refreshed (monotonic) */
};
static struct tent *tokens; /* TOKENS_MAX slots, allocated on first fill */

static unsigned long long token_hits, token_misses, memory_hits, memory_misses;

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a over scope NUL key. */
static uint64_t hash_of(const char *scope, const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = scope;; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		if (!*p)
			break;
	}
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static void flush_memory(void);

void cm_cache_init(size_t max_bytes)
{
	pthread_mutex_lock(&lock);
	budget = max_bytes;
	/* One bucket per ~512 bytes of budget (an entry is rarely smaller), at least 64. */
	size_t want = max_bytes / 512, n = 64;
	while (n < want && n < ((size_t)1 << 24))
		n <<= 1;
	flush_memory();
	__atomic_store_n(&nbuckets, 0, __ATOMIC_RELAXED);
	free(buckets);
	buckets = max_bytes ? calloc(n, sizeof *buckets) : NULL;
	if (buckets)
		__atomic_store_n(&nbuckets, n, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lock);
}

/* Under the lock: the recency list, oldest ... newest. */
static void list_remove(struct ment *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		newest = e->older;
}

static void list_push_newest(struct ment *e)
{
	e->older = newest;
	e->newer = NULL;
	if (newest)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
}

/* Under the lock. */
static void unlink_entry(struct ment *e)
{
	struct ment **p = &buckets[e->h & (nbuckets - 1)];
	while (*p && *p != e)
		p = &(*p)->hnext;
	if (*p)
		*p = e->hnext;
	list_remove(e);
	used -= e->size;
	nentries--;
	free(e);
}

static struct ment *find(uint64_t h, const char *scope, const char *key)
{
	if (!nbuckets)
		return NULL;
	for (struct ment *e = buckets[h & (nbuckets - 1)]; e; e = e->hnext)
		if (e->h == h && !strcmp(e->data, scope) && !strcmp(e->data + e->slen + 1, key))
			return e;
	return NULL;
}

static void flush_memory(void)
{
	while (oldest)
		unlink_entry(oldest);
	memset(stripe_rev, 0, sizeof stripe_rev);
}

static void flush_tokens(void)
{
	if (tokens)
		for (size_t i = 0; i < TOKENS_MAX; i++)
			if (tokens[i].used) {
				OPENSSL_cleanse(&tokens[i], sizeof tokens[i]);
				tokens[i].used = false;
			}
}

/* Under the lock: what a fill ticketed before now must not store. */
static void flush(bool flush_tok, bool flush_mem)
{
	epoch++;
	if (flush_tok)
		flush_tokens();
	if (flush_mem)
		flush_memory();
}

void cm_cache_shutdown(void)
{
	pthread_mutex_lock(&lock);
	on = false;
	flush(true, true);
	free(tokens);
	tokens = NULL;
	free(buckets);
	buckets = NULL;
	__atomic_store_n(&nbuckets, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lock);
}

struct cm_cache_ticket cm_cache_ticket(void)
{
	pthread_mutex_lock(&lock);
	struct cm_cache_ticket t = {epoch, on};
	pthread_mutex_unlock(&lock);
	return t;
}

/* Under the lock: may a fill holding t store anything? */
static bool ticket_good(struct cm_cache_ticket t)
{
	return t.on && on && t.epoch == epoch;
}

/* A token's slots: open addressing from the hash's first hex digits (a SHA-256: uniform). */
#define PROBES 8
static size_t token_home(const char *hash)
{
	size_t v = 0;
	for (int i = 0; i < 6; i++) {
		char c = hash[i];
		v = v * 16 + (size_t)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
	}
	return v % TOKENS_MAX;
}

static struct tent *token_slot(const char *hash)
{
	if (!tokens)
		return NULL;
	size_t home = token_home(hash);
	for (size_t i = 0; i < PROBES; i++) {
		struct tent *t = &tokens[(home + i) % TOKENS_MAX];
		if (t->used && CRYPTO_memcmp(t->hash, hash, CM_TOKEN_HASH_HEX) == 0)
			return t;
	}
	return NULL;
}

bool cm_cache_token_get(const char *hash, struct cm_identity *out, bool *touch_due)
{
	bool hit = false;
	long long now = cm_feed_now_ms();
	pthread_mutex_lock(&lock);
	struct tent *t = on ? token_slot(hash) : NULL;
	if (t && t->who.expires_mono_ms && now >= t->who.expires_mono_ms) {
		OPENSSL_cleanse(t, sizeof *t); /* expired: the database says why */
		t->used = false;
		t = NULL;
	}
	if (t) {
		cm_identity_copy(out, &t->who);
		*touch_due = now - t->touched_ms >= TOKEN_TOUCH_MS;
		if (*touch_due)
			t->touched_ms = now;
		hit = true;
		token_hits++;
	} else {
		token_misses++;
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

void cm_cache_token_put(struct cm_cache_ticket tk, const char *hash, const struct cm_identity *who)
{
	pthread_mutex_lock(&lock);
	if (ticket_good(tk) && strlen(hash) == CM_TOKEN_HASH_HEX) {
		if (!tokens)
			tokens = calloc(TOKENS_MAX, sizeof *tokens);
		struct tent *t = tokens ? token_slot(hash) : NULL;
		size_t home = token_home(hash);
		for (size_t i = 0; tokens && !t && i < PROBES; i++)
			if (!tokens[(home + i) % TOKENS_MAX].used)
				t = &tokens[(home + i) % TOKENS_MAX];
		if (tokens && !t) /* every slot of its run taken: one of them goes */
			t = &tokens[(home + (size_t)cm_feed_now_ms() % PROBES) % TOKENS_MAX];
		if (t) {
			t->used = true;
			memcpy(t->hash, hash, CM_TOKEN_HASH_HEX + 1);
			cm_identity_copy(&t->who, who);
			t->touched_ms = cm_feed_now_ms();
		}
	}
	pthread_mutex_unlock(&lock);
}

bool cm_cache_memory_get(const char *scope, const char *key, struct cm_cached_entry *out)
{
	uint64_t h = hash_of(scope, key);
	bool hit = false;
	pthread_mutex_lock(&lock);
	struct ment *e = on ? find(h, scope, key) : NULL;
	if (e && e->expires_ms && wall_ms() >= e->expires_ms) {
		unlink_entry(e);
		e = NULL;
	}
	if (e && (out->json = malloc(e->jlen + 1))) {
		memcpy(out->json, e->data + e->slen + 1 + e->klen + 1, e->jlen + 1);
		out->version = e->version;
		list_remove(e); /* most recently used: to the front */
		list_push_newest(e);
		hit = true;
	}
	if (nbuckets) {
		if (hit)
			memory_hits++;
		else
			memory_misses++;
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

/* Under the lock: a change of (scope, key) at revision told. */
static void told(uint64_t h, const char *scope, const char *key, long long revision)
{
	long long *s = &stripe_rev[h % STRIPES];
	if (*s < revision)
		*s = revision;
	struct ment *e = find(h, scope, key);
	if (e && e->revision < revision)
		unlink_entry(e);
}

void cm_cache_memory_put(struct cm_cache_ticket t, const char *scope, const char *key, long long revision,
			 long long expires_ms, int version, const char *json)
{
	size_t slen = strlen(scope), klen = strlen(key), jlen = strlen(json);
	size_t size = sizeof(struct ment) + slen + klen + jlen + 3 + 16; /* + malloc's own overhead */
	uint64_t h = hash_of(scope, key);
	pthread_mutex_lock(&lock);
	if (!nbuckets || !ticket_good(t) || size > budget / 8 || stripe_rev[h % STRIPES] > revision ||
	    (expires_ms && wall_ms() >= expires_ms)) {
		pthread_mutex_unlock(&lock);
		return;
	}
	struct ment *old = find(h, scope, key);
	if (old && old->revision >= revision) {
		pthread_mutex_unlock(&lock);
		return; /* as new or newer already there */
	}
	if (old)
		unlink_entry(old);
	while (oldest && used + size > budget)
		unlink_entry(oldest);
	struct ment *e = malloc(sizeof *e + slen + klen + jlen + 3);
	if (e) {
		e->h = h;
		e->revision = revision;
		e->expires_ms = expires_ms;
		e->version = version;
		e->size = size;
		e->slen = slen;
		e->klen = klen;
		e->jlen = jlen;
		memcpy(e->data, scope, slen + 1);
		memcpy(e->data + slen + 1, key, klen + 1);
		memcpy(e->data + slen + 1 + klen + 1, json, jlen + 1);
		size_t b = h & (nbuckets - 1);
		e->hnext = buckets[b];
		buckets[b] = e;
		list_push_newest(e);
		used += size;
		nentries++;
	}
	pthread_mutex_unlock(&lock);
}

void cm_cache_memory_written(const char *scope, const char *key, const char *entry_json)
{
	if (!__atomic_load_n(&nbuckets, __ATOMIC_RELAXED))
		return; /* no entry cache: nothing to read the entry for */
	cJSON *j = entry_json ? cJSON_Parse(entry_json) : NULL;
	const cJSON *rev = cJSON_GetObjectItemCaseSensitive(j, "revision");
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "scope");
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(j, "key");
	long long r = cJSON_IsNumber(rev) ? (long long)rev->valuedouble : -1;
	if (!scope && cJSON_IsString(js))
		scope = js->valuestring;
	if (!key && cJSON_IsString(jk))
		key = jk->valuestring;
	pthread_mutex_lock(&lock);
	if (r > 0 && scope && key)
		told(hash_of(scope, key), scope, key, r);
	else /* cannot tell what changed: nothing cached may outlive it */
		flush(false, true);
	pthread_mutex_unlock(&lock);
	cJSON_Delete(j);
}

void cm_cache_heard(unsigned kind, const char *scope, const char *name, long long revision)
{
	if (kind != CM_KIND_MEMORY || !scope || !name) /* only memory changes concern entries */
		return;
	pthread_mutex_lock(&lock);
	told(hash_of(scope, name), scope, name, revision);
	pthread_mutex_unlock(&lock);
}

void cm_cache_flush(bool flush_tok, bool flush_mem)
{
	pthread_mutex_lock(&lock);
	flush(flush_tok, flush_mem);
	pthread_mutex_unlock(&lock);
}

void cm_cache_listening(bool now_on)
{
	pthread_mutex_lock(&lock);
	on = now_on;
	flush(true, true);
	pthread_mutex_unlock(&lock);
}

void cm_cache_stats(struct cm_cache_stats *out)
{
	pthread_mutex_lock(&lock);
	out->token_hits = token_hits;
	out->token_misses = token_misses;
	out->memory_hits = memory_hits;
	out->memory_misses = memory_misses;
	out->memory_entries = nentries;
	out->memory_bytes = used;
	pthread_mutex_unlock(&lock);
}
