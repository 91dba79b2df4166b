/* SPDX-License-Identifier: MIT */
/*
 * Tests only: is a page part of a transparent huge page?  Reads the page's
 * frame from /proc/self/pagemap and its KPF_THP flag from /proc/kpageflags
 * (both need root for the frame number).  1, 0, or -1 when that cannot be
 * read here.  Shared by tests/unit/test_engine.c and tests/vm/test_engine_cases.c.
 */
#ifndef HY_TEST_THP_PROBE_H
#define HY_TEST_THP_PROBE_H

#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

static inline int thp_probe(const void *addr)
{
	const uint64_t pfn_mask = (1ULL << 55) - 1;
	uint64_t ent = 0, flags = 0;
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	int r = -1;

	if (pm >= 0 && kf >= 0 && pread(pm, &ent, 8, (off_t)((uintptr_t)addr / 4096 * 8)) == 8 &&
	    (ent >> 63) && (ent & pfn_mask) &&
	    pread(kf, &flags, 8, (off_t)((ent & pfn_mask) * 8)) == 8)
		r = (int)(flags >> 22 & 1); /* KPF_THP */
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return r;
}

#endif
