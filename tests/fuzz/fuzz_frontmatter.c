/* libFuzzer harness for cm_frontmatter_parse (SKILL.md): any input returns 0 or -CM_EVALIDATION,
 * never crashes, and what it returns is well formed: on a refusal no result, a line >= 1 and a
 * non-empty UTF-8 message; on success the body offset within the input and the front matter an
 * object (or none, with no body offset), which renders as UTF-8. */
#include "clawmesh/err.h"
#include "clawmesh/frontmatter.h"
#include "clawmesh/json.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *out = NULL;
	size_t body = 0;
	struct cm_fm_error err;
	int rc = cm_frontmatter_parse((const char *)data, size, &out, &body, &err);
	check(rc == 0 || rc == -CM_EVALIDATION);
	if (rc != 0)
		check(!out && !body && err.line >= 1 && err.message[0] && cm_utf8_valid(err.message, strlen(err.message)));
	if (rc == 0)
		check(body <= size && (!out || cJSON_IsObject(out)) && (out || !body));
	if (out) {
		char *json = cJSON_PrintUnformatted(out);
		check(json && cm_utf8_valid(json, strlen(json)));
		free(json);
		cJSON_Delete(out);
	}
	return 0;
}
