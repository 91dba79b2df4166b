/* SPDX-License-Identifier: MIT */
/*
 * test_faults — the engine when the kernel says no, through the fault seam
 * (lib/fault.h, built into hybrid_core_fi only), on the loopback tier pair.
 * Each case: the failure is counted or reported, the data never changes, no
 * crash, and a failure that repeats costs a bounded number of retries.
 */
#include <errno.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../support.h"
#include "engine.h"
#include "fault.h"

#define MiB (1UL << 20)
#define PG  4096UL

/* The loopback pair, every page tracked; false after the case skipped
 * (the backend asked for cannot run here) or failed. */
static bool make(struct fixture *f, const char *backend)
{
	return fixture_up(f, "tiers=0/0 backend=%s track_overhead=100", backend);
}

/* An async engine managing [p, p+len), with site failing from now on; or
 * false (p unmapped) after the case skipped or failed. */
static bool async_managing(struct fixture *f, char *p, size_t len, enum hy_fault_site site, int err)
{
	hy_fault_clear();
	if (!make(f, "async")) {
		munmap(p, len);
		return false;
	}
	CU_ASSERT_EQUAL_FATAL(hy_engine_manage(f->e, p, len, HY_HINT_HYBRID), 0);
	hy_fault_set(site, err, 1000);
	return true;
}

static char *region(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(i * 7);
	return p;
}

static int intact(const char *p, size_t len, int round)
{
	for (size_t i = 0; i < len; i++) {
		char want = i < len / 4 ? (char)(round + i) : (char)(i * 7);

		if (p[i] != want)
			return 0;
	}
	return 1;
}

/* Write the first quarter (the hot set) every epoch for n epochs. */
static void run(struct hy_engine *e, char *p, size_t len, int epochs)
{
	for (int r = 0; r < epochs; r++) {
		for (size_t i = 0; i < len / 4; i++)
			p[i] = (char)(r + i);
		hy_engine_epoch(e);
	}
	CU_ASSERT(intact(p, len, epochs - 1));
}

static uint64_t failures(const struct hy_stats *st)
{
	return st->fail_busy + st->fail_access + st->fail_nomem + st->fail_absent + st->fail_other;
}

/*
 * Every migration fails, as a whole call or page by page: nothing is
 * promoted, every failure is counted, and back-off keeps the retries
 * bounded: over 20 epochs each hot page is tried a handful of times
 * (back-off 4^level epochs), not 20.
 */
static void every_move_fails(enum hy_fault_site site, int err)
{
	size_t len = 8 * MiB, hot = len / 4 / PG;
	struct fixture f;
	struct hy_stats st;
	char *p = region(len);

	if (!async_managing(&f, p, len, site, err))
		return;
	run(f.e, p, len, 20);
	hy_engine_stats(f.e, &st);
	printf("  %s=%s: %lu injected, %lu failures counted for %zu hot pages over 20 epochs\n",
	       site == HY_FAULT_MOVE_PAGES ? "move_pages" : "move_status", strerror(err),
	       hy_fault_count(site), (unsigned long)failures(&st), hot);
	CU_ASSERT_EQUAL(st.promote_pages, 0);
	CU_ASSERT(failures(&st) >= hot);     /* each tried at least once, and counted */
	CU_ASSERT(failures(&st) <= 4 * hot); /* and backed off: no retry storm */
	if (err == EBUSY)
		CU_ASSERT(st.fail_busy >= hot);
	if (err == ENOMEM)
		CU_ASSERT(st.fail_nomem + st.fail_other >= hot);
	hy_fault_clear();
	fixture_down(&f);
	munmap(p, len);
}

static void test_move_pages_call_fails(void)
{
	every_move_fails(HY_FAULT_MOVE_PAGES, ENOMEM);
}

static void test_move_pages_every_page_busy(void)
{
	every_move_fails(HY_FAULT_MOVE_STATUS, EBUSY);
}

/* No userfaultfd (EPERM, as with vm.unprivileged_userfaultfd=0): auto falls
 * back to placement only; an explicit backend is an error that says why. */
static void test_no_userfaultfd(void)
{
	size_t len = 4 * MiB;
	struct hy_engine *e = NULL;
	struct fixture f;
	struct hy_err err = {""};
	struct hy_stats st;
	char *p = region(len);

	hy_fault_clear();
	hy_fault_set(HY_FAULT_UFFD_OPEN, EPERM, 1000);
	if (!make(&f, "auto"))
		goto out;
	CU_ASSERT_STRING_EQUAL(hy_engine_backend(f.e), "off");
	CU_ASSERT_EQUAL(hy_engine_manage(f.e, p, len, HY_HINT_HYBRID), 0); /* placement still */
	run(f.e, p, len, 5);
	hy_engine_stats(f.e, &st);
	CU_ASSERT_EQUAL(st.managed_bytes, len);
	CU_ASSERT_EQUAL(st.promote_pages, 0); /* nothing seen, nothing promoted */
	fixture_down(&f);

	if (!fixture_config(&f, "tiers=0/0 backend=async"))
		goto out;
	CU_ASSERT(hy_engine_create(&e, &f.cfg, f.topo, &err) < 0);
	CU_ASSERT_PTR_NULL(e);
	CU_ASSERT(strstr(err.msg, "userfaultfd") != NULL);
	fixture_down(&f);
out:
	hy_fault_clear();
	munmap(p, len);
}

static int policy_of(const void *p)
{
	unsigned long mask[16] = {0};
	int mode = -1;

	syscall(SYS_get_mempolicy, &mode, mask, 1024UL, p, 2 /* MPOL_F_ADDR */);
	return mode & 0xff;
}

/* A range that cannot be registered (or placed) is not managed at all: the
 * call says so, the registry does not hold it, and its policy is the
 * default again. */
static void manage_refused(enum hy_fault_site site)
{
	size_t len = 4 * MiB;
	struct hy_engine *e;
	struct fixture f;
	struct hy_stats st;
	char *p = region(len);

	hy_fault_clear();
	if (!make(&f, "auto")) {
		munmap(p, len);
		return;
	}
	e = f.e;
	hy_fault_set(site, EIO, 1000);
	CU_ASSERT_EQUAL(hy_engine_manage(e, p, len, HY_HINT_HYBRID), -EIO);
	hy_fault_clear();
	hy_engine_stats(e, &st);
	CU_ASSERT_EQUAL(st.managed_bytes, 0);
	hy_reg_lock(hy_engine_registry(e));
	CU_ASSERT_PTR_NULL(hy_reg_find(hy_engine_registry(e), (uintptr_t)p));
	hy_reg_unlock(hy_engine_registry(e));
	CU_ASSERT_EQUAL(policy_of(p), MPOL_DEFAULT);
	run(e, p, len, 3);
	fixture_down(&f);
	munmap(p, len);
}

static void test_register_fails(void)
{
	struct fixture f;

	if (!make(&f, "async")) /* needs a tracker that registers */
		return;
	fixture_down(&f);
	manage_refused(HY_FAULT_UFFD_IOCTL);
}

static void test_mbind_fails(void)
{
	manage_refused(HY_FAULT_MBIND);
}

/* The scan fails every epoch: nothing is learnt, nothing moves, no crash. */
static void test_pagemap_scan_fails(void)
{
	size_t len = 4 * MiB;
	struct fixture f;
	struct hy_stats st;
	char *p = region(len);

	if (!async_managing(&f, p, len, HY_FAULT_PAGEMAP_SCAN, EIO))
		return;
	run(f.e, p, len, 6);
	hy_engine_stats(f.e, &st);
	CU_ASSERT(hy_fault_count(HY_FAULT_PAGEMAP_SCAN) >= 6);
	CU_ASSERT_EQUAL(st.promote_pages, 0);
	CU_ASSERT_EQUAL(st.epochs, 6);
	hy_fault_clear();
	fixture_down(&f);
	munmap(p, len);
}

/*
 * The library's own memory runs short (a third of its allocations fail)
 * while ranges come and go and epochs run: calls fail with -ENOMEM where
 * they must, the registry stays consistent, nothing crashes, data intact.
 */
static void test_bookkeeping_memory_short(void)
{
	enum { N = 64 };
	size_t len = 256 * 1024;
	char *r[N];
	struct hy_engine *e;
	struct fixture f;
	int refused = 0;

	hy_fault_clear();
	if (!make(&f, "auto"))
		return;
	e = f.e;
	for (int i = 0; i < N; i++)
		r[i] = region(len);
	hy_fault_set(HY_FAULT_OS_ALLOC, ENOMEM, 333);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			int rc = hy_engine_manage(e, r[i], len, HY_HINT_HYBRID);

			CU_ASSERT(rc == 0 || rc == -ENOMEM);
			refused += rc != 0;
		}
		for (int i = 0; i < N; i++)
			memset(r[i], round, len / 2);
		hy_engine_epoch(e);
		for (int i = 0; i < N; i += 2)
			CU_ASSERT(hy_engine_unmanage(e, r[i], len) == 0 ||
				  hy_engine_unmanage(e, r[i], len) == -ENOMEM);
	}
	printf("  %lu bookkeeping allocations failed, %d manage calls refused\n",
	       hy_fault_count(HY_FAULT_OS_ALLOC), refused);
	CU_ASSERT(hy_fault_count(HY_FAULT_OS_ALLOC) > 0);
	hy_fault_clear();
	hy_reg_lock(hy_engine_registry(e));
	CU_ASSERT_EQUAL(hy_reg_check(hy_engine_registry(e)), 0);
	hy_reg_unlock(hy_engine_registry(e));
	for (int i = 0; i < N; i++) {
		for (size_t k = 0; k < len / 2; k++)
			if (r[i][k] != 3) {
				CU_FAIL("data changed");
				break;
			}
		munmap(r[i], len);
	}
	fixture_down(&f);
}

static const struct hy_test tests[] = {
	HY_TEST(test_move_pages_call_fails), HY_TEST(test_move_pages_every_page_busy),
	HY_TEST(test_no_userfaultfd),	     HY_TEST(test_register_fails),
	HY_TEST(test_mbind_fails),	     HY_TEST(test_pagemap_scan_fails),
	HY_TEST(test_bookkeeping_memory_short),
};

HY_CUNIT_MAIN("faults", tests)
