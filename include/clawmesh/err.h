/* One error enum for the whole server, mapped to HTTP status and API.md's error.code in one table. */
#ifndef CLAWMESH_ERR_H
#define CLAWMESH_ERR_H

/* Functions return 0 for success and the negative of one of these on failure. */
enum cm_err {
	CM_OK = 0,
	CM_EBADREQ,      /* 400 bad_request */
	CM_EINVJSON,     /* 400 invalid_json */
	CM_EUNAUTH,      /* 401 unauthorized */
	CM_EFORBIDDEN,   /* 403 forbidden */
	CM_ENOTFOUND,    /* 404 not_found */
	CM_EMETHOD,      /* 405 method_not_allowed */
	CM_ECONFLICT,    /* 409 conflict */
	CM_EGONE,        /* 410 resync_required */
	CM_EVERSION,     /* 412 version_mismatch */
	CM_EEXISTS,      /* 412 already_exists */
	CM_ETOOLARGE,    /* 413 payload_too_large */
	CM_EMEDIA,       /* 415 unsupported_media_type */
	CM_EVALIDATION,  /* 422 validation_failed */
	CM_ESECRET,      /* 422 secret_detected */
	CM_ERATE,        /* 429 rate_limited */
	CM_EINTERNAL,    /* 500 internal */
	CM_EUNAVAIL,     /* 503 unavailable */
	CM_ERR_COUNT
};

unsigned cm_err_status(enum cm_err e);
const char *cm_err_code(enum cm_err e);
/* A default human sentence for the error, used when the caller gives none. */
const char *cm_err_message(enum cm_err e);

#endif
