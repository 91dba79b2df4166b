/* SPDX-License-Identifier: MIT */
/*
 * range — the one search over a sorted table of address ranges, shared by
 * the region registry (region.c) and the tracker's range table (track.c).
 */
#ifndef HY_RANGE_H
#define HY_RANGE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Index of the first of n ranges, sorted by address and disjoint, whose end
 * is above addr (n if none).  The table is n elements of `size` bytes, each
 * with its (exclusive) end as a uintptr_t at offset end_off: use
 * HY_RANGE_FIRST_AFTER to fill those in from the element type.
 */
static inline size_t hy_range_first_after(const void *table, size_t n, size_t size,
					  size_t end_off, uintptr_t addr)
{
	const char *base = table;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const uintptr_t *end = (const uintptr_t *)(base + mid * size + end_off);

		if (*end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#define HY_RANGE_FIRST_AFTER(arr, n, addr)                                                         \
	hy_range_first_after((arr), (n), sizeof(*(arr)), offsetof(__typeof__(*(arr)), end), (addr))

#endif
