/* Listing cursors: base64url (no padding) of compact JSON. Nothing secret is inside; a forged
 * cursor can only move a listing within what the token may read anyway. */
#include "clawmesh/cursor.h"
#include "clawmesh/json.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

char *cm_cursor_encode(const cJSON *pos)
{
	size_t len;
	char *json = cm_json_render(pos, &len);
	if (!json)
		return NULL;
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	if (out) {
		int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)json, (int)len);
		while (n > 0 && out[n - 1] == '=')
			n--;
		out[n] = '\0';
		for (char *p = out; *p; p++)
			*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	}
	free(json);
	return out;
}

cJSON *cm_cursor_decode(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len == 0 || len > CM_CURSOR_MAX || len % 4 == 1 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len)
		return NULL;
	char b64[CM_CURSOR_MAX + 4];
	size_t n = 0;
	for (; n < len; n++)
		b64[n] = s[n] == '-' ? '+' : s[n] == '_' ? '/' : s[n];
	size_t pad = (4 - len % 4) % 4;
	for (size_t i = 0; i < pad; i++)
		b64[n++] = '=';
	unsigned char raw[CM_CURSOR_MAX];
	int got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (got < 0)
		return NULL;
	got -= (int)pad; /* EVP_DecodeBlock counts padding as zero bytes */
	raw[got] = '\0';
	cJSON *doc = NULL;
	if (cm_json_parse((const char *)raw, (size_t)got, &doc) < 0 || !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}
