/* SPDX-License-Identifier: MIT */
/*
 * export_chan — the live-statistics channel: where a process's entry lives,
 * what it is called and when it counts as live.  The writer (export.c) and
 * the reader (export_read.c) both sit on it; what the entry holds is
 * export_page.h.
 *
 * One file per managed process, in a directory of its user:
 *
 *   /run/user/UID/libhybrid/   when /run/user/UID is UID's, mode 0700
 *   /dev/shm/libhybrid-UID/    otherwise (both are tmpfs: gone at reboot)
 *
 * The directory is created mode 0700 and used only if it is a real
 * directory (never a symbolic link), owned by UID, with no access for group
 * or others; the file is created mode 0600 without following links.  Its
 * name is "PID-START", START being field 22 of /proc/PID/stat (start time
 * in clock ticks since boot), so a pid reused by another process names
 * another file.  The file is one page (HY_CHAN_LEN), mapped shared by the
 * process and read-only by readers.  It is built under a temporary name
 * (".PID-START.tmp") and renamed into place, so a reader never sees it half
 * made, and an exec'd image of the same process that starts libhybrid
 * again replaces its predecessor's entry.
 *
 * An entry is live while /proc/PID/stat shows the same start time and
 * /proc/PID/maps (when readable) still maps the file; anything else is
 * stale (a crash, kill -9, _exit, an exec into an unmanaged program):
 * readers ignore it, and a lister running as the owner removes it.
 *
 * The writer runs inside the managed process, so everything here keeps to
 * its rules: no allocation through the heap, no stdio streams, mappings by
 * the raw system call (os.h), nothing written to stdout.
 */
#ifndef HY_EXPORT_CHAN_H
#define HY_EXPORT_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "export_page.h"
#include "os.h"

#define HY_CHAN_LEN HY_PAGE_SIZE /* an entry file: one page */

_Static_assert(sizeof(struct hy_export_page) <= HY_CHAN_LEN, "the live view fits one page");

/* ---- the directory ----------------------------------------------------- */

/* Where uid's entries live: candidate 0 (/run/user/UID/libhybrid) or 1
 * (/dev/shm/libhybrid-UID); NULL for other which. */
const char *hy_chan_dir(int which, uid_t uid, char *buf, size_t len);

/* Candidate directory which of uid, opened (created mode 0700 first if
 * create) and checked on the descriptor: a directory fd, or -ENOENT (no
 * such candidate), -EPERM (not a private directory of uid's), -errno. */
int hy_chan_dir_open(int which, uid_t uid, bool create);

/*
 * Call fn once for every name in uid's directories (both candidates, in
 * order; dfd is the directory's), until fn returns true.  The number of
 * directories read, or, if none could be: the last error of opening one
 * other than -ENOENT, else -ENOENT.
 */
int hy_chan_walk(uid_t uid, bool (*fn)(int dfd, const char *name, void *arg), void *arg);

/* ---- names ------------------------------------------------------------- */

/* "PID-START" into buf. */
void hy_chan_name(int pid, uint64_t start, char *buf, size_t len);

/* The temporary name is built under: ".NAME.tmp" into buf. */
void hy_chan_tmp_name(const char *name, char *buf, size_t len);

/* "PID-START" -> pid, start; false for any other name (temporaries too). */
bool hy_chan_parse_name(const char *s, int *pid, uint64_t *start);

/* Is name a temporary whose maker is gone (died while making it)? */
bool hy_chan_tmp_stale(const char *name);

/* ---- processes and liveness -------------------------------------------- */

/*
 * Start time (field 22 of /proc/PID/stat) of pid (0: this process) and, if
 * comm, its command (truncated to clen).  0, -ESRCH (no such process),
 * -EPROTO (unparsable), -errno.
 */
int hy_chan_proc_start(int pid, uint64_t *start, char *comm, size_t clen);

/* The real and effective uid of pid, from /proc/PID/status: 0, -ESRCH or
 * -EPROTO. */
int hy_chan_proc_uids(int pid, uid_t *ruid, uid_t *euid);

/* Is the process that was pid, started at start, gone (pid free, or
 * another process now)?  What an entry's name alone can tell. */
bool hy_chan_proc_gone(int pid, uint64_t start);

/*
 * Is the entry named for (pid, start) in uid's directory live?  p is a
 * consistent copy of it, dev and ino its file's: the page must describe
 * itself (pid, start, uid, not ended), the process must still be it, and
 * it must still map the file (when its maps are ours to read).
 */
bool hy_chan_live(const struct hy_export_page *p, int pid, uint64_t start, uid_t uid, dev_t dev,
		  ino_t ino);

/* ---- the mapping ------------------------------------------------------- */

/* mmap(2) of an entry (HY_CHAN_LEN at addr, offset 0) by the raw system
 * call, never through libc or the preload's wrappers; NULL on failure. */
void *hy_chan_map(void *addr, int prot, int flags, int fd);

#endif
