/* SPDX-License-Identifier: MIT */
/*
 * epoch — one epoch of the engine, and the policy thread that keeps the
 * epoch clock (see engine.h for the pipeline, engine_state.h for the state).
 *
 *   observe   per region: harvest the accessed pages from the tracker, find
 *             the populated pages (chunks of state made for new ones, given
 *             back where none is left: resident.h), learn the tier of pages
 *             seen for the first time (move_pages query), age the history
 *   decide    let the sampler learn (governor, window), plan promotions and
 *             demotions (policy)
 *   move      hand the plan to the migrator (hy_mig_run), commit each
 *             outcome to the page's state; arm the next sample (sampler)
 *
 * Cost follows use: every step goes over the populated chunks of state,
 * never over a region's address space (region.h).
 *
 * Lock order: registry lock, then nothing (the tracker and migrator take no
 * locks of ours).  The registry lock is held one region at a time while
 * observing and arming (each_region), once while planning, and per
 * migration batch, so that a program thread unmapping a range never races
 * a move of its pages and never waits for more than one step; never
 * across a sleep.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "engine_state.h"

/* ---- scratch (os memory, grown as needed, kept) ---- */

/* One word per chunk of g in each of acc (accessed, or to arm), pres
 * (present, then unknown), keep (any page present) and huge (present in a
 * huge mapping). */
static bool words(struct hy_engine *e, const struct hy_region *g)
{
	size_t n = g->nch ? g->nch : 1, w = sizeof(uint64_t);

	return !hy_os_grow((void **)&e->acc, &e->acc_cap, w, n) &&
	       !hy_os_grow((void **)&e->pres, &e->pres_cap, w, n) &&
	       !hy_os_grow((void **)&e->keep, &e->keep_cap, w, n) &&
	       !hy_os_grow((void **)&e->huge, &e->huge_cap, w, n);
}

/* ---- runs: chunks with consecutive numbers, and the window they cover ---- */

/* The end (exclusive) of the run of g's chunks that starts at k0. */
static size_t run_end(const struct hy_region *g, size_t k0)
{
	size_t k = k0 + 1;

	while (k < g->nch && g->ch[k].no == g->ch[k - 1].no + 1)
		k++;
	return k;
}

/* The part of g that chunks [k0, k1) cover: [*ws, *we). */
static void run_window(const struct hy_region *g, size_t k0, size_t k1, uintptr_t *ws,
		       uintptr_t *we)
{
	uintptr_t a = hy_chunk_addr(g, &g->ch[k0]), b = hy_chunk_addr(g, &g->ch[k1 - 1]) + HY_CHUNK_BYTES;

	*ws = a > g->start ? a : g->start;
	*we = b < g->end ? b : g->end;
}

/* Bit `bit` of dense onward, 64 of them (reads no word past nbits). */
static uint64_t get64(const uint64_t *d, size_t bit, size_t nbits)
{
	size_t w = bit / 64, s = bit % 64;
	uint64_t v = d[w] >> s;

	if (s && bit - s + 64 < nbits)
		v |= d[w + 1] << (64 - s);
	return v;
}

/* The window's bitmap (bit 0 = page ws) for chunks [k0, k1), from their
 * words (from[], one per chunk), or to them (to[]).  The first chunk may
 * begin before ws. */
static void convert(const struct hy_region *g, size_t k0, size_t k1, uintptr_t ws, uintptr_t we,
		    uint64_t *dense, const uint64_t *from, uint64_t *to)
{
	size_t nbits = (we - ws) >> HY_PAGE_SHIFT;

	if (from)
		memset(dense, 0, (nbits + 63) / 64 * 8);
	for (size_t k = k0; k < k1; k++) {
		uintptr_t a = hy_chunk_addr(g, &g->ch[k]);
		size_t lead = a < ws ? (ws - a) >> HY_PAGE_SHIFT : 0; /* pages before ws */
		size_t bit = a < ws ? 0 : (a - ws) >> HY_PAGE_SHIFT;
		uint64_t m = hy_chunk_mask(g, &g->ch[k]);

		if (to) {
			to[k] = (get64(dense, bit, nbits) << lead) & m;
			continue;
		}
		uint64_t v = (from[k] & m) >> lead;
		size_t s = bit % 64;

		dense[bit / 64] |= v << s;
		if (s && bit - s + 64 < nbits)
			dense[bit / 64 + 1] |= v >> (64 - s);
	}
}

/* The dense bitmap for a window of n pages. */
static uint64_t *dense(struct hy_engine *e, size_t n)
{
	return hy_os_grow((void **)&e->bits, &e->bits_cap, sizeof(uint64_t), (n + 63) / 64 + 1)
		       ? NULL
		       : e->bits;
}

/*
 * Arm g's chunks as w[] says (one word per chunk; NULL: none), run by run:
 * what was armed and is not in w[] is released.  Returns pages armed.
 */
static size_t arm_runs(struct hy_engine *e, struct hy_region *g, const uint64_t *w)
{
	size_t armed = 0;

	for (size_t k0 = 0, k1; k0 < g->nch; k0 = k1) {
		uintptr_t ws, we;
		uint64_t *d;

		k1 = run_end(g, k0);
		run_window(g, k0, k1, &ws, &we);
		if (!(d = dense(e, (we - ws) >> HY_PAGE_SHIFT)))
			continue;
		if (w)
			convert(g, k0, k1, ws, we, d, w, NULL);
		else
			memset(d, 0, ((we - ws) >> HY_PAGE_SHIFT) / 64 * 8 + 8);
		if (!hy_track_arm(e->track, ws, we - ws, d) && w)
			for (size_t k = k0; k < k1; k++)
				armed += (size_t)hy_popcount64(w[k] & hy_chunk_mask(g, &g->ch[k]));
	}
	return armed;
}

/*
 * What the tracker saw in g since the last harvest, run by run, into acc[]
 * (one word per chunk).  Returns pages found, or -errno (the first error;
 * acc[] then holds what the other runs gave).
 */
static long harvest_runs(struct hy_engine *e, struct hy_region *g, uint64_t *acc)
{
	long found = 0, err = 0;

	memset(acc, 0, g->nch * sizeof(*acc));
	for (size_t k0 = 0, k1; k0 < g->nch; k0 = k1) {
		uintptr_t ws, we;
		uint64_t *d;
		long got;

		k1 = run_end(g, k0);
		run_window(g, k0, k1, &ws, &we);
		if (!(d = dense(e, (we - ws) >> HY_PAGE_SHIFT)))
			continue;
		got = hy_track_harvest(e->track, ws, we - ws, d);
		if (got < 0) {
			err = err ? err : got;
			continue;
		}
		found += got;
		convert(g, k0, k1, ws, we, d, NULL, acc);
	}
	return err ? err : found;
}

/* ---- which memory is populated ---- */

/* The low n bits set, n = 1..64. */
static inline uint64_t trunc_mask(size_t n)
{
	return n >= 64 ? ~(uint64_t)0 : (UINT64_C(1) << n) - 1;
}

/*
 * The present runs of a region, collected: the chunk numbers they touch
 * (e->nos, for hy_reg_add_chunks) and the runs themselves (e->runs, to
 * mark pages present once the chunks exist).
 */
struct collect {
	struct hy_engine *e;
	const struct hy_region *g;
	size_t nnos, nruns;
	bool short_of_memory;
};

static int collect_run(void *arg, uintptr_t a, uintptr_t b, bool huge)
{
	struct collect *c = arg;
	struct hy_engine *e = c->e;
	const struct hy_region *g = c->g;
	uint32_t lo, hi;

	if (a < g->start)
		a = g->start;
	if (b > g->end)
		b = g->end;
	if (a >= b)
		return 0;
	lo = (uint32_t)((a - g->cbase) >> HY_CHUNK_SHIFT);
	hi = (uint32_t)((b - 1 - g->cbase) >> HY_CHUNK_SHIFT);
	if (hy_os_grow((void **)&e->runs, &e->runs_cap, 2 * sizeof(uintptr_t), c->nruns + 1) ||
	    hy_os_grow((void **)&e->nos, &e->nos_cap, sizeof(uint32_t), c->nnos + hi - lo + 1)) {
		c->short_of_memory = true;
		return 1; /* what was found so far still counts */
	}
	e->runs[2 * c->nruns] = a | huge; /* page-aligned: the low bit is free */
	e->runs[2 * c->nruns + 1] = b;
	c->nruns++;
	for (uint32_t no = lo;; no++) {
		if (!c->nnos || e->nos[c->nnos - 1] != no)
			e->nos[c->nnos++] = no;
		if (no == hi)
			break;
	}
	return 0;
}

/*
 * Find g's populated pages: chunks are created for new ones
 * (hy_reg_add_chunks; the words of acc[] move with their chunks) and
 * pres[] gets one word per chunk, bit set = present.  Returns false when
 * the kernel could not say, or not all of it (pres[] then calls every page
 * of g's chunks present: nothing is forgotten on a failed scan), or when
 * memory for the words ran out (nothing is to be done with g this epoch).
 */
static bool populated(struct hy_engine *e, struct hy_region *g, uintptr_t sa, uintptr_t sb,
		      bool *known, size_t *klo, size_t *khi)
{
	struct collect c = {.e = e, .g = g};
	int rc = sa < sb ? hy_res_scan(&e->res, sa, sb, collect_run, &c) : 0;
	size_t k;

	*known = sa < sb && rc == 0 && !c.short_of_memory;
	if (c.nnos && (hy_os_grow((void **)&e->acc, &e->acc_cap, sizeof(uint64_t), g->nch + c.nnos) ||
		       hy_reg_add_chunks(&e->reg, g, e->nos, c.nnos, e->acc)))
		c.short_of_memory = true;
	if (c.short_of_memory)
		hy_warn_once("out of memory for its own bookkeeping: some populated memory is not "
			     "tracked");
	if (!words(e, g))
		return false;
	*klo = sa < sb ? hy_reg_chunk_index(g, sa) : 0;
	*khi = sa < sb ? hy_reg_chunk_index(g, sb - 1) : 0;
	if (*khi < g->nch && sa < sb &&
	    g->ch[*khi].no == (uint32_t)((sb - 1 - g->cbase) >> HY_CHUNK_SHIFT))
		(*khi)++; /* the chunk holding the slice's last page is in it */
	memset(e->huge, 0, g->nch * sizeof(uint64_t));
	if (!*known) {
		for (size_t i = 0; i < g->nch; i++)
			e->pres[i] = hy_chunk_mask(g, &g->ch[i]);
		return true;
	}
	memset(e->pres, 0, g->nch * sizeof(uint64_t));
	k = *klo;
	for (size_t i = 0; i < c.nruns; i++) {
		bool huge = e->runs[2 * i] & 1;
		uintptr_t a = e->runs[2 * i] & ~(uintptr_t)1, b = e->runs[2 * i + 1];

		/* a word per chunk the run covers, not a step per page */
		for (; k < g->nch; k++) {
			uintptr_t c0 = hy_chunk_addr(g, &g->ch[k]), c1 = c0 + HY_CHUNK_BYTES;
			uintptr_t lo = a > c0 ? a : c0, hi = b < c1 ? b : c1;
			uint64_t m;

			if (c0 >= b)
				break; /* the next run's */
			if (lo >= hi)
				continue; /* before this run (a chunk out of memory skipped) */
			m = trunc_mask((hi - lo) >> HY_PAGE_SHIFT) << ((lo - c0) >> HY_PAGE_SHIFT);
			e->pres[k] |= m;
			if (huge)
				e->huge[k] |= m;
			if (hi < c1)
				break; /* the run ends inside: the next may go on in it */
		}
	}
	return true;
}

/*
 * Pages whose tier we do not know -- newly populated, or refilled after
 * they went away -- are asked where they are (one move_pages query per
 * batch).  A page that answers is known from now on, and counts as
 * accessed this epoch (it was populated or refilled since the last one):
 * acc[] gets its bit -- unless a huge page maps it (huge[]): the first
 * touch of a THP says nothing of which of its 512 pages are used, and it
 * is judged whole once already, by the first harvest that finds it armed
 * and accessed (track_async.c), then page by page.  Without acc[]
 * (relearn_tiers) only the tier is set.  A page that does not answer (gone
 * again, or the shared zero page, which nothing moves) stays unknown and
 * uncounted.
 */
struct tier_batch {
	uintptr_t addrs[BATCH];
	int nodes[BATCH];
	uint32_t chunk[BATCH];
	uint8_t page[BATCH];
	size_t n;
	const uint64_t *huge;
};

static void tier_flush(struct hy_engine *e, struct hy_region *g, struct tier_batch *b,
		       uint64_t *acc)
{
	int intended = g->hint == HY_HINT_HOT ? 0 : e->place_tier;

	if (b->n && !hy_mig_query(b->addrs, b->n, b->nodes))
		for (size_t i = 0; i < b->n; i++) {
			hy_pstate *st = &g->ch[b->chunk[i]].st[b->page[i]];

			if (b->nodes[i] < 0)
				continue;
			*st = hy_ps_set_tier(*st, node_tier(e, b->nodes[i], intended));
			if (acc && !(b->huge[b->chunk[i]] >> b->page[i] & 1))
				acc[b->chunk[i]] |= UINT64_C(1) << b->page[i];
		}
	b->n = 0;
}

static void learn_tiers(struct hy_engine *e, struct hy_region *g, const uint64_t *want,
			const uint64_t *huge, uint64_t *acc)
{
	struct tier_batch b;

	b.n = 0;
	b.huge = huge;
	for (size_t c = 0; c < g->nch; c++)
		for (uint64_t m = want[c]; m; m &= m - 1) {
			size_t j = (size_t)__builtin_ctzll(m);

			b.addrs[b.n] = hy_chunk_addr(g, &g->ch[c]) + j * PAGE;
			b.chunk[b.n] = (uint32_t)c;
			b.page[b.n++] = (uint8_t)j;
			if (b.n == BATCH)
				tier_flush(e, g, &b, acc);
		}
	tier_flush(e, g, &b, acc);
}

/*
 * Give back g's chunks with no page present (keep[] is 0 for them): their
 * pages are released first, so that nothing stays armed where no state is.
 */
static void drop_empty(struct hy_engine *e, struct hy_region *g, const uint64_t *keep)
{
	size_t empty = 0;

	for (size_t k = 0; k < g->nch; k++) {
		uintptr_t ws, we;
		uint64_t none[2] = {0, 0};

		if (keep[k])
			continue;
		empty++;
		run_window(g, k, k + 1, &ws, &we);
		hy_track_arm(e->track, ws, we - ws, none);
	}
	if (empty)
		hy_reg_drop_chunks(&e->reg, g, keep);
}

/*
 * Told to stop (hy_epoch_stop_thread: the program exits or shuts the library
 * down)?  Every step of an epoch asks before it starts -- each region
 * observed or armed, each migration batch -- so the program waits for one
 * step at most, never for the rest of an epoch.
 */
static bool stopping(const struct hy_engine *e)
{
	return __atomic_load_n(&e->stop, __ATOMIC_RELAXED);
}

/*
 * fn on each region ending above `from` and starting below `until`, under
 * the registry lock one region at a time: a
 * program thread mapping or unmapping waits for one region's step at most,
 * never for the whole walk.  The table may change between steps, so the
 * next region is found by address.  Returns false if the engine was
 * quiesced meanwhile (the tracker is gone) or the thread is told to stop:
 * the walk stops.
 */
static bool each_region_in(struct hy_engine *e, uintptr_t from, uintptr_t until,
			   void (*fn)(struct hy_engine *, struct hy_region *, void *), void *arg)
{
	uintptr_t next = from;

	for (;;) {
		struct hy_region *g;

		if (stopping(e))
			return false;
		hy_reg_lock(&e->reg);
		if (e->quiesced) {
			hy_reg_unlock(&e->reg);
			return false;
		}
		g = hy_reg_next(&e->reg, next);
		if (!g || g->start >= until) {
			hy_reg_unlock(&e->reg);
			return true;
		}
		fn(e, g, arg);
		next = g->end;
		hy_reg_unlock(&e->reg);
	}
}

static bool each_region(struct hy_engine *e, void (*fn)(struct hy_engine *, struct hy_region *, void *),
			void *arg)
{
	return each_region_in(e, 0, UINTPTR_MAX, fn, arg);
}

static void disarm_region(struct hy_engine *e, struct hy_region *g, void *arg)
{
	(void)arg;
	arm_runs(e, g, NULL);
}

/* Release every armed page (windowed tracking, between epoch and window). */
static void disarm(struct hy_engine *e)
{
	uint64_t t0 = hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID);

	each_region(e, disarm_region, NULL);
	hy_reg_lock(&e->reg);
	e->disarm_ns = hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
	e->armed = 0;
	hy_reg_unlock(&e->reg);
}

/*
 * The window opens: writes made while arm() ran are forgotten (a harvest
 * whose result is dropped: it re-arms the pages found written), so that
 * every armed page is watched for the same time however long arming took
 * (arming 12 000 pages takes 1-5 ms on the development host, 100 ms and
 * more under emulation).
 */
static void window_region(struct hy_engine *e, struct hy_region *g, void *arg)
{
	(void)arg;
	if (words(e, g))
		harvest_runs(e, g, e->acc);
}

static void open_window(struct hy_engine *e)
{
	each_region(e, window_region, NULL);
}

/* What arm() hands each region's step. */
struct arming {
	size_t budget, total, armed;
	uint64_t ns;
};

/* Arm g's share of the sample, in proportion to its populated chunks. */
static void arm_region(struct hy_engine *e, struct hy_region *g, void *arg)
{
	struct arming *a = arg;
	size_t n = g->nch * HY_CHUNK_PAGES;
	size_t share = a->total ? (size_t)((unsigned __int128)a->budget * n / a->total) : 0;
	uint64_t t0;

	if (!g->nch || !words(e, g))
		return;
	if (g->hint == HY_HINT_PIN) {
		memset(e->acc, 0, g->nch * sizeof(uint64_t));
	} else if (share >= n) {
		/* every page: the whole region is the sampling window */
		hy_sampler_took_all(g);
		for (size_t k = 0; k < g->nch; k++)
			e->acc[k] = hy_chunk_mask(g, &g->ch[k]);
	} else {
		hy_sampler_choose(e->par.window, g, share, e->acc, hy_win_bulk(&e->win));
	}
	/* only the arming itself is timed (CPU time): choosing is the policy's cost */
	t0 = hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	a->armed += arm_runs(e, g, e->acc);
	a->ns += hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
}

/* Arm this epoch's sample, region by region in proportion to their
 * populated chunks. */
static void arm(struct hy_engine *e)
{
	struct arming a = {0};

	hy_reg_lock(&e->reg);
	a.total = e->reg.chunks * HY_CHUNK_PAGES;
	a.budget = hy_gov_budget(&e->gov, a.total);
	hy_track_set_fault_budget(e->track, e->gov.fault_budget);
	hy_reg_unlock(&e->reg);
	each_region(e, arm_region, &a);
	hy_reg_lock(&e->reg);
	e->armed = a.armed;
	/* a page armed for a window is disarmed after it: both are its cost */
	hy_gov_learn_arm(&e->gov, e->armed, a.ns + e->disarm_ns);
	e->disarm_ns = 0;
	hy_reg_unlock(&e->reg);
	e->armed_cpu = hy_cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	e->armed_mono = hy_mono_ns();
}

static void tier_views(struct hy_engine *e, struct hy_tier_view *v)
{
	hy_topo_refresh_free(&e->topo);
	for (int t = 0; t < e->topo.ntiers; t++) {
		uint64_t total = e->topo.tier[t].mem_total;
		v[t].free = e->topo.tier[t].mem_free;
		v[t].low = total / 100 * (uint64_t)e->cfg.free_low_pct;
		v[t].high = total / 100 * (uint64_t)e->cfg.free_high_pct;
	}
}

/* The plan, as the migrator sees it: a list of moves (migrate.h). */
static void plan_get(void *arg, size_t i, uintptr_t *addr, int *to_node, enum hy_move_kind *kind)
{
	const struct hy_engine *e = arg;
	const struct hy_plan_item *it = &e->plan.items[i];

	*addr = it->addr;
	*to_node = e->tier_target[it->to];
	*kind = it->dir == HY_PLAN_PROMOTE ? HY_MOVE_PROMOTE : HY_MOVE_DEMOTE;
}

static void plan_lock(void *arg)
{
	hy_reg_lock(&((struct hy_engine *)arg)->reg);
}

static void plan_unlock(void *arg)
{
	hy_reg_unlock(&((struct hy_engine *)arg)->reg);
}

/* Pages unmapped since planning are skipped. */
static bool plan_still(void *arg, size_t i)
{
	struct hy_engine *e = arg;

	return hy_reg_find(&e->reg, e->plan.items[i].addr) != NULL;
}

/* A page of the tree's shared memory moves for every member (its lead
 * may: MPOL_MF_MOVE_ALL). */
static bool plan_all(void *arg, size_t i)
{
	struct hy_engine *e = arg;
	const struct hy_region *g = hy_reg_find(&e->reg, e->plan.items[i].addr);

	return g && g->slot && e->kf.move_all;
}

/* The rest of the plan is left when the thread is told to stop. */
static bool plan_stop(void *arg)
{
	return stopping(arg);
}

/* The outcome goes into the page's state: its tier now, or the error. */
static void plan_done(void *arg, size_t i, int status)
{
	struct hy_engine *e = arg;
	const struct hy_plan_item *it = &e->plan.items[i];
	int res = status >= 0 ? node_tier(e, status, it->to) : status;

	hy_policy_commit(&e->par, &e->reg, it, res);
}

static void execute(struct hy_engine *e)
{
	const struct hy_mig_list l = {
		.n = e->plan.n,
		.arg = e,
		.get = plan_get,
		.lock = plan_lock,
		.unlock = plan_unlock,
		.still = plan_still,
		.done = plan_done,
		.stop = plan_stop,
		.all = plan_all,
	};

	if (!e->moves && e->plan.n)
		e->moves = hy_os_alloc(PLAN_CAP * sizeof(*e->moves));
	hy_mig_run(&l, e->moves, &e->st);
}

/* The tracker's costs, measured on the first epoch, off the program's start
 * (hy_track_open_lazy); the tracker's own range and lock, not the registry's. */
static void calibrate(struct hy_engine *e)
{
	struct hy_track_cost c;

	hy_track_calibrate(e->track);
	hy_track_cost(e->track, &c);
	hy_reg_lock(&e->reg);
	hy_gov_set_fault_cost(&e->gov, c.fault_ns);
	hy_reg_unlock(&e->reg);
	e->calibrated = true;
}

/*
 * Observe one region (registry lock held): what the tracker saw accessed
 * (and, of that, what the sampler's sweep caught), the populated pages
 * (chunks created for new ones, given back where none is left), the tier
 * of pages seen for the first time -- which count as accessed -- and the
 * history.  Work and memory follow g's populated chunks, never its size.
 * Returns the armed pages found accessed (the governor's measure).
 */
/*
 * The part of g the present scan goes over this epoch, [*sa, *sb): the
 * scan rotates over all managed memory, e->scan_chunks populated chunks an
 * epoch at most (e->scan_at, e->scan_left), so that its cost -- a walk of
 * the page tables, about 3-5 ns a page on the development host -- stays
 * bounded however much is resident; memory it has not got to is found
 * later (pages there already known are still harvested and judged).
 * Address space with no chunk costs the budget nothing: a region new or
 * given back whole is always scanned, and a new mapping found at once.
 */
static void scan_slice(struct hy_engine *e, struct hy_region *g, uintptr_t *sa, uintptr_t *sb)
{
	size_t k0, k1;

	*sa = e->scan_at > g->start && e->scan_at < g->end ? e->scan_at : g->start;
	*sb = g->end;
	k0 = hy_reg_chunk_index(g, *sa);
	if (g->nch - k0 <= e->scan_left) {
		e->scan_left -= g->nch - k0;
		return;
	}
	if (!e->scan_left) {
		*sb = *sa; /* nothing this epoch */
		return;
	}
	k1 = k0 + e->scan_left;
	e->scan_left = 0;
	*sb = hy_chunk_addr(g, &g->ch[k1]); /* chunk-aligned, inside g */
	e->scan_stop = *sb;
}

/* ---- the tree's shared memory (board.h) ---- */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

struct taking {
	struct hy_engine *e;
	struct hy_region *g;
};

/*
 * Pages of chunk `no` of g that members accessed (bits) but this process
 * may never have mapped: mapped here, read-only faults from the page cache
 * (no page is made: each was accessed, so it exists), so that the lead
 * finds them present, learns their tier and can move them -- for everyone,
 * since it has MPOL_MF_MOVE_ALL.
 */
static void map_here(const struct hy_region *g, uint64_t no, uint64_t bits)
{
	uintptr_t base = g->cbase + ((uintptr_t)no << HY_CHUNK_SHIFT);

	while (bits) {
		unsigned j = (unsigned)__builtin_ctzll(bits), n = 0;
		uintptr_t a, b;

		while (j + n < 64 && bits >> (j + n) & 1)
			n++;
		bits &= n + j >= 64 ? 0 : ~((UINT64_C(1) << (j + n)) - 1);
		a = base + (uintptr_t)j * PAGE;
		b = a + (uintptr_t)n * PAGE;
		a = a > g->start ? a : g->start;
		b = b < g->end ? b : g->end;
		if (a < b)
			(void)madvise((void *)a, b - a, MADV_POPULATE_READ);
	}
}

/* What the members published for the slot's chunk `sno` (the region's
 * chunk sno - g->sno0) of the region the lead observes: into its catch, or
 * back to the board while it has no chunk there yet (the present scan
 * makes one once the pages are mapped here). */
static uint64_t take_chunk(void *arg, uint64_t sno, uint64_t bits)
{
	struct taking *t = arg;
	struct hy_region *g = t->g;
	uint64_t no = sno - g->sno0;
	size_t k = hy_reg_chunk_index(g, g->cbase + ((uintptr_t)no << HY_CHUNK_SHIFT));
	bool have = k < g->nch && g->ch[k].no == no;
	uint64_t others = bits & ~(have ? t->e->acc[k] : 0);

	if (others && t->e->kf.move_all)
		map_here(g, no, others);
	if (!have)
		return bits;
	t->e->acc[k] |= bits;
	return 0;
}

/*
 * A member that takes the lead of a shared region knows where its pages
 * were when it first saw them; the lead before it may have moved them since
 * (for every member).  Planning from that, it would "promote" pages already
 * on DRAM -- no-op moves counted as promotions (a 32768-page table counted
 * 96790 promoted pages over two handovers, bench/RESULTS.md section 11) --
 * and never demote them.  So where its known pages are is asked again, once
 * per taking of the lead (a query per 512 pages; no access counted).  e->pres
 * is free scratch until the present scan fills it.
 */
static void relearn_tiers(struct hy_engine *e, struct hy_region *g)
{
	for (size_t k = 0; k < g->nch; k++) {
		const hy_pstate *st = g->ch[k].st;
		uint64_t m = 0;

		for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
			if (hy_ps_tier(st[j]) >= 0)
				m |= UINT64_C(1) << j;
		e->pres[k] = m;
	}
	learn_tiers(e, g, e->pres, NULL, NULL);
}

/*
 * A shared region after its harvest (e->acc: this process's catch, one
 * word per chunk): a member publishes its catch on the board; the lead
 * takes everyone's into its own.  A lead that is gone is replaced at once;
 * one alive is replaced after a silence of eight epochs and at least 5 s
 * (a busy machine's late epoch is no silence: with 2 s, leads changed
 * hands in the emulated VM with no member dying, and each new lead starts
 * its history of the tree's pages over).
 */
static void share(struct hy_engine *e, struct hy_region *g)
{
	uint64_t stale = 8 * e->cfg.epoch_us * 1000, lo, hi;
	struct taking t = {e, g};
	bool was = g->lead;

	if (!g->slot || !e->board) {
		g->lead = false;
		return;
	}
	g->lead = hy_board_lead(e->board, g->slot, e->self, hy_mono_ns(),
			       stale > 5000000000u ? stale : 5000000000u);
	if (g->lead && !was)
		relearn_tiers(e, g);
	if (!g->lead) {
		for (size_t k = 0; k < g->nch; k++)
			hy_board_publish(e->board, g->slot, g->sno0 + g->ch[k].no, e->acc[k]);
		return;
	}
	lo = g->sno0 + ((g->start - g->cbase) >> HY_CHUNK_SHIFT);
	hi = g->sno0 + ((g->end - 1 - g->cbase) >> HY_CHUNK_SHIFT) + 1;
	hy_board_take(e->board, g->slot, lo, hi, take_chunk, &t);
}

static size_t observe_region(struct hy_engine *e, struct hy_region *g, struct hy_catch *caught)
{
	uintptr_t sa, sb;
	size_t klo, khi;
	bool known;
	long got = 0;

	if (!words(e, g))
		return 0;
	if (g->nch) {
		got = harvest_runs(e, g, e->acc);
		if (got >= 0)
			hy_sampler_catch(g, e->acc, caught); /* the chunks as they were armed */
		else
			memset(e->acc, 0, g->nch * sizeof(uint64_t));
	}
	share(e, g);
	scan_slice(e, g, &sa, &sb);
	if (!populated(e, g, sa, sb, &known, &klo, &khi) || !g->nch)
		return got > 0 ? (size_t)got : 0;
	for (size_t k = 0; k < g->nch; k++) {
		hy_pstate *st = g->ch[k].st;
		uint64_t p = e->pres[k], unknown = 0;

		if (k < klo || k >= khi) {
			/* not scanned this epoch: what it harvested stands */
			e->acc[k] &= hy_chunk_mask(g, &g->ch[k]);
			e->keep[k] = 1;
			e->pres[k] = 0;
			continue;
		}
		e->acc[k] &= p; /* what went away since has nothing to move */
		e->keep[k] = p;
		for (size_t j = 0; j < HY_CHUNK_PAGES; j++) {
			bool here = p >> j & 1;

			if (here && hy_ps_tier(st[j]) < 0)
				unknown |= UINT64_C(1) << j;
			else if (!here && known && hy_ps_tier(st[j]) >= 0)
				st[j] = hy_ps_set_tier(st[j], -1); /* gone: learnt again if refilled */
		}
		e->pres[k] = unknown; /* from here on: the pages to ask about */
	}
	learn_tiers(e, g, e->pres, e->huge, e->acc);
	hy_policy_age(g, e->acc);
	/* the pages just learnt counted as accessed (tier_flush): their chunks
	 * say so, for the sampler's measure of the bulk -- only where a page
	 * answered (the shared zero page never does) and is not in a huge page
	 * (whose first touch is not counted) */
	for (size_t k = klo; k < khi && k < g->nch; k++)
		for (uint64_t m = e->pres[k] & ~e->huge[k]; m; m &= m - 1)
			if (hy_ps_tier(g->ch[k].st[__builtin_ctzll(m)]) >= 0) {
				g->ch[k].touched |= 1;
				break;
			}
	if (known)
		drop_empty(e, g, e->keep);
	return got > 0 ? (size_t)got : 0;
}

struct observing {
	struct hy_catch *caught;
	size_t written;
	uintptr_t first; /* start of the first region observed */
};

static void observe_step(struct hy_engine *e, struct hy_region *g, void *arg)
{
	struct observing *o = arg;

	if (o->first == UINTPTR_MAX)
		o->first = g->start;
	o->written += observe_region(e, g, o->caught);
}

/*
 * Observe: each region (observe_region), one lock hold each.  Returns the
 * armed pages found accessed, or -ESHUTDOWN if the engine was quiesced.
 */
static long observe(struct hy_engine *e, struct hy_catch *caught)
{
	struct observing o = {.caught = caught, .first = UINTPTR_MAX};
	bool bad, done;

	hy_reg_lock(&e->reg);
	bad = !e->quiesced && hy_track_check(e->track) == -EBADF;
	hy_res_check(&e->res);
	hy_reg_unlock(&e->reg);
	if (bad)
		hy_warn_once("the program closed or replaced libhybrid's file descriptors: access "
			     "tracking stops (placement stays)");
	/* from where the present scan stopped to the end, then the rest */
	hy_reg_lock(&e->reg);
	e->scan_left = e->scan_chunks;
	hy_reg_unlock(&e->reg);
	e->scan_stop = 0;
	done = each_region_in(e, e->scan_at, UINTPTR_MAX, observe_step, &o) &&
	       each_region_in(e, 0, o.first, observe_step, &o);
	/* budget left: all was scanned but what the first region held before
	 * scan_at, which the next epoch starts with */
	e->scan_at = e->scan_stop ? e->scan_stop : o.first != UINTPTR_MAX ? o.first : 0;
	return done ? (long)o.written : -ESHUTDOWN;
}

/*
 * Did the program run while its sample was armed?  The process's CPU time
 * over the window (the policy thread sleeps then; the sync handler runs
 * only on a write) against the window's length: under 5% of a CPU is a
 * program that did not run -- a pause, or a busy machine that gave it no
 * CPU (seen on the shared development host in 125-ms windows).  Not 0: a
 * process asleep through a 100-ms window was charged up to 3.7 ms of CPU
 * on the loaded firecracker host.  Called first thing in an epoch, before
 * its own work adds to the process's time.
 */
static bool program_ran(const struct hy_engine *e)
{
	uint64_t cpu = hy_cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - e->armed_cpu;
	uint64_t wall = hy_mono_ns() - e->armed_mono;

	return cpu * 20 >= wall;
}

/*
 * The sampler learns from what was seen (registry lock held).  Nothing at
 * all written in the window, of many pages armed, by a program that did
 * not run then (program_ran): that says nothing about write rates -- the
 * governor and the window keep what they learnt, and the sweep goes over
 * the same chunks again (at start-up, a program paused for seconds would
 * otherwise have the sweep pass its hot set before it is ever written).
 * A program that ran and wrote none of its sample was sampled where it is
 * cold: the sweep moves on (it rewound there once, and with a small sample
 * never reached a hot set at the end of a region: issue 18).
 */
static void learn(struct hy_engine *e, size_t written, const struct hy_catch *caught, bool ran)
{
	unsigned sampled = 0;

	for (int b = 0; b < HY_CATCH_BUCKETS; b++)
		sampled += caught->chunks[b];
	if (written || e->armed < 1024 || ran) {
		hy_gov_learn(&e->gov, e->armed, written);
		if (!hy_win_learn(&e->win, caught)) {
			/* a window still far too long: what it caught is no sign of heat */
			for (size_t i = 0; i < e->reg.n; i++)
				hy_policy_forget_last(&e->reg.reg[i]);
			hy_debug("epoch %llu: window too long, its catch is not counted",
				 (unsigned long long)e->epoch);
		}
	} else {
		for (size_t i = 0; i < e->reg.n; i++)
			hy_sampler_rewind(&e->reg.reg[i]);
		hy_debug("epoch %llu: the program did not run; the sweep goes over the same chunks",
			 (unsigned long long)e->epoch);
	}
	hy_debug("epoch %llu: %zu pages armed, %zu written; costs: fault %llu ns, arming %llu "
		 "ns/page; %u permille written, %u caught in the bulk (%u chunks sampled); window "
		 "now %llu us",
		 (unsigned long long)e->epoch, e->armed, written,
		 (unsigned long long)e->gov.fault_ns, (unsigned long long)e->gov.arm_ns,
		 e->gov.write_permille, e->win.caught_permille, sampled,
		 (unsigned long long)e->win.us);
}

/* Decide (registry lock held): the plan of moves, from the tiers' free
 * memory as of now. */
static void decide(struct hy_engine *e)
{
	struct hy_tier_view views[HY_MAX_TIERS];

	tier_views(e, views);
	hy_policy_plan(&e->par, &e->reg, views, e->epoch, &e->plan);
	hy_debug("epoch %llu: plan: promote %llu KiB, demote %llu KiB; %llu KiB hot below, "
		 "%llu KiB room on tier 0, %llu KiB exchanged",
		 (unsigned long long)e->epoch, (unsigned long long)e->plan.promote_bytes >> 10,
		 (unsigned long long)e->plan.demote_bytes >> 10, (unsigned long long)e->plan.waiting >> 10,
		 (unsigned long long)e->plan.room0 >> 10, (unsigned long long)e->plan.exchange >> 10);
	hy_stat_add(&e->st, thrash_pages, e->plan.thrash);
}

/* Bytes of shared memory this process leads (registry lock held). */
static uint64_t lead_bytes(const struct hy_engine *e)
{
	uint64_t n = 0;

	for (size_t i = 0; i < e->reg.n; i++)
		if (e->reg.reg[i].lead)
			n += e->reg.reg[i].end - e->reg.reg[i].start;
	return n;
}

/* The epoch's own memory: the plan, the migrator's list and the scratch. */
static size_t scratch_bytes(const struct hy_engine *e)
{
	return PLAN_CAP * sizeof(*e->plan.items) + (e->moves ? PLAN_CAP * sizeof(*e->moves) : 0) +
	       (e->bits_cap + e->acc_cap + e->pres_cap + e->keep_cap + e->huge_cap) * sizeof(uint64_t) +
	       e->runs_cap * 2 * sizeof(uintptr_t) + e->nos_cap * sizeof(uint32_t);
}

int hy_epoch_run(struct hy_engine *e)
{
	uint64_t per_tier[HY_MAX_TIERS], t0 = hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	struct hy_catch caught = {{0}};
	bool ran = program_ran(e);
	long written;

	e->self = getpid(); /* a forked child's own: the board knows members by pid */
	if (!e->calibrated)
		calibrate(e);
	e->epoch++; /* the policy thread's own (or the caller's, with no thread) */
	written = observe(e, &caught);
	hy_reg_lock(&e->reg);
	if (written < 0 || e->quiesced) {
		hy_reg_unlock(&e->reg);
		return -ESHUTDOWN;
	}
	learn(e, (size_t)written, &caught, ran);
	decide(e);
	memcpy(per_tier, e->plan.tier_bytes, sizeof(per_tier));
	hy_stat_set(&e->st, self_bytes,
		    hy_reg_state_bytes(&e->reg) + hy_track_bytes(e->track) + scratch_bytes(e) +
			    hy_board_bytes(e->board));
	hy_stat_set(&e->st, lead_bytes, lead_bytes(e));
	hy_reg_unlock(&e->reg);

	execute(e); /* move: the registry lock per batch */
	if (stopping(e))
		return -ESHUTDOWN; /* cut short: not counted, nothing armed */
	if (windowed(e))
		disarm(e); /* armed again for the window only (loop) */
	else
		arm(e);

	for (int t = 0; t < HY_MAX_TIERS; t++)
		hy_stat_set(&e->st, tier_bytes[t], per_tier[t]);
	hy_stat_add(&e->st, epochs, 1);
	hy_stat_add(&e->st, policy_ns, hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0);
	return 0;
}

/* Sleep until t + us, unless told to stop: true when stopping. */
static bool wait_until(struct hy_engine *e, struct timespec *t, uint64_t us)
{
	bool stop;

	t->tv_sec += (time_t)(us / 1000000);
	t->tv_nsec += (long)(us % 1000000) * 1000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&e->wait_lock);
	while (!stopping(e) && pthread_cond_timedwait(&e->wait_cond, &e->wait_lock, t) == 0)
		;
	stop = stopping(e);
	pthread_mutex_unlock(&e->wait_lock);
	return stop;
}

/* The loop's report upward (engine.h: the epoch hook). */
static void epoch_done(struct hy_engine *e)
{
	struct hy_stats st;

	if (!e->on_epoch)
		return;
	hy_stats_copy(&e->st, &st);
	e->on_epoch(&st, e->on_epoch_arg);
}

/*
 * The epoch clock.  With a tracking window shorter than the epoch (fixed by
 * track_window, or adapted by hy_win_learn), pages are armed only for the
 * window, somewhere in each epoch: a write is recorded if it falls in the
 * window, so a page written many times a second is seen in most epochs and
 * one written once a second in few -- the one bit per epoch then tells write
 * rates apart, and writes outside the window cost nothing.  The window only
 * changes in hy_epoch_run, on this thread.
 */
static void *loop(void *arg)
{
	struct hy_engine *e = arg;
	uint64_t rnd = hy_mono_ns() | 1;

	if (windowed(e))
		disarm(e);
	for (;;) {
		struct timespec t;
		uint64_t start = hy_mono_ns();

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (windowed(e)) {
			/*
			 * The window opens at a random point of the epoch, not
			 * always at its end: a program that pauses once a second
			 * (a collector, a timer, gups measuring itself) would
			 * otherwise lock into step with it and show nothing.
			 */
			uint64_t win = e->win.us, off, left;

			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			off = rnd % (e->cfg.epoch_us - win + 1);
			if (wait_until(e, &t, off))
				return NULL;
			arm(e);
			open_window(e);
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (wait_until(e, &t, win))
				return NULL;
			hy_epoch_run(e);
			epoch_done(e);
			/* the rest of the epoch, disarmed */
			left = (hy_mono_ns() - start) / 1000;
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (left < e->cfg.epoch_us && wait_until(e, &t, e->cfg.epoch_us - left))
				return NULL;
			continue;
		}
		if (wait_until(e, &t, e->cfg.epoch_us))
			return NULL;
		hy_epoch_run(e);
		epoch_done(e);
	}
}

int hy_epoch_start_thread(struct hy_engine *e)
{
	pthread_condattr_t ca;
	int rc;

	if (e->running)
		return 0;
	/* the epoch clock must not jump with the wall clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&e->wait_cond);
	pthread_cond_init(&e->wait_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* No signals, ever: a process-directed signal must reach the program's
	 * own threads (a single-threaded program counts on it), never ours. */
	sigset_t all, old;

	/* set before the thread exists: program threads read it in manage() */
	e->threaded = true;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&e->thread, NULL, loop, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		e->threaded = false;
		return -rc;
	}
	e->running = true;
	return 0;
}

void hy_epoch_stop_thread(struct hy_engine *e)
{
	if (!e->running)
		return;
	pthread_mutex_lock(&e->wait_lock);
	__atomic_store_n(&e->stop, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&e->wait_cond);
	pthread_mutex_unlock(&e->wait_lock);
	pthread_join(e->thread, NULL);
	e->running = false;
}
