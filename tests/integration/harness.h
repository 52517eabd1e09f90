/* Integration-test harness: a libcurl client that records every response for the contract
 * check, clawmeshd processes on free ports, and libpq access to the throwaway database. */
#ifndef CM_TEST_HARNESS_H
#define CM_TEST_HARNESS_H
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct http_req {
	const char *method;       /* default GET */
	const char *path;         /* path and query */
	const char *token;        /* bearer secret, or NULL */
	const char *body;         /* NULL = none */
	size_t body_len;          /* 0 = strlen(body) */
	const char *content_type; /* default application/json when body is set */
	const char *headers[8];   /* extra "Name: value" lines, NULL-terminated */
	bool chunked;             /* send the body with Transfer-Encoding: chunked */
};

struct http_resp {
	long status;
	char *body;
	size_t len;
	char *headers; /* raw header block */
	cJSON *json;   /* parsed body, or NULL */
};

struct server {
	pid_t pid;
	int port;
	char base[96];
	char log[256];
	bool tls;
};

#define REQ(...) (&(struct http_req){__VA_ARGS__})

/* One request against srv; the response is recorded for the contract check. 0 = got an answer. */
int http(const struct server *srv, const struct http_req *rq, struct http_resp *rs);
const char *resp_header(const struct http_resp *rs, const char *name, char *buf, size_t cap);
/* How many times the answer carries the header (a security header must come exactly once). */
int resp_header_count(const struct http_resp *rs, const char *name);
/* error.code of an error envelope, or "" */
const char *resp_error_code(const struct http_resp *rs);
void resp_free(struct http_resp *rs);
/* Asserts an API.md error envelope: status, error.code, a message, the request id echoed in
 * X-Request-Id, the JSON content type. */
void expect_error(const struct http_resp *rs, long status, const char *code);
/* POST /v1/tokens with body as admin; asserts 201 and fills secret (47 bytes) and id (29 bytes). */
void create_token(const struct server *srv, const char *admin, const char *body, char *secret, char *id);

/* A growing, NUL-terminated byte buffer (free p). */
struct buf {
	char *p;
	size_t len, cap; /* cap: bytes allocated at p */
};
/* Appends len bytes; 0, or -1 when out of memory (b unchanged). */
int buf_append(struct buf *b, const char *p, size_t len);

int free_port(void);
/* nanosleep for ms milliseconds. */
void sleep_ms(int ms);
/* CLOCK_MONOTONIC in milliseconds: for how long something took. */
long mono_ms(void);
/* Sends raw bytes to srv and reads until the server closes or 3 s pass. Caller frees. */
char *raw_exchange(const struct server *srv, const char *request);
/* Starts `clawmeshd serve` with extra args (NULL-terminated) and the test database; waits until
 * /healthz answers. admin_secret may be NULL. */
int server_start(struct server *srv, const char *admin_secret, const char *const *args);
/* The same on a database of its own, dbname, made afresh in the test cluster (dropped first if
 * there): for a case that must know everything that exists. */
int server_start_own_db(struct server *srv, const char *admin_secret, const char *dbname);
/* SIGTERM, then waits; returns the exit status (0 = clean, which under ASan means no leak). */
int server_stop(struct server *srv);

/* Runs clawmeshd with args; captures stdout (caller frees *out). Returns the exit code. */
int run_clawmeshd(const char *const *args, char **out);
/* The same with stdin read from the file input (NULL: inherited). */
int run_clawmeshd_in(const char *const *args, const char *input, char **out);

PGconn *db_connect(const char *dbname);
/* The first column of the first row of a parameterised query, or NULL; caller frees. */
char *db_value(PGconn *c, const char *sql, int n, const char *const *params);
long db_count(PGconn *c, const char *sql);

/* The test database, connected for each test by the pg_each_up/pg_each_down checked fixture. */
extern PGconn *pg;
void pg_each_up(void);
void pg_each_down(void);
/* One request's status; an error status must carry the API.md envelope (HEAD has no body). */
long status_at(const struct server *srv, const struct http_req *rq);
/* Asks again (every ms or so) until the status is want: the milliseconds that took, or -1 after max_ms.
 * For what another process changed, which a replica hears of through NOTIFY (its caches). */
double status_within(const struct server *srv, const struct http_req *rq, long want, int max_ms);
/* The value of one /metrics sample (name with its labels, e.g. x_total{reason="head"}), read
 * with an admin token; -1 when it is not there. */
long metric_value(const struct server *srv, const char *admin, const char *name);
/* A member of the response's JSON body, or NULL. */
const cJSON *resp_field(const struct http_resp *rs, const char *name);
/* A member of an error envelope's error.details, or NULL. */
const cJSON *resp_detail(const struct http_resp *rs, const char *name);

/* deploy/pg-local.sh ACTION on the test cluster (start, stop [mode]). */
int pg_control(const char *action);

const char *env_or_die(const char *name);
void make_secret(char out[47]);

/* Is this run under valgrind (CM_TEST_VALGRIND=1)? Then clawmeshd runs under memcheck and is
 * some 20-50 times slower: a test that is bound to time may skip itself, saying why. */
bool harness_valgrind(void);

#endif
