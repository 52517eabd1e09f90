/* The dashboard at /ui/: the files tools/embed.c compiled in under "ui/NAME" (meson.build lists
 * them), each with its content type and a strong ETag, revalidated with 304. The security
 * headers of every /ui answer (its 404s too) are added with the other common ones in http.c. */
#include "clawmesh/api.h"
#include "clawmesh/embedded.h"
#include "clawmesh/hex.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Only names in this table are served, and only files embedded as "ui/…" are in it: a
 * migration or openapi.yaml (embedded by base name) cannot be reached through /ui/, whatever
 * the path. The file name is one decoded path segment (the router refuses an encoded '/'). */
#define UI_FILES_MAX 16
#define UI_PREFIX "ui/"

struct ui_file {
	const struct cm_embedded *f;
	const char *type;
	char etag[2 + 32 + 1]; /* "…": the first 128 bits of the file's SHA-256, in hex */
};

static struct ui_file ui_files[UI_FILES_MAX];
static size_t ui_count;
static pthread_once_t ui_once = PTHREAD_ONCE_INIT;

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* Every type says its charset: nosniff makes the browser take it at its word. */
static const char *type_of(const char *name)
{
	if (ends_with(name, ".html"))
		return "text/html; charset=utf-8";
	if (ends_with(name, ".js"))
		return "text/javascript; charset=utf-8";
	if (ends_with(name, ".css"))
		return "text/css; charset=utf-8";
	if (ends_with(name, ".txt"))
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

/* Hashed once, on the first /ui request: the files never change while the binary runs. */
static void ui_index(void)
{
	for (size_t i = 0; i < cm_embedded_count && ui_count < UI_FILES_MAX; i++) {
		const struct cm_embedded *f = &cm_embedded_files[i];
		if (strncmp(f->name, UI_PREFIX, sizeof UI_PREFIX - 1))
			continue;
		struct ui_file *u = &ui_files[ui_count];
		unsigned char d[EVP_MAX_MD_SIZE];
		unsigned int n = 0;
		if (EVP_Digest(f->data, f->len, d, &n, EVP_sha256(), NULL) != 1 || n < 16)
			continue; /* served as 404 rather than with an ETag that might not change with it */
		u->etag[0] = '"';
		cm_hex_encode(d, 16, u->etag + 1);
		u->etag[33] = '"';
		u->etag[34] = '\0';
		u->f = f;
		u->type = type_of(f->name);
		ui_count++;
	}
}

static const struct ui_file *ui_find(const char *name)
{
	pthread_once(&ui_once, ui_index);
	for (size_t i = 0; i < ui_count; i++)
		if (!strcmp(ui_files[i].f->name + sizeof UI_PREFIX - 1, name))
			return &ui_files[i];
	return NULL;
}

int cm_api_ui(struct cm_request *req)
{
	const struct ui_file *u = ui_find(req->nparams ? req->params[0] : "index.html");
	if (!u)
		return -CM_ENOTFOUND;
	const char *inm = cm_req_header(req, "If-None-Match");
	int e = inm && cm_etag_in(inm, u->etag) ? cm_reply_empty(req, 304)
						 : cm_reply_raw(req, 200, u->type, u->f->data, u->f->len);
	if (e < 0)
		return e;
	cm_reply_header(req, "ETag", u->etag);
	/* Cached, but asked about every time: a new binary's page is never mixed with an old script. */
	cm_reply_header(req, "Cache-Control", "no-cache");
	return 0;
}

int cm_api_ui_redirect(struct cm_request *req)
{
	/* 308, not 301: the method is kept (a HEAD stays a HEAD). Relative URLs in the page resolve
	 * against /ui/, so the page is only ever served there. */
	int e = cm_reply_empty(req, 308);
	if (e < 0)
		return e;
	cm_reply_header(req, "Location", "/ui/");
	return 0;
}
