/* The request life cycle on libmicrohttpd, stated once: accumulate the body under a hard limit,
 * route, authenticate, call the handler, queue one response with the common headers, log it. */
#ifndef CLAWMESH_HTTP_H
#define CLAWMESH_HTTP_H
#include "clawmesh/auth.h"
#include "clawmesh/config.h"
#include "clawmesh/err.h"
#include "clawmesh/ratelimit.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define CM_MAX_PARAMS 4
#define CM_PARAM_MAX 512
#define CM_REQUEST_ID_MAX 64
#define CM_AUDIT_TARGET_MAX 1024

struct MHD_Connection;
struct MHD_Response;
struct MHD_Daemon;
struct cm_route;
struct cm_conn;

struct cm_request {
	struct MHD_Connection *conn;
	struct cm_conn *tcp;        /* its connection's deadlines (reaper.c); NULL: none */
	const struct cm_config *cfg;
	char method[16];
	char *uri;  /* as received, before any decoding; owned */
	char *path; /* uri up to '?'; owned */
	char request_id[CM_REQUEST_ID_MAX + 1];
	struct timespec started;
	bool headers_seen;

	char *body; /* NUL-terminated; owned */
	size_t body_len, body_cap, body_discarded;
	bool body_too_large;

	const struct cm_route *matched; /* what the path matched, found once on the headers call */
	int match_err;                  /* or why it matched nothing (-CM_ENOTFOUND, -CM_EMETHOD, …) */
	char allow[96];                 /* the methods the path takes, for 405 and preflights */
	const struct cm_route *route;   /* set once the request is admitted to its route */
	size_t nparams;
	char params[CM_MAX_PARAMS][CM_PARAM_MAX + 1]; /* decoded path parameters */
	bool authenticated;
	bool auth_ambiguous; /* more than one Authorization header: none of them counts */
	struct cm_identity who;

	unsigned status;
	struct MHD_Response *response;
	bool queued;
	bool parked; /* the handler suspended the connection: it runs again when resumed */
	/* Set by a handler that parks with its work handed over (a queued write, group.h): on resume
	 * it runs again without routing and the token being checked again, since what it answers may
	 * have committed meanwhile (a token revoked since cannot take a done write back). */
	bool keep_admission;

	/* A handler's own state across calls (a parked long-poll, a stream): freed with the request. */
	void *state;
	void (*state_free)(void *state);

	/* Routes flagged CM_ROUTE_STREAM_BODY: their handler runs as soon as the headers are in
	 * (routed, authenticated, admin checked) and sets this, or answers at once. It then takes
	 * each piece of the body as it arrives, and (NULL, 0) at its end, when it answers. It
	 * returns 0 or a negative cm_err; once it has answered (or refused), the rest of the body
	 * is read and dropped. */
	int (*body_sink)(struct cm_request *req, const char *data, size_t len);

	bool mapped; /* on pages of its own (http.c: request_new()) */
	/* The token's rate limit, charged once per request: a parked request resumed is not
	 * charged again (nor is one resumed with keep_admission, which is not admitted again). */
	bool rate_charged;
	bool rate_on; /* limiting is on and rate is this request's verdict */
	struct cm_rate_verdict rate;
	/* Last, and written only for audited or refused requests: on a long-poll's own pages, the
	 * page it reaches into alone is never touched. */
	char audit_target[CM_AUDIT_TARGET_MAX + 1]; /* what the audit log names; "" = the path parameters */
};

/* --max-connections is ours to enforce: at libmicrohttpd's own limit it stops polling the
 * listening socket, and a new client waits in the backlog (a minute and more) instead of being
 * told at once. Its limit is set this far above ours, and the accept policy closes past ours. */
#define CM_HTTP_LIMIT_HEADROOM 16

/* Starts the daemon on cfg->listen_*; NULL with a logged reason. */
struct MHD_Daemon *cm_http_start(const struct cm_config *cfg);
/* Shutdown, step 1: no new connections (each is closed as soon as it is accepted, unanswered),
 * and every answer from now on closes its connection. */
void cm_http_quiesce(struct MHD_Daemon *d);
/* Step 2: waits until no request is in flight (its head in: its body still arriving, a handler,
 * an answer being queued), or until deadline_ms (CLOCK_MONOTONIC); true when none is left. */
bool cm_http_drain(long long deadline_ms);
/* Step 3 (or alone): closes every connection left and the daemon. */
void cm_http_stop(struct MHD_Daemon *d);

/* Request accessors. */
const char *cm_req_header(struct cm_request *req, const char *name);
const char *cm_req_query(struct cm_request *req, const char *name);
/* Every value of a repeatable query parameter, in order: the count, or -CM_EBADREQ when there
 * are more than max. */
int cm_req_query_all(struct cm_request *req, const char *name, const char **out, size_t max);
/* The `limit` query parameter every listing takes: 1..CM_LIST_MAX, default CM_LIST_DEFAULT;
 * -CM_EBADREQ otherwise (answer it with CM_LIMIT_INVALID). */
#define CM_LIST_DEFAULT 100
#define CM_LIST_MAX 1000
#define CM_LIMIT_INVALID "limit must be a whole number from 1 to 1000."
int cm_req_limit(struct cm_request *req, unsigned *out);
/* The client's address as text ("" when unknown). */
void cm_req_remote_addr(struct cm_request *req, char *out, size_t cap);
/* The body as one JSON document: -CM_EMEDIA unless Content-Type is application/json (or
 * `also_type`, when not NULL), -CM_EINVJSON unless it parses. Caller frees *out. */
int cm_req_json(struct cm_request *req, const char *also_type, cJSON **out);
/* Is the Content-Type type (with at most a UTF-8 charset parameter)? */
bool cm_req_content_type_is(struct cm_request *req, const char *type);

/* Replies. Each sets the one response of the request; a later call replaces an earlier one. */
int cm_reply_json(struct cm_request *req, unsigned status, cJSON *body); /* takes body */
/* A JSON body already rendered (by PostgreSQL, say): takes text, which must be malloc'd. */
int cm_reply_json_text(struct cm_request *req, unsigned status, char *text);
int cm_reply_raw(struct cm_request *req, unsigned status, const char *content_type, const char *data,
		 size_t len); /* data must outlive the request (static or embedded) */
int cm_reply_empty(struct cm_request *req, unsigned status);
/* A body of len bytes the response takes (malloc'd; freed by libmicrohttpd). */
int cm_reply_owned(struct cm_request *req, unsigned status, const char *content_type, char *data, size_t len);
/* The API.md error envelope for e (a positive enum cm_err); message NULL = the default one.
 * Takes details. Adds WWW-Authenticate, Retry-After as the status requires. */
int cm_reply_error(struct cm_request *req, enum cm_err e, const char *message, cJSON *details);
/* 422 validation_failed with details.field. */
int cm_reply_invalid(struct cm_request *req, const char *field, const char *message);
/* A body produced as it is sent (chunked): libmicrohttpd's content reader contract. The reader
 * returns bytes written into buf (at most max), 0 only after cm_req_suspend() (more later),
 * CM_STREAM_END or CM_STREAM_ERROR. done(cls) runs when the response is gone. */
#define CM_STREAM_END ((ssize_t)-1)
#define CM_STREAM_ERROR ((ssize_t)-2)
typedef ssize_t (*cm_stream_reader)(void *cls, uint64_t pos, char *buf, size_t max);
int cm_reply_stream(struct cm_request *req, unsigned status, const char *content_type, cm_stream_reader reader,
		    void *cls, void (*done)(void *cls));
/* Parks the request: libmicrohttpd stops polling the connection until cm_req_resume(), from any
 * thread. Called from a handler (which then returns 0 with no response, and is called again on
 * resume) or from a stream reader (which then returns 0, and is called again on resume). */
void cm_req_suspend(struct cm_request *req);
void cm_req_resume(struct cm_request *req);

/* An extra header on the response set so far. */
void cm_reply_header(struct cm_request *req, const char *name, const char *value);

#endif
