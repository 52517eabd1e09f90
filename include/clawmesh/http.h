/* The request life cycle on libmicrohttpd, stated once: accumulate the body under a hard limit,
 * route, authenticate, call the handler, queue one response with the common headers, log it. */
#ifndef CLAWMESH_HTTP_H
#define CLAWMESH_HTTP_H
#include "clawmesh/auth.h"
#include "clawmesh/config.h"
#include "clawmesh/err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CM_MAX_PARAMS 4
#define CM_PARAM_MAX 512
#define CM_REQUEST_ID_MAX 64
#define CM_AUDIT_TARGET_MAX 1024

struct MHD_Connection;
struct MHD_Response;
struct MHD_Daemon;
struct cm_route;

struct cm_request {
	struct MHD_Connection *conn;
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

	const struct cm_route *route;
	size_t nparams;
	char params[CM_MAX_PARAMS][CM_PARAM_MAX + 1]; /* decoded path parameters */
	bool authenticated;
	struct cm_identity who;
	char audit_target[CM_AUDIT_TARGET_MAX + 1]; /* what the audit log names; "" = the path parameters */

	unsigned status;
	struct MHD_Response *response;
	bool queued;
};

/* Starts the daemon on cfg->listen_*; NULL with a logged reason. */
struct MHD_Daemon *cm_http_start(const struct cm_config *cfg);
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
/* An extra header on the response set so far. */
void cm_reply_header(struct cm_request *req, const char *name, const char *value);

#endif
