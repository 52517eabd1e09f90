/* Group commit of single-entry memory writes (issue 7). Every writer takes cm_write_lock() to its
 * commit, so writes committed one by one pay one WAL flush each, in series. Instead, a PUT, PATCH
 * or DELETE of /v1/memory/{scope}/{key} is queued here and its request parked (no worker thread,
 * no connection held); one committer thread, with its own database connection, runs all that is
 * queued in one statement and one transaction (cm_memory_write_group), commits once, tells the
 * cache, and resumes each request with its own outcome. Only a committed write is acknowledged. */
#ifndef CLAWMESH_GROUP_H
#define CLAWMESH_GROUP_H
#include "clawmesh/config.h"
#include "clawmesh/store_memory.h"

#include <stdbool.h>

struct cm_request;

/* Starts the committer (cfg->group_commit ops per group; 0 = off, nothing started). 0, or
 * -CM_EINTERNAL (logged). The database may be down: each group then fails alone with 503. */
int cm_group_start(const struct cm_config *cfg);
/* Takes no more writes (they commit alone from now on), commits what is queued, resumes those
 * requests and waits (up to 5 s) until they have been answered, stops the thread. */
void cm_group_stop(void);

/* Queues w (copied) and parks req: 1 = parked (the handler returns 0 without a response; it runs
 * again on resume, without the token being checked again, and answers cm_group_outcome()), 0 =
 * not taken (group commit off or stopping: write alone), -CM_EUNAVAIL when the queue is full,
 * -CM_EINTERNAL on OOM. */
int cm_group_submit(struct cm_request *req, const struct cm_memory_write *w);
/* After the resume: true with *err (0, or what the write met) and *out (taken: the caller clears
 * it), as cm_store_memory_write() would have answered; false when req queued nothing. */
bool cm_group_outcome(struct cm_request *req, int *err, struct cm_store_result *out);

/* For /metrics: groups run and the writes in them since start, and writes queued now. */
struct cm_group_stats {
	unsigned long long groups, writes;
	unsigned queued;
};
void cm_group_stats(struct cm_group_stats *out);

#endif
