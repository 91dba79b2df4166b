/* SPDX-License-Identifier: MIT */
/*
 * policy — what to move each epoch (DESIGN.md §3 Promotion, Demotion,
 * Stability).  Pure decisions over the registry's page states and a view of
 * the tiers; no system calls, so every rule is unit-tested from a synthetic
 * access feed.  The epoch loop (engine) feeds it and executes the plan.
 *
 *  - Promotion (the twice-accessed rule): a page on a slower tier accessed
 *    ("written": the tracker's signal, reads too with rwp) in at least
 *    `threshold` of the last `window` epochs, or hinted HOT, moves
 *    to the fastest faster tier with room; hottest first; only while that
 *    tier's free memory is above its high watermark, within the DRAM limit
 *    (tier 0) and within the promotion budget of this epoch.
 *  - Demotion (in lieu of discard): when a tier's free memory is under its
 *    low watermark, or tier 0 holds more of ours than the DRAM limit, its
 *    coldest pages (longest since the last observed access) move one tier
 *    down until the high watermark / limit is met.  COLD-hinted pages go to
 *    the slowest tier.
 *  - Never: pinned pages; a page back the way it just came, within its
 *    hold-off (a move the plan chose but hold-off refused counts as thrash;
 *    onward moves are allowed); pages in back-off after a failure, which are
 *    retried only every 4^level epochs; pages whose tier is not known.
 *
 * Selection is O(pages with state) without sorting them: a histogram of scores
 * finds the cut (hist.h), then only the chosen (bounded) plan is sorted.
 *
 * What the policy owns: the promotion and demotion rules, and what they
 * keep in the page state (history, hold-off, back-off).  Which pages are
 * watched each epoch, and for how long, is the sampler's (sampler.h); the
 * two share the page states of region.h and nothing else.  Called by the
 * engine only, with the registry lock held: hy_policy_age after each
 * harvest, hy_policy_plan, then hy_policy_commit for each move executed.
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

/* End of epoch for region g: history shifts in written[] (one word per
 * chunk of g, bit j = its page j; NULL = nothing written), and so does
 * each chunk's first-touch mark (region.h, hy_chunk.touched). */
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
 * After hy_policy_age: as if nothing of g had been seen written in the last
 * epoch (the engine, when the sampler's window says its catch told nothing:
 * hy_win_learn in sampler.h).
 */
void hy_policy_forget_last(struct hy_region *g);

#endif
