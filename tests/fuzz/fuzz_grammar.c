/* libFuzzer harness for API.md's grammar (validate.h) and UTF-8 (json.h): each validator must
 * agree with an independent check written here, POSIX extended regular expressions in the C
 * locale for the ASCII grammars, Unicode's table of well-formed byte sequences for UTF-8, and a
 * calendar computed another way for RFC 3339 times. Input: one string (up to its first NUL). */
#include "clawmesh/json.h"
#include "clawmesh/validate.h"
#include "fuzz_common.h"

#include <limits.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RE_ID, RE_SCOPE, RE_KEY, RE_SKILL, RE_COUNT, RE_TIME, RE_N };
static const char *const patterns[RE_N] = {
	[RE_ID] = "^[a-z0-9][-a-z0-9._]{0,63}$",
	[RE_SCOPE] = "^(mesh|(node|user|project):[a-z0-9][-a-z0-9._]{0,63})$",
	[RE_KEY] = "^[-A-Za-z0-9_:@][-A-Za-z0-9._:@]{0,255}$",
	[RE_SKILL] = "^[a-z0-9][-a-z0-9]{0,63}$",
	[RE_COUNT] = "^[0-9]{1,19}$",
	[RE_TIME] = "^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\\.[0-9]{1,9})?([Zz]|[-+]([0-9]{2}):([0-9]{2}))$",
};
static regex_t re[RE_N];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	for (int i = 0; i < RE_N; i++)
		if (regcomp(&re[i], patterns[i], REG_EXTENDED))
			abort();
	return 0;
}

static bool matches(int which, const char *s)
{
	return regexec(&re[which], s, 0, NULL, 0) == 0;
}

/* Unicode 15, table 3-7: the well-formed UTF-8 byte sequences. */
static bool ref_utf8(const unsigned char *s, size_t n)
{
	static const struct {
		unsigned char lo[4], hi[4];
		int len;
	} rows[] = {
		{{0x00}, {0x7F}, 1},
		{{0xC2, 0x80}, {0xDF, 0xBF}, 2},
		{{0xE0, 0xA0, 0x80}, {0xE0, 0xBF, 0xBF}, 3},
		{{0xE1, 0x80, 0x80}, {0xEC, 0xBF, 0xBF}, 3},
		{{0xED, 0x80, 0x80}, {0xED, 0x9F, 0xBF}, 3},
		{{0xEE, 0x80, 0x80}, {0xEF, 0xBF, 0xBF}, 3},
		{{0xF0, 0x90, 0x80, 0x80}, {0xF0, 0xBF, 0xBF, 0xBF}, 4},
		{{0xF1, 0x80, 0x80, 0x80}, {0xF3, 0xBF, 0xBF, 0xBF}, 4},
		{{0xF4, 0x80, 0x80, 0x80}, {0xF4, 0x8F, 0xBF, 0xBF}, 4},
	};
	for (size_t i = 0; i < n;) {
		int got = 0;
		for (size_t r = 0; !got && r < sizeof rows / sizeof rows[0]; r++) {
			int len = rows[r].len;
			bool ok = (size_t)len <= n - i;
			for (int k = 0; ok && k < len; k++)
				ok = s[i + k] >= rows[r].lo[k] && s[i + k] <= rows[r].hi[k];
			if (ok)
				got = len;
		}
		if (!got)
			return false;
		i += (size_t)got;
	}
	return true;
}

static int num(const char *s, regmatch_t m)
{
	int v = 0;
	for (regoff_t i = m.rm_so; i < m.rm_eo; i++)
		v = v * 10 + s[i] - '0';
	return v;
}

/* Days in a month, by the proleptic Gregorian rule stated another way: February has 29 days
 * when the year divides by 400, or by 4 but not by 100. */
static int days_in(int y, int mo)
{
	if (mo == 2)
		return 28 + ((y % 400 == 0) || (y % 4 == 0 && y % 100 != 0));
	return mo == 4 || mo == 6 || mo == 9 || mo == 11 ? 30 : 31;
}

static bool ref_time(const char *s)
{
	regmatch_t m[11];
	if (regexec(&re[RE_TIME], s, 11, m, 0))
		return false;
	int y = num(s, m[1]), mo = num(s, m[2]), d = num(s, m[3]);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || num(s, m[4]) > 23 || num(s, m[5]) > 59 ||
	    num(s, m[6]) > 59)
		return false;
	if (m[9].rm_so >= 0 && (num(s, m[9]) > 15 || num(s, m[10]) > 59))
		return false;
	return true;
}

static bool ref_tag(const char *s)
{
	size_t n = strlen(s), chars = 0;
	if (!n || !ref_utf8((const unsigned char *)s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		chars += (c & 0xC0) != 0x80;
	}
	return chars <= 64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	check(cm_utf8_valid((const char *)data, size) == ref_utf8(data, size));
	char *s = strndup((const char *)data, size);
	if (!s)
		return 0;
	check(cm_valid_id(s) == matches(RE_ID, s));
	check(cm_valid_scope(s) == matches(RE_SCOPE, s));
	check(cm_valid_key(s) == matches(RE_KEY, s));
	check(cm_valid_skill_name(s) == matches(RE_SKILL, s));
	check(cm_valid_time(s) == ref_time(s));
	check(cm_valid_tag(s) == ref_tag(s));
	long long v = -1;
	bool in_range = matches(RE_COUNT, s) && (strlen(s) < 19 || strcmp(s, "9223372036854775807") <= 0);
	check(cm_parse_count(s, &v) == in_range);
	if (in_range) {
		unsigned long long ref = 0;
		for (const char *p = s; *p; p++)
			ref = ref * 10 + (unsigned long long)(*p - '0');
		check(v >= 0 && (unsigned long long)v == ref);
	}
	free(s);
	return 0;
}
