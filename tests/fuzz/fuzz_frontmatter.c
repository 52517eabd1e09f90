/* libFuzzer harness for cm_frontmatter_parse: any input returns 0 or -CM_EVALIDATION, never crashes,
 * and what it returns is well formed. Not built by meson; see the command below.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude server/frontmatter.c server/json.c \
 *     server/err.c tests/fuzz/fuzz_frontmatter.c $(pkg-config --cflags --libs libcjson) -lm -o fuzz_fm
 *   ./fuzz_fm -max_total_time=300 -max_len=4096 tests/fuzz/corpus/frontmatter */
#include "clawmesh/err.h"
#include "clawmesh/frontmatter.h"
#include "clawmesh/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *out = NULL;
	size_t body = 0;
	struct cm_fm_error err;
	int rc = cm_frontmatter_parse((const char *)data, size, &out, &body, &err);
	if (rc != 0 && rc != -CM_EVALIDATION)
		abort();
	if (rc != 0 && (out || body || err.line < 1 || !err.message[0] ||
			!cm_utf8_valid(err.message, strlen(err.message))))
		abort();
	if (rc == 0 && (body > size || (out && !cJSON_IsObject(out)) || (!out && body)))
		abort();
	if (out) {
		char *json = cJSON_PrintUnformatted(out);
		if (!json || !cm_utf8_valid(json, strlen(json)))
			abort();
		free(json);
		cJSON_Delete(out);
	}
	return 0;
}
