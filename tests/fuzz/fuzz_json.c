/* libFuzzer harness for strict JSON parsing (json.h), the gate every request body passes.
 * Invariants: only 0, invalid_json or too-large; what is accepted is UTF-8 without NUL bytes and
 * parses the same with cJSON's own (laxer) parser; rendered again it is accepted again, equal and
 * as deep; a top-level member's span holds exactly that member's value; an array's element spans
 * (the bridge's) hold exactly its elements. */
#include "clawmesh/api.h"
#include "clawmesh/err.h"
#include "clawmesh/json.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* text[off..off+n) parses strictly to an item equal to want. */
static void span_holds(const char *text, size_t off, size_t n, const cJSON *want)
{
	char *part = strndup(text + off, n);
	cJSON *got = NULL;
	check(part && cm_json_parse(part, n, &got) == 0 && fuzz_finite_numbers(got));
	check(fuzz_same(got, want));
	cJSON_Delete(got);
	free(part);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *buf = fuzz_text(data, size);
	if (!buf)
		return 0;
	cJSON *doc = NULL;
	int rc = cm_json_parse(buf, size, &doc);
	check(rc == 0 || rc == -CM_EINVJSON || rc == -CM_ETOOLARGE);
	check((rc == 0) == (doc != NULL));
	if (rc == 0)
		check(!memchr(buf, '\0', size) && cm_utf8_valid(buf, size));
	if (rc == 0 && fuzz_finite_numbers(doc)) {
		cJSON *lax = cJSON_ParseWithLength(buf, size);
		check(lax && fuzz_same(lax, doc));
		cJSON_Delete(lax);

		size_t len = 0;
		char *out = cm_json_render(doc, &len);
		check(out && len == strlen(out) && cm_utf8_valid(out, len));
		cJSON *again = NULL;
		check(cm_json_parse(out, len, &again) == 0);
		check(fuzz_same(again, doc) && cm_json_depth(again) == cm_json_depth(doc));
		cJSON_Delete(again);
		free(out);

		const cJSON *m;
		if (cJSON_IsObject(doc)) {
			cJSON_ArrayForEach(m, doc)
			{
				size_t off, n;
				if (cm_json_member_span(buf, size, m->string, &off, &n)) /* keys spelled with escapes are not */
					span_holds(buf, off, n, m);
			}
		}
		int count = cJSON_GetArraySize(doc);
		if (cJSON_IsArray(doc) && count >= 1 && count <= 100) {
			size_t span[100][2];
			check(cm_message_spans(buf, size, span, count) == count);
			int i = 0;
			cJSON_ArrayForEach(m, doc)
			{
				span_holds(buf, span[i][0], span[i][1] - span[i][0], m);
				i++;
			}
		}
	}
	cJSON_Delete(doc);
	free(buf);
	return 0;
}
