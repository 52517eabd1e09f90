/* SQL for the change feed and the dashboard's stats (migrations/0004_feed.sql). */
#ifndef CLAWMESH_STORE_CHANGES_H
#define CLAWMESH_STORE_CHANGES_H
#include <stdbool.h>

/* Which changes: above since, of the kinds (JSON array of names, NULL = all), in the scopes
 * (JSON array of exact scopes, NULL = every readable one and the node registry's), readable by
 * the caller (all, or the exact scopes and prefixes as JSON arrays). */
struct cm_changes_filter {
	long long since;
	const char *kinds;
	const char *scopes;
	bool all_readable;
	const char *readable, *readable_prefixes;
	unsigned limit;
	bool with_value;
};

/* A page of the feed, read in one snapshot. */
struct cm_changes_page {
	long long horizon;  /* the highest revision pruned: since below it has missed changes */
	long long current;  /* the highest revision ever drawn: since above it is from elsewhere */
	long long head;     /* the newest committed revision (0 when none is kept) */
	long long next;     /* the cursor of the following call */
	int n;              /* changes, in revision order */
	long long *revisions;
	char **items;       /* each change as JSON text */
};

/* 0, -CM_EUNAVAIL, -CM_EINTERNAL. */
int cm_store_changes(const struct cm_changes_filter *f, struct cm_changes_page *out);
void cm_changes_page_free(struct cm_changes_page *p);

/* GET /v1/stats as JSON text (caller frees): counts in the readable scopes, nodes, the current
 * revision, the last 20 readable changes. window = the heartbeat window in seconds. */
int cm_store_stats(bool all_readable, const char *readable, const char *readable_prefixes, unsigned window,
		   char **json);

#endif
