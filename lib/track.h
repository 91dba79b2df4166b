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
void hy_track_close(struct hy_track *t);

/* "async", "sync" or "off". */
const char *hy_track_name(const struct hy_track *t);

/* Register / unregister a managed range (page-aligned).  Registration arms
 * nothing. */
int hy_track_add(struct hy_track *t, uintptr_t start, size_t len);
int hy_track_remove(struct hy_track *t, uintptr_t start, size_t len);

/*
 * Arm, for the coming epoch, the pages of [start, start+len) whose bit is
 * set in arm[] (bit i = page i; NULL = every page); pages armed before and
 * not in arm[] are disarmed.
 */
int hy_track_arm(struct hy_track *t, uintptr_t start, size_t len, const uint64_t *arm);

/*
 * End of epoch for [start, start+len): set bit i of written[] for every
 * page written since it was armed (written[] is zeroed first), and leave
 * the armed set as it was (written pages are armed again).  Returns the
 * number of pages found written, or -errno.
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

#endif
