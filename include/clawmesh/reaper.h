/* Deadlines for slow clients (slowloris): a request's head must arrive within --header-timeout,
 * its body at --body-min-rate once --body-timeout has passed. libmicrohttpd's own timeout counts
 * only idle time, which a byte a second resets. http.c reports each connection's phase; a thread
 * of ours cuts those past their deadline. */
#ifndef CLAWMESH_REAPER_H
#define CLAWMESH_REAPER_H
#include <stdbool.h>
#include <stddef.h>

struct cm_config;
struct cm_conn; /* one per TCP connection, from open to close */

enum cm_reap_reason { CM_REAP_HEAD, CM_REAP_BODY, CM_REAP_REASONS };

/* Starts the reaper thread when a deadline is on; 0 or -CM_EINTERNAL. */
int cm_reaper_start(const struct cm_config *cfg);
/* Stops it (before libmicrohttpd closes its connections). */
void cm_reaper_stop(void);

/* A connection was accepted on fd (libmicrohttpd's thread; the fd stays open until
 * cm_conn_close). NULL when out of memory: that connection has no deadline. */
struct cm_conn *cm_conn_open(int fd);
/* It is closing: after this its fd is never touched. */
void cm_conn_close(struct cm_conn *c);
/* Its request line has arrived: the head's clock runs (it already did, from accept or from the
 * first byte after the previous answer). */
void cm_conn_request_line(struct cm_conn *c);
/* The head is complete: from now on the body's rate counts. */
void cm_conn_body_begin(struct cm_conn *c);
void cm_conn_body_bytes(struct cm_conn *c, size_t n);
/* The request is read: handler, parked wait, answer sent at the reader's pace: no deadline. */
void cm_conn_answering(struct cm_conn *c);
/* The answer is out; a kept-alive connection now waits (the idle timeout's business) until
 * the next request's first byte. */
void cm_conn_idle(struct cm_conn *c);

/* Connections cut since start, by reason (for /metrics). */
unsigned long long cm_reaper_reaped(enum cm_reap_reason r);

/* The rule itself (pure): is a request in the head (body false) or the body phase, started
 * elapsed_ms ago with body_bytes of its body in, past its deadline? */
bool cm_reap_due(const struct cm_config *cfg, bool body, long long elapsed_ms, unsigned long long body_bytes);

#endif
