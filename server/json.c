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

/* What cJSON lets through but RFC 8259 (and PostgreSQL, which stores the value) does not: an
 * escaped NUL (cJSON would cut the string there), control characters (raw in a string, or as
 * "whitespace" other than space, tab, CR, LF), and numbers like 01, 1., -.5 or +1 (cJSON hands
 * them to strtod). Numbers PostgreSQL's numeric cannot hold (1e-20000) are refused too, so a value
 * that passes here is one the database accepts. One pass over the text.
 *
 * PostgreSQL prints numbers in full (1e5 as 100000), so a few bytes of exponent can become
 * 130,000 digits in every answer, size check and index; a document whose numbers would grow by
 * more than NUMBER_GROWTH_MAX bytes written out is refused as too large. */
#define NUMERIC_MAX_INT_DIGITS 130000
#define NUMERIC_MAX_SCALE 16000
#define NUMBER_GROWTH_MAX (1024 * 1024)

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Checks the number starting at s[*i] and advances *i past it: its length written out in full
 * (as PostgreSQL prints it), or -1 when it is not a JSON number PostgreSQL can hold. */
static long number_strict(const char *s, size_t len, size_t *i)
{
	size_t p = *i, int_digits = 0, frac_digits = 0;
	long exp = 0;
	bool minus = s[p] == '-';
	if (minus)
		p++;
	if (p >= len || !digit(s[p]))
		return -1;
	if (s[p] == '0')
		p++, int_digits = 1;
	else
		while (p < len && digit(s[p]))
			p++, int_digits++;
	if (p < len && s[p] == '.') {
		p++;
		while (p < len && digit(s[p]))
			p++, frac_digits++;
		if (!frac_digits)
			return -1;
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		bool neg = p < len && s[p] == '-';
		if (p < len && (s[p] == '-' || s[p] == '+'))
			p++;
		if (p >= len || !digit(s[p]))
			return -1;
		for (; p < len && digit(s[p]); p++)
			if (exp < 1000000)
				exp = exp * 10 + (s[p] - '0');
		if (neg)
			exp = -exp;
	}
	if (p < len && (digit(s[p]) || s[p] == '.' || s[p] == 'e' || s[p] == 'E' || s[p] == '+' || s[p] == '-'))
		return -1;
	long whole = (long)int_digits + exp, scale = (long)frac_digits - exp;
	if (whole > NUMERIC_MAX_INT_DIGITS || scale > NUMERIC_MAX_SCALE)
		return -1;
	*i = p;
	return minus + (whole > 1 ? whole : 1) + (scale > 0 ? 1 + scale : 0);
}

/* 0, -CM_EINVJSON, or -CM_ETOOLARGE when the numbers written out would grow too much; *grown
 * gets the bytes they add (with -CM_ETOOLARGE: at least, over NUMBER_GROWTH_MAX). */
static int lexically_strict(const char *s, size_t len, long *grown)
{
	size_t i = 0;
	long growth = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				if ((unsigned char)s[i] < 0x20)
					return -CM_EINVJSON;
				if (s[i] != '\\')
					continue;
				if (i + 5 < len && !memcmp(s + i + 1, "u0000", 5))
					return -CM_EINVJSON;
				i++; /* the escaped character; cJSON checks the escape itself */
			}
			i++;
		} else if (c == '-' || digit((char)c) || c == '+' || c == '.') {
			size_t start = i;
			long full = number_strict(s, len, &i);
			if (full < 0)
				return -CM_EINVJSON;
			if (full > (long)(i - start) && (growth += full - (long)(i - start)) > NUMBER_GROWTH_MAX) {
				*grown = growth;
				return -CM_ETOOLARGE;
			}
		} else if (c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return -CM_EINVJSON;
		} else {
			i++;
		}
	}
	*grown = growth;
	return 0;
}

long cm_json_stored_size(const char *s, size_t len)
{
	long grown = 0;
	return lexically_strict(s, len, &grown) == -CM_EINVJSON ? -1 : (long)len + grown;
}

static int dup_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate member names: cJSON would read the first, PostgreSQL keep the last. */
static bool has_duplicate_names(const cJSON *item)
{
	for (const cJSON *c = item ? item->child : NULL; c; c = c->next)
		if (has_duplicate_names(c))
			return true;
	if (!cJSON_IsObject(item) || !item->child || !item->child->next)
		return false;
	size_t n = 0;
	for (const cJSON *c = item->child; c; c = c->next)
		n++;
	const char **names = malloc(n * sizeof *names);
	if (!names)
		return true; /* refuse rather than guess */
	n = 0;
	for (const cJSON *c = item->child; c; c = c->next)
		names[n++] = c->string;
	qsort(names, n, sizeof *names, dup_cmp);
	bool dup = false;
	for (size_t k = 1; k < n && !dup; k++)
		dup = !strcmp(names[k - 1], names[k]);
	free(names);
	return dup;
}

int cm_json_depth(const cJSON *item)
{
	int deepest = 0;
	for (const cJSON *c = item ? item->child : NULL; c; c = c->next) {
		int d = cm_json_depth(c);
		if (d > deepest)
			deepest = d;
	}
	return cJSON_IsArray(item) || cJSON_IsObject(item) ? deepest + 1 : 0;
}

int cm_json_parse(const char *buf, size_t len, cJSON **out)
{
	*out = NULL;
	if (len == 0 || memchr(buf, '\0', len) || !cm_utf8_valid(buf, len))
		return -CM_EINVJSON;
	/* A byte order mark: RFC 8259 forbids sending one, cJSON would skip it, but the body's text
	 * reaches PostgreSQL as sent and jsonb refuses it. Refused here, as jsonb would. */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		return -CM_EINVJSON;
	long grown;
	int e = lexically_strict(buf, len, &grown);
	if (e < 0)
		return e;
	/* len + 1 covers the terminating NUL, which cJSON requires to be the only thing left. */
	cJSON *doc = cJSON_ParseWithLengthOpts(buf, len + 1, NULL, 1);
	if (!doc)
		return -CM_EINVJSON;
	if (has_duplicate_names(doc)) {
		cJSON_Delete(doc);
		return -CM_EINVJSON;
	}
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

/* Past the JSON string that starts at s[i] (a '"'): the index after its closing quote. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i + 1;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool cm_json_member_span(const char *text, size_t len, const char *name, size_t *off, size_t *n)
{
	size_t i = 0, nlen = strlen(name);
	/* Keys are compared as written: a name with '\\' or '"' could equal another key's escaped
	 * spelling, and only a name that needs no escape can be looked for this way. */
	if (strpbrk(name, "\\\""))
		return false;
	while (i < len && json_space(text[i]))
		i++;
	if (i == len || text[i] != '{')
		return false;
	for (i++;;) {
		while (i < len && (json_space(text[i]) || text[i] == ','))
			i++;
		if (i >= len || text[i] != '"')
			return false; /* '}' or the end: not there */
		size_t key = i + 1, end = skip_string(text, len, i);
		bool match = end - key - 1 == nlen && !memcmp(text + key, name, nlen);
		i = end;
		while (i < len && (json_space(text[i]) || text[i] == ':'))
			i++;
		size_t start = i;
		int depth = 0;
		while (i < len) {
			char c = text[i];
			if (c == '"') {
				i = skip_string(text, len, i);
				if (depth == 0)
					break;
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if (c == '}' || c == ']') {
				if (depth == 0)
					break; /* the object's own end, after a scalar */
				if (--depth == 0) {
					i++;
					break;
				}
			} else if (depth == 0 && (c == ',' || json_space(c)))
				break;
			i++;
		}
		if (match) {
			*off = start;
			*n = i - start;
			return i <= len && *n > 0;
		}
	}
}

char *cm_json_member_text(const char *text, const char *name, const cJSON *item, size_t *len)
{
	size_t off;
	if (text && cm_json_member_span(text, strlen(text), name, &off, len))
		return strndup(text + off, *len);
	return cm_json_render(item, len);
}
