/* SPDX-License-Identifier: MIT */
/*
 * migrate — moving pages between nodes with move_pages(2) (DESIGN.md §3
 * "Migration failures and pins").
 *
 * Moves are done in batches sorted by target node.  Per-page status is
 * honoured and counted: -EBUSY (pinned, under I/O), -EACCES (shared, e.g.
 * with a forked child), -ENOMEM (target full), -EFAULT/-ENOENT (not
 * present).  A transparent huge page is moved whole first; if that fails it
 * is split and its base pages are moved.  The migrator never retries in a
 * loop: back-off is the caller's (the page state's back-off level).
 */
#ifndef HY_MIGRATE_H
#define HY_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct hy_move {
	uintptr_t addr;	   /* page-aligned */
	int to_node;
	int status;	   /* out: the node it is on now, or -errno */
};

enum hy_move_kind { HY_MOVE_PROMOTE, HY_MOVE_DEMOTE };

/*
 * Move every moves[i].addr to moves[i].to_node; moves[] may be reordered.
 * Counts into st (promote_* or demote_* by kind, fail_* by status).
 * Returns the number of pages moved, or -errno if move_pages itself failed
 * as a whole (e.g. -EPERM, -ENOSYS): then every status is that error.
 *
 * Details (lib/migrate.c has the kernel behaviour behind them): moves[] is
 * sorted by (to_node, addr).  List every base page of a huge page to move
 * it: the kernel moves a THP whole (splitting it itself if the target has
 * no free 2 MiB block) and each listed page counts 4 KiB.  A page already
 * on its target counts as moved.  Statuses besides the kernel's: -EBUSY
 * also for a page the kernel tried but could not move (pinned), -ENOMEM
 * for every remaining move to a node found full, -EAGAIN for a page not
 * tried (after too many failed chunks in one batch).  A node that does not
 * exist fails only the moves to it (-ENODEV); the return is -errno only if
 * every call was refused or the error is not about a node.  st may be NULL;
 * n == 0 returns 0; moves == NULL with n > 0 returns -EINVAL.
 */
long hy_mig_move(struct hy_move *moves, size_t n, enum hy_move_kind kind, struct hy_stats *st);

/*
 * Where pages are: nodes[i] = node of addrs[i], or -errno (-EFAULT/-ENOENT:
 * not present).  One move_pages(..., NULL, ...) call per batch.
 * Returns 0, -EINVAL for NULL arrays with n > 0, or -errno of a failed call
 * (then nodes[] from that batch on hold it).
 */
int hy_mig_query(const uintptr_t *addrs, size_t n, int *nodes);

#endif
