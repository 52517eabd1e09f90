/* cJSON helpers shared by every api_*.c: strict parsing (UTF-8, single document), the error
 * envelope of API.md, and small field helpers. */
#include "clawmesh/json.h"
#include "clawmesh/err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool cm_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

/* An escaped NUL (\u0000) in a string: cJSON would silently cut the string there. */
static bool has_escaped_nul(const char *buf, size_t len)
{
	for (const char *p = buf; (p = memmem(p, len - (size_t)(p - buf), "u0000", 5)); p++) {
		size_t slashes = 0;
		while (p - (ptrdiff_t)slashes > buf && p[-(ptrdiff_t)slashes - 1] == '\\')
			slashes++;
		if (slashes % 2 == 1)
			return true;
	}
	return false;
}

int cm_json_parse(const char *buf, size_t len, cJSON **out)
{
	*out = NULL;
	if (len == 0 || memchr(buf, '\0', len) || !cm_utf8_valid(buf, len) || has_escaped_nul(buf, len))
		return -CM_EINVJSON;
	/* len + 1 covers the terminating NUL, which cJSON requires to be the only thing left. */
	cJSON *doc = cJSON_ParseWithLengthOpts(buf, len + 1, NULL, 1);
	if (!doc)
		return -CM_EINVJSON;
	*out = doc;
	return 0;
}

cJSON *cm_json_error(const char *code, const char *message, const char *request_id, cJSON *details)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	if (!err || !cJSON_AddStringToObject(err, "code", code) ||
	    !cJSON_AddStringToObject(err, "message", message) ||
	    !cJSON_AddStringToObject(err, "request_id", request_id ? request_id : "")) {
		cJSON_Delete(root);
		cJSON_Delete(details);
		return NULL;
	}
	if (details)
		cJSON_AddItemToObject(err, "details", details);
	return root;
}

bool cm_json_add_string_or_null(cJSON *obj, const char *name, const char *s)
{
	return s ? cJSON_AddStringToObject(obj, name, s) != NULL : cJSON_AddNullToObject(obj, name) != NULL;
}

char *cm_json_render(const cJSON *item, size_t *len)
{
	char *s = cJSON_PrintUnformatted(item);
	if (s && len)
		*len = strlen(s);
	return s;
}
