/* SPDX-License-Identifier: MIT */
/*
 * runtime — the one libhybrid instance of a process: its options, its tiers,
 * its engine, and the events of the process's life (start, fork, exit).
 *
 *   whole-process use   preloaded (or HYBRID_MODE=hybrid): started by the
 *                       constructor before main; new heap and anonymous
 *                       memory is hybrid.
 *   linked use          started on the first hybrid_* call that needs it
 *                       (or hybrid_init); only what the program names is
 *                       managed.
 *
 * States move forward only: NONE -> STARTING -> {RUNNING, UNMANAGED} ->
 * STOPPED.  UNMANAGED (bad configuration, one tier, no engine) is final for
 * the process and was said once on stderr.  Reads of the state and of the
 * engine pointer are acquire loads, so any thread may ask at any time; the
 * start itself is serialised and runs at most once.
 *
 * Lazy: RUNNING means decided and placing; the tracker, the policy thread
 * and the live entry come with the first use of managed memory (runtime.c).
 *
 * fork: pthread_atfork handlers quiesce the engine in the parent; the child
 * lets go of the parent's tracker and entry and goes live at its own first
 * use (hy_engine_fork_*).
 */
#ifndef HY_RUNTIME_H
#define HY_RUNTIME_H

#include <stdbool.h>

#include "config.h"
#include "engine.h"
#include "topology.h"

enum hy_rt_state {
	HY_RT_NONE,	 /* nothing decided yet */
	HY_RT_STARTING,	 /* one thread is starting it */
	HY_RT_RUNNING,	 /* engine up */
	HY_RT_UNMANAGED, /* decided: nothing is managed in this process */
	HY_RT_STOPPED,	 /* hybrid_shutdown or exit: memory valid, nothing managed */
};

/*
 * Start the instance once.  cfg: options to use instead of the environment
 * (hybrid_init), or NULL.  Returns 0 when running, -EALREADY if it was
 * already started (cfg then ignored), -ENODEV when the process runs unmanaged
 * (err says why), -ESHUTDOWN after hy_rt_stop.
 */
int hy_rt_start(const struct hy_config *cfg, struct hy_err *err);

/* Register the early fork handlers (idempotent): called by the heap before
 * the first call into jemalloc, so that ours run in the right order around
 * jemalloc's (see runtime.c). */
void hy_rt_preinit(void);

/* The engine if running, else NULL; starts the instance from the
 * environment first if nothing was decided yet. */
struct hy_engine *hy_rt_engine(void);

/* Same, never starts anything (signal-safe check for hot paths). */
struct hy_engine *hy_rt_engine_if_running(void);

enum hy_rt_state hy_rt_state(void);

/*
 * The ways in (preload, the heap's hooks, api) hand memory to the engine
 * through these, never through the engine itself.  "Managing" means an
 * engine runs and the calling thread is not inside it already (region.h:
 * a call the library makes on its own behalf must not re-enter); when not
 * managing, manage and unmanage do nothing and return -ENODEV.  Otherwise
 * they are hy_engine_manage/hy_engine_unmanage.
 */
bool hy_rt_managing(void);
int hy_rt_manage(void *addr, size_t len, enum hy_hint hint);
int hy_rt_unmanage(void *addr, size_t len);
/* A shared anonymous mapping the process made: memory of the tree (engine.h). */
int hy_rt_manage_shared(void *addr, size_t len);

/*
 * mremap: hold before the system call, done after it (new == MAP_FAILED:
 * only the hold ends).  Without the hold another thread could map and
 * manage a range at the freed old address in between (see hy_engine_remap).
 * hold returns NULL, and done then does nothing, when not managing.
 */
struct hy_engine *hy_rt_remap_hold(void);
void hy_rt_remap_done(struct hy_engine *held, void *old, size_t oldlen, void *new, size_t newlen);

/* True when new anonymous memory of the whole process is hybrid (preload,
 * or HYBRID_MODE=hybrid).  Valid once started. */
bool hy_rt_whole_process(void);

/* Options and tiers in effect (valid once started; read-only). */
const struct hy_config *hy_rt_config(void);
const struct hy_topo *hy_rt_topo(void);

/*
 * Stop managing: the policy thread ends, tracking is removed, every page
 * stays where it is and valid.  Later calls that need the engine get
 * -ESHUTDOWN.  Counters remain readable.
 */
void hy_rt_stop(void);

/* Final counters of a stopped (or running) instance. */
int hy_rt_stats(struct hy_stats *out);

#endif
