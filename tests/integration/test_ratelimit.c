/* Integration tests of the per-token rate limit (--rate-limit, --rate-burst): off by default; on,
 * a token gets its burst and then 429 rate_limited with Retry-After and the RateLimit-* fields,
 * other tokens are untouched, a refused write changes nothing and is not audited, a request
 * resumed after parking is not charged twice, and /metrics counts the refusals. */
#include "harness.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 1  /* a second: slow enough that a burst is spent long before a request refills */
#define BURST 5
#define STR_(x) #x
#define STR(x) STR_(x) /* a number above as the server's argument */

static struct server plain, limited; /* the default (no limit) and --rate-limit 1 --rate-burst 5 */
static char admin[47];
enum { T_A, T_B, T_C, T_D, T_E, T_F, T_N };
static char tok[T_N][47], tok_id[T_N][29];

static void ratelimit_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start(&plain, admin, NULL), 0);
	/* Tokens made on the unlimited replica: the admin's own bucket has no part in these tests. */
	for (int i = 0; i < T_N; i++) {
		char body[96];
		snprintf(body, sizeof body, "{\"label\":\"rate %d\",\"node\":\"rate%d\"}", i, i);
		create_token(&plain, admin, body, tok[i], tok_id[i]);
	}
	const char *args[] = {"--rate-limit", STR(RATE), "--rate-burst", STR(BURST), "--cors-origin", "https://dash.example",
			      NULL};
	ck_assert_int_eq(server_start(&limited, admin, args), 0);
}

static void ratelimit_down(void)
{
	int limited_exit = server_stop(&limited), plain_exit = server_stop(&plain); /* both, whatever the first says */
	ck_assert_int_eq(limited_exit, 0);
	ck_assert_int_eq(plain_exit, 0);
}

static long header_num(const struct http_resp *rs, const char *name)
{
	char b[64];
	if (!resp_header(rs, name, b, sizeof b))
		return -1;
	char *end;
	long v = strtol(b, &end, 10);
	ck_assert_msg(*b && !*end, "%s: '%s' is not a whole number", name, b);
	return v;
}

static long metric(const struct server *s, const char *name)
{
	return metric_value(s, admin, name);
}

/* GETs /v1/whoami with secret until the first 429 (at most 4 bursts): how many were allowed,
 * and that 429 in *refused (freed by the caller). */
static int spend(const char *secret, struct http_resp *refused)
{
	for (int n = 0; n < 4 * BURST; n++) {
		ck_assert_int_eq(http(&limited, REQ(.path = "/v1/whoami", .token = secret), refused), 0);
		if (refused->status == 429)
			return n;
		ck_assert_int_eq(refused->status, 200);
		resp_free(refused);
	}
	ck_abort_msg("never refused");
	return -1;
}

START_TEST(off_by_default)
{
	/* Three bursts' worth at once on the default replica: never a 429, no RateLimit-* fields. */
	for (int i = 0; i < 3 * BURST + 1; i++) {
		struct http_resp rs;
		ck_assert_int_eq(http(&plain, REQ(.path = "/v1/whoami", .token = tok[T_A]), &rs), 0);
		ck_assert_int_eq(rs.status, 200);
		ck_assert_int_eq(header_num(&rs, "RateLimit-Limit"), -1);
		ck_assert_int_eq(header_num(&rs, "RateLimit-Remaining"), -1);
		resp_free(&rs);
	}
	ck_assert_int_eq(metric(&plain, "clawmesh_rate_limited_total"), 0);
}
END_TEST

START_TEST(burst_then_429)
{
	long t0 = mono_ms();
	int allowed = 0;
	struct http_resp rs;
	for (;;) {
		ck_assert_int_eq(http(&limited, REQ(.path = "/v1/whoami", .token = tok[T_A]), &rs), 0);
		if (rs.status != 200)
			break;
		allowed++;
		ck_assert_int_le(allowed, 4 * BURST);
		ck_assert_int_eq(header_num(&rs, "RateLimit-Limit"), BURST);
		long remaining = header_num(&rs, "RateLimit-Remaining");
		ck_assert_int_ge(remaining, 0);
		ck_assert_int_lt(remaining, BURST);
		if (mono_ms() - t0 < 1000 / RATE)
			ck_assert_int_eq(remaining, BURST - allowed);
		ck_assert_int_ge(header_num(&rs, "RateLimit-Reset"), 1);
		ck_assert_int_eq(header_num(&rs, "Retry-After"), -1);
		resp_free(&rs);
	}
	long took = mono_ms() - t0;
	/* Exactly the burst, unless the requests took so long that the bucket refilled meanwhile. */
	ck_assert_int_ge(allowed, BURST);
	ck_assert_int_le(allowed, BURST + took * RATE / 1000);
	if (took < 1000 / RATE)
		ck_assert_int_eq(allowed, BURST);

	expect_error(&rs, 429, "rate_limited");
	long retry = header_num(&rs, "Retry-After");
	ck_assert_int_ge(retry, 1);
	ck_assert_int_le(retry, 1000 / RATE / 1000 + 1);
	ck_assert_int_eq(header_num(&rs, "RateLimit-Limit"), BURST);
	ck_assert_int_eq(header_num(&rs, "RateLimit-Remaining"), 0);
	ck_assert_int_eq(header_num(&rs, "RateLimit-Reset"), retry); /* the same point in time */
	char b[64];
	ck_assert_ptr_nonnull(resp_header(&rs, "RateLimit-Policy", b, sizeof b));
	ck_assert_str_eq(b, STR(RATE) ";w=1;burst=" STR(BURST));
	ck_assert_ptr_null(resp_header(&rs, "WWW-Authenticate", b, sizeof b));
	resp_free(&rs);

	/* Another token has its own bucket. */
	ck_assert_int_eq(http(&limited, REQ(.path = "/v1/whoami", .token = tok[T_B]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	ck_assert_int_eq(header_num(&rs, "RateLimit-Remaining"), BURST - 1);
	ck_assert_str_eq(cJSON_GetObjectItem(rs.json, "token_id")->valuestring, tok_id[T_B]);
	resp_free(&rs);

	/* Retry-After later, the first token is served again. */
	sleep_ms((int)retry * 1000);
	ck_assert_int_eq(http(&limited, REQ(.path = "/v1/whoami", .token = tok[T_A]), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
}
END_TEST

START_TEST(refused_write_changes_nothing)
{
	long refused0 = metric(&limited, "clawmesh_rate_limited_total");
	ck_assert_int_ge(refused0, 0);
	long audit0 = db_count(pg, "SELECT count(*) FROM audit");
	long changes0 = db_count(pg, "SELECT count(*) FROM changes");
	struct http_resp rs;
	ck_assert_int_ge(spend(tok[T_C], &rs), BURST);
	resp_free(&rs);
	/* Limited now: a write, a delete and an admin-only route are all 429, before anything else
	 * (the 403 the last would get otherwise would be audited). */
	ck_assert_int_eq(http(&limited, REQ(.method = "PUT", .path = "/v1/memory/mesh/rl.refused", .token = tok[T_C],
					    .body = "{\"value\":\"never\"}"),
			      &rs),
			 0);
	expect_error(&rs, 429, "rate_limited");
	resp_free(&rs);
	ck_assert_int_eq(status_at(&limited, REQ(.method = "DELETE", .path = "/v1/memory/mesh/rl.refused",
						 .token = tok[T_C])),
			 429);
	ck_assert_int_eq(status_at(&limited, REQ(.path = "/v1/tokens", .token = tok[T_C])), 429);
	/* A page of an allowed origin may read the fields. */
	ck_assert_int_eq(http(&limited, REQ(.path = "/v1/whoami", .token = tok[T_C], .headers = {"Origin: https://dash.example"}),
			      &rs),
			 0);
	expect_error(&rs, 429, "rate_limited");
	char expose[256];
	ck_assert_ptr_nonnull(resp_header(&rs, "Access-Control-Expose-Headers", expose, sizeof expose));
	ck_assert_ptr_nonnull(strstr(expose, "Retry-After"));
	ck_assert_ptr_nonnull(strstr(expose, "RateLimit-Remaining"));
	ck_assert_ptr_nonnull(strstr(expose, "RateLimit-Reset"));
	resp_free(&rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key = 'rl.refused'"), 0);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM changes"), changes0);
	/* Not audited: no row for the 429s (the spend's whoami are not audited either). */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM audit"), audit0);
	/* Requests without a valid token are not the limiter's: 401 as ever, counted nowhere here. */
	char stranger[47];
	make_secret(stranger);
	for (int i = 0; i < BURST + 2; i++)
		ck_assert_int_eq(status_at(&limited, REQ(.path = "/v1/whoami", .token = stranger)), 401);
	ck_assert_int_eq(status_at(&limited, REQ(.path = "/v1/whoami")), 401);
	/* The public routes and /metrics are not limited: the 429 count is the five above. */
	ck_assert_int_eq(status_at(&limited, REQ(.path = "/healthz")), 200);
	ck_assert_int_eq(metric(&limited, "clawmesh_rate_limited_total"), refused0 + 5);
	ck_assert_int_ge(metric(&limited, "clawmesh_rate_limit_active_tokens"), 1);
	ck_assert_int_eq(metric(&limited, "clawmesh_rate_limit_evictions_total"), 0);
}
END_TEST

struct poll {
	char path[128];
	const char *token;
	long status, remaining;
};

static void *long_poll(void *arg)
{
	struct poll *p = arg;
	struct http_resp rs;
	ck_assert_int_eq(http(&limited, REQ(.path = p->path, .token = p->token), &rs), 0);
	p->status = rs.status;
	p->remaining = header_num(&rs, "RateLimit-Remaining");
	resp_free(&rs);
	return NULL;
}

START_TEST(resumed_requests_are_not_charged_again)
{
	/* A long-poll parks (charged: BURST - 1 left); its token then spends the rest and is refused.
	 * A change wakes the poll: it runs its handler again, and must answer 200, not be charged
	 * a second time from the empty bucket. */
	char *head = db_value(pg, "SELECT coalesce(max(revision), 0) FROM changes", 0, NULL);
	ck_assert_ptr_nonnull(head);
	struct poll p = {.token = tok[T_D], .status = 0};
	snprintf(p.path, sizeof p.path, "/v1/changes?since=%s&wait=30", head);
	free(head);
	long parked0 = metric(&limited, "clawmesh_feed_parked");
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, long_poll, &p), 0);
	long t = mono_ms();
	while (metric(&limited, "clawmesh_feed_parked") <= parked0 && mono_ms() - t < 20000)
		sleep_ms(10);
	ck_assert_int_gt(metric(&limited, "clawmesh_feed_parked"), parked0);
	struct http_resp rs;
	ck_assert_int_ge(spend(tok[T_D], &rs), BURST - 1);
	resp_free(&rs);
	long emptied = mono_ms();

	/* A write with a token of its own wakes the poll. Group commit parks the write too (with
	 * its admission kept): charged once, it answers 201, though its bucket is empty by then. */
	for (int i = 0; i < BURST - 1; i++)
		ck_assert_int_eq(status_at(&limited, REQ(.path = "/v1/whoami", .token = tok[T_E])), 200);
	ck_assert_int_eq(http(&limited, REQ(.method = "PUT", .path = "/v1/memory/mesh/rl.wake", .token = tok[T_E],
					    .body = "{\"value\":\"wake\"}"),
			      &rs),
			 0);
	ck_assert_msg(rs.status == 201, "%ld %s", rs.status, rs.body);
	ck_assert_int_eq(header_num(&rs, "RateLimit-Remaining"), 0);
	resp_free(&rs);
	ck_assert_int_eq(status_at(&limited, REQ(.path = "/v1/whoami", .token = tok[T_E])), 429);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key = 'rl.wake'"), 1);

	pthread_join(th, NULL);
	long woke_after = mono_ms() - emptied;
	ck_assert_msg(p.status == 200, "the woken poll answered %ld", p.status);
	ck_assert_int_eq(p.remaining, BURST - 1); /* the verdict of its one charge */
	/* Within a second of being refused, the bucket had not refilled: a second charge on resume
	 * would have been a 429. Slower than that, the test proves less, and says so. */
	ck_assert_msg(woke_after < 1000 / RATE, "the poll took %ld ms to wake: too slow to tell", woke_after);
}
END_TEST

TCase *ratelimit_tcase(void);
TCase *ratelimit_tcase(void)
{
	TCase *tc = tcase_create("ratelimit");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, ratelimit_up, ratelimit_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, off_by_default);
	tcase_add_test(tc, burst_then_429);
	tcase_add_test(tc, refused_write_changes_nothing);
	tcase_add_test(tc, resumed_requests_are_not_charged_again);
	return tc;
}
