/* SQL for the node registry: cm_node_write (register, update, capabilities, delete) under the write
 * lock with a change row; heartbeats touch last_seen only; views are rendered in SQL with the
 * skills the caller may see. Nothing here knows HTTP or grants. */
#ifndef CLAWMESH_STORE_NODES_H
#define CLAWMESH_STORE_NODES_H
#include "clawmesh/store.h"
#include "clawmesh/store_skills.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

/* Who looks at nodes: the heartbeat window (seconds) and the scopes whose skills they may see. */
struct cm_node_viewer {
	unsigned window;
	struct cm_scope_filter in; /* in.scopes unused */
};

struct cm_node_write {
	const char *op; /* "put" | "capabilities" | "delete" */
	const char *id;
	const char *name, *description; /* put */
	const char *capabilities;       /* JSON array of strings (put, capabilities) */
	const char *endpoint, *meta;    /* put; NULL = none */
	const char *node;               /* provenance */
};

/* The write, then (unless deleted or refused) the node as viewer sees it in out->entry. */
int cm_store_node_write(const struct cm_node_write *w, const struct cm_node_viewer *viewer,
			struct cm_store_result *out);
/* 0, or -CM_ENOTFOUND when no such node is registered. */
int cm_store_node_heartbeat(const char *id);
int cm_store_node_get(const char *id, const struct cm_node_viewer *viewer, struct cm_store_result *out);

struct cm_node_filter {
	const char *capability; /* NULL = any; matched case-insensitively */
	int online;             /* -1 = any, 0 = offline only, 1 = online only */
	const char *after;      /* the last id of the previous page, or NULL */
	unsigned limit;
};
/* Nodes by id appended to items; *next = the last id shown when more follow (caller frees). */
int cm_store_node_list(const struct cm_node_filter *f, const struct cm_node_viewer *viewer, cJSON *items,
		       char **next);

#endif
