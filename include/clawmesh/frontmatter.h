/* The YAML front matter of an OpenClaw SKILL.md as a cJSON object: the subset real skills use,
 * everything else refused with a line number. Pure and thread-safe. */
#ifndef CLAWMESH_FRONTMATTER_H
#define CLAWMESH_FRONTMATTER_H
#include <cjson/cJSON.h>
#include <stddef.h>

#define CM_FM_ERROR_MAX 160
#define CM_FM_SIZE_MAX (64 * 1024) /* bytes between the opening and the closing line */
#define CM_FM_DEPTH_MAX 32         /* nested mappings and sequences, block and flow together */
#define CM_FM_SCALARS_MAX 4096     /* keys plus scalar values (null, bool, number, string) */
#define CM_FM_KEY_MAX 256          /* bytes in one key, after unescaping */

struct cm_fm_error {
	int line;                      /* 1-based line in the whole document where parsing failed, 0 if none */
	char message[CM_FM_ERROR_MAX]; /* a human sentence; never quotes more than 40 bytes of input */
};

/* The front matter of a SKILL.md: the YAML mapping between a first line that is exactly "---" (after an
 * optional UTF-8 BOM; trailing spaces/CR allowed) and the next line that is exactly "---" (or "..."),
 * as a cJSON object. text need not be NUL-terminated; len bytes, valid UTF-8 assumed but do not
 * crash if not.
 * 0 with *out = the object, or *out = NULL when the document has no front matter (does not start
 * with a "---" line); *body_offset (may be NULL) = offset of the first byte after the closing
 * line (0 when there is no front matter).
 * -CM_EVALIDATION with err filled when it opens a front matter that is malformed, unterminated,
 * uses unsupported YAML, or exceeds a limit. -CM_EINTERNAL on allocation failure. Caller frees *out. */
int cm_frontmatter_parse(const char *text, size_t len, cJSON **out, size_t *body_offset, struct cm_fm_error *err);

#endif
