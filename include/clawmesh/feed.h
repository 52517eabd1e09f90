/* The feed hub: where parked long-polls and event streams wait for a commit, on this replica, for
 * a change made through any replica. One thread LISTENs on PostgreSQL (its own connection); a
 * notification makes it read the narrow new change rows once and resume only the waiters that
 * can see one of them. A parked request holds no worker thread and no database connection. The
 * same thread resumes waiters whose deadline passed and prunes the feed past its retention. */
#ifndef CLAWMESH_FEED_H
#define CLAWMESH_FEED_H
#include "clawmesh/auth.h"
#include "clawmesh/config.h"

#include <stdbool.h>
#include <stdint.h>

struct cm_request;

enum cm_change_kind { CM_KIND_MEMORY = 1, CM_KIND_SKILL = 2, CM_KIND_NODE = 4 };
#define CM_KIND_ALL 7
/* The bit of a kind named by len bytes of s ("memory", "skill", "node"), 0 for none; and back. */
unsigned cm_feed_kind(const char *s, size_t len);
const char *cm_feed_kind_name(unsigned bit);

/* What a waiter waits for. Owned by the request's state; linked into the hub while parked. */
struct cm_feed_waiter {
	struct cm_feed_waiter *prev, *next;
	struct cm_request *req;
	const struct cm_identity *who; /* the request's, re-checked on every resume */
	long long since;               /* a change above this revision wakes it */
	unsigned kinds;                /* enum cm_change_kind bits; 0 = every kind */
	const char *const *scopes;     /* the scope filter asked for (exact scopes), or none */
	int nscopes;
	long long deadline_ms;         /* cm_feed_now_ms() time to resume anyway */
	bool parked;
	bool draining; /* resumed by cm_feed_stop(), which waits for it to be forgotten */
};

/* Starts the hub thread; 0, or -CM_EINTERNAL (logged). The database may be down: it retries. */
int cm_feed_start(const struct cm_config *cfg);
/* Resumes every parked waiter, refuses parking from now on, waits (up to 3 s) until they have
 * answered, stops the thread. */
void cm_feed_stop(void);
bool cm_feed_closing(void);

/* Changes with every commit the hub hears of (and on a reconnect). Read it before querying: a
 * waiter that finds nothing parks only if no commit has been heard of since. */
uint64_t cm_feed_generation(void);
/* Parks w and suspends its request: 1 when parked (the handler then returns without a response),
 * 0 when the generation has moved past gen (read again), -1 when the hub is closing or not
 * running (answer now). */
int cm_feed_park(struct cm_feed_waiter *w, uint64_t gen);
/* Unlinks w if parked: called when its request ends, whatever the reason. */
void cm_feed_forget(struct cm_feed_waiter *w);
/* Requests parked now. */
unsigned cm_feed_parked(void);
/* Does a change of kind in scope (NULL for a node) at revision rev concern w? */
bool cm_feed_wants(const struct cm_feed_waiter *w, long long rev, unsigned kind, const char *scope);
long long cm_feed_now_ms(void);

#endif
