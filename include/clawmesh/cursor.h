/* Opaque listing cursors: a small JSON object of where the last page ended, as base64url, so
 * clients pass it back verbatim and the server can change what is inside. */
#ifndef CLAWMESH_CURSOR_H
#define CLAWMESH_CURSOR_H
#include <cjson/cJSON.h>

#define CM_CURSOR_MAX 1024 /* characters of an encoded cursor we accept */

/* The cursor text for pos (not taken). Caller frees; NULL on allocation failure. */
char *cm_cursor_encode(const cJSON *pos);
/* The object inside a cursor; NULL unless s is one cm_cursor_encode() could have made. Caller frees. */
cJSON *cm_cursor_decode(const char *s);

#endif
