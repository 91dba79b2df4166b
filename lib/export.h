/* SPDX-License-Identifier: MIT */
/*
 * export — the counters seen from outside the process.
 *
 *   live      while a managed process runs, its counters are published
 *             through a channel only the same user (or root) can read,
 *             which costs the program nothing measurable and disappears
 *             with it (a stale entry left by a crash is recognised and
 *             ignored); `hybridctl stat PID` reads it.
 *   at exit   HYBRID_STATS=stderr|FILE|+FILE: the final counters, printed
 *             once.
 *
 * The channel.  One file per managed process, in a directory of its user:
 *
 *   /run/user/UID/libhybrid/   when /run/user/UID is UID's, mode 0700
 *   /dev/shm/libhybrid-UID/    otherwise (both are tmpfs: gone at reboot)
 *
 * The directory is created mode 0700 and used only if it is a real
 * directory (never a symbolic link), owned by UID, with no access for group
 * or others; the file is created mode 0600 without following links.  Its
 * name is "PID-START", START being field 22 of /proc/PID/stat (start time
 * in clock ticks since boot), so a pid reused by another process names
 * another file.  The file is one page, struct hy_export_page, mapped shared
 * by the process: the policy thread copies the counters into it once per
 * epoch (two memcpy under a sequence counter; no system call), readers map
 * it read-only and retry until they see an even, unchanged sequence number.
 * It is built under a temporary name and renamed into place, so a reader
 * never sees it half made, and an exec'd image of the same process that
 * starts libhybrid again replaces its predecessor's entry.
 *
 * An entry is live while /proc/PID/stat shows the same start time and
 * /proc/PID/maps (when readable) still maps the file; anything else is
 * stale (a crash, kill -9, _exit, an exec into an unmanaged program):
 * readers ignore it, and a lister running as the owner removes it.
 *
 * The process side (hy_export_start .. hy_export_exit_report) is called by
 * runtime only (the policy thread's per-epoch refresh is runtime's epoch
 * hook); it knows counters, never the engine.  It never allocates through
 * the heap (it may be the one being interposed), never uses stdio streams,
 * maps with the raw system call (never through the preload's wrappers) and
 * never writes to stdout.  The reading side is for hybridctl.
 */
#ifndef HY_EXPORT_H
#define HY_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "stats.h"
#include "topology.h"

/* ---- the process side -------------------------------------------------- */

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

/* Withdraw the live view (exit, shutdown): the entry is marked ended and
 * removed.  Call with the policy thread quiesced. */
void hy_export_stop(void);

/* In a forked child (atfork handler, before the child's policy thread
 * runs an epoch): the inherited view is the parent's; publish our own. */
void hy_export_fork_child(const struct hy_stats *st, const char *backend);

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

/* ---- the channel ------------------------------------------------------- */

#define HY_EXPORT_MAGIC	  0x3158444952425948ULL /* "HYBRIDX1" */
#define HY_EXPORT_VERSION 2 /* 2: thp_splits */

enum hy_export_state { HY_EXPORT_LIVE = 1, HY_EXPORT_ENDED = 2 };

struct hy_export_snap {
	uint64_t mono_ns; /* CLOCK_MONOTONIC when copied; 0 = none yet */
	struct hy_stats st;
};

/* The file's contents.  Fixed fields are written before it is published;
 * seq, state, cur and prev change under the sequence counter. */
struct hy_export_page {
	uint64_t magic;		/* HY_EXPORT_MAGIC */
	uint32_t version;	/* HY_EXPORT_VERSION */
	uint32_t size;		/* sizeof(struct hy_export_page) */
	int32_t pid;
	uint32_t uid;		/* effective uid of the writer */
	uint64_t starttime;	/* field 22 of /proc/PID/stat */
	uint64_t start_ns;	/* CLOCK_MONOTONIC at publication */
	uint64_t epoch_us;	/* configured epoch length, 0 = unknown */
	char comm[16];		/* /proc/PID/comm at publication */
	char lib_version[16];	/* "0.1.0" */
	char backend[16];	/* "async", "sync", "off" */
	int32_t ntiers;		/* 0 = unknown: count from tier_bytes */
	uint32_t loopback;	/* the same nodes play several tiers */
	char tier_nodes[HY_MAX_TIERS][32]; /* node list of each tier, "" = unknown */

	uint64_t seq;		/* odd while the writer copies */
	uint32_t state;		/* enum hy_export_state */
	uint32_t pad_;
	struct hy_export_snap cur;  /* counters after the last epoch */
	struct hy_export_snap prev; /* ... and after the one before */
};

/* Where uid's entries live: candidate 0 (/run/user/UID/libhybrid) or 1
 * (/dev/shm/libhybrid-UID); NULL for other which. */
const char *hy_export_dir(int which, uid_t uid, char *buf, size_t len);

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

/* The formats of hy_export_format. */
enum hy_export_fmt {
	HY_EXPORT_TEXT,	 /* numastat-like table, several lines */
	HY_EXPORT_JSON,	 /* one JSON object on one line */
	HY_EXPORT_ROW,	 /* one line of the process list */
	HY_EXPORT_HEAD,	 /* the header line of the process list (p unused) */
};

/*
 * Format p into buf (always terminated; truncated if len is too small).
 * Rates per second are taken between since and p->cur; since NULL: between
 * p->prev and p->cur (the last epoch), or from the start if there is no
 * prev.  Returns the length written.  Allocates nothing.
 */
size_t hy_export_format(const struct hy_export_page *p, const struct hy_export_snap *since,
			enum hy_export_fmt fmt, char *buf, size_t len);

/* "23.4 MiB", for people (the report, hybridctl); not for parsing. */
const char *hy_human_bytes(double bytes, char *buf, size_t len);

#endif
