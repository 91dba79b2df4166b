/* SPDX-License-Identifier: MIT */
/*
 * export_read — the reading side of the live statistics, for hybridctl:
 * one process's view, or every live view of this user.  It reads what the
 * writer (export.c) publishes on the channel (export_chan.h): it maps an
 * entry read-only, copies it under the sequence counter (export_page.h),
 * and trusts a copy only if the entry is live.
 *
 * It keeps to the process side's rules (no heap, no stdio streams, raw
 * mappings), so that it can live in libhybrid.so's objects with the rest.
 */
#ifndef HY_EXPORT_READ_H
#define HY_EXPORT_READ_H

#include "export_page.h"

/*
 * A consistent copy of process pid's live view.  0, or:
 *   -ESRCH   no such process
 *   -ENOENT  no live view (not managed, or only a stale entry)
 *   -EACCES  the view exists but is another user's
 *   -EPROTO  written by an incompatible libhybrid
 *   -EAGAIN  no consistent snapshot (the writer stopped mid-copy)
 * Root also looks in the directories of the process's user.
 */
int hy_export_read(int pid, struct hy_export_page *out);

/*
 * Every live view of this (effective) user, one call of fn each, in no
 * particular order; stale entries are skipped and removed.  Returns the
 * number of live views, or a negative errno if no directory was readable.
 */
int hy_export_list(void (*fn)(const struct hy_export_page *p, void *arg), void *arg);

#endif
