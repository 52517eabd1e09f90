/* The slow-client rule of reaper.c: when a request's head or body is past its deadline. */
#include "clawmesh/config.h"
#include "clawmesh/reaper.h"

#include <check.h>

static struct cm_config with(unsigned head, unsigned grace, size_t rate)
{
	struct cm_config c = {0};
	c.header_timeout = head;
	c.body_timeout = grace;
	c.body_min_rate = rate;
	return c;
}

START_TEST(head_deadline)
{
	struct cm_config c = with(20, 20, 500);
	ck_assert(!cm_reap_due(&c, false, 0, 0));
	ck_assert(!cm_reap_due(&c, false, 20000, 0));
	ck_assert(cm_reap_due(&c, false, 20001, 0));
	ck_assert(cm_reap_due(&c, false, 20001, 1000000)); /* body bytes do not extend a head */
	c.header_timeout = 0;                              /* off */
	ck_assert(!cm_reap_due(&c, false, 1000LL * 1000 * 1000, 0));
}
END_TEST

START_TEST(body_rate_after_grace)
{
	struct cm_config c = with(20, 20, 500);
	ck_assert(!cm_reap_due(&c, true, 20000, 0)); /* the grace: nothing needed yet */
	ck_assert(cm_reap_due(&c, true, 20001, 0));
	/* A second more for every 500 bytes in: 5,000 bytes by 30 s is on time, 4,999 is not. */
	ck_assert(!cm_reap_due(&c, true, 30000, 5000));
	ck_assert(cm_reap_due(&c, true, 30001, 5000));
	ck_assert(cm_reap_due(&c, true, 30000, 4999));
	/* A large import at the floor is never cut: no total deadline. */
	ck_assert(!cm_reap_due(&c, true, 20000 + 2000000000LL, 1000000000000ULL));
	ck_assert(!cm_reap_due(&c, true, 3600LL * 1000 * 24, 500ULL * 3600 * 24));
	/* Either value 0 turns the body rule off. */
	c.body_min_rate = 0;
	ck_assert(!cm_reap_due(&c, true, 1000LL * 1000 * 1000, 0));
	c = with(20, 0, 500);
	ck_assert(!cm_reap_due(&c, true, 1000LL * 1000 * 1000, 0));
	/* A head deadline off leaves the body's on. */
	c = with(0, 2, 1000);
	ck_assert(cm_reap_due(&c, true, 3001, 999));
	ck_assert(!cm_reap_due(&c, true, 3000, 1000));
}
END_TEST

Suite *cm_test_suite(void)
{
	Suite *s = suite_create("reaper");
	TCase *tc = tcase_create("rule");
	tcase_add_test(tc, head_deadline);
	tcase_add_test(tc, body_rate_after_grace);
	suite_add_tcase(s, tc);
	return s;
}
