/* SPDX-License-Identifier: MIT */
/*
 * export_chan — the live-statistics channel: where a process's entry lives
 * and how it is found.  The writer (export.c) and the reader
 * (export_read.c) both sit on it; what the entry holds is export_page.h.
 *
 * An entry is a memfd named HY_CHAN_NAME, one page (HY_CHAN_LEN), sealed
 * against shrinking and growing, held open by its process (close-on-exec,
 * at or above HY_CHAN_FD_MIN when the descriptor limit allows) and mapped
 * shared by it.  It lives exactly as long as the process holds it: exit,
 * kill -9, _exit and exec all close it, and the kernel frees the page with
 * the last reference.  Nothing is left behind in any file system, so
 * nothing is ever swept.
 *
 * A reader finds the entry of PID in PID's descriptor table: it lists
 * /proc/PID/fd, matches each link against HY_CHAN_LINK, and opens
 * /proc/PID/fd/N read-only.  That needs ptrace read access to PID (its
 * user while it is dumpable, or root): the kernel's own rule decides who
 * sees whom, with no directory of ours to get wrong.  The descriptor found
 * is checked before it is mapped: a regular file of exactly one page whose
 * size is sealed, so that neither its process nor anyone else can shrink
 * it under the reader's mapping (SIGBUS).  What the page says (magic,
 * version, that it is PID's and not a parent's inherited by a child that
 * has not let go of it yet) is the reader's to check (export_read.c).
 *
 * A program that closes the descriptor itself (daemons that close every
 * fd) keeps a writer that writes into its mapping, unseen: its entry
 * cannot be found any more.
 *
 * Processes may vanish at any point of a walk: ENOENT and ESRCH from /proc
 * mean "not live", never an error.
 *
 * The writer runs inside the managed process, so everything here keeps to
 * its rules: no allocation through the heap, no stdio streams, the memfd
 * by the raw system call, mappings by the raw system call (os.h), nothing
 * written to stdout.
 */
#ifndef HY_EXPORT_CHAN_H
#define HY_EXPORT_CHAN_H

#include <stdbool.h>
#include <stddef.h>

#include "export_page.h"
#include "os.h"

#define HY_CHAN_LEN    HY_PAGE_SIZE		       /* an entry: one page */
#define HY_CHAN_NAME   "libhybrid-live"		       /* the memfd's name */
#define HY_CHAN_LINK   "/memfd:" HY_CHAN_NAME " (deleted)" /* its /proc/PID/fd link */
#define HY_CHAN_FD_MIN 512 /* out of the way of programs that expect low numbers */

_Static_assert(sizeof(struct hy_export_page) <= HY_CHAN_LEN, "the live view fits one page");

/* ---- the writer's side ------------------------------------------------- */

/*
 * A new, empty entry for this process: the memfd (close-on-exec, sealed,
 * HY_CHAN_LEN of zeroes), moved to HY_CHAN_FD_MIN or above when it can be
 * (else it keeps the number it got).  The descriptor, or -errno.
 */
int hy_chan_create(void);

/* ---- the reader's side ------------------------------------------------- */

/*
 * Call fn once for every entry open in pid's descriptor table, with a
 * descriptor of its own, read-only, already checked (regular, one page,
 * size sealed; closed again when fn returns), until fn returns true.
 *   0        the table was read (whether it held entries or not)
 *   -ESRCH   no such process (or it ended during the walk)
 *   -EACCES  not ours to read (another user's, or not dumpable)
 *   -errno   otherwise
 */
int hy_chan_each(int pid, bool (*fn)(int fd, void *arg), void *arg);

/*
 * Call fn once for every process (the numeric names of /proc, in its
 * order), until fn returns true.  0, or -errno when /proc cannot be read.
 */
int hy_chan_procs(bool (*fn)(int pid, void *arg), void *arg);

/*
 * pid as the process itself sees it (getpid() there): the last of NSpid in
 * /proc/PID/status, for a process in a pid namespace of its own (a
 * container); pid itself otherwise, or when that cannot be read.
 */
int hy_chan_own_pid(int pid);

/* ---- the mapping ------------------------------------------------------- */

/* mmap(2) of an entry (HY_CHAN_LEN at addr, offset 0) by the raw system
 * call, never through libc or the preload's wrappers; NULL on failure. */
void *hy_chan_map(void *addr, int prot, int flags, int fd);

#endif
