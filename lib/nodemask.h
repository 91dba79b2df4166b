/* SPDX-License-Identifier: MIT */
/*
 * nodemask — a fixed-size set of NUMA node numbers.
 *
 * Fixed size (HY_MAX_NODES bits, the kernel's largest MAX_NUMNODES on x86-64)
 * so that options and topology can hold node sets in static storage, parsed
 * before main without touching any heap.
 */
#ifndef HY_NODEMASK_H
#define HY_NODEMASK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define HY_MAX_NODES 1024

struct hy_nodemask {
	uint64_t bits[HY_MAX_NODES / 64];
};

static inline void hy_nm_zero(struct hy_nodemask *m)
{
	memset(m, 0, sizeof(*m));
}

static inline void hy_nm_set(struct hy_nodemask *m, int node)
{
	m->bits[node / 64] |= UINT64_C(1) << (node % 64);
}

static inline bool hy_nm_isset(const struct hy_nodemask *m, int node)
{
	if (node < 0 || node >= HY_MAX_NODES)
		return false;
	return (m->bits[node / 64] >> (node % 64)) & 1;
}

static inline int hy_nm_weight(const struct hy_nodemask *m)
{
	int w = 0;

	for (unsigned i = 0; i < HY_MAX_NODES / 64; i++)
		w += __builtin_popcountll(m->bits[i]);
	return w;
}

static inline bool hy_nm_empty(const struct hy_nodemask *m)
{
	return hy_nm_weight(m) == 0;
}

static inline bool hy_nm_equal(const struct hy_nodemask *a, const struct hy_nodemask *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static inline bool hy_nm_intersects(const struct hy_nodemask *a, const struct hy_nodemask *b)
{
	for (unsigned i = 0; i < HY_MAX_NODES / 64; i++)
		if (a->bits[i] & b->bits[i])
			return true;
	return false;
}

/* Is every node of a also in b? */
static inline bool hy_nm_subset(const struct hy_nodemask *a, const struct hy_nodemask *b)
{
	for (unsigned i = 0; i < HY_MAX_NODES / 64; i++)
		if (a->bits[i] & ~b->bits[i])
			return false;
	return true;
}

/* The next node set in m after prev (-1 to start), or -1. */
static inline int hy_nm_next(const struct hy_nodemask *m, int prev)
{
	for (int n = prev + 1; n < HY_MAX_NODES; n++)
		if (hy_nm_isset(m, n))
			return n;
	return -1;
}

#define hy_nm_for_each(node, m) for (int node = hy_nm_next((m), -1); node >= 0; node = hy_nm_next((m), node))

/*
 * Format as a plain numactl-style list ("0-3,5", the kernel's form) into buf;
 * returns buf.  An empty
 * set prints as "none".
 */
char *hy_nm_format(const struct hy_nodemask *m, char *buf, size_t len);

#endif
