/* SPDX-License-Identifier: MIT */
/*
 * policy — what to move each epoch (DESIGN.md §3 Promotion, Demotion,
 * Stability).  Pure decisions over the registry's page states and a view of
 * the tiers; no system calls, so every rule is unit-tested from a synthetic
 * access feed.  The epoch loop (engine) feeds it and executes the plan.
 *
 *  - Promotion (the twice-accessed rule): a page on a slower tier written in
 *    at least `threshold` of the last `window` epochs, or hinted HOT, moves
 *    to the fastest faster tier with room; hottest first; only while that
 *    tier's free memory is above its high watermark, within the DRAM limit
 *    (tier 0) and within the promotion budget of this epoch.
 *  - Demotion (in lieu of discard): when a tier's free memory is under its
 *    low watermark, or tier 0 holds more of ours than the DRAM limit, its
 *    coldest pages (longest since the last observed write) move one tier
 *    down until the high watermark / limit is met.  COLD-hinted pages go to
 *    the slowest tier.
 *  - Never: pinned pages; a page back the way it just came, within its
 *    hold-off (a move the plan chose but hold-off refused counts as thrash;
 *    onward moves are allowed); pages in back-off after a failure, which are
 *    retried only every 4^level epochs; pages whose tier is not known.
 *
 * Selection is O(pages) without sorting all pages: a histogram of scores
 * finds the cut, then only the chosen (bounded) plan is sorted.
 */
#ifndef HY_POLICY_H
#define HY_POLICY_H

#include <stdint.h>

#include "config.h"
#include "region.h"

struct hy_policy_params {
	unsigned threshold;	  /* epochs with a write, of the window */
	unsigned window;	  /* 1-8 */
	uint64_t promote_budget;  /* bytes this epoch; 0 = unlimited */
	uint64_t dram_limit;	  /* bytes of ours on tier 0; 0 = none */
	unsigned hold_epochs;	  /* 0-3: no move back for this many epochs */
	int ntiers;
};

/* One tier as the policy sees it this epoch (bytes). */
struct hy_tier_view {
	uint64_t free;
	uint64_t low, high; /* watermarks on free memory */
};

enum hy_plan_dir { HY_PLAN_PROMOTE, HY_PLAN_DEMOTE };

struct hy_plan_item {
	uintptr_t addr;
	uint8_t from, to; /* tiers */
	uint8_t dir;	  /* enum hy_plan_dir */
	uint8_t score;	  /* hotter (promote) / colder (demote) is higher */
};

struct hy_plan {
	struct hy_plan_item *items; /* caller's storage */
	size_t cap, n;
	uint64_t promote_bytes, demote_bytes;
	uint64_t thrash; /* moves chosen but refused: back within the hold-off */
	uint64_t waiting, room0, exchange; /* bytes: hot below, room on tier 0, traded */
	uint64_t tier_bytes[HY_MAX_TIERS]; /* our pages per tier, as known */
};

/* Params from the options (budget = promote_rate x epoch). */
void hy_policy_params_from(struct hy_policy_params *p, const struct hy_config *cfg, int ntiers);

/* End of epoch for region g: history shifts in written[] (bit per page). */
void hy_policy_age(struct hy_region *g, const uint64_t *written);

/*
 * Choose this epoch's moves over all regions of r (lock held) into plan
 * (at most plan->cap items): demotions first, then promotions, each in
 * score order.  Returns plan->n.
 */
size_t hy_policy_plan(const struct hy_policy_params *p, struct hy_registry *r,
		      const struct hy_tier_view *tiers, uint64_t epoch, struct hy_plan *plan);

/*
 * Record the outcome of one planned move in the page's state (lock held):
 * result is the tier the page is on now, or -errno.  Success starts the
 * hold-off and clears back-off; a failure raises back-off; -EFAULT/-ENOENT
 * (not present) forgets the tier instead.
 */
void hy_policy_commit(const struct hy_policy_params *p, struct hy_registry *r,
		      const struct hy_plan_item *it, int result);

/*
 * The overhead governor: how many pages to arm for tracking each epoch, so
 * that the faults they cost stay under the target share of run time.  A
 * tracked write costs `fault_ns` (measured by the tracker); the share of
 * armed pages that get written is learnt from the last epochs.  The sync
 * backend is further held to `fault_budget` faults per epoch.
 */
struct hy_governor {
	uint64_t fault_ns;	/* cost of one tracked write */
	uint64_t arm_ns;	/* cost of arming one page (measured each epoch, smoothed) */
	uint64_t epoch_ns;
	unsigned overhead_pct;	/* 100: arm everything */
	uint64_t fault_budget;	/* per epoch, 0 = none */
	unsigned write_permille; /* written / armed, smoothed; starts at 1000 */
	uint64_t sample_pages;	/* fixed sample (track_sample); 0 = from the costs */
};

void hy_gov_init(struct hy_governor *g, const struct hy_config *cfg, uint64_t fault_ns,
		 bool sync_backend);
/* Pages to arm this epoch out of total (SIZE_MAX-safe). */
/* The cost of one fault, once measured (0: keep the estimate). */
void hy_gov_set_fault_cost(struct hy_governor *g, uint64_t fault_ns);
size_t hy_gov_budget(const struct hy_governor *g, size_t total);
/* What last epoch showed: `written` of `armed` pages were written. */
void hy_gov_learn(struct hy_governor *g, size_t armed, size_t written);
/* Arming `pages` took `ns`: the per-page cost joins the budget's arithmetic. */
void hy_gov_learn_arm(struct hy_governor *g, size_t pages, uint64_t ns);

/*
 * The tracking window (track_window): pages are armed only for `us` of
 * each epoch (from a random point of it: the engine's loop), so that the
 * one bit an epoch gives says "written at least about once per window",
 * not "written at least once per epoch".  Fixed (track_window 1-100 %), or,
 * with track_window 0, starting at the whole epoch and adapted epoch by
 * epoch to the pages that are not hot.  The measure: of the chunks the
 * rotating sampling window armed (pages with no recent write: a sample of
 * the program's memory at large), the share of pages caught, per chunk; the
 * lower quartile of those shares stands for the bulk of memory, whatever a
 * hot minority of chunks does.  While it is over 1/32 the window is too
 * long to tell often-written pages from the rest -- a page caught in 1/32
 * of the epochs comes up twice in 4 in under 1% of cases -- and it shrinks
 * half the way (in ratio) to where that share would be 1/32, by 4 at most
 * (all the way, by 16 at most, from a window over HY_BULK_TRUST: one that
 * told nothing), down to 1/200 of the epoch (1 ms at least); under 1/64 it grows by
 * sqrt 2 (by 2 when nothing was caught), up to the whole epoch.  A program
 * whose memory is idle apart from its hot pages (written in bursts or not)
 * keeps the whole epoch.
 * Fewer than 8 sampled chunks say nothing: the window keeps.
 */
#define HY_CATCH_BUCKETS 65 /* pages caught per 64-page chunk: 0..64 */
struct hy_catch {
	uint32_t chunks[HY_CATCH_BUCKETS]; /* sampled chunks by pages caught (scaled to 64) */
};

struct hy_window {
	uint64_t epoch_us, us;	  /* us: the window now; us == epoch_us: whole epoch */
	unsigned caught_permille; /* the last measure (lower quartile); fixed windows too */
	bool adaptive;
};

void hy_win_init(struct hy_window *w, const struct hy_config *cfg);
/*
 * Adapt the window to what the sampled chunks of the epoch just ended
 * caught.  Returns false when that epoch's catch says nothing -- an adaptive
 * window that caught more than HY_BULK_TRUST permille of the bulk of memory
 * and can still shrink (at start-up: it starts at the whole epoch): pages
 * caught in two such windows would pass the twice rule by the percent.
 * The engine then forgets the epoch's writes (hy_policy_forget_last).
 */
#define HY_BULK_TRUST 500 /* permille of the bulk caught: above, the window told nothing */
bool hy_win_learn(struct hy_window *w, const struct hy_catch *c);
/*
 * What the bulk of memory yields by chance, in permille, for the sample's
 * choice (hy_policy_choose_arm): the window's last measure -- but 1/32 (its
 * target) when an adaptive window at its shortest still catches more.  What
 * shrinking cannot bring down is mostly the hot pages themselves: a hot set
 * scattered over all of memory, a few pages in every chunk, is the "bulk"
 * then, and taken as chance it would keep every chunk from being looked at
 * again, which the twice rule needs.
 */
unsigned hy_win_bulk(const struct hy_window *w);
/* After hy_policy_age: as if nothing of g had been seen written in the last epoch. */
void hy_policy_forget_last(struct hy_region *g);
/*
 * Before hy_policy_age: add to c the chunks of g that the sweep went over
 * (g->sweep_n chunks from step g->sweep_from: hy_policy_choose_arm), each with the share of its fresh pages
 * found written (chunks with fewer than 32 fresh pages are left out).
 */
void hy_policy_catch(const struct hy_region *g, const uint64_t *written, struct hy_catch *c);

/*
 * Which pages of g to arm, about `budget` (whole chunks of HY_ARM_CHUNK
 * pages: one more chunk at most), in three kinds, the first two together
 * up to 3/4 of the budget:
 *  1. the chunks holding pages written within the window and not yet on
 *     the fastest tier (the twice rule needs to see them again), densest
 *     and hottest first -- only chunks with more pages caught in the last
 *     epoch than twice what the bulk of memory yields by chance
 *     (bulk_permille of the sampled pages: the window's measure; two pages
 *     at least, 3/4 of a chunk at most);
 *  2. chunks with pages to promote beside a run of chunks that were half
 *     caught or more last epoch, as far on each side as the run is long
 *     (16 MiB at most): a contiguous hot region is explored from where it
 *     was found, and what is explored doubles each epoch (only while the
 *     bulk yields at most 1/4 by chance: a window too long catches too much);
 *  3. the sweep: the other chunks, in groups of 8 chunks (2 MiB) taken in
 *     bit-reversed order of their index, so that each epoch's part is
 *     spread over the whole region; it moves on from g->arm_cursor every
 *     epoch, so every page is looked at (g->sweep_from and sweep_n say
 *     where it went, in steps of that order).
 * Whole chunks, because every armed run costs a call and a TLB flush.
 * Sets bits[] (cleared first); returns the number of pages chosen.  Pinned
 * pages and pages of PIN regions are never armed.
 */
#define HY_ARM_CHUNK 64 /* pages: the sample is taken in whole chunks of 256 KiB */
size_t hy_policy_choose_arm(const struct hy_policy_params *p, struct hy_region *g, size_t budget,
			    uint64_t *bits, unsigned bulk_permille);

#endif
