/* SPDX-License-Identifier: MIT */
/*
 * epoch — one epoch of the engine, and the policy thread that keeps the
 * epoch clock (see engine.h for the pipeline, engine_state.h for the state).
 *
 *   observe   harvest each region's accessed pages from the tracker; learn
 *             the tier of pages seen for the first time (move_pages query)
 *   decide    age the per-page history, let the sampler learn (governor,
 *             window), plan promotions and demotions (policy)
 *   move      hand the plan to the migrator (hy_mig_run), commit each
 *             outcome to the page's state; arm the next sample (sampler)
 *
 * Lock order: registry lock, then nothing (the tracker and migrator take no
 * locks of ours).  The registry lock is held while harvesting and planning,
 * and again per migration batch, so that a program thread unmapping a range
 * never races a move of its pages; never across a sleep.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "engine_state.h"

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
			hy_sampler_took_all(g);
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
 * Observe (registry lock held): each region's pages accessed since the last
 * harvest go into its history (policy) and the sampler's catch; pages seen
 * for the first time get their tier.  Returns the pages found accessed.
 */
static size_t observe(struct hy_engine *e, struct hy_catch *caught)
{
	size_t written = 0, sweep = SWEEP;

	if (hy_track_check(e->track) == -EBADF)
		hy_warn_once("the program closed or replaced libhybrid's file descriptors: access "
			     "tracking stops (placement stays)");
	for (size_t i = 0; i < e->reg.n; i++) {
		struct hy_region *g = &e->reg.reg[i];
		size_t n = (g->end - g->start) / PAGE;
		uint64_t *w = scratch(e, n);
		long got;

		if (!w)
			continue;
		got = hy_track_harvest(e->track, g->start, g->end - g->start, w);
		if (got < 0)
			memset(w, 0, (n + 63) / 64 * 8);
		else
			written += (size_t)got;
		learn_tiers(e, g, w, &sweep);
		if (got >= 0)
			hy_sampler_catch(g, w, caught);
		hy_policy_age(g, w);
	}
	return written;
}

/*
 * The sampler learns from what was seen (registry lock held).  Nothing at
 * all written in the window, of many pages armed: the program did not run
 * then (a pause, or a busy machine that gave it no CPU -- seen on the
 * shared development host in 125-ms windows) or stopped writing.  That says
 * nothing about write rates: the governor and the window keep what they
 * learnt.
 */
static void learn(struct hy_engine *e, size_t written, const struct hy_catch *caught)
{
	if (written || e->armed < 1024) {
		hy_gov_learn(&e->gov, e->armed, written);
		if (!hy_win_learn(&e->win, caught)) {
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
			hy_sampler_rewind(&e->reg.reg[i]);
	}
	hy_debug("epoch %llu: %zu pages armed, %zu written; costs: fault %llu ns, arming %llu "
		 "ns/page; %u permille written, %u caught in the bulk; window now %llu us",
		 (unsigned long long)e->epoch, e->armed, written,
		 (unsigned long long)e->gov.fault_ns, (unsigned long long)e->gov.arm_ns,
		 e->gov.write_permille, e->win.caught_permille, (unsigned long long)e->win.us);
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

static uint64_t thread_cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int hy_epoch_run(struct hy_engine *e)
{
	uint64_t per_tier[HY_MAX_TIERS], t0 = thread_cpu_ns();
	struct hy_catch caught = {{0}};
	size_t written;

	if (!e->calibrated)
		calibrate(e);
	hy_reg_lock(&e->reg);
	if (e->quiesced) {
		hy_reg_unlock(&e->reg);
		return -ESHUTDOWN;
	}
	e->epoch++;
	written = observe(e, &caught);
	learn(e, written, &caught);
	decide(e);
	memcpy(per_tier, e->plan.tier_bytes, sizeof(per_tier));
	hy_stat_set(&e->st, self_bytes, hy_reg_state_bytes(&e->reg) + hy_track_bytes(e->track));
	hy_reg_unlock(&e->reg);

	execute(e); /* move: the registry lock per batch */
	if (windowed(e))
		disarm(e); /* armed again for the window only (loop) */
	else
		arm(e);

	for (int t = 0; t < HY_MAX_TIERS; t++)
		hy_stat_set(&e->st, tier_bytes[t], per_tier[t]);
	hy_stat_add(&e->st, epochs, 1);
	hy_stat_add(&e->st, policy_ns, thread_cpu_ns() - t0);
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
	e->stop = true;
	pthread_cond_signal(&e->wait_cond);
	pthread_mutex_unlock(&e->wait_lock);
	pthread_join(e->thread, NULL);
	e->running = false;
}
