/* clawmeshd: arguments and subcommands (serve, migrate, token, export, import, --help). Exit
 * codes: 0 ok, 1 runtime failure (database, port, file), 2 bad usage or an import refused. */
#include "clawmesh/auth.h"
#include "clawmesh/cache.h"
#include "clawmesh/config.h"
#include "clawmesh/db.h"
#include "clawmesh/err.h"
#include "clawmesh/export.h"
#include "clawmesh/feed.h"
#include "clawmesh/group.h"
#include "clawmesh/http.h"
#include "clawmesh/log.h"
#include "clawmesh/migrate.h"
#include "clawmesh/ratelimit.h"
#include "clawmesh/store_tokens.h"
#include "clawmesh/tokens.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPT_HELP = CM_OPT_LAST + 1, OPT_OUTPUT, OPT_NODE, OPT_GRANT, OPT_ADMIN, OPT_LABEL, OPT_EXPIRES };

static const struct option shared_opts[] = {
	{"database-url", required_argument, NULL, CM_OPT_DATABASE_URL},
	{"listen", required_argument, NULL, CM_OPT_LISTEN},
	{"tls-cert", required_argument, NULL, CM_OPT_TLS_CERT},
	{"tls-key", required_argument, NULL, CM_OPT_TLS_KEY},
	{"cors-origin", required_argument, NULL, CM_OPT_CORS_ORIGIN},
	{"max-body", required_argument, NULL, CM_OPT_MAX_BODY},
	{"threads", required_argument, NULL, CM_OPT_THREADS},
	{"conn-timeout", required_argument, NULL, CM_OPT_CONN_TIMEOUT},
	{"max-connections", required_argument, NULL, CM_OPT_MAX_CONNECTIONS},
	{"max-connections-per-ip", required_argument, NULL, CM_OPT_MAX_CONNECTIONS_PER_IP},
	{"header-timeout", required_argument, NULL, CM_OPT_HEADER_TIMEOUT},
	{"body-timeout", required_argument, NULL, CM_OPT_BODY_TIMEOUT},
	{"body-min-rate", required_argument, NULL, CM_OPT_BODY_MIN_RATE},
	{"access-log", required_argument, NULL, CM_OPT_ACCESS_LOG},
	{"allow-insecure-http", no_argument, NULL, CM_OPT_ALLOW_INSECURE_HTTP},
	{"max-value", required_argument, NULL, CM_OPT_MAX_VALUE},
	{"secret-guard", required_argument, NULL, CM_OPT_SECRET_GUARD},
	{"heartbeat-window", required_argument, NULL, CM_OPT_HEARTBEAT_WINDOW},
	{"changes-retention", required_argument, NULL, CM_OPT_CHANGES_RETENTION},
	{"sse-keepalive", required_argument, NULL, CM_OPT_SSE_KEEPALIVE},
	{"cache-mb", required_argument, NULL, CM_OPT_CACHE_MB},
	{"group-commit", required_argument, NULL, CM_OPT_GROUP_COMMIT},
	{"rate-limit", required_argument, NULL, CM_OPT_RATE_LIMIT},
	{"rate-burst", required_argument, NULL, CM_OPT_RATE_BURST},
	{"help", no_argument, NULL, OPT_HELP},
	/* export */
	{"output", required_argument, NULL, OPT_OUTPUT},
	/* token create */
	{"node", required_argument, NULL, OPT_NODE},
	{"grant", required_argument, NULL, OPT_GRANT},
	{"admin", no_argument, NULL, OPT_ADMIN},
	{"label", required_argument, NULL, OPT_LABEL},
	{"expires", required_argument, NULL, OPT_EXPIRES},
	{NULL, 0, NULL, 0},
};

static const char usage[] =
	"usage: clawmeshd COMMAND [OPTIONS]\n"
	"\n"
	"Commands:\n"
	"  serve                      apply pending migrations, then serve the HTTP API\n"
	"  migrate                    apply pending migrations and exit\n"
	"  token create [--node ID] [--grant PATTERN:r|rw]... [--admin] [--label L] [--expires 90d]\n"
	"                             create a token; prints it as JSON, secret included (shown once)\n"
	"  token list                 list tokens (never secrets)\n"
	"  token revoke ID            revoke a token at once\n"
	"  export [--output FILE]     write everything (tokens as hashes, nodes, memory and its history,\n"
	"                             skills and their versions, the change rows) as NDJSON, from one\n"
	"                             consistent snapshot; to stdout by default\n"
	"  import [FILE]              apply pending migrations, then take an export back (stdin when FILE\n"
	"                             is absent or -): all or nothing, rows already there identically are\n"
	"                             skipped; prints a JSON summary. Exit 2 when the file is refused\n"
	"                             (invalid, truncated, or conflicting with the database)\n"
	"  --help, --version\n"
	"\n"
	"Options (environment variable in brackets):\n"
	"  --database-url URL         libpq conninfo or URI; PG* variables also work [CLAWMESH_DATABASE_URL]\n"
	"  --listen ADDR:PORT         default 127.0.0.1:8080 [CLAWMESH_LISTEN]\n"
	"  --tls-cert FILE            PEM certificate; with --tls-key, serve HTTPS [CLAWMESH_TLS_CERT]\n"
	"  --tls-key FILE             PEM private key [CLAWMESH_TLS_KEY]\n"
	"  --cors-origin ORIGIN       allowed browser origin, repeatable or comma-separated [CLAWMESH_CORS_ORIGIN]\n"
	"  --max-body SIZE            request body limit, default 1MiB [CLAWMESH_MAX_BODY]\n"
	"  --threads N                HTTP worker threads (one database connection each), default: cores [CLAWMESH_THREADS]\n"
	"  --conn-timeout SECONDS     idle/slow connection timeout, default 30 [CLAWMESH_CONN_TIMEOUT]\n"
	"  --max-connections N        concurrent connections, parked long-polls and event streams\n"
	"                             included, default 4096 [CLAWMESH_MAX_CONNECTIONS]\n"
	"  --max-connections-per-ip N connections from one client address, default 0 = no limit of its\n"
	"                             own; set it where clients connect directly, not behind a proxy\n"
	"                             [CLAWMESH_MAX_CONNECTIONS_PER_IP]\n"
	"  --header-timeout SECONDS   a request's line and headers must arrive within this of its first\n"
	"                             byte (of accept, for a connection's first), default 20; 0 = off\n"
	"                             [CLAWMESH_HEADER_TIMEOUT]\n"
	"  --body-timeout SECONDS     grace before a body must keep up --body-min-rate, default 20;\n"
	"                             0 = off [CLAWMESH_BODY_TIMEOUT]\n"
	"  --body-min-rate SIZE       bytes a second a body must average after the grace, default 500;\n"
	"                             0 = off [CLAWMESH_BODY_MIN_RATE]\n"
	"  --max-value SIZE           largest memory value (its stored JSON text) or skill content,\n"
	"                             default 256KiB; an imported line may be 6 x SIZE + 64KiB [CLAWMESH_MAX_VALUE]\n"
	"  --heartbeat-window SECONDS a node is online this long after it was last heard, default 120\n"
	"                             [CLAWMESH_HEARTBEAT_WINDOW]\n"
	"  --changes-retention DURATION how far back GET /v1/changes reaches (older rows are pruned;\n"
	"                             a follower behind that gets 410 resync_required), default 30d\n"
	"                             [CLAWMESH_CHANGES_RETENTION]\n"
	"  --cache-mb N               memory entries kept in process for GET, MiB, default 2; 0 = off\n"
	"                             [CLAWMESH_CACHE_MB]\n"
	"  --sse-keepalive SECONDS    keep-alive comment on an idle event stream, default 15 (shorter\n"
	"                             when a proxy cuts idle connections sooner) [CLAWMESH_SSE_KEEPALIVE]\n"
	"  --group-commit N|on|off    single-entry memory writes (PUT, PATCH, DELETE) commit together, up\n"
	"                             to N (1-64) per transaction and WAL flush; off (0): each commits\n"
	"                             alone on its worker thread; default on (64) [CLAWMESH_GROUP_COMMIT]\n"
	"  --rate-limit N             requests a second per token on this replica (a token bucket);\n"
	"                             over it: 429 rate_limited with Retry-After; default 0 = off\n"
	"                             [CLAWMESH_RATE_LIMIT]\n"
	"  --rate-burst B             requests a token may make at once (the bucket's size), default\n"
	"                             max(N, 10) [CLAWMESH_RATE_BURST]\n"
	"  --secret-guard on|off|KINDS refuse values carrying credentials, default on; KINDS is a comma list of\n"
	"                             private_key,aws_access_key_id,github_token,slack_token,api_key,jwt,\n"
	"                             clawmesh_token [CLAWMESH_SECRET_GUARD]\n"
	"  --access-log on|off        one line per request on stderr, default on [CLAWMESH_ACCESS_LOG]\n"
	"  --allow-insecure-http      plain HTTP on a non-loopback address (behind a TLS proxy)\n"
	"                             [CLAWMESH_ALLOW_INSECURE_HTTP=1]\n"
	"\n"
	"CLAWMESH_ADMIN_TOKEN, when set at `serve` start, ensures an admin token with that secret exists.\n"
	"Exit status: 0 ok, 1 a runtime failure (database, port, file), 2 bad usage or an import refused.\n";

struct token_args {
	struct cm_token_request req;
	bool any;
};

static const char *option_name(int val)
{
	for (const struct option *o = shared_opts; o->name; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

static int bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "clawmeshd: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see clawmeshd --help)\n");
	return 2;
}

/* Parses options after the command words; token options only where ta, --output only where output. */
static int parse_options(int argc, char **argv, struct cm_config *cfg, struct token_args *ta, const char **output,
			 int *rest)
{
	char err[512] = "";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "", shared_opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			if (optopt)
				return bad_usage("option '%s' needs a value or is unknown", argv[optind - 1]);
			return bad_usage("unknown option '%s'", argv[optind - 1]);
		}
		if (c == OPT_HELP) {
			fputs(usage, stdout);
			exit(0);
		}
		if (c == OPT_OUTPUT) {
			if (!output)
				return bad_usage("option --%s belongs to `export`", option_name(c));
			*output = optarg;
			continue;
		}
		if (c >= OPT_NODE) {
			if (!ta)
				return bad_usage("option --%s belongs to `token create`", option_name(c));
			ta->any = true;
			struct cm_token_request *r = &ta->req;
			switch (c) {
			case OPT_NODE:
				if (!cm_valid_id(optarg))
					return bad_usage("--node: '%s' is not an id ([a-z0-9][a-z0-9._-]{0,63})", optarg);
				snprintf(r->node, sizeof r->node, "%s", optarg);
				break;
			case OPT_GRANT:
				if (r->ngrants == CM_MAX_GRANTS)
					return bad_usage("%s: at most 64 grants", "--grant");
				if (cm_grant_parse_cli(optarg, &r->grants[r->ngrants]) < 0)
					return bad_usage("--grant: '%s' is not PATTERN:r or PATTERN:rw (e.g. mesh:rw, 'project:*:r')", optarg);
				r->ngrants++;
				r->grants_given = true;
				break;
			case OPT_ADMIN:
				r->admin = true;
				break;
			case OPT_LABEL:
				if (strlen(optarg) > CM_LABEL_MAX)
					return bad_usage("--label: '%s' is longer than 128 bytes", optarg);
				snprintf(r->label, sizeof r->label, "%s", optarg);
				break;
			case OPT_EXPIRES:
				if (cm_parse_duration(optarg, &r->expires_in) < 0)
					return bad_usage("--expires: '%s' is not a duration like 90d, 12h, 30m, 3600", optarg);
				break;
			}
			continue;
		}
		if (cm_config_set(cfg, c, optarg, err, sizeof err) < 0)
			return bad_usage("%s", err);
	}
	if (cm_config_finish(cfg, err, sizeof err) < 0)
		return bad_usage("%s", err);
	*rest = optind;
	return 0;
}

static int bootstrap_admin(void)
{
	const char *secret = getenv("CLAWMESH_ADMIN_TOKEN");
	if (!secret || !*secret)
		return 0;
	if (!cm_token_secret_valid(secret)) {
		fprintf(stderr, "clawmeshd: CLAWMESH_ADMIN_TOKEN is not a token (cm_ + 43 base64url characters)\n");
		return 2;
	}
	char hash[CM_TOKEN_HASH_HEX + 1];
	cm_token_hash(secret, hash);
	/* The hash is all we need; the secret leaves the environment (and /proc/PID/environ). */
	OPENSSL_cleanse((char *)secret, strlen(secret));
	unsetenv("CLAWMESH_ADMIN_TOKEN");
	bool created = false, revoked = false;
	int e = cm_store_token_ensure_admin(hash, &created, &revoked);
	OPENSSL_cleanse(hash, sizeof hash);
	if (e < 0) {
		cm_log_error("bootstrap: cannot ensure the admin token (%s)", cm_err_code(-e));
		return 1;
	}
	if (created)
		cm_log_info("bootstrap: created the admin token from CLAWMESH_ADMIN_TOKEN");
	if (revoked)
		cm_log_warn("bootstrap: the CLAWMESH_ADMIN_TOKEN token was revoked; it stays revoked (set a new secret)");
	return 0;
}

static int run_migrations(void)
{
	int applied = 0;
	int e = cm_migrate_run(&applied);
	if (e < 0) {
		cm_log_error("migrate: failed (%s)", cm_err_code(-e));
		return 1;
	}
	cm_log_info("migrate: schema at version %d (%d applied now)", cm_migrate_latest(), applied);
	return 0;
}

/* Every connection, parked ones included, is a descriptor: lift the soft limit towards the hard
 * one so --max-connections can be met (the default soft limit, 1024, cannot). */
static void raise_fd_limit(const struct cm_config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* 64 for the database pool, logs and listening sockets, and libmicrohttpd's headroom. */
	rlim_t want = (rlim_t)cfg->max_connections + 64 + CM_HTTP_LIMIT_HEADROOM + (rlim_t)cfg->threads;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		cm_log_warn("serve: open files limited to %llu, fewer than --max-connections needs",
			    (unsigned long long)rl.rlim_cur);
}

/* How long a stop may wait for requests in flight (an upload still arriving, say). */
#define SHUTDOWN_MS 8000

static int cmd_serve(const struct cm_config *cfg)
{
	int r = run_migrations();
	if (r)
		return r;
	r = bootstrap_admin();
	cm_db_thread_release();
	if (r)
		return r;

	/* Block the stop signals in every thread; this one waits for them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	raise_fd_limit(cfg);
	cm_cache_init((size_t)cfg->cache_mb << 20);
	if (cm_ratelimit_init(cfg->rate_limit, cfg->rate_burst) < 0)
		return 1;
	if (cm_feed_start(cfg) < 0) {
		cm_ratelimit_shutdown();
		return 1;
	}
	if (cm_group_start(cfg) < 0) {
		cm_feed_stop();
		cm_ratelimit_shutdown();
		return 1;
	}
	struct MHD_Daemon *d = cm_http_start(cfg);
	if (!d) {
		cm_group_stop();
		cm_feed_stop();
		cm_ratelimit_shutdown();
		return 1;
	}
	cm_log_info("serve: listening on %s%s%s:%u (%s, %u threads)", strchr(cfg->listen_host, ':') ? "[" : "",
		    cfg->listen_host, strchr(cfg->listen_host, ':') ? "]" : "", cfg->listen_port,
		    cfg->tls_cert ? "https" : "http", cfg->threads);
	if (cfg->rate_limit)
		cm_log_info("serve: rate limit %u requests a second per token, burst %u", cfg->rate_limit,
			    cfg->rate_burst);
	int sig = 0;
	sigwait(&set, &sig);
	cm_log_info("serve: signal %d, stopping", sig);
	/* Within SHUTDOWN_MS of the signal (docker stop and most supervisors kill at 10 s): no new
	 * connections, then every request already begun gets its answer, a client that stalls
	 * aside. */
	long long t0 = cm_feed_now_ms();
	cm_http_quiesce(d);
	cm_feed_stop(); /* parked requests answer now, before the daemon closes their connections */
	cm_group_stop(); /* queued writes commit (or fail) and are answered, likewise */
	cm_http_drain(t0 + SHUTDOWN_MS);
	cm_http_stop(d);
	cm_ratelimit_shutdown();
	cm_cache_shutdown();
	return 0;
}

static int print_json(cJSON *o)
{
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	if (!s)
		return 1;
	puts(s);
	free(s);
	return 0;
}

static int fail_db(const char *what, int e)
{
	fprintf(stderr, "clawmeshd: %s: %s\n", what, e == -CM_EUNAVAIL ? "the database is unreachable" : cm_err_code(-e));
	return 1;
}

static int cmd_token_create(struct token_args *ta)
{
	struct cm_token *t = malloc(sizeof *t);
	char secret[CM_TOKEN_SECRET_LEN + 1];
	if (!t)
		return 1;
	if (!ta->req.label[0])
		snprintf(ta->req.label, sizeof ta->req.label, "%s", ta->req.node[0] ? ta->req.node : "cli");
	int e = cm_token_create(&ta->req, t, secret);
	if (e < 0) {
		free(t);
		return fail_db("token create", e);
	}
	cJSON *o = cm_token_to_json(t);
	free(t);
	cJSON_AddStringToObject(o, "token", secret);
	OPENSSL_cleanse(secret, sizeof secret);
	return print_json(o);
}

static int cmd_token_list(void)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *items = cJSON_AddArrayToObject(o, "items");
	char after[CM_TOKEN_ID_LEN + 1] = "";
	bool more = true;
	while (more) {
		int e = cm_store_token_list(after[0] ? after : NULL, 1000, cm_token_append_json, items, &more);
		if (e < 0) {
			cJSON_Delete(o);
			return fail_db("token list", e);
		}
		cJSON *last = cJSON_GetArrayItem(items, cJSON_GetArraySize(items) - 1);
		if (last)
			snprintf(after, sizeof after, "%s", cJSON_GetObjectItem(last, "id")->valuestring);
	}
	return print_json(o);
}

static int cmd_token_revoke(const char *id)
{
	int e = cm_store_token_revoke(id);
	if (e == -CM_ENOTFOUND) {
		fprintf(stderr, "clawmeshd: token revoke: no token %s\n", id);
		return 1;
	}
	if (e < 0)
		return fail_db("token revoke", e);
	fprintf(stderr, "revoked %s\n", id);
	return 0;
}

/* The export to output (stdout when NULL). A regular file that a failure leaves without its
 * trailer is removed: a broken backup must not sit where a good one is expected. */
static int cmd_export(const char *output)
{
	char why[192];
	struct cm_export *x;
	if (cm_export_open(&x, why, sizeof why) < 0) {
		fprintf(stderr, "clawmeshd: export: %s\n", why);
		return 1;
	}
	FILE *f = output ? fopen(output, "w") : stdout;
	if (!f) {
		fprintf(stderr, "clawmeshd: export: cannot write %s: %s\n", output, strerror(errno));
		cm_export_free(x);
		return 1;
	}
	static char buf[64 * 1024];
	long long bytes = 0;
	ssize_t n = 0;
	const char *failed = NULL;
	while (!failed && (n = cm_export_read(x, buf, sizeof buf)) > 0) {
		if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
			failed = strerror(errno);
		bytes += n;
	}
	if (n < 0)
		failed = "the database failed midway";
	if (!failed && (fflush(f) || (output && fsync(fileno(f)) && errno != EINVAL)))
		failed = strerror(errno);
	struct stat st;
	bool regular = output && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	if (output && fclose(f) && !failed)
		failed = strerror(errno);
	long long revision = cm_export_revision(x);
	cm_export_free(x);
	if (failed) {
		if (regular)
			unlink(output);
		fprintf(stderr, "clawmeshd: export: %s%s\n", failed, regular ? "; the file is removed" : "");
		return 1;
	}
	cm_log_info("export: %lld bytes, revision %lld", bytes, revision);
	return 0;
}

/* An export from path (stdin when NULL or -), into the database, all or nothing; the summary on
 * stdout. 2 when the file is refused (bad, truncated, conflicting), 1 when something failed. */
static int cmd_import(const struct cm_config *cfg, const char *path)
{
	bool from_stdin = !path || !strcmp(path, "-");
	FILE *f = from_stdin ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "clawmeshd: import: cannot read %s: %s\n", path, strerror(errno));
		return 2;
	}
	/* Into an empty database too: the schema first, as `serve` does. */
	struct cm_import *im = NULL;
	int e = run_migrations() ? -CM_EUNAVAIL : cm_import_begin(cfg->max_value, &im);
	if (!im) {
		if (!from_stdin)
			fclose(f);
		return 1;
	}
	static char buf[64 * 1024];
	bool read_failed = false;
	while (e == 0) {
		size_t n = fread(buf, 1, sizeof buf, f);
		if (n)
			e = cm_import_feed(im, buf, n);
		if (n < sizeof buf) {
			read_failed = ferror(f);
			break;
		}
	}
	if (e == 0 && !read_failed)
		e = cm_import_finish(im);
	if (!from_stdin)
		fclose(f);
	int r = 0;
	if (read_failed && e == 0) {
		fprintf(stderr, "clawmeshd: import: reading %s failed; nothing was imported\n", from_stdin ? "stdin" : path);
		r = 1;
	} else if (e < 0) {
		const struct cm_import_failure *fail = cm_import_failure(im);
		fprintf(stderr, "clawmeshd: import: %s\n", fail->message);
		r = fail->err == CM_EUNAVAIL || fail->err == CM_EINTERNAL ? 1 : 2;
	} else {
		char *summary = cm_import_summary(im);
		r = summary ? 0 : 1;
		if (summary)
			puts(summary);
		free(summary);
	}
	cm_import_free(im);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return bad_usage("%s", "a command is needed");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("clawmeshd %s\n", CM_VERSION);
		return 0;
	}
	const char *sub = NULL;
	int words = 1; /* argv words that name the command */
	if (!strcmp(cmd, "token")) {
		if (argc < 3 || argv[2][0] == '-')
			return bad_usage("%s", "token needs create, list or revoke");
		sub = argv[2];
		if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
			return bad_usage("unknown token command '%s'", sub);
		words = 2;
	} else if (strcmp(cmd, "serve") && strcmp(cmd, "migrate") && strcmp(cmd, "export") && strcmp(cmd, "import")) {
		return bad_usage("unknown command '%s'", cmd);
	}

	struct cm_config cfg;
	char err[512];
	if (cm_config_init(&cfg, err, sizeof err) < 0) {
		fprintf(stderr, "clawmeshd: %s\n", err);
		cm_config_free(&cfg);
		return 2;
	}
	struct token_args *ta = NULL;
	if (sub && !strcmp(sub, "create") && !(ta = calloc(1, sizeof *ta))) {
		cm_config_free(&cfg);
		return 1;
	}
	int rest = 0;
	const char *output = NULL;
	int r = parse_options(argc - words, argv + words, &cfg, ta, strcmp(cmd, "export") ? NULL : &output, &rest);
	int nargs = argc - words - rest;
	char **args = argv + words + rest;
	bool takes_one = (sub && !strcmp(sub, "revoke")) || !strcmp(cmd, "import");
	if (r == 0 && sub && !strcmp(sub, "revoke") && nargs != 1)
		r = bad_usage("%s", "token revoke needs exactly one token id");
	else if (r == 0 && nargs > (takes_one ? 1 : 0))
		r = bad_usage("unexpected argument '%s'", args[takes_one ? 1 : 0]);
	if (r == 0) {
		cm_db_init(&cfg);
		if (!strcmp(cmd, "serve"))
			r = cmd_serve(&cfg);
		else if (!strcmp(cmd, "migrate"))
			r = run_migrations();
		else if (!strcmp(cmd, "export"))
			r = cmd_export(output);
		else if (!strcmp(cmd, "import"))
			r = cmd_import(&cfg, nargs ? args[0] : NULL);
		else if (!strcmp(sub, "create"))
			r = run_migrations() ? 1 : cmd_token_create(ta);
		else if (!strcmp(sub, "list"))
			r = cmd_token_list();
		else
			r = cmd_token_revoke(args[0]);
		cm_db_shutdown();
	}
	free(ta);
	cm_config_free(&cfg);
	return r;
}
