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

#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HY_PAGE_SHIFT 12
#define HY_PAGE_SIZE  ((size_t)1 << HY_PAGE_SHIFT)

static inline size_t hy_page_round_up(size_t n)
{
	return (n + HY_PAGE_SIZE - 1) & ~(HY_PAGE_SIZE - 1);
}

/* Zeroed private memory, or NULL. */
static inline void *hy_os_alloc(size_t len)
{
	long p = syscall(SYS_mmap, NULL, hy_page_round_up(len), PROT_READ | PROT_WRITE,
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
	q = syscall(SYS_mremap, p, hy_page_round_up(old), hy_page_round_up(len), MREMAP_MAYMOVE);
	return q < 0 && q > -4096 ? NULL : (void *)q;
}

#endif
