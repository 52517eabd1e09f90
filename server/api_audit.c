/* The audit log: http.c records every audited request here once it has its answer; admins read
 * it with GET /v1/audit?since=&limit=. */
#include "clawmesh/api.h"
#include "clawmesh/validate.h"
#include "clawmesh/log.h"
#include "clawmesh/router.h"
#include "clawmesh/store_audit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A 401 is the one audit row anybody who can reach the port can make us write, and the table is
 * never trimmed: a flood of bad tokens must not fill the disk. Refusals of requests without a
 * valid token are recorded at most ANON_BURST at once and one every 1/ANON_RATE seconds per
 * client address, and ANON_ALL_BURST / ANON_ALL_RATE for all addresses together (an IPv6 host
 * has addresses to spare). What is over is counted (/metrics) and logged once a minute at most.
 * Refusals of a valid token (403) are always recorded. */
#define ANON_BURST 30.0
#define ANON_RATE 0.5
#define ANON_ALL_BURST 300.0
#define ANON_ALL_RATE 5.0
#define ANON_SLOTS 512 /* addresses remembered; a newcomer takes a colliding address's slot */

struct bucket {
	char addr[64];
	double level, at; /* tokens left, when (monotonic seconds) */
};

static pthread_mutex_t anon_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket anon[ANON_SLOTS], anon_all;
static unsigned long long anon_dropped, anon_logged;
static double anon_logged_at = -60;

static bool take(struct bucket *b, double now, double burst, double rate)
{
	if (b->at == 0)
		b->level = burst;
	else if (now > b->at)
		b->level = b->level + (now - b->at) * rate < burst ? b->level + (now - b->at) * rate : burst;
	b->at = now;
	if (b->level < 1)
		return false;
	b->level -= 1;
	return true;
}

static bool anon_allowed(const char *addr)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + 1; /* never 0: at == 0 means new */
	uint32_t h = 2166136261u; /* FNV-1a: a slot index, not a digest */
	for (const char *c = addr; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	pthread_mutex_lock(&anon_lock);
	struct bucket *b = &anon[h % ANON_SLOTS];
	if (strcmp(b->addr, addr)) {
		snprintf(b->addr, sizeof b->addr, "%s", addr);
		b->at = 0;
	}
	bool ok = take(b, now, ANON_BURST, ANON_RATE) && take(&anon_all, now, ANON_ALL_BURST, ANON_ALL_RATE);
	unsigned long long report = 0;
	if (!ok) {
		anon_dropped++;
		if (now - anon_logged_at >= 60) {
			report = anon_dropped - anon_logged;
			anon_logged = anon_dropped;
			anon_logged_at = now;
		}
	}
	pthread_mutex_unlock(&anon_lock);
	if (report)
		cm_log_warn("audit: %llu refusals of requests without a valid token not recorded in the last minute "
			    "(too many; the latest from %s): see clawmesh_audit_suppressed_total",
			    report, addr);
	return ok;
}

unsigned long long cm_api_audit_suppressed(void)
{
	pthread_mutex_lock(&anon_lock);
	unsigned long long n = anon_dropped;
	pthread_mutex_unlock(&anon_lock);
	return n;
}

void cm_api_audit_record(struct cm_request *req)
{
	cm_api_audit_part(req, req->route->action, req->audit_target[0] ? req->audit_target : NULL, req->status);
}

void cm_api_audit_part(struct cm_request *req, const char *action, const char *target, unsigned status)
{
	char addr[64];
	cm_req_remote_addr(req, addr, sizeof addr);
	if (!req->authenticated && status == 401 && !anon_allowed(addr))
		return;
	struct cm_audit_row row = {
		.token_id = req->authenticated ? req->who.token_id : NULL,
		.node = req->authenticated && req->who.node[0] ? req->who.node : NULL,
		.action = action,
		.target = target,
		.status = status,
		.request_id = req->request_id,
		.remote_addr = addr[0] ? addr : NULL,
	};
	if (cm_store_audit_insert(&row) < 0)
		cm_log_warn("audit: could not record %s %u (request %s)", row.action, row.status, req->request_id);
}

int cm_api_audit_list(struct cm_request *req)
{
	unsigned limit;
	if (cm_req_limit(req, &limit) < 0)
		return cm_reply_error(req, CM_EBADREQ, CM_LIMIT_INVALID, NULL);
	const char *s = cm_req_query(req, "since");
	long long since = -1;
	if (s && !cm_parse_count(s, &since))
		return cm_reply_error(req, CM_EBADREQ, "since is an audit id (a whole number) from a previous answer.", NULL);
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	long long last = 0;
	int e = items ? cm_store_audit_list(since, limit, items, &last) : -CM_EINTERNAL;
	if (e == 0 && !cJSON_AddNumberToObject(o, "next", (double)last))
		e = -CM_EINTERNAL;
	if (e < 0) {
		cJSON_Delete(o);
		return e;
	}
	return cm_reply_json(req, 200, o);
}
