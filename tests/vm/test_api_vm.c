/* SPDX-License-Identifier: MIT */
/*
 * Hint semantics of the public API on real tiers (inside tests/vm/tiered-vm,
 * topology 2tier: node 0 DRAM with the CPUs, node 1 slow), through
 * libhybrid.so and hybrid.h only:
 *
 *   test_api_vm [BACKEND]           BACKEND: auto (default), async, sync
 *
 *   HOT      a HOT range is placed on DRAM and stays there while DRAM is over
 *            the process's limit: the unhinted (HYBRID) pages that sit on DRAM
 *            unwritten are demoted instead, down to the limit;
 *   COLD     a range on DRAM re-hinted COLD moves to the slow node;
 *   PIN      a range on the slow node re-hinted PIN and written every epoch
 *            never moves, while a HYBRID range written the same way is
 *            promoted (the control: tracking sees those writes);
 *   DEFAULT  a range re-hinted DEFAULT is no longer managed, has the default
 *            policy again and, written every epoch, stays where it is.
 * hybrid_where() is checked against the nodes on the way: its tier bytes are
 * its node bytes (node 0 = tier 0, node 1 = tier 1).
 *
 * The kernel's NUMA balancing must be off (--sysctl kernel.numa_balancing=0):
 * PIN and DEFAULT ranges have the default policy, and the kernel would move
 * their pages itself.  Exits 0 pass, 1 fail, 77 cannot run here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <hybrid.h>

#include "../support.h"

#define PG  4096UL
#define MIB (1UL << 20)

#define LIMIT  (16 * MIB)
#define HOT_SZ (8 * MIB)
#define B_SZ   (16 * MIB)
#define SMALL  (512 * 1024UL)
#define SLACK  (2 * MIB) /* one migration batch */

static struct hybrid_stats stats(void)
{
	struct hybrid_stats s = {.size = sizeof(s)};

	hybrid_get_stats(&s);
	return s;
}

/* Bytes of [p, p+len) on node; checks where()'s own consistency on the way. */
static uint64_t on_node(const char *name, const void *p, size_t len, int node)
{
	struct hybrid_where w = {.size = sizeof(w)};
	uint64_t n0 = 0, n1 = 0, bytes = 0;
	int rc = hybrid_where(p, len, &w);

	CHECK(rc == 0, "%s: hybrid_where: %s", name, hybrid_strerror(rc));
	for (int i = 0; i < w.nnodes; i++) {
		if (w.node[i].node == 0)
			n0 = w.node[i].bytes;
		if (w.node[i].node == 1)
			n1 = w.node[i].bytes;
		if (w.node[i].node == node)
			bytes = w.node[i].bytes;
	}
	CHECK(w.ntiers == 2 && w.tier_bytes[0] == n0 && w.tier_bytes[1] == n1,
	      "%s: where: tiers %llu/%llu, nodes %llu/%llu", name,
	      (unsigned long long)w.tier_bytes[0], (unsigned long long)w.tier_bytes[1],
	      (unsigned long long)n0, (unsigned long long)n1);
	return bytes;
}

static uint64_t managed(const void *p, size_t len)
{
	struct hybrid_where w = {.size = sizeof(w)};

	hybrid_where(p, len, &w);
	return w.managed_bytes;
}

static void touch(char *p, size_t len)
{
	for (size_t off = 0; off < len; off += PG)
		(*(volatile char *)(p + off))++;
}

static char *map(const char *name, size_t len, int hint)
{
	char *p;
	int rc = hybrid_mmap((void **)&p, len, hint, 0);

	if (rc) {
		printf("FAIL: hybrid_mmap %s: %s\n", name, hybrid_strerror(rc));
		exit(1);
	}
	memset(p, 1, len);
	return p;
}

static void hint(const char *name, void *p, size_t len, int h)
{
	int rc = hybrid_madvise(p, len, h);

	CHECK(rc == 0, "hybrid_madvise %s: %s", name, hybrid_strerror(rc));
}

/* n epochs; the pinned, default and control ranges written in each (each
 * epoch waited for as long as it takes, HY_WAIT_CEILING at most: a hang). */
static void epochs(char *p, char *d, char *x, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t e = stats().epochs;
		double until = now_s() + HY_WAIT_CEILING;

		/* written until the epoch has passed, not once before it: on a
		 * loaded machine two epochs can go by between two of our turns,
		 * and the control then looks cold in one of them */
		do {
			touch(p, SMALL);
			touch(d, SMALL);
			touch(x, SMALL);
			usleep(10000);
		} while (stats().epochs == e && now_s() < until);
		CHECK(stats().epochs > e, "no epoch within %.0f s", HY_WAIT_CEILING);
	}
}

static void report(const char *name, const void *p, size_t len)
{
	printf("%-8s %5.1f MiB: node 0 %6.2f MiB, node 1 %6.2f MiB\n", name, (double)len / MIB,
	       (double)on_node(name, p, len, 0) / MIB, (double)on_node(name, p, len, 1) / MIB);
}

int main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "auto";
	struct hybrid_option o[] = {
		{"backend", backend},	{"epoch", "200ms"},    {"track_overhead", "100"},
		{"promote_rate", "0"}, {"dram_limit", "16M"}, {"free_low", "1"},
		{"free_high", "2"},
	};
	struct hybrid_options opts = {.size = sizeof(opts),
				      .flags = HYBRID_INIT_IGNORE_ENV,
				      .noptions = sizeof(o) / sizeof(*o),
				      .options = o};
	char err[256] = "";
	int rc, mode = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	opts.errbuf = err;
	opts.errbuf_len = sizeof(err);
	rc = hybrid_init(&opts);
	if (rc == -ENODEV)
		hy_skip("libhybrid runs unmanaged here (one tier?)");
	if (rc) {
		printf("FAIL: hybrid_init: %s %s\n", hybrid_strerror(rc), err);
		return 1;
	}
	bool tracking = strcmp(stats().backend, "off") != 0;
	printf("backend %s\n", stats().backend);

	/*
	 * Phase 1, under the DRAM limit: placement by hint at first touch, then
	 * re-hints; the pinned, default and control ranges are written in every
	 * epoch, and the control gets promoted.
	 */
	char *a = map("hot", HOT_SZ, HYBRID_HINT_HOT);
	char *c = map("cold", 4 * MIB, HYBRID_HINT_HOT); /* on DRAM first, re-hinted below */
	char *p = map("pin", SMALL, HYBRID_HINT_COLD);
	char *d = map("default", SMALL, HYBRID_HINT_COLD);
	char *x = map("control", SMALL, HYBRID_HINT_HYBRID);
	CHECK(on_node("hot", a, HOT_SZ, 0) == HOT_SZ, "HOT range not placed on DRAM");
	CHECK(on_node("cold", c, 4 * MIB, 0) == 4 * MIB, "HOT range not placed on DRAM");
	CHECK(on_node("pin", p, SMALL, 1) == SMALL, "COLD range not placed on the slow node");
	CHECK(on_node("control", x, SMALL, 1) == SMALL, "HYBRID range not placed on the slow node");

	hint("cold", c, 4 * MIB, HYBRID_HINT_COLD);
	hint("pin", p, SMALL, HYBRID_HINT_PIN);
	hint("default", d, SMALL, HYBRID_HINT_DEFAULT);
	CHECK(managed(d, SMALL) == 0, "DEFAULT range still managed");
	CHECK(syscall(SYS_get_mempolicy, &mode, NULL, 0, d, 2 /* MPOL_F_ADDR */) == 0 &&
		      mode == 0,
	      "DEFAULT range has policy %d, not MPOL_DEFAULT", mode);
	CHECK(managed(p, SMALL) == SMALL && managed(c, 4 * MIB) == 4 * MIB,
	      "re-hinted ranges unmanaged");
	epochs(p, d, x, 6);
	if (tracking)
		CHECK(on_node("control", x, SMALL, 0) >= SMALL * 9 / 10,
		      "control: promoted pages, written every epoch, were demoted");

	/*
	 * Phase 2, over the limit: 16 MiB more of ours on DRAM (placed HOT,
	 * re-hinted HYBRID, never written): they are the coldest, and are
	 * demoted down to the limit; the HOT range and the written control stay.
	 */
	char *b = map("hybrid", B_SZ, HYBRID_HINT_HOT);
	hint("hybrid", b, B_SZ, HYBRID_HINT_HYBRID);
	CHECK(managed(b, B_SZ) == B_SZ, "re-hinted range unmanaged");
	epochs(p, d, x, 6);

	report("hot", a, HOT_SZ);
	report("hybrid", b, B_SZ);
	report("cold", c, 4 * MIB);
	report("pin", p, SMALL);
	report("default", d, SMALL);
	report("control", x, SMALL);
	struct hybrid_stats s = stats();
	printf("promoted %llu pages, demoted %llu, epochs %llu\n",
	       (unsigned long long)s.promote_pages, (unsigned long long)s.demote_pages,
	       (unsigned long long)s.epochs);

	CHECK(on_node("hot", a, HOT_SZ, 0) == HOT_SZ, "HOT: pages left DRAM under the limit");
	CHECK(on_node("hybrid", b, B_SZ, 0) + HOT_SZ + on_node("control", x, SMALL, 0) <=
		      LIMIT + SLACK,
	      "HYBRID pages on DRAM not demoted down to the limit");
	CHECK(on_node("hybrid", b, B_SZ, 1) >= B_SZ - (LIMIT - HOT_SZ),
	      "HYBRID: too few pages demoted");
	CHECK(on_node("cold", c, 4 * MIB, 1) == 4 * MIB, "COLD: not all on the slow node");
	CHECK(on_node("pin", p, SMALL, 1) == SMALL, "PIN: pages moved");
	CHECK(on_node("default", d, SMALL, 1) == SMALL, "DEFAULT: pages moved");
	CHECK(managed(d, SMALL) == 0, "DEFAULT: managed again");
	if (tracking)
		CHECK(on_node("control", x, SMALL, 0) >= SMALL * 9 / 10,
		      "control: promoted pages, written every epoch, were demoted");
	CHECK(hybrid_shutdown() == 0, "hybrid_shutdown");
	return checks_done("test_api_vm");
}
