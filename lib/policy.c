/* SPDX-License-Identifier: MIT */
/*
 * policy — see policy.h.
 */
#include "policy.h"

#include <errno.h>
#include <string.h>

#include "hist.h"

#define PAGE HY_PAGE_SIZE

void hy_policy_params_from(struct hy_policy_params *p, const struct hy_config *cfg, int ntiers)
{
	memset(p, 0, sizeof(*p));
	p->threshold = (unsigned)cfg->promote_threshold;
	p->window = (unsigned)cfg->promote_window;
	p->promote_budget = cfg->promote_rate ? cfg->promote_rate * cfg->epoch_us / 1000000 : 0;
	if (cfg->promote_rate && p->promote_budget < PAGE)
		p->promote_budget = PAGE; /* a rate below one page per epoch still moves */
	p->dram_limit = cfg->dram_limit;
	p->hold_epochs = 2;
	p->ntiers = ntiers;
}

void hy_policy_age(struct hy_region *g, const uint64_t *written)
{
	size_t n = (g->end - g->start) / PAGE;

	for (size_t i = 0; i < n; i++)
		g->state[i] = hy_ps_age(g->state[i], written && (written[i / 64] >> (i % 64) & 1));
}

static bool backoff_allows(hy_pstate s, uint64_t epoch)
{
	unsigned level = hy_ps_backoff(s);
	return !level || epoch % (UINT64_C(1) << (2 * level)) == 0;
}

/* 1..255, higher = hotter: distinct epochs first, then recency. */
static uint8_t heat(hy_pstate s, unsigned window)
{
	unsigned hist = hy_ps_hist(s);
	unsigned recent = hist ? 8 - (unsigned)__builtin_ctz(hist) : 0; /* 8 = written last epoch */
	return (uint8_t)(1 + hy_ps_seen(s, window) * 16 + recent);
}

/* 1..255, higher = colder: epochs since the last write, then fewer writes. */
static uint8_t chill(hy_pstate s)
{
	unsigned hist = hy_ps_hist(s);
	unsigned age = hist ? (unsigned)__builtin_ctz(hist) : 8;
	return (uint8_t)(1 + age * 16 + (8 - hy_popcount8(hist)));
}

struct want {
	int dir;	/* -1 none, else enum hy_plan_dir */
	int to;		/* target tier (demotion); promotion targets are assigned later */
	uint8_t score;
	bool held;	/* it would move back within its hold-off: refused, counted */
};

/*
 * What the policy would do with one page, ignoring budgets.  `need[]` says
 * which tiers must shed pages this epoch.
 */
static inline struct want judge(const struct hy_policy_params *p, const struct hy_region *g,
			 hy_pstate s, const bool *need, uint64_t epoch)
{
	struct want w = {-1, -1, 0, false};
	int tier = hy_ps_tier(s);
	bool hot, cold_hint = g->hint == HY_HINT_COLD;
	enum hy_move_dir last;

	/* the common case first: no recent write, no hint, nothing to shed */
	if (!hy_ps_hist(s) && g->hint == HY_HINT_HYBRID && (tier < 0 || !need[tier]))
		return w;
	last = hy_ps_moved_dir(s);
	if (tier < 0 || hy_ps_pinned(s) || g->hint == HY_HINT_PIN || !backoff_allows(s, epoch))
		return w;
	hot = g->hint == HY_HINT_HOT || (!cold_hint && hy_ps_seen(s, p->window) >= p->threshold);
	if (hot && tier > 0 && !cold_hint) {
		w = (struct want){HY_PLAN_PROMOTE, -1, g->hint == HY_HINT_HOT ? 255 : heat(s, p->window),
				  last == HY_DIR_DOWN};
	} else if (cold_hint && tier < p->ntiers - 1) {
		w = (struct want){HY_PLAN_DEMOTE, p->ntiers - 1, 255, last == HY_DIR_UP};
	} else if (g->hint != HY_HINT_HOT && tier < p->ntiers - 1 && need[tier]) {
		/* a tier that must shed gives up its coldest pages, hot or not:
		 * the limit and the watermark hold, coldest first */
		w = (struct want){HY_PLAN_DEMOTE, tier + 1, chill(s), last == HY_DIR_UP};
	}
	return w;
}

/*
 * judge(), for a tier that sheds only to exchange (see hy_policy_plan): of
 * its pages, only those the twice rule does not call hot may go for the
 * waiting hot ones (COLD-hinted pages go anyway).
 */
static struct want judge_x(const struct hy_policy_params *p, const struct hy_region *g,
			   hy_pstate s, const bool *need, const bool *exch, uint64_t epoch)
{
	struct want w = judge(p, g, s, need, epoch);
	int tier = hy_ps_tier(s);

	if (w.dir == HY_PLAN_DEMOTE && tier >= 0 && exch[tier] && g->hint != HY_HINT_COLD &&
	    hy_ps_seen(s, p->window) >= p->threshold)
		w.dir = -1;
	return w;
}

/* Heapsort of the plan by score, descending (no qsort: it may malloc). */
static void sift(struct hy_plan_item *a, size_t i, size_t n)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && a[l].score < a[m].score)
			m = l;
		if (l + 1 < n && a[l + 1].score < a[m].score)
			m = l + 1;
		if (m == i)
			return;
		struct hy_plan_item t = a[i];
		a[i] = a[m];
		a[m] = t;
		i = m;
	}
}

static void sort_by_score(struct hy_plan_item *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t end = n; end > 1; end--) {
		struct hy_plan_item t = a[0];
		a[0] = a[end - 1];
		a[end - 1] = t;
		sift(a, 0, end - 1);
	}
}

/* Visit every page: fn(region, index, state) */
#define for_each_page(r, g, i)                                                                     \
	for (size_t ri_ = 0; ri_ < (r)->n; ri_++)                                                  \
		for (struct hy_region *g = &(r)->reg[ri_]; g; g = NULL)                            \
			for (size_t i = 0; i < (g->end - g->start) / PAGE; i++)

size_t hy_policy_plan(const struct hy_policy_params *p, struct hy_registry *r,
		      const struct hy_tier_view *tiers, uint64_t epoch, struct hy_plan *plan)
{
	uint64_t shed[HY_MAX_TIERS] = {0}, room[HY_MAX_TIERS] = {0};
	uint64_t hist_d[HY_MAX_TIERS][256], hist_p[256], thrash = 0, budget;
	bool need[HY_MAX_TIERS] = {false}, exch[HY_MAX_TIERS] = {false};
	int cut_d[HY_MAX_TIERS], cut_p;
	uint64_t left_d[HY_MAX_TIERS], left_p;
	size_t first_promote = 0;

	plan->n = 0;
	plan->promote_bytes = plan->demote_bytes = 0;
	plan->waiting = plan->exchange = 0;
	memset(plan->tier_bytes, 0, sizeof(plan->tier_bytes));
	for_each_page(r, g, i)
	{
		int t = hy_ps_tier(g->state[i]);
		if (t >= 0 && t < HY_MAX_TIERS)
			plan->tier_bytes[t] += PAGE;
	}

	/* How much each tier must shed, and how much each may take. */
	for (int t = 0; t < p->ntiers; t++) {
		const struct hy_tier_view *v = &tiers[t];

		if (v->free < v->low)
			shed[t] = v->high - v->free;
		room[t] = v->free > v->high ? v->free - v->high : 0;
	}
	if (p->dram_limit) {
		if (plan->tier_bytes[0] > p->dram_limit && plan->tier_bytes[0] - p->dram_limit > shed[0])
			shed[0] = plan->tier_bytes[0] - p->dram_limit;
		uint64_t lim = plan->tier_bytes[0] < p->dram_limit ? p->dram_limit - plan->tier_bytes[0] : 0;
		if (room[0] > lim)
			room[0] = lim;
	}
	for (int t = 0; t + 1 < p->ntiers; t++) {
		need[t] = shed[t] > 0;
		if (need[t])
			room[t] = 0; /* a tier that sheds takes nothing */
	}

	/* Pass 1: score histograms of the candidates. */
	memset(hist_d, 0, sizeof(hist_d));
	memset(hist_p, 0, sizeof(hist_p));
	for_each_page(r, g, i)
	{
		struct want w = judge(p, g, g->state[i], need, epoch);
		int t = hy_ps_tier(g->state[i]);

		if (w.dir == HY_PLAN_DEMOTE)
			hist_d[t][w.score] += PAGE;
		else if (w.dir == HY_PLAN_PROMOTE)
			hist_p[w.score] += PAGE;
	}

	/*
	 * Exchange.  The fastest tier has no room (at its DRAM limit, or at its
	 * high watermark) while hot pages wait below: without more, they would
	 * wait for ever behind pages that are no longer hot (the hot set moved).
	 * So it gives up its pages that are not hot, coldest first, page for
	 * page for the waiting ones (within the rate budget): demoted first in
	 * this epoch's plan, then the promotions take their place.  Pages the
	 * twice rule still calls hot are never exchanged.
	 */
	if (p->ntiers > 1 && !need[0]) {
		uint64_t waiting = 0, cold = 0, x;

		for (int sc = 1; sc < 256; sc++)
			waiting += hist_p[sc];
		plan->waiting = waiting;
		if (waiting > room[0]) {
			exch[0] = need[0] = true; /* as judge_x sees it */
			for_each_page(r, g, i)
			{
				struct want w = judge_x(p, g, g->state[i], need, exch, epoch);

				if (hy_ps_tier(g->state[i]) == 0 && w.dir == HY_PLAN_DEMOTE && !w.held)
					cold += PAGE;
			}
			x = waiting - room[0] < cold ? waiting - room[0] : cold;
			if (p->promote_budget && x > p->promote_budget)
				x = p->promote_budget;
			plan->exchange = x;
			if (x) {
				shed[0] = x;
				room[0] += x;
				memset(hist_d[0], 0, sizeof(hist_d[0]));
				for_each_page(r, g, i)
				{
					struct want w = judge_x(p, g, g->state[i], need, exch, epoch);

					if (hy_ps_tier(g->state[i]) == 0 && w.dir == HY_PLAN_DEMOTE)
						hist_d[0][w.score] += PAGE;
				}
			} else {
				exch[0] = need[0] = false;
			}
		}
	}

	plan->room0 = room[0];
	/* The cuts: the lowest score taken, and how much of it. */
	for (int t = 0; t < p->ntiers; t++) {
		cut_d[t] = hy_hist_cut(hist_d[t], shed[t], &left_d[t]);
		if (!shed[t] && hist_d[t][255]) {
			cut_d[t] = 255; /* COLD-hinted pages go even when nothing must be shed */
			left_d[t] = hist_d[t][255];
		}
	}
	budget = 0;
	for (int t = 0; t + 1 < p->ntiers; t++)
		budget += room[t];
	if (p->promote_budget && budget > p->promote_budget)
		budget = p->promote_budget;
	cut_p = hy_hist_cut(hist_p, budget, &left_p);

	/* Pass 2: emit what passed the cut, demotions first (a pass with
	 * nothing past its cut is skipped: it would only visit every page). */
	for (int pass = 0; pass < 2; pass++) {
		bool any = pass == 1 && cut_p < 256;

		for (int t = 0; pass == 0 && t < p->ntiers; t++)
			any |= cut_d[t] < 256;
		if (!any) {
			if (pass == 0)
				first_promote = plan->n;
			continue;
		}
		for_each_page(r, g, i)
		{
			struct want w = judge_x(p, g, g->state[i], need, exch, epoch);
			int t = hy_ps_tier(g->state[i]);
			struct hy_plan_item it = {g->start + i * PAGE, (uint8_t)t, 0, 0, w.score};

			if (plan->n == plan->cap)
				break;
			if (pass == 0 && w.dir == HY_PLAN_DEMOTE && w.score >= cut_d[t]) {
				if (w.score == cut_d[t]) {
					if (!left_d[t])
						continue;
					left_d[t] -= left_d[t] < PAGE ? left_d[t] : PAGE;
				}
				if (w.held) {
					thrash++; /* chosen, but it would bounce back */
					continue;
				}
				it.to = (uint8_t)w.to;
				it.dir = HY_PLAN_DEMOTE;
				plan->items[plan->n++] = it;
			} else if (pass == 1 && w.dir == HY_PLAN_PROMOTE && w.score >= cut_p) {
				if (w.score == cut_p) {
					if (!left_p)
						continue;
					left_p -= left_p < PAGE ? left_p : PAGE;
				}
				if (w.held) {
					thrash++;
					continue;
				}
				it.dir = HY_PLAN_PROMOTE;
				plan->items[plan->n++] = it;
			}
		}
		if (pass == 0)
			first_promote = plan->n;
	}

	/* Order each kind by score, then give promotions their tier: the
	 * fastest faster tier with room, hottest first. */
	sort_by_score(plan->items, first_promote);
	sort_by_score(plan->items + first_promote, plan->n - first_promote);
	{
		size_t out = first_promote;
		for (size_t k = first_promote; k < plan->n; k++) {
			struct hy_plan_item *it = &plan->items[k];
			int to = -1;
			for (int t = 0; t < it->from && to < 0; t++)
				if (room[t] >= PAGE)
					to = t;
			if (to < 0)
				continue;
			room[to] -= PAGE;
			it->to = (uint8_t)to;
			plan->items[out++] = *it;
		}
		plan->n = out;
	}
	for (size_t k = 0; k < plan->n; k++) {
		if (plan->items[k].dir == HY_PLAN_PROMOTE)
			plan->promote_bytes += PAGE;
		else
			plan->demote_bytes += PAGE;
	}
	plan->thrash = thrash;
	return plan->n;
}

void hy_policy_commit(const struct hy_policy_params *p, struct hy_registry *r,
		      const struct hy_plan_item *it, int result)
{
	struct hy_region *g = hy_reg_find(r, it->addr);
	hy_pstate *s;

	if (!g)
		return; /* unmapped meanwhile */
	s = &g->state[(it->addr - g->start) / PAGE];
	if (result >= 0) {
		*s = hy_ps_set_tier(*s, result);
		*s = hy_ps_set_moved(*s, it->dir == HY_PLAN_PROMOTE ? HY_DIR_UP : HY_DIR_DOWN,
				     p->hold_epochs);
	} else if (result == -EFAULT || result == -ENOENT) {
		*s = hy_ps_set_tier(*s, -1); /* not present: learn again when written */
	} else {
		*s = hy_ps_set_backoff(*s, hy_ps_backoff(*s) + 1);
	}
}

void hy_policy_forget_last(struct hy_region *g)
{
	size_t n = (g->end - g->start) / PAGE;

	for (size_t i = 0; i < n; i++)
		g->state[i] &= (hy_pstate)~1u;
}
