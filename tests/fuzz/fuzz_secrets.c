/* libFuzzer harness for the secret guard: cm_secret_scan on bytes in a buffer of exactly their
 * length (ASan sees any read past len), cm_secret_scan_json on the trees cJSON parses and on
 * chains far deeper than any parser allows. Invariants: the kind found is one the mask asks
 * for; a kind found alone is found again with only its bit; for four kinds (AWS key id, GitHub
 * token, "sk-" API key, clawmesh token) a brute-force reference written from secrets.h's rules
 * finds the same leftmost one; the JSON walk finds what a recursive walk in document order finds.
 * Input: one byte (mask, mode), two bytes of depth for the chain, then the text. */
#include "clawmesh/secrets.h"
#include "fuzz_common.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool b64url(unsigned char c)
{
	return alnum(c) || c == '-' || c == '_';
}

static size_t run(const unsigned char *s, size_t len, size_t i, bool (*in)(unsigned char))
{
	size_t n = 0;
	while (i + n < len && in(s[i + n]))
		n++;
	return n;
}

static bool upper_digit(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool alnum_us(unsigned char c)
{
	return alnum(c) || c == '_';
}

static bool at(const unsigned char *s, size_t len, size_t i, const char *lit)
{
	size_t k = strlen(lit);
	return len - i >= k && !memcmp(s + i, lit, k);
}

/* The reference kinds at position i, by secrets.h's comments. */
static enum cm_secret_kind ref_at(const unsigned char *s, size_t len, size_t i, unsigned mask)
{
	bool free_left = i == 0 || !alnum(s[i - 1]);
	if ((mask & 1u << CM_SECRET_AWS_ACCESS_KEY) && free_left &&
	    (at(s, len, i, "AKIA") || at(s, len, i, "ASIA") || at(s, len, i, "ABIA") || at(s, len, i, "ACCA")) &&
	    run(s, len, i + 4, upper_digit) >= 16 && (i + 20 == len || !alnum(s[i + 20])))
		return CM_SECRET_AWS_ACCESS_KEY;
	if ((mask & 1u << CM_SECRET_GITHUB_TOKEN) &&
	    ((at(s, len, i, "github_pat_") && run(s, len, i + 11, alnum_us) >= 22) ||
	     ((at(s, len, i, "ghp_") || at(s, len, i, "gho_") || at(s, len, i, "ghu_") || at(s, len, i, "ghs_") ||
	       at(s, len, i, "ghr_")) &&
	      run(s, len, i + 4, alnum) >= 36)))
		return CM_SECRET_GITHUB_TOKEN;
	if ((mask & 1u << CM_SECRET_API_KEY) && free_left && at(s, len, i, "sk-") && run(s, len, i + 3, b64url) >= 20)
		return CM_SECRET_API_KEY;
	if ((mask & 1u << CM_SECRET_CLAWMESH_TOKEN) && free_left && at(s, len, i, "cm_") && run(s, len, i + 3, b64url) == 43)
		return CM_SECRET_CLAWMESH_TOKEN;
	return CM_SECRET_NONE;
}

static enum cm_secret_kind ref_scan(const unsigned char *s, size_t len, unsigned mask)
{
	for (size_t i = 0; i < len; i++) {
		enum cm_secret_kind k = ref_at(s, len, i, mask);
		if (k)
			return k;
	}
	return CM_SECRET_NONE;
}

static void text(const unsigned char *s, size_t len, unsigned mask)
{
	enum cm_secret_kind k = cm_secret_scan((const char *)s, len, mask);
	check(k == CM_SECRET_NONE || (k < CM_SECRET_KIND_COUNT && (mask & 1u << k)));
	if (k != CM_SECRET_NONE)
		check(cm_secret_scan((const char *)s, len, 1u << k) == k);
	else
		for (unsigned b = 1; b < CM_SECRET_KIND_COUNT; b++)
			check(!(mask & 1u << b) || cm_secret_scan((const char *)s, len, 1u << b) == CM_SECRET_NONE);
	const unsigned four = 1u << CM_SECRET_AWS_ACCESS_KEY | 1u << CM_SECRET_GITHUB_TOKEN | 1u << CM_SECRET_API_KEY |
			      1u << CM_SECRET_CLAWMESH_TOKEN;
	check(cm_secret_scan((const char *)s, len, mask & four) == ref_scan(s, len, mask & four));
}

/* First in document order: member names, then string values, children before later siblings. */
static enum cm_secret_kind ref_json(const cJSON *item, unsigned mask, bool root)
{
	enum cm_secret_kind k;
	if (!root && item->string && (k = cm_secret_scan(item->string, strlen(item->string), mask)))
		return k;
	if ((cJSON_IsString(item) || cJSON_IsRaw(item)) && item->valuestring &&
	    (k = cm_secret_scan(item->valuestring, strlen(item->valuestring), mask)))
		return k;
	for (const cJSON *c = item->child; c; c = c->next)
		if ((k = ref_json(c, mask, false)))
			return k;
	return CM_SECRET_NONE;
}

/* A chain `depth` containers deep, a clean sibling after the child of every `every`th level (each
 * one held on the walk's stack), a string at the bottom, whose node *leaf receives. */
static cJSON *chain(size_t depth, size_t every, cJSON **leaf)
{
	cJSON *root = cJSON_CreateArray(), *parent = root;
	for (size_t d = 1; parent && d < depth; d++) {
		cJSON *c = d % 2 ? cJSON_CreateObject() : cJSON_CreateArray();
		if (!c)
			abort();
		if (cJSON_IsObject(parent))
			cJSON_AddItemToObject(parent, "k", c);
		else
			cJSON_AddItemToArray(parent, c);
		if (d % every == 0 && cJSON_IsObject(parent))
			cJSON_AddStringToObject(parent, "z", "clean");
		else if (d % every == 0)
			cJSON_AddItemToArray(parent, cJSON_CreateString("clean"));
		parent = c;
	}
	if (!parent || !(*leaf = cJSON_CreateString("")))
		abort();
	if (cJSON_IsObject(parent))
		cJSON_AddItemToObject(parent, "leaf", *leaf);
	else
		cJSON_AddItemToArray(parent, *leaf);
	return root;
}

/* Frees a chain without recursion (cJSON_Delete recurses once per level). */
static void chain_free(cJSON *root)
{
	while (root) {
		cJSON *first = root->child; /* the next level, or the leaf */
		if (first && (cJSON_IsArray(first) || cJSON_IsObject(first))) {
			cJSON_DetachItemViaPointer(root, first);
			cJSON_Delete(root);
			root = first;
		} else {
			cJSON_Delete(root);
			root = NULL;
		}
	}
}

/* Only clean strings besides the leaf: the walk finds what the leaf's text holds. */
static void scan_chain(cJSON *root, cJSON *leaf, const char *text, unsigned mask)
{
	check(cJSON_SetValuestring(leaf, text));
	check(cm_secret_scan_json(root, mask) == cm_secret_scan(text, strlen(text), mask));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3 || size > 65536)
		return 0;
	unsigned mask = (unsigned)data[0] << 1 & CM_SECRET_ALL; /* bits 0-6: the kinds 1-7 */
	if (!mask)
		mask = CM_SECRET_ALL;
	int mode = data[0] >> 7;
	/* Mostly shallow chains (fast), and now and then one of 50 000 levels: far past any parser's
	 * limit, where a recursive walk would run out of stack under ASan. */
	size_t depth = data[1] == 0xff && data[2] == 0xff ? 50000 : data[2];
	size_t len = size - 3;
	unsigned char *s = malloc(len ? len : 1); /* exactly len: a read past it is ASan's */
	if (!s)
		return 0;
	memcpy(s, data + 3, len);
	text(s, len, mask);
	if (mode == 0) {
		cJSON *tree = cJSON_ParseWithLength((const char *)s, len);
		if (tree) {
			enum cm_secret_kind got = cm_secret_scan_json(tree, mask);
			check(got == ref_json(tree, mask, true));
			cJSON_Delete(tree);
		}
	} else {
		static cJSON *deep, *deep_leaf; /* built once */
		char *t = strndup((const char *)s, len);
		if (t && depth == 50000) {
			if (!deep)
				deep = chain(depth, 100, &deep_leaf);
			scan_chain(deep, deep_leaf, t, mask);
		} else if (t) {
			cJSON *leaf, *root = chain(1 + depth, 1, &leaf);
			scan_chain(root, leaf, t, mask);
			chain_free(root);
		}
		free(t);
	}
	free(s);
	return 0;
}
