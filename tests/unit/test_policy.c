/* SPDX-License-Identifier: MIT */
/*
 * The policy's rules from a synthetic, deterministic access feed: each test
 * builds pages on known tiers, writes chosen pages in chosen epochs, plans,
 * "executes" the plan by committing its outcome, and checks what moved.
 * Each test fails if its rule is broken.
 */
#include <errno.h>
#include <string.h>

#include "../support.h"
#include "policy.h"
#include "sampler.h"

#define BASE ((uintptr_t)1 << 40)
#define PG   HY_PAGE_SIZE
#define NP   256
#define MiB  (1ULL << 20)

static struct hy_registry reg;
static struct hy_policy_params par;
static struct hy_tier_view tv[3];
static struct hy_plan_item items[1024];
static struct hy_plan plan;
static uint64_t epoch;

/* Every page of the region populated (its chunks of state exist), all
 * seen on tier `tier`: chunk k is then the region's k-th 64 pages. */
static void populate(int pages, int tier)
{
	for (int i = 0; i < pages; i++) {
		hy_pstate *s = hy_reg_at(&reg, &reg.reg[0], BASE + (uintptr_t)i * PG);

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		*s = hy_ps_set_tier(*s, tier);
	}
}

/* A fresh world: NP pages (region hint `hint`), all on tier `tier`, roomy tiers. */
static void world(int ntiers, int tier, enum hy_hint hint)
{
	hy_reg_destroy(&reg);
	hy_reg_init(&reg);
	hy_reg_add(&reg, BASE, NP * PG, hint);
	populate(NP, tier);
	memset(&par, 0, sizeof(par));
	par.threshold = 2;
	par.window = 4;
	par.hold_epochs = 2;
	par.ntiers = ntiers;
	for (int t = 0; t < 3; t++)
		tv[t] = (struct hy_tier_view){.free = 1024 * MiB, .low = 10 * MiB, .high = 20 * MiB};
	plan = (struct hy_plan){.items = items, .cap = 1024};
	epoch = 0;
}

static hy_pstate *st(int page)
{
	return hy_reg_at(&reg, &reg.reg[0], BASE + (uintptr_t)page * PG);
}

/* One epoch: the listed pages (-1 ends) were written; age, plan, commit all. */
static size_t epoch_with(const int *written)
{
	uint64_t bits[NP / 64] = {0};

	for (; written && *written >= 0; written++)
		bits[*written / 64] |= 1ULL << (*written % 64);
	hy_policy_age(&reg.reg[0], bits);
	epoch++;
	hy_policy_plan(&par, &reg, tv, epoch, &plan);
	for (size_t k = 0; k < plan.n; k++)
		hy_policy_commit(&par, &reg, &plan.items[k], plan.items[k].to);
	return plan.n;
}

static bool planned(int page, int dir)
{
	for (size_t k = 0; k < plan.n; k++)
		if (plan.items[k].addr == BASE + (uintptr_t)page * PG && plan.items[k].dir == dir)
			return true;
	return false;
}

static const int none[] = {-1};

static void test_twice_rule(void)
{
	const int once[] = {7, 9, -1}, nine[] = {9, -1};

	world(2, 1, HY_HINT_HYBRID);
	CU_ASSERT_EQUAL(epoch_with(once), 0); /* 7 and 9 seen once: nothing yet */
	CU_ASSERT_EQUAL(epoch_with(nine), 1); /* 9 seen twice: promoted */
	CU_ASSERT(planned(9, HY_PLAN_PROMOTE));
	CU_ASSERT_EQUAL(hy_ps_tier(*st(9)), 0);
	for (int e = 0; e < 6; e++)
		epoch_with(none);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(7)), 1); /* written in one epoch only: never */
}

static void test_window(void)
{
	const int five[] = {5, -1};

	world(2, 1, HY_HINT_HYBRID);
	epoch_with(five);
	for (int e = 0; e < 4; e++)
		epoch_with(none);
	CU_ASSERT_EQUAL(epoch_with(five), 0); /* 5 epochs apart: outside a window of 4 */
	world(2, 1, HY_HINT_HYBRID);
	par.window = 8;
	epoch_with(five);
	for (int e = 0; e < 4; e++)
		epoch_with(none);
	CU_ASSERT_EQUAL(epoch_with(five), 1); /* inside a window of 8 */
}

/* Age only, no plan: to build a history. */
static void age_with(const int *written)
{
	uint64_t bits[NP / 64] = {0};

	for (; *written >= 0; written++)
		bits[*written / 64] |= 1ULL << (*written % 64);
	hy_policy_age(&reg.reg[0], bits);
	epoch++;
}

static void test_hottest_first_and_rate_limit(void)
{
	const int hot[] = {10, 11, -1}, warm[] = {1, 2, 3, 10, 11, -1};

	world(2, 1, HY_HINT_HYBRID);
	par.promote_budget = 2 * PG;
	age_with(hot);
	age_with(hot);
	/* 10, 11 written in 3 epochs, 1-3 in 2: all candidates, 10 and 11 hotter */
	age_with(warm);
	epoch_with(warm);
	CU_ASSERT_EQUAL(plan.n, 2); /* budget: two pages */
	CU_ASSERT(planned(10, HY_PLAN_PROMOTE) && planned(11, HY_PLAN_PROMOTE));
	CU_ASSERT_EQUAL(plan.promote_bytes, 2 * PG);
	CU_ASSERT_EQUAL(epoch_with(none), 2); /* then two of the rest, still budgeted */
	CU_ASSERT_EQUAL(epoch_with(none), 1);

	/* equal counts: the more recently written goes first */
	const int a[] = {20, -1}, ab[] = {20, 21, -1}, b[] = {21, -1};
	world(2, 1, HY_HINT_HYBRID);
	par.promote_budget = PG;
	age_with(a);
	age_with(ab);
	age_with(none);
	epoch_with(b); /* 20: epochs 1, 2; 21: epochs 2, 4 */
	CU_ASSERT_EQUAL(plan.n, 1);
	CU_ASSERT(planned(21, HY_PLAN_PROMOTE));
}

static void test_watermarks(void)
{
	const int hot[] = {1, 2, -1};

	world(2, 1, HY_HINT_HYBRID);
	tv[0].free = 15 * MiB; /* between low and high: no promotion, no demotion */
	epoch_with(hot);
	CU_ASSERT_EQUAL(epoch_with(hot), 0);

	/* tier 0 under its low watermark: its coldest pages go down until high */
	world(2, 0, HY_HINT_HYBRID);
	tv[0].free = 20 * MiB - 5 * PG; /* need 5 pages to reach high */
	tv[0].low = 20 * MiB;
	tv[0].high = 20 * MiB;
	const int warm[] = {0, 1, 2, 3, -1};
	epoch_with(warm);
	for (int i = 4; i < NP; i++) /* everything else was written long ago: colder */
		;
	CU_ASSERT_EQUAL(plan.n, 5);
	for (size_t k = 0; k < plan.n; k++) {
		CU_ASSERT_EQUAL(plan.items[k].dir, HY_PLAN_DEMOTE);
		CU_ASSERT(plan.items[k].addr >= BASE + 4 * PG); /* never the recently written */
		CU_ASSERT_EQUAL(plan.items[k].to, 1);
	}
}

static void test_coldest_first(void)
{
	world(2, 0, HY_HINT_HYBRID);
	/* page p last written p epochs ago (p = 0..7), the rest never */
	for (int e = 7; e >= 0; e--) {
		int w[] = {e, -1};
		uint64_t bits[NP / 64] = {0};
		bits[0] = 1ULL << w[0];
		(void)w;
		hy_policy_age(&reg.reg[0], bits);
	}
	/* only pages 0-7 are "ours on tier 0": forget the others' tier */
	for (int i = 8; i < NP; i++)
		*st(i) = hy_ps_set_tier(*st(i), -1);
	tv[0] = (struct hy_tier_view){.free = 0, .low = PG, .high = 3 * PG}; /* shed 3 pages */
	hy_policy_plan(&par, &reg, tv, ++epoch, &plan);
	CU_ASSERT_EQUAL_FATAL(plan.n, 3);
	/* the three written longest ago: pages 7, 6, 5 - in that order */
	CU_ASSERT_EQUAL(plan.items[0].addr, BASE + 7 * PG);
	CU_ASSERT_EQUAL(plan.items[1].addr, BASE + 6 * PG);
	CU_ASSERT_EQUAL(plan.items[2].addr, BASE + 5 * PG);
}

static size_t count_dir(int dir)
{
	size_t n = 0;

	for (size_t k = 0; k < plan.n; k++)
		n += plan.items[k].dir == dir;
	return n;
}

static void test_dram_limit(void)
{
	const int hot[] = {200, 201, 202, -1}, hot2[] = {230, 231, 232, -1};

	world(2, 0, HY_HINT_HYBRID);
	for (int i = 100; i < NP; i++) /* 100 pages on tier 0, the rest on tier 1 */
		*st(i) = hy_ps_set_tier(*st(i), 1);
	par.dram_limit = 60 * PG;
	epoch_with(hot);
	CU_ASSERT_EQUAL(plan.n, 40); /* over the limit by 40: demoted */
	CU_ASSERT_EQUAL(plan.demote_bytes, 40 * PG);
	epoch_with(hot);
	/* at the limit: the hot pages come up in exchange for as many of the
	 * coldest (never written) pages, and the limit holds */
	CU_ASSERT_EQUAL(plan.promote_bytes, 3 * PG);
	CU_ASSERT_EQUAL(plan.demote_bytes, 3 * PG);
	for (int p = 200; p <= 202; p++)
		CU_ASSERT(planned(p, HY_PLAN_PROMOTE));
	CU_ASSERT_EQUAL(plan.items[0].dir, HY_PLAN_DEMOTE); /* room first */
	par.dram_limit = 62 * PG;
	epoch_with(hot2);
	epoch_with(hot2);
	/* room for two: those, and one more by exchange */
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_PROMOTE), 3);
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_DEMOTE), 1);
}

/* Exchange never gives up pages that are still hot, and stays within the
 * rate budget. */
static void test_exchange_spares_hot(void)
{
	int all[NP + 1], n = 0;
	const int below[] = {100, 101, 102, 103, -1};

	world(2, 1, HY_HINT_HYBRID);
	for (int i = 0; i < 50; i++) { /* 50 pages on tier 0, hot every epoch */
		*st(i) = hy_ps_set_tier(*st(i), 0);
		all[n++] = i;
	}
	for (int i = 100; i < 104; i++)
		all[n++] = i; /* and 4 hot ones waiting on tier 1 */
	all[n] = -1;
	par.dram_limit = 50 * PG;
	epoch_with(all);
	epoch_with(all);
	CU_ASSERT_EQUAL(plan.n, 0); /* every resident hot: nothing moves */

	/* half the residents cool down: two epochs without writes to 0-24 */
	n = 0;
	for (int i = 25; i < 50; i++)
		all[n++] = i;
	for (int i = 100; i < 104; i++)
		all[n++] = i;
	all[n] = -1;
	par.promote_budget = 2 * PG;
	epoch_with(all);
	epoch_with(all);
	epoch_with(all);
	CU_ASSERT(plan.n > 0);
	CU_ASSERT(count_dir(HY_PLAN_PROMOTE) <= 2); /* the rate budget */
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_PROMOTE), count_dir(HY_PLAN_DEMOTE));
	for (size_t k = 0; k < plan.n; k++)
		if (plan.items[k].dir == HY_PLAN_DEMOTE)
			CU_ASSERT(plan.items[k].addr < BASE + 25 * PG); /* only the cooled ones */
	(void)below;
}

static void test_hold_off_and_thrash(void)
{
	const int hot[] = {4, -1};

	world(2, 1, HY_HINT_HYBRID);
	par.hold_epochs = 2;
	epoch_with(hot);
	epoch_with(hot); /* promoted now, hold-off 2 */
	CU_ASSERT_EQUAL(hy_ps_tier(*st(4)), 0);
	/* tier 0 wants to shed everything: page 4 is the only one of ours there */
	tv[0] = (struct hy_tier_view){.free = 0, .low = 100 * MiB, .high = 100 * MiB};
	epoch_with(none);
	CU_ASSERT_FALSE(planned(4, HY_PLAN_DEMOTE));
	CU_ASSERT_EQUAL(plan.thrash, 1);
	epoch_with(none); /* hold-off over after two epochs */
	CU_ASSERT(planned(4, HY_PLAN_DEMOTE));
	CU_ASSERT_EQUAL(hy_ps_tier(*st(4)), 1);
}

/* Hold-off refuses only the way back: onward moves are fine, and a move that
 * would not have happened anyway is no thrash. */
static void test_hold_off_onward(void)
{
	const int hot[] = {0, -1};

	world(3, 2, HY_HINT_HYBRID);
	par.hold_epochs = 3;
	tv[0].free = 0; /* tier 0 full (not shedding: low 0) */
	tv[0].low = 0;
	epoch_with(hot);
	epoch_with(hot); /* 2 -> 1: the fastest tier with room */
	CU_ASSERT_EQUAL(hy_ps_tier(*st(0)), 1);
	CU_ASSERT_EQUAL(plan.thrash, 0);
	epoch_with(hot); /* wants 1 -> 0, no room: not planned, not thrash */
	CU_ASSERT_EQUAL(plan.n, 0);
	CU_ASSERT_EQUAL(plan.thrash, 0);
	tv[0].free = 1024 * MiB; /* room now: onward within the hold-off is allowed */
	epoch_with(hot);
	CU_ASSERT(planned(0, HY_PLAN_PROMOTE));
	CU_ASSERT_EQUAL(hy_ps_tier(*st(0)), 0);
}

static void test_backoff(void)
{
	const int hot[] = {3, -1};
	int tries = 0;

	world(2, 1, HY_HINT_HYBRID);
	epoch_with(hot);
	for (int e = 0; e < 40; e++) {
		uint64_t bits[NP / 64] = {1ULL << 3};
		hy_policy_age(&reg.reg[0], bits);
		epoch++;
		hy_policy_plan(&par, &reg, tv, epoch, &plan);
		if (planned(3, HY_PLAN_PROMOTE)) {
			tries++;
			hy_policy_commit(&par, &reg, &plan.items[0], -EBUSY); /* always fails */
		}
	}
	/* level 1 retries every 4 epochs, level 2 every 16, level 3 every 64:
	 * over 40 epochs a handful of tries, not 40 */
	CU_ASSERT(tries >= 3 && tries <= 5);
	CU_ASSERT_EQUAL(hy_ps_backoff(*st(3)), HY_PS_MAX_BACKOFF);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(3)), 1);
	/* success clears it */
	struct hy_plan_item it = {BASE + 3 * PG, 1, 0, HY_PLAN_PROMOTE, 1};
	hy_policy_commit(&par, &reg, &it, 0);
	CU_ASSERT_EQUAL(hy_ps_backoff(*st(3)), 0);
}

static void test_pin(void)
{
	const int hot[] = {1, 2, -1};

	world(2, 1, HY_HINT_PIN);
	tv[1] = (struct hy_tier_view){.free = 0, .low = MiB, .high = MiB};
	epoch_with(hot);
	CU_ASSERT_EQUAL(epoch_with(hot), 0);
	world(2, 1, HY_HINT_HYBRID);
	*st(2) |= HY_PS_PIN; /* one pinned page in a hybrid range */
	epoch_with(hot);
	epoch_with(hot);
	CU_ASSERT(planned(1, HY_PLAN_PROMOTE));
	CU_ASSERT_FALSE(planned(2, HY_PLAN_PROMOTE));
}

static void test_hints(void)
{
	world(2, 1, HY_HINT_HOT);
	CU_ASSERT_EQUAL(epoch_with(none), NP); /* HOT: up at once, no history needed */
	world(3, 0, HY_HINT_COLD);
	CU_ASSERT_EQUAL(epoch_with(none), NP); /* COLD: to the slowest tier at once */
	CU_ASSERT_EQUAL(plan.items[0].to, 2);
	const int hot[] = {1, -1};
	epoch_with(hot);
	epoch_with(hot);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(1)), 2); /* COLD stays down however hot */
}

/*
 * The DRAM limit holds for HOT-hinted pages too: over it, they go down,
 * but last of all (after every page of an ordinary region, however hot);
 * and an exchange (no shortage, hot pages waiting) never takes them.
 */
static void test_hot_hint_and_dram_limit(void)
{
	const int all_hot[] = {0, 1, 2, 3, 4, 5, 6, 7, -1};

	world(2, 0, HY_HINT_HOT); /* NP pages on DRAM, hinted HOT */
	par.dram_limit = (NP - 10) * PG;
	epoch_with(all_hot);
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_DEMOTE), 10); /* the limit holds */
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_PROMOTE), 0);
	epoch_with(none);
	CU_ASSERT_EQUAL(plan.n, 0); /* at the limit: nothing comes back up */

	/* a second, ordinary region on DRAM: its pages go first, the hottest too */
	hy_reg_add(&reg, BASE + NP * PG, 64 * PG, HY_HINT_HYBRID);
	for (int i = 0; i < 64; i++) {
		hy_pstate *s = hy_reg_at(&reg, &reg.reg[1], BASE + (uintptr_t)(NP + i) * PG);

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		*s = hy_ps_set_tier(*s, 0);
	}
	par.dram_limit = (NP - 10) * PG; /* now 64 over */
	epoch_with(none);
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_DEMOTE), 64);
	for (size_t k = 0; k < plan.n; k++)
		CU_ASSERT(plan.items[k].addr >= BASE + NP * PG); /* none of the HOT ones */

	/* room for none, hot pages waiting: an exchange takes no HOT page */
	world(2, 0, HY_HINT_HOT);
	hy_reg_add(&reg, BASE + NP * PG, 64 * PG, HY_HINT_HYBRID);
	for (int i = 0; i < 64; i++)
		*hy_reg_at(&reg, &reg.reg[1], BASE + (uintptr_t)(NP + i) * PG) = hy_ps_set_tier(0, 1);
	par.dram_limit = NP * PG;
	for (int k = 0; k < 3; k++) { /* the ordinary pages, written every epoch */
		uint64_t bits[1] = {~0ULL};

		hy_policy_age(&reg.reg[1], bits);
		epoch_with(none);
	}
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_DEMOTE), 0);
	CU_ASSERT_EQUAL(count_dir(HY_PLAN_PROMOTE), 0);
}

static void test_multi_tier_chain(void)
{
	const int hot[] = {0, 1, -1};

	world(3, 1, HY_HINT_HYBRID);
	for (int i = 0; i < 4; i++) /* pages 0-3 on the slowest tier */
		*st(i) = hy_ps_set_tier(*st(i), 2);
	/* the middle tier is short: its cold pages go one down, to tier 2 */
	tv[1] = (struct hy_tier_view){.free = 0, .low = 2 * PG, .high = 2 * PG};
	epoch_with(hot);
	CU_ASSERT_EQUAL(plan.demote_bytes, 2 * PG);
	for (size_t k = 0; k < plan.n; k++)
		CU_ASSERT(plan.items[k].from == 1 && plan.items[k].to == 2);
	/* hot pages on tier 2 go to the fastest tier with room: 0 */
	tv[1].free = 1024 * MiB;
	epoch_with(hot);
	CU_ASSERT(planned(0, HY_PLAN_PROMOTE) && planned(1, HY_PLAN_PROMOTE));
	CU_ASSERT_EQUAL(hy_ps_tier(*st(0)), 0);
	/* tier 0 full: the next hot pages stop at tier 1 */
	const int hot2[] = {2, 3, -1};
	tv[0].free = 0;
	tv[0].low = 0;
	epoch_with(hot2);
	epoch_with(hot2);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(2)), 1);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(3)), 1);
}

static void test_not_present_and_cap(void)
{
	const int hot[] = {5, -1};

	world(2, 1, HY_HINT_HYBRID);
	epoch_with(hot);
	hy_policy_age(&reg.reg[0], (uint64_t[NP / 64]){1ULL << 5});
	hy_policy_plan(&par, &reg, tv, ++epoch, &plan);
	CU_ASSERT_EQUAL_FATAL(plan.n, 1);
	hy_policy_commit(&par, &reg, &plan.items[0], -ENOENT);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(5)), -1); /* unknown now */
	CU_ASSERT_EQUAL(hy_ps_backoff(*st(5)), 0);
	CU_ASSERT_EQUAL(epoch_with(hot), 0); /* unknown tier: not a candidate */

	world(2, 1, HY_HINT_HOT);
	plan.cap = 5;
	CU_ASSERT_EQUAL(epoch_with(none), 5);
	/* unmapped meanwhile: commit is a no-op */
	struct hy_plan_item gone = {BASE + 10 * NP * PG, 1, 0, HY_PLAN_PROMOTE, 1};
	hy_policy_commit(&par, &reg, &gone, 0);
}

/* The governor's sample, in whole chunks: watched chunks first, densest
 * and hottest first, but the window keeps moving. */
static void test_choose_arm(void)
{
	uint64_t bits[NP / 64];
	size_t n;

	_Static_assert(NP == 4 * HY_ARM_CHUNK, "four chunks");
	world(2, 1, HY_HINT_HYBRID);
	for (int i = 10; i < 20; i++) /* chunk 0: ten pages written once, on the slow tier */
		*st(i) = hy_ps_age(*st(i), true);
	for (int i = 70; i < 80; i++) /* chunk 1: written, but already on tier 0 */
		*st(i) = hy_ps_set_tier(hy_ps_age(*st(i), true), 0);
	for (int i = 130; i < 140; i++) /* chunk 2: written twice: hotter */
		*st(i) = hy_ps_age(hy_ps_age(*st(i), true), true);
	*st(200) |= HY_PS_PIN;		       /* chunk 3 */
	*st(210) = hy_ps_age(*st(210), true); /* chunk 3: one page seen once */
	reg.reg[0].arm_cursor = 1;

	/* 96 pages for watched chunks: the hotter one, then the other */
	n = hy_sampler_choose(par.window, &reg.reg[0], 128, bits, 0);
	CU_ASSERT_EQUAL(n, 128);
	CU_ASSERT_EQUAL(bits[0], ~0ULL);
	CU_ASSERT_EQUAL(bits[1], 0);
	CU_ASSERT_EQUAL(bits[2], ~0ULL);
	CU_ASSERT_EQUAL(bits[3], 0); /* one page seen once: left to the window */
	CU_ASSERT_EQUAL(reg.reg[0].arm_cursor, 1); /* the window did not move */
	CU_ASSERT_EQUAL(reg.reg[0].sweep_n, 0);

	/* a smaller budget (60 for watched chunks): the hotter chunk only,
	 * then the window from the cursor */
	n = hy_sampler_choose(par.window, &reg.reg[0], 80, bits, 0);
	CU_ASSERT_EQUAL(n, 128);
	CU_ASSERT_EQUAL(bits[2], ~0ULL);
	CU_ASSERT_EQUAL(bits[1], ~0ULL); /* the window: chunk 1 */
	CU_ASSERT_EQUAL(bits[0] | bits[3], 0);
	CU_ASSERT_EQUAL(reg.reg[0].sweep_from, 1);
	CU_ASSERT_EQUAL(reg.reg[0].sweep_n, 1);
	CU_ASSERT_EQUAL(reg.reg[0].arm_cursor, 2);

	/* the window skips chosen chunks and leaves pinned pages out */
	n = hy_sampler_choose(par.window, &reg.reg[0], 160, bits, 0);
	CU_ASSERT_EQUAL(n, 64 + 64 + 63);
	CU_ASSERT_EQUAL(bits[3], ~0ULL & ~(1ULL << (200 - 192)));
	CU_ASSERT_EQUAL(reg.reg[0].sweep_from, 2);
	CU_ASSERT_EQUAL(reg.reg[0].sweep_n, 2); /* over chunk 2 (chosen) and 3 */
	CU_ASSERT_EQUAL(reg.reg[0].arm_cursor, 0);
	/* when the bulk of memory yields 10% by chance, ten pages caught in a
	 * chunk are no sign: both chunks are left to the window */
	reg.reg[0].arm_cursor = 0;
	n = hy_sampler_choose(par.window, &reg.reg[0], 128, bits, 100);
	CU_ASSERT_EQUAL(n, 128);
	CU_ASSERT_EQUAL(bits[0], ~0ULL); /* the window, from chunk 0 */
	CU_ASSERT_EQUAL(bits[1], ~0ULL);
	CU_ASSERT_EQUAL(bits[2] | bits[3], 0);
	CU_ASSERT_EQUAL(reg.reg[0].sweep_n, 2);
	/* a chunk caught whole is watched again however much the bulk caught
	 * (the sweep inside a hot region measures a hot "bulk") */
	for (int i = 192; i < 256; i++)
		if (i != 200)
			*st(i) = hy_ps_age(*st(i), true);
	reg.reg[0].arm_cursor = 0;
	n = hy_sampler_choose(par.window, &reg.reg[0], 63, bits, 1000);
	CU_ASSERT_EQUAL(bits[3], ~0ULL & ~(1ULL << (200 - 192)));
	CU_ASSERT_EQUAL(bits[0] | bits[1] | bits[2], 0);
	/* a budget over the region arms every page but the pinned one */
	CU_ASSERT_EQUAL(hy_sampler_choose(par.window, &reg.reg[0], 10 * NP, bits, 0), NP - 1);
	/* PIN regions: never */
	world(2, 1, HY_HINT_PIN);
	CU_ASSERT_EQUAL(hy_sampler_choose(par.window, &reg.reg[0], NP, bits, 0), 0);
}

static void test_governor(void)
{
	struct hy_config cfg;
	struct hy_governor g;

	hy_config_defaults(&cfg); /* 1%, 1 s epochs */
	hy_gov_init(&g, &cfg, 1000, false); /* 1 us per tracked write */
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 10000); /* 10 ms / 1 us, all written */
	for (int k = 0; k < 5; k++)
		hy_gov_learn(&g, 10000, 1000);		     /* only 10% were written */
	CU_ASSERT(hy_gov_budget(&g, 1000000) > 20000);	     /* so arm more (smoothed) */
	CU_ASSERT(hy_gov_budget(&g, 1000000) <= 100000);     /* ... never past 1/10 */
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 500), 500);
	hy_gov_init(&g, &cfg, 1000, true); /* sync: at most 2000 faults per second */
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 2000);
	hy_config_set(&cfg, HY_OPT_TRACK_OVERHEAD, "100", HY_SRC_API, NULL);
	hy_gov_init(&g, &cfg, 1000, false);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 1000000); /* unthrottled */
	hy_gov_init(&g, &cfg, 1000, true);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 2000); /* the fault budget still holds */
	hy_config_set(&cfg, HY_OPT_SYNC_FAULT_BUDGET, "1000000", HY_SRC_API, NULL);
	hy_gov_init(&g, &cfg, 1000, true);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 1000000);
	hy_config_set(&cfg, HY_OPT_SYNC_FAULT_BUDGET, "2000", HY_SRC_API, NULL);
	/* a fixed sample wins over the target and the costs, not the budget */
	hy_config_set(&cfg, HY_OPT_TRACK_SAMPLE, "40M", HY_SRC_API, NULL);
	hy_gov_init(&g, &cfg, 1000, false);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 10240);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 5000), 5000);
	hy_gov_init(&g, &cfg, 1000, true);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 2000);
}

/* Arming costs too: an armed page costs its arming plus, if written, a fault. */
static void test_governor_arm_cost(void)
{
	struct hy_config cfg;
	struct hy_governor g;

	hy_config_defaults(&cfg);
	hy_gov_init(&g, &cfg, 1000, false);
	hy_gov_learn_arm(&g, 100, 100000000); /* too few pages to judge: ignored */
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 10000);
	hy_gov_learn_arm(&g, 10000, 10000000); /* 1 us per page armed */
	CU_ASSERT_EQUAL(g.arm_ns, 1000);
	CU_ASSERT_EQUAL(hy_gov_budget(&g, 1000000), 5000); /* 10 ms / (1 + 1 us) */
	for (int k = 0; k < 20; k++)
		hy_gov_learn_arm(&g, 10000, 0); /* arming got cheap: learnt, smoothed */
	CU_ASSERT(hy_gov_budget(&g, 1000000) >= 9900);
}

/* A measure of `n` sampled chunks, each with `caught` of 64 pages caught. */
static struct hy_catch catch_of(unsigned n, unsigned caught)
{
	struct hy_catch c = {{0}};

	c.chunks[caught] = n;
	return c;
}

/*
 * The adaptive window (track_window 0) follows the lower quartile of the
 * sampled chunks' caught shares: it shrinks while over 1/32 (half the way,
 * in ratio, by 4 at most), grows under 1/64, stays between, and does not
 * move on fewer than 8 chunks.
 */
static void test_track_window_adapt(void)
{
	struct hy_config cfg;
	struct hy_window w;
	struct hy_catch c;

	hy_config_defaults(&cfg);
	CU_ASSERT_EQUAL_FATAL(hy_config_set(&cfg, HY_OPT_TRACK_WINDOW, "0", HY_SRC_API, NULL), 0);
	hy_win_init(&w, &cfg);
	CU_ASSERT(w.adaptive);
	CU_ASSERT_EQUAL(w.us, 1000000); /* starts at the whole epoch */
	c = catch_of(7, 64);
	hy_win_learn(&w, &c); /* too few chunks: keeps */
	CU_ASSERT_EQUAL(w.us, 1000000);
	/* everything caught (a program writing all its pages every second):
	 * a window that told nothing shrinks by 16 at once */
	w.us = 1000000;
	c = catch_of(100, 64);
	CU_ASSERT(!hy_win_learn(&w, &c));
	CU_ASSERT_EQUAL(w.us, 62500);
	/* 9/16 caught: x ln(31/32)/ln(7/16) = 0.038, all the way but by 16 at most */
	w.us = 1000000;
	c = catch_of(100, 36);
	CU_ASSERT(!hy_win_learn(&w, &c));
	CU_ASSERT_EQUAL(w.us, 62500);
	/* 5/16: still a sign; half the way, x sqrt(0.085) */
	w.us = 1000000;
	c = catch_of(100, 20);
	CU_ASSERT(hy_win_learn(&w, &c));
	CU_ASSERT(w.us > 285000 && w.us < 297000);
	/* 1/4 caught: the rate model says x ln(31/32)/ln(3/4) = 0.11; half way: 0.33 */
	w.us = 300000;
	c = catch_of(100, 16);
	hy_win_learn(&w, &c);
	CU_ASSERT(w.us > 95000 && w.us < 105000);
	CU_ASSERT_EQUAL(w.caught_permille, 250);
	/* between 1/64 and 1/32: stays */
	c = catch_of(100, 1); /* 15 permille: grows by sqrt 2 */
	hy_win_learn(&w, &c);
	CU_ASSERT(w.us > 139000 && w.us < 143000);
	w.us = 100000;
	c = catch_of(100, 2); /* 31 permille: stays */
	hy_win_learn(&w, &c);
	CU_ASSERT_EQUAL(w.us, 100000);
	/* nothing caught: doubles, up to the epoch */
	for (int k = 0; k < 10; k++) {
		c = catch_of(100, 0);
		hy_win_learn(&w, &c);
	}
	CU_ASSERT_EQUAL(w.us, 1000000);
	/* down to 1/200 of the epoch, no further; while it can still shrink, a
	 * window that caught over 1/8 of the bulk says nothing (false) */
	for (int k = 0; k < 20; k++) {
		uint64_t before = w.us;

		c = catch_of(100, 64);
		CU_ASSERT_EQUAL(hy_win_learn(&w, &c), before == 5000);
	}
	CU_ASSERT_EQUAL(w.us, 5000);
	/* at its shortest, what it still catches is taken for hot pages: the
	 * sample's choice assumes 1/32 by chance; above it, the measure */
	c = catch_of(100, 4);
	hy_win_learn(&w, &c);
	CU_ASSERT_EQUAL(w.caught_permille, 62);
	CU_ASSERT_EQUAL(hy_win_bulk(&w), 31);
	w.us = 6000;
	CU_ASSERT_EQUAL(hy_win_bulk(&w), 62);
	w.us = 100000;
	c = catch_of(100, 32); /* 500 permille: still a sign */
	CU_ASSERT(hy_win_learn(&w, &c));
	w.us = 100000;
	c = catch_of(100, 33); /* 515 */
	CU_ASSERT(!hy_win_learn(&w, &c));
	c = catch_of(7, 64); /* too few chunks to say */
	CU_ASSERT(hy_win_learn(&w, &c));
	/* the lower quartile: hot chunks do not count unless they are over
	 * three quarters of the sample (a median would shrink here) */
	w.us = 100000;
	c = catch_of(40, 0);
	c.chunks[64] = 60;
	hy_win_learn(&w, &c);
	CU_ASSERT(w.us > 100000);
	w.us = 100000;
	c = catch_of(20, 0); /* three quarters hot: the window must shrink */
	c.chunks[64] = 80;
	hy_win_learn(&w, &c);
	CU_ASSERT(w.us < 100000);
	/* a fixed window never moves */
	hy_config_set(&cfg, HY_OPT_TRACK_WINDOW, "10", HY_SRC_API, NULL);
	hy_win_init(&w, &cfg);
	CU_ASSERT(!w.adaptive);
	CU_ASSERT_EQUAL(w.us, 100000);
	c = catch_of(100, 64);
	CU_ASSERT(hy_win_learn(&w, &c)); /* chosen by the user: trusted */
	CU_ASSERT_EQUAL(w.us, 100000);
	CU_ASSERT_EQUAL(hy_win_bulk(&w), 1000);
}

/* An epoch not counted: the last history bit goes, the earlier ones stay. */
static void test_forget_last(void)
{
	uint64_t bits[NP / 64] = {0};

	world(2, 1, HY_HINT_HYBRID);
	bits[0] = 0x3;
	hy_policy_age(&reg.reg[0], bits);
	bits[0] = 0x1;
	hy_policy_age(&reg.reg[0], bits);
	hy_policy_forget_last(&reg.reg[0]);
	CU_ASSERT_EQUAL(hy_ps_hist(*st(0)), 2);
	CU_ASSERT_EQUAL(hy_ps_hist(*st(1)), 2);
	CU_ASSERT_EQUAL(hy_ps_hist(*st(2)), 0);
	CU_ASSERT_EQUAL(hy_ps_tier(*st(0)), 1);
}

/* A region of 64 chunks (8 sweep groups of 8 chunks). */
#define BIGCH 64
static void big_world(void)
{
	world(2, 1, HY_HINT_HYBRID);
	hy_reg_destroy(&reg);
	hy_reg_init(&reg);
	hy_reg_add(&reg, BASE, (size_t)BIGCH * HY_ARM_CHUNK * PG, HY_HINT_HYBRID);
	populate(BIGCH * HY_ARM_CHUNK, 1);
}

/* Which chunks bits[] arms whole: a 64-bit mask of chunks. */
static uint64_t chunks_armed(const uint64_t *bits)
{
	uint64_t m = 0;

	for (int c = 0; c < BIGCH; c++) {
		CU_ASSERT(bits[c] == 0 || bits[c] == ~0ULL);
		if (bits[c])
			m |= 1ULL << c;
	}
	return m;
}

/*
 * The sweep goes over groups of 8 chunks in bit-reversed order (0, 4, 2,
 * 6, 1, 5, 3, 7 for 8 groups): each epoch's part is spread over the
 * region; hy_sampler_catch goes over the same chunks.
 */
static void test_sweep_spread(void)
{
	uint64_t bits[BIGCH] = {0}, written[BIGCH] = {0};
	struct hy_catch c = {{0}};

	big_world();
	CU_ASSERT_EQUAL(hy_sampler_choose(par.window, &reg.reg[0], 16 * HY_ARM_CHUNK, bits, 0),
			16 * HY_ARM_CHUNK);
	CU_ASSERT_EQUAL(chunks_armed(bits), 0xffULL | 0xffULL << 32); /* groups 0 and 4 */
	CU_ASSERT_EQUAL(reg.reg[0].sweep_n, 16);
	written[33] = 0xff; /* 8 of chunk 33's pages */
	written[40] = ~0ULL; /* group 5: not swept */
	hy_sampler_catch(&reg.reg[0], written, &c);
	CU_ASSERT_EQUAL(c.chunks[0], 15);
	CU_ASSERT_EQUAL(c.chunks[8], 1);
	/* on from there: groups 2 and 6, then 1 and half of 5 */
	hy_sampler_choose(par.window, &reg.reg[0], 16 * HY_ARM_CHUNK, bits, 0);
	CU_ASSERT_EQUAL(chunks_armed(bits), 0xffULL << 16 | 0xffULL << 48);
	hy_sampler_choose(par.window, &reg.reg[0], 12 * HY_ARM_CHUNK, bits, 0);
	CU_ASSERT_EQUAL(chunks_armed(bits), 0xffULL << 8 | 0xfULL << 40);
	/* a region of 3 groups: bit-reversed over 4, group 3 skipped: 0, 2, 1 */
	hy_reg_destroy(&reg);
	hy_reg_init(&reg);
	hy_reg_add(&reg, BASE, (size_t)24 * HY_ARM_CHUNK * PG, HY_HINT_HYBRID);
	populate(24 * HY_ARM_CHUNK, -1);
	memset(bits, 0, sizeof(bits));
	hy_sampler_choose(par.window, &reg.reg[0], 16 * HY_ARM_CHUNK, bits, 0);
	CU_ASSERT_EQUAL(chunks_armed(bits), 0xffULL | 0xffULL << 16);
	hy_sampler_choose(par.window, &reg.reg[0], 16 * HY_ARM_CHUNK, bits, 0);
	CU_ASSERT_EQUAL(chunks_armed(bits), 0xffULL << 8 | 0xffULL); /* and round again */
}

/*
 * A page whose only history is its first touch is fresh for the measure of
 * the bulk (hy_sampler_catch): a program that has just populated its memory
 * has every page "accessed", and the window must be measurable at once.  A
 * tracked access in another epoch makes it not fresh again.
 */
static void test_catch_first_touch(void)
{
	uint64_t all[BIGCH], written[BIGCH] = {0};
	struct hy_catch c = {{0}};
	struct hy_region *g;

	big_world();
	g = &reg.reg[0];
	for (int k = 0; k < BIGCH; k++)
		all[k] = ~0ULL;
	hy_policy_age(g, all); /* every page accessed last epoch: first touches */
	hy_sampler_took_all(g); /* the sweep went over every chunk */
	for (int k = 0; k < BIGCH; k++)
		written[k] = 0xffffULL; /* 16 of 64 caught everywhere */
	hy_sampler_catch(g, written, &c);
	for (int b = 0; b < HY_CATCH_BUCKETS; b++) /* not marked: no page is fresh */
		CU_ASSERT_EQUAL(c.chunks[b], 0);
	for (int k = 0; k < BIGCH; k++)
		g->ch[k].touched |= 1; /* as the epoch marks them */
	hy_sampler_catch(g, written, &c);
	CU_ASSERT_EQUAL(c.chunks[16], BIGCH);
	/* an epoch on, a tracked access (not a first touch) in chunk 0: its
	 * pages are no longer fresh; the mark ages with the history */
	memset(written, 0, sizeof(written));
	written[0] = ~0ULL;
	hy_policy_age(g, written);
	CU_ASSERT_EQUAL(g->ch[0].touched, 2);
	memset(&c, 0, sizeof(c));
	written[0] = 0;
	hy_sampler_catch(g, written, &c);
	CU_ASSERT_EQUAL(c.chunks[0], BIGCH - 1); /* chunk 0 left out, the others fresh */
	/* eight epochs on, the first touch has left the history */
	for (int i = 0; i < 8; i++)
		hy_policy_age(g, NULL);
	CU_ASSERT_EQUAL(g->ch[1].touched, 0);
	memset(&c, 0, sizeof(c));
	hy_sampler_catch(g, written, &c);
	CU_ASSERT_EQUAL(c.chunks[0], BIGCH);
}

/* Caught in the last epoch: pages [from, to) of the region. */
static void caught_last(int from, int to)
{
	for (int i = from; i < to; i++)
		*st(i) = hy_ps_age(*st(i), true);
}

/*
 * Chunks beside a run of half-caught chunks are armed, as far on each side
 * as the run is long -- unless they have nothing to promote, or the window
 * catches too much of the bulk for half a chunk to be a sign.
 */
static void test_explore_near(void)
{
	uint64_t bits[BIGCH] = {0};

	big_world();
	/* chunks 20 and 21 half caught, 40 a third: only 20-21 are dense */
	caught_last(20 * HY_ARM_CHUNK, 20 * HY_ARM_CHUNK + 32);
	caught_last(21 * HY_ARM_CHUNK, 22 * HY_ARM_CHUNK);
	caught_last(40 * HY_ARM_CHUNK, 40 * HY_ARM_CHUNK + 21);
	/* chunk 23: all on tier 0 already */
	for (int i = 23 * HY_ARM_CHUNK; i < 24 * HY_ARM_CHUNK; i++)
		*st(i) = hy_ps_set_tier(*st(i), 0);
	/* a budget with room for 6 chunks before the sweep's quarter */
	hy_sampler_choose(par.window, &reg.reg[0], 8 * HY_ARM_CHUNK, bits, 30);
	/* watched: 20, 21 and 40 (21 pages > twice 30 permille); near: 18,
	 * 19 and 22 (23 has nothing to promote); the sweep: chunks 0 and 1 */
	CU_ASSERT_EQUAL(chunks_armed(bits), 0x3ULL | 0x1fULL << 18 | 1ULL << 40);
	/* the bulk yields 3/10 by chance: no exploring; only 21 is watched
	 * (20 and 40 are under twice the bulk, 38 pages); the sweep goes on
	 * over chunks 2-7, then group 4 */
	hy_sampler_choose(par.window, &reg.reg[0], 8 * HY_ARM_CHUNK, bits, 300);
	CU_ASSERT_EQUAL(chunks_armed(bits), 0xfcULL | 1ULL << 21 | 1ULL << 32);
}

/* The measure: per sampled chunk, the share of its fresh pages caught. */
static void test_catch(void)
{
	uint64_t written[NP / 64] = {0};
	struct hy_catch c = {{0}};

	world(2, 1, HY_HINT_HYBRID);
	reg.reg[0].sweep_from = 3; /* chunks 3 and 0 (it wraps) */
	reg.reg[0].sweep_n = 2;
	written[3] = 0xffff;		/* chunk 3: 16 of 64 */
	written[1] = ~0ULL;		/* chunk 1: not sampled */
	for (int i = 0; i < 40; i++)	/* chunk 0: 40 pages written lately: not fresh */
		*st(i) = hy_ps_age(*st(i), true);
	written[0] = 0xf;		/* 4 written, of the not-fresh ones */
	hy_sampler_catch(&reg.reg[0], written, &c);
	CU_ASSERT_EQUAL(c.chunks[16], 1); /* chunk 3 */
	unsigned total = 0;
	for (int b = 0; b < HY_CATCH_BUCKETS; b++)
		total += c.chunks[b];
	CU_ASSERT_EQUAL(total, 1); /* chunk 0 has 24 fresh pages: left out */
	for (int i = 0; i < 40; i++)
		*st(i) = 0; /* now 64 fresh pages in chunk 0, 4 caught */
	hy_sampler_catch(&reg.reg[0], written, &c);
	CU_ASSERT_EQUAL(c.chunks[4], 1);
	CU_ASSERT_EQUAL(c.chunks[16], 2);
}

static void test_params_from_config(void)
{
	struct hy_config cfg;

	hy_config_defaults(&cfg);
	hy_policy_params_from(&par, &cfg, 2);
	CU_ASSERT_EQUAL(par.threshold, 2);
	CU_ASSERT_EQUAL(par.window, 4);
	CU_ASSERT_EQUAL(par.promote_budget, 256 * MiB); /* 256M/s x 1s */
	CU_ASSERT_EQUAL(par.dram_limit, 0);
}

static const struct hy_test tests[] = {
	HY_TEST(test_twice_rule),	   HY_TEST(test_window),
	HY_TEST(test_hottest_first_and_rate_limit), HY_TEST(test_watermarks),
	HY_TEST(test_coldest_first),	   HY_TEST(test_dram_limit), HY_TEST(test_exchange_spares_hot),
	HY_TEST(test_hot_hint_and_dram_limit),
	HY_TEST(test_hold_off_and_thrash), HY_TEST(test_hold_off_onward),
	HY_TEST(test_backoff),
	HY_TEST(test_pin),		   HY_TEST(test_hints),
	HY_TEST(test_multi_tier_chain),	   HY_TEST(test_not_present_and_cap),
	HY_TEST(test_choose_arm),	   HY_TEST(test_governor), HY_TEST(test_governor_arm_cost), HY_TEST(test_track_window_adapt), HY_TEST(test_catch),
	HY_TEST(test_forget_last),	   HY_TEST(test_sweep_spread), HY_TEST(test_catch_first_touch),
	HY_TEST(test_explore_near),
	HY_TEST(test_params_from_config),
};

int main(int argc, char **argv)
{
	int rc;

	hy_reg_init(&reg);
	rc = hy_cunit_run(argc - 1, argv + 1, "policy", tests, sizeof(tests) / sizeof(tests[0]));
	hy_reg_destroy(&reg);
	return rc;
}
