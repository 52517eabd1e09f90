/* cJSON helpers: strict body parsing, field access with validation errors, time formatting. */
#ifndef CLAWMESH_JSON_H
#define CLAWMESH_JSON_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
bool cm_utf8_valid(const char *s, size_t len);

/* Parses a whole body as one JSON document, as strictly as RFC 8259 and PostgreSQL's jsonb: UTF-8,
 * no NUL (raw or escaped), numbers by the JSON grammar and within numeric's range, no duplicate
 * member names, no control characters but JSON's whitespace, nothing after it.
 * buf must have a NUL at buf[len]. 0 with *out (caller frees), -CM_EINVJSON, or -CM_ETOOLARGE
 * when its numbers written out in full (as PostgreSQL prints them) would add over 1 MiB. */
int cm_json_parse(const char *buf, size_t len, cJSON **out);
/* The bytes of a JSON text with its numbers written out in full, as PostgreSQL stores and prints
 * them (1e5 as 100000): a bound on what storing it costs. -1 when it is not strict JSON. */
long cm_json_stored_size(const char *s, size_t len);

/* Nesting depth: 0 for a scalar, 1 for a flat array or object. */
int cm_json_depth(const cJSON *item);
/* The error envelope {"error":{code,message,request_id,details?}}; takes details. Caller frees. */
cJSON *cm_json_error(const char *code, const char *message, const char *request_id, cJSON *details);

/* Adds a string, or JSON null when s is NULL. false on allocation failure. */
bool cm_json_add_string_or_null(cJSON *obj, const char *name, const char *s);

/* Where the value of member name lies in the text of a JSON object that already parsed (so it is
 * well formed): true with *off and *n when a top-level member's key is written exactly as name
 * (a key spelled with escapes, or a name that would need one, is not found: render the parsed
 * item instead). Lets a value reach PostgreSQL as its own text, numbers digit for digit. */
bool cm_json_member_span(const char *text, size_t len, const char *name, size_t *off, size_t *n);
/* The text to store for member name of the object text (NUL-terminated; NULL = none): the
 * client's own, found by cm_json_member_span, else item (that member, parsed) rendered. *len its
 * length; caller frees; NULL when out of memory. */
char *cm_json_member_text(const char *text, const char *name, const cJSON *item, size_t *len);

/* Renders unformatted; caller frees with free(). */
char *cm_json_render(const cJSON *item, size_t *len);

#endif
