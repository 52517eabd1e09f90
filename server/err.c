/* The one table from enum cm_err to HTTP status, API.md error.code and a default sentence. */
#include "clawmesh/err.h"

static const struct {
	unsigned status;
	const char *code;
	const char *message;
} table[CM_ERR_COUNT] = {
	[CM_OK] = {200, "ok", "ok"},
	[CM_EBADREQ] = {400, "bad_request", "The request is malformed."},
	[CM_EINVJSON] = {400, "invalid_json", "The body is not a valid UTF-8 JSON document."},
	[CM_EUNAUTH] = {401, "unauthorized", "A valid bearer token is required."},
	[CM_EFORBIDDEN] = {403, "forbidden", "This token is not allowed to do that."},
	[CM_ENOTFOUND] = {404, "not_found", "Nothing is here."},
	[CM_EMETHOD] = {405, "method_not_allowed", "This method is not allowed here."},
	[CM_ECONFLICT] = {409, "conflict", "The request conflicts with the current state."},
	[CM_EGONE] = {410, "resync_required", "That position is older than the server retains; resynchronise."},
	[CM_EVERSION] = {412, "version_mismatch", "The entry is not at the expected version."},
	[CM_EEXISTS] = {412, "already_exists", "The entry exists already."},
	[CM_ETOOLARGE] = {413, "payload_too_large", "The body is larger than allowed."},
	[CM_EMEDIA] = {415, "unsupported_media_type", "This content type is not accepted here."},
	[CM_EVALIDATION] = {422, "validation_failed", "The request content is invalid."},
	[CM_ESECRET] = {422, "secret_detected", "The content carries a credential; keep secrets node-local."},
	[CM_ERATE] = {429, "rate_limited", "Too many requests; retry later."},
	[CM_EINTERNAL] = {500, "internal", "Something went wrong on our side."},
	[CM_EUNAVAIL] = {503, "unavailable", "The database is unreachable; retry shortly."},
};

static enum cm_err clamp(enum cm_err e)
{
	return (unsigned)e < CM_ERR_COUNT ? e : CM_EINTERNAL;
}

unsigned cm_err_status(enum cm_err e)
{
	return table[clamp(e)].status;
}

const char *cm_err_code(enum cm_err e)
{
	return table[clamp(e)].code;
}

const char *cm_err_message(enum cm_err e)
{
	return table[clamp(e)].message;
}
