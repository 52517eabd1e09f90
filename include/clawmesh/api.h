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

/* api_tokens.c */
int cm_api_whoami(struct cm_request *req);
int cm_api_tokens_create(struct cm_request *req);
int cm_api_tokens_list(struct cm_request *req);
int cm_api_tokens_get(struct cm_request *req);
int cm_api_tokens_revoke(struct cm_request *req);

/* api_memory.c */
int cm_api_memory_put(struct cm_request *req);
int cm_api_memory_get(struct cm_request *req);
int cm_api_memory_patch(struct cm_request *req);
int cm_api_memory_delete(struct cm_request *req);
int cm_api_memory_history(struct cm_request *req);
int cm_api_memory_list(struct cm_request *req);
int cm_api_batch(struct cm_request *req);

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
 * endpoint, capabilities and meta. 0, 1 = refused (p set), <0. Caller frees *caps and *meta,
 * which w points into. Pure: tests/fuzz. */
struct cm_node_write;
int cm_node_put_parse(const struct cm_config *cfg, const cJSON *body, struct cm_node_write *w, char **caps, char **meta,
		      struct cm_problem *p);
/* What who sees of nodes: the heartbeat window and the scopes of the skills listed. Free with
 * cm_node_viewer_free(). */
struct cm_node_viewer;
int cm_node_viewer_init(const struct cm_config *cfg, const struct cm_identity *who, struct cm_node_viewer *v);
void cm_node_viewer_free(struct cm_node_viewer *v);

/* api_messages.c */
int cm_api_messages(struct cm_request *req);
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
