/* SPDX-License-Identifier: MIT */
/*
 * test_linked — a program that links -lhybrid (no preload): its own heap
 * and mappings stay what they were without the library (glibc's malloc,
 * default placement), even with the loopback tier pair configured, because
 * a linked library manages only what the program names (DESIGN.md §2).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../support.h"
#include "hybrid.h"

static int policy_of(const void *p)
{
	unsigned long mask[16] = {0};
	int mode = -1;

	if (syscall(SYS_get_mempolicy, &mode, mask, 1024UL, p, 2 /* MPOL_F_ADDR */) < 0)
		return -1;
	return mode & 0xff;
}

static void test_heap_is_glibc(void)
{
	struct mallinfo2 before = mallinfo2(), after;
	void *p[100];

	if (SANITIZED)
		HY_SKIP("a sanitizer build: the heap is the sanitizer's, not glibc's");

	for (int i = 0; i < 100; i++)
		p[i] = malloc(1000);
	after = mallinfo2();
	/* glibc accounts the blocks; jemalloc would leave mallinfo unchanged */
	CU_ASSERT(after.uordblks >= before.uordblks + 100 * 1000);
	for (int i = 0; i < 100; i++)
		free(p[i]);
	CU_ASSERT_PTR_NOT_NULL(hybrid_version()); /* and we are linked */
}

static void test_mappings_untouched(void)
{
	size_t len = 8 << 20;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *h = malloc(len);

	CU_ASSERT_FATAL(m != MAP_FAILED && h != NULL);
	memset(m, 1, len);
	memset(h, 1, len);
	CU_ASSERT_EQUAL(policy_of(m), 0);
	CU_ASSERT_EQUAL(policy_of(h), 0);
	munmap(m, len);
	free(h);
}

static const struct hy_test tests[] = {
	HY_TEST(test_heap_is_glibc),
	HY_TEST(test_mappings_untouched),
};

HY_CUNIT_MAIN("linked", tests)
