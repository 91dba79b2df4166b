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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct hy_move {
	uintptr_t addr;	   /* page-aligned */
	int to_node;
	int status;	   /* out: the node it is on now, or -errno */
	size_t tag;	   /* the caller's, carried along when moves[] is reordered */
	bool all;	   /* move it for every process that maps it (MPOL_MF_MOVE_ALL:
			    * CAP_SYS_NICE; the tree's shared memory) */
};

enum hy_move_kind { HY_MOVE_PROMOTE, HY_MOVE_DEMOTE };

/*
 * Move every moves[i].addr to moves[i].to_node; moves[] may be reordered.
 * Counts into st (promote_* or demote_* by kind, fail_* by status).
 * Returns the number of pages moved, or -errno if move_pages itself failed
 * as a whole (e.g. -EPERM, -ENOSYS): then every status is that error.
 *
 * Details (lib/migrate.c has the kernel behaviour behind them): moves[] is
 * sorted by (to_node, all, addr).  List every base page of a huge page to move
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
 * A list of moves to carry out, handed over as calls by its owner (the
 * epoch), so that the migrator knows no plan, registry or policy.
 */
struct hy_mig_list {
	size_t n;
	void *arg;
	/* move i: its page, the node it goes to, which way; stable for the run */
	void (*get)(void *arg, size_t i, uintptr_t *addr, int *to_node, enum hy_move_kind *kind);
	/* taken around each batch (what a move must not race: an unmap);
	 * still() and done() run under it */
	void (*lock)(void *arg);
	void (*unlock)(void *arg);
	/* is move i still wanted (its page still managed)? */
	bool (*still)(void *arg, size_t i);
	/* what became of move i: the node its page is on now, or -errno */
	void (*done)(void *arg, size_t i, int status);
	/* asked before each batch (may be NULL): true leaves the rest of the
	 * list undone, unreported (the policy thread told to stop) */
	bool (*stop)(void *arg);
	/* may be NULL: is move i's page to be moved for every process that
	 * maps it (hy_move.all)? */
	bool (*all)(void *arg, size_t i);
};

/*
 * Carry out a list, the one call the epoch makes.  First the transparent
 * huge pages: a 2 MiB block of which fewer than half the listed pages are
 * to move is split (only those pages then move; counted in thp_splits),
 * one where most are moves whole.  Then runs of one kind, in list order,
 * go to hy_mig_move in batches of HY_MIG_RUN_BATCH pages, each under the
 * list's lock.  scratch: room for l->n moves (the caller's memory: no
 * heap), or NULL to leave huge pages as they are.  st may be NULL.
 */
#define HY_MIG_RUN_BATCH 512
void hy_mig_run(const struct hy_mig_list *l, struct hy_move *scratch, struct hy_stats *st);

/*
 * Where pages are: nodes[i] = node of addrs[i], or -errno (-EFAULT/-ENOENT:
 * not present).  One move_pages(..., NULL, ...) call per batch.
 * Returns 0, -EINVAL for NULL arrays with n > 0, or -errno of a failed call
 * (then nodes[] from that batch on hold it).
 */
int hy_mig_query(const uintptr_t *addrs, size_t n, int *nodes);

#endif
