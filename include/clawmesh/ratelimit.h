/* Per-token rate limiting: a token bucket per key (a token id) in a table of fixed size.
 * The bucket holds `burst` requests and refills at `rate` a second; each replica keeps its own.
 * The table's logic takes the time as an argument (tests drive the clock); the process-wide
 * limiter below reads CLOCK_MONOTONIC. */
#ifndef CLAWMESH_RATELIMIT_H
#define CLAWMESH_RATELIMIT_H
#include <stdbool.h>
#include <stddef.h>

/* Keys longer than this are told apart by their first CM_RATE_KEY_MAX bytes (token ids have 28). */
#define CM_RATE_KEY_MAX 40
/* Bounds of the configuration (config.c checks them). */
#define CM_RATE_MAX 100000u
#define CM_RATE_BURST_MAX 1000000u

struct cm_rate_verdict {
	bool allowed;
	unsigned limit;     /* the bucket's size: RateLimit-Limit */
	unsigned remaining; /* whole requests the bucket holds after this one: RateLimit-Remaining */
	unsigned reset_s;   /* allowed: seconds until the bucket is full again; refused: = retry_after_s */
	unsigned retry_after_s; /* refused: seconds (>= 1, rounded up) until one request is allowed */
};

struct cm_rate_stats {
	unsigned long long refused;   /* requests refused */
	unsigned long long evicted;   /* buckets forgotten before they were full (the table was full) */
	unsigned long long active;    /* keys whose bucket is not full now (a full one is as good as forgotten) */
};

struct cm_rate_table;

/* rate requests a second (1..CM_RATE_MAX), burst (1..CM_RATE_BURST_MAX), at least `slots` keys
 * remembered (rounded up). NULL when out of memory or out of bounds. */
struct cm_rate_table *cm_rate_table_new(unsigned rate, unsigned burst, size_t slots);
void cm_rate_table_free(struct cm_rate_table *t);
/* One request by key at now_ns (any monotonic clock, nanoseconds): takes one from its bucket
 * when it holds one. Thread-safe. */
void cm_rate_table_take(struct cm_rate_table *t, const char *key, long long now_ns, struct cm_rate_verdict *out);
void cm_rate_table_stats(struct cm_rate_table *t, long long now_ns, struct cm_rate_stats *out);

/* The server's limiter. rate 0 = off (the default): cm_ratelimit_take then always allows and
 * says so by returning false. Init before the HTTP threads start, shut down after they stop. */
int cm_ratelimit_init(unsigned rate, unsigned burst);
void cm_ratelimit_shutdown(void);
/* true when limiting is on and *out is its verdict on this request by token_id. */
bool cm_ratelimit_take(const char *token_id, struct cm_rate_verdict *out);
/* For /metrics: all zero while off. */
void cm_ratelimit_stats(struct cm_rate_stats *out);

#endif
