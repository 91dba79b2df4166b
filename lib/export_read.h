/* SPDX-License-Identifier: MIT */
/*
 * export_read — the reading side of the live statistics, for hybridctl:
 * one process's view, or every live view the caller may read.  It reads
 * what the writer (export.c) publishes on the channel (export_chan.h): it
 * maps an entry found in the process's descriptor table read-only, copies
 * it under the sequence counter (export_page.h), and trusts a copy only if
 * it is the process's own and live.
 *
 * Who sees whom is the kernel's rule for /proc/PID/fd (ptrace read
 * access): a user sees his own processes (while they are dumpable), root
 * every process.
 *
 * It keeps to the process side's rules (no heap, no stdio streams, raw
 * mappings), so that it can live in libhybrid.so's objects with the rest.
 */
#ifndef HY_EXPORT_READ_H
#define HY_EXPORT_READ_H

#include "export_page.h"

/*
 * A consistent copy of process pid's live view.  0, or:
 *   -ESRCH   no such process (or it ended while being read)
 *   -ENOENT  no live view: not managed, not live yet, ended, or the
 *            program closed the entry's descriptor
 *   -EACCES  the process is not the caller's to read
 *   -EPROTO  written by an incompatible libhybrid
 *   -EAGAIN  no consistent snapshot (the writer stopped mid-copy)
 */
int hy_export_read(int pid, struct hy_export_page *out);

/*
 * Every live view the caller may read (its own processes; root: all), one
 * call of fn each, in no particular order; processes that cannot be read
 * or end during the walk are skipped.  Returns the number of live views,
 * or a negative errno if /proc could not be read.
 */
int hy_export_list(void (*fn)(const struct hy_export_page *p, void *arg), void *arg);

#endif
