/* Configuration values: sizes, durations, listen addresses, environment and flag errors. */
#include "clawmesh/config.h"
#include "clawmesh/secrets.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(sizes)
{
	size_t v;
	ck_assert_int_eq(cm_parse_size("1048576", &v), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(cm_parse_size("1MiB", &v), 0);
	ck_assert_uint_eq(v, 1048576);
	ck_assert_int_eq(cm_parse_size("256k", &v), 0);
	ck_assert_uint_eq(v, 262144);
	ck_assert_int_lt(cm_parse_size("", &v), 0);
	ck_assert_int_lt(cm_parse_size("-1", &v), 0);
	ck_assert_int_lt(cm_parse_size("1 MiB", &v), 0);
	ck_assert_int_lt(cm_parse_size("1TB", &v), 0);
	ck_assert_int_lt(cm_parse_size("99999999999999999999999", &v), 0);
	ck_assert_int_lt(cm_parse_size("17179869184G", &v), 0); /* would wrap to 0 */
}
END_TEST

START_TEST(durations)
{
	long long v;
	ck_assert_int_eq(cm_parse_duration("90d", &v), 0);
	ck_assert_int_eq(v, 90LL * 86400);
	ck_assert_int_eq(cm_parse_duration("12h", &v), 0);
	ck_assert_int_eq(v, 43200);
	ck_assert_int_eq(cm_parse_duration("30m", &v), 0);
	ck_assert_int_eq(v, 1800);
	ck_assert_int_eq(cm_parse_duration("45", &v), 0);
	ck_assert_int_eq(v, 45);
	ck_assert_int_lt(cm_parse_duration("0", &v), 0);
	ck_assert_int_lt(cm_parse_duration("d", &v), 0);
	ck_assert_int_lt(cm_parse_duration("5w", &v), 0);
	ck_assert_int_lt(cm_parse_duration("99999d", &v), 0); /* over ten years */
}
END_TEST

START_TEST(listen)
{
	char *host = NULL;
	unsigned short port;
	ck_assert_int_eq(cm_parse_listen("127.0.0.1:8080", &host, &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_uint_eq(port, 8080);
	free(host);
	ck_assert_int_eq(cm_parse_listen("[::1]:9000", &host, &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 9000);
	free(host);
	ck_assert_int_eq(cm_parse_listen(":8443", &host, &port), 0);
	ck_assert_str_eq(host, "0.0.0.0");
	free(host);
	ck_assert_int_eq(cm_parse_listen("localhost:1", &host, &port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	free(host);
	ck_assert_int_lt(cm_parse_listen("127.0.0.1:0", &host, &port), 0);
	ck_assert_int_lt(cm_parse_listen("127.0.0.1:65536", &host, &port), 0);
	ck_assert_int_lt(cm_parse_listen("127.0.0.1:", &host, &port), 0);
	ck_assert_int_lt(cm_parse_listen("nas.local:80", &host, &port), 0);
	ck_assert_int_lt(cm_parse_listen("[::1]", &host, &port), 0);
	ck_assert_int_lt(cm_parse_listen("", &host, &port), 0);
}
END_TEST

START_TEST(env_and_flags)
{
	struct cm_config cfg;
	char err[256];
	setenv("CLAWMESH_LISTEN", "127.0.0.1:9999", 1);
	setenv("CLAWMESH_MAX_BODY", "2MiB", 1);
	setenv("CLAWMESH_CORS_ORIGIN", "https://dash.example, http://localhost:3000", 1);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.listen_port, 9999);
	ck_assert_uint_eq(cfg.max_body, 2 * 1024 * 1024);
	ck_assert_uint_eq(cfg.n_cors_origins, 2);
	ck_assert_str_eq(cfg.cors_origins[1], "http://localhost:3000");
	/* A flag overrides the environment. */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_LISTEN, "[::1]:7000", err, sizeof err), 0);
	ck_assert_str_eq(cfg.listen_host, "::1");
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_THREADS, "0", err, sizeof err), 0);
	ck_assert(strstr(err, "--threads"));
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_MAX_BODY, "10", err, sizeof err), 0);
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_CORS_ORIGIN, "dash.example", err, sizeof err), 0);
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_ACCESS_LOG, "maybe", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_TLS_CERT, "/x.pem", err, sizeof err), 0);
	ck_assert_int_lt(cm_config_finish(&cfg, err, sizeof err), 0); /* cert without key */
	cm_config_free(&cfg);

	setenv("CLAWMESH_THREADS", "many", 1);
	ck_assert_int_lt(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert(strstr(err, "CLAWMESH_THREADS"));
	cm_config_free(&cfg);
	unsetenv("CLAWMESH_THREADS");
	unsetenv("CLAWMESH_LISTEN");
	unsetenv("CLAWMESH_MAX_BODY");
	unsetenv("CLAWMESH_CORS_ORIGIN");

	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
	ck_assert_uint_eq(cfg.listen_port, 8080);
	ck_assert_uint_eq(cfg.max_body, 1024 * 1024);
	ck_assert_uint_eq(cfg.max_value, 256 * 1024);
	ck_assert_uint_eq(cfg.secret_kinds, CM_SECRET_ALL);
	cm_config_free(&cfg);
}
END_TEST

START_TEST(memory_limits_and_secret_guard)
{
	struct cm_config cfg;
	char err[256];
	setenv("CLAWMESH_MAX_VALUE", "64KiB", 1);
	setenv("CLAWMESH_SECRET_GUARD", "off", 1);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.max_value, 64 * 1024);
	ck_assert_uint_eq(cfg.secret_kinds, 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_SECRET_GUARD, "jwt,private_key", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.secret_kinds, (1u << CM_SECRET_JWT) | (1u << CM_SECRET_PRIVATE_KEY));
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_SECRET_GUARD, "passwords", err, sizeof err), 0);
	ck_assert(strstr(err, "--secret-guard"));
	ck_assert_uint_eq(cfg.secret_kinds, (1u << CM_SECRET_JWT) | (1u << CM_SECRET_PRIVATE_KEY));
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_MAX_VALUE, "100", err, sizeof err), 0);
	ck_assert(strstr(err, "--max-value"));
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_MAX_VALUE, "1GiB", err, sizeof err), 0);
	cm_config_free(&cfg);
	unsetenv("CLAWMESH_MAX_VALUE");
	unsetenv("CLAWMESH_SECRET_GUARD");
}
END_TEST

START_TEST(group_commit)
{
	struct cm_config cfg;
	char err[256];
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.group_commit, CM_GROUP_COMMIT_MAX); /* on by default */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_GROUP_COMMIT, "off", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.group_commit, 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_GROUP_COMMIT, "on", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.group_commit, 64);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_GROUP_COMMIT, "8", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.group_commit, 8);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_GROUP_COMMIT, "0", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.group_commit, 0);
	/* More than 64 subtransactions in one group would overflow the subxid cache. */
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_GROUP_COMMIT, "65", err, sizeof err), 0);
	ck_assert(strstr(err, "--group-commit"));
	ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_GROUP_COMMIT, "yes", err, sizeof err), 0);
	cm_config_free(&cfg);
	setenv("CLAWMESH_GROUP_COMMIT", "off", 1);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.group_commit, 0);
	cm_config_free(&cfg);
	unsetenv("CLAWMESH_GROUP_COMMIT");
}
END_TEST

START_TEST(rate_limit)
{
	struct cm_config cfg;
	char err[256];
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.rate_limit, 0); /* off by default */
	ck_assert_uint_eq(cfg.rate_burst, 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_LIMIT, "5", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.rate_limit, 5);
	ck_assert_uint_eq(cfg.rate_burst, 10); /* at least 10 */
	cfg.rate_burst = 0;
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_LIMIT, "50", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.rate_burst, 50); /* one second's worth */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_BURST, "3", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.rate_burst, 3); /* given: kept */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_LIMIT, "100000", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_LIMIT, "off", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.rate_limit, 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_LIMIT, "0", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_RATE_BURST, "1000000", err, sizeof err), 0);
	const char *bad_limits[] = {"100001", "-1", "1.5", "5/s", "", " 5", "5 ", "on", "99999999999999999999"};
	for (size_t i = 0; i < sizeof bad_limits / sizeof *bad_limits; i++) {
		err[0] = '\0';
		ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_RATE_LIMIT, bad_limits[i], err, sizeof err), 0);
		ck_assert_msg(strstr(err, "--rate-limit"), "%s: %s", bad_limits[i], err);
	}
	const char *bad_bursts[] = {"0", "1000001", "-3", "x", "10k", ""};
	for (size_t i = 0; i < sizeof bad_bursts / sizeof *bad_bursts; i++) {
		err[0] = '\0';
		ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_RATE_BURST, bad_bursts[i], err, sizeof err), 0);
		ck_assert_msg(strstr(err, "--rate-burst"), "%s: %s", bad_bursts[i], err);
	}
	ck_assert_uint_eq(cfg.rate_limit, 0); /* a refused value changes nothing */
	ck_assert_uint_eq(cfg.rate_burst, 1000000);
	cm_config_free(&cfg);

	setenv("CLAWMESH_RATE_LIMIT", "20", 1);
	setenv("CLAWMESH_RATE_BURST", "40", 1);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.rate_limit, 20);
	ck_assert_uint_eq(cfg.rate_burst, 40);
	cm_config_free(&cfg);
	setenv("CLAWMESH_RATE_LIMIT", "lots", 1);
	ck_assert_int_lt(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert(strstr(err, "CLAWMESH_RATE_LIMIT"));
	cm_config_free(&cfg);
	unsetenv("CLAWMESH_RATE_LIMIT");
	unsetenv("CLAWMESH_RATE_BURST");
}
END_TEST

START_TEST(combinations)
{
	struct cm_config cfg;
	char err[256];
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	/* Plain HTTP beyond loopback needs the explicit opt-in (or TLS). */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_LISTEN, "0.0.0.0:8080", err, sizeof err), 0);
	ck_assert_int_lt(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert(strstr(err, "--allow-insecure-http"));
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_ALLOW_INSECURE_HTTP, NULL, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_ALLOW_INSECURE_HTTP, "false", err, sizeof err), 0);
	ck_assert_int_lt(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_TLS_CERT, "c.pem", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_TLS_KEY, "k.pem", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_LISTEN, "127.0.0.2:8080", err, sizeof err), 0);
	ck_assert(cm_listen_is_loopback("127.0.0.2"));
	ck_assert(cm_listen_is_loopback("::1"));
	ck_assert(!cm_listen_is_loopback("::"));
	ck_assert(!cm_listen_is_loopback("192.168.1.10"));
	/* Fewer connections than threads would leave a thread that never stops. */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_THREADS, "8", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_MAX_CONNECTIONS, "4", err, sizeof err), 0);
	ck_assert_int_lt(cm_config_finish(&cfg, err, sizeof err), 0);
	ck_assert(strstr(err, "--max-connections"));
	cm_config_free(&cfg);
}
END_TEST

START_TEST(per_ip_connection_limit)
{
	struct cm_config cfg;
	char err[256];
	unsetenv("CLAWMESH_MAX_CONNECTIONS_PER_IP");
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.max_connections_per_ip, 0); /* off: behind a proxy every client is one address */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_MAX_CONNECTIONS_PER_IP, "64", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.max_connections_per_ip, 64);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_MAX_CONNECTIONS_PER_IP, "0", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.max_connections_per_ip, 0);
	const char *bad[] = {"-1", "x", "100001", "", "12k"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_int_lt(cm_config_set(&cfg, CM_OPT_MAX_CONNECTIONS_PER_IP, bad[i], err, sizeof err), 0);
		ck_assert_msg(strstr(err, "--max-connections-per-ip"), "%s: %s", bad[i], err);
	}
	ck_assert_uint_eq(cfg.max_connections_per_ip, 0);
	cm_config_free(&cfg);
	setenv("CLAWMESH_MAX_CONNECTIONS_PER_IP", "8", 1);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.max_connections_per_ip, 8);
	cm_config_free(&cfg);
	setenv("CLAWMESH_MAX_CONNECTIONS_PER_IP", "lots", 1);
	ck_assert_int_lt(cm_config_init(&cfg, err, sizeof err), 0);
	cm_config_free(&cfg);
	unsetenv("CLAWMESH_MAX_CONNECTIONS_PER_IP");
}
END_TEST

START_TEST(slow_client_deadlines)
{
	struct cm_config cfg;
	char err[256];
	const char *env[] = {"CLAWMESH_HEADER_TIMEOUT", "CLAWMESH_BODY_TIMEOUT", "CLAWMESH_BODY_MIN_RATE"};
	for (size_t i = 0; i < 3; i++)
		unsetenv(env[i]);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.header_timeout, 20); /* on by default, with the per-address limit off */
	ck_assert_uint_eq(cfg.body_timeout, 20);
	ck_assert_uint_eq(cfg.body_min_rate, 500);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_HEADER_TIMEOUT, "2", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_BODY_TIMEOUT, "3", err, sizeof err), 0);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_BODY_MIN_RATE, "1KiB", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.header_timeout, 2);
	ck_assert_uint_eq(cfg.body_timeout, 3);
	ck_assert_uint_eq(cfg.body_min_rate, 1024);
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_HEADER_TIMEOUT, "0", err, sizeof err), 0); /* off */
	ck_assert_int_eq(cm_config_set(&cfg, CM_OPT_BODY_MIN_RATE, "0", err, sizeof err), 0);
	ck_assert_uint_eq(cfg.header_timeout, 0);
	ck_assert_uint_eq(cfg.body_min_rate, 0);
	const struct {
		int opt;
		const char *value, *flag;
	} bad[] = {
		{CM_OPT_HEADER_TIMEOUT, "-1", "--header-timeout"}, {CM_OPT_HEADER_TIMEOUT, "3601", "--header-timeout"},
		{CM_OPT_HEADER_TIMEOUT, "10s", "--header-timeout"}, {CM_OPT_HEADER_TIMEOUT, "", "--header-timeout"},
		{CM_OPT_BODY_TIMEOUT, "x", "--body-timeout"},       {CM_OPT_BODY_TIMEOUT, "99999", "--body-timeout"},
		{CM_OPT_BODY_MIN_RATE, "-5", "--body-min-rate"},    {CM_OPT_BODY_MIN_RATE, "1 KiB", "--body-min-rate"},
		{CM_OPT_BODY_MIN_RATE, "65MiB", "--body-min-rate"}, {CM_OPT_BODY_MIN_RATE, "fast", "--body-min-rate"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_int_lt(cm_config_set(&cfg, bad[i].opt, bad[i].value, err, sizeof err), 0);
		ck_assert_msg(strstr(err, bad[i].flag), "%s: %s", bad[i].value, err);
	}
	ck_assert_uint_eq(cfg.header_timeout, 0); /* a refused value changes nothing */
	ck_assert_uint_eq(cfg.body_timeout, 3);
	cm_config_free(&cfg);
	setenv("CLAWMESH_HEADER_TIMEOUT", "10", 1);
	setenv("CLAWMESH_BODY_TIMEOUT", "0", 1);
	setenv("CLAWMESH_BODY_MIN_RATE", "2k", 1);
	ck_assert_int_eq(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert_uint_eq(cfg.header_timeout, 10);
	ck_assert_uint_eq(cfg.body_timeout, 0);
	ck_assert_uint_eq(cfg.body_min_rate, 2048);
	cm_config_free(&cfg);
	setenv("CLAWMESH_BODY_MIN_RATE", "slow", 1);
	ck_assert_int_lt(cm_config_init(&cfg, err, sizeof err), 0);
	ck_assert(strstr(err, "CLAWMESH_BODY_MIN_RATE"));
	cm_config_free(&cfg);
	for (size_t i = 0; i < 3; i++)
		unsetenv(env[i]);
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, sizes);
	tcase_add_test(tc, durations);
	tcase_add_test(tc, listen);
	tcase_add_test(tc, env_and_flags);
	tcase_add_test(tc, memory_limits_and_secret_guard);
	tcase_add_test(tc, group_commit);
	tcase_add_test(tc, rate_limit);
	tcase_add_test(tc, combinations);
	tcase_add_test(tc, per_ip_connection_limit);
	tcase_add_test(tc, slow_client_deadlines);
	suite_add_tcase(s, tc);
	return s;
}
