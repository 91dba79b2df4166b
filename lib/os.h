/* SPDX-License-Identifier: MIT */
/*
 * os — the library's own memory, straight from the kernel.
 *
 * libhybrid's bookkeeping (region table, per-page state) must never come
 * from the heap it may be interposing, nor pass through its own mmap
 * wrappers: these call the system calls directly, so neither the preload
 * layer nor the program's malloc ever sees them.
 */
#ifndef HY_OS_H
#define HY_OS_H

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"

#define HY_PAGE_SHIFT 12
#define HY_PAGE_SIZE  ((size_t)1 << HY_PAGE_SHIFT)

static inline size_t hy_page_round_up(size_t n)
{
	return (n + HY_PAGE_SIZE - 1) & ~(HY_PAGE_SIZE - 1);
}

/* Zeroed private memory, or NULL. */
static inline void *hy_os_alloc(size_t len)
{
	long p = hy_fault(HY_FAULT_OS_ALLOC) ? -ENOMEM : syscall(SYS_mmap, NULL, hy_page_round_up(len), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p < 0 && p > -4096 ? NULL : (void *)p;
}

static inline void hy_os_free(void *p, size_t len)
{
	if (p)
		syscall(SYS_munmap, p, hy_page_round_up(len));
}

/* Grow or shrink, moving if needed; NULL on failure (p stays valid). */
static inline void *hy_os_realloc(void *p, size_t old, size_t len)
{
	long q;

	if (!p)
		return hy_os_alloc(len);
	if (hy_fault(HY_FAULT_OS_ALLOC))
		return NULL;
	q = syscall(SYS_mremap, p, hy_page_round_up(old), hy_page_round_up(len), MREMAP_MAYMOVE);
	return q < 0 && q > -4096 ? NULL : (void *)q;
}

/*
 * Make the os-mapped array *arr (capacity *cap elements of elem bytes) hold
 * at least want elements: capacity doubles, starting from one page.  0, or
 * -ENOMEM with the array unchanged.
 */
static inline int hy_os_grow(void **arr, size_t *cap, size_t elem, size_t want)
{
	size_t c;
	void *p;

	if (want <= *cap)
		return 0;
	c = *cap ? *cap * 2 : (HY_PAGE_SIZE / elem ? HY_PAGE_SIZE / elem : 1);
	while (c < want)
		c *= 2;
	p = hy_os_realloc(*arr, *cap * elem, c * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

#endif
