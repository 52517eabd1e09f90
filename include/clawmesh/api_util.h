/* Helpers the api_*.c handlers share: a refusal as a value (so the bridge can put it in a result
 * instead of a response), the grant and secret checks, preconditions, and listing pages. */
#ifndef CLAWMESH_API_UTIL_H
#define CLAWMESH_API_UTIL_H
#include "clawmesh/http.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Why a request or one message of a batch is refused: an error, its sentence, the field it is
 * about, and more details. CM_OK = nothing refused. */
struct cm_problem {
	enum cm_err err;
	char message[192];
	char field[64];  /* "" = none */
	cJSON *details;  /* extra details (kind, limit, current_version), or NULL; owned */
};

/* Sets p (message printf-style); field may be NULL. Returns 1, the "refused" of the checks below. */
int cm_problem(struct cm_problem *p, enum cm_err err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Adds a number to p's details. */
void cm_problem_number(struct cm_problem *p, const char *name, double v);
void cm_problem_clear(struct cm_problem *p);
/* The details object: p's extra details plus field and, when index >= 0, index. Takes them. */
cJSON *cm_problem_details(struct cm_problem *p, int index);
/* Answers the request with p (index >= 0 adds details.index); clears p. */
int cm_reply_problem(struct cm_request *req, struct cm_problem *p, int index);
/* p as the error object of a result: {"code","message","details"?}; clears p. Caller frees. */
cJSON *cm_problem_json(struct cm_problem *p, int index);

/* The grant check as a problem: 1 (refused, 403) unless who may do need on scope, else 0. */
int cm_check_scope(const struct cm_identity *who, const char *scope, enum cm_access need, struct cm_problem *p);
/* The secret guard: 1 (422 secret_detected naming field and kind) when item, or text when item
 * is NULL, carries a credential of the configured kinds; 0 when clean; -CM_EINTERNAL on OOM. */
int cm_check_secret(const struct cm_config *cfg, const char *field, const cJSON *item, const char *text,
		    size_t len, struct cm_problem *p);
/* 422 for a member we do not know; its name is echoed only when it is short printable ASCII
 * with nothing credential-shaped in it. Returns 1. */
int cm_check_unknown_field(const char *name, struct cm_problem *p);
/* Tags: an array of at most 32 valid tags, no credential; *text = the array as JSON (caller frees). */
int cm_check_tags(const struct cm_config *cfg, const cJSON *tags, char **text, struct cm_problem *p);
bool cm_field_known(const char *name, const char *const *fields);

/* If-Match as a PostgreSQL array literal of the versions it names, into out (CM_IF_MATCH_TEXT
 * bytes): "" when absent, "{0}" for *, "{3,5}" for "3", "5"; weak or foreign ETags can never match
 * and are left out. 1 = malformed (answered, 400). */
#define CM_IF_MATCH_TEXT (16 * 11 + 3)
int cm_req_if_match(struct cm_request *req, char *out);
/* If-None-Match on a write: only *; *set tells whether it was given. 1 = refused (answered). */
int cm_req_if_none_match_star(struct cm_request *req, bool *set);
/* Does an If-None-Match field value name etag (quoted: "\"3\""), or is it "*"? RFC 9110 13.1.2:
 * weak comparison, so W/"3" names "3". Entity tags are quoted and may hold commas, so the list
 * is read tag by tag; anything malformed ends the reading (no match: the answer is sent whole). */
bool cm_etag_in(const char *field, const char *etag);
/* The same for the ETag of version ("\"3\"", cm_reply_etag()). */
bool cm_etag_listed(const char *header, int version);
void cm_reply_etag(struct cm_request *req, int version);

/* The `cursor` query parameter decoded, NULL when absent; 1 = not one of ours (answered). */
int cm_req_cursor(struct cm_request *req, cJSON **out);
/* {"items": items, "next_cursor": the cursor of next, or null}; takes items and next. */
int cm_reply_page(struct cm_request *req, cJSON *items, cJSON *next);
/* Pages of versions, newest first (a key's history, a skill's versions): the limit, and the
 * version the cursor continues below (0 = from the newest). 1 = refused (answered). */
int cm_req_version_page(struct cm_request *req, unsigned *limit, int *before);
/* The page of versions in items (taken); next = the version to continue below, 0 = the last page. */
int cm_reply_version_page(struct cm_request *req, cJSON *items, int next);
/* The scopes who reads, as listings filter them: *all, else exact scopes and scope prefixes as
 * JSON arrays of strings (caller frees both). */
int cm_readable_scopes(const struct cm_identity *who, bool *all, char **exact, char **prefixes);
/* A repeatable query parameter as a JSON array text, NULL when absent; check() validates each
 * value (what describes a valid one). v receives the values, *count their number. 1 = refused. */
#define CM_MAX_FILTER_VALUES 32
int cm_req_query_list(struct cm_request *req, const char *name, bool (*check)(const char *), const char *what,
		      char **out, const char **v, int *count);

#endif
