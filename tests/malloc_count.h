/* SPDX-License-Identifier: MIT */
/*
 * Tests only: count the malloc family while `armed` (glibc's supported way
 * of replacing malloc: forward to __libc_*), to show that a path allocates
 * nothing.  Included once by a test program (test_noalloc, export_probe).
 * The sanitizers own malloc: there the program cannot count (SANITIZED,
 * from support.h).
 *
 * armed/calls are volatile: the compiler treats "malloc" as a builtin that
 * touches no user globals, and would otherwise move them across the calls.
 */
#ifndef HY_TEST_MALLOC_COUNT_H
#define HY_TEST_MALLOC_COUNT_H

#include <errno.h>
#include <stddef.h>

#include "support.h"

static volatile int armed, calls;

#if !SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t n)
{
	calls += armed;
	return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
	calls += armed;
	return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
	calls += armed;
	return __libc_realloc(p, n);
}
void *memalign(size_t a, size_t n)
{
	calls += armed;
	return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n)
{
	calls += armed;
	*p = __libc_memalign(a, n);
	return *p ? 0 : ENOMEM;
}
void *aligned_alloc(size_t a, size_t n)
{
	calls += armed;
	return __libc_memalign(a, n);
}
void free(void *p)
{
	calls += armed && p;
	__libc_free(p);
}
#endif

#endif
