/* SPDX-License-Identifier: MIT */
/*
 * Start-up runs before main in a preloaded process, where the heap may be
 * the one being interposed: option parsing and tier discovery must not call
 * malloc & co. at all.  This executable replaces the malloc family (glibc's
 * supported way; its internal calls, e.g. from fopen or opendir, come here
 * too) and counts calls while start-up work runs, including error paths.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "../support.h"
#include "topology.h"

#include "../malloc_count.h"


static struct hy_topo topo; /* static: the test must not need the heap either */

static void startup(const char *root)
{
	struct hy_config cfg;
	struct hy_err err;

	hy_config_defaults(&cfg);
	(void)hy_config_load_env(&cfg, &err);
	(void)hy_topo_discover(&topo, root, &cfg, &err);
	(void)hy_topo_refresh_free(&topo);
}

static void check(const char *what, const char *root)
{
	calls = 0;
	armed = 1;
	startup(root);
	armed = 0;
	if (calls)
		fprintf(stderr, "  %s: %d heap calls\n", what, calls);
	CU_ASSERT_EQUAL(calls, 0);
}

static void test_counter_works(void)
{
	/* the seam itself: a real allocation while armed is counted */
	armed = 1;
	calls = 0;
	void *volatile p = malloc(16); /* volatile: not elided */
	free(p);
	armed = 0;
	if (calls != 2)
		fprintf(stderr, "  counted %d heap calls, want 2\n", calls);
	CU_ASSERT_EQUAL(calls, 2);
}

static void test_live_startup(void)
{
	setenv("HYBRID_EPOCH", "250ms", 1);
	setenv("HYBRID_FAST_NODES", "0", 1);
	setenv("HYBRID_SLOW_NODES", "0", 1);
	check("live, loopback", "/");
	unsetenv("HYBRID_FAST_NODES");
	unsetenv("HYBRID_SLOW_NODES");
	check("live, discovered", "/");
	unsetenv("HYBRID_EPOCH");
}

static void test_error_paths(void)
{
	setenv("HYBRID_EPOCH", "5x", 1);
	check("bad value", "/");
	unsetenv("HYBRID_EPOCH");
	setenv("HYBRID_EPOK", "1s", 1);
	check("unknown name", "/");
	unsetenv("HYBRID_EPOK");
	check("fixture three-tier", HY_FIXTURES "/three-tier");
	check("fixture cpuset", HY_FIXTURES "/cpuset");
	check("fixture bad-distance", HY_FIXTURES "/bad-distance");
	check("fixture bad-meminfo", HY_FIXTURES "/bad-meminfo");
	check("fixture missing", HY_FIXTURES "/does-not-exist");
}

static const struct hy_test tests[] = {
	HY_TEST(test_counter_works),
	HY_TEST(test_live_startup),
	HY_TEST(test_error_paths),
};

static const char *can_count(void)
{
	return SANITIZED ? "test_noalloc replaces malloc, which a sanitizer build owns" : NULL;
}

static const struct hy_suite suites[] = {HY_SUITE(NULL, tests, can_count)};

int main(int argc, char **argv)
{
	return hy_cunit_main(argc - 1, argv + 1, "noalloc", suites, 1);
}
