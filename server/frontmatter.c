/* The YAML front matter of a SKILL.md (block and flow collections, plain, quoted and block
 * scalars) read into cJSON in one recursive-descent pass bounded by the limits in frontmatter.h;
 * anchors, tags, complex keys and other YAML that skills do not use are refused, never guessed. */
#include "clawmesh/frontmatter.h"
#include "clawmesh/err.h"
#include "clawmesh/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTE_MAX 40

/* Keys seen so far, to refuse duplicates in O(1) each: one open-addressed table for the whole
 * document, told apart by the number of the mapping that holds them. */
struct key_slot {
	const char *key; /* the member's own copy (cJSON item->string), NULL when free */
	uint32_t map, hash;
};

struct parser {
	const char *s;   /* the whole document: positions and error lines count from its start */
	size_t end;      /* the first byte of the closing "---" line */
	size_t pos, bol; /* the cursor and the start of its line */
	int scalars;     /* keys and scalar values so far */
	uint32_t maps;   /* mappings opened so far */
	struct key_slot *keys;
	size_t keys_cap; /* a power of two, at least twice the number of keys possible */
	char *buf;       /* the scalar being decoded, NUL-terminated */
	size_t buf_len, buf_cap;
	bool nomem;      /* a buffer append failed; reported when the scalar is finished */
	struct cm_fm_error *err;
};

static int parse_flow(struct parser *p, int depth, cJSON **out);

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	int line = 1;
	for (const char *c = p->s; (c = memchr(c, '\n', (size_t)(p->s + at - c))); c++)
		line++;
	p->err->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
	va_end(ap);
	return -CM_EVALIDATION;
}

static int oom(struct parser *p)
{
	p->err->line = 0;
	snprintf(p->err->message, sizeof p->err->message, "out of memory while reading the front matter");
	return -CM_EINTERNAL;
}

/* At most QUOTE_MAX bytes of s for a message, never cut inside a character, controls as '?'. */
static const char *snippet(char out[QUOTE_MAX + 1], const char *s)
{
	size_t n = 0;
	for (; s[n] && n < QUOTE_MAX; n++)
		out[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
	if (s[n])
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	out[n] = '\0';
	return out;
}

static void buf_reset(struct parser *p)
{
	p->buf_len = 0;
	p->buf[0] = '\0';
}

static void put(struct parser *p, const char *b, size_t n)
{
	if (p->nomem)
		return;
	if (p->buf_len + n + 1 > p->buf_cap) {
		size_t cap = p->buf_cap;
		while (cap < p->buf_len + n + 1)
			cap *= 2;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->nomem = true;
			return;
		}
		p->buf = nb;
		p->buf_cap = cap;
	}
	memcpy(p->buf + p->buf_len, b, n);
	p->buf_len += n;
	p->buf[p->buf_len] = '\0';
}

static void put_newlines(struct parser *p, int n)
{
	for (int i = 0; i < n; i++)
		put(p, "\n", 1);
}

/* How YAML folds a line break inside a scalar: a space, or one newline per blank line. */
static void put_fold(struct parser *p, int blank_lines)
{
	if (!blank_lines)
		put(p, " ", 1);
	put_newlines(p, blank_lines);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The front matter holds no lone CR (checked first), so a CR here always starts a CRLF. */
static bool at_eol(const struct parser *p, size_t i)
{
	return i >= p->end || p->s[i] == '\n' || p->s[i] == '\r';
}

static bool at_comment(const struct parser *p, size_t i)
{
	return i < p->end && p->s[i] == '#' && i > 0 && (blank(p->s[i - 1]) || p->s[i - 1] == '\n');
}

/* "- " or a lone "-": a block sequence entry. */
static bool is_entry(const struct parser *p, size_t i)
{
	return i < p->end && p->s[i] == '-' && (at_eol(p, i + 1) || blank(p->s[i + 1]));
}

/* ':' followed by a blank or the line end: a block mapping's key indicator. */
static bool is_key_colon(const struct parser *p, size_t i)
{
	return i < p->end && p->s[i] == ':' && (at_eol(p, i + 1) || blank(p->s[i + 1]));
}

static size_t line_end(const struct parser *p, size_t i)
{
	const char *nl = memchr(p->s + i, '\n', p->end - i);
	size_t e = nl ? (size_t)(nl - p->s) : p->end;
	return e > i && p->s[e - 1] == '\r' ? e - 1 : e;
}

static void next_line_start(struct parser *p)
{
	const char *nl = memchr(p->s + p->pos, '\n', p->end - p->pos);
	p->pos = p->bol = nl ? (size_t)(nl - p->s) + 1 : p->end;
}

static void skip_blanks(struct parser *p)
{
	while (p->pos < p->end && blank(p->s[p->pos]))
		p->pos++;
}

/* From a line end inside a scalar, past the break, any blank lines and the next line's leading
 * blanks; returns how many lines were blank. */
static int skip_break(struct parser *p)
{
	int blank_lines = 0;
	next_line_start(p);
	skip_blanks(p);
	for (; p->pos < p->end && at_eol(p, p->pos); blank_lines++) {
		next_line_start(p);
		skip_blanks(p);
	}
	return blank_lines;
}

/* After a complete value only blanks and a comment may follow on its line; moves to the next. */
static int end_of_line(struct parser *p, const char *what)
{
	skip_blanks(p);
	if (!at_eol(p, p->pos) && !at_comment(p, p->pos))
		return fail(p, p->pos, "unexpected text after %s", what);
	next_line_start(p);
	return 0;
}

/* From a line start, skips blank and comment lines; *indent = the next content line's indentation
 * (pos stays at its start), or -1 at the end of the front matter. */
static int next_content(struct parser *p, int *indent)
{
	*indent = -1;
	while (p->pos < p->end) {
		size_t i = p->pos, j;
		while (i < p->end && p->s[i] == ' ')
			i++;
		for (j = i; j < p->end && blank(p->s[j]);)
			j++;
		if (at_eol(p, j) || p->s[j] == '#') {
			next_line_start(p);
			continue;
		}
		if (j != i)
			return fail(p, i, "a tab is used for indentation; YAML allows spaces only");
		if (i == p->pos && p->end - i >= 3 && (!memcmp(p->s + i, "---", 3) || !memcmp(p->s + i, "...", 3)) &&
		    (at_eol(p, i + 3) || blank(p->s[i + 3])))
			return fail(p, i, "a second YAML document is not supported in the front matter");
		*indent = (int)(i - p->pos);
		return 0;
	}
	return 0;
}

/* Indicators that may not start a node here, each refused with the reason. */
static int refuse_indicator(struct parser *p, size_t at)
{
	char c = p->s[at];
	bool spaced = at_eol(p, at + 1) || blank(p->s[at + 1]);
	if (c == '&')
		return fail(p, at, "anchors (&name) are not supported");
	if (c == '*')
		return fail(p, at, "aliases (*name) are not supported");
	if (c == '!')
		return fail(p, at, "tags (!tag) are not supported");
	if (c == '?' && spaced)
		return fail(p, at, "complex keys ('? ') are not supported");
	if (c == ':' && spaced)
		return fail(p, at, "a ':' with no key before it");
	if (c == '%' || c == '@' || c == '`' || c == '#')
		return fail(p, at, "a value may not start with '%c'; quote it", c);
	if (c == ',' || c == ']' || c == '}')
		return fail(p, at, "unexpected '%c'", c);
	return 0;
}

static size_t digits(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* A number as JSON writes one; YAML's 0x1F, 0o17, +1, .5, 01, .inf stay strings. */
static bool json_number(const char *s, size_t n)
{
	size_t i = s[0] == '-', j = digits(s, n, i);
	if (j == i || (s[i] == '0' && j > i + 1))
		return false;
	if (j < n && s[j] == '.') {
		i = j + 1;
		if ((j = digits(s, n, i)) == i)
			return false;
	}
	if (j < n && (s[j] == 'e' || s[j] == 'E')) {
		i = j + 1 + (j + 1 < n && (s[j + 1] == '+' || s[j + 1] == '-'));
		if ((j = digits(s, n, i)) == i)
			return false;
	}
	return j == n;
}

static bool one_of(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(s, *words))
			return true;
	return false;
}

/* The buffer as a scalar: quoted ones are strings, plain ones typed by YAML 1.2's core schema
 * (numbers as raw items holding their text). */
static int make_scalar(struct parser *p, bool plain, size_t at, cJSON **out)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	if (p->nomem)
		return oom(p);
	if (++p->scalars > CM_FM_SCALARS_MAX)
		return fail(p, at, "more than %d keys and values", CM_FM_SCALARS_MAX);
	const char *b = p->buf;
	char *e = NULL;
	/* strtod reads '.' in the C locale clawmeshd runs in; in any other the number stays a string
	 * rather than being misread, as does one too large for a double. */
	double d = plain && json_number(b, p->buf_len) ? strtod(b, &e) : 0;
	if (!plain)
		*out = cJSON_CreateString(b);
	else if (one_of(b, nulls))
		*out = cJSON_CreateNull();
	else if (one_of(b, trues) || one_of(b, falses))
		*out = cJSON_CreateBool(one_of(b, trues));
	else
		/* A number keeps the digits it was written with (as a raw JSON item): a double would
		 * turn a Discord id 1093847561234567890 into ...900. Finite as a double means it is
		 * also within PostgreSQL's numeric, where metadata is stored. */
		*out = e == b + p->buf_len && isfinite(d) ? cJSON_CreateRaw(b) : cJSON_CreateString(b);
	return *out ? 0 : oom(p);
}

/* The buffer as a key: within the limits, not a merge key; *key is a copy the caller frees. */
static int take_key(struct parser *p, size_t at, bool plain, char **key)
{
	if (p->nomem)
		return oom(p);
	if (p->buf_len > CM_FM_KEY_MAX)
		return fail(p, at, "a key is longer than %d bytes", CM_FM_KEY_MAX);
	if (plain && !strcmp(p->buf, "<<"))
		return fail(p, at, "merge keys (<<) are not supported");
	if (++p->scalars > CM_FM_SCALARS_MAX)
		return fail(p, at, "more than %d keys and values", CM_FM_SCALARS_MAX);
	*key = strdup(p->buf);
	return *key ? 0 : oom(p);
}

/* Adds val to obj under key, refusing a key the mapping already has; frees key, and val on failure. */
static int add_member(struct parser *p, cJSON *obj, uint32_t map, char *key, size_t at, cJSON *val)
{
	uint32_t h = 2166136261u ^ map; /* FNV-1a */
	for (const char *k = key; *k; k++)
		h = (h ^ (unsigned char)*k) * 16777619u;
	struct key_slot *slot = NULL;
	size_t i = h & (p->keys_cap - 1);
	int rc = 0;
	for (size_t n = 0; n < p->keys_cap && !slot; n++, i = (i + 1) & (p->keys_cap - 1)) {
		struct key_slot *k = &p->keys[i];
		if (!k->key)
			slot = k;
		else if (k->map == map && k->hash == h && !strcmp(k->key, key))
			break;
	}
	char q[QUOTE_MAX + 1];
	if (!slot) /* the table has room for twice the keys possible, so this is a duplicate */
		rc = fail(p, at, "duplicate key \"%s\"", snippet(q, key));
	else if (!cJSON_AddItemToObject(obj, key, val))
		rc = oom(p);
	else
		*slot = (struct key_slot){.key = val->string, .map = map, .hash = h};
	if (rc)
		cJSON_Delete(val);
	free(key);
	return rc;
}

static bool hex(const char *s, int n, unsigned *v)
{
	*v = 0;
	for (int k = 0; k < n; k++) {
		char c = s[k];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return false;
		*v = *v * 16 + (unsigned)d;
	}
	return true;
}

static void put_utf8(struct parser *p, unsigned cp)
{
	static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
	char u[4];
	int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	for (int i = n - 1; i > 0; i--, cp >>= 6)
		u[i] = (char)(0x80 | (cp & 0x3F));
	u[0] = (char)(lead[n] | cp);
	put(p, u, (size_t)n);
}

/* One escape of a "..." scalar at pos (a backslash not ending the line): YAML's set, which holds
 * JSON's, except the ones that would store a NUL. */
static int escape(struct parser *p)
{
	static const char from[] = "\"\\/ntrbfave \tN_LP";
	static const unsigned to[] = {'"', '\\', '/', '\n', '\t', '\r', '\b', '\f', 7, 11, 27, ' ', '\t',
				      0x85, 0xA0, 0x2028, 0x2029};
	size_t at = p->pos;
	char c = p->s[at + 1];
	const char *hit = c ? strchr(from, c) : NULL;
	int n = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
	unsigned cp, lo;
	if (c == '0')
		return fail(p, at, "\\0 cannot be stored: a NUL character is not allowed");
	if (!hit && !n)
		return c > 0x20 && c < 0x7f ? fail(p, at, "invalid escape \\%c in a double-quoted string", c)
					   : fail(p, at, "invalid escape in a double-quoted string");
	if (hit) {
		put_utf8(p, to[hit - from]);
		p->pos += 2;
		return 0;
	}
	if (p->end - at < 2 + (size_t)n || !hex(p->s + at + 2, n, &cp))
		return fail(p, at, "\\%c must be followed by %d hex digits", c, n);
	p->pos += 2 + (size_t)n;
	if (cp == 0)
		return fail(p, at, "an escaped NUL character cannot be stored");
	bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
	if (cp > 0x10FFFF || (surrogate && (c != 'u' || cp >= 0xDC00)))
		return fail(p, at, "\\%c escapes U+%04X, which is not a character on its own", c, cp);
	if (surrogate) { /* a high one: \u escapes UTF-16, so a \u low one must follow */
		if (p->end - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
		    !hex(p->s + p->pos + 2, 4, &lo) || lo < 0xDC00 || lo > 0xDFFF)
			return fail(p, at, "\\u%04X is a high surrogate not followed by a \\u low surrogate", cp);
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		p->pos += 6;
	}
	put_utf8(p, cp);
	return 0;
}

/* A '...' or "..." scalar from pos into the buffer, folded where it spans lines; a '\' ending a
 * "..." line joins the lines with nothing between. */
static int parse_quoted(struct parser *p, bool *one_line)
{
	size_t at = p->pos, keep = 0; /* keep: the buffer up to its last non-blank or escaped byte */
	char q = p->s[at];
	int rc;
	buf_reset(p);
	*one_line = true;
	for (p->pos++;;) {
		if (p->pos >= p->end || (q == '"' && p->s[p->pos] == '\\' && p->pos + 1 >= p->end))
			return fail(p, at, "this quoted string is never closed");
		char c = p->s[p->pos];
		bool joined = c == '\\' && q == '"' && at_eol(p, p->pos + 1);
		if (c == q && q == '\'' && p->pos + 1 < p->end && p->s[p->pos + 1] == '\'') {
			put(p, "'", 1);
			p->pos += 2;
		} else if (c == q) {
			p->pos++;
			return 0;
		} else if (c == '\\' && q == '"' && !joined) {
			if ((rc = escape(p)))
				return rc;
		} else if (c == '\r' || c == '\n' || joined) {
			if (!joined)
				p->buf_len = keep; /* blanks ending a line are not content */
			p->pos += joined;
			*one_line = false;
			int blank_lines = skip_break(p);
			if (blank_lines || !joined)
				put_fold(p, blank_lines);
		} else {
			put(p, &c, 1);
			p->pos++;
			if (blank(c))
				continue;
		}
		keep = p->buf_len;
	}
}

/* A plain scalar's text on the line from `from` in a block: *end without trailing blanks, *colon
 * the first key indicator (0 if none); returns where it stops (line end or comment). */
static size_t scan_plain(const struct parser *p, size_t from, size_t *end, size_t *colon)
{
	size_t i = from;
	*end = from;
	*colon = 0;
	for (; !at_eol(p, i) && !at_comment(p, i); i++) {
		if (!blank(p->s[i]))
			*end = i + 1;
		if (!*colon && is_key_colon(p, i))
			*colon = i;
	}
	return i;
}

/* A plain scalar from pos in a block, continued (folded) by lines indented deeper than parent. */
static int parse_plain(struct parser *p, int parent, cJSON **out)
{
	size_t at = p->pos, end, colon, stop;
	buf_reset(p);
	for (;;) {
		stop = scan_plain(p, p->pos, &end, &colon);
		if (colon && p->pos == at)
			return fail(p, colon, "a value may not contain ': ' unless quoted (or a mapping is not allowed here)");
		if (colon)
			return fail(p, colon, "bad indentation: a 'key:' deeper than the mapping it would belong to");
		put(p, p->s + p->pos, end - p->pos);
		p->pos = stop;
		if (!at_eol(p, stop))
			break; /* a comment ends it */
		int blank_lines = skip_break(p);
		int indent = (int)(p->pos - p->bol);
		if (p->pos >= p->end || indent <= parent || memchr(p->s + p->bol, '\t', (size_t)indent) ||
		    p->s[p->pos] == '#') {
			p->pos = stop; /* not part of it: the caller reads that line */
			break;
		}
		put_fold(p, blank_lines);
	}
	next_line_start(p);
	return make_scalar(p, true, at, out);
}

/* A literal (|) or folded (>) block scalar from its header at pos; its lines are those indented
 * deeper than parent, the first setting the indentation unless the header gives it. */
static int parse_block_scalar(struct parser *p, int parent, cJSON **out)
{
	size_t at = p->pos;
	bool folded = p->s[at] == '>', content = false, more = false;
	char chomp = 0;
	int indent = -1, blank_lines = 0, rc;
	for (p->pos++; p->pos < p->end; p->pos++) {
		char c = p->s[p->pos];
		if ((c == '-' || c == '+') && !chomp)
			chomp = c;
		else if (c >= '1' && c <= '9' && indent < 0)
			indent = (parent < 0 ? 0 : parent) + (c - '0');
		else
			break;
	}
	if (!at_eol(p, p->pos) && !blank(p->s[p->pos]))
		return fail(p, at, "a block scalar header is '|' or '>' with an optional '-' or '+'");
	if ((rc = end_of_line(p, "a block scalar header")))
		return rc;
	buf_reset(p);
	while (p->pos < p->end) {
		size_t i = p->pos;
		while (i < p->end && p->s[i] == ' ' && (indent < 0 || (int)(i - p->pos) < indent))
			i++;
		int sp = (int)(i - p->pos);
		if (at_eol(p, i)) {
			blank_lines++;
			next_line_start(p);
			continue;
		}
		if ((indent < 0 && sp <= parent) || (indent >= 0 && sp < indent))
			break;
		if (indent < 0)
			indent = sp;
		/* Folding joins two plain lines with a space and keeps the breaks around lines indented
		 * deeper than the text; a literal keeps every break. */
		bool deeper = blank(p->s[i]);
		if (!folded || deeper || more)
			put_newlines(p, content + blank_lines);
		else if (content && !blank_lines)
			put(p, " ", 1);
		else
			put_newlines(p, blank_lines);
		put(p, p->s + i, line_end(p, i) - i);
		content = true;
		more = deeper;
		blank_lines = 0;
		next_line_start(p);
	}
	if (chomp == '+')
		put_newlines(p, content + blank_lines);
	else if (!chomp && content)
		put_newlines(p, 1);
	return make_scalar(p, false, at, out);
}

/* The key at pos, up to and past its ':'. */
static int parse_key(struct parser *p, char **key)
{
	size_t at = p->pos, end, colon;
	char c = p->s[at];
	bool one_line;
	int rc;
	if ((rc = refuse_indicator(p, at)))
		return rc;
	if (is_entry(p, at))
		return fail(p, at, "a '- ' entry where a 'key:' was expected (check the indentation)");
	if (c == '[' || c == '{' || c == '|' || c == '>')
		return fail(p, at, "expected 'key: value'; a key must be a plain or quoted string");
	if (c == '"' || c == '\'') {
		if ((rc = parse_quoted(p, &one_line)))
			return rc;
		skip_blanks(p);
		if (!one_line || !is_key_colon(p, p->pos))
			return fail(p, at, "a quoted key must be followed by ': ' on the same line");
	} else {
		scan_plain(p, at, &end, &colon);
		if (!colon)
			return fail(p, at, "expected 'key: value' but this line has no ': ' (the front matter is a mapping)");
		for (end = colon; blank(p->s[end - 1]);)
			end--;
		buf_reset(p);
		put(p, p->s + at, end - at);
		p->pos = colon;
	}
	p->pos++;
	return take_key(p, at, c != '"' && c != '\'', key);
}

static int parse_node(struct parser *p, int parent, bool block_ok, int depth, cJSON **out);

/* The value after "key:" or "- ": on the same line, on the lines below indented deeper than col,
 * or (for a key) a "- " sequence at the key's own indentation, as YAML allows. */
static int parse_value(struct parser *p, int col, int depth, bool after_dash, cJSON **out)
{
	int indent, rc;
	skip_blanks(p);
	if (!at_eol(p, p->pos) && !at_comment(p, p->pos))
		return parse_node(p, col, after_dash, depth, out);
	next_line_start(p);
	if ((rc = next_content(p, &indent)))
		return rc;
	if (indent > col || (!after_dash && indent == col && is_entry(p, p->pos + (size_t)indent))) {
		p->pos += (size_t)indent;
		return parse_node(p, col, true, depth, out);
	}
	buf_reset(p);
	return make_scalar(p, true, p->pos, out);
}

/* A block mapping (seq false) or sequence whose keys or "- " entries sit at column col; pos is at
 * the first. */
static int parse_block(struct parser *p, int col, int depth, bool seq, cJSON **out)
{
	if (depth > CM_FM_DEPTH_MAX)
		return fail(p, p->pos, "nested deeper than %d levels", CM_FM_DEPTH_MAX);
	cJSON *coll = seq ? cJSON_CreateArray() : cJSON_CreateObject();
	if (!coll)
		return oom(p);
	uint32_t map = seq ? 0 : ++p->maps;
	int rc, indent;
	for (;;) {
		size_t at = p->pos;
		char *key = NULL;
		cJSON *val = NULL;
		if (seq)
			p->pos++;
		else if ((rc = parse_key(p, &key)))
			break;
		if ((rc = parse_value(p, col, depth + 1, seq, &val))) {
			free(key);
			break;
		}
		if (seq)
			cJSON_AddItemToArray(coll, val);
		else if ((rc = add_member(p, coll, map, key, at, val)))
			break;
		if ((rc = next_content(p, &indent)) || indent < col)
			break;
		if (indent > col) {
			rc = fail(p, p->pos + (size_t)indent, "bad indentation: deeper than the entry above, but not part of it");
			break;
		}
		/* A key at the entries' column ends a sequence that was the compact value of the key above. */
		if (seq && !is_entry(p, p->pos + (size_t)indent))
			break;
		p->pos += (size_t)indent;
	}
	if (rc) {
		cJSON_Delete(coll);
		return rc;
	}
	*out = coll;
	return 0;
}

/* One block node whose first character is at pos; block_ok when it may be a block mapping or
 * sequence (it starts its own line or follows "- "), parent the indentation of its collection. */
static int parse_node(struct parser *p, int parent, bool block_ok, int depth, cJSON **out)
{
	size_t at = p->pos, end, colon;
	int col = (int)(at - p->bol), rc;
	char c = p->s[at];
	bool one_line;
	cJSON *flow = NULL;
	if ((rc = refuse_indicator(p, at)))
		return rc;
	if (is_entry(p, at) && !block_ok)
		return fail(p, at, "a '- ' sequence may not start on the line of its key; start it on the next line");
	if (is_entry(p, at))
		return parse_block(p, col, depth, true, out);
	if (c == '[' || c == '{') {
		if ((rc = parse_flow(p, depth, &flow)) || (rc = end_of_line(p, "a closing bracket")))
			cJSON_Delete(flow);
		else
			*out = flow;
		return rc;
	}
	if (c == '|' || c == '>')
		return parse_block_scalar(p, parent, out);
	if (c == '"' || c == '\'') {
		if ((rc = parse_quoted(p, &one_line)))
			return rc;
		skip_blanks(p);
		if (!is_key_colon(p, p->pos))
			return (rc = end_of_line(p, "a quoted string")) ? rc : make_scalar(p, false, at, out);
		if (!block_ok || !one_line)
			return fail(p, p->pos, "a mapping is not allowed here (a quoted key must start its own line)");
		p->pos = at;
		return parse_block(p, col, depth, false, out);
	}
	scan_plain(p, at, &end, &colon);
	if (colon && block_ok)
		return parse_block(p, col, depth, false, out);
	return parse_plain(p, parent, out);
}

/* Blanks, line breaks and comments between the tokens of a flow collection. */
static void skip_flow_space(struct parser *p)
{
	for (;;) {
		skip_blanks(p);
		if (at_comment(p, p->pos))
			p->pos = line_end(p, p->pos);
		if (p->pos >= p->end || (p->s[p->pos] != '\r' && p->s[p->pos] != '\n'))
			return;
		next_line_start(p);
	}
}

/* Where a plain scalar inside [ ] or { } ends: a flow indicator, or ':' before a blank or one. */
static bool flow_stop(const struct parser *p, size_t i)
{
	const char *stops = ",[]{}";
	return strchr(stops, p->s[i]) ||
	       (p->s[i] == ':' && (at_eol(p, i + 1) || blank(p->s[i + 1]) || strchr(stops, p->s[i + 1])));
}

/* A scalar inside [ ] or { } into the buffer; a plain one may continue on the next lines. */
static int flow_scalar(struct parser *p, bool *plain)
{
	size_t at = p->pos;
	char c = p->s[at];
	bool one_line;
	int rc;
	if ((rc = refuse_indicator(p, at)))
		return rc;
	if (is_entry(p, at))
		return fail(p, at, "a '- ' entry is not allowed inside [ ] or { }");
	if (c == '|' || c == '>')
		return fail(p, at, "a block scalar ('%c') is not allowed inside [ ] or { }", c);
	*plain = c != '"' && c != '\'';
	if (!*plain)
		return parse_quoted(p, &one_line);
	if (flow_stop(p, at))
		return fail(p, at, "unexpected ':' inside a flow collection");
	buf_reset(p);
	for (;;) {
		size_t from = p->pos, end = from;
		for (; !at_eol(p, p->pos) && !at_comment(p, p->pos) && !flow_stop(p, p->pos); p->pos++)
			if (!blank(p->s[p->pos]))
				end = p->pos + 1;
		put(p, p->s + from, end - from);
		if (!at_eol(p, p->pos) || p->pos >= p->end)
			return 0;
		int blank_lines = skip_break(p);
		if (p->pos >= p->end || flow_stop(p, p->pos) || at_comment(p, p->pos))
			return 0; /* the caller goes on from here */
		put_fold(p, blank_lines);
	}
}

static int parse_flow_node(struct parser *p, int depth, cJSON **out)
{
	size_t at = p->pos;
	bool plain;
	int rc;
	if (p->s[at] == '[' || p->s[at] == '{')
		return parse_flow(p, depth, out);
	return (rc = flow_scalar(p, &plain)) ? rc : make_scalar(p, plain, at, out);
}

/* "key: value" inside { }, added to obj. */
static int parse_flow_pair(struct parser *p, cJSON *obj, uint32_t map, int depth)
{
	size_t at = p->pos;
	char *key = NULL;
	cJSON *val = NULL;
	bool plain;
	int rc;
	if (p->s[at] == '[' || p->s[at] == '{')
		return fail(p, at, "a key must be a string, not a collection");
	if ((rc = flow_scalar(p, &plain)) || (rc = take_key(p, at, plain, &key)))
		return rc;
	skip_flow_space(p);
	if (p->pos >= p->end || p->s[p->pos] != ':') {
		free(key);
		return fail(p, at, "a key inside { } has no ':' after it");
	}
	p->pos++;
	skip_flow_space(p);
	if (p->pos >= p->end || p->s[p->pos] == ',' || p->s[p->pos] == '}') {
		buf_reset(p);
		rc = make_scalar(p, true, p->pos, &val);
	} else {
		rc = parse_flow_node(p, depth, &val);
	}
	if (rc) {
		free(key);
		return rc;
	}
	return add_member(p, obj, map, key, at, val);
}

/* A [ ] or { } collection from pos, JSON-like, possibly over many lines, trailing commas allowed. */
static int parse_flow(struct parser *p, int depth, cJSON **out)
{
	size_t open = p->pos;
	bool is_map = p->s[open] == '{';
	char close = is_map ? '}' : ']';
	if (depth > CM_FM_DEPTH_MAX)
		return fail(p, open, "nested deeper than %d levels", CM_FM_DEPTH_MAX);
	cJSON *coll = is_map ? cJSON_CreateObject() : cJSON_CreateArray(), *item = NULL;
	if (!coll)
		return oom(p);
	uint32_t map = is_map ? ++p->maps : 0;
	int rc = 0;
	for (p->pos++;; p->pos++) {
		skip_flow_space(p);
		if (p->pos < p->end && p->s[p->pos] == close)
			break; /* empty, or after a trailing comma */
		if (p->pos >= p->end)
			rc = fail(p, open, "this '%c' is never closed", p->s[open]);
		else if (is_map)
			rc = parse_flow_pair(p, coll, map, depth + 1);
		else if (!(rc = parse_flow_node(p, depth + 1, &item)))
			cJSON_AddItemToArray(coll, item);
		if (rc)
			break;
		skip_flow_space(p);
		if (p->pos < p->end && p->s[p->pos] == close)
			break;
		if (p->pos >= p->end)
			rc = fail(p, open, "this '%c' is never closed", p->s[open]);
		else if (p->s[p->pos] != ',' && !is_map && p->s[p->pos] == ':')
			rc = fail(p, p->pos, "'key: value' inside [ ] is not supported; write [{key: value}]");
		else if (p->s[p->pos] != ',')
			rc = fail(p, p->pos, "expected ',' or '%c' inside a flow collection", close);
		if (rc)
			break;
	}
	if (rc) {
		cJSON_Delete(coll);
		return rc;
	}
	p->pos++;
	*out = coll;
	return 0;
}

/* The whole front matter: a block mapping, a { } mapping, or nothing at all ({}). */
static int parse_root(struct parser *p, cJSON **out)
{
	int indent, rc;
	if ((rc = next_content(p, &indent)))
		return rc;
	if (indent < 0)
		return (*out = cJSON_CreateObject()) ? 0 : oom(p);
	size_t at = p->pos += (size_t)indent;
	if (is_entry(p, at) || p->s[at] == '[')
		return fail(p, at, "the front matter must be a mapping of 'key: value' lines, not a sequence");
	if (p->s[at] == '{') {
		if (!(rc = parse_flow(p, 1, out)))
			rc = end_of_line(p, "the closing '}'");
	} else {
		rc = parse_block(p, indent, 1, false, out);
	}
	if (!rc && !(rc = next_content(p, &indent)) && indent >= 0)
		rc = fail(p, p->pos + (size_t)indent, "bad indentation: this line is outside the top-level mapping");
	if (rc) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	return rc;
}

/* "---" or "..." at i, then only spaces and CRs to the line end; *next = the following line. */
static bool marker_line(const char *s, size_t len, size_t i, const char *marker, size_t *next)
{
	if (len - i < 3 || memcmp(s + i, marker, 3))
		return false;
	for (i += 3; i < len && (s[i] == ' ' || s[i] == '\r'); i++)
		;
	if (i < len && s[i] != '\n')
		return false;
	*next = i < len ? i + 1 : len;
	return true;
}

/* NUL, control characters, lone CRs and invalid UTF-8 are refused first, so the parser never
 * meets them. */
static int check_bytes(struct parser *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		unsigned char c = (unsigned char)p->s[i];
		if (!c)
			return fail(p, i, "the front matter contains a NUL byte");
		if (c == '\r' && (i + 1 >= to || p->s[i + 1] != '\n'))
			return fail(p, i, "a carriage return not followed by a line feed");
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			return fail(p, i, "the front matter contains the control character 0x%02X", c);
	}
	for (size_t i = from, e; i < to; i = e + 1) { /* line by line, to say which */
		const char *nl = memchr(p->s + i, '\n', to - i);
		e = nl ? (size_t)(nl - p->s) : to;
		if (!cm_utf8_valid(p->s + i, e - i))
			return fail(p, i, "the front matter is not valid UTF-8");
	}
	return 0;
}

int cm_frontmatter_parse(const char *text, size_t len, cJSON **out, size_t *body_offset, struct cm_fm_error *err)
{
	struct cm_fm_error spare;
	struct parser p = {.s = text, .err = err ? err : &spare};
	size_t start = text && len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3) ? 3 : 0, open_end, close = 0, after = 0;
	size_t colons = 0;
	int rc;
	p.err->line = 0;
	p.err->message[0] = '\0';
	if (body_offset)
		*body_offset = 0;
	if (!out) {
		snprintf(p.err->message, sizeof p.err->message, "no place for the result");
		return -CM_EINTERNAL;
	}
	*out = NULL;
	if (!text || !marker_line(text, len, start, "---", &open_end))
		return 0;
	for (size_t i = open_end; !close && i < len;) {
		if (marker_line(text, len, i, "---", &after) || marker_line(text, len, i, "...", &after))
			close = i;
		const char *nl = memchr(text + i, '\n', len - i);
		i = nl ? (size_t)(nl - text) + 1 : len;
	}
	if (!close)
		return fail(&p, start, "the front matter opened here is never closed by a '---' line");
	if (close - open_end > CM_FM_SIZE_MAX)
		return fail(&p, open_end + CM_FM_SIZE_MAX, "the front matter is larger than %d bytes", CM_FM_SIZE_MAX);
	p.end = close;
	if ((rc = check_bytes(&p, open_end, close)))
		return rc;
	/* Every key takes a ':' of its own, so this bounds the keys and keeps the table half empty. */
	for (size_t i = open_end; i < close; i++)
		colons += text[i] == ':';
	for (p.keys_cap = 16; p.keys_cap < 2 * (colons + 1) && p.keys_cap < 2 * CM_FM_SCALARS_MAX;)
		p.keys_cap *= 2;
	p.keys = calloc(p.keys_cap, sizeof *p.keys);
	p.buf = malloc(p.buf_cap = 256);
	if (!p.keys || !p.buf) {
		rc = oom(&p);
	} else {
		p.buf[0] = '\0';
		p.pos = p.bol = open_end;
		rc = parse_root(&p, out);
	}
	if (!rc && body_offset)
		*body_offset = after;
	free(p.keys);
	free(p.buf);
	return rc;
}
