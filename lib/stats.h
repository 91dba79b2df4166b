/* SPDX-License-Identifier: MIT */
/*
 * stats — the process's counters (DESIGN.md §3).  Any thread may add to
 * them at any time (relaxed atomics: counters, not synchronisation); the
 * API copies them out, the exporter publishes them.
 */
#ifndef HY_STATS_H
#define HY_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct hy_stats {
	uint64_t managed_bytes;			/* managed address space, all tiers */
	uint64_t tier_bytes[HY_MAX_TIERS];	/* managed bytes last seen on each tier */
	uint64_t promote_pages, promote_bytes;
	uint64_t demote_pages, demote_bytes;
	uint64_t fail_busy;			/* -EBUSY: pinned, under I/O */
	uint64_t fail_access;			/* -EACCES: shared after fork */
	uint64_t fail_nomem;			/* -ENOMEM: target node full */
	uint64_t fail_absent;			/* -EFAULT/-ENOENT: not present */
	uint64_t fail_other;
	uint64_t thrash_pages;			/* moves refused by hold-off: bouncing */
	uint64_t epochs;
	uint64_t wp_faults;			/* sync backend: faults handled */
	uint64_t pages_scanned;			/* async backend: pages PAGEMAP_SCANned */
	uint64_t pages_armed;			/* write-protected for tracking, all epochs */
	uint64_t policy_ns;			/* CPU time of the policy thread */
	uint64_t thp_splits;			/* huge pages split so that only their
						 * planned pages move (migrate.c) */
	uint64_t self_bytes;			/* the library's own bookkeeping: the
						 * registry's state and the tracker's
						 * tables, mapped bytes; set per epoch */
	uint64_t shared_bytes;			/* of managed_bytes: memory the process
						 * tree shares (board.h) */
	uint64_t lead_bytes;			/* of shared_bytes: what this process
						 * decides for the tree; set per epoch */
	uint64_t tree_id;			/* the tree whose memory it shares
						 * (board.h), 0: none */
};

#define hy_stat_add(st, field, n) __atomic_fetch_add(&(st)->field, (uint64_t)(n), __ATOMIC_RELAXED)
#define hy_stat_set(st, field, v) __atomic_store_n(&(st)->field, (uint64_t)(v), __ATOMIC_RELAXED)
#define hy_stat_get(st, field)	  __atomic_load_n(&(st)->field, __ATOMIC_RELAXED)

/* Who receives a copy of the counters (the engine's epoch hook). */
typedef void hy_stats_hook(const struct hy_stats *st, void *arg);

/* A copy of counters other threads add to: each read on its own (a
 * snapshot of counters, not of one instant). */
static inline void hy_stats_copy(const struct hy_stats *src, struct hy_stats *out)
{
	const uint64_t *s = (const uint64_t *)src;
	uint64_t *d = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

#endif
