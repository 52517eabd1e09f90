/* The secret guard's detectors: one pass over the bytes, and at each position only the one anchor
 * that can start with that byte, so a 256 KiB value costs linear time whatever it contains.
 * Unit-tested in tests/unit/test_secrets.c. */
#include "clawmesh/secrets.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Longest "[A-Z ]*" label between "-----BEGIN " and "-----"; real ones are under 25. */
#define PEM_LABEL_MAX 64
/* Pending siblings kept on the C stack before cm_secret_scan_json() moves to the heap. */
#define JSON_STACK_INLINE 64

static const char *const kind_names[CM_SECRET_KIND_COUNT] = {
	[CM_SECRET_NONE] = "",
	[CM_SECRET_PRIVATE_KEY] = "private_key",
	[CM_SECRET_AWS_ACCESS_KEY] = "aws_access_key_id",
	[CM_SECRET_GITHUB_TOKEN] = "github_token",
	[CM_SECRET_SLACK_TOKEN] = "slack_token",
	[CM_SECRET_API_KEY] = "api_key",
	[CM_SECRET_JWT] = "jwt",
	[CM_SECRET_CLAWMESH_TOKEN] = "clawmesh_token",
};

const char *cm_secret_kind_name(enum cm_secret_kind k)
{
	if ((unsigned)k >= CM_SECRET_KIND_COUNT)
		return "";
	return kind_names[k];
}

static int parse_item(const char *s, size_t n, unsigned *mask)
{
	for (unsigned k = CM_SECRET_NONE + 1; k < CM_SECRET_KIND_COUNT; k++) {
		if (strlen(kind_names[k]) == n && !memcmp(s, kind_names[k], n)) {
			*mask |= 1u << k;
			return 0;
		}
	}
	return -1;
}

int cm_secret_kinds_parse(const char *s, unsigned *mask)
{
	if (!s || !*s)
		return -1;
	if (!strcmp(s, "on") || !strcmp(s, "all")) {
		*mask = CM_SECRET_ALL;
		return 0;
	}
	if (!strcmp(s, "off") || !strcmp(s, "none")) {
		*mask = 0;
		return 0;
	}
	unsigned m = 0;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		if (parse_item(s, n, &m) < 0)
			return -1;
		if (!comma)
			break;
		s = comma + 1;
	}
	*mask = m;
	return 0;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_upper_digit(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_upper_space(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || c == ' ';
}

static bool is_alnum_underscore(unsigned char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_alnum_dash(unsigned char c)
{
	return is_alnum(c) || c == '-';
}

static bool is_hook_char(unsigned char c)
{
	return is_alnum(c) || c == '/' || c == '_';
}

static bool is_b64url(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

static bool starts_with(const unsigned char *p, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && !memcmp(p, prefix, k);
}

/* How many of p[0..n) in a row are in the class, counting no further than max: the callers pass
 * the length they need to see (plus one for a "not followed by" rule), which keeps each check bounded. */
static size_t span(const unsigned char *p, size_t n, size_t max, bool (*in)(unsigned char))
{
	size_t i = 0;
	while (i < n && i < max && in(p[i]))
		i++;
	return i;
}

static bool label_ends_with(const unsigned char *label, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !memcmp(label + n - k, suffix, k);
}

static bool private_key_at(const unsigned char *p, size_t n)
{
	static const char begin[] = "-----BEGIN ";
	if (!starts_with(p, n, begin))
		return false;
	const unsigned char *label = p + sizeof begin - 1;
	size_t rest = n - (sizeof begin - 1);
	size_t ll = span(label, rest, PEM_LABEL_MAX + 1, is_upper_space);
	if (ll > PEM_LABEL_MAX || !starts_with(label + ll, rest - ll, "-----"))
		return false;
	return label_ends_with(label, ll, "PRIVATE KEY") || label_ends_with(label, ll, "PRIVATE KEY BLOCK");
}

static bool aws_access_key_at(const unsigned char *p, size_t n)
{
	if (!starts_with(p, n, "AKIA") && !starts_with(p, n, "ASIA") && !starts_with(p, n, "ABIA") &&
	    !starts_with(p, n, "ACCA"))
		return false;
	if (span(p + 4, n - 4, 16, is_upper_digit) != 16)
		return false;
	return n == 20 || !is_alnum(p[20]);
}

static bool one_of(unsigned char c, const char *set)
{
	return c && strchr(set, c);
}

static bool github_token_at(const unsigned char *p, size_t n)
{
	if (starts_with(p, n, "github_pat_"))
		return span(p + 11, n - 11, 22, is_alnum_underscore) == 22;
	if (n < 4 || !starts_with(p, n, "gh") || !one_of(p[2], "pousr") || p[3] != '_')
		return false;
	return span(p + 4, n - 4, 36, is_alnum) == 36;
}

static bool slack_token_at(const unsigned char *p, size_t n)
{
	if (n < 5 || !starts_with(p, n, "xox") || !one_of(p[3], "bpares") || p[4] != '-')
		return false;
	return span(p + 5, n - 5, 10, is_alnum_dash) == 10;
}

static bool slack_webhook_at(const unsigned char *p, size_t n)
{
	static const char hook[] = "https://hooks.slack.com/services/";
	if (!starts_with(p, n, hook))
		return false;
	return span(p + sizeof hook - 1, n - (sizeof hook - 1), 20, is_hook_char) == 20;
}

static bool api_key_at(const unsigned char *p, size_t n)
{
	return starts_with(p, n, "sk-") && span(p + 3, n - 3, 20, is_b64url) == 20;
}

/* The one unbounded read: a JWT segment is as long as it is. It stays linear because a candidate
 * starts only where a base64url run starts, so each run is read at most once as a first segment
 * and at most once as a second (the one behind the single '.' before it). */
static bool jwt_at(const unsigned char *p, size_t n)
{
	size_t i = 0;
	for (int seg = 0; seg < 2; seg++) {
		if (!starts_with(p + i, n - i, "eyJ"))
			return false;
		i += 3;
		size_t len = span(p + i, n - i, SIZE_MAX, is_b64url);
		if (len < 10)
			return false;
		i += len;
		if (i >= n || p[i] != '.')
			return false;
		i++;
	}
	return true;
}

/* "cm_" is itself base64url, so "cm_cm_cm_…" puts a candidate every third byte inside one run, and
 * "exactly 43" means reading to the run's end. *run_end remembers that end across the (ascending)
 * candidates, so each run is read once. */
static bool clawmesh_token_at(const unsigned char *s, size_t len, size_t i, size_t *run_end)
{
	if (!starts_with(s + i, len - i, "cm_"))
		return false;
	size_t from = i + 3;
	if (from >= *run_end)
		*run_end = from + span(s + from, len - from, SIZE_MAX, is_b64url);
	return *run_end - from == 43;
}

static bool wanted(unsigned mask, enum cm_secret_kind k)
{
	return mask & (1u << k);
}

enum cm_secret_kind cm_secret_scan(const char *str, size_t len, unsigned mask)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t cm_run_end = 0;
	mask &= CM_SECRET_ALL;
	if (!s || !mask)
		return CM_SECRET_NONE;
	for (size_t i = 0; i < len; i++) {
		const unsigned char *p = s + i;
		size_t n = len - i;
		unsigned char prev = i ? s[i - 1] : 0;
		switch (*p) {
		case '-':
			if (wanted(mask, CM_SECRET_PRIVATE_KEY) && private_key_at(p, n))
				return CM_SECRET_PRIVATE_KEY;
			break;
		case 'A':
			if (wanted(mask, CM_SECRET_AWS_ACCESS_KEY) && !is_alnum(prev) && aws_access_key_at(p, n))
				return CM_SECRET_AWS_ACCESS_KEY;
			break;
		case 'g':
			if (wanted(mask, CM_SECRET_GITHUB_TOKEN) && github_token_at(p, n))
				return CM_SECRET_GITHUB_TOKEN;
			break;
		case 'x':
			if (wanted(mask, CM_SECRET_SLACK_TOKEN) && slack_token_at(p, n))
				return CM_SECRET_SLACK_TOKEN;
			break;
		case 'h':
			if (wanted(mask, CM_SECRET_SLACK_TOKEN) && slack_webhook_at(p, n))
				return CM_SECRET_SLACK_TOKEN;
			break;
		case 's':
			if (wanted(mask, CM_SECRET_API_KEY) && !is_alnum(prev) && api_key_at(p, n))
				return CM_SECRET_API_KEY;
			break;
		case 'e':
			if (wanted(mask, CM_SECRET_JWT) && !is_b64url(prev) && jwt_at(p, n))
				return CM_SECRET_JWT;
			break;
		case 'c':
			if (wanted(mask, CM_SECRET_CLAWMESH_TOKEN) && !is_alnum(prev) &&
			    clawmesh_token_at(s, len, i, &cm_run_end))
				return CM_SECRET_CLAWMESH_TOKEN;
			break;
		}
	}
	return CM_SECRET_NONE;
}

static enum cm_secret_kind scan_cstr(const char *s, unsigned mask)
{
	return s ? cm_secret_scan(s, strlen(s), mask) : CM_SECRET_NONE;
}

struct walk_stack {
	const cJSON **v;
	size_t n, cap;
	const cJSON *inline_v[JSON_STACK_INLINE];
};

static bool push(struct walk_stack *st, const cJSON *x)
{
	if (st->n == st->cap) {
		const cJSON **v = realloc(st->v == st->inline_v ? NULL : st->v, 2 * st->cap * sizeof *v);
		if (!v)
			return false;
		if (st->v == st->inline_v)
			memcpy(v, st->inline_v, sizeof st->inline_v);
		st->v = v;
		st->cap *= 2;
	}
	st->v[st->n++] = x;
	return true;
}

/* Pre-order walk without recursion: the stack holds the sibling to resume with after a container,
 * pushed only when there is one, so [[[…]]] chains cost nothing. item's own name and siblings belong
 * to its parent, not to this tree, and are left alone. */
enum cm_secret_kind cm_secret_scan_json(const cJSON *item, unsigned mask)
{
	struct walk_stack st = {.n = 0, .cap = JSON_STACK_INLINE};
	st.v = st.inline_v;
	enum cm_secret_kind found = CM_SECRET_NONE;
	const cJSON *cur = item;

	while (cur) {
		if (cur != item && (found = scan_cstr(cur->string, mask)))
			break;
		if ((cJSON_IsString(cur) || cJSON_IsRaw(cur)) && (found = scan_cstr(cur->valuestring, mask)))
			break;
		const cJSON *next = cur == item ? NULL : cur->next;
		if ((cJSON_IsArray(cur) || cJSON_IsObject(cur)) && cur->child) {
			if (next && !push(&st, next)) {
				/* Fail closed: a value we could not read to the end must not pass as clean. */
				found = CM_SECRET_KIND_COUNT;
				break;
			}
			cur = cur->child;
		} else {
			cur = next ? next : st.n ? st.v[--st.n] : NULL;
		}
	}
	if (st.v != st.inline_v)
		free(st.v);
	return found;
}
