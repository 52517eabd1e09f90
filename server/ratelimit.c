/* Per-token rate limiting (see ratelimit.h). Each bucket is kept as the generic cell rate
 * algorithm (GCRA) keeps it, a token bucket in one number: tat, when it will be full again. A request at now is allowed when
 * tat - now <= (burst - 1) intervals, and moves tat one interval on from max(tat, now). So a
 * bucket with tat <= now is full, and forgetting it changes nothing.
 *
 * The table is set-associative and never grows: a key hashes to a set of WAYS slots; a new key
 * takes its set's slot whose bucket is fullest (an idle one, or failing that the one whose
 * forgetting gives away the fewest requests). Many tokens cannot grow memory, only make the
 * fullest of them forgotten early (counted in `evicted`). Sets are locked in stripes, so two
 * threads contend only when their keys share a stripe. */
#include "clawmesh/ratelimit.h"
#include "clawmesh/err.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAYS 8
#define STRIPES 64
#define NS 1000000000LL
#define SERVER_SLOTS 4096 /* keys the server remembers: 4096 x 56 bytes */

struct slot {
	long long tat; /* ns; 0 in a slot never used, which is a full bucket */
	char key[CM_RATE_KEY_MAX + 1];
};

struct cm_rate_table {
	long long interval_ns;  /* 1 s / rate: one request's worth of refill */
	long long tolerance_ns; /* (burst - 1) intervals: how far beyond now tat may be and still allow */
	unsigned burst;
	size_t nsets; /* a power of two */
	struct slot *slots; /* nsets * WAYS */
	pthread_mutex_t locks[STRIPES];
	unsigned long long refused, evicted; /* atomics */
};

struct cm_rate_table *cm_rate_table_new(unsigned rate, unsigned burst, size_t slots)
{
	if (rate < 1 || rate > CM_RATE_MAX || burst < 1 || burst > CM_RATE_BURST_MAX || slots > ((size_t)1 << 24))
		return NULL;
	struct cm_rate_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	size_t nsets = 1;
	while (nsets * WAYS < slots)
		nsets <<= 1;
	t->slots = calloc(nsets * WAYS, sizeof *t->slots);
	if (!t->slots) {
		free(t);
		return NULL;
	}
	t->nsets = nsets;
	t->burst = burst;
	t->interval_ns = NS / rate;
	t->tolerance_ns = (long long)(burst - 1) * t->interval_ns;
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_init(&t->locks[i], NULL);
	return t;
}

void cm_rate_table_free(struct cm_rate_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&t->locks[i]);
	free(t->slots);
	free(t);
}

static unsigned ceil_seconds(long long ns)
{
	long long s = (ns + NS - 1) / NS;
	return s < 1 ? 1 : s > UINT32_MAX ? UINT32_MAX : (unsigned)s;
}

void cm_rate_table_take(struct cm_rate_table *t, const char *key, long long now_ns, struct cm_rate_verdict *out)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a: a set index (token ids are random), not a digest */
	for (size_t i = 0; key[i] && i < CM_RATE_KEY_MAX; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	size_t set = (size_t)(h & (t->nsets - 1));
	struct slot *s = t->slots + set * WAYS, *hit = NULL, *fullest = s;
	pthread_mutex_t *lock = &t->locks[set % STRIPES];

	pthread_mutex_lock(lock);
	for (size_t i = 0; i < WAYS && !hit; i++) {
		if (!strncmp(s[i].key, key, CM_RATE_KEY_MAX))
			hit = &s[i];
		else if (s[i].tat < fullest->tat)
			fullest = &s[i];
	}
	if (!hit) {
		if (fullest->tat > now_ns)
			__atomic_add_fetch(&t->evicted, 1, __ATOMIC_RELAXED);
		hit = fullest;
		size_t n = strnlen(key, CM_RATE_KEY_MAX);
		memcpy(hit->key, key, n);
		hit->key[n] = '\0';
		hit->tat = now_ns;
	}
	long long tat = hit->tat > now_ns ? hit->tat : now_ns;
	out->limit = t->burst;
	out->allowed = tat - now_ns <= t->tolerance_ns;
	if (out->allowed) {
		hit->tat = tat + t->interval_ns;
		long long ahead = hit->tat - now_ns; /* interval .. tolerance + interval */
		out->remaining = (unsigned)((t->tolerance_ns + t->interval_ns - ahead) / t->interval_ns);
		out->reset_s = ceil_seconds(ahead);
		out->retry_after_s = 0;
	} else {
		out->remaining = 0;
		out->retry_after_s = ceil_seconds(tat - now_ns - t->tolerance_ns);
		/* The ratelimit-headers draft: with Retry-After, the reset "SHOULD reference the same
		 * point in time". */
		out->reset_s = out->retry_after_s;
	}
	pthread_mutex_unlock(lock);
	if (!out->allowed)
		__atomic_add_fetch(&t->refused, 1, __ATOMIC_RELAXED);
}

void cm_rate_table_stats(struct cm_rate_table *t, long long now_ns, struct cm_rate_stats *out)
{
	out->refused = __atomic_load_n(&t->refused, __ATOMIC_RELAXED);
	out->evicted = __atomic_load_n(&t->evicted, __ATOMIC_RELAXED);
	out->active = 0;
	for (size_t set = 0; set < t->nsets; set++) {
		pthread_mutex_lock(&t->locks[set % STRIPES]);
		for (size_t i = 0; i < WAYS; i++)
			out->active += t->slots[set * WAYS + i].tat > now_ns;
		pthread_mutex_unlock(&t->locks[set % STRIPES]);
	}
}

static struct cm_rate_table *server; /* NULL = off; set before the HTTP threads start */

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * NS + ts.tv_nsec;
}

int cm_ratelimit_init(unsigned rate, unsigned burst)
{
	cm_ratelimit_shutdown();
	if (!rate)
		return 0;
	server = cm_rate_table_new(rate, burst, SERVER_SLOTS);
	return server ? 0 : -CM_EINTERNAL;
}

void cm_ratelimit_shutdown(void)
{
	cm_rate_table_free(server);
	server = NULL;
}

bool cm_ratelimit_take(const char *token_id, struct cm_rate_verdict *out)
{
	if (!server)
		return false;
	cm_rate_table_take(server, token_id, mono_ns(), out);
	return true;
}

void cm_ratelimit_stats(struct cm_rate_stats *out)
{
	memset(out, 0, sizeof *out);
	if (server)
		cm_rate_table_stats(server, mono_ns(), out);
}
