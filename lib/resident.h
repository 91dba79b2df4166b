/* SPDX-License-Identifier: MIT */
/*
 * resident — which pages of a range are populated, asked of the kernel at
 * a cost that follows the page tables, not the address space.
 *
 * The epoch keeps state only for populated memory (region.h's chunks); this
 * is how it finds that memory.  PAGEMAP_SCAN (Linux 6.7) with
 * PAGE_IS_PRESENT walks the range's page tables and skips what has none at
 * the highest level it can, so a terabyte nobody touched costs a few steps;
 * it returns runs, not a byte per page.  Without it (6.1-6.6) mincore(2)
 * answers, one byte per page of the range: a cost that follows address
 * space, said in the docs as the old kernels' limit.
 *
 * A swapped-out page is not present: nothing to move, and its state goes.
 * No state of its own beyond a buffer; the caller holds whatever lock
 * keeps the range mapped (the registry lock: a range cannot be unmapped
 * under the scan without the engine knowing).  Its memory comes from os.h.
 */
#ifndef HY_RESIDENT_H
#define HY_RESIDENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct hy_resident {
	int fd;		/* /proc/self/pagemap, or -1 (mincore) */
	pid_t pid;	/* whose pagemap fd is: reopened after fork */
	void *buf;	/* PAGEMAP_SCAN's runs, or mincore's bytes */
	size_t buf_len;
	int scan;	/* 1: PAGEMAP_SCAN works, 0: not tried, -1: mincore */
};

/* Called for each run [start, end) of present pages, in address order;
 * huge: mapped by huge pages (PAGE_IS_HUGE; never said by mincore). */
typedef int (*hy_res_fn)(void *arg, uintptr_t start, uintptr_t end, bool huge);

void hy_res_init(struct hy_resident *r);
void hy_res_close(struct hy_resident *r);

/* Whether the pagemap descriptor is still ours: one the program closed, or
 * whose number it reused, is forgotten (never closed: the number may be the
 * program's) and the next scan opens the file again.  The epoch asks once
 * per epoch, before the scans. */
void hy_res_check(struct hy_resident *r);

/*
 * The present pages of [start, end) (page-aligned), run by run, to fn.
 * fn's non-zero return stops the scan and is returned.  0, or -errno
 * (-ENOMEM for the buffer; the range is then unknown, not empty).
 */
int hy_res_scan(struct hy_resident *r, uintptr_t start, uintptr_t end, hy_res_fn fn, void *arg);

#endif
