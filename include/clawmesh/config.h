/* Server configuration: command-line flags over CLAWMESH_* environment over defaults. */
#ifndef CLAWMESH_CONFIG_H
#define CLAWMESH_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

#define CM_MAX_CORS_ORIGINS 16
/* At most this many writes per group transaction: each op runs in a subtransaction, and a
 * transaction with more than 64 subtransactions overflows PostgreSQL's per-backend subxid cache,
 * which slows every other backend's visibility checks while it is open. */
#define CM_GROUP_COMMIT_MAX 64

struct cm_config {
	char *database_url;         /* libpq conninfo or URI; "" = libpq's PG* defaults */
	char *listen_host;          /* numeric address */
	unsigned short listen_port;
	char *tls_cert;             /* PEM file paths; both or neither */
	char *tls_key;
	char *cors_origins[CM_MAX_CORS_ORIGINS];
	size_t n_cors_origins;
	size_t max_body;            /* bytes */
	unsigned threads;           /* HTTP worker threads, each with its own database connection */
	unsigned conn_timeout;      /* seconds a connection may stay idle or slow */
	unsigned max_connections;
	unsigned max_connections_per_ip; /* from one client address; 0 = no limit of its own */
	unsigned header_timeout;    /* seconds for a request's head from its first byte; 0 = off */
	unsigned body_timeout;      /* seconds of grace before the body's rate counts; 0 = off */
	size_t body_min_rate;       /* bytes/s a body must average after the grace; 0 = off */
	bool access_log;
	bool allow_insecure_http;   /* plain HTTP on a non-loopback address */
	size_t max_value;           /* bytes of one memory value, as stored, and of one skill's content */
	unsigned heartbeat_window;  /* seconds a node counts as online after it was last heard */
	long long changes_retention; /* seconds the change feed reaches back */
	unsigned cache_mb;          /* memory entries cached in process, MiB; 0 = off */
	unsigned sse_keepalive;     /* seconds between keep-alive comments on an idle event stream */
	unsigned secret_kinds;      /* secret guard: bit (1u << enum cm_secret_kind) per refused kind */
	unsigned group_commit;      /* single-entry memory writes per group transaction; 0 = each alone */
	unsigned rate_limit;        /* requests a second per token, on this replica; 0 = off */
	unsigned rate_burst;        /* the bucket: requests at once; 0 = the default, max(rate_limit, 10) */
};

/* Option letters for long options that every subcommand shares; values >= 0x100. */
enum cm_config_opt {
	CM_OPT_DATABASE_URL = 0x100,
	CM_OPT_LISTEN,
	CM_OPT_TLS_CERT,
	CM_OPT_TLS_KEY,
	CM_OPT_CORS_ORIGIN,
	CM_OPT_MAX_BODY,
	CM_OPT_THREADS,
	CM_OPT_CONN_TIMEOUT,
	CM_OPT_MAX_CONNECTIONS,
	CM_OPT_ACCESS_LOG,
	CM_OPT_ALLOW_INSECURE_HTTP, /* takes no value */
	CM_OPT_MAX_VALUE,
	CM_OPT_SECRET_GUARD,
	CM_OPT_HEARTBEAT_WINDOW,
	CM_OPT_CHANGES_RETENTION,
	CM_OPT_SSE_KEEPALIVE,
	CM_OPT_CACHE_MB,
	CM_OPT_GROUP_COMMIT,
	CM_OPT_MAX_CONNECTIONS_PER_IP,
	CM_OPT_RATE_LIMIT,
	CM_OPT_RATE_BURST,
	CM_OPT_HEADER_TIMEOUT,
	CM_OPT_BODY_TIMEOUT,
	CM_OPT_BODY_MIN_RATE,
	CM_OPT_LAST
};

/* Defaults, then the CLAWMESH_* environment. 0 or -CM_EBADREQ with a sentence in err. */
int cm_config_init(struct cm_config *cfg, char *err, size_t errlen);
/* Applies one shared option (an enum cm_config_opt) with its argument. */
int cm_config_set(struct cm_config *cfg, int opt, const char *value, char *err, size_t errlen);
/* Checks the combination: TLS pair, plain HTTP only on loopback unless allowed, at least one
 * connection per thread; fills in the default rate burst. */
int cm_config_finish(struct cm_config *cfg, char *err, size_t errlen);
void cm_config_free(struct cm_config *cfg);

/* "1048576", "512KiB", "1MiB", "1M", "64k" -> bytes. */
int cm_parse_size(const char *s, size_t *out);
/* "90d", "12h", "30m", "45s", "3600" -> seconds (1 .. 10 years). */
int cm_parse_duration(const char *s, long long *out);
/* "127.0.0.1:8080", "[::1]:8080", ":8080", "8080" -> host and port. Caller frees *host. */
bool cm_listen_is_loopback(const char *host);
int cm_parse_listen(const char *s, char **host, unsigned short *port);

#endif
