/* SPDX-License-Identifier: MIT */
/*
 * export — the counters seen from outside the process: the writing side,
 * called by runtime only.
 *
 *   live      while a managed process runs (from its first use of managed
 *             memory on: runtime's lazy start), its counters are published
 *             through a channel only the same user (or root) can read
 *             (export_chan.h: a memfd the process holds), which costs the
 *             program nothing measurable and lives exactly as long as the
 *             process, however it ends (exit, kill -9, _exit, exec);
 *             `hybridctl stat PID` reads it (export_read.h).
 *   at exit   HYBRID_STATS=stderr|FILE|+FILE: the final counters, printed
 *             once (formatted by export_fmt.h).
 *
 * The process's entry is one page (export_page.h), mapped shared: the
 * policy thread copies the counters into it once per epoch, under a
 * sequence counter, without a system call.
 *
 * Everything here is called by runtime only (the policy thread's per-epoch
 * refresh is runtime's epoch hook); it knows counters, never the engine.
 * It never allocates through the heap (it may be the one being
 * interposed), never uses stdio streams, maps with the raw system call
 * (never through the preload's wrappers) and never writes to stdout.
 */
#ifndef HY_EXPORT_H
#define HY_EXPORT_H

#include "config.h"
#include "stats.h"
#include "topology.h"

/* Describe the instance in the live view and the exit report: the epoch
 * length (cfg) and the tiers' node lists (topo).  Optional, either may be
 * NULL; call before hy_export_start.  Without it the view counts tiers from
 * the engine's per-tier bytes and names no nodes. */
void hy_export_describe(const struct hy_config *cfg, const struct hy_topo *topo);

/* Publish this process's counters (st, the tracker's name backend).  0 or a negative errno (the
 * process then simply has no live view; runtime says so at debug level).
 * The policy thread may already be running: it publishes nothing until
 * this returns. */
int hy_export_start(const struct hy_stats *st, const char *backend);

/* After each epoch, from the policy thread: refresh the published view
 * with st (a copy of the counters; no system call). */
void hy_export_epoch(const struct hy_stats *st);

/* Withdraw the live view (exit, shutdown): the entry is marked ended, its
 * mapping let go of and its descriptor closed (if the program has not
 * closed it already).  Call with the policy thread quiesced. */
void hy_export_stop(void);

/* In a forked child (atfork handler): the inherited entry is the parent's;
 * let go of it without touching it (the child's copies of its mapping and
 * descriptor).  The child publishes its own with hy_export_start when it
 * goes live (what hy_export_describe said stays). */
void hy_export_fork_detach(void);

/*
 * The final report to dest:
 *   "stderr"  on standard error, each line prefixed "libhybrid: ";
 *   "+FILE"   appended to FILE (created mode 0600 if absent; it must be a
 *             regular file, never reached through a symbolic link);
 *   "FILE"    into FILE created new (O_EXCL, mode 0600, no symbolic link):
 *             an existing FILE is left alone, with one warning.
 * Each report is one write(2), headed by the pid and command, so the
 * processes of one run can share a "+FILE".
 */
void hy_export_exit_report(const struct hy_stats *st, const char *backend, const char *dest);

#endif
