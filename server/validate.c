/* API.md's grammar for ids, scopes, memory keys and skill names, checked by hand-written loops
 * (no regex engine on the hot path) and unit-tested in tests/unit/test_validate.c. */
#include "clawmesh/validate.h"

#include <string.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool cm_valid_id(const char *s)
{
	if (!s || !lower_alnum(s[0]))
		return false;
	size_t i = 1;
	for (; s[i]; i++) {
		if (i >= CM_ID_MAX)
			return false;
		char c = s[i];
		if (!lower_alnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool cm_valid_scope(const char *s)
{
	if (!s)
		return false;
	if (!strcmp(s, "mesh"))
		return true;
	static const char *const kinds[] = {"node:", "user:", "project:"};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		size_t n = strlen(kinds[k]);
		if (!strncmp(s, kinds[k], n))
			return cm_valid_id(s + n);
	}
	return false;
}

bool cm_valid_key(const char *s)
{
	if (!s || !s[0] || s[0] == '.')
		return false;
	size_t i = 0;
	for (; s[i]; i++) {
		if (i >= CM_KEY_MAX)
			return false;
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool cm_valid_skill_name(const char *s)
{
	if (!s || !lower_alnum(s[0]))
		return false;
	for (size_t i = 1; s[i]; i++) {
		if (i >= CM_SKILL_NAME_MAX)
			return false;
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}
