/* SPDX-License-Identifier: MIT */
/*
 * engine — see engine.h.
 *
 * Lock order: registry lock, then nothing (the tracker and migrator take no
 * locks of ours).  The policy thread holds the registry lock while it
 * harvests and plans, and again per migration batch, so that a program
 * thread unmapping a range never races a move of its pages.
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kfeat.h"
#include "migrate.h"
#include "placement.h"
#include "policy.h"
#include "sampler.h"
#include "track.h"

#define PAGE	     HY_PAGE_SIZE
#define PLAN_CAP     16384 /* pages planned per epoch at most (64 MiB) */
#define BATCH	     512   /* pages per migration batch (one lock hold) */

struct hy_engine {
	struct hy_config cfg;
	struct hy_topo topo;
	struct hy_registry reg;
	struct hy_track *track;
	struct hy_stats st;
	struct hy_policy_params par;
	struct hy_governor gov;
	size_t armed;		/* pages armed for the epoch under way */
	uint64_t disarm_ns;	/* the last disarm() (windowed): part of arming's cost */
	struct hy_window win;	/* how long before each epoch's end pages are armed */
	struct hy_kfeat kf;
	struct hy_nodemask tier_nodes[HY_MAX_TIERS]; /* where each tier's pages go */
	int tier_target[HY_MAX_TIERS];		     /* first of those: move_pages target */
	int place_tier;				     /* where hybrid ranges start */
	uint64_t epoch;

	struct hy_plan plan;	/* items in os memory */
	uint64_t *bits;		/* scratch bitmap for harvests */
	uintptr_t *blocks;	/* scratch for split_scattered: PLAN_CAP entries */
	size_t bits_pages;	/* pages it covers */

	pthread_t thread;
	bool running;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	bool stop;
	bool quiesced;	/* hy_engine_quiesce: nothing new is managed */
	bool calibrated; /* the tracker's costs measured (first epoch) */
	bool threaded;	 /* the policy thread keeps the epoch clock (and the window) */
	hy_engine_epoch_hook *on_epoch; /* set before the thread starts */
	void *on_epoch_arg;
};

/* Pages are armed only for a window before each epoch's end: then an epoch
 * ends disarmed, and the thread arms again when the window opens. */
static bool windowed(const struct hy_engine *e)
{
	return e->threaded && e->win.us < e->win.epoch_us;
}

static int node_tier(const struct hy_engine *e, int node, int intended)
{
	int found = -1;

	for (int t = 0; t < e->topo.ntiers; t++)
		if (hy_nm_isset(&e->topo.tier[t].nodes, node)) {
			if (found >= 0)
				return intended; /* loopback: the node plays several tiers */
			found = t;
		}
	return found;
}

int hy_engine_create(struct hy_engine **ep, const struct hy_config *cfg, const struct hy_topo *topo,
		     struct hy_err *err)
{
	struct hy_engine *e;
	struct hy_err why = {""};
	int rc;

	if (topo->ntiers < 2 || topo->ntiers > HY_PS_MAX_TIERS) {
		hy_err_set(err, "the engine needs 2 to %d tiers, not %d", HY_PS_MAX_TIERS,
			   topo->ntiers);
		return -EINVAL;
	}
	e = hy_os_alloc(sizeof(*e));
	if (!e) {
		hy_err_set(err, "out of memory for the engine");
		return -ENOMEM;
	}
	e->cfg = *cfg;
	e->topo = *topo;
	hy_kfeat_probe(&e->kf);
	hy_policy_params_from(&e->par, cfg, topo->ntiers);
	for (int t = 0; t < topo->ntiers; t++) {
		hy_place_nodes(&e->topo, t, &e->tier_nodes[t]);
		e->tier_target[t] = hy_nm_next(&e->tier_nodes[t], -1);
	}
	e->place_tier = topo->ntiers - 1;
	e->plan.cap = PLAN_CAP;
	e->plan.items = hy_os_alloc(PLAN_CAP * sizeof(*e->plan.items));
	if (!e->plan.items || hy_reg_init(&e->reg)) {
		hy_os_free(e->plan.items, PLAN_CAP * sizeof(*e->plan.items));
		hy_os_free(e, sizeof(*e));
		hy_err_set(err, "out of memory for the engine");
		return -ENOMEM;
	}
	pthread_mutex_init(&e->wait_lock, NULL);
	pthread_cond_init(&e->wait_cond, NULL);
	rc = hy_track_open_lazy(&e->track, cfg->backend, &e->kf, &e->st, &why);
	if (rc) {
		hy_err_set(err, "%s", why.msg);
		hy_engine_destroy(e);
		return rc;
	}
	if (why.msg[0])
		hy_warn_once("access tracking off: %s; placement only", why.msg);
	{
		struct hy_track_cost c;
		hy_track_cost(e->track, &c);
		hy_gov_init(&e->gov, cfg, c.fault_ns, !strcmp(hy_track_name(e->track), "sync"));
	}
	hy_win_init(&e->win, cfg);
	*ep = e;
	return 0;
}

static void stop_thread(struct hy_engine *e)
{
	if (!e->running)
		return;
	pthread_mutex_lock(&e->wait_lock);
	e->stop = true;
	pthread_cond_signal(&e->wait_cond);
	pthread_mutex_unlock(&e->wait_lock);
	pthread_join(e->thread, NULL);
	e->running = false;
}

void hy_engine_destroy(struct hy_engine *e)
{
	if (!e)
		return;
	stop_thread(e);
	if (e->track)
		hy_track_close(e->track);
	hy_reg_destroy(&e->reg);
	hy_os_free(e->plan.items, PLAN_CAP * sizeof(*e->plan.items));
	hy_os_free(e->bits, e->bits_pages / 8);
	hy_os_free(e->blocks, PLAN_CAP * sizeof(*e->blocks));
	pthread_cond_destroy(&e->wait_cond);
	pthread_mutex_destroy(&e->wait_lock);
	hy_os_free(e, sizeof(*e));
}

int hy_engine_manage(struct hy_engine *e, void *addr, size_t len, enum hy_hint hint)
{
	int tier = hint == HY_HINT_HOT ? 0 : hint == HY_HINT_COLD ? e->topo.ntiers - 1 : e->place_tier;
	uintptr_t a = (uintptr_t)addr;
	int rc;

	if (!addr || !len || (a | len) & (PAGE - 1) || a + len < a)
		return -EINVAL;
	hy_reg_lock(&e->reg);
	if (e->quiesced) {
		hy_reg_unlock(&e->reg);
		return -ESHUTDOWN;
	}
	if (hy_place_foreign_policy(addr, &e->tier_nodes[tier])) {
		hy_reg_unlock(&e->reg);
		return -EPERM; /* the program placed it itself */
	}
	rc = hint != HY_HINT_PIN
		     ? hy_place_range(addr, len, &e->tier_nodes[tier], e->kf.preferred_many)
		     : 0;
	if (rc)
		goto out;
	rc = hy_reg_add(&e->reg, a, len, hint);
	if (!rc && (rc = hy_track_add(e->track, a, len)))
		hy_reg_remove(&e->reg, a, len); /* exactly what was added: cannot fail */
	if (rc) {
		/* not managed after all: give the range its default policy back */
		if (hint != HY_HINT_PIN)
			syscall(SYS_mbind, addr, len, 0 /* MPOL_DEFAULT */, NULL, 0, 0);
		goto out;
	}
	/* armed whole now only if the governor would arm every page anyway;
	 * else it arms a sample from the next epoch on */
	if (hint != HY_HINT_PIN && !windowed(e) && hy_gov_budget(&e->gov, e->reg.pages) >= e->reg.pages &&
	    !hy_track_arm(e->track, a, len, NULL))
		e->armed += len / PAGE;
	hy_stat_add(&e->st, tracked_bytes, len);
out:
	hy_reg_unlock(&e->reg);
	return rc;
}

int hy_engine_unmanage(struct hy_engine *e, void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	size_t before;
	int rc;

	if (!addr || !len || (a | len) & (PAGE - 1) || a + len < a)
		return -EINVAL;
	hy_reg_lock(&e->reg);
	before = e->reg.pages;
	rc = hy_reg_remove(&e->reg, a, len);
	if (!rc) {
		if (e->track)
			hy_track_remove(e->track, a, len);
		__atomic_fetch_sub(&e->st.tracked_bytes, (before - e->reg.pages) * PAGE,
				   __ATOMIC_RELAXED);
	}
	hy_reg_unlock(&e->reg);
	return rc;
}

int hy_engine_remap(struct hy_engine *e, void *old, size_t oldlen, void *new, size_t newlen)
{
	uintptr_t o = (uintptr_t)old, n = (uintptr_t)new;
	size_t before;
	bool managed;
	int rc;

	if (!old || !new || !oldlen || !newlen || (o | n | oldlen | newlen) & (PAGE - 1))
		return -EINVAL;
	if (e->quiesced)
		return 0;
	before = e->reg.pages;
	managed = hy_reg_find(&e->reg, o) != NULL;
	/* the kernel dropped the userfaultfd registration of the moved pages
	 * (no EVENT_REMAP asked): register afresh where they are now */
	hy_track_remove(e->track, o, oldlen);
	hy_track_remove(e->track, n, newlen);
	rc = hy_reg_move(&e->reg, o, oldlen, n, newlen);
	if (!rc && managed && hy_track_add(e->track, n, newlen))
		hy_reg_remove(&e->reg, n, newlen);
	if (e->reg.pages >= before)
		hy_stat_add(&e->st, tracked_bytes, (e->reg.pages - before) * PAGE);
	else
		__atomic_fetch_sub(&e->st.tracked_bytes, (before - e->reg.pages) * PAGE,
				   __ATOMIC_RELAXED);
	return rc;
}

void hy_engine_hold(struct hy_engine *e)
{
	hy_reg_lock(&e->reg);
}

void hy_engine_release(struct hy_engine *e)
{
	hy_reg_unlock(&e->reg);
}

/* Scratch bitmap for a region of n pages (grown as needed, os memory). */
static uint64_t *scratch(struct hy_engine *e, size_t n)
{
	if (n > e->bits_pages) {
		size_t want = (n + 4095) & ~(size_t)4095;
		void *p = hy_os_realloc(e->bits, e->bits_pages / 8, want / 8);
		if (!p)
			return NULL;
		e->bits = p;
		e->bits_pages = want;
	}
	return e->bits;
}

/*
 * Pages whose tier we do not know yet: ask the kernel where they are (one
 * move_pages query per batch).  All such pages written this epoch, and a
 * rotating sweep of up to SWEEP others, so that pages never observed written
 * still become known (and demotable) in time.  Not-present pages stay
 * unknown.
 */
#define SWEEP 16384

static void learn_tiers(struct hy_engine *e, struct hy_region *g, const uint64_t *written,
			size_t *sweep)
{
	size_t n = (g->end - g->start) / PAGE;
	uintptr_t addrs[BATCH];
	int nodes[BATCH];
	size_t idx[BATCH], k = 0;
	int intended = g->hint == HY_HINT_HOT ? 0 : e->place_tier;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && hy_ps_tier(g->state[i]) < 0 &&
		    ((written[i / 64] >> (i % 64) & 1) || (*sweep && (*sweep)--))) {
			addrs[k] = g->start + i * PAGE;
			idx[k++] = i;
		}
		if (k == BATCH || (i == n && k)) {
			if (!hy_mig_query(addrs, k, nodes))
				for (size_t j = 0; j < k; j++)
					if (nodes[j] >= 0)
						g->state[idx[j]] = hy_ps_set_tier(
							g->state[idx[j]], node_tier(e, nodes[j], intended));
			k = 0;
		}
	}
}

/* Arm this epoch's sample, region by region in proportion to size. */
/* Release every armed page (windowed tracking, between epoch and window). */
static void disarm(struct hy_engine *e)
{
	uint64_t t0;

	hy_reg_lock(&e->reg);
	t0 = hy_mono_ns();
	for (size_t i = 0; i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];
		size_t n = (g->end - g->start) / PAGE;
		uint64_t *none = scratch(e, n);

		if (none) {
			memset(none, 0, (n + 63) / 64 * 8);
			hy_track_arm(e->track, g->start, n * PAGE, none);
		}
	}
	e->disarm_ns = hy_mono_ns() - t0;
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
static void open_window(struct hy_engine *e)
{
	hy_reg_lock(&e->reg);
	for (size_t i = 0; i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];
		uint64_t *w = scratch(e, (g->end - g->start) / PAGE);

		if (w)
			hy_track_harvest(e->track, g->start, g->end - g->start, w);
	}
	hy_reg_unlock(&e->reg);
}

static void arm(struct hy_engine *e)
{
	size_t budget, total;
	uint64_t ns = 0, t0;

	hy_reg_lock(&e->reg);
	total = e->reg.pages;
	budget = hy_gov_budget(&e->gov, total);
	e->armed = 0;
	for (size_t i = 0; i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];
		size_t n = (g->end - g->start) / PAGE;
		size_t share = total ? (size_t)((unsigned __int128)budget * n / total) : 0;
		uint64_t *bits = scratch(e, n);

		/* only the arming itself is timed: choosing is the policy's cost */
		if (share >= n && g->hint != HY_HINT_PIN) {
			/* every page: the whole region is the sampling window */
			g->sweep_from = 0;
			g->sweep_n = (n + HY_ARM_CHUNK - 1) / HY_ARM_CHUNK;
			t0 = hy_mono_ns();
			if (!hy_track_arm(e->track, g->start, n * PAGE, NULL))
				e->armed += n;
			ns += hy_mono_ns() - t0;
		} else if (bits) {
			size_t k = hy_sampler_choose(e->par.window, g, share, bits, hy_win_bulk(&e->win));

			t0 = hy_mono_ns();
			if (!hy_track_arm(e->track, g->start, n * PAGE, bits))
				e->armed += k;
			ns += hy_mono_ns() - t0;
		}
	}
	/* a page armed for a window is disarmed after it: both are its cost */
	hy_gov_learn_arm(&e->gov, e->armed, ns + e->disarm_ns);
	e->disarm_ns = 0;
	hy_reg_unlock(&e->reg);
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

/* Insertion sort of a batch by address: batches are small and mostly sorted
 * already (the migrator groups by node); no qsort, which may allocate. */
static void sort_moves(struct hy_move *mv, size_t k)
{
	for (size_t i = 1; i < k; i++) {
		struct hy_move x = mv[i];
		size_t j = i;
		while (j && mv[j - 1].addr > x.addr) {
			mv[j] = mv[j - 1];
			j--;
		}
		mv[j] = x;
	}
}

static const struct hy_move *find_move(const struct hy_move *mv, size_t k, uintptr_t addr)
{
	size_t lo = 0, hi = k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mv[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < k && mv[lo].addr == addr ? &mv[lo] : NULL;
}

/* Heapsort of addresses (no qsort: it may malloc). */
static void sift_up(uintptr_t *a, size_t i, size_t n)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < n && a[l] > a[m])
			m = l;
		if (l + 1 < n && a[l + 1] > a[m])
			m = l + 1;
		if (m == i)
			return;
		uintptr_t t = a[i];
		a[i] = a[m];
		a[m] = t;
		i = m;
	}
}

static void sort_addrs(uintptr_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_up(a, i, n);
	for (size_t end = n; end > 1; end--) {
		uintptr_t t = a[0];
		a[0] = a[end - 1];
		a[end - 1] = t;
		sift_up(a, 0, end - 1);
	}
}

#define THP_SIZE  ((uintptr_t)2 << 20)
#define THP_PAGES (THP_SIZE / PAGE)

/*
 * Transparent huge pages, before anything moves.  move_pages() of one base
 * page of a huge page moves all of it (2 MiB): right when most of the block
 * is to move the same way (a contiguous hot part goes up as a huge page),
 * wrong when a few scattered pages are (mostly cold data would come up to
 * DRAM, or hot data go down with a cold page).  So a block where fewer than
 * half the pages are planned is split first: MADV_COLD on one page of it
 * splits a huge page that the range does not cover whole (the kernel's
 * madvise_cold_or_pageout), after which only the planned pages move.  The
 * page chosen is one that is cold anyway: a page to demote, or, for
 * promotions, a neighbour not planned.  On a block that is no huge page the
 * call only marks one cold page inactive.
 */
static void split_scattered(struct hy_engine *e)
{
	uintptr_t *a;
	size_t n = 0;

	if (!e->blocks && !(e->blocks = hy_os_alloc(PLAN_CAP * sizeof(*e->blocks))))
		return;
	a = e->blocks;
	for (size_t k = 0; k < e->plan.n && n < PLAN_CAP; k++)
		a[n++] = e->plan.items[k].addr | (e->plan.items[k].dir == HY_PLAN_DEMOTE);
	sort_addrs(a, n);
	for (size_t i = 0, j; i < n; i = j) {
		uintptr_t blk = a[i] & ~(THP_SIZE - 1), victim = 0;

		for (j = i; j < n && (a[j] & ~(THP_SIZE - 1)) == blk; j++)
			if ((a[j] & 1) && !victim)
				victim = a[j] & ~(uintptr_t)1;
		if (j - i >= THP_PAGES / 2)
			continue; /* mostly moving: whole */
		if (!victim) {
			/* promotions only: the first page of the block not planned,
			 * inside the managed region (a planned page's neighbour) */
			uintptr_t first = a[i] & ~(uintptr_t)1;

			victim = first > blk ? first - PAGE : first + PAGE;
			for (size_t k = i + 1; k < j && victim == (a[k] & ~(uintptr_t)1); k++)
				victim += PAGE;
			if ((victim & ~(THP_SIZE - 1)) != blk)
				continue;
		}
		if (!madvise((void *)victim, PAGE, MADV_COLD))
			hy_stat_add(&e->st, thp_splits, 1);
	}
}

static void execute(struct hy_engine *e)
{
	struct hy_move mv[BATCH];
	size_t src[BATCH];

	for (size_t at = 0; at < e->plan.n;) {
		size_t k = 0;
		int kind = e->plan.items[at].dir;

		hy_reg_lock(&e->reg);
		/* one batch of one kind; pages unmapped since planning are skipped */
		for (; at < e->plan.n && k < BATCH && e->plan.items[at].dir == kind; at++) {
			const struct hy_plan_item *it = &e->plan.items[at];
			if (!hy_reg_find(&e->reg, it->addr))
				continue;
			mv[k] = (struct hy_move){it->addr, e->tier_target[it->to], 0};
			src[k++] = at;
		}
		if (k) {
			long rc = hy_mig_move(mv, k, kind == HY_PLAN_PROMOTE ? HY_MOVE_PROMOTE
									     : HY_MOVE_DEMOTE,
					      &e->st);
			(void)rc; /* per-page statuses carry the outcome either way */
			/* the migrator may reorder: sort by address, find each item's
			 * outcome by binary search */
			sort_moves(mv, k);
			for (size_t j = 0; j < k; j++) {
				struct hy_plan_item *it = &e->plan.items[src[j]];
				const struct hy_move *m = find_move(mv, k, it->addr);
				int res;

				if (!m)
					continue;
				res = m->status >= 0 ? node_tier(e, m->status, it->to) : m->status;
				hy_policy_commit(&e->par, &e->reg, it, res);
			}
		}
		hy_reg_unlock(&e->reg);
	}
}

void hy_engine_set_dram_limit(struct hy_engine *e, uint64_t bytes)
{
	hy_reg_lock(&e->reg); /* the policy reads it under this lock */
	e->cfg.dram_limit = bytes;
	e->par.dram_limit = bytes;
	hy_reg_unlock(&e->reg);
}

int hy_engine_epoch(struct hy_engine *e)
{
	struct hy_tier_view views[HY_MAX_TIERS];
	struct timespec t0, t1;
	uint64_t per_tier[HY_MAX_TIERS];

	size_t written = 0, sweep = SWEEP;
	struct hy_catch caught = {{0}};

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	if (!e->calibrated) {
		/* measured here, off the program's start (hy_track_open_lazy);
		 * the tracker's own range and lock, not the registry's */
		struct hy_track_cost c;

		hy_track_calibrate(e->track);
		hy_track_cost(e->track, &c);
		hy_reg_lock(&e->reg);
		hy_gov_set_fault_cost(&e->gov, c.fault_ns);
		hy_reg_unlock(&e->reg);
		e->calibrated = true;
	}
	hy_reg_lock(&e->reg);
	if (e->quiesced) {
		hy_reg_unlock(&e->reg);
		return -ESHUTDOWN;
	}
	e->epoch++;
	if (hy_track_check(e->track) == -EBADF)
		hy_warn_once("the program closed or replaced libhybrid's file descriptors: access "
			     "tracking stops (placement stays)");
	for (size_t i = 0; i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];
		size_t n = (g->end - g->start) / PAGE;
		uint64_t *w = scratch(e, n);

		if (!w)
			continue;
		long got = hy_track_harvest(e->track, g->start, g->end - g->start, w);
		if (got < 0)
			memset(w, 0, (n + 63) / 64 * 8);
		else
			written += (size_t)got;
		learn_tiers(e, g, w, &sweep);
		if (got >= 0)
			hy_sampler_catch(g, w, &caught);
		hy_policy_age(g, w);
	}
	/*
	 * Nothing at all written in the window, of many pages armed: the
	 * program did not run then (a pause, or a busy machine that gave it no
	 * CPU -- seen on the shared development host in 125-ms windows) or
	 * stopped writing.  That says nothing about write rates: the governor
	 * and the window keep what they learnt.
	 */
	if (written || e->armed < 1024) {
		hy_gov_learn(&e->gov, e->armed, written);
		if (!hy_win_learn(&e->win, &caught)) {
			/* a window still far too long: what it caught is no sign of heat */
			for (size_t i = 0; i < e->reg.n; i++)
				hy_policy_forget_last(&e->reg.reg[i]);
			hy_debug("epoch %llu: window too long, its catch is not counted",
				 (unsigned long long)e->epoch);
		}
	} else {
		/* and the sweep looked at nothing: it goes over the same chunks again
		 * (at start-up, a program initialising for seconds would otherwise
		 * have the sweep pass its hot set before it is ever written) */
		for (size_t i = 0; i < e->reg.n; i++)
			e->reg.reg[i].arm_cursor = e->reg.reg[i].sweep_from;
	}
	hy_debug("epoch %llu: %zu pages armed, %zu written; costs: fault %llu ns, arming %llu "
		 "ns/page; %u permille written, %u caught in the bulk; window now %llu us",
		 (unsigned long long)e->epoch, e->armed, written,
		 (unsigned long long)e->gov.fault_ns, (unsigned long long)e->gov.arm_ns,
		 e->gov.write_permille, e->win.caught_permille, (unsigned long long)e->win.us);
	tier_views(e, views);
	hy_policy_plan(&e->par, &e->reg, views, e->epoch, &e->plan);
	hy_debug("epoch %llu: plan: promote %llu KiB, demote %llu KiB; %llu KiB hot below, "
		 "%llu KiB room on tier 0, %llu KiB exchanged",
		 (unsigned long long)e->epoch, (unsigned long long)e->plan.promote_bytes >> 10,
		 (unsigned long long)e->plan.demote_bytes >> 10, (unsigned long long)e->plan.waiting >> 10,
		 (unsigned long long)e->plan.room0 >> 10, (unsigned long long)e->plan.exchange >> 10);
	hy_stat_add(&e->st, thrash_pages, e->plan.thrash);
	memcpy(per_tier, e->plan.tier_bytes, sizeof(per_tier));
	hy_reg_unlock(&e->reg);

	split_scattered(e);
	execute(e);
	if (windowed(e))
		disarm(e); /* armed again for the window only (loop) */
	else
		arm(e);

	for (int t = 0; t < HY_MAX_TIERS; t++)
		hy_stat_set(&e->st, tier_bytes[t], per_tier[t]);
	hy_stat_add(&e->st, epochs, 1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	hy_stat_add(&e->st, policy_ns,
		    (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
			    (uint64_t)t0.tv_nsec);
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
	while (!e->stop && pthread_cond_timedwait(&e->wait_cond, &e->wait_lock, t) == 0)
		;
	stop = e->stop;
	pthread_mutex_unlock(&e->wait_lock);
	return stop;
}

/*
 * The epoch clock.  With a tracking window shorter than the epoch (fixed by
 * track_window, or adapted by hy_win_learn), pages are armed only for the
 * window, somewhere in each epoch: a write is recorded if it falls in the
 * window, so a page written many times a second is seen in most epochs and
 * one written once a second in few -- the one bit per epoch then tells write
 * rates apart, and writes outside the window cost nothing.  The window only
 * changes in hy_engine_epoch, on this thread.
 */
static void epoch_done(struct hy_engine *e)
{
	struct hy_stats st;

	if (!e->on_epoch)
		return;
	hy_engine_stats(e, &st);
	e->on_epoch(&st, e->on_epoch_arg);
}

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
			hy_engine_epoch(e);
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
		hy_engine_epoch(e);
		epoch_done(e);
	}
}

void hy_engine_set_epoch_hook(struct hy_engine *e, hy_engine_epoch_hook *fn, void *arg)
{
	e->on_epoch = fn;
	e->on_epoch_arg = arg;
}

int hy_engine_start_thread(struct hy_engine *e)
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

void hy_engine_stats(struct hy_engine *e, struct hy_stats *out)
{
	const uint64_t *src = (const uint64_t *)&e->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

const char *hy_engine_backend(const struct hy_engine *e)
{
	return e->track ? hy_track_name(e->track) : "stopped";
}

struct hy_registry *hy_engine_registry(struct hy_engine *e)
{
	return &e->reg;
}

void hy_engine_quiesce(struct hy_engine *e)
{
	stop_thread(e);
	hy_reg_lock(&e->reg);
	if (!e->quiesced) {
		e->quiesced = true;
		/* every page released and unregistered: writes never fault again */
		hy_track_close(e->track);
		e->track = NULL;
	}
	hy_reg_unlock(&e->reg);
}

/*
 * fork.  The prepare handler runs after jemalloc's (it was registered
 * before jemalloc's, see runtime.c), so the lock order jemalloc -> registry
 * of the extent hooks is kept: a thread inside a hook finishes before the
 * registry lock is taken here.  Holding the registry lock across fork means
 * the child's copy of the registry is consistent and no migration batch is
 * half done.
 */
void hy_engine_fork_prepare(struct hy_engine *e)
{
	hy_reg_lock(&e->reg);
}

void hy_engine_fork_parent(struct hy_engine *e)
{
	hy_reg_unlock(&e->reg);
}

/* Child, before anything else runs: our locks back to a usable state (the
 * threads that might have held the others do not exist here). */
void hy_engine_fork_child_locks(struct hy_engine *e)
{
	pthread_mutex_init(&e->reg.lock, NULL);
	pthread_mutex_init(&e->wait_lock, NULL);
	pthread_cond_init(&e->wait_cond, NULL);
	e->running = false; /* the parent's policy thread was not copied */
}

/*
 * Child, once the allocator is usable again: a fresh tracker (the inherited
 * userfaultfd belongs to the parent), every range registered with it (armed
 * from the next epoch on, by the governor), and a policy thread.  If any of
 * that fails the child keeps running unmanaged, said once.
 */
int hy_engine_fork_child(struct hy_engine *e)
{
	struct hy_err err = {""};
	int rc;

	if (e->quiesced)
		return 0;
	hy_reg_lock(&e->reg);
	rc = hy_track_reopen(&e->track, &err);
	for (size_t i = 0; !rc && i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];

		rc = hy_track_add(e->track, g->start, g->end - g->start);
	}
	e->armed = 0;
	hy_reg_unlock(&e->reg);
	e->stop = false;
	if (!rc)
		rc = hy_engine_start_thread(e);
	if (rc) {
		hy_warn_once("forked child (pid %d): cannot track its memory (%s); it runs "
			     "unmanaged", (int)getpid(), err.msg[0] ? err.msg : strerror(-rc));
		hy_engine_quiesce(e);
	}
	return rc;
}
