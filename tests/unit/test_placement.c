/* SPDX-License-Identifier: MIT */
/*
 * Placement: which nodes a tier's ranges prefer (over fixture machines), and
 * the real mbind/get_mempolicy round trip on this machine (node 0).
 * Where pages really land is checked in the tiered VM.
 */
#include <errno.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../support.h"
#include "kfeat.h"
#include "placement.h"

static struct hy_topo *topo;

static const char *nodes_for(const char *fixture, const char *slow, int tier)
{
	static char buf[64];
	struct hy_config cfg;
	struct hy_err err;
	struct hy_nodemask m;
	char root[512];

	hy_config_defaults(&cfg);
	if (slow)
		hy_config_set(&cfg, HY_OPT_TIERS, slow, HY_SRC_ENV, &err);
	snprintf(root, sizeof(root), "%s/%s", HY_FIXTURES, fixture);
	if (hy_topo_discover(topo, root, &cfg, &err))
		return "error";
	hy_place_nodes(topo, tier, &m);
	return hy_nm_format(&m, buf, sizeof(buf));
}

static void test_nearest_nodes(void)
{
	CU_ASSERT_STRING_EQUAL(nodes_for("three-tier", NULL, 2), "2");
	CU_ASSERT_STRING_EQUAL(nodes_for("three-tier", NULL, 0), "0");
	CU_ASSERT_STRING_EQUAL(nodes_for("three-tier", NULL, 3), "none");
	/* two slow nodes at distances 20 and 30 from the CPUs: the nearer one */
	CU_ASSERT_STRING_EQUAL(nodes_for("cpuless-distance", "0/2-3", 1), "2");
	/* equally near: both */
	CU_ASSERT_STRING_EQUAL(nodes_for("two-socket", "0/1", 1), "1");
	CU_ASSERT_STRING_EQUAL(nodes_for("two-socket", "0-1", 0), "0-1");
	/* the loopback pair: the same node */
	CU_ASSERT_STRING_EQUAL(nodes_for("one-node", "0/0", 1), "0");
}

static void test_mbind_round_trip(void)
{
	struct hy_kfeat k;
	struct hy_nodemask n0;
	size_t len = 64 * 4096;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int mode = -1;
	unsigned long mask[16] = {0};

	CU_ASSERT_FATAL(p != MAP_FAILED);
	hy_kfeat_probe(&k);
	hy_nm_zero(&n0);
	hy_nm_set(&n0, 0);
	CU_ASSERT_FALSE(hy_place_foreign_policy(p, &n0)); /* default policy: ours to set */
	CU_ASSERT_EQUAL(hy_place_range(p, len, &n0, k.preferred_many), 0);
	CU_ASSERT_EQUAL(get_mempolicy(&mode, mask, 1025, p, MPOL_F_ADDR), 0);
	CU_ASSERT_EQUAL(mode & 0xff, k.preferred_many ? MPOL_PREFERRED_MANY : MPOL_PREFERRED);
	CU_ASSERT_EQUAL(mask[0], 1);
	CU_ASSERT_FALSE(hy_place_foreign_policy(p, &n0)); /* ours is recognised */
	memset(p, 1, len);				  /* faults in under the policy */
	CU_ASSERT_EQUAL(p[len - 1], 1);

	/* the program binds part of it itself: that part is foreign now */
	CU_ASSERT_EQUAL(mbind(p, 4096, MPOL_BIND, mask, 1025, 0), 0);
	CU_ASSERT(hy_place_foreign_policy(p, &n0));
	CU_ASSERT_FALSE(hy_place_foreign_policy(p + 4096, &n0));
	struct hy_nodemask none;
	hy_nm_zero(&none);
	CU_ASSERT_EQUAL(hy_place_range(p, len, &none, k.preferred_many), -EINVAL);
	munmap(p, len);
}

static const struct hy_test tests[] = {
	HY_TEST(test_nearest_nodes),
	HY_TEST(test_mbind_round_trip),
};

int main(int argc, char **argv)
{
	int rc;

	topo = calloc(1, sizeof(*topo));
	rc = hy_cunit_run(argc - 1, argv + 1, "placement", tests, sizeof(tests) / sizeof(tests[0]));
	free(topo);
	return rc;
}
