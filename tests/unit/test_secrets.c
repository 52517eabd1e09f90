/* The secret guard: every kind's shapes and look-alikes, the mask and its configuration syntax,
 * JSON trees, and inputs built to make a careless matcher go quadratic. */
#include "clawmesh/secrets.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Made-up credentials of the real shapes. */
#define AWS_KEY "AKIAIOSFODNN7EXAMPLE"
#define GH_TOKEN "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
#define SLACK_BOT "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
#define OPENAI_KEY "sk-proj-Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7"
#define JWT_TOKEN                                                                                 \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi" \
	"aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
#define CM_TOKEN "cm_Zm9vYmFyYmF6cXV4cXV1eHh5eXp6MDEyMzQ1Njc4OTA"
#define PEM_RSA                                                                                   \
	"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0\n" \
	"-----END RSA PRIVATE KEY-----\n"

/* Scans a copy in a buffer of exactly len bytes, so ASan catches any read past len. */
static enum cm_secret_kind scan_len(const char *s, size_t len, unsigned mask)
{
	char *b = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(b);
	memcpy(b, s, len);
	enum cm_secret_kind k = cm_secret_scan(b, len, mask);
	free(b);
	return k;
}

static enum cm_secret_kind scan(const char *s)
{
	return scan_len(s, strlen(s), CM_SECRET_ALL);
}

/* total bytes of unit repeated (the last copy cut short), without a NUL; caller frees. */
static char *repeat(const char *unit, size_t total)
{
	size_t n = strlen(unit);
	char *b = malloc(total);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < total; i++)
		b[i] = unit[i % n];
	return b;
}

static enum cm_secret_kind scan_repeated(const char *unit, unsigned mask)
{
	size_t total = 256 * 1024;
	char *b = repeat(unit, total);
	enum cm_secret_kind k = cm_secret_scan(b, total, mask);
	free(b);
	return k;
}

static unsigned bit(enum cm_secret_kind k)
{
	return 1u << k;
}

START_TEST(test_data_has_the_right_lengths)
{
	ck_assert_uint_eq(strlen(AWS_KEY), 4 + 16);
	ck_assert_uint_eq(strlen(GH_TOKEN), 4 + 36);
	ck_assert_uint_eq(strlen(CM_TOKEN), 3 + 43);
}
END_TEST

START_TEST(kind_names)
{
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_NONE), "");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_PRIVATE_KEY), "private_key");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_AWS_ACCESS_KEY), "aws_access_key_id");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_GITHUB_TOKEN), "github_token");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_SLACK_TOKEN), "slack_token");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_API_KEY), "api_key");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_JWT), "jwt");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_CLAWMESH_TOKEN), "clawmesh_token");
	ck_assert_str_eq(cm_secret_kind_name(CM_SECRET_KIND_COUNT), "");
	ck_assert_uint_eq(CM_SECRET_ALL, 0xFEu);
}
END_TEST

/* "-----BEGIN AAA… PRIVATE KEY-----" with a label of n bytes; caller frees. */
static char *pem_with_label(size_t n)
{
	const char *tail = " PRIVATE KEY";
	char *s = malloc(n + 32);
	ck_assert_ptr_nonnull(s);
	strcpy(s, "-----BEGIN ");
	memset(s + strlen(s), 'A', n - strlen(tail));
	strcpy(s + strlen("-----BEGIN ") + n - strlen(tail), " PRIVATE KEY-----");
	return s;
}

START_TEST(private_keys)
{
	ck_assert_int_eq(scan(PEM_RSA), CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("{\"deploy\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\"}"),
			 CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("key: -----BEGIN EC PRIVATE KEY-----"), CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("-----BEGIN DSA PRIVATE KEY-----"), CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("x\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJ"), CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("pkcs8: -----BEGIN PRIVATE KEY-----"), CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF"), CM_SECRET_PRIVATE_KEY);
	ck_assert_int_eq(scan("--------BEGIN PRIVATE KEY-----"), CM_SECRET_PRIVATE_KEY);

	ck_assert_int_eq(scan("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+g\n-----END CERTIFICATE-----"),
			 CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN RSA PUBLIC KEY-----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN PGP PUBLIC KEY BLOCK-----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("the words BEGIN PUBLIC KEY and BEGIN CERTIFICATE"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("BEGIN RSA PRIVATE KEY"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("----BEGIN PRIVATE KEY-----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN PRIVATE KEY----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN PRIVATE KEY"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN PRIVATE KEYS-----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----BEGIN rsa private key-----"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("-----END RSA PRIVATE KEY-----"), CM_SECRET_NONE);
	/* The label is bounded: 64 bytes pass, 65 do not. */
	char *pem = pem_with_label(64);
	ck_assert_int_eq(scan(pem), CM_SECRET_PRIVATE_KEY);
	free(pem);
	pem = pem_with_label(65);
	ck_assert_int_eq(scan(pem), CM_SECRET_NONE);
	free(pem);
}
END_TEST

START_TEST(aws_access_keys)
{
	ck_assert_int_eq(scan(AWS_KEY), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan("aws_access_key_id = ASIAY34FZKBOKMUTVV7A\n"), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan("{\"id\":\"ABIAY34FZKBOKMUTVV7A\"}"), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan("creds ACCA0123456789ABCDEF"), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan("key_AKIAIOSFODNN7EXAMPLE."), CM_SECRET_AWS_ACCESS_KEY);

	ck_assert_int_eq(scan("AKIA"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("MAKIAGE makes AKIA-branded things"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("XAKIAIOSFODNN7EXAMPLE"), CM_SECRET_NONE);  /* preceded */
	ck_assert_int_eq(scan("1AKIAIOSFODNN7EXAMPLE"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("AKIAIOSFODNN7EXAMPLEX"), CM_SECRET_NONE);  /* 17 */
	ck_assert_int_eq(scan("AKIAIOSFODNN7EXAMPLEx"), CM_SECRET_NONE);  /* followed */
	ck_assert_int_eq(scan("AKIAIOSFODNN7EXAMPL"), CM_SECRET_NONE);    /* 15 */
	ck_assert_int_eq(scan("AKIAIOSFODNN7EXAMPL "), CM_SECRET_NONE);
	ck_assert_int_eq(scan("AKIAiosfodnn7example"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("AKIDIOSFODNN7EXAMPLE"), CM_SECRET_NONE);
}
END_TEST

START_TEST(github_tokens)
{
	ck_assert_int_eq(scan(GH_TOKEN), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("GITHUB_TOKEN=gho_16C7e42F292c6912E7710c838347Ae178B4a"), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("{\"t\":\"ghu_16C7e42F292c6912E7710c838347Ae178B4aXYZ\"}"), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("ghs_16C7e42F292c6912E7710c838347Ae178B4a and more"), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("ghr_16C7e42F292c6912E7710c838347Ae178B4a"), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("pat: github_pat_11ABCDEFG0123456789_abcdefghij"), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("github_pat_1234567890123456789012"), CM_SECRET_GITHUB_TOKEN); /* 22 */

	ck_assert_int_eq(scan("ghp_"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("use a ghp_ token from settings"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("ghp_16C7e42F292c6912E7710c838347Ae178B4"), CM_SECRET_NONE); /* 35 */
	ck_assert_int_eq(scan("ghp_16C7e42F292c6912E7710c838347Ae1-8B4a"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("ghx_16C7e42F292c6912E7710c838347Ae178B4a"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("github_pat_123456789012345678901"), CM_SECRET_NONE); /* 21 */
	ck_assert_int_eq(scan("github_pat_"), CM_SECRET_NONE);
}
END_TEST

START_TEST(slack_tokens)
{
	ck_assert_int_eq(scan(SLACK_BOT), CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("SLACK_TOKEN=xoxp-1234-5678-abcdef"), CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("[\"xoxa-2-0123456789\"]"), CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("xoxr-0123456789"), CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("xoxs-0123456789"), CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("refresh: xoxe-1-abcdefghij"), CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("{\"hook\":\"https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\"}"),
			 CM_SECRET_SLACK_TOKEN);
	ck_assert_int_eq(scan("post to https://hooks.slack.com/services/T0000/B0000/abcdefgh"), CM_SECRET_SLACK_TOKEN);

	ck_assert_int_eq(scan("xoxb-012345678"), CM_SECRET_NONE); /* 9 */
	ck_assert_int_eq(scan("xoxb-"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("xoxz-0123456789"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("xoxb_0123456789"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("xoxb-01234 56789"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("https://hooks.slack.com/services/"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("https://hooks.slack.com/services/T0000/B0000/abcdefg"), CM_SECRET_NONE); /* 19 */
	ck_assert_int_eq(scan("https://api.slack.com/apps/A0123456789/incoming-webhooks"), CM_SECRET_NONE);
}
END_TEST

START_TEST(api_keys)
{
	ck_assert_int_eq(scan(OPENAI_KEY), CM_SECRET_API_KEY);
	ck_assert_int_eq(scan("ANTHROPIC_API_KEY=sk-ant-api03-Xk9_wP2rL5tY8uI1oE4aS7dF0gH3jK6l"), CM_SECRET_API_KEY);
	ck_assert_int_eq(scan("{\"openai\":\"sk-abcdefghijklmnopqrst\"}"), CM_SECRET_API_KEY); /* 20 */
	ck_assert_int_eq(scan("key=sk-0123456789ABCDEFGHIJ_-"), CM_SECRET_API_KEY);

	ck_assert_int_eq(scan("sk-learn"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("a task-list for a risk-free rollout using sk-learn"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("task-abcdefghijklmnopqrstuvwxyz"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("risk-abcdefghijklmnopqrstuvwxyz"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("disk-0123456789abcdefghijkl"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("sk-abcdefghijklmnopqrs"), CM_SECRET_NONE); /* 19 */
	ck_assert_int_eq(scan("sk-abcdefghijklmnopqrs.tuv"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("sk-"), CM_SECRET_NONE);
}
END_TEST

START_TEST(jwts)
{
	ck_assert_int_eq(scan(JWT_TOKEN), CM_SECRET_JWT);
	ck_assert_int_eq(scan("Authorization: Bearer " JWT_TOKEN "\r\n"), CM_SECRET_JWT);
	ck_assert_int_eq(scan("{\"id_token\":\"" JWT_TOKEN "\"}"), CM_SECRET_JWT);
	/* Unsigned ("alg":"none"): an empty third segment, at the very end. */
	ck_assert_int_eq(scan("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."), CM_SECRET_JWT);
	ck_assert_int_eq(scan("eyJ0123456789.eyJ0123456789."), CM_SECRET_JWT);

	ck_assert_int_eq(scan("eyJ"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("the prefix eyJ means base64 of {\""), CM_SECRET_NONE);
	ck_assert_int_eq(scan("eyJhbGciOiJIUzI1NiJ9"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0"), CM_SECRET_NONE); /* no 2nd '.' */
	ck_assert_int_eq(scan("eyJ012345678.eyJ0123456789."), CM_SECRET_NONE); /* 9 */
	ck_assert_int_eq(scan("eyJ0123456789.eyJ012345678."), CM_SECRET_NONE);
	ck_assert_int_eq(scan("eyJ0123456789.xyJ0123456789."), CM_SECRET_NONE);
	ck_assert_int_eq(scan("x" JWT_TOKEN), CM_SECRET_NONE); /* preceded by base64url */
	ck_assert_int_eq(scan("-" JWT_TOKEN), CM_SECRET_NONE);
}
END_TEST

START_TEST(clawmesh_tokens)
{
	ck_assert_int_eq(scan(CM_TOKEN), CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan("Authorization: Bearer " CM_TOKEN "\r\n"), CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan("{\"token\":\"cm_q-7_Zm9vYmFyYmF6cXV4cXV1eHh5eXp6MDEyMzQ1Njc\"}"),
			 CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan("export TOKEN=" CM_TOKEN), CM_SECRET_CLAWMESH_TOKEN);

	ck_assert_int_eq(scan("cm_"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("cm_Zm9vYmFyYmF6cXV4cXV1eHh5eXp6MDEyMzQ1Njc4OT"), CM_SECRET_NONE);  /* 42 */
	ck_assert_int_eq(scan("cm_Zm9vYmFyYmF6cXV4cXV1eHh5eXp6MDEyMzQ1Njc4OT!"), CM_SECRET_NONE);
	ck_assert_int_eq(scan(CM_TOKEN "A"), CM_SECRET_NONE); /* 44 */
	ck_assert_int_eq(scan(CM_TOKEN "-"), CM_SECRET_NONE);
	ck_assert_int_eq(scan("x" CM_TOKEN), CM_SECRET_NONE);
	ck_assert_int_eq(scan("the cm_ prefix names clawmesh tokens"), CM_SECRET_NONE);
	/* Candidates inside one base64url run, and a new run after a rejected one. */
	ck_assert_int_eq(scan(CM_TOKEN "A " CM_TOKEN), CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan("cm_cm_x.cm_" CM_TOKEN), CM_SECRET_CLAWMESH_TOKEN);
	char *b = repeat("cm_", 46);
	ck_assert_int_eq(scan_len(b, 46, CM_SECRET_ALL), CM_SECRET_CLAWMESH_TOKEN);
	free(b);
	b = repeat("cm_", 47);
	ck_assert_int_eq(scan_len(b, 47, CM_SECRET_ALL), CM_SECRET_NONE);
	free(b);
	b = repeat("cm_", 49); /* the run is 49, but the candidate at 3 sees 43 */
	ck_assert_int_eq(scan_len(b, 49, CM_SECRET_ALL), CM_SECRET_CLAWMESH_TOKEN);
	free(b);
}
END_TEST

START_TEST(leftmost_wins)
{
	ck_assert_int_eq(scan(AWS_KEY " then " JWT_TOKEN), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan(JWT_TOKEN " then " AWS_KEY), CM_SECRET_JWT);
	ck_assert_int_eq(scan(CM_TOKEN " " PEM_RSA), CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan(PEM_RSA " " CM_TOKEN), CM_SECRET_PRIVATE_KEY);
	const char *both = JWT_TOKEN " then " AWS_KEY;
	ck_assert_int_eq(scan_len(both, strlen(both), CM_SECRET_ALL & ~bit(CM_SECRET_JWT)),
			 CM_SECRET_AWS_ACCESS_KEY);
}
END_TEST

START_TEST(mask)
{
	static const struct {
		const char *text;
		enum cm_secret_kind kind;
	} samples[] = {
		{PEM_RSA, CM_SECRET_PRIVATE_KEY}, {AWS_KEY, CM_SECRET_AWS_ACCESS_KEY},
		{GH_TOKEN, CM_SECRET_GITHUB_TOKEN}, {SLACK_BOT, CM_SECRET_SLACK_TOKEN},
		{"https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXX", CM_SECRET_SLACK_TOKEN},
		{OPENAI_KEY, CM_SECRET_API_KEY}, {JWT_TOKEN, CM_SECRET_JWT},
		{CM_TOKEN, CM_SECRET_CLAWMESH_TOKEN},
	};
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		const char *t = samples[i].text;
		size_t n = strlen(t);
		enum cm_secret_kind k = samples[i].kind;
		ck_assert_int_eq(scan_len(t, n, bit(k)), k);
		ck_assert_int_eq(scan_len(t, n, CM_SECRET_ALL), k);
		ck_assert_int_eq(scan_len(t, n, CM_SECRET_ALL & ~bit(k)), CM_SECRET_NONE);
		ck_assert_int_eq(scan_len(t, n, 0), CM_SECRET_NONE);
		/* Bits outside CM_SECRET_ALL enable nothing. */
		ck_assert_int_eq(scan_len(t, n, ~CM_SECRET_ALL), CM_SECRET_NONE);
	}
}
END_TEST

START_TEST(lengths_and_nul_bytes)
{
	ck_assert_int_eq(scan_len("", 0, CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(cm_secret_scan(NULL, 0, CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_len("note\0" AWS_KEY, 25, CM_SECRET_ALL), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan_len("\0\0\0" CM_TOKEN "\0", 50, CM_SECRET_ALL), CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan_len(AWS_KEY "\0x", 22, CM_SECRET_ALL), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan_len("AKIAIOSFODNN7EXAMPL\0E", 21, CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_len("-----BEGIN\0RSA PRIVATE KEY-----", 31, CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_len("sk-abcdefghij\0klmnopqrst", 24, CM_SECRET_ALL), CM_SECRET_NONE);
	/* Only s[0..len) counts: a token cut by len is gone, and what follows len does not extend it. */
	ck_assert_int_eq(scan_len(AWS_KEY, 19, CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_len(AWS_KEY "X", 20, CM_SECRET_ALL), CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan_len(CM_TOKEN "A", 46, CM_SECRET_ALL), CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan_len(PEM_RSA, 30, CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_len(PEM_RSA, 31, CM_SECRET_ALL), CM_SECRET_PRIVATE_KEY);
	/* UTF-8 and high bytes around a token. */
	ck_assert_int_eq(scan("caf\xc3\xa9 " GH_TOKEN " \xff\xfe"), CM_SECRET_GITHUB_TOKEN);
	ck_assert_int_eq(scan("\xc3\xa9" AWS_KEY), CM_SECRET_AWS_ACCESS_KEY);
}
END_TEST

START_TEST(kinds_parse)
{
	unsigned m = 12345;
	ck_assert_int_eq(cm_secret_kinds_parse("on", &m), 0);
	ck_assert_uint_eq(m, CM_SECRET_ALL);
	m = 0;
	ck_assert_int_eq(cm_secret_kinds_parse("all", &m), 0);
	ck_assert_uint_eq(m, CM_SECRET_ALL);
	ck_assert_int_eq(cm_secret_kinds_parse("off", &m), 0);
	ck_assert_uint_eq(m, 0);
	m = 7;
	ck_assert_int_eq(cm_secret_kinds_parse("none", &m), 0);
	ck_assert_uint_eq(m, 0);
	ck_assert_int_eq(cm_secret_kinds_parse("jwt", &m), 0);
	ck_assert_uint_eq(m, bit(CM_SECRET_JWT));
	ck_assert_int_eq(cm_secret_kinds_parse("jwt,api_key", &m), 0);
	ck_assert_uint_eq(m, bit(CM_SECRET_JWT) | bit(CM_SECRET_API_KEY));
	ck_assert_int_eq(cm_secret_kinds_parse("jwt,jwt", &m), 0);
	ck_assert_uint_eq(m, bit(CM_SECRET_JWT));
	ck_assert_int_eq(cm_secret_kinds_parse("private_key,aws_access_key_id,github_token,slack_token,"
					       "api_key,jwt,clawmesh_token",
					       &m),
			 0);
	ck_assert_uint_eq(m, CM_SECRET_ALL);
	for (unsigned k = CM_SECRET_NONE + 1; k < CM_SECRET_KIND_COUNT; k++) {
		ck_assert_int_eq(cm_secret_kinds_parse(cm_secret_kind_name(k), &m), 0);
		ck_assert_uint_eq(m, 1u << k);
	}

	static const char *const bad[] = {
		"", ",", "jwt,", ",jwt", "jwt,,api_key", "JWT", "On", "jwt ,api_key", "jwt, api_key",
		" jwt", "bogus", "jwt,bogus", "on,jwt", "jwt,none", "all,off", "aws", "github",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		m = 0xABCu;
		ck_assert_msg(cm_secret_kinds_parse(bad[i], &m) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_uint_eq(m, 0xABCu); /* untouched */
	}
	ck_assert_int_eq(cm_secret_kinds_parse(NULL, &m), -1);
}
END_TEST

static enum cm_secret_kind scan_doc(const char *json, unsigned mask)
{
	cJSON *doc = cJSON_Parse(json);
	ck_assert_ptr_nonnull(doc);
	enum cm_secret_kind k = cm_secret_scan_json(doc, mask);
	cJSON_Delete(doc);
	return k;
}

START_TEST(json_trees)
{
	ck_assert_int_eq(scan_doc("{\"notes\":[1,true,null,{\"deep\":[\"ok\",{\"k\":\"key: " AWS_KEY "\"}]}]}",
				  CM_SECRET_ALL),
			 CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan_doc("[[[[\"" JWT_TOKEN "\"]]]]", CM_SECRET_ALL), CM_SECRET_JWT);
	ck_assert_int_eq(scan_doc("\"" CM_TOKEN "\"", CM_SECRET_ALL), CM_SECRET_CLAWMESH_TOKEN);
	/* In an object member's name. */
	ck_assert_int_eq(scan_doc("{\"config\":{\"" OPENAI_KEY "\":true}}", CM_SECRET_ALL), CM_SECRET_API_KEY);
	ck_assert_int_eq(scan_doc("{\"a\":[{\"" GH_TOKEN "\":null}]}", CM_SECRET_ALL), CM_SECRET_GITHUB_TOKEN);
	/* A PEM block as JSON carries it, with escaped newlines. */
	ck_assert_int_eq(scan_doc("{\"key\":\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----\"}",
				  CM_SECRET_ALL),
			 CM_SECRET_PRIVATE_KEY);
	/* Document order: the first secret met is the one reported. */
	ck_assert_int_eq(scan_doc("{\"a\":\"" JWT_TOKEN "\",\"b\":\"" AWS_KEY "\"}", CM_SECRET_ALL), CM_SECRET_JWT);
	ck_assert_int_eq(scan_doc("{\"a\":[\"x\",[\"" CM_TOKEN "\"]],\"b\":\"" AWS_KEY "\"}", CM_SECRET_ALL),
			 CM_SECRET_CLAWMESH_TOKEN);
	ck_assert_int_eq(scan_doc("{\"a\":[[[1],[2]],[3]],\"b\":\"" AWS_KEY "\"}", CM_SECRET_ALL),
			 CM_SECRET_AWS_ACCESS_KEY);
	/* The mask applies to trees too. */
	ck_assert_int_eq(scan_doc("{\"a\":\"" JWT_TOKEN "\",\"b\":\"" AWS_KEY "\"}", bit(CM_SECRET_AWS_ACCESS_KEY)),
			 CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(scan_doc("{\"a\":\"" JWT_TOKEN "\"}", CM_SECRET_ALL & ~bit(CM_SECRET_JWT)), CM_SECRET_NONE);
	ck_assert_int_eq(scan_doc("{\"a\":\"" JWT_TOKEN "\"}", 0), CM_SECRET_NONE);

	/* Clean trees, including numbers that look like nothing and look-alike words. */
	ck_assert_int_eq(scan_doc("{\"user.preferences\":{\"theme\":\"dark\",\"tools\":[\"sk-learn\",\"task-list\"],"
				  "\"n\":12345678901234567890,\"ok\":false,\"cert\":\"-----BEGIN CERTIFICATE-----\"},"
				  "\"empty\":{},\"list\":[],\"s\":\"\"}",
				  CM_SECRET_ALL),
			 CM_SECRET_NONE);
	ck_assert_int_eq(scan_doc("[]", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_doc("42", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(cm_secret_scan_json(NULL, CM_SECRET_ALL), CM_SECRET_NONE);
}
END_TEST

START_TEST(json_subtree_only)
{
	/* Given one member, its own name and its siblings are the parent's business, not its tree's. */
	cJSON *doc = cJSON_Parse("{\"" OPENAI_KEY "\":\"clean\",\"value\":{\"k\":\"v\"},\"tags\":[\"" AWS_KEY "\"]}");
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(cm_secret_scan_json(cJSON_GetObjectItemCaseSensitive(doc, "value"), CM_SECRET_ALL),
			 CM_SECRET_NONE);
	ck_assert_int_eq(cm_secret_scan_json(cJSON_GetObjectItemCaseSensitive(doc, OPENAI_KEY), CM_SECRET_ALL),
			 CM_SECRET_NONE);
	ck_assert_int_eq(cm_secret_scan_json(cJSON_GetObjectItemCaseSensitive(doc, "tags"), CM_SECRET_ALL),
			 CM_SECRET_AWS_ACCESS_KEY);
	ck_assert_int_eq(cm_secret_scan_json(doc, CM_SECRET_ALL), CM_SECRET_API_KEY);
	cJSON_Delete(doc);

	cJSON *raw = cJSON_CreateRaw("{\"k\":\"" SLACK_BOT "\"}");
	ck_assert_int_eq(cm_secret_scan_json(raw, CM_SECRET_ALL), CM_SECRET_SLACK_TOKEN);
	cJSON_Delete(raw);
}
END_TEST

/* [[…[x, 0]…, 0], 0]: every level leaves a sibling pending, so the walk's stack must hold them all. */
static cJSON *deep_tree(size_t depth, const char *leaf, const char *after)
{
	cJSON *root = cJSON_CreateArray();
	cJSON *cur = root;
	for (size_t i = 0; i < depth; i++) {
		cJSON *a = cJSON_CreateArray();
		cJSON_AddItemToArray(cur, a);
		cJSON_AddItemToArray(cur, cJSON_CreateNumber((double)i));
		cur = a;
	}
	cJSON_AddItemToArray(cur, cJSON_CreateString(leaf));
	if (after)
		cJSON_AddItemToArray(root, cJSON_CreateString(after));
	return root;
}

START_TEST(json_deep_trees)
{
	/* Deeper than cJSON_Parse allows (1000), as a hand-built tree could be. */
	cJSON *t = deep_tree(20000, "clean", NULL);
	ck_assert_int_eq(cm_secret_scan_json(t, CM_SECRET_ALL), CM_SECRET_NONE);
	cJSON_Delete(t);
	t = deep_tree(20000, AWS_KEY, NULL);
	ck_assert_int_eq(cm_secret_scan_json(t, CM_SECRET_ALL), CM_SECRET_AWS_ACCESS_KEY);
	cJSON_Delete(t);
	t = deep_tree(20000, "clean", CM_TOKEN);
	ck_assert_int_eq(cm_secret_scan_json(t, CM_SECRET_ALL), CM_SECRET_CLAWMESH_TOKEN);
	cJSON_Delete(t);

	/* The deepest a parsed body can be. */
	const char *leaf = "\"" JWT_TOKEN "\"";
	size_t depth = 999, n = strlen(leaf);
	char *s = calloc(1, 2 * depth + n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, '[', depth);
	memcpy(s + depth, leaf, n);
	memset(s + depth + n, ']', depth);
	ck_assert_int_eq(scan_doc(s, CM_SECRET_ALL), CM_SECRET_JWT);
	free(s);
}
END_TEST

/* Inputs that would make a matcher which re-reads runs quadratic; only the answers are checked. */
START_TEST(adversarial)
{
	ck_assert_int_eq(scan_repeated("sk-", CM_SECRET_ALL), CM_SECRET_API_KEY); /* sk- + 20 of [sk-]: a match */
	ck_assert_int_eq(scan_repeated("sk-", CM_SECRET_ALL & ~bit(CM_SECRET_API_KEY)), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("sk-abcdefghijklmnopqrs ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("eyJ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("eyJ0123456789.", CM_SECRET_ALL), CM_SECRET_JWT);
	ck_assert_int_eq(scan_repeated("eyJ012345678.", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("eyJ0123456789.eyJ0123456789 ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("-----BEGIN ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("-", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("-----BEGIN AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "
				       "PRIVATE KEY-----",
				       CM_SECRET_ALL),
			 CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("-----BEGIN PRIVATE KEY---- ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("AKIA", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("AKIA012345678901234 ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("cm_0123456789012345678901234567890123456789_- ", CM_SECRET_ALL),
			 CM_SECRET_NONE); /* 44 */
	ck_assert_int_eq(scan_repeated("cm_012345678901234567890123456789012345678- ", CM_SECRET_ALL),
			 CM_SECRET_NONE); /* 42 */
	ck_assert_int_eq(scan_repeated("ghp_", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("github_pat_", CM_SECRET_ALL), CM_SECRET_GITHUB_TOKEN); /* its own chars */
	ck_assert_int_eq(scan_repeated("github_pat_012345678901234567890 ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("xoxb-012345678 ", CM_SECRET_ALL), CM_SECRET_NONE);
	ck_assert_int_eq(scan_repeated("https://hooks.slack.com/services/", CM_SECRET_ALL), CM_SECRET_NONE);
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("secrets");
	TCase *tc = tcase_create("detect");
	tcase_add_test(tc, test_data_has_the_right_lengths);
	tcase_add_test(tc, kind_names);
	tcase_add_test(tc, private_keys);
	tcase_add_test(tc, aws_access_keys);
	tcase_add_test(tc, github_tokens);
	tcase_add_test(tc, slack_tokens);
	tcase_add_test(tc, api_keys);
	tcase_add_test(tc, jwts);
	tcase_add_test(tc, clawmesh_tokens);
	tcase_add_test(tc, leftmost_wins);
	tcase_add_test(tc, mask);
	tcase_add_test(tc, lengths_and_nul_bytes);
	tcase_add_test(tc, kinds_parse);
	suite_add_tcase(s, tc);
	TCase *json = tcase_create("json");
	tcase_add_test(json, json_trees);
	tcase_add_test(json, json_subtree_only);
	tcase_add_test(json, json_deep_trees);
	suite_add_tcase(s, json);
	TCase *adv = tcase_create("adversarial");
	tcase_add_test(adv, adversarial);
	suite_add_tcase(s, adv);
	return s;
}
