/* libFuzzer harness for listing cursors (cursor.h). Input: either a cursor text, or (first byte
 * '{') a JSON object to encode. Invariants: a decoded cursor is an object that encodes back to a
 * cursor decoding to the same object; an encoded object decodes to itself whenever its text fits
 * the accepted length, and an encoded cursor is only ever base64url characters. */
#include "clawmesh/cursor.h"
#include "clawmesh/json.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* encode(pos) decodes back to pos, or is longer than any cursor accepted. */
static void round_trip(const cJSON *pos)
{
	char *c = cm_cursor_encode(pos);
	check(c != NULL);
	size_t n = strlen(c);
	check(n > 0 && strspn(c, b64url) == n);
	cJSON *back = cm_cursor_decode(c);
	if (n <= CM_CURSOR_MAX)
		check(back && fuzz_same(back, pos));
	else
		check(back == NULL);
	cJSON_Delete(back);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = fuzz_text(data, size);
	if (!s)
		return 0;
	cJSON *doc = cm_cursor_decode(s);
	if (doc) {
		check(cJSON_IsObject(doc) && strlen(s) <= CM_CURSOR_MAX && strspn(s, b64url) == strlen(s));
		if (fuzz_finite_numbers(doc))
			round_trip(doc);
		cJSON_Delete(doc);
	}
	if (size && data[0] == '{' && cm_json_parse(s, size, &doc) == 0) {
		if (cJSON_IsObject(doc) && fuzz_finite_numbers(doc))
			round_trip(doc);
		cJSON_Delete(doc);
	}
	free(s);
	return 0;
}
