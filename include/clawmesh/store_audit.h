/* SQL for the audit log: one row per audited request, read back by id. */
#ifndef CLAWMESH_STORE_AUDIT_H
#define CLAWMESH_STORE_AUDIT_H
#include <cjson/cJSON.h>

struct cm_audit_row {
	const char *token_id, *node; /* NULL when unknown */
	const char *action, *target;
	unsigned status;
	const char *request_id, *remote_addr;
};

int cm_store_audit_insert(const struct cm_audit_row *row);
/* Rows with id > since, oldest first (since < 0: the newest `limit`, still oldest first),
 * appended to items as raw JSON; *last is the highest id returned (since when none). */
int cm_store_audit_list(long long since, unsigned limit, cJSON *items, long long *last);

#endif
