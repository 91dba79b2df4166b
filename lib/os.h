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
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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

/*
 * The raw calls, for every place in the library that maps or unmaps without
 * going through libc (and so through our own wrappers).  ThreadSanitizer
 * does not see them: an address that was another thread's memory before
 * its munmap looks raced when a new mapping reuses it.  Under TSan an
 * unmap releases, and a map acquires, one sync object, which orders the
 * two; elsewhere they are the bare system calls.
 */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
__attribute__((weak, visibility("hidden"))) char hy_os_tsan_sync;
#define HY_TSAN_MAPPED()   __tsan_acquire(&hy_os_tsan_sync)
#define HY_TSAN_UNMAPPED() __tsan_release(&hy_os_tsan_sync)
#else
#define HY_TSAN_MAPPED()   ((void)0)
#define HY_TSAN_UNMAPPED() ((void)0)
#endif

/* mmap(2): the address, or -errno (errno set too, as syscall() does). */
static inline long hy_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long p = syscall(SYS_mmap, addr, len, prot, flags, fd, off);

	if (!(p < 0 && p > -4096))
		HY_TSAN_MAPPED();
	return p == -1 ? -errno : p;
}

/* The same, as a pointer: NULL on failure (errno set). */
static inline void *hy_sys_map(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long p = hy_sys_mmap(addr, len, prot, flags, fd, off);

	return p < 0 && p > -4096 ? NULL : (void *)p;
}

/* ioctl(2) without libc: the library's own requests must not go through
 * its interposed ioctl (lib/preload.c), which could let go of a range on
 * the library's behalf. */
static inline int hy_sys_ioctl(int fd, unsigned long req, void *arg)
{
	return (int)syscall(SYS_ioctl, fd, req, arg);
}

static inline int hy_sys_munmap(void *addr, size_t len)
{
	HY_TSAN_UNMAPPED();
	return (int)syscall(SYS_munmap, addr, len);
}

static inline long hy_sys_mremap(void *old, size_t oldlen, size_t newlen, int flags, void *want)
{
	long p;

	HY_TSAN_UNMAPPED();
	p = syscall(SYS_mremap, old, oldlen, newlen, flags, want);
	if (p != -1)
		HY_TSAN_MAPPED();
	return p;
}

/* Zeroed private memory, or NULL. */
static inline void *hy_os_alloc(size_t len)
{
	if (hy_fault(HY_FAULT_OS_ALLOC))
		return NULL;
	return hy_sys_map(NULL, hy_page_round_up(len), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static inline void hy_os_free(void *p, size_t len)
{
	if (p)
		hy_sys_munmap(p, hy_page_round_up(len));
}

/* Grow or shrink, moving if needed; NULL on failure (p stays valid). */
static inline void *hy_os_realloc(void *p, size_t old, size_t len)
{
	long q;

	if (!p)
		return hy_os_alloc(len);
	if (hy_fault(HY_FAULT_OS_ALLOC))
		return NULL;
	q = hy_sys_mremap(p, hy_page_round_up(old), hy_page_round_up(len), MREMAP_MAYMOVE, NULL);
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

/*
 * Is fd still the file the library opened?  Its /proc/self/fd link must
 * start with link_prefix and end with link_suffix (either may be NULL).
 * The program may close every descriptor (daemons do) or dup2 over ours;
 * from then on the number may be one of its own files, which we must never
 * read, ioctl or close.  fd < 0, or no /proc to tell: true.
 */
static inline bool hy_fd_is(int fd, const char *link_prefix, const char *link_suffix)
{
	char path[40], link[96];
	ssize_t n;

	if (fd < 0)
		return true;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT && access("/proc/self/fd", F_OK) ? true : false;
	link[n] = '\0';
	if (link_prefix && strncmp(link, link_prefix, strlen(link_prefix)))
		return false;
	if (link_suffix &&
	    ((size_t)n < strlen(link_suffix) || strcmp(link + n - strlen(link_suffix), link_suffix)))
		return false;
	return true;
}

#endif
