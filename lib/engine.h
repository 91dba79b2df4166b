/* SPDX-License-Identifier: MIT */
/*
 * engine — the hybrid engine: managed ranges, and the epochs that track,
 * decide and migrate (DESIGN.md §3, §4; docs/architecture.md).
 *
 *   manage(range, hint)   placement + registry + tracker       (engine.c)
 *   one epoch             observe: harvest accesses, learn tiers  (epoch.c)
 *                         of newly seen pages, age the history
 *                         -> learn (sampler) -> decide (policy)
 *                         -> move (migrator) -> commit outcomes
 *                         -> arm the next sample (sampler)
 *
 * The epochs run in one background thread (hy_engine_start_thread), or are
 * driven by hy_engine_epoch() directly (tests, benchmarks); after each of
 * the thread's epochs the hook runtime set gets the counters.  The registry
 * lock is held while planning and for each migration batch, never across a
 * sleep; program threads that map or unmap managed memory take it briefly.
 * The engine's memory comes from os.h, never from the heap.
 */
#ifndef HY_ENGINE_H
#define HY_ENGINE_H

#include <stddef.h>

#include "config.h"
#include "log.h"
#include "region.h"
#include "stats.h"
#include "topology.h"

struct hy_engine;

/*
 * Create an engine for these options and tiers (both copied).  Needs at
 * least two tiers.  The tracker is opened per cfg->backend (auto falls back
 * to off, with the reason logged once).  No thread yet.
 */
int hy_engine_create(struct hy_engine **e, const struct hy_config *cfg, const struct hy_topo *topo,
		     struct hy_err *err);
/*
 * The same, paying for nothing yet (runtime, at process start): the kernel's
 * features are probed at the first manage, the tracker is opened and the
 * policy thread started by hy_engine_go_live.  Until then managed ranges are
 * placed and kept in the registry, untracked.  A backend named in cfg (not
 * auto) is opened now all the same, so that one that cannot work here is an
 * error at once.
 */
int hy_engine_create_lazy(struct hy_engine **e, const struct hy_config *cfg,
			  const struct hy_topo *topo, struct hy_err *err);
/*
 * Start what a lazy engine (or a forked child's) put off: probe, open the
 * tracker (in a child: a new one), register every managed range with it,
 * start the policy thread.  Idempotent.  It may allocate (pthread_create):
 * call it where the program could call malloc, never from inside the heap.
 * On failure the engine is quiesced and says so once; returns 0 or a
 * negative errno.
 */
int hy_engine_go_live(struct hy_engine *e);
/* Stop the thread if any; free bookkeeping.  Managed memory stays valid. */
void hy_engine_destroy(struct hy_engine *e);

/*
 * The loop's report upward: after each epoch of the policy thread, fn gets
 * the counters as they stand (runtime publishes them).  It runs on the
 * policy thread, so it obeys that thread's rules (no heap, no tracked
 * memory).  Set before hy_engine_start_thread; NULL for none.
 */
void hy_engine_set_epoch_hook(struct hy_engine *e, hy_stats_hook *fn, void *arg);

int hy_engine_start_thread(struct hy_engine *e);

/*
 * Stop for good: the thread ends, every range is released by the tracker
 * (no write faults any more), nothing new is managed (-ESHUTDOWN).  Pages
 * stay where they are.  The engine stays allocated: a program thread may
 * still be on its way into hy_engine_manage.
 */
void hy_engine_quiesce(struct hy_engine *e);

/* fork, in the order runtime calls them: prepare (parent, registry lock
 * taken), then parent (unlocked) or, in the child, child_locks first thing
 * and child once the allocator works again: the parent's tracker let go of,
 * nothing tracked until the child's hy_engine_go_live (a new tracker, its
 * ranges, a thread). */
void hy_engine_fork_prepare(struct hy_engine *e);
void hy_engine_fork_parent(struct hy_engine *e);
void hy_engine_fork_child_locks(struct hy_engine *e);
int hy_engine_fork_child(struct hy_engine *e);

/*
 * Manage [addr, addr+len) (page-aligned) with hint: set its placement
 * (unless the program has its own policy there: -EPERM, nothing changed),
 * register and track it.  A range the tracker refuses: its error, but
 * userfaultfd's EPERM (a shared mapping without write access) as -EACCES,
 * so that -EPERM keeps its one meaning.
 */
int hy_engine_manage(struct hy_engine *e, void *addr, size_t len, enum hy_hint hint);
/*
 * Manage [addr, addr+len) as memory the process tree shares (a shared
 * anonymous mapping, to be inherited by the children it forks): hybrid,
 * with a slot on the tree's board, so that every member's accesses count
 * and one member at a time moves its pages (board.h).  -ENOSPC when the
 * board is full, or hy_engine_manage's errors.
 */
int hy_engine_manage_shared(struct hy_engine *e, void *addr, size_t len);
int hy_engine_unmanage(struct hy_engine *e, void *addr, size_t len);

/*
 * The program mremap()ed [old, old+oldlen) to [new, new+newlen): managed
 * pages keep their state at the new place and are tracked there; anything
 * managed under the new range before is forgotten (it was replaced).
 *
 * The caller holds the engine (hy_engine_hold) from before the mremap
 * system call until after this: otherwise another thread could map and
 * register a new range at the freed old address in between, and this would
 * unregister part of it (a VMA split in two, which the program's next
 * mremap of it would fail with EFAULT).
 */
int hy_engine_remap(struct hy_engine *e, void *old, size_t oldlen, void *new, size_t newlen);
/*
 * Give [addr, addr+len) a new hint (HY_HINT_NONE: stop managing it): what
 * was managed there is let go (our placement undone, a policy the program
 * set since kept), then the range is managed afresh.  On error nothing has
 * changed: the old parts get their hints back (their history is lost).
 * Parts that are the tree's shared memory stay in their slot, and the hint
 * is told to the tree (board.h): every member applies it at its next epoch.
 */
int hy_engine_rehint(struct hy_engine *e, void *addr, size_t len, enum hy_hint hint);

/*
 * The hints other members of the tree gave its shared memory since the
 * last call, applied here as hy_engine_rehint would (so that whoever leads
 * decides with them).  Called by runtime after each epoch, in the policy
 * thread, no lock held.
 */
void hy_engine_tree_hints(struct hy_engine *e);

/*
 * For each of n pages: -1 if not managed, else the tier the engine keeps
 * it on, or, before the engine has looked at it, the tier its hint places
 * it on (the engine's own assumption).  For hybrid_where.
 */
void hy_engine_kept_tiers(struct hy_engine *e, const uintptr_t *addrs, size_t n, int *tier);

void hy_engine_hold(struct hy_engine *e);
void hy_engine_release(struct hy_engine *e);

/* Change the DRAM limit (bytes of ours on tier 0, 0 = none) from the next
 * epoch on; an overflow is then demoted, coldest first. */
void hy_engine_set_dram_limit(struct hy_engine *e, uint64_t bytes);

/* How many populated chunks (of 64 pages) the present scan goes over per
 * epoch, from the next epoch on (default 8192, 2 GiB; 0 restores it):
 * what it has not got to is scanned in later epochs.  For tests and
 * benchmarks that show the rotation without gigabytes. */
void hy_engine_set_scan_budget(struct hy_engine *e, size_t chunks);

/* One epoch, synchronously (lock taken inside); a lazy engine's tracker is
 * opened first (no thread). */
int hy_engine_epoch(struct hy_engine *e);

void hy_engine_stats(struct hy_engine *e, struct hy_stats *out);
const char *hy_engine_backend(const struct hy_engine *e);

/* The engine's registry, for inspection under its lock (tests, export). */
struct hy_registry *hy_engine_registry(struct hy_engine *e);

#endif
