/* Export and import of the whole store as NDJSON (format 1, docs/operations.md): the one core
 * behind GET /v1/export, POST /v1/import, `clawmeshd export` and `clawmeshd import`. Each runs on
 * a database connection of its own, opened here and closed by its _free(): a stream spans many
 * callbacks, between which a worker thread's pooled connection serves other requests. */
#ifndef CLAWMESH_EXPORT_H
#define CLAWMESH_EXPORT_H
#include "clawmesh/err.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CM_EXPORT_FORMAT 1
#define CM_EXPORT_CONTENT_TYPE "application/x-ndjson"

/* --- export: a byte source ------------------------------------------------------------------ */
struct cm_export;
/* Connects and opens a read-only snapshot: every line comes from one consistent state. 0 with
 * *out, or -CM_EUNAVAIL (database unreachable, or its schema not the one this binary exports)
 * with a sentence in why. */
int cm_export_open(struct cm_export **out, char *why, size_t cap);
/* The revision the header names: the store's, as of the snapshot. */
long long cm_export_revision(const struct cm_export *x);
/* The next bytes of the export, at most max, into buf: how many, 0 once the trailer is out, or
 * <0 when the database failed (logged): what was read so far then lacks its trailer, so an
 * import refuses it. Memory stays bounded by one row, however large the store. */
ssize_t cm_export_read(struct cm_export *x, char *buf, size_t max);
void cm_export_free(struct cm_export *x);

/* --- import: a byte sink -------------------------------------------------------------------- */
/* Why an import was refused. Nothing of it was committed. */
struct cm_import_failure {
	enum cm_err err; /* CM_EBADREQ, CM_EINVJSON, CM_ECONFLICT, CM_EUNAVAIL, CM_EINTERNAL */
	long line;       /* the line it is about (1 = the header), 0 = none */
	char message[320];
	cJSON *details;  /* {"line","type","field"?, the row's key members on a conflict}; owned */
};

struct cm_import;
/* Connects, begins the one transaction and takes the write lock (waiting at most 15 s for
 * another import). max_value is --max-value: a line may be 6 x max_value + 64 KiB long (escaping
 * makes a control character six bytes). Always
 * sets *out (free it); 0, or <0 with cm_import_failure() saying why. */
int cm_import_begin(size_t max_value, struct cm_import **out);
/* The next bytes of the file, cut anywhere. 0, or <0 once the import is refused. */
int cm_import_feed(struct cm_import *im, const char *data, size_t len);
/* The end of the file: checks the trailer, moves the revision sequence up to the file's,
 * notifies the change feed when a row was imported, commits. 0 or <0. */
int cm_import_finish(struct cm_import *im);
/* Why it was refused; a caller may take the details (set them to NULL). */
struct cm_import_failure *cm_import_failure(struct cm_import *im);
/* The summary {"imported":{type: n,…},"skipped":{…},"lines":K,"revision":R}; caller frees. */
char *cm_import_summary(const struct cm_import *im);
/* Lines read and rows imported and skipped so far. */
void cm_import_counts(const struct cm_import *im, long *lines, long *imported, long *skipped);
/* Rolls back whatever was not committed and closes the connection. */
void cm_import_free(struct cm_import *im);

#endif
