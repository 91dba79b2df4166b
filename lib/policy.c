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
	for (size_t k = 0; k < g->nch; k++) {
		hy_pstate *st = g->ch[k].st;
		uint64_t w = written ? written[k] : 0;

		g->ch[k].touched = (uint8_t)(g->ch[k].touched << 1);
		/* a page with no history, no hold-off and no access stays as it is */
		for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
			if (st[j] & (HY_PS_HIST_MASK | HY_PS_HOLD_MASK) || w >> j & 1)
				st[j] = hy_ps_age(st[j], w >> j & 1);
	}
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
	if (g->slot && !g->lead)
		return w; /* the tree's memory: another member moves it (board.h) */
	hot = g->hint == HY_HINT_HOT || (!cold_hint && hy_ps_seen(s, p->window) >= p->threshold);
	if (hot && tier > 0 && !cold_hint) {
		w = (struct want){HY_PLAN_PROMOTE, -1, g->hint == HY_HINT_HOT ? 255 : heat(s, p->window),
				  last == HY_DIR_DOWN};
	} else if (cold_hint && tier < p->ntiers - 1) {
		w = (struct want){HY_PLAN_DEMOTE, p->ntiers - 1, 255, last == HY_DIR_UP};
	} else if (tier < p->ntiers - 1 && need[tier]) {
		/* a tier that must shed gives up its coldest pages, hot or not:
		 * the limit and the watermark hold, coldest first; HOT-hinted
		 * pages too, last of all (the lowest score), or the DRAM limit
		 * would not hold, and below the watermark the kernel would
		 * reclaim them */
		w = (struct want){HY_PLAN_DEMOTE, tier + 1, g->hint == HY_HINT_HOT ? 1 : chill(s),
				  last == HY_DIR_UP};
	}
	return w;
}

/*
 * judge(), for a tier that sheds only to exchange (see hy_policy_plan): of
 * its pages, only those the twice rule does not call hot may go for the
 * waiting hot ones (COLD-hinted pages go anyway, HOT-hinted ones never: an
 * exchange is no shortage of DRAM).
 */
static inline struct want judge_x(const struct hy_policy_params *p, const struct hy_region *g,
			   hy_pstate s, const bool *need, const bool *exch, uint64_t epoch)
{
	struct want w = judge(p, g, s, need, epoch);
	int tier = hy_ps_tier(s);

	if (w.dir == HY_PLAN_DEMOTE && tier >= 0 && exch[tier] && g->hint != HY_HINT_COLD &&
	    (g->hint == HY_HINT_HOT || hy_ps_seen(s, p->window) >= p->threshold))
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

/*
 * Visit every page with state: region g, chunk c, page j of it (state
 * c->st[j]).  Pages of no chunk are fresh, which no rule moves; pages of a
 * chunk outside its region are fresh too (region.h), so none is masked.
 */
#define for_each_page(r, g, c, j)                                                                  \
	for (size_t ri_ = 0; ri_ < (r)->n; ri_++)                                                  \
		for (struct hy_region *g = &(r)->reg[ri_]; g; g = NULL)                            \
			for (size_t ci_ = 0; ci_ < g->nch; ci_++)                                  \
				for (struct hy_chunk *c = &g->ch[ci_]; c; c = NULL)                \
					for (size_t j = 0; j < HY_CHUNK_PAGES; j++)

/*
 * One plan in the making: what each step of hy_policy_plan hands the next
 * (it starts zeroed).  shed / room: bytes each tier must give up / may take
 * this epoch; need: the tiers that shed; exch: those that shed only to
 * exchange (judge_x); hist_d (per tier) / hist_p: bytes of demotion /
 * promotion candidates per score; cut_* / left_*: the lowest score taken
 * and how much of it still fits (hy_hist_cut).
 */
struct planner {
	const struct hy_policy_params *p;
	struct hy_registry *r;
	uint64_t epoch;
	struct hy_plan *plan;
	uint64_t shed[HY_MAX_TIERS], room[HY_MAX_TIERS];
	bool need[HY_MAX_TIERS], exch[HY_MAX_TIERS];
	uint64_t hist_d[HY_MAX_TIERS][256], hist_p[256];
	int cut_d[HY_MAX_TIERS], cut_p;
	uint64_t left_d[HY_MAX_TIERS], left_p;
	uint64_t thrash;
};

/* The plan's counters cleared, and our pages counted per tier. */
static void plan_reset(struct planner *pl)
{
	struct hy_plan *plan = pl->plan;

	plan->n = 0;
	plan->promote_bytes = plan->demote_bytes = 0;
	plan->waiting = plan->exchange = 0;
	memset(plan->tier_bytes, 0, sizeof(plan->tier_bytes));
	for_each_page(pl->r, g, c, j)
	{
		int t = hy_ps_tier(c->st[j]);
		if (t >= 0 && t < HY_MAX_TIERS)
			plan->tier_bytes[t] += PAGE;
	}
}

/* How much each tier must shed, and how much each may take. */
static void plan_room(struct planner *pl, const struct hy_tier_view *tiers)
{
	const struct hy_policy_params *p = pl->p;
	const uint64_t *ours = pl->plan->tier_bytes;

	for (int t = 0; t < p->ntiers; t++) {
		const struct hy_tier_view *v = &tiers[t];

		if (v->free < v->low)
			pl->shed[t] = v->high - v->free;
		pl->room[t] = v->free > v->high ? v->free - v->high : 0;
	}
	if (p->dram_limit) {
		if (ours[0] > p->dram_limit && ours[0] - p->dram_limit > pl->shed[0])
			pl->shed[0] = ours[0] - p->dram_limit;
		uint64_t lim = ours[0] < p->dram_limit ? p->dram_limit - ours[0] : 0;
		if (pl->room[0] > lim)
			pl->room[0] = lim;
	}
	for (int t = 0; t + 1 < p->ntiers; t++) {
		pl->need[t] = pl->shed[t] > 0;
		if (pl->need[t])
			pl->room[t] = 0; /* a tier that sheds takes nothing */
	}
}

/* Pass 1: score histograms of the candidates. */
static void plan_scores(struct planner *pl)
{
	for_each_page(pl->r, g, c, j)
	{
		struct want w = judge(pl->p, g, c->st[j], pl->need, pl->epoch);
		int t = hy_ps_tier(c->st[j]);

		if (w.dir == HY_PLAN_DEMOTE)
			pl->hist_d[t][w.score] += PAGE;
		else if (w.dir == HY_PLAN_PROMOTE)
			pl->hist_p[w.score] += PAGE;
	}
}

/* Bytes of tier 0 an exchange may demote: not hot, not held back. */
static uint64_t exchangeable(const struct planner *pl)
{
	uint64_t cold = 0;

	for_each_page(pl->r, g, c, j)
	{
		struct want w;

		if (hy_ps_tier(c->st[j]) != 0)
			continue; /* only tier 0 gives pages up in an exchange */
		w = judge_x(pl->p, g, c->st[j], pl->need, pl->exch, pl->epoch);
		if (w.dir == HY_PLAN_DEMOTE && !w.held)
			cold += PAGE;
	}
	return cold;
}

/* Tier 0's demotion histogram again, as judge_x sees it while exchanging. */
static void rescore_tier0(struct planner *pl)
{
	memset(pl->hist_d[0], 0, sizeof(pl->hist_d[0]));
	for_each_page(pl->r, g, c, j)
	{
		struct want w;

		if (hy_ps_tier(c->st[j]) != 0)
			continue;
		w = judge_x(pl->p, g, c->st[j], pl->need, pl->exch, pl->epoch);
		if (w.dir == HY_PLAN_DEMOTE)
			pl->hist_d[0][w.score] += PAGE;
	}
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
static void plan_exchange(struct planner *pl)
{
	const struct hy_policy_params *p = pl->p;
	uint64_t waiting = 0, cold, x;

	if (p->ntiers <= 1 || pl->need[0])
		return; /* one tier, or tier 0 sheds anyway */
	for (int sc = 1; sc < 256; sc++)
		waiting += pl->hist_p[sc];
	pl->plan->waiting = waiting;
	if (waiting <= pl->room[0])
		return;
	pl->exch[0] = pl->need[0] = true; /* as judge_x sees it */
	cold = exchangeable(pl);
	x = waiting - pl->room[0] < cold ? waiting - pl->room[0] : cold;
	if (p->promote_budget && x > p->promote_budget)
		x = p->promote_budget;
	pl->plan->exchange = x;
	if (!x) {
		pl->exch[0] = pl->need[0] = false;
		return;
	}
	pl->shed[0] = x;
	pl->room[0] += x;
	rescore_tier0(pl);
}

/* The cuts: the lowest score taken, and how much of it. */
static void plan_cuts(struct planner *pl)
{
	const struct hy_policy_params *p = pl->p;
	uint64_t budget = 0;

	for (int t = 0; t < p->ntiers; t++) {
		pl->cut_d[t] = hy_hist_cut(pl->hist_d[t], pl->shed[t], &pl->left_d[t]);
		if (!pl->shed[t] && pl->hist_d[t][255]) {
			/* COLD-hinted pages go even when nothing must be shed */
			pl->cut_d[t] = 255;
			pl->left_d[t] = pl->hist_d[t][255];
		}
	}
	for (int t = 0; t + 1 < p->ntiers; t++)
		budget += pl->room[t];
	if (p->promote_budget && budget > p->promote_budget)
		budget = p->promote_budget;
	pl->cut_p = hy_hist_cut(pl->hist_p, budget, &pl->left_p);
}

/* Any demotion past its tier's cut? */
static bool plan_demotes(const struct planner *pl)
{
	bool any = false;

	for (int t = 0; t < pl->p->ntiers; t++)
		any |= pl->cut_d[t] < 256;
	return any;
}

/*
 * Does a candidate of the kind being emitted make the plan?  Only at or
 * above its cut, and at the cut's own score only while *left lasts; a move
 * back within its hold-off is refused, and counted.
 */
static bool plan_takes(struct planner *pl, const struct want *w, int cut, uint64_t *left)
{
	if (w->score < cut)
		return false;
	if (w->score == cut) {
		if (!*left)
			return false;
		*left -= *left < PAGE ? *left : PAGE;
	}
	if (w->held) {
		pl->thrash++; /* chosen, but it would bounce back */
		return false;
	}
	return true;
}

/* Pass 2, for one kind (dir): append what passed the cut, in address
 * order, until the plan is full.  Promotions get their tier later. */
static void plan_emit(struct planner *pl, int dir)
{
	struct hy_plan *plan = pl->plan;
	bool down = dir == HY_PLAN_DEMOTE;

	for_each_page(pl->r, g, c, j)
	{
		struct want w = judge_x(pl->p, g, c->st[j], pl->need, pl->exch, pl->epoch);
		int t = hy_ps_tier(c->st[j]);
		struct hy_plan_item it = {hy_chunk_addr(g, c) + j * PAGE, (uint8_t)t, 0, (uint8_t)dir,
					  w.score};

		if (plan->n == plan->cap)
			break;
		/* a page judge() wants moved has a known tier: t >= 0 */
		if (w.dir != dir || !plan_takes(pl, &w, down ? pl->cut_d[t] : pl->cut_p,
						down ? &pl->left_d[t] : &pl->left_p))
			continue;
		if (down)
			it.to = (uint8_t)w.to;
		plan->items[plan->n++] = it;
	}
}

/* Give promotions (sorted, from item `first` on) their tier: the fastest
 * faster tier with room, hottest first; one with none is dropped. */
static void plan_place(struct planner *pl, size_t first)
{
	struct hy_plan *plan = pl->plan;
	size_t out = first;

	for (size_t k = first; k < plan->n; k++) {
		struct hy_plan_item *it = &plan->items[k];
		int to = -1;
		for (int t = 0; t < it->from && to < 0; t++)
			if (pl->room[t] >= PAGE)
				to = t;
		if (to < 0)
			continue;
		pl->room[to] -= PAGE;
		it->to = (uint8_t)to;
		plan->items[out++] = *it;
	}
	plan->n = out;
}

size_t hy_policy_plan(const struct hy_policy_params *p, struct hy_registry *r,
		      const struct hy_tier_view *tiers, uint64_t epoch, struct hy_plan *plan)
{
	struct planner pl = {.p = p, .r = r, .epoch = epoch, .plan = plan};
	size_t first_promote;

	plan_reset(&pl);
	plan_room(&pl, tiers);
	plan_scores(&pl);
	plan_exchange(&pl);
	plan->room0 = pl.room[0];
	plan_cuts(&pl);
	/* Pass 2: emit what passed the cut, demotions first (a pass with
	 * nothing past its cut is skipped: it would only visit every page). */
	if (plan_demotes(&pl))
		plan_emit(&pl, HY_PLAN_DEMOTE);
	first_promote = plan->n;
	if (pl.cut_p < 256)
		plan_emit(&pl, HY_PLAN_PROMOTE);
	/* Order each kind by score, then give promotions their tier. */
	sort_by_score(plan->items, first_promote);
	sort_by_score(plan->items + first_promote, plan->n - first_promote);
	plan_place(&pl, first_promote);
	for (size_t k = 0; k < plan->n; k++) {
		if (plan->items[k].dir == HY_PLAN_PROMOTE)
			plan->promote_bytes += PAGE;
		else
			plan->demote_bytes += PAGE;
	}
	plan->thrash = pl.thrash;
	return plan->n;
}

void hy_policy_commit(const struct hy_policy_params *p, struct hy_registry *r,
		      const struct hy_plan_item *it, int result)
{
	struct hy_region *g = hy_reg_find(r, it->addr);
	hy_pstate *s;

	if (!g)
		return; /* unmapped meanwhile */
	s = hy_reg_at(r, g, it->addr);
	if (!s)
		return; /* out of bookkeeping memory: it is learnt again */
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
	for (size_t k = 0; k < g->nch; k++)
		for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
			g->ch[k].st[j] &= (hy_pstate)~1u;
}
