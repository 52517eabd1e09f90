/* GET /metrics (admin): Prometheus text of what this replica has served since it started:
 * requests by route and status, a latency histogram per route, the database pool, and the
 * requests parked in the feed. Counting is lock-free (atomics); each replica counts its own. */
#ifndef CLAWMESH_METRICS_H
#define CLAWMESH_METRICS_H
#include <stddef.h>

/* One finished request: its route's index in cm_routes (-1 when it matched none), its status
 * (0 when the client left before an answer), and how long it took. */
void cm_metrics_request(int route, unsigned status, double seconds);
/* The exposition text (caller frees), or NULL. */
char *cm_metrics_render(size_t *len);

#endif
