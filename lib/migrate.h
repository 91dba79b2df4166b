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
 */
long hy_mig_move(struct hy_move *moves, size_t n, enum hy_move_kind kind, struct hy_stats *st);

/*
 * Where pages are: nodes[i] = node of addrs[i], or -errno (-EFAULT/-ENOENT:
 * not present).  One move_pages(..., NULL, ...) call per batch.
 */
int hy_mig_query(const uintptr_t *addrs, size_t n, int *nodes);

#endif
