/* SPDX-License-Identifier: MIT */
/*
 * The engine end to end on this machine, with the loopback tier pair (node
 * 0 as fast and slow tier): real userfaultfd tracking, real move_pages
 * calls (no-ops in the kernel), real placement.  Pages do not change node
 * here, so what is checked is the mechanism: what gets tracked, planned,
 * moved and counted, and that the data never changes.  Placement quality is
 * checked in the tiered VM.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support.h"
#include "engine.h"
#include "clock.h"
#include "engine_state.h"
#include "migrate.h"
#include "region.h"

#define MiB (1UL << 20)
#define PG  4096UL

static uint64_t sum(const unsigned char *p, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i += 64)
		s = s * 31 + p[i];
	return s;
}

static int tier_of(struct hy_engine *e, void *addr)
{
	struct hy_registry *r = hy_engine_registry(e);
	int t = -2;

	hy_reg_lock(r);
	struct hy_region *g = hy_reg_find(r, (uintptr_t)addr);
	if (g)
		t = hy_ps_tier(hy_reg_get(g, (uintptr_t)addr));
	hy_reg_unlock(r);
	return t;
}

static void hot_set_is_promoted(const char *backend)
{
	struct fixture f;
	size_t len = 64 * MiB, pages = len / PG, hot = pages / 10;
	unsigned char *p;
	struct hy_engine *e;
	struct hy_stats st;
	uint64_t before;

	/* unthrottled: every page tracked (sync: no fault budget either) */
	if (!fixture_up(&f, "tiers=0/0 backend=%s track_overhead=100 sync_fault_budget=1000000",
			backend) ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NORMAL))
		return;
	e = f.e;
	p = f.mem;
	for (size_t i = 0; i < pages; i++) /* first touch: every page written once */
		p[i * PG] = (unsigned char)i;
	before = sum(p, len);
	hy_engine_epoch(e);
	CU_ASSERT_EQUAL(tier_of(e, p), 1);	       /* learnt: on the slow tier */
	CU_ASSERT_EQUAL(tier_of(e, p + len - PG), 1);
	for (size_t i = 0; i < hot; i++) /* the hot 10%, written again */
		p[i * PG + 1] = 7;
	hy_engine_epoch(e);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.promote_pages, hot); /* written in two epochs: up */
	CU_ASSERT_EQUAL(st.promote_bytes, hot * PG);
	CU_ASSERT_EQUAL(tier_of(e, p), 0);
	CU_ASSERT_EQUAL(tier_of(e, p + (hot - 1) * PG), 0);
	CU_ASSERT_EQUAL(tier_of(e, p + hot * PG), 1); /* written once: stays */
	CU_ASSERT_EQUAL(st.epochs, 2);
	CU_ASSERT_EQUAL(st.managed_bytes, len);
	for (int k = 0; k < 4; k++)
		hy_engine_epoch(e);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.promote_pages, hot); /* nothing else was hot */
	for (size_t i = 0; i < hot; i++)
		p[i * PG + 1] = 0; /* undo, for the checksum */
	CU_ASSERT_EQUAL(sum(p, len), before);

	/* a DRAM limit set on the running engine: the overflow goes down */
	hy_engine_set_dram_limit(e, hot / 2 * PG);
	hy_engine_epoch(e);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.demote_pages, hot - hot / 2);
	CU_ASSERT_EQUAL(st.tier_bytes[0], hot * PG); /* counted before the moves */
	hy_engine_epoch(e);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.tier_bytes[0], hot / 2 * PG);
	hy_engine_set_dram_limit(e, 0);

	CU_ASSERT_EQUAL(hy_engine_unmanage(e, p + len / 2, len / 2), 0);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.managed_bytes, len / 2);
	CU_ASSERT_EQUAL(tier_of(e, p + len / 2), -2);
	fixture_down(&f);
}

static void test_async(void)
{
	hot_set_is_promoted("async");
}

static void test_sync(void)
{
	hot_set_is_promoted("sync");
}

/*
 * sync_fault_budget holds whatever else is set: with every page tracked
 * (track_overhead=100), and when the program, after epochs of writing
 * almost nothing (the governor then arms everything it may), writes every
 * page at once.  The handler stops at the budget: counted, not timed.
 */
static void test_sync_fault_budget(void)
{
	struct fixture f;
	size_t len = 16 * MiB, budget = 100;
	uint64_t before;
	struct hy_stats st;

	if (!fixture_up(&f, "tiers=0/0 backend=sync track_overhead=100 epoch=1s "
			    "sync_fault_budget=%zu", budget) ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return;
	memset(f.mem, 1, len);
	for (int ep = 0; ep < 8; ep++) {
		hy_engine_stats(f.e, &st);
		before = st.wp_faults;
		if (ep < 4)
			f.mem[0]++;	       /* almost nothing written */
		else
			memset(f.mem, ep, len); /* every page */
		hy_engine_epoch(f.e);
		hy_engine_stats(f.e, &st);
		CU_ASSERT(st.wp_faults - before <= budget);
		if (ep >= 5) /* armed by the epoch before: the budget is taken */
			CU_ASSERT_EQUAL(st.wp_faults - before, budget);
	}
	fixture_down(&f);
}

/*
 * promote_rate holds: with every page of 16 MiB due for promotion in every
 * epoch, no epoch promotes more than the rate allows (1 MiB/s x 1 s: 256
 * pages), and each promotes that much while pages wait.  The window is
 * fixed at the whole epoch (track_window=100): memset writes everything at
 * once, which an adaptive window would rightly take for a window too long.
 */
static void test_promote_rate(void)
{
	struct fixture f;
	size_t len = 16 * MiB, per_epoch = MiB / PG;
	uint64_t before;
	struct hy_stats st;

	if (!fixture_up(&f, "tiers=0/0 backend=async track_overhead=100 track_window=100 epoch=1s "
			"promote_rate=1M") ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return;
	memset(f.mem, 1, len);
	hy_engine_epoch(f.e);
	for (int ep = 0; ep < 6; ep++) {
		hy_engine_stats(f.e, &st);
		before = st.promote_pages;
		memset(f.mem, ep, len);
		hy_engine_epoch(f.e);
		hy_engine_stats(f.e, &st);
		CU_ASSERT_EQUAL(st.promote_pages - before, per_epoch);
	}
	fixture_down(&f);
}

/*
 * At the default overhead target the governor samples: the hot set is still
 * found (the rotating window reaches it, the twice rule then sees it), and
 * no cold page moves.
 *
 * How many epochs that takes follows the sample, and the governor sizes the
 * sample from the fault and arming costs it measures -- from the machine's
 * speed: idle, thousands of pages an epoch; under two CPU hogs a fault
 * measured at 16 us instead of 1, 1400 pages.  So the limit is counted in
 * what the sampler armed, not in epochs alone: within 200 epochs, or before
 * it has armed four times the range's pages (pages_armed: four sweeps over
 * it), whichever comes later; 2000 epochs at most.
 */
static void test_governed(void)
{
	struct fixture f;
	size_t len = 256 * MiB, pages = len / PG, hot = pages / 10, at = 0;
	unsigned char *p;
	struct hy_engine *e;
	struct hy_stats st;
	int ep;

	if (!fixture_up(&f, "tiers=0/0 backend=async track_overhead=1") ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NORMAL))
		return;
	e = f.e;
	p = f.mem;
	memset(p, 1, len);
	/* the hot set at the end of the range: the window must travel to it */
	for (ep = 1; ep <= 2000; ep++) {
		for (size_t i = pages - hot; i < pages; i++)
			p[i * PG] = (unsigned char)ep;
		hy_engine_epoch(e);
		hy_engine_stats(e, &st);
		if (st.promote_pages >= hot * 95 / 100) {
			at = (size_t)ep;
			break;
		}
		if (ep >= 200 && st.pages_armed >= 4 * pages)
			break;
	}
	printf("\n  governed (1%%): 95%% of a 10%% hot set promoted %s %d epochs; armed %llu "
	       "page-epochs in all, %.2f times the range\n",
	       at ? "after" : "NOT within", ep > 2000 ? 2000 : ep,
	       (unsigned long long)st.pages_armed, (double)st.pages_armed / (double)pages);
	CU_ASSERT(at > 0);
	CU_ASSERT(st.promote_pages <= hot); /* nothing cold went up */
	fixture_down(&f);
}

/* A clock in ns. */
static uint64_t clock_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * Run: spend at least `ns` of this thread's CPU time, and on until that is
 * a tenth of the time gone (the program ran, as the engine judges it, by
 * however much CPU a busy machine gives it; 120 s at most: a hang).
 */
static void spin_cpu(uint64_t ns)
{
	uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC), cpu, wall;
	volatile unsigned sink = 0;

	do {
		for (int i = 0; i < 1000; i++)
			sink += (unsigned)i;
		cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
		wall = clock_ns(CLOCK_MONOTONIC) - t0;
	} while ((cpu < ns || cpu * 10 < wall) && wall < 120ull * 1000000000u);
}

/*
 * The sweep waits for a program that did not run, and only for it: with
 * nothing written in the sample, a program asleep through the window (no
 * CPU) has the sweep go over the same chunks again; a program that ran and
 * wrote none of them has it move on (else a small sample whose first
 * chunks are cold never reaches the hot set: test_governed).
 */
static void test_sweep_waits_for_a_pause(void)
{
	struct fixture f;
	struct hy_region *g;
	size_t len = 256 * MiB, at;
	struct timespec nap = {0, 300 * 1000 * 1000};

	if (!fixture_up(&f, "tiers=0/0 backend=async track_sample=16M") ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return;
	memset(f.mem, 1, len);
	hy_engine_epoch(f.e); /* the first sample is armed */
	g = &f.e->reg.reg[0];
	CU_ASSERT(f.e->armed >= 1024);
	at = g->sweep_from;
	for (int ep = 0; ep < 4; ep++) { /* asleep: the same chunks again */
		nanosleep(&nap, NULL);
		hy_engine_epoch(f.e);
		CU_ASSERT_EQUAL(g->sweep_from, at);
	}
	for (int ep = 0; ep < 4; ep++) { /* running, writing none of it: on */
		spin_cpu(20 * 1000 * 1000);
		hy_engine_epoch(f.e);
		CU_ASSERT_NOT_EQUAL(g->sweep_from, at);
		at = g->sweep_from;
	}
	fixture_down(&f);
}

/*
 * A chunk whose pages are first seen in an epoch says so (hy_chunk.touched,
 * bit 0), the mark ages with the history, a tracked write does not set it
 * again, and pages refilled after they went away set it once more: the
 * window's measure of the bulk counts those pages as fresh (sampler.h).
 */
static void test_first_touch_marked(void)
{
	struct fixture f;
	struct hy_region *g;
	size_t len = 16 * HY_CHUNK_BYTES;

	if (!fixture_up(&f, "tiers=0/0 backend=async track_overhead=100") ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return;
	memset(f.mem, 1, len);
	hy_engine_epoch(f.e); /* populated: first touches */
	g = &f.e->reg.reg[0];
	CU_ASSERT_FATAL(g->nch >= 16);
	for (size_t k = 0; k < g->nch; k++)
		CU_ASSERT_EQUAL(g->ch[k].touched & 1, 1);
	memset(f.mem, 2, len);
	hy_engine_epoch(f.e); /* tracked writes, nothing new */
	for (size_t k = 0; k < g->nch; k++)
		CU_ASSERT_EQUAL(g->ch[k].touched & 3, 2);
	madvise(f.mem, len, MADV_DONTNEED);
	hy_engine_epoch(f.e); /* gone */
	memset(f.mem, 3, len);
	hy_engine_epoch(f.e); /* refilled: first seen again */
	for (size_t k = 0; k < g->nch; k++)
		CU_ASSERT_EQUAL(g->ch[k].touched & 1, 1);
	fixture_down(&f);
}

/*
 * State follows populated memory: a region's chunks of state appear when
 * its pages are first populated (all at once: new memory costs the scan's
 * budget nothing) and go when they are discarded -- found by the rotating
 * present scan, a budget of chunks per epoch (4 here), so an epoch never
 * goes over all of them.
 */
static void test_state_follows_use(void)
{
	struct fixture f;
	size_t len = 64 * HY_CHUNK_BYTES, big = (size_t)64 << 30, nch = 0;
	struct hy_registry *r;
	unsigned char *p, *sparse;
	int ep;

	if (!fixture_up(&f, "tiers=0/0 backend=async") ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return;
	p = f.mem;
	r = hy_engine_registry(f.e);
	/* 64 GiB reserved beside it, two pages touched */
	sparse = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	CU_ASSERT_FATAL(sparse != MAP_FAILED);
	CU_ASSERT_EQUAL(hy_engine_manage(f.e, sparse, big, HY_HINT_HYBRID), 0);
	sparse[0] = sparse[big - PG] = 1;
	hy_engine_set_scan_budget(f.e, 4);
	memset(p, 1, len);
	hy_engine_epoch(f.e);
	hy_engine_hold(f.e);
	nch = r->chunks;
	hy_engine_release(f.e);
	/* found at once (64, or 65 if the mapping is not chunk-aligned); the
	 * reservation: two */
	CU_ASSERT_EQUAL(nch, (((uintptr_t)p + len - 1) >> HY_CHUNK_SHIFT) -
				     ((uintptr_t)p >> HY_CHUNK_SHIFT) + 1 + 2);
	madvise(p, len, MADV_DONTNEED);
	hy_engine_epoch(f.e);
	hy_engine_hold(f.e);
	nch = r->chunks;
	hy_engine_release(f.e);
	CU_ASSERT(nch >= 64 + 2 - 4); /* one epoch went over four chunks at most */
	for (ep = 0; ep < 40 && nch > 2; ep++) {
		hy_engine_epoch(f.e);
		hy_engine_hold(f.e);
		nch = r->chunks;
		hy_engine_release(f.e);
	}
	printf("\n  64 chunks discarded: given back after %d more epochs (4 scanned per epoch)\n",
	       ep + 1);
	CU_ASSERT_EQUAL(nch, 2); /* all given back but the reservation's two */
	CU_ASSERT_EQUAL(hy_reg_check(r), 0);
	hy_engine_unmanage(f.e, sparse, big);
	munmap(sparse, big);
	fixture_down(&f);
}

static void test_foreign_policy_and_bad_ranges(void)
{
	struct fixture f;
	struct hy_engine *e;
	size_t len = 4 * MiB;
	unsigned long mask = 1;
	char *p;

	if (!fixture_up(&f, "tiers=0/0 backend=off"))
		return;
	e = f.e;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_EQUAL(mbind(p, len, MPOL_BIND, &mask, 2, 0), 0); /* the program's own */
	CU_ASSERT_EQUAL(hy_engine_manage(e, p, len, HY_HINT_HYBRID), -EPERM);
	CU_ASSERT_EQUAL(hy_engine_registry(e)->n, 0);
	CU_ASSERT_EQUAL(hy_engine_manage(e, NULL, len, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_engine_manage(e, p + 1, len, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_engine_manage(e, p, 100, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_engine_unmanage(e, p, 0), -EINVAL);
	fixture_down(&f);
	munmap(p, len);
}

/*
 * A range the engine cannot track is not managed at all: no registry entry,
 * and the placement it was given is taken back.  A forked child's tracker
 * refuses (its userfaultfd is the parent's), which makes the case real.
 */
/*
 * Shared memory re-hinted in part stays the tree's: the parts keep the
 * slot, each numbered in it from where it starts (a part's chunk base is
 * its own), and the shared bytes do not change.  Without it, a member's
 * hybrid_madvise made the tree's memory its own: that member then planned
 * moves of it beside the lead.
 */
static void test_shared_rehint(void)
{
	struct fixture f;
	struct hy_engine *e;
	struct hy_registry *r;
	struct hy_stats st;
	size_t len = 8 * MiB;
	char *p;
	int slot;

	if (!fixture_up(&f, "tiers=0/0 backend=async"))
		return;
	e = f.e;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(hy_engine_manage_shared(e, p, len), 0);
	r = hy_engine_registry(e);
	hy_reg_lock(r);
	slot = hy_reg_find(r, (uintptr_t)p)->slot;
	hy_reg_unlock(r);
	CU_ASSERT_FATAL(slot > 0);
	/* a part in the middle, not on a chunk boundary of the whole */
	CU_ASSERT_EQUAL(hy_engine_rehint(e, p + 3 * MiB + 64 * 4096, 2 * MiB, HY_HINT_HOT), 0);
	hy_reg_lock(r);
	CU_ASSERT_EQUAL(r->n, 3);
	for (size_t i = 0; i < r->n; i++) {
		const struct hy_region *g = &r->reg[i];
		uintptr_t base = (uintptr_t)p & ~(HY_CHUNK_BYTES - 1);

		CU_ASSERT_EQUAL(g->slot, slot);
		CU_ASSERT_EQUAL(g->sno0, (g->cbase - base) >> HY_CHUNK_SHIFT);
		CU_ASSERT_EQUAL(g->hint, i == 1 ? HY_HINT_HOT : HY_HINT_HYBRID);
	}
	hy_reg_unlock(r);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.shared_bytes, len);
	CU_ASSERT_EQUAL(st.managed_bytes, len);
	/* and let go of entirely */
	CU_ASSERT_EQUAL(hy_engine_rehint(e, p, len, HY_HINT_NONE), 0);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.shared_bytes, 0);
	fixture_down(&f);
	munmap(p, len);
}

/*
 * A lead that stops (exit, hybrid_shutdown: quiesce) lets go of the tree's
 * memory at once: another member leads at its next epoch, not after the
 * silence that replaces a lead still alive.
 */
static void test_shared_lead_released(void)
{
	struct fixture f;
	struct hy_engine *e;
	struct hy_registry *r;
	struct hy_stats st;
	struct hy_board *b;
	size_t len = 2 * MiB;
	int slot, err;
	char *p;

	if (!fixture_up(&f, "tiers=0/0 backend=async"))
		return;
	e = f.e;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT_EQUAL_FATAL(hy_engine_manage_shared(e, p, len), 0);
	memset(p, 1, len);
	hy_engine_epoch(e);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.lead_bytes, len); /* the only member: it leads */
	r = hy_engine_registry(e);
	hy_reg_lock(r);
	slot = hy_reg_find(r, (uintptr_t)p)->slot;
	hy_reg_unlock(r);
	b = hy_board_get(&err);
	CU_ASSERT_FATAL(b != NULL && slot > 0);
	/* alive and beating: nobody else may lead */
	CU_ASSERT_FALSE(hy_board_lead(b, slot, getpid() + 1, hy_mono_ns(), 3600ull * 1000000000));
	hy_engine_quiesce(e);
	CU_ASSERT_TRUE(hy_board_lead(b, slot, getpid() + 1, hy_mono_ns(), 3600ull * 1000000000));
	fixture_down(&f);
	munmap(p, len);
}

static void test_manage_undone(void)
{
	struct fixture f;
	struct hy_engine *e;
	size_t len = 4 * MiB;
	char *p;
	pid_t pid;
	int status = -1;

	if (!fixture_up(&f, "tiers=0/0 backend=async track_overhead=100"))
		return;
	e = f.e;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid = fork();
	if (pid == 0) {
		int mode = -1, rc = hy_engine_manage(e, p, len, HY_HINT_HYBRID);
		get_mempolicy(&mode, NULL, 0, p, MPOL_F_ADDR);
		_exit(rc == -ECHILD && hy_engine_registry(e)->n == 0 && mode == MPOL_DEFAULT ? 0 : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fixture_down(&f);
	munmap(p, len);
}

static void test_thread(void)
{
	struct fixture f;

	if (!fixture_up(&f, "tiers=0/0 epoch=10ms"))
		return;
	CU_ASSERT_EQUAL(hy_engine_start_thread(f.e), 0);
	/* the thread runs epochs on its own: five, however long they take */
	CU_ASSERT(fixture_wait_epochs(&f, 5, HY_WAIT_CEILING) >= 5);
	fixture_down(&f); /* joins the thread promptly */
}

/*
 * A tracking window (track_window): the engine's thread arms pages only for
 * a part of each epoch (from a random point of it).  Pages written right
 * after each epoch boundary (outside the window) are never seen and never
 * promoted; pages written all the time are.  With the window at 100% both
 * would be.
 *
 * "Right after the boundary" is an event, not a time: the epoch hook
 * notes the pages armed when each epoch has ended (the window closed, every
 * page disarmed), and the slow set is written with the registry lock held
 * (hy_engine_hold: the thread cannot arm meanwhile) only if no page was
 * armed since.  A poll that comes too late -- the next window open already,
 * as on a busy machine -- leaves the slow set alone for that epoch.  The
 * fast set is written until it is promoted, however many epochs that takes.
 */
struct boundary {
	_Atomic uint64_t last;	/* the last epoch whose end the hook saw */
	_Atomic uint64_t armed[64]; /* pages_armed then, by epoch % 64 */
};

static void at_boundary(const struct hy_stats *st, void *arg)
{
	struct boundary *b = arg;

	atomic_store(&b->armed[st->epochs % 64], st->pages_armed);
	atomic_store(&b->last, st->epochs);
}

static bool run_windowed(const char *window, size_t *fast_up, size_t *slow_up, unsigned *late)
{
	const size_t n = 64; /* pages in each set */
	const bool guard = strcmp(window, "100") != 0;
	const size_t want = guard ? n : 2 * n;
	static struct boundary bd;
	struct fixture f;
	struct hy_engine *e;
	struct hy_stats st;
	unsigned char *p;
	uint64_t seen = 0;
	double end = now_s() + HY_WAIT_CEILING;

	*fast_up = *slow_up = 0;
	*late = 0;
	if (!fixture_up(&f, "tiers=0/0 backend=async epoch=300ms track_overhead=100 "
			    "track_window=%s", window) ||
	    !fixture_map(&f, 2 * n * PG, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return false;
	e = f.e;
	p = f.mem;
	memset(p, 1, 2 * n * PG);
	memset(&bd, 0, sizeof(bd));
	hy_engine_set_epoch_hook(e, at_boundary, &bd);
	CU_ASSERT_EQUAL_FATAL(hy_engine_start_thread(e), 0);
	hy_engine_stats(e, &st);
	while ((st.epochs < 8 || st.promote_pages < want) && now_s() < end) {
		uint64_t b;

		for (size_t i = 0; i < n; i++) /* the fast set, all the time */
			p[i * PG]++;
		usleep(2000);
		hy_engine_hold(e);
		hy_engine_stats(e, &st);
		b = atomic_load(&bd.last);
		if (b != seen && b == st.epochs) {
			/* an epoch ended: the slow set, if nothing was armed since
			 * (and nothing can be until the lock is let go) */
			if (!guard || st.pages_armed == atomic_load(&bd.armed[b % 64]))
				for (size_t i = n; i < 2 * n; i++)
					p[i * PG]++;
			else
				++*late;
			seen = b;
		}
		hy_engine_release(e);
	}
	fixture_down(&f); /* thread joined */
	*fast_up = st.promote_pages >= n ? n : st.promote_pages;
	*slow_up = st.promote_pages > n ? st.promote_pages - n : 0;
	return true;
}

static void test_track_window(void)
{
	size_t fast, slow;
	unsigned late;

	if (!run_windowed("20", &fast, &slow, &late))
		return;
	printf("\n  window 20%%: %zu pages promoted (64 written all the time, 64 only right "
	       "after each epoch; %u epochs' boundary seen too late to write them)\n",
	       fast + slow, late);
	CU_ASSERT_EQUAL(fast + slow, 64); /* the fast set, not the slow one */
	if (!run_windowed("100", &fast, &slow, &late))
		return;
	printf("  window 100%%: %zu pages promoted\n", fast + slow);
	CU_ASSERT_EQUAL(fast + slow, 128); /* without a window both look hot */
}

/*
 * Huge pages: a block whose pages are mostly hot stays one huge page (it
 * moves whole); a block with a few scattered hot pages is split before they
 * move, so that 2 MiB of mostly cold data does not come along.
 */
static void test_thp_split_or_whole(void)
{
	const size_t blk = 2 * MiB, len = 8 * blk;
	struct fixture f;
	struct hy_engine *e;
	unsigned char *raw, *p;
	struct hy_stats st;

	if (!fixture_up(&f, "tiers=0/0 backend=async track_overhead=100"))
		return;
	e = f.e;
	raw = mmap(NULL, len + blk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(raw != MAP_FAILED);
	p = (unsigned char *)(((uintptr_t)raw + blk - 1) & ~(blk - 1));
	if (madvise(p, len, MADV_HUGEPAGE)) {
		hy_skip("no transparent huge pages here (MADV_HUGEPAGE: %s)", strerror(errno));
		goto out;
	}
	memset(p, 1, len);
	for (size_t b = 0; b < 8; b++)
		if (thp_probe(p + b * blk) != 1) {
			hy_skip("block %zu is no huge page (THP off, memory fragmented, or "
				"/proc/kpageflags unreadable without root)", b);
			goto out;
		}
	CU_ASSERT_EQUAL_FATAL(hy_engine_manage(e, p, len, HY_HINT_HYBRID), 0);
	for (int round = 0; round < 3; round++) {
		for (size_t b = 0; b < 4; b++) /* blocks 0-3: 8 scattered hot pages */
			for (size_t i = 0; i < 512; i += 64)
				p[b * blk + i * PG] = (unsigned char)round;
		memset(p + 4 * blk, round, 4 * blk); /* blocks 4-7: hot whole */
		hy_engine_epoch(e);
	}
	hy_engine_stats(e, &st);
	CU_ASSERT(st.promote_pages >= 4 * 8 + 4 * 512);
	CU_ASSERT_EQUAL(st.thp_splits, 4);
	for (size_t b = 0; b < 4; b++)
		CU_ASSERT_EQUAL(thp_probe(p + b * blk + 64 * PG), 0); /* split */
	for (size_t b = 4; b < 8; b++)
		CU_ASSERT_EQUAL(thp_probe(p + b * blk), 1); /* whole */
	printf("\n  %llu huge pages split, %llu pages promoted\n",
	       (unsigned long long)st.thp_splits, (unsigned long long)st.promote_pages);
out:
	fixture_down(&f);
	munmap(raw, len + blk);
}

/* ---- stopping: the program never waits for the rest of an epoch ------------- */

/*
 * Is a thread of this process blocked taking lock?  Its system call, as
 * /proc/self/task/TID/syscall shows it, is futex (202 on x86-64) on the
 * lock's word.  No timing: the thread is there, or it is not yet.
 */
static bool blocked_on(const pthread_mutex_t *lock)
{
	char path[300], line[256];
	unsigned long nr, arg0;
	bool found = false;
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	FILE *f;

	while (dir && !found && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/syscall", d->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		if (fgets(line, sizeof(line), f) && sscanf(line, "%lu %lx", &nr, &arg0) == 2)
			found = nr == 202 && arg0 == (uintptr_t)lock;
		fclose(f);
	}
	if (dir)
		closedir(dir);
	return found;
}

static void *quiesce_it(void *e)
{
	hy_engine_quiesce(e);
	return NULL;
}

/*
 * Told to stop (at exit, hybrid_shutdown), the policy thread finishes the
 * step it is in and ends: the rest of its epoch is not done.  The thread is
 * held inside an epoch by the registry lock, which every step takes; every
 * page is due for promotion in that epoch (written in two), and none is
 * promoted: the epoch ended after the step that was waiting.
 */
static void test_stop_within_a_step(void)
{
	struct fixture f;
	size_t len = 16 * MiB;
	struct hy_registry *r;
	struct hy_stats st;
	struct hy_engine *e;
	pthread_t q;
	int waited;

	if (access("/proc/self/syscall", R_OK)) {
		hy_skip("/proc/PID/syscall not readable here (no CONFIG_HAVE_ARCH_TRACEHOOK)");
		return;
	}
	if (!fixture_up(&f, "tiers=0/0 backend=async track_overhead=100 promote_rate=0 epoch=10ms") ||
	    !fixture_map(&f, len, HY_HINT_HYBRID, MADV_NOHUGEPAGE))
		return;
	e = f.e;
	r = hy_engine_registry(e);
	memset(f.mem, 1, len); /* seen once (first touch) */
	hy_engine_epoch(e);
	memset(f.mem, 2, len); /* and twice: all due for promotion */
	hy_reg_lock(r);
	CU_ASSERT_EQUAL_FATAL(hy_engine_start_thread(e), 0);
	/* the thread's epoch waits at its first step (ceiling: a minute) */
	for (waited = 0; !blocked_on(&r->lock) && waited < 60000; waited++)
		usleep(1000);
	CU_ASSERT_FATAL(waited < 60000);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&q, NULL, quiesce_it, e), 0);
	for (waited = 0; !__atomic_load_n(&e->stop, __ATOMIC_RELAXED) && waited < 60000; waited++)
		usleep(1000);
	CU_ASSERT(waited < 60000);
	hy_reg_unlock(r);
	pthread_join(q, NULL);
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.promote_pages, 0); /* 4096 when the whole epoch ran */
	CU_ASSERT_EQUAL(st.epochs, 1);	      /* the cut epoch is not counted */
	fixture_down(&f);
}

/* The migrator's side: a list told to stop after its first batch moves
 * that batch and no more. */
struct stop_list {
	unsigned char *mem;
	size_t done, asked;
};

static void sl_get(void *arg, size_t i, uintptr_t *addr, int *to_node, enum hy_move_kind *kind)
{
	*addr = (uintptr_t)((struct stop_list *)arg)->mem + i * PG;
	*to_node = 0;
	*kind = HY_MOVE_PROMOTE;
}

static void sl_nop(void *arg)
{
	(void)arg;
}

static bool sl_still(void *arg, size_t i)
{
	(void)arg;
	(void)i;
	return true;
}

static void sl_done(void *arg, size_t i, int status)
{
	(void)i;
	(void)status;
	((struct stop_list *)arg)->done++;
}

static bool sl_stop(void *arg)
{
	struct stop_list *l = arg;

	l->asked++;
	return l->done > 0;
}

static void test_migration_stops(void)
{
	size_t n = 4 * HY_MIG_RUN_BATCH;
	struct stop_list sl = {0};
	struct hy_mig_list l = {n, &sl, sl_get, sl_nop, sl_nop, sl_still, sl_done, sl_stop};

	sl.mem = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(sl.mem != MAP_FAILED);
	memset(sl.mem, 1, n * PG);
	hy_mig_run(&l, NULL, NULL);
	CU_ASSERT_EQUAL(sl.done, HY_MIG_RUN_BATCH); /* one batch, then it stopped */
	CU_ASSERT_EQUAL(sl.asked, 2);
	l.stop = NULL; /* no stop: the whole list */
	sl.done = 0;
	hy_mig_run(&l, NULL, NULL);
	CU_ASSERT_EQUAL(sl.done, n);
	munmap(sl.mem, n * PG);
}

static const struct hy_test tests[] = {
	HY_TEST(test_async),
	HY_TEST(test_sync),
	HY_TEST(test_sync_fault_budget),
	HY_TEST(test_promote_rate),
	HY_TEST(test_governed),
	HY_TEST(test_sweep_waits_for_a_pause),
	HY_TEST(test_first_touch_marked),
	HY_TEST(test_state_follows_use),
	HY_TEST(test_foreign_policy_and_bad_ranges),
	HY_TEST(test_manage_undone),
	HY_TEST(test_thread),
	HY_TEST(test_thp_split_or_whole),
	HY_TEST(test_track_window),
	HY_TEST(test_stop_within_a_step),
	HY_TEST(test_migration_stops),
	HY_TEST(test_shared_rehint),
	HY_TEST(test_shared_lead_released),
};

HY_CUNIT_MAIN("engine", tests)
