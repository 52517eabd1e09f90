/* The token buckets (ratelimit.h) on a clock the tests move: burst, refill, what the headers
 * say (remaining, reset, Retry-After rounded up), keys apart, and a full table. */
#include "clawmesh/ratelimit.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S 1000000000LL
#define MS 1000000LL
#define T0 (1000 * S) /* any monotonic start */

static struct cm_rate_verdict take(struct cm_rate_table *t, const char *key, long long now)
{
	struct cm_rate_verdict v;
	memset(&v, 0xa5, sizeof v); /* every field must be written */
	cm_rate_table_take(t, key, now, &v);
	return v;
}

START_TEST(burst_then_refused)
{
	struct cm_rate_table *t = cm_rate_table_new(2, 5, 64); /* 2/s, 5 at once */
	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; i < 5; i++) {
		struct cm_rate_verdict v = take(t, "tok_a", T0);
		ck_assert_msg(v.allowed, "request %u", i);
		ck_assert_uint_eq(v.limit, 5);
		ck_assert_uint_eq(v.remaining, 4 - i);
		ck_assert_uint_eq(v.retry_after_s, 0);
		/* Until full again: (i + 1) half-seconds, rounded up to whole seconds. */
		ck_assert_uint_eq(v.reset_s, (i + 2) / 2);
	}
	struct cm_rate_verdict v = take(t, "tok_a", T0);
	ck_assert(!v.allowed);
	ck_assert_uint_eq(v.remaining, 0);
	ck_assert_uint_eq(v.retry_after_s, 1); /* half a second, rounded up */
	ck_assert_uint_eq(v.reset_s, v.retry_after_s);
	/* A refusal takes nothing: still refused just before the half second, allowed at it. */
	ck_assert(!take(t, "tok_a", T0 + 499 * MS).allowed);
	v = take(t, "tok_a", T0 + 500 * MS);
	ck_assert(v.allowed);
	ck_assert_uint_eq(v.remaining, 0);
	ck_assert(!take(t, "tok_a", T0 + 500 * MS).allowed);
	struct cm_rate_stats st;
	cm_rate_table_stats(t, T0 + 500 * MS, &st);
	ck_assert_uint_eq(st.refused, 3);
	ck_assert_uint_eq(st.active, 1);
	ck_assert_uint_eq(st.evicted, 0);
	cm_rate_table_free(t);
}
END_TEST

START_TEST(refill_is_capped_at_burst)
{
	struct cm_rate_table *t = cm_rate_table_new(10, 3, 64);
	for (int i = 0; i < 3; i++)
		ck_assert(take(t, "k", T0).allowed);
	ck_assert(!take(t, "k", T0).allowed);
	/* 250 ms: two and a half requests' worth: two whole ones. */
	long long now = T0 + 250 * MS;
	ck_assert(take(t, "k", now).allowed);
	ck_assert(take(t, "k", now).allowed);
	ck_assert(!take(t, "k", now).allowed);
	/* An hour idle refills no more than the bucket holds. */
	now += 3600 * S;
	struct cm_rate_verdict v = take(t, "k", now);
	ck_assert(v.allowed);
	ck_assert_uint_eq(v.remaining, 2);
	ck_assert_uint_eq(v.reset_s, 1); /* 100 ms until full, rounded up */
	ck_assert(take(t, "k", now).allowed);
	ck_assert(take(t, "k", now).allowed);
	ck_assert(!take(t, "k", now).allowed);
	struct cm_rate_stats st;
	cm_rate_table_stats(t, now + 3600 * S, &st);
	ck_assert_uint_eq(st.active, 0); /* full again: nothing to remember */
	cm_rate_table_free(t);
}
END_TEST

START_TEST(steady_rate)
{
	/* At exactly the rate, a client is never refused once its burst is spent; at twice it, half
	 * its requests are. */
	struct cm_rate_table *t = cm_rate_table_new(4, 1, 64);
	long long now = T0;
	for (int i = 0; i < 40; i++, now += 250 * MS)
		ck_assert_msg(take(t, "steady", now).allowed, "request %d", i);
	int allowed = 0;
	for (int i = 0; i < 80; i++, now += 125 * MS)
		allowed += take(t, "fast", now).allowed;
	ck_assert_int_eq(allowed, 40);
	cm_rate_table_free(t);
}
END_TEST

START_TEST(retry_after_rounds_up)
{
	/* Waits in whole seconds, rounded up, never 0. */
	struct cm_rate_table *t = cm_rate_table_new(1, 1, 64);
	ck_assert(take(t, "k", T0).allowed);
	struct cm_rate_verdict v = take(t, "k", T0);
	ck_assert_uint_eq(v.retry_after_s, 1);
	cm_rate_table_free(t);

	t = cm_rate_table_new(1, 2, 64);
	ck_assert(take(t, "k", T0).allowed);
	ck_assert(take(t, "k", T0).allowed);
	v = take(t, "k", T0 + 1);
	ck_assert(!v.allowed);
	ck_assert_uint_eq(v.retry_after_s, 1); /* 999,999,999 ns */
	v = take(t, "k", T0 + 999 * MS);
	ck_assert(!v.allowed);
	ck_assert_uint_eq(v.retry_after_s, 1); /* 1 ms */
	v = take(t, "k", T0 + S);
	ck_assert(v.allowed);
	ck_assert_uint_eq(v.reset_s, 2); /* two requests' worth until full */
	cm_rate_table_free(t);

	/* 3 a second, refused: a third of a second rounds up to 1. */
	t = cm_rate_table_new(3, 1, 64);
	ck_assert(take(t, "k", T0).allowed);
	v = take(t, "k", T0);
	ck_assert(!v.allowed);
	ck_assert_uint_eq(v.retry_after_s, 1);
	cm_rate_table_free(t);
}
END_TEST

START_TEST(keys_are_apart)
{
	struct cm_rate_table *t = cm_rate_table_new(1, 2, 64);
	ck_assert(take(t, "tok_aaaaaaaaaaaaaaaaaaaaaaaa", T0).allowed);
	ck_assert(take(t, "tok_aaaaaaaaaaaaaaaaaaaaaaaa", T0).allowed);
	ck_assert(!take(t, "tok_aaaaaaaaaaaaaaaaaaaaaaaa", T0).allowed);
	struct cm_rate_verdict v = take(t, "tok_aaaaaaaaaaaaaaaaaaaaaaab", T0);
	ck_assert(v.allowed);
	ck_assert_uint_eq(v.remaining, 1);
	/* A key longer than CM_RATE_KEY_MAX is its first CM_RATE_KEY_MAX bytes. */
	char a[CM_RATE_KEY_MAX + 8], b[CM_RATE_KEY_MAX + 8];
	memset(a, 'x', sizeof a - 1);
	a[sizeof a - 1] = '\0';
	memcpy(b, a, sizeof b);
	b[CM_RATE_KEY_MAX + 2] = 'y';
	ck_assert(take(t, a, T0).allowed);
	ck_assert(take(t, b, T0).allowed);
	ck_assert(!take(t, a, T0).allowed);
	cm_rate_table_free(t);
}
END_TEST

START_TEST(bounded_table)
{
	/* 16 slots: a thousand keys never grow it; a new key takes the fullest bucket of its set. */
	struct cm_rate_table *t = cm_rate_table_new(1, 2, 16);
	ck_assert_ptr_nonnull(t);
	ck_assert(take(t, "victim", T0).allowed);
	ck_assert(take(t, "victim", T0).allowed);
	ck_assert(!take(t, "victim", T0).allowed);
	char key[32];
	struct cm_rate_stats st;
	/* Keys that come and go at a slow pace: their buckets are full again before a newcomer needs
	 * a slot (at most 5 + the victim are not full at any time: fewer than a set's 8 ways), so
	 * nothing is forgotten early. */
	long long now = T0;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "idle-%d", i);
		ck_assert(take(t, key, now).allowed); /* one each: full again 1 s later */
		now += S / 5;
	}
	cm_rate_table_stats(t, now, &st);
	ck_assert_uint_le(st.active, 6);
	ck_assert_uint_eq(st.evicted, 0);
	/* Now a thousand busy keys at one instant: the table stays at its size, and what it forgets
	 * early is counted. */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof key, "busy-%d", i);
		ck_assert(take(t, key, now).allowed);
		ck_assert(take(t, key, now).allowed);
	}
	cm_rate_table_stats(t, now, &st);
	ck_assert_uint_le(st.active, 16);
	ck_assert_uint_ge(st.evicted, 1000 - 16);
	cm_rate_table_free(t);

	/* Out of bounds: refused. */
	ck_assert_ptr_null(cm_rate_table_new(0, 1, 16));
	ck_assert_ptr_null(cm_rate_table_new(1, 0, 16));
	ck_assert_ptr_null(cm_rate_table_new(CM_RATE_MAX + 1, 1, 16));
	ck_assert_ptr_null(cm_rate_table_new(1, CM_RATE_BURST_MAX + 1, 16));
	t = cm_rate_table_new(CM_RATE_MAX, CM_RATE_BURST_MAX, 1);
	ck_assert_ptr_nonnull(t);
	for (unsigned i = 0; i < 1000; i++)
		ck_assert(take(t, "k", T0).allowed);
	cm_rate_table_free(t);
}
END_TEST

START_TEST(victim_survives_a_crowd_of_idle_keys)
{
	/* A new key takes the fullest bucket of its set: a token that spent its burst is not the one
	 * forgotten while a fuller one is there, so a crowd of lightly used tokens cannot free it. */
	struct cm_rate_table *t = cm_rate_table_new(1, 3, 8); /* one set of 8 ways */
	for (int i = 0; i < 3; i++)
		ck_assert(take(t, "victim", T0).allowed);
	char key[32];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "other-%d", i);
		ck_assert(take(t, key, T0 + i * MS).allowed); /* one each: fuller than the victim */
		ck_assert_msg(!take(t, "victim", T0 + 100 * MS).allowed, "forgotten after %d others", i);
	}
	struct cm_rate_stats st;
	cm_rate_table_stats(t, T0 + 100 * MS, &st);
	ck_assert_uint_eq(st.evicted, 100 - 7); /* the others pushed each other out */
	ck_assert_uint_eq(st.active, 8);
	cm_rate_table_free(t);
}
END_TEST

struct hammer {
	struct cm_rate_table *t;
	char key[16];
	int allowed;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < 20000; i++)
		h->allowed += take(h->t, h->key, T0).allowed;
	return NULL;
}

START_TEST(threads_share_one_bucket)
{
	/* Four threads on one key at one instant: the burst is handed out exactly once. */
	struct cm_rate_table *t = cm_rate_table_new(1, 777, 64);
	struct hammer h[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){t, "shared", 0};
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += h[i].allowed;
	}
	ck_assert_int_eq(total, 777);
	struct cm_rate_stats st;
	cm_rate_table_stats(t, T0, &st);
	ck_assert_uint_eq(st.refused, 4 * 20000 - 777);
	cm_rate_table_free(t);
}
END_TEST

START_TEST(server_limiter_off_by_default)
{
	struct cm_rate_verdict v;
	struct cm_rate_stats st;
	ck_assert(!cm_ratelimit_take("tok_x", &v)); /* false: off, nothing charged */
	ck_assert_int_eq(cm_ratelimit_init(0, 10), 0);
	ck_assert(!cm_ratelimit_take("tok_x", &v));
	ck_assert_int_eq(cm_ratelimit_init(1, 2), 0);
	ck_assert(cm_ratelimit_take("tok_x", &v) && v.allowed);
	ck_assert(cm_ratelimit_take("tok_x", &v) && v.allowed);
	ck_assert(cm_ratelimit_take("tok_x", &v) && !v.allowed);
	cm_ratelimit_stats(&st);
	ck_assert_uint_eq(st.refused, 1);
	cm_ratelimit_shutdown();
	ck_assert(!cm_ratelimit_take("tok_x", &v));
	cm_ratelimit_stats(&st);
	ck_assert_uint_eq(st.refused, 0);
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("buckets");
	tcase_add_test(tc, burst_then_refused);
	tcase_add_test(tc, refill_is_capped_at_burst);
	tcase_add_test(tc, steady_rate);
	tcase_add_test(tc, retry_after_rounds_up);
	tcase_add_test(tc, keys_are_apart);
	tcase_add_test(tc, bounded_table);
	tcase_add_test(tc, victim_survives_a_crowd_of_idle_keys);
	tcase_add_test(tc, threads_share_one_bucket);
	tcase_add_test(tc, server_limiter_off_by_default);
	suite_add_tcase(s, tc);
	return s;
}
