/* SPDX-License-Identifier: MIT */
/*
 * track — access tracking with userfaultfd write protection, behind one
 * interface for the backends (DESIGN.md §3 "Access tracking"):
 *
 *   async  UFFD_FEATURE_WP_ASYNC (+ WP_UNPOPULATED): the kernel resolves the
 *          first write to an armed page itself; PAGEMAP_SCAN with
 *          PM_SCAN_WP_MATCHING reports written pages and re-arms them.
 *   sync   a handler thread takes each write fault on an armed page, records
 *          it and un-protects the page at once.  Only with a userfaultfd that
 *          takes faults raised inside system calls.
 *   off    nothing is tracked; every call succeeds and reports nothing.
 *
 * The policy decides WHICH pages to arm each epoch (the overhead governor
 * samples, favouring pages that were hot); the tracker arms exactly those,
 * and reports which of them were written.  A page not armed in an epoch is
 * "not observed", which is different from "not written".
 *
 * Threads: all calls come from the policy thread, except add/remove, which
 * also come from program threads (mmap wrappers) with the registry lock
 * held.  The sync handler thread allocates nothing, takes no lock a faulting
 * thread may hold and touches no tracked memory.
 */
#ifndef HY_TRACK_H
#define HY_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "stats.h"

struct hy_track;

/*
 * Open a tracker.  backend is HY_BACKEND_{AUTO,ASYNC,SYNC,OFF}; auto probes
 * (never the kernel version).  A backend that was asked for explicitly but
 * cannot work is an error (-ENOTSUP, reason in err); auto falls back to off
 * with the reason in err and returns 0.  Never NULL on 0.
 */
int hy_track_open(struct hy_track **t, int backend, struct hy_stats *st, struct hy_err *err);

/*
 * The same with the kernel features given instead of probed: for a caller
 * that has probed already, and for tests that take a feature away (a
 * feature the kernel lacks cannot be added this way: the backend still asks
 * the kernel).  st may be NULL (counters kept privately).
 */
struct hy_kfeat;
int hy_track_open_with(struct hy_track **t, int backend, const struct hy_kfeat *k,
		       struct hy_stats *st, struct hy_err *err);

/*
 * The same, without measuring the costs now: a program's start should not
 * wait for ~1 ms of test faults.  The owner calls hy_track_calibrate() later
 * (the engine does, at its first epoch, from its policy thread); until then
 * hy_track_cost() gives 0.  The sync backend measures at open all the same:
 * later would start a throwaway handler thread from the policy thread, which
 * must not allocate through the interposed heap (pthread_create does).
 */
int hy_track_open_lazy(struct hy_track **t, int backend, const struct hy_kfeat *k,
		       struct hy_stats *st, struct hy_err *err);
void hy_track_calibrate(struct hy_track *t);

/* Unprotects every page, unregisters, joins the handler thread, closes the
 * fds and frees t; the tracked memory stays mapped and writable. */
void hy_track_close(struct hy_track *t);

/*
 * In a forked child: a new tracker of the same backend for this process
 * (the inherited one is the parent's: its userfaultfd acts on the parent's
 * memory), with the parent's measured costs instead of a new calibration,
 * and no ranges.  The old one is freed without a system call on its fds
 * but close.  0, or a negative errno with *t unchanged.
 */
int hy_track_reopen(struct hy_track **t, struct hy_err *err);

/*
 * In a forked child, at once: close the inherited descriptors (the parent's
 * userfaultfd and pagemap: the program may reuse their numbers before the
 * child tracks anything).  t then only waits for hy_track_reopen or
 * hy_track_close, which free it.  Nothing in the parent.
 */
void hy_track_fork_child(struct hy_track *t);

/*
 * Are the tracker's file descriptors still its own?  If the program closed
 * or replaced any, the tracker lets them go without touching them, becomes
 * "off" and returns -EBADF (once); else 0.  The engine asks every epoch.
 */
int hy_track_check(struct hy_track *t);

/* "async", "sync" or "off". */
const char *hy_track_name(const struct hy_track *t);

/*
 * Register / unregister a managed range (page-aligned).  Registration arms
 * nothing.  Adding over tracked pages replaces them (a new mapping over an
 * old one); removing may cover part of a range (it is trimmed or split) and
 * releases its armed pages.  Anonymous (or, with WP_ASYNC, any) writable
 * memory; -EBUSY if another userfaultfd holds it, -EINVAL if it is not
 * mapped, -EACCES (a shared mapping without write access) or -EINVAL if it
 * cannot be write-protected.  Never pass
 * memory the tracker itself uses.
 *
 * arm() and harvest() take a window inside ONE added range (trimmed or
 * split by removals as said); anything else -- a removed range, a window
 * across two ranges or beyond one -- is -EINVAL (never "nothing written").
 * After fork every call in the child but close fails with -ECHILD: the
 * child's copy of t still acts on the parent's memory.
 */
int hy_track_add(struct hy_track *t, uintptr_t start, size_t len);
int hy_track_remove(struct hy_track *t, uintptr_t start, size_t len);

/*
 * Arm, for the coming epoch, the pages of [start, start+len) whose bit is
 * set in arm[] (bit i = page i; NULL = every page); pages armed before and
 * not in arm[] are disarmed.  Pages armed before and still chosen keep what
 * they saw: a write since they were armed is reported by the next harvest.
 * Cost: one ioctl per run of pages that change (~1 us each on the host;
 * arming or releasing every other page of 1 GiB: ~120 ms), so sample in
 * clusters.  st->pages_armed counts pages newly armed here and pages
 * re-armed by harvest.
 *
 * Never-touched pages: covered (armed with a marker) by async always and by
 * sync with WP_UNPOPULATED (6.4); on 6.1-6.3 sync cannot protect a page
 * with no PTE, so its first write is not seen, and arm() re-protects every
 * chosen page each time so that it is armed from then on.
 *
 * Huge pages: arming a whole PMD-mapped THP keeps it huge, but the first
 * write to it splits the PMD (both backends; the kernel never collapses it
 * again while uffd-wp PTEs are in it) and reports the 4 KiB page written,
 * not the huge page.  Arming part of a THP splits it at once.
 */
int hy_track_arm(struct hy_track *t, uintptr_t start, size_t len, const uint64_t *arm);

/*
 * The sync backend's fault budget: the handler takes at most `faults` write
 * faults from now until the next call, whatever is armed.  The fault that
 * spends it releases every tracked range at once (nothing more is recorded
 * until pages are armed again); pages written meanwhile are still recorded
 * up to that point.  0: no limit.  The epoch sets it each time it arms
 * (sync_fault_budget per second of epoch), before it arms: the call waits
 * for a batch of faults the handler has in progress, so a release that
 * spent the old budget is over before anything is armed again.  No effect
 * on the other backends, whose faults the kernel resolves without a thread.
 */
void hy_track_set_fault_budget(struct hy_track *t, uint64_t faults);

/*
 * End of epoch for [start, start+len): set bit i of written[] for every
 * page written since it was armed (written[] is zeroed first), and leave
 * the armed set as it was (written pages are armed again).  Returns the
 * number of pages found written, or -errno.  Only armed pages are ever
 * reported (the kernel calls every unprotected page "written").  An armed
 * page discarded with MADV_DONTNEED is reported written by async (its
 * marker went with the PTE; it is re-armed).
 */
long hy_track_harvest(struct hy_track *t, uintptr_t start, size_t len, uint64_t *written);

/*
 * What one observation costs, measured at open on this machine: the
 * program's cost of the first write to an armed page, and the policy
 * thread's cost per page of a harvest, in nanoseconds.  The governor sizes
 * samples from these.
 */
struct hy_track_cost {
	uint64_t fault_ns;
	uint64_t harvest_ns_per_page;
};
void hy_track_cost(const struct hy_track *t, struct hy_track_cost *c);

/*
 * The bytes of bookkeeping the tracker holds (all from os.h, mapped, not
 * necessarily resident): itself, the range table, each range's bitmaps,
 * arm()'s scratch, the PAGEMAP_SCAN buffer and the sync handler's snapshot.
 * For the counters (self_bytes); takes the tracker's lock.  0 for NULL.
 */
size_t hy_track_bytes(const struct hy_track *t);

#endif
