/* Counters for GET /metrics (see metrics.h). Statuses are kept by their code among the ones the
 * API answers; anything else counts as "other". */
#include "clawmesh/metrics.h"
#include "clawmesh/api.h"
#include "clawmesh/cache.h"
#include "clawmesh/db.h"
#include "clawmesh/feed.h"
#include "clawmesh/group.h"
#include "clawmesh/ratelimit.h"
#include "clawmesh/reaper.h"
#include "clawmesh/router.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 64 /* checked against cm_routes_count when counting */
static const unsigned statuses[] = {0,   200, 201, 204, 304, 308, 400, 401, 403, 404, 405, 409,
				    410, 412, 413, 415, 422, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1) /* + "other" */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKET (sizeof bounds / sizeof bounds[0])

/* Row MAX_ROUTES is the requests that matched no route. */
static unsigned long long requests[MAX_ROUTES + 1][NSTATUS];
static unsigned long long buckets[MAX_ROUTES + 1][NBUCKET];
static unsigned long long count[MAX_ROUTES + 1];
static unsigned long long micros[MAX_ROUTES + 1];

void cm_metrics_request(int route, unsigned status, double seconds)
{
	size_t r = route >= 0 && (size_t)route < MAX_ROUTES ? (size_t)route : MAX_ROUTES;
	size_t s = 0;
	while (s < NSTATUS - 1 && statuses[s] != status)
		s++;
	__atomic_add_fetch(&requests[r][s], 1, __ATOMIC_RELAXED);
	for (size_t b = 0; b < NBUCKET; b++)
		if (seconds <= bounds[b]) {
			__atomic_add_fetch(&buckets[r][b], 1, __ATOMIC_RELAXED); /* cumulated when rendered */
			break;
		}
	__atomic_add_fetch(&count[r], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&micros[r], (unsigned long long)(seconds * 1e6), __ATOMIC_RELAXED);
}

struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	for (int tries = 0; tries < 2 && !o->failed; tries++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->failed = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

static void labels(char *buf, size_t cap, size_t r)
{
	if (r < cm_routes_count && r < MAX_ROUTES)
		snprintf(buf, cap, "method=\"%s\",route=\"%s\"", cm_routes[r].method, cm_routes[r].pattern);
	else
		snprintf(buf, cap, "method=\"\",route=\"unmatched\"");
}

char *cm_metrics_render(size_t *len)
{
	struct out o = {malloc(16384), 0, 16384, false};
	if (!o.p)
		return NULL;
	size_t nroutes = cm_routes_count < MAX_ROUTES ? cm_routes_count : MAX_ROUTES;
	char lb[256];
	put(&o, "# HELP clawmesh_http_requests_total Requests answered, by route and status (0: the client left first).\n"
		"# TYPE clawmesh_http_requests_total counter\n");
	for (size_t r = 0; r <= MAX_ROUTES; r++) {
		if (r >= nroutes && r != MAX_ROUTES)
			continue;
		labels(lb, sizeof lb, r);
		for (size_t s = 0; s < NSTATUS; s++) {
			unsigned long long n = __atomic_load_n(&requests[r][s], __ATOMIC_RELAXED);
			if (!n)
				continue;
			if (s < NSTATUS - 1)
				put(&o, "clawmesh_http_requests_total{%s,status=\"%u\"} %llu\n", lb, statuses[s], n);
			else
				put(&o, "clawmesh_http_requests_total{%s,status=\"other\"} %llu\n", lb, n);
		}
	}
	put(&o, "# HELP clawmesh_http_request_duration_seconds Time from the request line to the end of the "
		"answer (a long-poll's wait included).\n# TYPE clawmesh_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r <= MAX_ROUTES; r++) {
		unsigned long long total = __atomic_load_n(&count[r], __ATOMIC_RELAXED);
		if (!total || (r >= nroutes && r != MAX_ROUTES))
			continue;
		labels(lb, sizeof lb, r);
		unsigned long long cum = 0;
		for (size_t b = 0; b < NBUCKET; b++) {
			cum += __atomic_load_n(&buckets[r][b], __ATOMIC_RELAXED);
			put(&o, "clawmesh_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n", lb, bounds[b], cum);
		}
		put(&o, "clawmesh_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n", lb, total);
		put(&o, "clawmesh_http_request_duration_seconds_sum{%s} %.6f\n", lb,
		    (double)__atomic_load_n(&micros[r], __ATOMIC_RELAXED) / 1e6);
		put(&o, "clawmesh_http_request_duration_seconds_count{%s} %llu\n", lb, total);
	}
	long long open, connects, failures;
	cm_db_pool_stats(&open, &connects, &failures);
	put(&o, "# HELP clawmesh_db_connections Worker database connections open now (one per HTTP thread, and the group committer's).\n"
		"# TYPE clawmesh_db_connections gauge\nclawmesh_db_connections %lld\n"
		"# HELP clawmesh_db_connects_total Worker database connections made since start.\n"
		"# TYPE clawmesh_db_connects_total counter\nclawmesh_db_connects_total %lld\n"
		"# HELP clawmesh_db_connect_failures_total Attempts to connect that failed.\n"
		"# TYPE clawmesh_db_connect_failures_total counter\nclawmesh_db_connect_failures_total %lld\n",
	    open, connects, failures);
	put(&o, "# HELP clawmesh_feed_parked Long-polls and idle event streams parked on this replica, waiting for a change.\n"
		"# TYPE clawmesh_feed_parked gauge\nclawmesh_feed_parked %u\n",
	    cm_feed_parked());
	struct cm_cache_stats cs;
	cm_cache_stats(&cs);
	put(&o, "# HELP clawmesh_cache_lookups_total Token and memory-entry lookups answered by this replica's caches (hit) or the database (miss).\n"
		"# TYPE clawmesh_cache_lookups_total counter\n"
		"clawmesh_cache_lookups_total{cache=\"token\",result=\"hit\"} %llu\n"
		"clawmesh_cache_lookups_total{cache=\"token\",result=\"miss\"} %llu\n"
		"clawmesh_cache_lookups_total{cache=\"memory\",result=\"hit\"} %llu\n"
		"clawmesh_cache_lookups_total{cache=\"memory\",result=\"miss\"} %llu\n"
		"# HELP clawmesh_cache_memory_entries Memory entries cached now.\n"
		"# TYPE clawmesh_cache_memory_entries gauge\nclawmesh_cache_memory_entries %llu\n"
		"# HELP clawmesh_cache_memory_bytes Bytes the cached entries take, bookkeeping included (--cache-mb bounds it).\n"
		"# TYPE clawmesh_cache_memory_bytes gauge\nclawmesh_cache_memory_bytes %llu\n",
	    cs.token_hits, cs.token_misses, cs.memory_hits, cs.memory_misses, cs.memory_entries, cs.memory_bytes);
	struct cm_group_stats g;
	cm_group_stats(&g);
	put(&o, "# HELP clawmesh_group_commits_total Group transactions the committer ran (one WAL flush each when any op wrote).\n"
		"# TYPE clawmesh_group_commits_total counter\nclawmesh_group_commits_total %llu\n"
		"# HELP clawmesh_group_writes_total Single-entry memory writes run in those groups.\n"
		"# TYPE clawmesh_group_writes_total counter\nclawmesh_group_writes_total %llu\n"
		"# HELP clawmesh_group_queued Writes queued now, waiting for the committer (parked requests).\n"
		"# TYPE clawmesh_group_queued gauge\nclawmesh_group_queued %u\n",
	    g.groups, g.writes, g.queued);
	put(&o, "# HELP clawmesh_audit_suppressed_total 401s of requests without a valid token left out of the audit log (over the per-address and total budgets).\n"
		"# TYPE clawmesh_audit_suppressed_total counter\nclawmesh_audit_suppressed_total %llu\n",
	    cm_api_audit_suppressed());
	struct cm_rate_stats rs;
	cm_ratelimit_stats(&rs);
	put(&o, "# HELP clawmesh_rate_limited_total Requests refused with 429 by the per-token rate limit (--rate-limit).\n"
		"# TYPE clawmesh_rate_limited_total counter\nclawmesh_rate_limited_total %llu\n"
		"# HELP clawmesh_rate_limit_active_tokens Tokens whose bucket is not full now.\n"
		"# TYPE clawmesh_rate_limit_active_tokens gauge\nclawmesh_rate_limit_active_tokens %llu\n"
		"# HELP clawmesh_rate_limit_evictions_total Buckets forgotten before they were full, for a token new to a full table.\n"
		"# TYPE clawmesh_rate_limit_evictions_total counter\nclawmesh_rate_limit_evictions_total %llu\n",
	    rs.refused, rs.active, rs.evicted);
	put(&o, "# HELP clawmesh_connections_reaped_total Connections closed because the request head took over --header-timeout, or the body came slower than --body-min-rate after --body-timeout.\n"
		"# TYPE clawmesh_connections_reaped_total counter\n"
		"clawmesh_connections_reaped_total{reason=\"head\"} %llu\n"
		"clawmesh_connections_reaped_total{reason=\"body\"} %llu\n",
	    cm_reaper_reaped(CM_REAP_HEAD), cm_reaper_reaped(CM_REAP_BODY));
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
