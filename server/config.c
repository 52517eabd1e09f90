/* Server configuration: defaults, then CLAWMESH_* environment, then flags (main.c feeds them
 * through cm_config_set), so one parser validates a value whichever way it arrived. */
#include "clawmesh/config.h"
#include "clawmesh/err.h"
#include "clawmesh/ratelimit.h"
#include "clawmesh/secrets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_BODY_FLOOR (1024u)
#define MAX_BODY_CEIL (64u * 1024 * 1024)
#define TEN_YEARS (10LL * 366 * 24 * 3600)

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -CM_EBADREQ;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || v > max)
		return -CM_EBADREQ;
	*out = v;
	return (int)(end - s);
}

int cm_parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	int n = parse_uint(s, 1ULL << 40, &v);
	if (n < 0)
		return n;
	const char *unit = s + n;
	unsigned long long mul = 1;
	if (!*unit || !strcasecmp(unit, "b"))
		mul = 1;
	else if (!strcasecmp(unit, "k") || !strcasecmp(unit, "kib") || !strcasecmp(unit, "kb"))
		mul = 1024;
	else if (!strcasecmp(unit, "m") || !strcasecmp(unit, "mib") || !strcasecmp(unit, "mb"))
		mul = 1024 * 1024;
	else if (!strcasecmp(unit, "g") || !strcasecmp(unit, "gib") || !strcasecmp(unit, "gb"))
		mul = 1024ULL * 1024 * 1024;
	else
		return -CM_EBADREQ;
	if (v > SIZE_MAX / mul)
		return -CM_EBADREQ;
	*out = (size_t)(v * mul);
	return 0;
}

int cm_parse_duration(const char *s, long long *out)
{
	unsigned long long v;
	int n = parse_uint(s, (unsigned long long)TEN_YEARS, &v);
	if (n < 0)
		return n;
	const char *unit = s + n;
	unsigned long long mul;
	if (!*unit || !strcmp(unit, "s"))
		mul = 1;
	else if (!strcmp(unit, "m"))
		mul = 60;
	else if (!strcmp(unit, "h"))
		mul = 3600;
	else if (!strcmp(unit, "d"))
		mul = 86400;
	else
		return -CM_EBADREQ;
	if (v == 0 || v > (unsigned long long)TEN_YEARS / mul)
		return -CM_EBADREQ;
	*out = (long long)(v * mul);
	return 0;
}

int cm_parse_listen(const char *s, char **host, unsigned short *port)
{
	const char *colon;
	char addr[INET6_ADDRSTRLEN + 1];
	size_t alen;

	if (!s || !*s)
		return -CM_EBADREQ;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -CM_EBADREQ;
		alen = (size_t)(close - s - 1);
		if (alen == 0 || alen >= sizeof addr)
			return -CM_EBADREQ;
		memcpy(addr, s + 1, alen);
		colon = close + 1;
	} else if ((colon = strrchr(s, ':'))) {
		alen = (size_t)(colon - s);
		if (alen >= sizeof addr)
			return -CM_EBADREQ;
		memcpy(addr, s, alen);
		if (alen == 0)
			alen = (size_t)snprintf(addr, sizeof addr, "0.0.0.0");
	} else {
		alen = (size_t)snprintf(addr, sizeof addr, "127.0.0.1");
		colon = s - 1;
	}
	addr[alen] = '\0';
	if (!strcmp(addr, "localhost"))
		snprintf(addr, sizeof addr, "127.0.0.1");

	unsigned long long p;
	int n = parse_uint(colon + 1, 65535, &p);
	if (n < 0 || colon[1 + n] != '\0' || p == 0)
		return -CM_EBADREQ;

	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return -CM_EBADREQ;
	*host = strdup(addr);
	if (!*host)
		return -CM_EINTERNAL;
	*port = (unsigned short)p;
	return 0;
}

static int set_string(char **slot, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -CM_EINTERNAL;
	free(*slot);
	*slot = copy;
	return 0;
}

static int add_origins(struct cm_config *cfg, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -CM_EINTERNAL;
	int r = 0;
	for (char *o = strtok_r(copy, ", ", &save); o; o = strtok_r(NULL, ", ", &save)) {
		bool ok = !strcmp(o, "*") || !strncmp(o, "http://", 7) || !strncmp(o, "https://", 8);
		if (!ok || strlen(o) > 256) {
			snprintf(err, errlen, "--cors-origin: '%s' is not '*' or an http(s) origin", o);
			r = -CM_EBADREQ;
			break;
		}
		if (cfg->n_cors_origins == CM_MAX_CORS_ORIGINS) {
			snprintf(err, errlen, "--cors-origin: at most %d origins", CM_MAX_CORS_ORIGINS);
			r = -CM_EBADREQ;
			break;
		}
		cfg->cors_origins[cfg->n_cors_origins] = strdup(o);
		if (!cfg->cors_origins[cfg->n_cors_origins]) {
			r = -CM_EINTERNAL;
			break;
		}
		cfg->n_cors_origins++;
	}
	free(copy);
	return r;
}

static int set_bounded(const char *name, const char *value, unsigned long long lo,
		       unsigned long long hi, unsigned *out, char *err, size_t errlen)
{
	unsigned long long v;
	int n = parse_uint(value, hi, &v);
	if (n < 0 || value[n] || v < lo) {
		snprintf(err, errlen, "%s: '%s' is not a whole number from %llu to %llu", name, value, lo, hi);
		return -CM_EBADREQ;
	}
	*out = (unsigned)v;
	return 0;
}

static int set_size(const char *name, const char *value, size_t *out, char *err, size_t errlen)
{
	size_t v;
	if (cm_parse_size(value, &v) < 0 || v < MAX_BODY_FLOOR || v > MAX_BODY_CEIL) {
		snprintf(err, errlen, "%s: '%s' is not a size from 1KiB to 64MiB", name, value);
		return -CM_EBADREQ;
	}
	*out = v;
	return 0;
}

int cm_config_set(struct cm_config *cfg, int opt, const char *value, char *err, size_t errlen)
{
	switch (opt) {
	case CM_OPT_DATABASE_URL:
		if (strlen(value) > 4096) {
			snprintf(err, errlen, "--database-url: longer than 4096 characters");
			return -CM_EBADREQ;
		}
		return set_string(&cfg->database_url, value);
	case CM_OPT_LISTEN: {
		char *host = NULL;
		unsigned short port;
		if (cm_parse_listen(value, &host, &port) < 0) {
			snprintf(err, errlen, "--listen: '%s' is not ADDRESS:PORT (e.g. 127.0.0.1:8080, [::1]:8080)", value);
			return -CM_EBADREQ;
		}
		free(cfg->listen_host);
		cfg->listen_host = host;
		cfg->listen_port = port;
		return 0;
	}
	case CM_OPT_TLS_CERT:
		return set_string(&cfg->tls_cert, value);
	case CM_OPT_TLS_KEY:
		return set_string(&cfg->tls_key, value);
	case CM_OPT_CORS_ORIGIN:
		return add_origins(cfg, value, err, errlen);
	case CM_OPT_MAX_BODY:
		return set_size("--max-body", value, &cfg->max_body, err, errlen);
	case CM_OPT_THREADS:
		return set_bounded("--threads", value, 1, 256, &cfg->threads, err, errlen);
	case CM_OPT_CONN_TIMEOUT:
		return set_bounded("--conn-timeout", value, 1, 3600, &cfg->conn_timeout, err, errlen);
	case CM_OPT_MAX_CONNECTIONS:
		return set_bounded("--max-connections", value, 4, 100000, &cfg->max_connections, err, errlen);
	case CM_OPT_MAX_CONNECTIONS_PER_IP:
		return set_bounded("--max-connections-per-ip", value, 0, 100000, &cfg->max_connections_per_ip, err,
				   errlen);
	case CM_OPT_HEADER_TIMEOUT:
		return set_bounded("--header-timeout", value, 0, 3600, &cfg->header_timeout, err, errlen);
	case CM_OPT_BODY_TIMEOUT:
		return set_bounded("--body-timeout", value, 0, 3600, &cfg->body_timeout, err, errlen);
	case CM_OPT_BODY_MIN_RATE: {
		size_t v;
		if (cm_parse_size(value, &v) < 0 || v > MAX_BODY_CEIL) {
			snprintf(err, errlen, "--body-min-rate: '%s' is not a size a second from 0 to 64MiB", value);
			return -CM_EBADREQ;
		}
		cfg->body_min_rate = v;
		return 0;
	}
	case CM_OPT_ALLOW_INSECURE_HTTP:
		if (value && strcmp(value, "1") && strcmp(value, "true") && strcmp(value, "on")) {
			cfg->allow_insecure_http = false;
			if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "off"))
				return 0;
			snprintf(err, errlen, "--allow-insecure-http: '%s' is not true or false", value);
			return -CM_EBADREQ;
		}
		cfg->allow_insecure_http = true;
		return 0;
	case CM_OPT_MAX_VALUE:
		return set_size("--max-value", value, &cfg->max_value, err, errlen);
	case CM_OPT_HEARTBEAT_WINDOW:
		return set_bounded("--heartbeat-window", value, 1, 86400, &cfg->heartbeat_window, err, errlen);
	case CM_OPT_SSE_KEEPALIVE:
		return set_bounded("--sse-keepalive", value, 1, 300, &cfg->sse_keepalive, err, errlen);
	case CM_OPT_CACHE_MB:
		return set_bounded("--cache-mb", value, 0, 4096, &cfg->cache_mb, err, errlen);
	case CM_OPT_GROUP_COMMIT:
		if (!strcmp(value, "off"))
			return cfg->group_commit = 0, 0;
		if (!strcmp(value, "on"))
			return cfg->group_commit = CM_GROUP_COMMIT_MAX, 0;
		return set_bounded("--group-commit", value, 0, CM_GROUP_COMMIT_MAX, &cfg->group_commit, err, errlen);
	case CM_OPT_RATE_LIMIT:
		if (!strcmp(value, "off"))
			return cfg->rate_limit = 0, 0;
		return set_bounded("--rate-limit", value, 0, CM_RATE_MAX, &cfg->rate_limit, err, errlen);
	case CM_OPT_RATE_BURST:
		return set_bounded("--rate-burst", value, 1, CM_RATE_BURST_MAX, &cfg->rate_burst, err, errlen);
	case CM_OPT_CHANGES_RETENTION:
		if (cm_parse_duration(value, &cfg->changes_retention) < 0) {
			snprintf(err, errlen, "--changes-retention: '%s' is not a duration (30d, 12h, 90m, 45s)", value);
			return -CM_EBADREQ;
		}
		return 0;
	case CM_OPT_SECRET_GUARD:
		if (cm_secret_kinds_parse(value, &cfg->secret_kinds) < 0) {
			snprintf(err, errlen, "--secret-guard: '%s' is not on, off or a list of kinds", value);
			return -CM_EBADREQ;
		}
		return 0;
	case CM_OPT_ACCESS_LOG:
		if (!strcmp(value, "on") || !strcmp(value, "1") || !strcmp(value, "true"))
			cfg->access_log = true;
		else if (!strcmp(value, "off") || !strcmp(value, "0") || !strcmp(value, "false"))
			cfg->access_log = false;
		else {
			snprintf(err, errlen, "--access-log: '%s' is not on or off", value);
			return -CM_EBADREQ;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown option");
	return -CM_EBADREQ;
}

static const struct {
	const char *env;
	int opt;
} env_map[] = {
	{"CLAWMESH_DATABASE_URL", CM_OPT_DATABASE_URL},
	{"CLAWMESH_LISTEN", CM_OPT_LISTEN},
	{"CLAWMESH_TLS_CERT", CM_OPT_TLS_CERT},
	{"CLAWMESH_TLS_KEY", CM_OPT_TLS_KEY},
	{"CLAWMESH_CORS_ORIGIN", CM_OPT_CORS_ORIGIN},
	{"CLAWMESH_MAX_BODY", CM_OPT_MAX_BODY},
	{"CLAWMESH_THREADS", CM_OPT_THREADS},
	{"CLAWMESH_CONN_TIMEOUT", CM_OPT_CONN_TIMEOUT},
	{"CLAWMESH_MAX_CONNECTIONS", CM_OPT_MAX_CONNECTIONS},
	{"CLAWMESH_MAX_CONNECTIONS_PER_IP", CM_OPT_MAX_CONNECTIONS_PER_IP},
	{"CLAWMESH_HEADER_TIMEOUT", CM_OPT_HEADER_TIMEOUT},
	{"CLAWMESH_BODY_TIMEOUT", CM_OPT_BODY_TIMEOUT},
	{"CLAWMESH_BODY_MIN_RATE", CM_OPT_BODY_MIN_RATE},
	{"CLAWMESH_ACCESS_LOG", CM_OPT_ACCESS_LOG},
	{"CLAWMESH_ALLOW_INSECURE_HTTP", CM_OPT_ALLOW_INSECURE_HTTP},
	{"CLAWMESH_MAX_VALUE", CM_OPT_MAX_VALUE},
	{"CLAWMESH_SECRET_GUARD", CM_OPT_SECRET_GUARD},
	{"CLAWMESH_HEARTBEAT_WINDOW", CM_OPT_HEARTBEAT_WINDOW},
	{"CLAWMESH_CHANGES_RETENTION", CM_OPT_CHANGES_RETENTION},
	{"CLAWMESH_SSE_KEEPALIVE", CM_OPT_SSE_KEEPALIVE},
	{"CLAWMESH_CACHE_MB", CM_OPT_CACHE_MB},
	{"CLAWMESH_GROUP_COMMIT", CM_OPT_GROUP_COMMIT},
	{"CLAWMESH_RATE_LIMIT", CM_OPT_RATE_LIMIT},
	{"CLAWMESH_RATE_BURST", CM_OPT_RATE_BURST},
};

int cm_config_init(struct cm_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->threads = cpus > 0 && cpus <= 256 ? (unsigned)cpus : 2;
	cfg->max_body = 1024 * 1024;
	cfg->conn_timeout = 30;
	cfg->max_connections = 4096; /* parked long-polls and event streams count too */
	/* mod_reqtimeout's defaults (header=20, body=20,MinRate=500): generous for a real client
	 * on a bad link (a head is at most 8 KiB), while a slowloris must reconnect every 20 s. */
	cfg->header_timeout = 20;
	cfg->body_timeout = 20;
	cfg->body_min_rate = 500;
	cfg->access_log = true;
	cfg->listen_port = 8080;
	cfg->max_value = 256 * 1024;
	cfg->heartbeat_window = 120;
	cfg->changes_retention = 30LL * 86400;
	cfg->sse_keepalive = 15;
	cfg->cache_mb = 2; /* ~4,000 entries: a mesh's hot set, within a NAS's memory */
	cfg->secret_kinds = CM_SECRET_ALL;
	cfg->group_commit = CM_GROUP_COMMIT_MAX;
	if (set_string(&cfg->listen_host, "127.0.0.1") < 0 || set_string(&cfg->database_url, "") < 0)
		return -CM_EINTERNAL;

	for (size_t i = 0; i < sizeof env_map / sizeof env_map[0]; i++) {
		const char *v = getenv(env_map[i].env);
		if (!v || !*v)
			continue;
		char inner[256] = "";
		int r = cm_config_set(cfg, env_map[i].opt, v, inner, sizeof inner);
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", env_map[i].env, inner);
			return r;
		}
	}
	return 0;
}

bool cm_listen_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

int cm_config_finish(struct cm_config *cfg, char *err, size_t errlen)
{
	if (!cfg->tls_cert != !cfg->tls_key) {
		snprintf(err, errlen, "--tls-cert and --tls-key go together");
		return -CM_EBADREQ;
	}
	/* Bearer tokens must not cross a network in clear text by accident. */
	if (!cfg->tls_cert && !cfg->allow_insecure_http && !cm_listen_is_loopback(cfg->listen_host)) {
		snprintf(err, errlen,
			 "plain HTTP on %s is not loopback: give --tls-cert/--tls-key, or --allow-insecure-http "
			 "behind a TLS-terminating proxy",
			 cfg->listen_host);
		return -CM_EBADREQ;
	}
	/* libmicrohttpd splits the limit between its threads; a thread with none never stops. */
	if (cfg->max_connections < cfg->threads) {
		snprintf(err, errlen, "--max-connections (%u) must be at least --threads (%u)", cfg->max_connections,
			 cfg->threads);
		return -CM_EBADREQ;
	}
	/* One second's worth, and at least 10: a client may start with a handful of reads at once
	 * (whoami, a listing, a feed poll) whatever its steady rate. A burst without a limit is
	 * ignored, so an environment file may keep it while the limit is switched off with 0. */
	if (cfg->rate_limit && !cfg->rate_burst)
		cfg->rate_burst = cfg->rate_limit > 10 ? cfg->rate_limit : 10;
	return 0;
}

void cm_config_free(struct cm_config *cfg)
{
	free(cfg->database_url);
	free(cfg->listen_host);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	for (size_t i = 0; i < cfg->n_cors_origins; i++)
		free(cfg->cors_origins[i]);
	memset(cfg, 0, sizeof *cfg);
}
