/* SPDX-License-Identifier: MIT */
/*
 * export_page — the bytes of a live-statistics entry: what the writer
 * (export.c) publishes, the reader (export_read.c) copies and the formatter
 * (export_fmt.c) turns into text.  Layout only, no code: the formatter
 * needs to know nothing else about the channel (export_chan.h).
 *
 * The page is the contract between two builds of libhybrid: a writer and a
 * hybridctl of different versions meet here.  Any change to the layout
 * bumps HY_EXPORT_VERSION, and a reader refuses a version it does not know.
 *
 * The sequence counter.  The writer (the policy thread, one per process)
 * makes seq odd, copies cur to prev and the new counters to cur, and makes
 * seq even again, with no system call; a reader copies the page and keeps
 * the copy only if it saw the same even seq before and after.
 */
#ifndef HY_EXPORT_PAGE_H
#define HY_EXPORT_PAGE_H

#include <stdint.h>

#include "config.h"
#include "stats.h"

#define HY_EXPORT_MAGIC	  0x3158444952425948ULL /* "HYBRIDX1" */
#define HY_EXPORT_VERSION 4 /* 2: thp_splits; 3: self_bytes; 4: shared_bytes, lead_bytes, tree_id */

enum hy_export_state { HY_EXPORT_LIVE = 1, HY_EXPORT_ENDED = 2 };

struct hy_export_snap {
	uint64_t mono_ns; /* CLOCK_MONOTONIC when copied; 0 = none yet */
	struct hy_stats st;
};

/* The entry's contents.  Fixed fields are written before it is published,
 * the magic last (a page of zeroes is an entry not made yet); seq, state,
 * cur and prev change under the sequence counter. */
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
	char backend[16];	/* "rwp", "async", "sync", "off" */
	int32_t ntiers;		/* 0 = unknown: count from tier_bytes */
	uint32_t loopback;	/* the same nodes play several tiers */
	char tier_nodes[HY_MAX_TIERS][32]; /* node list of each tier, "" = unknown */

	uint64_t seq;		/* odd while the writer copies */
	uint32_t state;		/* enum hy_export_state */
	uint32_t pad_;
	struct hy_export_snap cur;  /* counters after the last epoch */
	struct hy_export_snap prev; /* ... and after the one before */
};

#endif
