/* API.md's grammar for ids, scopes, memory keys and skill names, checked by hand-written loops
 * (no regex engine on the hot path) and unit-tested in tests/unit/test_validate.c. */
#include "clawmesh/validate.h"
#include "clawmesh/json.h"

#include <errno.h>
#include <stdlib.h>
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

/* 1..CM_TAG_MAX characters (code points) of valid UTF-8, none of them a control character. */
bool cm_valid_tag(const char *s)
{
	if (!s || !s[0] || !cm_utf8_valid(s, strlen(s)))
		return false;
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if ((*p & 0xC0) != 0x80 && ++chars > CM_TAG_MAX)
			return false;
	}
	return true;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool cm_valid_time(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om;
	if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) || s[13] != ':' ||
	    !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
	    mi > 59 || sec > 59)
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n < 1 || n > 9)
			return false;
	}
	if ((*p == 'Z' || *p == 'z') && !p[1])
		return true;
	return (*p == '+' || *p == '-') && strlen(p) == 6 && digits(p + 1, 2, &oh) && p[3] == ':' &&
	       digits(p + 4, 2, &om) && oh <= 15 && om <= 59; /* PostgreSQL takes offsets to ±15:59 */
}

bool cm_parse_count(const char *s, long long *out)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > 19 || strspn(s, "0123456789") != n)
		return false;
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if (errno == ERANGE)
		return false;
	*out = v;
	return true;
}
