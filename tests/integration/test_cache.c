/* The token and memory caches (server/cache.c) against real replicas on one real database: a
 * client reads its own writes at once on the replica it wrote to, writes made elsewhere (another
 * replica, plain SQL) arrive as soon as the replica hears of them, expiry holds, a replica whose
 * hub lost its connection serves nothing cached, and under concurrent writers on one replica and
 * readers on another no reader ever sees a version go back or a body that is not that version's. */
#include "harness.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct server srv, srv_b; /* two replicas on the one test database */
static char admin[47], node_tok[47], node_id[29];

static void cache_up(void)
{
	make_secret(admin);
	ck_assert_int_eq(server_start(&srv, admin, NULL), 0);
	ck_assert_int_eq(server_start(&srv_b, NULL, NULL), 0);
	create_token(&srv, admin, "{\"label\":\"cache\",\"node\":\"cache\",\"grants\":[{\"scope\":\"mesh\",\"access\":\"rw\"}]}",
		     node_tok, node_id);
}

static void cache_down(void)
{
	ck_assert_int_eq(server_stop(&srv_b), 0);
	ck_assert_int_eq(server_stop(&srv), 0);
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* GET of mesh/key on s: the version (0 when 404), and the value's "n" into *n when asked. */
static int version_at(const struct server *s, const char *key, long *n)
{
	char path[128];
	snprintf(path, sizeof path, "/v1/memory/mesh/%s", key);
	struct http_resp rs;
	ck_assert_int_eq(http(s, REQ(.path = path, .token = node_tok), &rs), 0);
	int v = 0;
	if (rs.status == 200) {
		v = (int)cJSON_GetObjectItem(rs.json, "version")->valuedouble;
		const cJSON *val = cJSON_GetObjectItem(rs.json, "value");
		if (n)
			*n = cJSON_IsObject(val) ? (long)cJSON_GetObjectItem(val, "n")->valuedouble : -1;
	} else {
		ck_assert_int_eq(rs.status, 404);
	}
	resp_free(&rs);
	return v;
}

static int put_n(const struct server *s, const char *key, long n)
{
	char path[128], body[96];
	snprintf(path, sizeof path, "/v1/memory/mesh/%s", key);
	snprintf(body, sizeof body, "{\"value\":{\"n\":%ld}}", n);
	struct http_resp rs;
	ck_assert_int_eq(http(s, REQ(.method = "PUT", .path = path, .token = node_tok, .body = body), &rs), 0);
	ck_assert_msg(rs.status == 200 || rs.status == 201, "PUT %s: %ld %s", key, rs.status, rs.body);
	int v = (int)cJSON_GetObjectItem(rs.json, "version")->valuedouble;
	resp_free(&rs);
	return v;
}

/* The write another replica or tool makes: straight through the database function. */
static void sql_put(const char *key, long n)
{
	char val[64];
	snprintf(val, sizeof val, "{\"n\":%ld}", n);
	const char *p[] = {key, val};
	PGresult *r = PQexecParams(pg,
				   "SELECT o_status FROM cm_memory_write('put', 'mesh', $1, $2::jsonb, NULL, NULL, NULL,"
				   " NULL, false, 'sql', 262144)",
				   2, NULL, p, NULL, NULL, 0);
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
}

/* Asks s until mesh/key shows n: the milliseconds that took, or -1 after max_ms. */
static double n_within(const struct server *s, const char *key, long want, int max_ms)
{
	double t0 = now_ms();
	for (;;) {
		long n = -2;
		version_at(s, key, &n);
		if (n == want)
			return now_ms() - t0;
		if (now_ms() - t0 > max_ms)
			return -1;
		sleep_ms(1);
	}
}

START_TEST(own_writes_read_at_once)
{
	/* Each write is read back at once on the replica that made it, cached or not. */
	for (long i = 1; i <= 50; i++) {
		int v = put_n(&srv, "rw.own", i);
		long n = 0;
		ck_assert_int_eq(version_at(&srv, "rw.own", &n), v);
		ck_assert_int_eq(n, i);
		ck_assert_int_eq(version_at(&srv, "rw.own", &n), v); /* now from the cache */
		ck_assert_int_eq(n, i);
	}
	/* PATCH, DELETE and a batch too. */
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "PATCH", .path = "/v1/memory/mesh/rw.own", .token = node_tok,
					.body = "{\"n\":77}", .content_type = "application/merge-patch+json"),
			      &rs),
			 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	long n = 0;
	version_at(&srv, "rw.own", &n);
	ck_assert_int_eq(n, 77);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = "/v1/memory/mesh/rw.own", .token = node_tok)), 204);
	ck_assert_int_eq(version_at(&srv, "rw.own", NULL), 0);
	put_n(&srv, "rw.batch", 1);
	version_at(&srv, "rw.batch", NULL);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "POST", .path = "/v1/batch", .token = node_tok,
					     .body = "{\"ops\":[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"rw.batch\","
						     "\"value\":{\"n\":2}}]}")),
			 200);
	version_at(&srv, "rw.batch", &n);
	ck_assert_int_eq(n, 2);
}
END_TEST

START_TEST(writes_elsewhere_arrive)
{
	/* Cached on A, written through B, then by SQL: A shows each once its hub hears of it. */
	put_n(&srv, "rw.elsewhere", 1);
	version_at(&srv, "rw.elsewhere", NULL);
	version_at(&srv, "rw.elsewhere", NULL);
	put_n(&srv_b, "rw.elsewhere", 2);
	double via_b = n_within(&srv, "rw.elsewhere", 2, 2000);
	ck_assert(via_b >= 0);
	sql_put("rw.elsewhere", 3);
	double via_sql = n_within(&srv, "rw.elsewhere", 3, 2000);
	ck_assert(via_sql >= 0);
	fprintf(stderr, "cache: a write through replica B reached A's cache in %.1f ms, one by SQL in %.1f ms\n", via_b,
		via_sql);
	/* And a delete elsewhere. */
	ck_assert_int_eq(status_at(&srv_b, REQ(.method = "DELETE", .path = "/v1/memory/mesh/rw.elsewhere", .token = node_tok)),
			 204);
	ck_assert(status_within(&srv, REQ(.path = "/v1/memory/mesh/rw.elsewhere", .token = node_tok), 404, 2000) >= 0);
}
END_TEST

START_TEST(expiry_holds_for_cached_entries)
{
	ck_assert_int_eq(status_at(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/rw.ttl", .token = node_tok,
					     .body = "{\"value\":1,\"ttl\":1}")),
			 201);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/rw.ttl", .token = node_tok)), 200);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/rw.ttl", .token = node_tok)), 200);
	sleep_ms(1100);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory/mesh/rw.ttl", .token = node_tok)), 404);
}
END_TEST

START_TEST(deaf_hub_serves_nothing_cached)
{
	/* Cut A's hub off (its LISTEN connection); a write made while it cannot hear must still be
	 * read on A once it is made, whether A's hub is back yet or not. */
	put_n(&srv, "rw.deaf", 1);
	version_at(&srv, "rw.deaf", NULL);
	long cut = db_count(pg, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
				" WHERE application_name = 'clawmeshd' AND pid <> pg_backend_pid()");
	ck_assert_int_ge(cut, 2); /* every connection of both replicas, their hubs among them */
	sql_put("rw.deaf", 2); /* its NOTIFY reaches no one who was cut */
	double ms = n_within(&srv, "rw.deaf", 2, 3000);
	ck_assert(ms >= 0);
	fprintf(stderr, "cache: with its hub cut off, A served the write made meanwhile after %.1f ms\n", ms);
	/* Back to normal: writes elsewhere arrive again. */
	sleep_ms(1500);
	version_at(&srv, "rw.deaf", NULL);
	sql_put("rw.deaf", 3);
	ck_assert(n_within(&srv, "rw.deaf", 3, 3000) >= 0);
}
END_TEST

START_TEST(token_changes_reach_cached_tokens)
{
	/* Grants narrowed by SQL (as another tool would): the cached identity is dropped. */
	char secret[47], id[29];
	create_token(&srv, admin, "{\"label\":\"narrow\",\"grants\":[{\"scope\":\"mesh\",\"access\":\"rw\"}]}", secret, id);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/memory?scope=mesh&limit=1", .token = secret)), 200);
	const char *p[] = {id};
	PQclear(PQexecParams(pg, "UPDATE tokens SET grants = '[]' WHERE id = $1", 1, NULL, p, NULL, NULL, 0));
	double ms = status_within(&srv, REQ(.path = "/v1/memory?scope=mesh&limit=1", .token = secret), 403, 2000);
	ck_assert(ms >= 0);
	/* Expired by SQL: refused. */
	PQclear(PQexecParams(pg, "UPDATE tokens SET expires_at = now() WHERE id = $1", 1, NULL, p, NULL, NULL, 0));
	ck_assert(status_within(&srv, REQ(.path = "/v1/whoami", .token = secret), 401, 2000) >= 0);
	fprintf(stderr, "cache: grants narrowed by SQL were enforced after %.1f ms\n", ms);
}
END_TEST

/* Concurrency: writers on A and B, readers on A; every answer is checked against the history. */
#define KEYS 6
#define READERS 3
#define WRITES 150
struct seen {
	int version;
	long n;
};
struct reader {
	volatile bool *stop;
	struct seen last[KEYS];
	struct seen *log; /* (version, n) pairs read, for the history check */
	size_t nlog, cap;
	int back; /* versions that went back */
};
struct writer {
	const struct server *s;
	int first, acked_not_read; /* writes the writing replica did not read back at once */
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	char key[16];
	for (unsigned i = 0; !*r->stop; i++) {
		int k = (int)(i % KEYS);
		snprintf(key, sizeof key, "cc.%d", k);
		long n = -1;
		int v = version_at(&srv, key, &n);
		if (v < r->last[k].version)
			r->back++;
		r->last[k] = (struct seen){v, n};
		if (r->nlog < r->cap)
			r->log[r->nlog++] = (struct seen){v * KEYS + k, n};
	}
	return NULL;
}

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	char key[16];
	for (int i = 0; i < WRITES; i++) {
		snprintf(key, sizeof key, "cc.%d", i % KEYS);
		long n = w->first + i;
		int v = put_n(w->s, key, n);
		if (version_at(w->s, key, NULL) < v) /* another writer may be newer, never older */
			w->acked_not_read++;
	}
	return NULL;
}

START_TEST(concurrent_readers_never_go_back)
{
	for (int k = 0; k < KEYS; k++) {
		char key[16];
		snprintf(key, sizeof key, "cc.%d", k);
		put_n(&srv, key, 0);
	}
	volatile bool stop = false;
	struct reader rd[READERS];
	pthread_t rt[READERS], wt[2];
	for (int i = 0; i < READERS; i++) {
		memset(&rd[i], 0, sizeof rd[i]);
		rd[i].stop = &stop;
		rd[i].cap = 200000;
		rd[i].log = malloc(rd[i].cap * sizeof *rd[i].log);
		pthread_create(&rt[i], NULL, reader_thread, &rd[i]);
	}
	struct writer wa = {&srv, 1000000, 0}, wb = {&srv_b, 2000000, 0};
	pthread_create(&wt[0], NULL, writer_thread, &wa);
	pthread_create(&wt[1], NULL, writer_thread, &wb);
	pthread_join(wt[0], NULL);
	pthread_join(wt[1], NULL);
	/* Once the writers are done, A converges on what the database holds. */
	for (int k = 0; k < KEYS; k++) {
		char key[16], q[160];
		snprintf(key, sizeof key, "cc.%d", k);
		snprintf(q, sizeof q, "SELECT (value->>'n')::bigint FROM memory WHERE scope = 'mesh' AND key = '%s'", key);
		long want = db_count(pg, q);
		ck_assert_msg(n_within(&srv, key, want, 2000) >= 0, "%s never showed %ld", key, want);
	}
	stop = true;
	size_t reads = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(rt[i], NULL);
		ck_assert_int_eq(rd[i].back, 0);
		reads += rd[i].nlog;
	}
	/* Every (key, version) read carried that version's value, as the history has it. */
	PGresult *h = PQexec(pg, "SELECT key, version, (value->>'n')::bigint FROM memory_history"
				 " WHERE scope = 'mesh' AND key LIKE 'cc.%'");
	ck_assert_int_eq(PQresultStatus(h), PGRES_TUPLES_OK);
	int maxv = 0;
	for (int i = 0; i < PQntuples(h); i++)
		if (atoi(PQgetvalue(h, i, 1)) > maxv)
			maxv = atoi(PQgetvalue(h, i, 1));
	long *value_of = calloc((size_t)(maxv + 1) * KEYS, sizeof *value_of);
	for (int i = 0; i < PQntuples(h); i++) {
		int k = atoi(PQgetvalue(h, i, 0) + 3), v = atoi(PQgetvalue(h, i, 1));
		value_of[v * KEYS + k] = atol(PQgetvalue(h, i, 2));
	}
	PQclear(h);
	size_t checked = 0;
	for (int i = 0; i < READERS; i++) {
		for (size_t j = 0; j < rd[i].nlog; j++) {
			int vk = rd[i].log[j].version;
			ck_assert_int_le(vk / KEYS, maxv);
			ck_assert_msg(value_of[vk] == rd[i].log[j].n, "cc.%d version %d read with n=%ld, history has %ld",
				      vk % KEYS, vk / KEYS, rd[i].log[j].n, value_of[vk]);
			checked++;
		}
		free(rd[i].log);
	}
	free(value_of);
	ck_assert_int_eq(wa.acked_not_read, 0);
	ck_assert_int_eq(wb.acked_not_read, 0);
	fprintf(stderr, "cache: %zu reads on A during %d writes on A and B, none went back, every body its version's\n",
		reads, 2 * WRITES);
	ck_assert_uint_gt(checked, 0);
}
END_TEST

TCase *cache_tcase(void);
TCase *cache_tcase(void)
{
	TCase *tc = tcase_create("cache");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, cache_up, cache_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, own_writes_read_at_once);
	tcase_add_test(tc, writes_elsewhere_arrive);
	tcase_add_test(tc, expiry_holds_for_cached_entries);
	tcase_add_test(tc, token_changes_reach_cached_tokens);
	tcase_add_test(tc, concurrent_readers_never_go_back);
	tcase_add_test(tc, deaf_hub_serves_nothing_cached);
	return tc;
}
