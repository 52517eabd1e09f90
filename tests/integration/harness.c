/* The integration harness: real processes, a real client, the real database. */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *env_or_die(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "harness: %s is not set (run through tests/integration/run.sh)\n", name);
		exit(2);
	}
	return v;
}

/* Grows by doubling: curl hands a streamed body over in pieces as small as the server's
 * chunks, and growing to the exact size each time copies the whole body again per piece
 * (under ASan, whose realloc always moves, a large export then outlasts the 20 s timeout). */
int buf_append(struct buf *b, const char *p, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
	return buf_append(ud, ptr, size * n) ? 0 : size * n;
}

static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(const char *method, const char *path, const struct http_resp *rs)
{
	const char *file = getenv("CM_TEST_RECORD");
	if (!file || !*file)
		return;
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "method", method);
	cJSON_AddStringToObject(r, "url", path);
	cJSON_AddNumberToObject(r, "status", (double)rs->status);
	cJSON *h = cJSON_AddObjectToObject(r, "headers");
	char *copy = strdup(rs->headers ? rs->headers : "");
	char *save = NULL;
	for (char *line = strtok_r(copy, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon || !strncmp(line, "HTTP/", 5))
			continue;
		*colon = '\0';
		for (char *c = line; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		cJSON_DeleteItemFromObject(h, line);
		cJSON_AddStringToObject(h, line, v);
	}
	free(copy);
	cJSON_AddStringToObject(r, "body", rs->body ? rs->body : "");
	char *s = cJSON_PrintUnformatted(r);
	cJSON_Delete(r);
	pthread_mutex_lock(&record_lock); /* tests run requests from several threads */
	FILE *f = fopen(file, "a");
	if (f && s)
		fprintf(f, "%s\n", s);
	if (f)
		fclose(f);
	pthread_mutex_unlock(&record_lock);
	free(s);
}

/* The TLS test's self-signed certificate (made by run.sh for 127.0.0.1) is the trust anchor. */
static void trust_test_ca(CURL *c, const struct server *srv)
{
	if (srv->tls) {
		curl_easy_setopt(c, CURLOPT_CAINFO, getenv("CM_TEST_CA"));
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

int http(const struct server *srv, const struct http_req *rq, struct http_resp *rs)
{
	memset(rs, 0, sizeof *rs);
	CURL *c = curl_easy_init();
	if (!c)
		return -1;
	const char *method = rq->method ? rq->method : "GET";
	char url[8192];
	snprintf(url, sizeof url, "%s%s", srv->base, rq->path);
	struct buf body = {0}, head = {0};
	struct curl_slist *hl = NULL;
	char line[512];
	if (rq->token) {
		snprintf(line, sizeof line, "Authorization: Bearer %s", rq->token);
		hl = curl_slist_append(hl, line);
	}
	if (rq->body) {
		snprintf(line, sizeof line, "Content-Type: %s", rq->content_type ? rq->content_type : "application/json");
		hl = curl_slist_append(hl, line);
	}
	if (rq->chunked)
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	hl = curl_slist_append(hl, "Expect:");
	for (int i = 0; i < 8 && rq->headers[i]; i++)
		hl = curl_slist_append(hl, rq->headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (rq->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, rq->body);
		if (!rq->chunked)
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(rq->body_len ? rq->body_len : strlen(rq->body)));
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	trust_test_ca(c, srv);
	CURLcode cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	rs->body = body.p ? body.p : strdup("");
	rs->len = body.len;
	rs->headers = head.p ? head.p : strdup("");
	if (cr != CURLE_OK) {
		fprintf(stderr, "harness: %s %s: %s\n", method, rq->path, curl_easy_strerror(cr));
		return -1;
	}
	rs->json = cJSON_Parse(rs->body);
	record(method, rq->path, rs);
	return 0;
}

const char *resp_header(const struct http_resp *rs, const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);
	for (const char *l = rs->headers; l && *l;) {
		const char *end = strstr(l, "\r\n");
		size_t len = end ? (size_t)(end - l) : strlen(l);
		if (len > n && l[n] == ':' && !strncasecmp(l, name, n)) {
			const char *v = l + n + 1;
			while (*v == ' ')
				v++;
			snprintf(buf, cap, "%.*s", (int)(len - (size_t)(v - l)), v);
			return buf;
		}
		l = end ? end + 2 : l + len;
	}
	return NULL;
}

int resp_header_count(const struct http_resp *rs, const char *name)
{
	int count = 0;
	size_t n = strlen(name);
	for (const char *l = rs->headers; l && *l;) {
		const char *end = strstr(l, "\r\n");
		if (!strncasecmp(l, name, n) && l[n] == ':')
			count++;
		l = end ? end + 2 : l + strlen(l);
	}
	return count;
}

const char *resp_error_code(const struct http_resp *rs)
{
	const cJSON *e = cJSON_GetObjectItem(rs->json, "error");
	const cJSON *code = cJSON_GetObjectItem(e, "code");
	return cJSON_IsString(code) ? code->valuestring : "";
}

void resp_free(struct http_resp *rs)
{
	free(rs->body);
	free(rs->headers);
	cJSON_Delete(rs->json);
	memset(rs, 0, sizeof *rs);
}

int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

char *raw_exchange(const struct server *srv, const char *request)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv->port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct buf b = {0};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
		if (fd >= 0)
			close(fd);
		return strdup("");
	}
	if (write(fd, request, strlen(request)) < 0)
		b.len = 0;
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char chunk[4096];
	ssize_t r;
	while ((r = read(fd, chunk, sizeof chunk)) > 0)
		on_data(chunk, 1, (size_t)r, &b);
	close(fd);
	return b.p ? b.p : strdup("");
}

void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* CM_TEST_VALGRIND=1 (the `valgrind` meson suite): every clawmeshd serve runs under memcheck,
 * its report in the server's log file + ".vg". It exits 97 on any error or definite leak, which
 * server_stop() returns, so every test that asserts a clean stop asserts both. */
bool harness_valgrind(void)
{
	const char *v = getenv("CM_TEST_VALGRIND");
	return v && !strcmp(v, "1");
}

/* The valgrind words that go before clawmeshd's (none without CM_TEST_VALGRIND): how many.
 * log_file holds the --log-file word, so it must live as long as argv. */
static int valgrind_argv(const char **argv, const char *log, char *log_file, size_t cap)
{
	if (!harness_valgrind())
		return 0;
	snprintf(log_file, cap, "--log-file=%s.vg", log);
	const char *vg[] = {"valgrind", "--tool=memcheck", "--error-exitcode=97", "--leak-check=full",
			    "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--track-origins=no",
			    "--num-callers=30", log_file};
	for (size_t i = 0; i < sizeof vg / sizeof *vg; i++)
		argv[i] = vg[i];
	return (int)(sizeof vg / sizeof *vg);
}

int server_start(struct server *srv, const char *admin_secret, const char *const *args)
{
	static int count;
	memset(srv, 0, sizeof *srv);
	srv->port = free_port();
	for (int i = 0; args && args[i]; i++)
		if (!strcmp(args[i], "--tls-cert"))
			srv->tls = true;
	snprintf(srv->base, sizeof srv->base, "%s://127.0.0.1:%d", srv->tls ? "https" : "http", srv->port);
	snprintf(srv->log, sizeof srv->log, "%s/server-%d-%d.log", env_or_die("CM_TEST_TMP"), (int)getpid(), ++count);
	char listen[64];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", srv->port);

	const char *argv[48];
	char vg_log[300];
	int n = valgrind_argv(argv, srv->log, vg_log, sizeof vg_log);
	const char *serve[] = {env_or_die("CM_TEST_BIN"), "serve", "--listen", listen, "--threads", "2"};
	for (size_t i = 0; i < sizeof serve / sizeof *serve; i++)
		argv[n++] = serve[i];
	for (int i = 0; args && args[i] && n < 46; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(srv->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		dup2(fd, 1);
		setenv("CLAWMESH_DATABASE_URL", env_or_die("CM_TEST_DB_URL"), 1);
		if (admin_secret)
			setenv("CLAWMESH_ADMIN_TOKEN", admin_secret, 1);
		else
			unsetenv("CLAWMESH_ADMIN_TOKEN");
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	srv->pid = pid;
	int tries = harness_valgrind() ? 1200 : 200; /* 60 s under valgrind, else 10 s (sanitizers) */
	for (int i = 0; i < tries; i++) {
		CURL *c = curl_easy_init();
		char url[160];
		snprintf(url, sizeof url, "%s/healthz", srv->base);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 1L);
		trust_test_ca(c, srv);
		CURLcode cr = curl_easy_perform(c);
		curl_easy_cleanup(c);
		if (cr == CURLE_OK)
			return 0;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "harness: clawmeshd exited early; see %s\n", srv->log);
			srv->pid = 0;
			return -1;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "harness: clawmeshd did not answer; see %s\n", srv->log);
	return -1;
}

int server_stop(struct server *srv)
{
	if (srv->pid <= 0)
		return -1;
	kill(srv->pid, SIGTERM);
	int status = 0;
	int tries = harness_valgrind() ? 2400 : 300; /* 2 min under valgrind (its leak check), else 15 s */
	for (int i = 0; i < tries; i++) {
		if (waitpid(srv->pid, &status, WNOHANG) == srv->pid) {
			srv->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		sleep_ms(50);
	}
	kill(srv->pid, SIGKILL);
	waitpid(srv->pid, &status, 0);
	srv->pid = 0;
	return -1;
}

int run_clawmeshd(const char *const *args, char **out)
{
	return run_clawmeshd_in(args, NULL, out);
}

int run_clawmeshd_in(const char *const *args, const char *input, char **out)
{
	int fds[2];
	if (pipe(fds))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		if (input) {
			int in = open(input, O_RDONLY);
			if (in < 0)
				_exit(126);
			dup2(in, 0);
		}
		setenv("CLAWMESH_DATABASE_URL", env_or_die("CM_TEST_DB_URL"), 1);
		const char *argv[32] = {env_or_die("CM_TEST_BIN")};
		int n = 1;
		for (int i = 0; args[i] && n < 31; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	struct buf b = {0};
	char chunk[4096];
	ssize_t r;
	while ((r = read(fds[0], chunk, sizeof chunk)) > 0)
		on_data(chunk, 1, (size_t)r, &b);
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	if (out)
		*out = b.p ? b.p : strdup("");
	else
		free(b.p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

PGconn *db_connect(const char *dbname)
{
	const char *keys[] = {"dbname", "dbname", NULL};
	const char *vals[] = {env_or_die("CM_TEST_DB_URL"), dbname, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "harness: db: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

char *db_value(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	char *v = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "harness: db: %s", PQerrorMessage(c));
	PQclear(r);
	return v;
}

long db_count(PGconn *c, const char *sql)
{
	char *v = db_value(c, sql, 0, NULL);
	long n = v ? atol(v) : -1;
	free(v);
	return n;
}

int pg_control(const char *action)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s %s %s", env_or_die("CM_TEST_PG_SCRIPT"),
		 strncmp(action, "stop", 4) ? "start" : "stop", env_or_die("CM_TEST_PG_DIR"));
	if (!strncmp(action, "stop ", 5))
		snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", action + 5);
	return system(cmd);
}

void make_secret(char out[47])
{
	unsigned char raw[32], b64[48];
	RAND_bytes(raw, sizeof raw);
	EVP_EncodeBlock(b64, raw, sizeof raw);
	memcpy(out, "cm_", 3);
	for (int i = 0; i < 43; i++)
		out[3 + i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[46] = '\0';
}

PGconn *pg;

void pg_each_up(void)
{
	pg = db_connect(NULL);
	ck_assert_ptr_nonnull(pg);
}

void pg_each_down(void)
{
	PQfinish(pg);
	pg = NULL;
}

long status_at(const struct server *srv, const struct http_req *rq)
{
	struct http_resp rs;
	ck_assert_int_eq(http(srv, rq, &rs), 0);
	long s = rs.status;
	if (s >= 400 && strcmp(rq->method ? rq->method : "GET", "HEAD"))
		ck_assert_msg(resp_error_code(&rs)[0], "an error without an envelope: %s", rs.body);
	resp_free(&rs);
	return s;
}

double status_within(const struct server *srv, const struct http_req *rq, long want, int max_ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long s = status_at(srv, rq);
		clock_gettime(CLOCK_MONOTONIC, &t);
		double ms = (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
		if (s == want)
			return ms;
		if (ms > max_ms)
			return -1;
		sleep_ms(1);
	}
}

const cJSON *resp_field(const struct http_resp *rs, const char *name)
{
	return cJSON_GetObjectItem(rs->json, name);
}

void expect_error(const struct http_resp *rs, long status, const char *code)
{
	char b[128];
	ck_assert_msg(rs->status == status, "status %ld, wanted %ld: %s", rs->status, status, rs->body);
	ck_assert_str_eq(resp_error_code(rs), code);
	const cJSON *e = cJSON_GetObjectItem(rs->json, "error");
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(e, "message")));
	const cJSON *rid = cJSON_GetObjectItem(e, "request_id");
	ck_assert(cJSON_IsString(rid));
	ck_assert_ptr_nonnull(resp_header(rs, "X-Request-Id", b, sizeof b));
	ck_assert_str_eq(rid->valuestring, b);
	ck_assert_ptr_nonnull(resp_header(rs, "Content-Type", b, sizeof b));
	ck_assert_str_eq(b, "application/json; charset=utf-8");
}

void create_token(const struct server *srv, const char *admin, const char *body, char *secret, char *id)
{
	struct http_resp rs;
	ck_assert_int_eq(http(srv, REQ(.method = "POST", .path = "/v1/tokens", .token = admin, .body = body), &rs), 0);
	ck_assert_msg(rs.status == 201, "%ld %s", rs.status, rs.body);
	snprintf(secret, 47, "%s", cJSON_GetObjectItem(rs.json, "token")->valuestring);
	snprintf(id, 29, "%s", cJSON_GetObjectItem(rs.json, "id")->valuestring);
	resp_free(&rs);
}

long metric_value(const struct server *srv, const char *admin, const char *name)
{
	struct http_resp rs;
	ck_assert_int_eq(http(srv, REQ(.path = "/metrics", .token = admin), &rs), 0);
	ck_assert_int_eq(rs.status, 200);
	char needle[256];
	snprintf(needle, sizeof needle, "\n%s ", name);
	const char *p = rs.body ? strstr(rs.body, needle) : NULL;
	long v = p ? atol(p + strlen(needle)) : -1;
	resp_free(&rs);
	return v;
}

int server_start_own_db(struct server *srv, const char *admin_secret, const char *dbname)
{
	PGconn *c = db_connect(NULL);
	if (!c)
		return -1;
	const char *p[] = {dbname};
	/* Names cannot be parameters: quote_ident() makes the statements. */
	char *drop = db_value(c, "SELECT 'DROP DATABASE IF EXISTS ' || quote_ident($1)", 1, p);
	char *make = db_value(c, "SELECT 'CREATE DATABASE ' || quote_ident($1)", 1, p);
	int ok = drop && make;
	if (ok)
		PQclear(PQexec(c, drop));
	PGresult *r = ok ? PQexec(c, make) : NULL;
	ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "harness: cannot make database %s: %s", dbname, PQerrorMessage(c));
	PQclear(r);
	free(drop);
	free(make);
	PQfinish(c);
	if (!ok)
		return -1;
	char url[1100];
	snprintf(url, sizeof url, "%s dbname=%s", env_or_die("CM_TEST_DB_URL"), dbname);
	const char *args[] = {"--database-url", url, NULL};
	return server_start(srv, admin_secret, args);
}

const cJSON *resp_detail(const struct http_resp *rs, const char *name)
{
	return cJSON_GetObjectItem(cJSON_GetObjectItem(resp_field(rs, "error"), "details"), name);
}

long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}
