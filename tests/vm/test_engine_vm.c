/* SPDX-License-Identifier: MIT */
/*
 * The engine on real tiers (run inside tests/vm/tiered-vm, 2tier): a hybrid
 * range is first placed on the slow node, page by page; a write-hot 10% of
 * it reaches DRAM within a few epochs while pages written in only one epoch
 * stay where they are; the data never changes.  With "reads" the hot 10% is
 * only read (what the rwp backend, Linux 7.3, sees and the others do not).
 *
 *   test_engine_vm BACKEND [OVERHEAD [MiB [reads]]]    BACKEND: rwp, async, sync
 *
 * Epochs are driven synchronously (hy_engine_epoch), with the promotion
 * rate unlimited.  OVERHEAD is the governor's target (HYBRID_TRACK_OVERHEAD):
 * 100 (the default here) tracks every page, since emulated costs in the VM
 * are not real costs, and the hot set must be on DRAM within 5 epochs.  With
 * a real target the governor sizes its sample from the fault cost measured
 * here -- from the speed of the emulation and of the host under it -- so the
 * limit follows the sample: 300 epochs, or as many as it takes the sampler to
 * arm four times the range's pages (pages_armed: four sweeps), whichever is
 * more, 1000 at most.  Within it async must get there; sync, whose fault
 * round trip under emulation costs milliseconds (so 1% buys a few faults per
 * epoch), must make progress - the number of epochs is reported either way.
 * Exits 0 pass, 1 fail, 77 cannot run here.
 */
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine.h"
#include "../support.h"

#define PG 4096UL


/* Nodes of n pages from p, into nodes[]. */
static void where(unsigned char *p, size_t n, int *nodes)
{
	void **addrs = malloc(n * sizeof(*addrs));
	for (size_t i = 0; i < n; i++)
		addrs[i] = p + i * PG;
	if (move_pages(0, n, addrs, NULL, nodes, 0))
		perror("move_pages query");
	free(addrs);
}

static uint64_t checksum(const unsigned char *p, size_t len)
{
	uint64_t s = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i += 8)
		s = (s ^ *(const uint64_t *)(p + i)) * 1099511628211ULL;
	return s;
}

int main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "async";
	const char *overhead = argc > 2 ? argv[2] : "100";
	size_t mib = argc > 3 ? strtoul(argv[3], NULL, 10) : 256;
	bool reads = argc > 4 && !strcmp(argv[4], "reads");
	volatile unsigned sink = 0;
	bool governed = strcmp(overhead, "100") != 0, progress_only = governed && !strcmp(backend, "sync");
	int ran = 0;
	size_t len = mib << 20, pages = len / PG, hot = pages / 10;
	struct fixture f;
	struct hy_topo *topo;
	struct hy_engine *e;
	struct hy_stats st;
	int *nodes = malloc(pages * sizeof(int)), slow, fast, reached = -1;
	unsigned char *p;
	uint64_t sum;

	/* the machine's tiers, two at least, and the backend asked for; else the
	 * program skips; unthrottled (overhead 100) means no fault budget either */
	fixture_up(&f, "backend=%s promote_rate=0 track_overhead=%s sync_fault_budget=%s", backend,
		   overhead, strcmp(overhead, "100") ? "2000" : "1000000");
	topo = f.topo;
	e = f.e;
	fast = hy_nm_next(&topo->tier[0].nodes, -1);
	slow = hy_nm_next(&topo->tier[topo->ntiers - 1].nodes, -1);
	printf("tiers %d, fast node %d, slow node %d, backend %s, overhead %s%%, %zu MiB, hot %zu "
	       "pages %s\n",
	       topo->ntiers, fast, slow, backend, overhead, mib, hot, reads ? "read" : "written");

	/* base pages: a transparent huge page moves whole, cold half and all,
	 * which is the THP case, tested on its own */
	fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE);
	p = f.mem;
	/* first touch: every page written once, with its own pattern */
	for (size_t i = 0; i < len; i += 8)
		*(uint64_t *)(p + i) = i * 2654435761u;
	sum = checksum(p, len);

	/* 1. placed on the slow node, every page */
	where(p, pages, nodes);
	size_t on_slow = 0;
	for (size_t i = 0; i < pages; i++)
		on_slow += nodes[i] == slow;
	printf("placement: %zu of %zu pages on slow node %d\n", on_slow, pages, slow);
	CHECK(on_slow == pages, "%zu pages not on the slow node", pages - on_slow);

	/* 2. the hot 10% written every epoch reaches DRAM; the rest stays */
	for (int ep = 1;; ep++) {
		size_t hot_fast = 0, cold_fast = 0;

		for (size_t i = 0; i < hot; i++)
			if (reads)
				sink += p[i * PG + 1];
			else
				p[i * PG] ^= 0xff; /* written, and undone next epoch */
		hy_engine_epoch(e);
		ran = ep;
		where(p, pages, nodes);
		for (size_t i = 0; i < pages; i++) {
			if (nodes[i] == fast && i < hot)
				hot_fast++;
			else if (nodes[i] == fast)
				cold_fast++;
		}
		if (ep <= 8 || ep % 10 == 0 || hot_fast * 100 >= hot * 95)
			printf("epoch %d: hot on DRAM %.1f%%, cold on DRAM %.2f%%\n", ep,
			       100.0 * hot_fast / hot, 100.0 * cold_fast / (pages - hot));
		if (reached < 0 && hot_fast * 100 >= hot * 95)
			reached = ep;
		CHECK(cold_fast * 100 <= (pages - hot) * 2, "epoch %d: %zu cold pages moved", ep,
		      cold_fast);
		hy_engine_stats(e, &st);
		if (ep >= 8 && (reached > 0 || (progress_only && st.promote_pages > 0)))
			break;
		if (!governed ? ep >= 8 : (ep >= 300 && st.pages_armed >= 4 * pages) || ep >= 1000)
			break;
	}
	/* flips: an even number of epochs leaves the hot bytes as they were */
	if (!reads && ran % 2) {
		for (size_t i = 0; i < hot; i++)
			p[i * PG] ^= 0xff;
	}
	hy_engine_stats(e, &st);
	printf("figures: 95%% of the hot set on DRAM after %d epochs (of %d run); armed %llu "
	       "page-epochs (%.2f times the range); promoted %llu pages, "
	       "demoted %llu, failures busy %llu access %llu nomem %llu absent %llu; "
	       "policy thread %.1f ms\n",
	       reached, ran, (unsigned long long)st.pages_armed, (double)st.pages_armed / (double)pages,
	       (unsigned long long)st.promote_pages, (unsigned long long)st.demote_pages,
	       (unsigned long long)st.fail_busy, (unsigned long long)st.fail_access,
	       (unsigned long long)st.fail_nomem, (unsigned long long)st.fail_absent,
	       st.policy_ns / 1e6);
	if (!governed)
		CHECK(reached > 0 && reached <= 5, "hot set not on DRAM within 5 epochs (%d)", reached);
	else if (!progress_only)
		CHECK(reached > 0, "hot set not on DRAM within %d epochs, %.2f times the range armed",
		      ran, (double)st.pages_armed / (double)pages);
	else
		CHECK(st.promote_pages > 0, "governed sync: no progress in %d epochs", ran);
	CHECK(checksum(p, len) == sum, "data changed");
	fixture_down(&f);
	return checks_done("test_engine_vm");
}
