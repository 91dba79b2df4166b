/* SPDX-License-Identifier: MIT */
/*
 * runtime — the process's one libhybrid instance (see runtime.h).
 *
 * Lock: rt.lock serialises start, going live and stop.  Hot paths (the
 * preload's mmap wrappers, the heap's extent hooks) read rt.state and
 * rt.live with acquire loads and take rt.lock only to go live, once.
 *
 * Lazy start.  Before main the instance decides (options, tiers: a bad
 * configuration is said now, once) and creates its engine, which costs a
 * few mappings.  What costs system calls -- the kernel probes, the
 * userfaultfd, the policy thread, the live-view entry -- waits for the
 * first use of managed memory: "going live" (go_live below).  Going live
 * starts a thread, and pthread_create allocates, so it happens only where
 * the program could call malloc itself: the first call of a thread into
 * the interposed malloc family (before it enters jemalloc: the heap's
 * owner.use), the first managed mmap, the API.  Never inside an extent hook
 * (jemalloc's locks are held there): the hooks only manage; their thread
 * went live on its way into malloc.  That reasoning needs our malloc to be
 * the process's (rt.heap_ours): where the program brings its own (its
 * mmap may then come from inside its allocator, with its lock held), the
 * instance goes live before main, and a forked child at once, as before.
 * A short-lived program that manages nothing pays for none of it; a forked
 * child goes live at its own first use, so one that execs or exits at once
 * pays nothing either.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "export.h"
#include "fault.h"
#include "heap.h"
#include "runtime.h"
#include "symbol.h"

static struct {
	int state; /* enum hy_rt_state, atomic */
	bool whole;
	struct hy_config cfg;
	struct hy_topo topo;
	struct hy_engine *engine;
	int live;	 /* went live (or failed to: engine quiesced); atomic */
	bool heap_ours;	 /* our malloc family is the process's */
	pthread_mutex_t lock;
} rt = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void use(void);

enum hy_rt_state hy_rt_state(void)
{
	return __atomic_load_n(&rt.state, __ATOMIC_ACQUIRE);
}

static void set_state(enum hy_rt_state s)
{
	__atomic_store_n(&rt.state, s, __ATOMIC_RELEASE);
}

struct hy_engine *hy_rt_engine_if_running(void)
{
	return hy_rt_state() == HY_RT_RUNNING ? rt.engine : NULL;
}

struct hy_engine *hy_rt_engine(void)
{
	if (hy_rt_state() == HY_RT_NONE)
		hy_rt_start(NULL, NULL);
	use();
	return hy_rt_engine_if_running();
}

bool hy_rt_managing(void)
{
	return !hy_reg_held() && hy_rt_engine_if_running();
}

/*
 * Go live once (see the top): the tracker, its ranges, the policy thread,
 * the live entry.  Only where the program could call malloc.  A failure
 * leaves the engine quiesced (said once): nothing managed from then on.
 */
static __thread int going_live __attribute__((tls_model("initial-exec")));

static void go_live(void)
{
	struct hy_stats st;
	int rc;

	/* pthread_create's own calloc may be this thread's first malloc call:
	 * it comes back here through the heap's owner.use */
	if (__atomic_load_n(&rt.live, __ATOMIC_ACQUIRE) || going_live)
		return;
	going_live = 1;
	pthread_mutex_lock(&rt.lock);
	if (hy_rt_state() == HY_RT_RUNNING && !rt.live) {
		if (!hy_engine_go_live(rt.engine)) {
			hy_engine_stats(rt.engine, &st);
			rc = hy_export_start(&st, hy_engine_backend(rt.engine));
			if (rc)
				hy_debug("no live statistics for this process: %s", strerror(-rc));
			hy_debug("live: backend %s", hy_engine_backend(rt.engine));
		}
		__atomic_store_n(&rt.live, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&rt.lock);
	going_live = 0;
}

/* A way in is about to use managed memory, where it may allocate. */
static void use(void)
{
	if (!__atomic_load_n(&rt.live, __ATOMIC_ACQUIRE) && rt.heap_ours && hy_rt_managing())
		go_live();
}

int hy_rt_manage(void *addr, size_t len, enum hy_hint hint)
{
	struct hy_engine *e;

	use();
	e = hy_rt_managing() ? rt.engine : NULL;
	return e ? hy_engine_manage(e, addr, len, hint) : -ENODEV;
}

int hy_rt_manage_shared(void *addr, size_t len)
{
	struct hy_engine *e;

	use();
	e = hy_rt_managing() ? rt.engine : NULL;
	return e ? hy_engine_manage_shared(e, addr, len) : -ENODEV;
}

int hy_rt_unmanage(void *addr, size_t len)
{
	struct hy_engine *e = hy_rt_managing() ? rt.engine : NULL;

	return e ? hy_engine_unmanage(e, addr, len) : -ENODEV;
}

struct hy_engine *hy_rt_remap_hold(void)
{
	struct hy_engine *e = hy_rt_managing() ? rt.engine : NULL;

	if (e)
		hy_engine_hold(e);
	return e;
}

void hy_rt_remap_done(struct hy_engine *held, void *old, size_t oldlen, void *new, size_t newlen)
{
	if (!held)
		return;
	if (new != MAP_FAILED)
		hy_engine_remap(held, old, oldlen, new, newlen);
	hy_engine_release(held);
}

/* The heap's hooks hand their mappings to the engine through these, inside
 * jemalloc: they never go live (their thread did, through heap_use). */
static void heap_manage(void *addr, size_t len)
{
	struct hy_engine *e = hy_rt_managing() ? rt.engine : NULL;

	if (e)
		hy_engine_manage(e, addr, len, HY_HINT_HYBRID);
}

static void heap_unmanage(void *addr, size_t len)
{
	hy_rt_unmanage(addr, len);
}

/* A thread enters the malloc family for the first time (or first since
 * fork), before jemalloc: a place where it may allocate. */
static void heap_use(void)
{
	use();
}

static const struct hy_heap_owner heap_owner = {heap_manage, heap_unmanage, heap_use};

bool hy_rt_whole_process(void)
{
	return rt.whole;
}

const struct hy_config *hy_rt_config(void)
{
	return &rt.cfg;
}

const struct hy_topo *hy_rt_topo(void)
{
	return &rt.topo;
}

/* Is this library in LD_PRELOAD? */
static bool preloaded(void)
{
	return hy_preload_has_libhybrid(secure_getenv("LD_PRELOAD"));
}

/*
 * fork handlers, in two sets.  The early set is registered before jemalloc
 * registers its own (hy_rt_preinit, from the heap's first call), the late
 * one when the engine starts.  pthread_atfork runs prepare handlers in
 * reverse order of registration and child handlers in order, so:
 *   prepare: rt.lock (late: going live holds it while pthread_create
 *            allocates, so before jemalloc's), jemalloc's locks, then the
 *            registry lock (early) — the order the extent hooks take them in;
 *   child:   our locks reset (early), jemalloc's reset, then (late) rt.lock
 *            reset and the engine back to "not live": the child goes live
 *            at its own first use (see the top), or at once where our malloc
 *            is not the process's.
 */
static void fork_prepare_early(void)
{
	struct hy_engine *e = hy_rt_engine_if_running();

	hy_heap_fork_prepare();
	if (e)
		hy_engine_fork_prepare(e);
}

static void fork_parent_early(void)
{
	struct hy_engine *e = hy_rt_engine_if_running();

	if (e)
		hy_engine_fork_parent(e);
	hy_heap_fork_parent();
}

static void fork_child_early(void)
{
	struct hy_engine *e = hy_rt_engine_if_running();

	if (e)
		hy_engine_fork_child_locks(e);
	hy_heap_fork_child();
}

static void fork_prepare_late(void)
{
	pthread_mutex_lock(&rt.lock);
}

static void fork_parent_late(void)
{
	pthread_mutex_unlock(&rt.lock);
}

static void fork_child_late(void)
{
	struct hy_engine *e = hy_rt_engine_if_running();

	pthread_mutex_init(&rt.lock, NULL);
	if (!e)
		return;
	/* the parent's entry is the parent's: the child makes its own when
	 * it goes live */
	hy_export_fork_detach();
	if (!__atomic_load_n(&rt.live, __ATOMIC_ACQUIRE))
		return; /* the parent never went live: nothing to undo */
	hy_engine_fork_child(e);
	__atomic_store_n(&rt.live, 0, __ATOMIC_RELEASE);
	if (rt.heap_ours)
		hy_heap_thread_unsettle(); /* its next malloc goes live */
	else
		go_live();
}

void hy_rt_preinit(void)
{
	static int done;

	if (!__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		pthread_atfork(fork_prepare_early, fork_parent_early, fork_child_early);
}

/* The engine's epoch hook: the policy thread refreshes the live view. */
static void publish_epoch(const struct hy_stats *st, void *arg)
{
	(void)arg;
	hy_export_epoch(st);
	hy_engine_tree_hints(rt.engine); /* what other members hinted of the shared memory */
}

/* Decide and start; rt.lock held, state STARTING.  Returns the final state. */
static enum hy_rt_state start_locked(const struct hy_config *cfg, struct hy_err *err)
{
	char nodes[128];
	int rc;

	if (cfg) {
		rt.cfg = *cfg;
	} else {
		hy_config_defaults(&rt.cfg);
		if (hy_config_load_env(&rt.cfg, err)) {
			hy_warn("%s; running unmanaged", err->msg);
			return HY_RT_UNMANAGED;
		}
	}
	hy_log_set_level(rt.cfg.log_level);
	if (rt.cfg.mode == HY_MODE_OFF) {
		hy_err_set(err, "HYBRID_MODE=off");
		return HY_RT_UNMANAGED;
	}
	rt.whole = rt.cfg.mode == HY_MODE_HYBRID || (rt.cfg.mode == HY_MODE_AUTO && preloaded());
	if (hy_topo_discover(&rt.topo, "/", &rt.cfg, err)) {
		memset(&rt.topo, 0, sizeof(rt.topo)); /* no half-discovered tiers */
		hy_warn("%s; running unmanaged", err->msg);
		return HY_RT_UNMANAGED;
	}
	if (rt.topo.ntiers < 2) {
		hy_err_set(err, "one memory tier (nodes %s): running the program unchanged",
			   hy_nm_format(&rt.topo.tier[0].nodes, nodes, sizeof(nodes)));
		/* a warning only where hybrid placement was asked for by name:
		 * a preloaded program on a one-tier machine is simply unchanged */
		hy_log(rt.cfg.mode == HY_MODE_HYBRID ? HY_LOG_WARN : HY_LOG_INFO, "%s", err->msg);
		return HY_RT_UNMANAGED;
	}
	/* lazy: the tracker and the thread wait for go_live */
	rc = hy_engine_create_lazy(&rt.engine, &rt.cfg, &rt.topo, err);
	if (rc) {
		hy_warn("%s; running unmanaged", err->msg);
		return HY_RT_UNMANAGED;
	}
	rt.heap_ours = hy_sym_first_is("libhybrid", "calloc");
	hy_heap_set_owner(&heap_owner);
	/* the live view follows the epochs (it publishes nothing until
	 * go_live's hy_export_start has a page) */
	hy_engine_set_epoch_hook(rt.engine, publish_epoch, NULL);
	hy_rt_preinit();
	pthread_atfork(fork_prepare_late, fork_parent_late, fork_child_late);
	hy_export_describe(&rt.cfg, &rt.topo);
	hy_debug("%d tiers from %s, %s; tracking starts with the first managed memory%s",
		 rt.topo.ntiers, hy_topo_source_name(rt.topo.source),
		 rt.whole ? "whole process" : "hinted ranges only",
		 rt.heap_ours ? "" : " (now: the program brings its own malloc)");
	return HY_RT_RUNNING;
}

int hy_rt_start(const struct hy_config *cfg, struct hy_err *err)
{
	struct hy_err dummy;
	enum hy_rt_state s;

	if (!err)
		err = &dummy;
	err->msg[0] = 0;
	pthread_mutex_lock(&rt.lock);
	s = hy_rt_state();
	if (s != HY_RT_NONE) {
		pthread_mutex_unlock(&rt.lock);
		return s == HY_RT_RUNNING ? -EALREADY : s == HY_RT_STOPPED ? -ESHUTDOWN : -ENODEV;
	}
	set_state(HY_RT_STARTING);
	s = start_locked(cfg, err);
	set_state(s);
	pthread_mutex_unlock(&rt.lock);
	/* where our malloc is not the process's, no later moment is known to
	 * be safe for pthread_create: now (hybrid_init and the constructor are) */
	if (s == HY_RT_RUNNING && !rt.heap_ours)
		go_live();
	return s == HY_RT_RUNNING ? 0 : -ENODEV;
}

void hy_rt_stop(void)
{
	pthread_mutex_lock(&rt.lock);
	if (hy_rt_state() == HY_RT_RUNNING) {
		/* state first: hooks stop handing memory to the engine */
		set_state(HY_RT_STOPPED);
		hy_engine_quiesce(rt.engine);
		hy_export_stop();
	} else if (hy_rt_state() == HY_RT_NONE) {
		set_state(HY_RT_STOPPED);
	}
	pthread_mutex_unlock(&rt.lock);
}

int hy_rt_stats(struct hy_stats *out)
{
	enum hy_rt_state s = hy_rt_state();

	memset(out, 0, sizeof(*out));
	if ((s != HY_RT_RUNNING && s != HY_RT_STOPPED) || !rt.engine)
		return -ENODEV;
	hy_engine_stats(rt.engine, out);
	return 0;
}

/*
 * Before main: a whole-process instance starts now, so that the program's
 * first allocations after its constructors are already hybrid.  A linked
 * instance waits for its first use.
 */
__attribute__((constructor)) static void hy_rt_constructor(void)
{
	struct hy_config cfg;
	struct hy_err err;

#ifdef HYBRID_FAULT_INJECTION
	if (hy_fault_load_env())
		hy_warn("LIBHYBRID_TEST_FAULTS is malformed: no faults injected");
#endif
	hy_config_defaults(&cfg);
	if (hy_config_load_env(&cfg, &err)) {
		/* said once, by the start that decides "unmanaged" */
		hy_rt_start(NULL, NULL);
		hy_heap_set_binding(false);
		return;
	}
	if (cfg.mode == HY_MODE_HYBRID || (cfg.mode == HY_MODE_AUTO && preloaded()))
		hy_rt_start(NULL, NULL);
	/* threads bind to hybrid arenas from their next allocation on */
	hy_heap_set_binding(hy_rt_state() == HY_RT_RUNNING && rt.whole);
}

/*
 * At exit: the final report, then the policy thread ends (it must not move
 * pages while the program's last destructors run).  The engine itself is
 * never freed: a thread of the program may still be in a hook.
 */
__attribute__((destructor)) static void hy_rt_destructor(void)
{
	struct hy_engine *e;

	pthread_mutex_lock(&rt.lock);
	e = hy_rt_state() == HY_RT_RUNNING ? rt.engine : NULL;
	if (e) {
		set_state(HY_RT_STOPPED);
		hy_engine_quiesce(e);
		if (rt.cfg.stats[0]) {
			struct hy_stats st;

			hy_engine_stats(e, &st);
			hy_export_exit_report(&st, hy_engine_backend(e), rt.cfg.stats);
		}
		hy_export_stop();
	}
	pthread_mutex_unlock(&rt.lock);
}
