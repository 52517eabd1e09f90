/* GET /v1/export and POST /v1/import (admin): the HTTP side of export.c. The export is a
 * streamed response read from its snapshot as the client takes it; the import a streamed body
 * (CM_ROUTE_STREAM_BODY) spooled to a temporary file as it arrives and imported once whole, so
 * neither is bounded by --max-body nor held in memory, and a slow upload never holds the lock. Each owns a database connection for the request's life. */
#include "clawmesh/api.h"
#include "clawmesh/export.h"
#include "clawmesh/log.h"

#include <stdbool.h>
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

/* An upload is spooled to an unlinked temporary file, and imported once it is whole: the import
 * holds the store's write lock for its database work only, never while a slow client sends. */
struct spool {
	FILE *f;
	bool failed;
	struct cm_import *im;
};

static void spool_free(void *state)
{
	struct spool *sp = state;
	if (sp->f)
		fclose(sp->f);
	if (sp->im)
		cm_import_free(sp->im);
	free(sp);
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

/* The whole spooled file, fed to one import. 0 or <0 (cm_import_failure() says why). */
static int import_spooled(struct spool *sp, size_t max_value)
{
	int e = cm_import_begin(max_value, &sp->im);
	if (e < 0)
		return e;
	rewind(sp->f);
	char buf[64 * 1024];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, sp->f)) > 0)
		if ((e = cm_import_feed(sp->im, buf, n)) < 0)
			return e;
	return cm_import_finish(sp->im);
}

/* Each piece of the body as it arrives; (NULL, 0) at its end. */
static int import_sink(struct cm_request *req, const char *data, size_t len)
{
	struct spool *sp = req->state;
	if (data) {
		if (!sp->failed && fwrite(data, 1, len, sp->f) != len)
			sp->failed = true; /* the rest is read and dropped; the answer says why */
		return 0;
	}
	if (sp->failed || fflush(sp->f)) {
		cm_log_error("import: cannot spool the upload to a temporary file (disk full?)");
		return cm_reply_error(req, CM_EUNAVAIL, "The upload could not be stored for import (temporary disk full?).",
				      NULL);
	}
	int e = import_spooled(sp, req->cfg->max_value);
	if (!sp->im)
		return e;
	return import_answer(req, sp->im, e);
}

int cm_api_import(struct cm_request *req)
{
	if (!cm_req_content_type_is(req, CM_EXPORT_CONTENT_TYPE) && !cm_req_content_type_is(req, "application/jsonl"))
		return cm_reply_error(req, CM_EMEDIA, "An import is application/x-ndjson (or application/jsonl): an export's lines.",
				      NULL);
	struct spool *sp = calloc(1, sizeof *sp);
	if (!sp)
		return -CM_EINTERNAL;
	req->state = sp;
	req->state_free = spool_free;
	if (!(sp->f = tmpfile())) {
		cm_log_error("import: cannot create a temporary file to spool the upload");
		return cm_reply_error(req, CM_EUNAVAIL, "The upload could not be stored for import (no temporary file).", NULL);
	}
	req->body_sink = import_sink;
	return 0;
}
