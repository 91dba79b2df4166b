/* SPDX-License-Identifier: MIT */
/*
 * Tier discovery over the fixture trees of tests/fixtures/sysfs (one per
 * machine shape, plus malformed ones), and once over the live system,
 * checked against libnuma.
 */
#include <errno.h>
#include <numa.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "../support.h"
#include "topology.h"

#define GiB (1ULL << 30)

static struct hy_topo *topo;
static struct hy_err err;

/* Discover fixture `name`; cfg options as "name=value" pairs, NULL-ended. */
static int discover(const char *name, const char *const *opts)
{
	struct hy_config cfg;
	char root[512];
	int rc;

	hy_config_defaults(&cfg);
	for (; opts && *opts; opts += 2)
		CU_ASSERT_EQUAL_FATAL(
			hy_config_set(&cfg, hy_config_lookup(opts[0]), opts[1], HY_SRC_ENV, &err), 0);
	snprintf(root, sizeof(root), "%s/%s", HY_FIXTURES, name);
	memset(&err, 0, sizeof(err));
	rc = hy_topo_discover(topo, root, &cfg, &err);
	return rc;
}

static int nodes_of(int tier, const char *want)
{
	char buf[128];
	if (tier >= topo->ntiers)
		return 0;
	return !strcmp(hy_nm_format(&topo->tier[tier].nodes, buf, sizeof(buf)), want);
}

static void test_one_node(void)
{
	CU_ASSERT_EQUAL_FATAL(discover("one-node", NULL), 0);
	CU_ASSERT_EQUAL(topo->nnodes, 1);
	CU_ASSERT_EQUAL(topo->ntiers, 1);
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_SINGLE);
	CU_ASSERT(nodes_of(0, "0"));
	CU_ASSERT_EQUAL(topo->node[0].mem_total, 16 * GiB);
	CU_ASSERT_EQUAL(topo->node[0].mem_free, 12 * GiB);
	CU_ASSERT_EQUAL(topo->tier[0].mem_total, 16 * GiB);
	CU_ASSERT(topo->node[0].has_cpu);
	CU_ASSERT_EQUAL(topo->node[0].demote_to, -1);
	CU_ASSERT_EQUAL(topo->node[0].kernel_tier, 4);
	CU_ASSERT_EQUAL(topo->kernel_ntiers, 1);
	CU_ASSERT_FALSE(topo->loopback);
	CU_ASSERT_EQUAL(hy_topo_distance(topo, 0, 0), 10);
}

static void test_two_socket(void)
{
	/* Two DRAM nodes, equal HMAT numbers: one tier, nothing to tier. */
	CU_ASSERT_EQUAL_FATAL(discover("two-socket", NULL), 0);
	CU_ASSERT_EQUAL(topo->nnodes, 2);
	CU_ASSERT_EQUAL(topo->ntiers, 1);
	CU_ASSERT(nodes_of(0, "0-1"));
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_SINGLE);
	CU_ASSERT_EQUAL(hy_topo_distance(topo, 0, 1), 21);
	CU_ASSERT(topo->has_hmat);
}

static void test_hmat_cpuless(void)
{
	/* The kernel shows one tier (6.1-like); HMAT says node 1 is ~4x slower. */
	CU_ASSERT_EQUAL_FATAL(discover("hmat-cpuless", NULL), 0);
	CU_ASSERT_EQUAL(topo->kernel_ntiers, 1);
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_HMAT);
	CU_ASSERT_EQUAL_FATAL(topo->ntiers, 2);
	CU_ASSERT(nodes_of(0, "0"));
	CU_ASSERT(nodes_of(1, "1"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, 1);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->demote_to, -1);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->read_latency, 350);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->write_bandwidth, 4000);
	CU_ASSERT_FALSE(hy_topo_node(topo, 1)->has_cpu);
}

static void test_three_tier(void)
{
	CU_ASSERT_EQUAL_FATAL(discover("three-tier", NULL), 0);
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_KERNEL_TIERS);
	CU_ASSERT_EQUAL(topo->kernel_ntiers, 3);
	CU_ASSERT_EQUAL_FATAL(topo->ntiers, 3);
	CU_ASSERT(nodes_of(0, "0") && nodes_of(1, "1") && nodes_of(2, "2"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, 1);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->demote_to, 2);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 2)->demote_to, -1);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 2)->tier, 2);
	CU_ASSERT_EQUAL(topo->tier[2].mem_total, 64 * GiB);
}

static void test_dax_kmem(void)
{
	CU_ASSERT_EQUAL_FATAL(discover("dax-kmem", NULL), 0);
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_KERNEL_TIERS);
	CU_ASSERT_EQUAL_FATAL(topo->ntiers, 2);
	CU_ASSERT(nodes_of(0, "0") && nodes_of(1, "1"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->kernel_tier, 22);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, 1);
}

static void test_cpuless_by_distance(void)
{
	/* No kernel tiers, no HMAT; node ids 0, 2, 3 (a gap). */
	CU_ASSERT_EQUAL_FATAL(discover("cpuless-distance", NULL), 0);
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_CPULESS);
	CU_ASSERT_EQUAL(topo->kernel_ntiers, 0);
	CU_ASSERT_FALSE(topo->has_hmat);
	CU_ASSERT_EQUAL_FATAL(topo->ntiers, 3);
	CU_ASSERT(nodes_of(0, "0") && nodes_of(1, "2") && nodes_of(2, "3"));
	CU_ASSERT_EQUAL(hy_topo_distance(topo, 0, 3), 30);
	CU_ASSERT_EQUAL(hy_topo_distance(topo, 2, 3), 40);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, 2);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 2)->demote_to, 3);
	CU_ASSERT_PTR_NULL(hy_topo_node(topo, 1));
}

static void test_explicit_overrides_sysfs(void)
{
	/* The kernel says 0 fast, 1 slow; configuration says the opposite. */
	const char *const opts[] = {"fast_nodes", "1", "slow_nodes", "0", NULL};
	CU_ASSERT_EQUAL_FATAL(discover("dax-kmem", opts), 0);
	CU_ASSERT_EQUAL(topo->source, HY_TOPO_EXPLICIT);
	CU_ASSERT(nodes_of(0, "1") && nodes_of(1, "0"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->demote_to, 0);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, -1);

	/* Only the slow side named: the rest is fast. */
	const char *const slow_only[] = {"slow_nodes", "1", NULL};
	CU_ASSERT_EQUAL_FATAL(discover("three-tier", slow_only), 0);
	CU_ASSERT(nodes_of(0, "0,2") && nodes_of(1, "1"));
	CU_ASSERT_EQUAL(topo->ntiers, 2);

	/* A full tier list, reversed, and 'all'. */
	const char *const list[] = {"tiers", "2/1/0", NULL};
	CU_ASSERT_EQUAL_FATAL(discover("three-tier", list), 0);
	CU_ASSERT(nodes_of(0, "2") && nodes_of(1, "1") && nodes_of(2, "0"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 2)->demote_to, 1);
	const char *const all[] = {"fast_nodes", "all", NULL};
	CU_ASSERT_EQUAL_FATAL(discover("three-tier", all), 0);
	CU_ASSERT_EQUAL(topo->ntiers, 1);
	CU_ASSERT(nodes_of(0, "0-2"));
}

static void test_loopback(void)
{
	const char *const opts[] = {"fast_nodes", "0", "slow_nodes", "0", NULL};
	CU_ASSERT_EQUAL_FATAL(discover("one-node", opts), 0);
	CU_ASSERT_EQUAL(topo->ntiers, 2);
	CU_ASSERT(topo->loopback);
	CU_ASSERT(nodes_of(0, "0") && nodes_of(1, "0"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, 0);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->tier, 0);

	const char *const chain[] = {"tiers", "0/0/0", NULL};
	CU_ASSERT_EQUAL_FATAL(discover("one-node", chain), 0);
	CU_ASSERT_EQUAL(topo->ntiers, 3);
	CU_ASSERT(topo->loopback);
}

static void test_explicit_bad_nodes(void)
{
	const char *const missing[] = {"slow_nodes", "5", NULL};
	CU_ASSERT_EQUAL(discover("one-node", missing), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HYBRID_SLOW_NODES: node 5 does not exist"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "memory nodes: 0"));

	const char *const missing_tier[] = {"tiers", "0/3", NULL};
	CU_ASSERT_EQUAL(discover("dax-kmem", missing_tier), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HYBRID_TIERS: node 3"));
}

static void test_cpuset(void)
{
	/* Mems_allowed 0,2: node 1 exists but is not ours. */
	CU_ASSERT_EQUAL_FATAL(discover("cpuset", NULL), 0);
	CU_ASSERT_EQUAL(topo->nnodes, 3);
	CU_ASSERT_FALSE(hy_topo_node(topo, 1)->allowed);
	CU_ASSERT_EQUAL_FATAL(topo->ntiers, 2);
	CU_ASSERT(nodes_of(0, "0") && nodes_of(1, "2"));
	CU_ASSERT_EQUAL(hy_topo_node(topo, 0)->demote_to, 2);
	CU_ASSERT_EQUAL(hy_topo_node(topo, 1)->tier, -1);

	const char *const opts[] = {"slow_nodes", "1", NULL};
	CU_ASSERT_EQUAL(discover("cpuset", opts), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "node 1 is outside this process's cpuset"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Mems_allowed 0,2"));
}

static void expect_bad(const char *fixture, const char *file, const char *what)
{
	int rc = discover(fixture, NULL);

	CU_ASSERT(rc < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, file));
	if (what)
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, what));
	if (rc >= 0 || !strstr(err.msg, file))
		fprintf(stderr, "  %s: rc %d, message: %s\n", fixture, rc, err.msg);
}

static void test_malformed(void)
{
	expect_bad("bad-distance", "node1/distance", "fewer distances");
	expect_bad("bad-meminfo", "node0/meminfo", "no MemTotal/MemFree");
	expect_bad("empty-meminfo", "node0/meminfo", "no MemTotal/MemFree");
	expect_bad("bad-online", "node/online", "not a node list");
	expect_bad("bad-tier", "memory_tier22/nodelist", "not a node list");
	expect_bad("bad-hmat", "node1/access0/initiators/read_latency", "not a number");
	expect_bad("does-not-exist", "node/online", "missing");
}

static void test_refresh(void)
{
	CU_ASSERT_EQUAL_FATAL(discover("three-tier", NULL), 0);
	topo->node[1].mem_free = 1;
	topo->tier[1].mem_free = 1;
	CU_ASSERT_EQUAL(hy_topo_refresh_free(topo), 0);
	CU_ASSERT_EQUAL(topo->node[1].mem_free, 15 * GiB);
	CU_ASSERT_EQUAL(topo->tier[1].mem_free, 15 * GiB);
}

/* The live system, against an independent reader (libnuma). */
static void test_live_system(void)
{
	int rc = hy_topo_discover(topo, "/", NULL, &err);

	CU_ASSERT_EQUAL_FATAL(rc, 0);
	if (numa_available() < 0)
		return;
	CU_ASSERT_EQUAL(topo->nnodes, numa_num_configured_nodes());
	CU_ASSERT(topo->ntiers >= 1);
	for (int i = 0; i < topo->nnodes; i++) {
		long long freeb = 0, total = numa_node_size64(topo->node[i].id, &freeb);
		CU_ASSERT_EQUAL((long long)topo->node[i].mem_total, total);
		CU_ASSERT_EQUAL(topo->dist[i][i], numa_distance(topo->node[i].id, topo->node[i].id));
	}
}

static const struct hy_test tests[] = {
	HY_TEST(test_one_node),		 HY_TEST(test_two_socket),
	HY_TEST(test_hmat_cpuless),	 HY_TEST(test_three_tier),
	HY_TEST(test_dax_kmem),		 HY_TEST(test_cpuless_by_distance),
	HY_TEST(test_explicit_overrides_sysfs), HY_TEST(test_loopback),
	HY_TEST(test_explicit_bad_nodes), HY_TEST(test_cpuset),
	HY_TEST(test_malformed),	 HY_TEST(test_refresh),
	HY_TEST(test_live_system),
};

int main(int argc, char **argv)
{
	int rc;

	topo = calloc(1, sizeof(*topo));
	if (!topo)
		return 1;
	rc = hy_cunit_run(argc - 1, argv + 1, "topology", tests, sizeof(tests) / sizeof(tests[0]));
	free(topo);
	return rc;
}
