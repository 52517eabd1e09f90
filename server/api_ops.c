/* Operations endpoints: liveness, readiness (database answers, schema current), the contract,
 * metrics. */
#include "clawmesh/api.h"
#include "clawmesh/embedded.h"
#include "clawmesh/metrics.h"
#include "clawmesh/migrate.h"

int cm_api_healthz(struct cm_request *req)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "ok");
	return cm_reply_json(req, 200, o);
}

int cm_api_readyz(struct cm_request *req)
{
	int version = 0;
	int e = cm_migrate_current(&version);
	if (e < 0)
		return cm_reply_error(req, CM_EUNAVAIL, "The database does not answer.", NULL);
	if (version < cm_migrate_latest()) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddNumberToObject(d, "schema_version", version);
		cJSON_AddNumberToObject(d, "expected_version", cm_migrate_latest());
		return cm_reply_error(req, CM_EUNAVAIL, "The database schema is not current; run clawmeshd migrate.", d);
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "ready");
	cJSON_AddNumberToObject(o, "schema_version", version);
	return cm_reply_json(req, 200, o);
}

int cm_api_openapi(struct cm_request *req)
{
	const struct cm_embedded *f = cm_embedded_find("openapi.yaml");
	if (!f)
		return -CM_ENOTFOUND;
	return cm_reply_raw(req, 200, "application/yaml; charset=utf-8", f->data, f->len);
}

int cm_api_metrics(struct cm_request *req)
{
	size_t len;
	char *text = cm_metrics_render(&len);
	if (!text)
		return -CM_EINTERNAL;
	return cm_reply_owned(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
