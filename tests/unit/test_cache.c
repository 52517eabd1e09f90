/* The caches' rules (cache.h), one by one and in the order a race would interleave them: what a
 * fill may store given what was told between its ticket and its fill. */
#include "clawmesh/cache.h"
#include "clawmesh/feed.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void up(void)
{
	cm_cache_init(1 << 20);
	cm_cache_listening(true);
}

static void down(void)
{
	cm_cache_shutdown();
}

/* The version cached for mesh/key, or 0. */
static int cached(const char *key)
{
	struct cm_cached_entry e;
	if (!cm_cache_memory_get("mesh", key, &e))
		return 0;
	free(e.json);
	return e.version;
}

static void fill(struct cm_cache_ticket t, const char *key, long long rev, int version)
{
	char json[96];
	snprintf(json, sizeof json, "{\"scope\":\"mesh\",\"key\":\"%s\",\"version\":%d,\"revision\":%lld}", key, version, rev);
	cm_cache_memory_put(t, "mesh", key, rev, 0, version, json);
}

START_TEST(fill_and_hit)
{
	fill(cm_cache_ticket(), "a", 10, 1);
	struct cm_cached_entry e;
	ck_assert(cm_cache_memory_get("mesh", "a", &e));
	ck_assert_int_eq(e.version, 1);
	ck_assert_str_eq(e.json, "{\"scope\":\"mesh\",\"key\":\"a\",\"version\":1,\"revision\":10}");
	free(e.json);
	ck_assert(!cm_cache_memory_get("mesh", "b", &e));
	ck_assert(!cm_cache_memory_get("user:x", "a", &e)); /* the scope is part of the key */
}
END_TEST

START_TEST(told_change_evicts_only_older)
{
	fill(cm_cache_ticket(), "a", 10, 1);
	cm_cache_heard(CM_KIND_MEMORY, "mesh", "a", 10); /* the change this very row came from */
	ck_assert_int_eq(cached("a"), 1);
	cm_cache_heard(CM_KIND_SKILL, "mesh", "a", 11); /* a skill of that name: not this entry */
	ck_assert_int_eq(cached("a"), 1);
	cm_cache_heard(CM_KIND_MEMORY, "mesh", "a", 11);
	ck_assert_int_eq(cached("a"), 0);
}
END_TEST

START_TEST(fill_older_than_told_is_refused)
{
	/* The race: a reader reads version 1 (revision 10); meanwhile version 2 (revision 12)
	 * commits and is told; the reader's fill comes last and must not store version 1. */
	struct cm_cache_ticket t = cm_cache_ticket();
	cm_cache_heard(CM_KIND_MEMORY, "mesh", "a", 12);
	fill(t, "a", 10, 1);
	ck_assert_int_eq(cached("a"), 0);
	/* A reader that read after the commit stores it, even with the same old ticket. */
	fill(t, "a", 12, 2);
	ck_assert_int_eq(cached("a"), 2);
	/* A slower reader's older row never replaces a newer one. */
	fill(cm_cache_ticket(), "a", 10, 1);
	ck_assert_int_eq(cached("a"), 2);
}
END_TEST

START_TEST(flush_refuses_fills_from_before)
{
	struct cm_cache_ticket t = cm_cache_ticket();
	fill(t, "a", 10, 1);
	cm_cache_flush(false, true);
	ck_assert_int_eq(cached("a"), 0);
	fill(t, "a", 10, 1); /* read before the flush: may predate what it stood for */
	ck_assert_int_eq(cached("a"), 0);
	fill(cm_cache_ticket(), "a", 10, 1);
	ck_assert_int_eq(cached("a"), 1);
}
END_TEST

START_TEST(deaf_hub_turns_both_off)
{
	struct cm_identity who = {.token_id = "tok_1"};
	const char *hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	struct cm_cache_ticket t = cm_cache_ticket();
	fill(t, "a", 10, 1);
	cm_cache_token_put(t, hash, &who);
	cm_cache_listening(false);
	struct cm_identity out;
	bool touch;
	ck_assert_int_eq(cached("a"), 0);
	ck_assert(!cm_cache_token_get(hash, &out, &touch));
	struct cm_cache_ticket deaf = cm_cache_ticket();
	ck_assert(!deaf.on);
	fill(deaf, "a", 10, 1);
	cm_cache_token_put(deaf, hash, &who);
	cm_cache_listening(true);
	ck_assert_int_eq(cached("a"), 0);
	ck_assert(!cm_cache_token_get(hash, &out, &touch));
	fill(deaf, "a", 10, 1); /* a ticket from the deaf time stays refused */
	ck_assert_int_eq(cached("a"), 0);
}
END_TEST

START_TEST(own_write_evicts_and_blocks_older)
{
	fill(cm_cache_ticket(), "a", 10, 1);
	struct cm_cache_ticket t = cm_cache_ticket();
	cm_cache_memory_written("mesh", "a", "{\"scope\":\"mesh\",\"key\":\"a\",\"version\":2,\"revision\":15}");
	ck_assert_int_eq(cached("a"), 0);
	fill(t, "a", 10, 1);
	ck_assert_int_eq(cached("a"), 0);
	/* Scope and key from the entry (a batch); an entry that cannot be read flushes all. */
	fill(cm_cache_ticket(), "b", 11, 1);
	cm_cache_memory_written(NULL, NULL, "{\"scope\":\"mesh\",\"key\":\"b\",\"version\":2,\"revision\":16}");
	ck_assert_int_eq(cached("b"), 0);
	fill(cm_cache_ticket(), "a", 15, 2);
	fill(cm_cache_ticket(), "b", 16, 2);
	cm_cache_memory_written("mesh", "c", "not json");
	ck_assert_int_eq(cached("a"), 0);
	ck_assert_int_eq(cached("b"), 0);
}
END_TEST

START_TEST(expiry)
{
	cm_cache_memory_put(cm_cache_ticket(), "mesh", "gone", 10, wall_ms() - 1, 1, "{}");
	ck_assert_int_eq(cached("gone"), 0);
	cm_cache_memory_put(cm_cache_ticket(), "mesh", "soon", 10, wall_ms() + 100, 1, "{}");
	ck_assert_int_eq(cached("soon"), 1);
	sleep_ms(150);
	ck_assert_int_eq(cached("soon"), 0);
}
END_TEST

START_TEST(budget_keeps_the_recent)
{
	cm_cache_init(64 * 1024);
	cm_cache_listening(true);
	char key[16], json[320];
	memset(json, 'x', sizeof json - 1);
	json[sizeof json - 1] = '\0';
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		cm_cache_memory_put(cm_cache_ticket(), "mesh", key, i + 1, 0, 1, json);
		if (i == 10)
			ck_assert_int_eq(cached("k0"), 1); /* touched: the most recent now */
	}
	struct cm_cache_stats st;
	cm_cache_stats(&st);
	ck_assert_uint_le(st.memory_bytes, 64 * 1024);
	ck_assert_uint_gt(st.memory_entries, 100);
	ck_assert_int_eq(cached("k999"), 1);
	ck_assert_int_eq(cached("k1"), 0);
}
END_TEST

START_TEST(off_means_off)
{
	cm_cache_init(0);
	cm_cache_listening(true);
	fill(cm_cache_ticket(), "a", 10, 1);
	ck_assert_int_eq(cached("a"), 0);
	/* Tokens are cached all the same. */
	struct cm_identity who = {.token_id = "tok_1"}, out;
	const char *hash = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
	bool touch = true;
	cm_cache_token_put(cm_cache_ticket(), hash, &who);
	ck_assert(cm_cache_token_get(hash, &out, &touch));
	ck_assert_str_eq(out.token_id, "tok_1");
	ck_assert(!touch);
}
END_TEST

START_TEST(tokens)
{
	const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *h2 = "1111111111111111111111111111111111111111111111111111111111111112"; /* same home */
	struct cm_identity a = {.token_id = "tok_a", .admin = true}, b = {.token_id = "tok_b"}, out;
	bool touch;
	struct cm_cache_ticket t = cm_cache_ticket();
	cm_cache_token_put(t, h1, &a);
	cm_cache_token_put(t, h2, &b);
	ck_assert(cm_cache_token_get(h1, &out, &touch) && out.admin);
	ck_assert(cm_cache_token_get(h2, &out, &touch) && !strcmp(out.token_id, "tok_b"));
	/* A token change anywhere: all dropped, and a lookup from before it stores nothing. */
	cm_cache_flush(true, false);
	ck_assert(!cm_cache_token_get(h1, &out, &touch));
	cm_cache_token_put(t, h1, &a);
	ck_assert(!cm_cache_token_get(h1, &out, &touch));
	/* An expiring token is served until it expires, then looked up again. */
	struct cm_identity brief = {.token_id = "tok_c", .expires_mono_ms = mono_ms() + 50};
	cm_cache_token_put(cm_cache_ticket(), h1, &brief);
	ck_assert(cm_cache_token_get(h1, &out, &touch));
	sleep_ms(80);
	ck_assert(!cm_cache_token_get(h1, &out, &touch));
	/* More tokens than one run of slots holds: each lookup is right or a miss, never another's. */
	char h[65];
	for (int i = 0; i < 40; i++) {
		snprintf(h, sizeof h, "abcdef%058d", i);
		struct cm_identity w = {.token_id = ""};
		snprintf(w.token_id, sizeof w.token_id, "tok_%d", i);
		cm_cache_token_put(cm_cache_ticket(), h, &w);
	}
	int hits = 0;
	for (int i = 0; i < 40; i++) {
		snprintf(h, sizeof h, "abcdef%058d", i);
		char want[16];
		snprintf(want, sizeof want, "tok_%d", i);
		if (cm_cache_token_get(h, &out, &touch)) {
			ck_assert_str_eq(out.token_id, want);
			hits++;
		}
	}
	ck_assert_int_ge(hits, 8);
}
END_TEST

Suite *cm_test_suite(void);
Suite *cm_test_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, up, down);
	tcase_add_test(tc, fill_and_hit);
	tcase_add_test(tc, told_change_evicts_only_older);
	tcase_add_test(tc, fill_older_than_told_is_refused);
	tcase_add_test(tc, flush_refuses_fills_from_before);
	tcase_add_test(tc, deaf_hub_turns_both_off);
	tcase_add_test(tc, own_write_evicts_and_blocks_older);
	tcase_add_test(tc, expiry);
	tcase_add_test(tc, budget_keeps_the_recent);
	tcase_add_test(tc, off_means_off);
	tcase_add_test(tc, tokens);
	suite_add_tcase(s, tc);
	return s;
}
