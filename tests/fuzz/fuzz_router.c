/* libFuzzer harness for the router: cm_router_match over the real route table and
 * cm_percent_decode, each against a reference written here. Input: one byte choosing the method,
 * one byte the decode buffer's size, then the path. Invariants: the outcome (route, 404, 405 or
 * 400) is the reference matcher's; parameters are the reference decoding of their own segment
 * (non-empty, bounded, UTF-8, never a '/' forged by %2F); a match's parameters encoded again give
 * the same match; the Allow list of a 405 names methods that do match; decoding never writes past
 * its buffer. */
#include "clawmesh/err.h"
#include "clawmesh/json.h"
#include "clawmesh/router.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const methods[] = {"GET", "HEAD", "PUT", "PATCH", "DELETE", "POST", "OPTIONS", "BREW"};

static int hex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* RFC 3986 percent-decoding with the router's refusals: bad escapes, NUL, '/', over cap - 1
 * bytes, not UTF-8. Returns the length or -1. */
static long ref_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3 || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0)
				return -1;
			c = hex(s[i + 1]) * 16 + hex(s[i + 2]);
			i += 2;
		}
		if (c == 0 || c == '/' || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return cm_utf8_valid(out, o) ? (long)o : -1;
}

/* The path's segments, as the reference sees them: split on every '/'. */
#define REF_SEGS 64
struct ref_path {
	size_t n;
	const char *s[REF_SEGS];
	size_t len[REF_SEGS];
};

static int ref_split(const char *path, struct ref_path *rp)
{
	rp->n = 0;
	if (path[0] != '/')
		return -1;
	const char *p = path + 1;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (rp->n == REF_SEGS)
			return -1;
		rp->s[rp->n] = p;
		rp->len[rp->n++] = len;
		if (!e)
			return 0;
		p = e + 1;
	}
}

/* Does the route's pattern match the segments? Fills which segments are parameters. */
static int ref_match(const char *pattern, const struct ref_path *rp, size_t *at, size_t *np)
{
	struct ref_path pp;
	ref_split(pattern, &pp);
	*np = 0;
	if (pp.n != rp->n)
		return 0;
	for (size_t i = 0; i < pp.n; i++) {
		if (pp.len[i] > 2 && pp.s[i][0] == '{' && pp.s[i][pp.len[i] - 1] == '}') {
			if (rp->len[i] == 0)
				return 0;
			at[(*np)++] = i;
		} else if (pp.len[i] != rp->len[i] || memcmp(pp.s[i], rp->s[i], pp.len[i])) {
			return 0;
		}
	}
	return 1;
}

/* The path of route with params percent-encoded (every byte but unreserved ones). */
static void encode_path(const char *pattern, const struct cm_route_match *m, char *out, size_t cap)
{
	size_t o = 0, k = 0;
	for (const char *p = pattern; *p && o + 4 < cap;) {
		if (*p == '{') {
			for (const unsigned char *v = (const unsigned char *)m->params[k++]; *v && o + 4 < cap; v++) {
				if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') || strchr("-._~", *v))
					out[o++] = (char)*v;
				else
					o += (size_t)snprintf(out + o, cap - o, "%%%02X", *v);
			}
			p = strchr(p, '}') + 1;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}

static void fuzz_decode(const char *src, size_t len, size_t cap)
{
	/* Exactly cap bytes on the heap: ASan reports any write past them. */
	char *dst = malloc(cap ? cap : 1);
	char ref[CM_PARAM_MAX * 4 + 8];
	int rc = cm_percent_decode(src, len, cap ? dst : dst + 1, cap);
	long want = cap ? ref_decode(src, len, ref, cap < sizeof ref ? cap : sizeof ref) : -1;
	check(rc == 0 || rc == -CM_EBADREQ);
	if (cap && cap <= sizeof ref) {
		check((rc == 0) == (want >= 0));
		if (rc == 0)
			check(strlen(dst) == (size_t)want && !memcmp(dst, ref, (size_t)want));
	}
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 16384)
		return 0;
	const char *method = methods[data[0] % (sizeof methods / sizeof methods[0])];
	size_t cap = data[1];
	char *path = strndup((const char *)data + 2, size - 2);
	if (!path)
		return 0;
	fuzz_decode(path, strlen(path), cap);

	struct cm_route_match m;
	char allow[128];
	int rc = cm_router_match(cm_routes, cm_routes_count, method, path, &m, allow, sizeof allow);
	check(rc == 0 || rc == -CM_ENOTFOUND || rc == -CM_EMETHOD || rc == -CM_EBADREQ);

	/* The reference outcome: the first route of the method that matches runs (its parameters
	 * decoded, or 400); another method's match makes it 405; else 404. */
	const char *want = strcmp(method, "HEAD") ? method : "GET";
	struct ref_path rp;
	int expect = -CM_ENOTFOUND;
	const struct cm_route *expect_route = NULL;
	size_t at[CM_MAX_PARAMS + 4], np = 0;
	if (ref_split(path, &rp) == 0) {
		for (size_t i = 0; i < cm_routes_count; i++) {
			size_t a[CM_MAX_PARAMS + 4], n;
			if (!ref_match(cm_routes[i].pattern, &rp, a, &n))
				continue;
			if (strcmp(cm_routes[i].method, want)) {
				if (expect == -CM_ENOTFOUND)
					expect = -CM_EMETHOD;
				continue;
			}
			expect = 0;
			expect_route = &cm_routes[i];
			memcpy(at, a, sizeof a);
			np = n;
			break;
		}
	}
	char ref[CM_MAX_PARAMS][CM_PARAM_MAX + 1];
	for (size_t k = 0; expect == 0 && k < np; k++)
		if (ref_decode(rp.s[at[k]], rp.len[at[k]], ref[k], sizeof ref[k]) < 0)
			expect = -CM_EBADREQ;
	check(rc == expect);

	if (rc == 0) {
		check(m.route == expect_route && m.nparams == np);
		for (size_t k = 0; k < np; k++) {
			size_t n = strlen(m.params[k]);
			check(n >= 1 && n <= CM_PARAM_MAX && !strchr(m.params[k], '/') && cm_utf8_valid(m.params[k], n));
			check(!strcmp(m.params[k], ref[k]));
		}
		/* Encoded again, the parameters give the same route and the same values. */
		char again[CM_MAX_PARAMS * CM_PARAM_MAX * 3 + 256];
		struct cm_route_match m2;
		encode_path(m.route->pattern, &m, again, sizeof again);
		check(cm_router_match(cm_routes, cm_routes_count, method, again, &m2, allow, sizeof allow) == 0);
		check(m2.route == m.route && m2.nparams == m.nparams);
		for (size_t k = 0; k < np; k++)
			check(!strcmp(m.params[k], m2.params[k]));
	} else if (rc == -CM_EMETHOD) {
		/* Every method listed is one the path takes (OPTIONS always is). */
		check(allow[0] != '\0');
		char list[sizeof allow];
		memcpy(list, allow, sizeof list);
		for (char *save = NULL, *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			check(strcmp(tok, method) || !strcmp(tok, "OPTIONS"));
			if (strcmp(tok, "OPTIONS")) {
				struct cm_route_match m3;
				char a3[128];
				int r3 = cm_router_match(cm_routes, cm_routes_count, tok, path, &m3, a3, sizeof a3);
				check(r3 == 0 || r3 == -CM_EBADREQ);
			}
		}
	}
	free(path);
	return 0;
}
