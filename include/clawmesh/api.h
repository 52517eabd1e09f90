/* Handlers: one api_*.c per resource. Each parses, validates, authorises, calls its store and
 * renders; the route table in router.c maps paths to them. */
#ifndef CLAWMESH_API_H
#define CLAWMESH_API_H
#include "clawmesh/api_util.h"
#include "clawmesh/http.h"
#include "clawmesh/store.h"

/* api_ops.c */
int cm_api_healthz(struct cm_request *req);
int cm_api_readyz(struct cm_request *req);
int cm_api_openapi(struct cm_request *req);
int cm_api_metrics(struct cm_request *req);

/* api_ui.c: the dashboard's files, no token needed (its API calls carry one) */
int cm_api_ui(struct cm_request *req);
int cm_api_ui_redirect(struct cm_request *req);

/* api_tokens.c */
int cm_api_whoami(struct cm_request *req);
int cm_api_tokens_create(struct cm_request *req);
int cm_api_tokens_list(struct cm_request *req);
int cm_api_tokens_get(struct cm_request *req);
int cm_api_tokens_revoke(struct cm_request *req);
/* A POST /v1/tokens body into tr: 0, or 1 with p (400 bad_request when no object, 422 naming
 * the field; an unknown member as cm_check_unknown_field shows it), <0. Pure: tests/fuzz. */
struct cm_token_request;
int cm_token_request_parse(const cJSON *body, struct cm_token_request *tr, struct cm_problem *p);

/* api_memory.c */
int cm_api_memory_put(struct cm_request *req);
int cm_api_memory_get(struct cm_request *req);
int cm_api_memory_patch(struct cm_request *req);
int cm_api_memory_delete(struct cm_request *req);
int cm_api_memory_history(struct cm_request *req);
int cm_api_memory_list(struct cm_request *req);
int cm_api_batch(struct cm_request *req);
/* The validation of memory writes alone (no database, no reply), as the handlers call it; pure,
 * so tests/fuzz drives it. A refusal is 1 with p set: its field as API.md names it. */
struct cm_memory_fields {
	char *tags_text;        /* the tags as a JSON array, NULL = none given; owned */
	long long ttl;          /* 0 = none */
	const char *expires_at; /* into the body, NULL = none */
};
void cm_memory_fields_free(struct cm_memory_fields *w);
/* A value (a PUT's or a merge patch): at most 100 levels deep, no credential. 0, 1, <0. */
int cm_memory_value_check(const struct cm_config *cfg, const cJSON *v, struct cm_problem *p);
/* A PUT body {"value", "tags"?, "ttl"? | "expires_at"?} into w (free it either way). 0, 1, <0. */
int cm_memory_put_parse(const struct cm_config *cfg, const cJSON *body, struct cm_memory_fields *w,
			struct cm_problem *p);
/* A batch body {"ops":[…]}, every op checked for who (grant and secret guard included) before
 * anything runs; fields as "ops[3].value", *index = the op refused (-1: the body). 0, 1, <0. */
int cm_batch_check(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *body, int *index,
		   struct cm_problem *p);

/* api_skills.c */
int cm_api_skill_put(struct cm_request *req);
int cm_api_skill_get(struct cm_request *req);
int cm_api_skill_delete(struct cm_request *req);
int cm_api_skill_versions(struct cm_request *req);
int cm_api_skill_list(struct cm_request *req);

/* A publish as the REST API and the bridge both make it. */
struct cm_skill_input {
	const char *scope, *name;
	const char *content; /* len bytes, NUL-terminated */
	size_t len;
	const cJSON *description, *tags, *metadata; /* NULL = not given */
	const char *source; /* the JSON object text metadata was parsed from (NUL-terminated), or NULL:
			     * metadata then reaches the store as written, numbers digit for digit */
	const char *if_match;                       /* as cm_req_if_match() gives it; NULL = none */
	bool if_none_match;
};
/* Grant, validation (content, front matter, fields), the secret guard and the store, for who:
 * 0 with *out (created / updated / unchanged, the skill without content), 1 with *p when refused,
 * <0 on failure. */
int cm_skill_publish(const struct cm_config *cfg, const struct cm_identity *who, const struct cm_skill_input *in,
		     struct cm_store_result *out, struct cm_problem *p);
/* The validation of a publish alone (no grant, no store): what cm_skill_publish refuses for
 * content, front matter, fields and secrets. 0, 1 = refused (p set), <0. Pure: tests/fuzz. */
int cm_skill_check(const struct cm_config *cfg, const struct cm_skill_input *in, struct cm_problem *p);
/* A PUT's JSON body {"content", "description"?, "tags"?, "metadata"?} into in (pointing into
 * body; source = the body's text). 0, 1 = refused (p set). */
int cm_skill_input_from_json(const cJSON *body, const char *source, struct cm_skill_input *in, struct cm_problem *p);

/* api_nodes.c */
int cm_api_node_put(struct cm_request *req);
int cm_api_node_get(struct cm_request *req);
int cm_api_node_delete(struct cm_request *req);
int cm_api_node_heartbeat(struct cm_request *req);
int cm_api_node_list(struct cm_request *req);
/* Capabilities as a node registration carries them: at most 64 strings of 1-64 characters, no
 * control characters; *text = the JSON array (caller frees). 1 = refused (p set). */
int cm_check_capabilities(const struct cm_config *cfg, const cJSON *caps, char **text, struct cm_problem *p);
/* A registration body (PUT /v1/nodes/{id}, w->id set) validated into w's name, description,
 * endpoint, capabilities and meta. source = the body's text (NUL-terminated) or NULL: meta then
 * reaches the store as written, numbers digit for digit. 0, 1 = refused (p set), <0. Caller
 * frees *caps and *meta, which w points into. Pure: tests/fuzz. */
struct cm_node_write;
int cm_node_put_parse(const struct cm_config *cfg, const cJSON *body, const char *source, struct cm_node_write *w,
		      char **caps, char **meta, struct cm_problem *p);
/* What who sees of nodes: the heartbeat window and the scopes of the skills listed. Free with
 * cm_node_viewer_free(). */
struct cm_node_viewer;
int cm_node_viewer_init(const struct cm_config *cfg, const struct cm_identity *who, struct cm_node_viewer *v);
void cm_node_viewer_free(struct cm_node_viewer *v);

/* api_messages.c */
int cm_api_messages(struct cm_request *req);
/* The validation of bridge messages alone (no database, no reply), as the handler calls it;
 * pure, so tests/fuzz drives it. A body is one message or an array of 1 to 100: 0 with *n,
 * 1 = refused (p set). */
int cm_messages_body_check(const cJSON *body, int *n, struct cm_problem *p);
enum cm_message_kind { CM_MSG_MEMORY, CM_MSG_SKILL, CM_MSG_REQUEST, CM_MSG_CAPABILITIES };
/* One message, checked: what the store is then asked to do. Pointers lead into the message. */
struct cm_message_input {
	enum cm_message_kind kind;
	const char *type;                /* "memory" … once the type is known, else NULL */
	char scope[CM_SCOPE_MAX + 1];    /* "node" already resolved to node:<the token's node> */
	const char *key;                 /* memory, request of memory */
	const char *name;                /* request of a skill */
	const cJSON *value;              /* memory */
	char ts[CM_TIME_MAX + 1];        /* memory: RFC 3339, "" = none */
	char *tags_text;                 /* memory: the tags as JSON, or NULL; owned */
	bool memory;                     /* request: what is memory (else skill) */
	struct cm_skill_input skill;     /* skill: scope, name, content, description, tags, metadata;
					  * its grant and validation are cm_skill_publish's */
	char *caps;                      /* capabilities: the JSON array; owned */
};
/* One message m of who: its type, the node it claims, then its type's fields, grant and secret
 * guard (in the order the handler has always checked them). 0, 1 = refused (p set), <0. Free in
 * with cm_message_input_free() either way. */
int cm_message_check(const struct cm_config *cfg, const struct cm_identity *who, const cJSON *m,
		     struct cm_message_input *in, struct cm_problem *p);
void cm_message_input_free(struct cm_message_input *in);
/* The spans ([start, end) offsets) of the top-level elements of the JSON array in s[0..len), which
 * has already parsed: up to max, the count found. Each message reaches the store as its own text. */
int cm_message_spans(const char *s, size_t len, size_t (*span)[2], int max);

/* api_changes.c */
int cm_api_changes(struct cm_request *req);
int cm_api_stats(struct cm_request *req);

/* api_export.c */
int cm_api_export(struct cm_request *req);
/* Sets req->body_sink (a CM_ROUTE_STREAM_BODY route). */
int cm_api_import(struct cm_request *req);

/* api_audit.c */
int cm_api_audit_list(struct cm_request *req);
/* Writes one audit row for a finished request (http.c calls it for the requests it audits). */
void cm_api_audit_record(struct cm_request *req);
/* One more row for a part of a request answered on its own (a refused bridge message). */
void cm_api_audit_part(struct cm_request *req, const char *action, const char *target, unsigned status);
/* 401s of requests without a valid token that were not recorded (a flood; see api_audit.c). */
unsigned long long cm_api_audit_suppressed(void);

#endif
