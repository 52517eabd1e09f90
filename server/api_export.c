/* GET /v1/export and POST /v1/import (admin): the HTTP side of export.c. The export is a
 * streamed response read from its snapshot as the client takes it; the import a streamed body
 * (CM_ROUTE_STREAM_BODY) fed to the import line by line as it arrives, so neither is bounded by
 * --max-body nor held in memory. Each owns a database connection for the request's life. */
#include "clawmesh/api.h"
#include "clawmesh/export.h"
#include "clawmesh/log.h"

#include <stdio.h>
#include <stdlib.h>

static ssize_t export_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	ssize_t n = cm_export_read(cls, buf, max);
	if (n < 0) {
		/* The status is sent already: cutting the stream short leaves the body without its
		 * trailer, which every import refuses. */
		cm_log_warn("export: the database failed midway; the response is cut short");
		return CM_STREAM_ERROR;
	}
	return n ? n : CM_STREAM_END;
}

static void export_done(void *cls)
{
	cm_export_free(cls);
}

int cm_api_export(struct cm_request *req)
{
	struct cm_export *x;
	char why[192];
	int e = cm_export_open(&x, why, sizeof why);
	if (e < 0)
		return cm_reply_error(req, -e, e == -CM_EUNAVAIL ? why : NULL, NULL);
	snprintf(req->audit_target, sizeof req->audit_target, "revision %lld", cm_export_revision(x));
	/* The reply owns x from here: done frees it, also when the client leaves midway. */
	return cm_reply_stream(req, 200, CM_EXPORT_CONTENT_TYPE, export_reader, x, export_done);
}

static void import_free(void *state)
{
	cm_import_free(state);
}

/* The summary, or the refusal, as the answer; the audit row names the counts. */
static int import_answer(struct cm_request *req, struct cm_import *im, int e)
{
	long lines, imported, skipped;
	cm_import_counts(im, &lines, &imported, &skipped);
	if (e < 0) {
		struct cm_import_failure *f = cm_import_failure(im);
		if (f->line > 0)
			snprintf(req->audit_target, sizeof req->audit_target, "refused at line %ld", f->line);
		else
			snprintf(req->audit_target, sizeof req->audit_target, "refused after %ld lines", lines);
		cJSON *d = f->details;
		f->details = NULL;
		return cm_reply_error(req, f->err, f->message, d);
	}
	snprintf(req->audit_target, sizeof req->audit_target, "%ld lines: %ld imported, %ld skipped",
		 lines ? lines - 1 : 0, imported, skipped);
	return cm_reply_json_text(req, 200, cm_import_summary(im));
}

/* Each piece of the body as it arrives; (NULL, 0) at its end. */
static int import_sink(struct cm_request *req, const char *data, size_t len)
{
	struct cm_import *im = req->state;
	int e = data ? cm_import_feed(im, data, len) : cm_import_finish(im);
	if (e < 0 || !data)
		return import_answer(req, im, e);
	return 0;
}

int cm_api_import(struct cm_request *req)
{
	if (!cm_req_content_type_is(req, CM_EXPORT_CONTENT_TYPE) && !cm_req_content_type_is(req, "application/jsonl"))
		return cm_reply_error(req, CM_EMEDIA, "An import is application/x-ndjson (or application/jsonl): an export's lines.",
				      NULL);
	struct cm_import *im;
	int e = cm_import_begin(req->cfg->max_value, &im);
	if (!im)
		return e;
	req->state = im;
	req->state_free = import_free;
	if (e < 0)
		return import_answer(req, im, e);
	req->body_sink = import_sink;
	return 0;
}
