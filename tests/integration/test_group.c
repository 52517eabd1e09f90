/* Integration tests of group commit (issue 7): single-entry memory writes queued for one committer
 * and parked. The test holds the store's write lock from its own connection to make groups it can
 * name: the committer's first group waits on the lock, and whatever arrives meanwhile forms the
 * next group, all of it committed in one transaction. Real clawmeshd, real PostgreSQL, real HTTP. */
#include "harness.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct server srv;
static char admin[47], writer[47], writer_id[29];

static void group_up(void)
{
	make_secret(admin);
	const char *args[] = {"--threads", "2", NULL};
	ck_assert_int_eq(server_start(&srv, admin, args), 0);
	create_token(&srv, admin, "{\"label\":\"group writer\",\"node\":\"ceo\"}", writer, writer_id);
}

static void group_down(void)
{
	ck_assert_int_eq(server_stop(&srv), 0);
}

static long metric(const struct server *s, const char *name)
{
	return metric_value(s, admin, name);
}

/* The store's write lock, held from a connection of the test's own until released. */
static PGconn *hold_write_lock(void)
{
	PGconn *c = db_connect(NULL);
	ck_assert_ptr_nonnull(c);
	PGresult *r = PQexec(c, "BEGIN; SELECT cm_write_lock()");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
	return c;
}

static void release_write_lock(PGconn *c)
{
	PGresult *r = PQexec(c, "COMMIT");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
}

/* Until the committer's group waits on the lock (or 10 s: a hang is a failure). */
static void await_lock_waiter(void)
{
	long t0 = mono_ms();
	while (db_count(pg, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") < 1) {
		ck_assert_msg(mono_ms() - t0 < 10000, "no group waits on the write lock");
		sleep_ms(10);
	}
}

static void await_queued(const struct server *s, long n)
{
	long t0 = mono_ms(), q;
	while ((q = metric(s, "clawmesh_group_queued")) != n) {
		ck_assert_msg(mono_ms() - t0 < 10000, "%ld writes queued, wanted %ld", q, n);
		sleep_ms(10);
	}
}

/* One request on its own thread, its whole answer kept. */
struct call {
	const struct server *srv;
	const char *method, *path, *token, *body, *content_type, *header;
	struct http_resp rs;
	int rc;
	pthread_t th;
};

static void *call_run(void *arg)
{
	struct call *c = arg;
	c->rc = http(c->srv, REQ(.method = c->method, .path = c->path, .token = c->token, .body = c->body,
				 .content_type = c->content_type, .headers = {c->header}),
		     &c->rs);
	return NULL;
}

static void call_start(struct call *c)
{
	pthread_create(&c->th, NULL, call_run, c);
}

static void call_join(struct call *c)
{
	pthread_join(c->th, NULL);
	ck_assert_msg(c->rc == 0, "%s %s: no answer", c->method, c->path);
}

START_TEST(a_group_commits_its_good_ops_and_refuses_the_others)
{
	struct http_resp rs;
	ck_assert_int_eq(http(&srv, REQ(.method = "PUT", .path = "/v1/memory/mesh/g1.cas", .token = writer,
				       .body = "{\"value\":0}"), &rs), 0);
	ck_assert_int_eq(rs.status, 201);
	resp_free(&rs);
	long groups0 = metric(&srv, "clawmesh_group_commits_total"), writes0 = metric(&srv, "clawmesh_group_writes_total");
	ck_assert_int_ge(groups0, 1);

	PGconn *lock = hold_write_lock();
	struct call first = {&srv, "PUT", "/v1/memory/mesh/g1.first", writer, "{\"value\":\"first\"}", NULL, NULL, {0}, 0, 0};
	call_start(&first);
	await_lock_waiter();
	/* Everything below arrives while the first group waits: it is the next group, in one transaction. */
	struct call ops[] = {
		{&srv, "PUT", "/v1/memory/mesh/g1.a", writer, "{\"value\":{\"n\":1},\"tags\":[\"t\"]}", NULL, NULL, {0}, 0, 0},
		{&srv, "PUT", "/v1/memory/mesh/g1.cas", writer, "{\"value\":\"x\"}", NULL, "If-Match: \"1\"", {0}, 0, 0},
		{&srv, "PUT", "/v1/memory/mesh/g1.cas", writer, "{\"value\":\"y\"}", NULL, "If-Match: \"1\"", {0}, 0, 0},
		{&srv, "PATCH", "/v1/memory/mesh/g1.gone", writer, "{\"n\":2}", "application/merge-patch+json", NULL, {0}, 0, 0},
		{&srv, "PUT", "/v1/memory/mesh/g1.b", writer, "{\"value\":true,\"ttl\":60}", NULL, "If-None-Match: *", {0}, 0, 0},
		{&srv, "PUT", "/v1/memory/mesh/g1.cas", writer, "{\"value\":\"z\"}", NULL, "If-None-Match: *", {0}, 0, 0},
		{&srv, "DELETE", "/v1/memory/mesh/g1.gone", writer, NULL, NULL, NULL, {0}, 0, 0},
	};
	const int n = sizeof ops / sizeof ops[0];
	for (int i = 0; i < n; i++)
		call_start(&ops[i]);
	await_queued(&srv, n);
	/* Parked writes hold no worker thread: with 2 threads and 8 writes waiting, a read answers. */
	ck_assert_int_eq(http(&srv, REQ(.path = "/v1/memory/mesh/g1.cas", .token = writer), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	resp_free(&rs);
	release_write_lock(lock);

	call_join(&first);
	ck_assert_int_eq(first.rs.status, 201);
	resp_free(&first.rs);
	for (int i = 0; i < n; i++)
		call_join(&ops[i]);
	char b[256];
	/* A good op: the entry, its ETag and Location, exactly as a lone write answers. */
	ck_assert_int_eq(ops[0].rs.status, 201);
	ck_assert_str_eq(resp_header(&ops[0].rs, "ETag", b, sizeof b), "\"1\"");
	ck_assert_str_eq(resp_header(&ops[0].rs, "Location", b, sizeof b), "/v1/memory/mesh/g1.a");
	ck_assert_str_eq(cJSON_GetObjectItem(ops[0].rs.json, "node")->valuestring, "ceo");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ops[0].rs.json, "value"), "n")->valueint, 1);
	/* The same If-Match twice in one group: the first in arrival order wins, the other is refused. */
	struct call *win = ops[1].rs.status == 200 ? &ops[1] : &ops[2], *lose = win == &ops[1] ? &ops[2] : &ops[1];
	ck_assert_int_eq(win->rs.status, 200);
	ck_assert_str_eq(resp_header(&win->rs, "ETag", b, sizeof b), "\"2\"");
	expect_error(&lose->rs, 412, "version_mismatch");
	ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(lose->rs.json, "error"), "details"),
					     "current_version")->valueint, 2);
	expect_error(&ops[3].rs, 404, "not_found");
	ck_assert_int_eq(ops[4].rs.status, 201);
	expect_error(&ops[5].rs, 412, "already_exists");
	expect_error(&ops[6].rs, 404, "not_found");
	const char *won = win == &ops[1] ? "x" : "y";
	for (int i = 0; i < n; i++)
		resp_free(&ops[i].rs);

	/* Two groups: the first alone, the rest together. */
	ck_assert_int_eq(metric(&srv, "clawmesh_group_commits_total"), groups0 + 2);
	ck_assert_int_eq(metric(&srv, "clawmesh_group_writes_total"), writes0 + 1 + n);
	/* The database has the good ops and nothing of the refused ones: versions without gaps, one
	 * history and one change row per write, revisions in the order the ops ran. */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE key LIKE 'g1.%'"), 5);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM changes WHERE name LIKE 'g1.%'"), 5);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key = 'g1.gone'"), 0);
	const char *p[] = {won};
	char *v = db_value(pg, "SELECT string_agg(version || ':' || coalesce(value #>> '{}', ''), ',' ORDER BY version)"
			       " FROM memory_history WHERE key = 'g1.cas'", 0, NULL);
	char want[32];
	snprintf(want, sizeof want, "1:0,2:%s", p[0]);
	ck_assert_str_eq(v, want);
	free(v);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory m JOIN memory_history h USING (scope, key, version)"
				      " WHERE m.key LIKE 'g1.%' AND m.revision = h.revision AND m.value = h.value"), 4);
	v = db_value(pg, "SELECT string_agg(name, ',' ORDER BY revision) FROM changes WHERE name LIKE 'g1.%'", 0, NULL);
	ck_assert_msg(!strncmp(v, "g1.cas,g1.first,", 16), "change order %s", v); /* the group's own: arrival order */
	free(v);
}
END_TEST

START_TEST(a_token_revoked_while_queued_still_gets_its_committed_write)
{
	char secret[47], id[29];
	create_token(&srv, admin, "{\"label\":\"soon revoked\",\"node\":\"sec\"}", secret, id);
	PGconn *lock = hold_write_lock();
	struct call put = {&srv, "PUT", "/v1/memory/mesh/g2.revoked", secret, "{\"value\":42}", NULL, NULL, {0}, 0, 0};
	call_start(&put);
	await_lock_waiter();
	char path[64];
	snprintf(path, sizeof path, "/v1/tokens/%s", id);
	ck_assert_int_eq(status_at(&srv, REQ(.method = "DELETE", .path = path, .token = admin)), 204);
	ck_assert_int_eq(status_at(&srv, REQ(.path = "/v1/whoami", .token = secret)), 401);
	release_write_lock(lock);
	call_join(&put);
	/* It committed: the answer is the write's, not 401. */
	ck_assert_msg(put.rs.status == 201, "%ld %s", put.rs.status, put.rs.body);
	char b[64];
	ck_assert_str_eq(resp_header(&put.rs, "ETag", b, sizeof b), "\"1\"");
	ck_assert_str_eq(cJSON_GetObjectItem(put.rs.json, "node")->valuestring, "sec");
	resp_free(&put.rs);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key = 'g2.revoked' AND value = '42'"), 1);
	/* The audit row names the token that wrote it and the answer it got. */
	const char *p[] = {id};
	char *row = db_value(pg, "SELECT status || '/' || coalesce(node, '-') FROM audit WHERE token_id = $1"
				 " AND action = 'memory.put' AND target = 'mesh/g2.revoked'", 1, p);
	ck_assert_ptr_nonnull(row);
	ck_assert_str_eq(row, "201/sec");
	free(row);
}
END_TEST

/* The database function on its own: an op PostgreSQL cannot even read fails alone, in its
 * subtransaction, and the others in the statement commit. */
START_TEST(an_op_that_raises_fails_alone)
{
	PGresult *r = PQexec(pg, "SELECT o_index, o_status, coalesce(o_version, 0), left(o_entry, 5) FROM cm_memory_write_group("
				 "'[{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"g3.ok\",\"doc\":\"{\\\"value\\\":1}\",\"if_none_match\":\"false\"},"
				 "{\"op\":\"put\",\"scope\":\"mesh\",\"key\":\"g3.bad\",\"doc\":\"{\\\"value\\\":\",\"if_none_match\":\"false\"},"
				 "{\"op\":\"put\",\"scope\":\"nowhere\",\"key\":\"g3.badscope\",\"doc\":\"{\\\"value\\\":1}\",\"if_none_match\":\"false\"},"
				 "{\"op\":\"patch\",\"scope\":\"mesh\",\"key\":\"g3.ok\",\"doc\":\"{\\\"b\\\":2}\",\"if_none_match\":\"false\"}]', 1000)");
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
	ck_assert_int_eq(PQntuples(r), 4);
	ck_assert_str_eq(PQgetvalue(r, 0, 1), "created");
	ck_assert_str_eq(PQgetvalue(r, 1, 1), "error");
	ck_assert_str_eq(PQgetvalue(r, 1, 3), "22P02"); /* invalid input syntax for type json */
	ck_assert_str_eq(PQgetvalue(r, 2, 1), "error");
	ck_assert_str_eq(PQgetvalue(r, 2, 3), "23514"); /* the scope check constraint */
	ck_assert_str_eq(PQgetvalue(r, 3, 1), "updated");
	ck_assert_str_eq(PQgetvalue(r, 3, 2), "2");
	PQclear(r);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key = 'g3.ok' AND value = '{\"b\": 2}'"), 1);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory_history WHERE key LIKE 'g3.%'"), 2);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key LIKE 'g3.bad%'"), 0);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM changes WHERE name LIKE 'g3.%'"), 2);
}
END_TEST

/* Writers on many keys while the database stops and starts again: every answer is a write's or
 * 503, none hangs, and every acknowledged write is there afterwards. */
#define LOADERS 6
struct loader {
	int id;
	int acked[4000];
	int nacked, unavailable, sent;
	long last_ack_ms; /* when its latest write was acknowledged */
	long last_status, last_at_ms;
	char failure[256];
};
static int loaders_stop;

static void *loader_run(void *arg)
{
	struct loader *l = arg;
	/* Until told to stop (or 4,000 acknowledged): a 503 is answered in well under a millisecond,
	 * so a count of requests ran out during a slow restart, and the test then saw no write after it. */
	for (int i = 0; l->nacked < 4000 && !__atomic_load_n(&loaders_stop, __ATOMIC_ACQUIRE) && !l->failure[0]; i++) {
		char path[64], body[64];
		snprintf(path, sizeof path, "/v1/memory/mesh/g4.%d.%d", l->id, i);
		snprintf(body, sizeof body, "{\"value\":%d}", i);
		struct http_resp rs;
		long t0 = mono_ms();
		if (http(&srv, REQ(.method = "PUT", .path = path, .token = writer, .body = body), &rs)) {
			snprintf(l->failure, sizeof l->failure, "%s: no answer after %ld ms", path, mono_ms() - t0);
			break;
		}
		l->sent++;
		l->last_status = rs.status;
		l->last_at_ms = mono_ms();
		if (rs.status == 201) {
			l->acked[l->nacked++] = i;
			__atomic_store_n(&l->last_ack_ms, mono_ms(), __ATOMIC_RELEASE);
		} else if (rs.status == 503 && !strcmp(resp_error_code(&rs), "unavailable")) {
			l->unavailable++;
			sleep_ms(2); /* as a client that heeds Retry-After would, only less patient */
		}
		else
			snprintf(l->failure, sizeof l->failure, "%s: %ld %s", path, rs.status, rs.body);
		resp_free(&rs);
	}
	return NULL;
}

START_TEST(database_stopped_mid_load)
{
	PQfinish(pg);
	pg = NULL;
	struct loader *l = calloc(LOADERS, sizeof *l);
	pthread_t th[LOADERS];
	loaders_stop = 0;
	for (int i = 0; i < LOADERS; i++) {
		l[i].id = i;
		pthread_create(&th[i], NULL, loader_run, &l[i]);
	}
	sleep_ms(300);
	ck_assert_int_eq(pg_control("stop fast"), 0);
	sleep_ms(500);
	ck_assert_int_eq(pg_control("start"), 0);
	/* Until every loader has been acknowledged again since the restart (10 s at most: a loaded
	 * machine can take more than a second to get there; a fixed wait made this flaky). */
	long restarted = mono_ms();
	for (int waited = 0; waited < 10000; waited += 20) {
		int back = 0;
		for (int i = 0; i < LOADERS; i++)
			back += __atomic_load_n(&l[i].last_ack_ms, __ATOMIC_ACQUIRE) > restarted;
		if (back == LOADERS)
			break;
		sleep_ms(20);
	}
	sleep_ms(200);
	__atomic_store_n(&loaders_stop, 1, __ATOMIC_RELEASE);
	int acked = 0, unavailable = 0;
	for (int i = 0; i < LOADERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!l[i].failure[0], "loader %d: %s", i, l[i].failure);
		acked += l[i].nacked;
		unavailable += l[i].unavailable;
	}
	pg = db_connect(NULL);
	ck_assert_ptr_nonnull(pg);
	for (int i = 0; i < LOADERS; i++)
		for (int k = 0; k < l[i].nacked; k++) {
			char key[32], val[16];
			snprintf(key, sizeof key, "g4.%d.%d", i, l[i].acked[k]);
			snprintf(val, sizeof val, "%d", l[i].acked[k]);
			const char *p[] = {key, val};
			char *n = db_value(pg, "SELECT count(*) FROM memory m JOIN memory_history h USING (scope, key, version)"
					       " WHERE m.scope = 'mesh' AND m.key = $1 AND m.value = $2::jsonb", 2, p);
			ck_assert_msg(n && !strcmp(n, "1"), "acknowledged %s is missing", key);
			free(n);
		}
	/* Writes went on after the restart: the last ones of every loader were acknowledged. */
	for (int i = 0; i < LOADERS; i++)
		ck_assert_msg(l[i].nacked > 0 && l[i].acked[l[i].nacked - 1] == l[i].sent - 1,
			      "loader %d: its last write was not acknowledged (%ld, %ld ms after the restart; %d sent, "
			      "%d acknowledged, the last acknowledged %ld ms after the restart)",
			      i, l[i].last_status, l[i].last_at_ms - restarted, l[i].sent, l[i].nacked,
			      l[i].last_ack_ms - restarted);
	fprintf(stderr, "database_stopped_mid_load: %d writes acknowledged (all present), %d answered 503\n", acked,
		unavailable);
	free(l);
}
END_TEST

START_TEST(sigterm_answers_queued_writes)
{
	struct server own;
	ck_assert_int_eq(server_start(&own, admin, NULL), 0);
	PGconn *lock = hold_write_lock();
	struct call c[8];
	char paths[8][48];
	for (int i = 0; i < 8; i++) {
		snprintf(paths[i], sizeof paths[i], "/v1/memory/mesh/g5.%d", i);
		c[i] = (struct call){&own, "PUT", paths[i], writer, "{\"value\":\"queued\"}", NULL, NULL, {0}, 0, 0};
		call_start(&c[i]);
		if (i == 0)
			await_lock_waiter();
	}
	await_queued(&own, 7);
	ck_assert_int_eq(kill(own.pid, SIGTERM), 0);
	sleep_ms(300);
	ck_assert_int_eq(kill(own.pid, 0), 0); /* still up: it waits for the queued writes */
	release_write_lock(lock);
	for (int i = 0; i < 8; i++) {
		call_join(&c[i]);
		ck_assert_msg(c[i].rs.status == 201, "%s: %ld %s", paths[i], c[i].rs.status, c[i].rs.body);
		resp_free(&c[i].rs);
	}
	ck_assert_int_eq(server_stop(&own), 0);
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM memory WHERE key LIKE 'g5.%' AND value = '\"queued\"'"), 8);
}
END_TEST

START_TEST(memory_gin_indexes_have_no_pending_list)
{
	/* 0006: a pending list merged inside the write lock stalled every write behind it. */
	ck_assert_int_eq(db_count(pg, "SELECT count(*) FROM pg_class WHERE relname IN ('memory_search', 'memory_tags')"
				      " AND 'fastupdate=off' = ANY(reloptions)"),
			 2);
	PGresult *r = PQexec(pg, "SELECT n_pending_pages FROM pgstatginindex('memory_search')");
	if (PQresultStatus(r) == PGRES_TUPLES_OK) /* pgstattuple is optional */
		ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
	PQclear(r);
}
END_TEST

START_TEST(group_commit_off_writes_alone)
{
	struct server own;
	const char *args[] = {"--group-commit", "off", NULL};
	ck_assert_int_eq(server_start(&own, admin, args), 0);
	struct http_resp rs;
	char b[64];
	ck_assert_int_eq(http(&own, REQ(.method = "PUT", .path = "/v1/memory/mesh/g6.alone", .token = writer,
				       .body = "{\"value\":1}"), &rs), 0);
	ck_assert_int_eq(rs.status, 201);
	ck_assert_str_eq(resp_header(&rs, "Location", b, sizeof b), "/v1/memory/mesh/g6.alone");
	resp_free(&rs);
	ck_assert_int_eq(http(&own, REQ(.method = "PUT", .path = "/v1/memory/mesh/g6.alone", .token = writer,
				       .body = "{\"value\":2}", .headers = {"If-Match: \"7\""}), &rs), 0);
	expect_error(&rs, 412, "version_mismatch");
	resp_free(&rs);
	ck_assert_int_eq(metric(&own, "clawmesh_group_writes_total"), 0);
	ck_assert_int_eq(server_stop(&own), 0);
}
END_TEST

TCase *group_tcase(void);
TCase *group_tcase(void)
{
	TCase *tc = tcase_create("group");
	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, group_up, group_down);
	tcase_add_checked_fixture(tc, pg_each_up, pg_each_down);
	tcase_add_test(tc, a_group_commits_its_good_ops_and_refuses_the_others);
	tcase_add_test(tc, a_token_revoked_while_queued_still_gets_its_committed_write);
	tcase_add_test(tc, an_op_that_raises_fails_alone);
	tcase_add_test(tc, sigterm_answers_queued_writes);
	tcase_add_test(tc, group_commit_off_writes_alone);
	tcase_add_test(tc, memory_gin_indexes_have_no_pending_list);
	tcase_add_test(tc, database_stopped_mid_load);
	return tc;
}
