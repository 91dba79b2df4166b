/* SPDX-License-Identifier: MIT */
/*
 * sampler — what to watch each epoch: how many pages to arm for tracking
 * (the overhead governor, hy_gov_*), for how long (the tracking window,
 * hy_win_*, steered by what the sweep caught: hy_sampler_catch), and which
 * ones (hy_sampler_choose: the chunks worth watching again, the chunks
 * beside a hot run, and the sweep over the rest).  What to move, given
 * what was seen, is the policy's (policy.h); the two share only the
 * per-page state (region.h) and know nothing of each other -- the one
 * policy setting the choice needs, its history window, comes as a number.
 *
 * Pure arithmetic over the page states and the costs the tracker measures:
 * no system calls, so every rule is unit-tested from a synthetic feed.
 * Called by the engine only: hy_gov_budget and hy_sampler_choose when it
 * arms (registry lock held), hy_sampler_catch, hy_gov_learn and
 * hy_win_learn when it harvests an epoch.  Of the registry it writes only
 * the sweep's position in each region (arm_cursor, sweep_from, sweep_n).
 */
#ifndef HY_SAMPLER_H
#define HY_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "region.h"

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
/* The cost of one fault, once measured (0: keep the estimate). */
void hy_gov_set_fault_cost(struct hy_governor *g, uint64_t fault_ns);
/* Pages to arm this epoch out of total (SIZE_MAX-safe). */
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
 * choice (hy_sampler_choose): the window's last measure -- but 1/32 (its
 * target) when an adaptive window at its shortest still catches more.  What
 * shrinking cannot bring down is mostly the hot pages themselves: a hot set
 * scattered over all of memory, a few pages in every chunk, is the "bulk"
 * then, and taken as chance it would keep every chunk from being looked at
 * again, which the twice rule needs.
 */
unsigned hy_win_bulk(const struct hy_window *w);
/*
 * Before hy_policy_age: add to c the chunks of g that the sweep went over
 * (g->sweep_n chunks from step g->sweep_from: hy_sampler_choose), each
 * with the share of its fresh pages found written (chunks with fewer than
 * 32 fresh pages are left out).  Fresh: no access seen in the last 8
 * epochs but in epochs when the chunk had pages first touched -- a first
 * touch counts as an access for the twice rule (epoch.c), but a program
 * that has just populated its memory has every page "accessed", and the
 * window could not be measured for 8 epochs (in the slow VM the first two
 * epochs of gups's run promoted 7000 cold pages at a whole-epoch window).
 */
void hy_sampler_catch(const struct hy_region *g, const uint64_t *written, struct hy_catch *c);

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
 * `window` is the policy's history window (promote_window, 1-8 epochs):
 * a chunk's worth is its pages' epochs with a write within it.
 * Whole chunks, because every armed run costs a call and a TLB flush.
 * Sets bits[] (cleared first); returns the number of pages chosen.  Pinned
 * pages and pages of PIN regions are never armed.
 */
#define HY_ARM_CHUNK 64 /* pages: the sample is taken in whole chunks of 256 KiB */
size_t hy_sampler_choose(unsigned window, struct hy_region *g, size_t budget, uint64_t *bits,
			 unsigned bulk_permille);

/* The engine armed all of g: the sweep went over every chunk this epoch. */
void hy_sampler_took_all(struct hy_region *g);

/* An epoch that saw nothing written (the program did not run): the sweep
 * goes over the same chunks again instead of passing them unseen. */
void hy_sampler_rewind(struct hy_region *g);

#endif
