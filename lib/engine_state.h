/* SPDX-License-Identifier: MIT */
/*
 * engine_state — the engine's state, shared by its two halves and by no one
 * else: engine.c (the lifecycle of managed memory: create, manage, remap,
 * quiesce, fork) and epoch.c (the policy thread's epoch: observe, decide,
 * move).  Everything here is guarded by reg.lock unless its comment says
 * otherwise.
 */
#ifndef HY_ENGINE_STATE_H
#define HY_ENGINE_STATE_H

#include <pthread.h>
#include <stdbool.h>

#include "board.h"
#include "config.h"
#include "kfeat.h"
#include "log.h"
#include "migrate.h"
#include "policy.h"
#include "region.h"
#include "resident.h"
#include "sampler.h"
#include "stats.h"
#include "topology.h"
#include "track.h"

#define PAGE	     HY_PAGE_SIZE
#define PLAN_CAP     16384 /* pages planned per epoch at most (64 MiB) */
#define BATCH	     512   /* pages per migration batch (one lock hold) */
#define SCAN_CHUNKS  8192  /* populated chunks the present scan goes over per epoch (2 GiB) */

struct hy_engine {
	struct hy_config cfg;
	struct hy_topo topo;
	struct hy_registry reg;
	struct hy_track *track;
	bool tracking;		/* track is this process's and holds every managed
				 * range (false: lazy, not started yet; a forked
				 * child before its start; quiesced) */
	struct hy_stats st;
	struct hy_policy_params par;
	struct hy_governor gov;
	size_t armed;		/* pages armed for the epoch under way */
	uint64_t disarm_ns;	/* the last disarm() (windowed): part of arming's cost */
	uint64_t armed_cpu;	/* the process's CPU time when the sample was armed */
	uint64_t armed_mono;	/* and the clock then: did the program run in its window? */
	struct hy_window win;	/* how long before each epoch's end pages are armed */
	struct hy_kfeat kf;
	struct hy_board *board;	/* the tree's, once a shared range is managed */
	pid_t self;		/* this process, as of the epoch under way */
	pthread_mutex_t rehint_lock; /* one re-hint at a time: the API's, or the
				      * tree's applied (api_lock -> this -> registry) */
	uint32_t *hint_seen;	/* per board slot: the tree's hints applied so far */
	struct hy_nodemask tier_nodes[HY_MAX_TIERS]; /* where each tier's pages go */
	int tier_target[HY_MAX_TIERS];		     /* first of those: move_pages target */
	int place_tier;				     /* where hybrid ranges start */
	uint64_t epoch;

	struct hy_plan plan;	/* items in os memory */
	struct hy_move *moves;	/* the migrator's scratch: PLAN_CAP entries, lazily */
	struct hy_resident res;	/* which pages are populated (epoch) */
	uintptr_t scan_at;	/* where the present scan goes on (epoch.c: observe) */
	size_t scan_chunks;	/* chunks it goes over per epoch (SCAN_CHUNKS) */
	size_t scan_left;	/* chunks it may still go over this epoch */
	uintptr_t scan_stop;	/* where it stopped this epoch, 0: it did not */
	/* the epoch's scratch, os memory, grown as needed (hy_os_grow; caps in
	 * elements -- runs: pairs of addresses):
	 * a run's bitmap for the tracker, one word per chunk of a region
	 * (accessed / present / any present / in a huge page), the present runs found and the
	 * chunk numbers they touch */
	uint64_t *bits, *acc, *pres, *keep, *huge;
	size_t bits_cap, acc_cap, pres_cap, keep_cap, huge_cap;
	uintptr_t *runs;
	uint32_t *nos;
	size_t runs_cap, nos_cap;

	pthread_t thread;
	bool running;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	bool stop;	/* hy_epoch_stop_thread: the thread ends (atomic, no lock:
			 * every step of an epoch looks at it, epoch.c: stopping) */
	bool quiesced;	/* hy_engine_quiesce: nothing new is managed */
	bool calibrated; /* the tracker's costs measured (first epoch) */
	bool threaded;	 /* the policy thread keeps the epoch clock (and the window) */
	hy_stats_hook *on_epoch; /* set before the thread starts */
	void *on_epoch_arg;
};

/* Pages are armed only for a window before each epoch's end: then an epoch
 * ends disarmed, and the thread arms again when the window opens. */
static inline bool windowed(const struct hy_engine *e)
{
	return e->threaded && e->win.us < e->win.epoch_us;
}

static inline int node_tier(const struct hy_engine *e, int node, int intended)
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


/* The epoch's half (epoch.c), for the lifecycle's: one epoch now, and the
 * policy thread that runs them on the epoch clock. */
int hy_epoch_run(struct hy_engine *e);
int hy_epoch_start_thread(struct hy_engine *e);
void hy_epoch_stop_thread(struct hy_engine *e);

#endif
