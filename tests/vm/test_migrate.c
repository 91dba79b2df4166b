/* SPDX-License-Identifier: MIT */
/*
 * test_migrate — the migrator (lib/migrate.c) on real kernels and real nodes,
 * inside the tiered VM (tests/vm/tiered-vm); registered by migrate.cmake.
 *
 * "fast" is the first node with CPUs (node 0), "slow" the highest-numbered
 * CPU-less node with memory (else the last node with memory).  Every
 * migration is checked three ways: the statuses hy_mig_move returns, where a
 * raw move_pages query says the pages are, and a checksum of the data taken
 * before and after.  Counters are checked exactly.
 *
 *   test_migrate [CASE...]     (default: all; --list lists them)
 *
 * Exit: 0 pass, 1 fail, 77 skip (fewer than two nodes with memory, e.g. on
 * the one-node development host: every case skips).  Cases that need
 * something the machine lacks (THP, root for the sysctls) skip, or skip their
 * part that does, with "SKIP <case>: <reason>", counted in the summary.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support.h"
#include "kernel_compat.h"
#include "migrate.h"
#include "stats.h"

#define PG	  4096UL
#define HP	  (2UL << 20)
#define MIB	  (1UL << 20)
#define BIG	  (64UL << 20)
#define BIG_PAGES (BIG / PG)

static int fast_node, slow_node, max_node;
static const char *kernel = "?";

/* ---- helpers ---- */

#define EXPECT_EQ(a, b, ...)                                                                       \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_) {                                                                    \
			fprintf(stderr, "  %s:%d: %s = %lld, expected %lld: ", __func__, __LINE__, \
				#a, a_, b_);                                                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
		CU_ASSERT_EQUAL(a_, b_);                                                           \
	} while (0)

/* The case, or its part named what, cannot run here: the case is skipped. */
static void skip(const char *what, const char *why)
{
	hy_skip("%s: %s", what, why);
}

static uint64_t checksum(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len / 8; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = (i + seed) * 0x9e3779b97f4a7c15ULL;
}

/* 2 MiB-aligned anonymous memory, policy set, not touched. */
static char *map_aligned(size_t len, int node, int mode, bool huge)
{
	char *raw =
	    mmap(NULL, len + HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;
	unsigned long mask[4] = {0};

	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + HP - 1) & ~(HP - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	munmap(p + len, (size_t)(raw + HP - p));
	madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	if (node >= 0) {
		mask[node / 64] |= 1UL << (node % 64);
		if (mbind(p, len, mode, mask, 256, 0) != 0)
			perror("mbind");
	}
	return p;
}

/* Filled (faulted in) on node. */
static char *map_on(size_t len, int node, bool huge, uint64_t seed)
{
	char *p = map_aligned(len, node, MPOL_BIND, huge);

	if (p)
		fill(p, len, seed);
	return p;
}

/* Raw query, independent of the code under test. */
static void where(const char *p, size_t npages, int *nodes)
{
	void **pg = malloc(npages * sizeof *pg);

	for (size_t i = 0; i < npages; i++)
		pg[i] = (void *)(p + i * PG);
	if (syscall(SYS_move_pages, 0, npages, pg, NULL, nodes, 0) != 0)
		for (size_t i = 0; i < npages; i++)
			nodes[i] = -9999;
	free(pg);
}

static size_t count_on(const char *p, size_t npages, int node)
{
	int *nodes = malloc(npages * sizeof *nodes);
	size_t n = 0;

	where(p, npages, nodes);
	for (size_t i = 0; i < npages; i++)
		n += nodes[i] == node;
	free(nodes);
	return n;
}

static struct hy_move *moves_for(const char *p, size_t npages, int node)
{
	struct hy_move *m = calloc(npages, sizeof *m);

	for (size_t i = 0; i < npages; i++)
		m[i] = (struct hy_move){(uintptr_t)(p + i * PG), node, 12345};
	return m;
}

/* Every status agrees with where the page is: the target when it says so,
 * elsewhere when it reports an error. Returns the number of disagreements. */
static size_t status_vs_query(const struct hy_move *m, size_t n)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		int node;
		void *a = (void *)m[i].addr;

		if (syscall(SYS_move_pages, 0, 1, &a, NULL, &node, 0) != 0)
			node = -9999;
		if ((m[i].status == m[i].to_node) != (node == m[i].to_node)) {
			if (bad++ < 5)
				fprintf(stderr, "  page %#lx: status %d but on node %d\n",
					(unsigned long)m[i].addr, m[i].status, node);
		}
	}
	return bad;
}

static size_t count_status(const struct hy_move *m, size_t n, int status)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += m[i].status == status;
	return k;
}

/* AnonHugePages of the mapping that contains addr, in kB; -1 if not found. */
static long anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long kb = -1;

	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		char *dash = strchr(line, '-'), *sp = strchr(line, ' ');

		if (dash && sp && dash < sp && sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

/* Bytes PAGEMAP_SCAN calls PAGE_IS_HUGE in [p, p+len); -1 without PAGEMAP_SCAN (< 6.7). */
static long scan_huge_bytes(const void *p, size_t len)
{
	struct page_region r[16];
	struct pm_scan_arg a = {
	    .size = sizeof a,
	    .start = (uintptr_t)p,
	    .end = (uintptr_t)p + len,
	    .vec = (uintptr_t)r,
	    .vec_len = 16,
	    .category_mask = PAGE_IS_HUGE,
	    .return_mask = PAGE_IS_HUGE,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY);
	long n, bytes = 0;

	if (fd < 0)
		return -1;
	n = ioctl(fd, PAGEMAP_SCAN, &a);
	close(fd);
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++)
		bytes += (long)(r[i].end - r[i].start);
	return bytes;
}

static long vmstat(const char *name)
{
	FILE *f = fopen("/proc/vmstat", "r");
	char key[64];
	long v, r = -1;

	while (f && fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			r = v;
	if (f)
		fclose(f);
	return r;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t r = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	while (r > 0 && buf[r - 1] == '\n')
		buf[--r] = 0;
	return 0;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t r = fd >= 0 ? write(fd, val, strlen(val)) : -1;

	if (fd >= 0)
		close(fd);
	return r < 0 ? -1 : 0;
}

/* ---- THP availability: set "madvise" if it is "never", restored at exit ---- */

#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
static char thp_saved[64];
static const char *thp_why; /* NULL: THP usable */

static void thp_restore(void)
{
	if (thp_saved[0])
		write_file(THP_ENABLED, thp_saved);
}

static void thp_setup(void)
{
	char v[256];

	if (read_file(THP_ENABLED, v, sizeof v) != 0) {
		thp_why = "no " THP_ENABLED " (kernel without transparent huge pages)";
		return;
	}
	if (strstr(v, "[never]")) {
		if (write_file(THP_ENABLED, "madvise") != 0) {
			thp_why = "THP is off ([never]) and cannot be set to madvise (not root)";
			return;
		}
		snprintf(thp_saved, sizeof thp_saved, "never");
		atexit(thp_restore);
	}
}

/* n huge pages on node, verified huge; NULL (with why) if the kernel gave base pages. */
static char *thp_on(size_t n, int node, uint64_t seed, const char **why)
{
	char *p;

	if (thp_why) {
		*why = thp_why;
		return NULL;
	}
	p = map_on(n * HP, node, true, seed);
	if (!p) {
		*why = "mmap failed";
		return NULL;
	}
	if (anon_huge_kb(p) != (long)(n * HP / 1024)) {
		munmap(p, n * HP);
		*why = "the kernel did not back the range with huge pages at fault time";
		return NULL;
	}
	return p;
}

/* ---- cases ---- */

/* 64 MiB of base pages, slow -> fast -> slow: statuses and counters exact. */
static void test_roundtrip_64m(void)
{
	char *p = map_on(BIG, slow_node, false, 1);
	uint64_t sum;
	struct hy_stats st = {0};
	struct hy_move *m;
	long rc;

	CU_ASSERT_FATAL(p != NULL);
	sum = checksum(p, BIG);
	EXPECT_EQ(count_on(p, BIG_PAGES, slow_node), BIG_PAGES,
		  "pages on the slow node after fill");

	/* reversed, so that the migrator has to sort */
	m = moves_for(p, BIG_PAGES, fast_node);
	for (size_t i = 0; i < BIG_PAGES / 2; i++) {
		struct hy_move t = m[i];
		m[i] = m[BIG_PAGES - 1 - i], m[BIG_PAGES - 1 - i] = t;
	}
	rc = hy_mig_move(m, BIG_PAGES, HY_MOVE_PROMOTE, &st);
	EXPECT_EQ(rc, BIG_PAGES, "promote 64 MiB");
	EXPECT_EQ(count_status(m, BIG_PAGES, fast_node), BIG_PAGES, "statuses = fast node");
	for (size_t i = 1; i < BIG_PAGES; i++)
		if (m[i].addr <= m[i - 1].addr) {
			CU_FAIL("moves[] not sorted by address");
			break;
		}
	EXPECT_EQ(st.promote_pages, BIG_PAGES, "promote_pages");
	EXPECT_EQ(st.promote_bytes, BIG, "promote_bytes");
	EXPECT_EQ(st.demote_pages + st.fail_busy + st.fail_access + st.fail_nomem + st.fail_absent +
		      st.fail_other,
		  0, "no other counter moves");
	EXPECT_EQ(count_on(p, BIG_PAGES, fast_node), BIG_PAGES, "pages on the fast node");
	EXPECT_EQ(checksum(p, BIG), sum, "checksum after promotion");

	free(m);
	m = moves_for(p, BIG_PAGES, slow_node);
	memset(&st, 0, sizeof st);
	rc = hy_mig_move(m, BIG_PAGES, HY_MOVE_DEMOTE, &st);
	EXPECT_EQ(rc, BIG_PAGES, "demote 64 MiB");
	EXPECT_EQ(count_status(m, BIG_PAGES, slow_node), BIG_PAGES, "statuses = slow node");
	EXPECT_EQ(st.demote_pages, BIG_PAGES, "demote_pages");
	EXPECT_EQ(st.demote_bytes, BIG, "demote_bytes");
	EXPECT_EQ(st.promote_pages + st.fail_busy + st.fail_access + st.fail_nomem +
		      st.fail_absent + st.fail_other,
		  0, "no other counter moves");
	EXPECT_EQ(count_on(p, BIG_PAGES, slow_node), BIG_PAGES, "pages back on the slow node");
	EXPECT_EQ(checksum(p, BIG), sum, "checksum after demotion");
	free(m);
	munmap(p, BIG);
}

/* hy_mig_query over more than one batch agrees with a raw query. */
static void test_query(void)
{
	char *p = map_on(BIG, slow_node, false, 2);
	uintptr_t *a = malloc(BIG_PAGES * sizeof *a);
	int *got = malloc(BIG_PAGES * sizeof *got), *want = malloc(BIG_PAGES * sizeof *want);
	char *hole = map_aligned(4 * PG, -1, 0, false);

	CU_ASSERT_FATAL(p && hole);
	for (size_t i = 0; i < BIG_PAGES; i++)
		a[i] = (uintptr_t)(p + i * PG);
	/* move a quarter to the fast node so the answer is not uniform */
	{
		struct hy_move *m = moves_for(p, BIG_PAGES / 4, fast_node);
		hy_mig_move(m, BIG_PAGES / 4, HY_MOVE_PROMOTE, NULL);
		free(m);
	}
	where(p, BIG_PAGES, want);
	EXPECT_EQ(hy_mig_query(a, BIG_PAGES, got), 0, "query 64 MiB");
	EXPECT_EQ(memcmp(got, want, BIG_PAGES * sizeof *got), 0, "hy_mig_query = raw query");
	EXPECT_EQ(got[0], fast_node, "first quarter promoted");
	EXPECT_EQ(got[BIG_PAGES - 1], slow_node, "the rest not");
	a[0] = (uintptr_t)hole;
	EXPECT_EQ(hy_mig_query(a, 1, got), 0, "query of an untouched page");
	CU_ASSERT(got[0] == -EFAULT || got[0] == -ENOENT);
	free(a), free(got), free(want);
	munmap(p, BIG);
	munmap(hole, 4 * PG);
}

/* Never-touched pages, the zero page, an unmapped page: fail_absent. */
static void test_absent(void)
{
	char *p = map_aligned(16 * PG, slow_node, MPOL_BIND, false);
	volatile char c;
	struct hy_stats st = {0};
	struct hy_move *m;
	long rc;

	CU_ASSERT_FATAL(p != NULL);
	c = p[4 * PG]; /* pages 4..7: the shared zero page (read, never written) */
	c = p[5 * PG];
	c = p[6 * PG];
	c = p[7 * PG];
	(void)c;
	munmap(p + 15 * PG, PG); /* page 15: nothing mapped */
	m = moves_for(p, 16, fast_node);
	rc = hy_mig_move(m, 16, HY_MOVE_PROMOTE, &st);
	EXPECT_EQ(rc, 0, "nothing to move");
	for (size_t i = 0; i < 16; i++)
		CU_ASSERT(m[i].status == -EFAULT || m[i].status == -ENOENT);
	printf("\n  %s: untouched page -> %d, zero page -> %d, unmapped -> %d\n", kernel,
	       m[0].status, m[4].status, m[15].status);
	EXPECT_EQ(st.fail_absent, 16, "fail_absent");
	EXPECT_EQ(st.promote_pages + st.fail_other + st.fail_busy, 0, "nothing else");
	free(m);
	munmap(p, 15 * PG);
}

/* A page still mapped by a forked child: -EACCES, stays. */
static void test_shared_with_child(void)
{
	char *p = map_on(4 * PG, slow_node, false, 3);
	uint64_t sum = checksum(p, 4 * PG);
	int go[2], ready[2];
	struct hy_stats st = {0};
	struct hy_move *m;
	pid_t pid;
	char x;

	CU_ASSERT_FATAL(p && pipe(go) == 0 && pipe(ready) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) { /* keeps the pages mapped, reads one, writes none */
		volatile char c = p[0];
		(void)c;
		if (write(ready[1], "r", 1) != 1 || read(go[0], &x, 1) != 1)
			_exit(1);
		_exit(checksum(p, 4 * PG) == sum ? 0 : 2);
	}
	CU_ASSERT(read(ready[0], &x, 1) == 1);
	m = moves_for(p, 4, fast_node);
	EXPECT_EQ(hy_mig_move(m, 4, HY_MOVE_PROMOTE, &st), 0, "shared pages are not moved");
	EXPECT_EQ(count_status(m, 4, -EACCES), 4, "-EACCES for each");
	EXPECT_EQ(st.fail_access, 4, "fail_access");
	EXPECT_EQ(st.promote_pages, 0, "promote_pages");
	EXPECT_EQ(count_on(p, 4, slow_node), 4, "pages stay on the slow node");
	EXPECT_EQ(checksum(p, 4 * PG), sum, "checksum");

	/* page 1 written by us: copied on write, ours alone, movable */
	p[PG] = (char)(p[PG] + 1);
	sum = checksum(p, 4 * PG);
	memset(&st, 0, sizeof st);
	EXPECT_EQ(hy_mig_move(m, 4, HY_MOVE_PROMOTE, &st), 1, "the private copy moves");
	EXPECT_EQ(st.fail_access, 3, "the other three are still shared");
	EXPECT_EQ(checksum(p, 4 * PG), sum, "checksum");

	CU_ASSERT(write(go[1], "g", 1) == 1);
	{
		int ws = 0;
		waitpid(pid, &ws, 0);
		EXPECT_EQ(WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, 0, "the child saw its data intact");
	}
	memset(&st, 0, sizeof st);
	EXPECT_EQ(hy_mig_move(m, 4, HY_MOVE_PROMOTE, &st), 4, "movable once the child is gone");
	EXPECT_EQ(checksum(p, 4 * PG), sum, "checksum");
	free(m);
	munmap(p, 4 * PG);
	close(go[0]), close(go[1]), close(ready[0]), close(ready[1]);
}

/* mlock()ed pages: what does the kernel do?  (6.1, 6.12: they move.) */
static void test_mlocked(void)
{
	char *p = map_on(4 * PG, slow_node, false, 4);
	uint64_t sum = checksum(p, 4 * PG);
	struct hy_stats st = {0};
	struct hy_move *m = moves_for(p, 4, fast_node);
	unsigned char vec[4];
	long rc;

	CU_ASSERT_FATAL(p != NULL);
	if (mlock(p, 4 * PG) != 0) {
		skip("mlock", strerror(errno));
		free(m);
		munmap(p, 4 * PG);
		return;
	}
	rc = hy_mig_move(m, 4, HY_MOVE_PROMOTE, &st);
	printf("\n  %s: mlocked pages: %s (statuses %d %d %d %d)\n", kernel,
	       rc == 4	 ? "moved"
	       : rc == 0 ? "not moved"
			 : "partly moved",
	       m[0].status, m[1].status, m[2].status, m[3].status);
	EXPECT_EQ(rc, 4, "mlocked pages move (as on 6.1 and 6.12)");
	EXPECT_EQ(status_vs_query(m, 4), 0, "statuses agree with the pages' nodes");
	EXPECT_EQ((long)st.promote_pages, rc, "promote_pages");
	EXPECT_EQ(checksum(p, 4 * PG), sum, "checksum");
	CU_ASSERT(mincore(p, 4 * PG, vec) == 0 && (vec[0] & vec[1] & vec[2] & vec[3] & 1));
	munlock(p, 4 * PG);
	free(m);
	munmap(p, 4 * PG);
}

/*
 * A page with an extra reference (vmsplice into a pipe, like a pin): the
 * kernel writes no status for its chunk (case 5 in migrate.c).  Page 1 is
 * pinned, page 3 never touched (a per-page error right after the failed
 * chunk: the kernel stops there), pages 4..7 must still be moved.
 */
static void test_pinned(void)
{
	char *p = map_on(8 * PG, slow_node, false, 5);
	struct hy_stats st = {0};
	struct hy_move *m = moves_for(p, 8, fast_node);
	struct iovec iov = {p + PG, PG};
	int pfd[2];
	uint64_t sum;
	long rc;

	CU_ASSERT_FATAL(p && pipe(pfd) == 0);
	madvise(p + 3 * PG, PG, MADV_DONTNEED); /* page 3: absent */
	sum = checksum(p, 8 * PG);
	CU_ASSERT_FATAL(vmsplice(pfd[1], &iov, 1, 0) == (ssize_t)PG);
	rc = hy_mig_move(m, 8, HY_MOVE_PROMOTE, &st);
	EXPECT_EQ(rc, 6, "all but the pinned and the absent page");
	EXPECT_EQ(m[1].status, -EBUSY, "pinned page");
	CU_ASSERT(m[3].status == -EFAULT || m[3].status == -ENOENT);
	EXPECT_EQ(st.fail_busy, 1, "fail_busy");
	EXPECT_EQ(st.fail_absent, 1, "fail_absent");
	EXPECT_EQ(st.promote_pages, 6, "promote_pages");
	EXPECT_EQ(status_vs_query(m, 8), 0, "statuses agree with the pages' nodes");
	EXPECT_EQ(checksum(p, 8 * PG), sum, "checksum");
	close(pfd[0]), close(pfd[1]); /* unpinned */
	free(m);
	munmap(p, 8 * PG);
}

/*
 * Ten groups of (pinned, absent, movable, movable): each failed chunk stops
 * the kernel at the absent page after it, so every group costs a call.  The
 * migrator makes at most 1 + MIG_MAX_CONT (8) calls per batch and reports
 * the pages it never gave the kernel as -EAGAIN; no page is tried twice.
 */
static void test_many_failed_chunks(void)
{
	size_t n = 40;
	char *p = map_on(n * PG, slow_node, false, 16);
	struct hy_stats st = {0};
	struct hy_move *m = moves_for(p, n, fast_node);
	long fail0 = vmstat("pgmigrate_fail"), rc;
	size_t pinned = 0, eagain;
	int pfd[2];
	uint64_t sum;

	CU_ASSERT_FATAL(p && pipe(pfd) == 0);
	for (size_t g = 0; g < n / 4; g++) {
		struct iovec iov = {p + 4 * g * PG, PG};

		madvise(p + (4 * g + 1) * PG, PG, MADV_DONTNEED);
		pinned += vmsplice(pfd[1], &iov, 1, 0) == (ssize_t)PG;
	}
	EXPECT_EQ(pinned, n / 4, "vmsplice");
	sum = checksum(p, n * PG);
	rc = hy_mig_move(m, n, HY_MOVE_PROMOTE, &st);
	eagain = count_status(m, n, -EAGAIN);
	printf("\n  %s: 10 pinned/absent groups: %ld moved, %zu -EBUSY, %zu absent, %zu -EAGAIN "
	       "(not tried)\n",
	       kernel, rc, count_status(m, n, -EBUSY),
	       count_status(m, n, -EFAULT) + count_status(m, n, -ENOENT), eagain);
	CU_ASSERT(eagain > 0);
	EXPECT_EQ(st.fail_other, eagain, "-EAGAIN counted as other");
	EXPECT_EQ((long)st.promote_pages, rc, "promote_pages");
	EXPECT_EQ(st.promote_pages + st.fail_busy + st.fail_absent + st.fail_other, n,
		  "every page counted once");
	for (size_t i = 0; i < n; i++)
		if (i % 4 == 0)
			CU_ASSERT(m[i].status == -EBUSY || m[i].status == -EAGAIN);
	EXPECT_EQ(status_vs_query(m, n), 0, "statuses agree with the pages' nodes");
	if (fail0 >= 0)
		EXPECT_EQ(vmstat("pgmigrate_fail") - fail0, (long)st.fail_busy,
			  "each pinned page tried once");
	EXPECT_EQ(checksum(p, n * PG), sum, "checksum");
	close(pfd[0]), close(pfd[1]);
	free(m);
	munmap(p, n * PG);
}

/*
 * Two THPs, every base page listed: moved whole (one -EBUSY per THP from
 * the kernel, which the migrator resolves), still huge on the target.
 * Then only the first page of each THP: the whole THP follows.
 */
static void test_thp_whole(void)
{
	const char *why;
	char *p = thp_on(2, slow_node, 6, &why);
	size_t n = 2 * HP / PG;
	struct hy_stats st = {0};
	struct hy_move *m, heads[2];
	uint64_t sum;
	long rc, scan;

	if (!p) {
		skip("thp_whole", why);
		return;
	}
	sum = checksum(p, 2 * HP);
	m = moves_for(p, n, fast_node);
	rc = hy_mig_move(m, n, HY_MOVE_PROMOTE, &st);
	EXPECT_EQ(rc, n, "every page of both THPs");
	EXPECT_EQ(count_status(m, n, fast_node), n, "statuses = fast node (no -EBUSY left)");
	EXPECT_EQ(st.promote_pages, n, "a THP moved whole counts its 512 pages");
	EXPECT_EQ(st.promote_bytes, 2 * HP, "promote_bytes");
	EXPECT_EQ(st.fail_busy, 0, "fail_busy");
	EXPECT_EQ(count_on(p, n, fast_node), n, "on the fast node");
	EXPECT_EQ(anon_huge_kb(p), 2 * HP / 1024, "AnonHugePages: still huge on the target");
	scan = scan_huge_bytes(p, 2 * HP);
	if (scan >= 0)
		EXPECT_EQ(scan, 2 * HP, "PAGEMAP_SCAN PAGE_IS_HUGE agrees");
	EXPECT_EQ(checksum(p, 2 * HP), sum, "checksum");
	printf(
	    "\n  %s: 2 THPs, 1024 pages listed: moved whole, AnonHugePages %ld kB on node %d%s\n",
	    kernel, anon_huge_kb(p), fast_node, scan >= 0 ? " (PAGEMAP_SCAN agrees)" : "");

	heads[0] = (struct hy_move){(uintptr_t)p, slow_node, 0};
	heads[1] = (struct hy_move){(uintptr_t)p + HP + 100 * PG, slow_node, 0};
	memset(&st, 0, sizeof st);
	rc = hy_mig_move(heads, 2, HY_MOVE_DEMOTE, &st);
	EXPECT_EQ(rc, 2, "one page of each THP");
	EXPECT_EQ(st.demote_pages, 2, "counts what was listed");
	EXPECT_EQ(count_on(p, n, slow_node), n, "the kernel moved both THPs whole");
	EXPECT_EQ(anon_huge_kb(p), 2 * HP / 1024, "still huge");
	EXPECT_EQ(checksum(p, 2 * HP), sum, "checksum");
	free(m);
	munmap(p, 2 * HP);
}

/* 64 MiB of THPs, slow -> fast -> slow, counters exact. */
static void test_thp_64m(void)
{
	const char *why;
	char *p = thp_on(BIG / HP, slow_node, 7, &why);
	struct hy_stats st = {0};
	struct hy_move *m;
	uint64_t sum;

	if (!p) {
		skip("thp_64m", why);
		return;
	}
	sum = checksum(p, BIG);
	m = moves_for(p, BIG_PAGES, fast_node);
	EXPECT_EQ(hy_mig_move(m, BIG_PAGES, HY_MOVE_PROMOTE, &st), BIG_PAGES, "promote 32 THPs");
	EXPECT_EQ(st.promote_bytes, BIG, "promote_bytes");
	EXPECT_EQ(st.fail_busy + st.fail_other, 0, "no failures");
	EXPECT_EQ(count_on(p, BIG_PAGES, fast_node), BIG_PAGES, "on the fast node");
	EXPECT_EQ(anon_huge_kb(p), BIG / 1024, "still huge");
	EXPECT_EQ(checksum(p, BIG), sum, "checksum");
	free(m);
	m = moves_for(p, BIG_PAGES, slow_node);
	memset(&st, 0, sizeof st);
	EXPECT_EQ(hy_mig_move(m, BIG_PAGES, HY_MOVE_DEMOTE, &st), BIG_PAGES, "demote 32 THPs");
	EXPECT_EQ(st.demote_bytes, BIG, "demote_bytes");
	EXPECT_EQ(st.fail_busy + st.fail_other, 0, "no failures");
	EXPECT_EQ(anon_huge_kb(p), BIG / 1024, "still huge");
	EXPECT_EQ(checksum(p, BIG), sum, "checksum");
	free(m);
	munmap(p, BIG);
}

/*
 * A THP with one base page pinned: the kernel neither moves nor splits it,
 * and stops the call after its second page; the migrator must not walk
 * the other 510 pages one call at a time.  All 512: -EBUSY.
 */
static void test_thp_pinned(void)
{
	const char *why;
	char *p = thp_on(1, slow_node, 8, &why);
	size_t n = HP / PG;
	struct hy_stats st = {0};
	struct hy_move *m;
	struct iovec iov;
	int pfd[2];
	uint64_t sum;
	long rc, fail0 = vmstat("pgmigrate_fail");

	if (!p) {
		skip("thp_pinned", why);
		return;
	}
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	iov = (struct iovec){p + 5 * PG, PG};
	CU_ASSERT_FATAL(vmsplice(pfd[1], &iov, 1, 0) == (ssize_t)PG);
	sum = checksum(p, HP);
	m = moves_for(p, n, fast_node);
	rc = hy_mig_move(m, n, HY_MOVE_PROMOTE, &st);
	EXPECT_EQ(rc, 0, "nothing moves");
	EXPECT_EQ(count_status(m, n, -EBUSY), n, "-EBUSY for all 512");
	EXPECT_EQ(st.fail_busy, n, "fail_busy");
	EXPECT_EQ(count_on(p, n, slow_node), n, "stays on the slow node");
	EXPECT_EQ(anon_huge_kb(p), HP / 1024, "not split");
	EXPECT_EQ(checksum(p, HP), sum, "checksum");
	/* one failed THP migration attempt, not hundreds (the kernel's own
	 * retries of one call count once in pgmigrate_fail) */
	if (fail0 >= 0)
		CU_ASSERT(vmstat("pgmigrate_fail") - fail0 <= 512);
	printf("\n  %s: THP with a pinned page: %zu x -EBUSY, pgmigrate_fail +%ld\n", kernel,
	       count_status(m, n, -EBUSY), vmstat("pgmigrate_fail") - fail0);
	close(pfd[0]), close(pfd[1]);
	free(m);
	munmap(p, HP);
}

/* Nodes that do not exist: statuses, no crash, the other moves done. */
static void test_bad_nodes(void)
{
	char *p = map_on(8 * PG, slow_node, false, 9);
	int bad[] = {max_node + 1, 63, 5000, -1, -77};
	struct hy_stats st = {0};
	struct hy_move m[8];
	uint64_t sum = checksum(p, 8 * PG);
	long rc;

	for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
		m[0] = (struct hy_move){(uintptr_t)p, bad[b], 0};
		memset(&st, 0, sizeof st);
		rc = hy_mig_move(m, 1, HY_MOVE_PROMOTE, &st);
		CU_ASSERT(rc < 0 && m[0].status == rc);
		CU_ASSERT(rc == -ENODEV || rc == -EINVAL);
		EXPECT_EQ(st.fail_other, 1, "fail_other for node %d", bad[b]);
		if (b == 0)
			printf("\n  %s: node %d -> %ld", kernel, bad[b], rc);
		else
			printf(", %d -> %ld", bad[b], rc);
	}
	printf("\n");
	/* mixed: pages 0-3 to a bad node, 4-7 to the fast node */
	for (int i = 0; i < 8; i++)
		m[i] = (struct hy_move){(uintptr_t)(p + (size_t)i * PG),
					i < 4 ? max_node + 1 : fast_node, 0};
	memset(&st, 0, sizeof st);
	rc = hy_mig_move(m, 8, HY_MOVE_PROMOTE, &st);
	EXPECT_EQ(rc, 4, "the good half moves");
	EXPECT_EQ(st.promote_pages, 4, "promote_pages");
	EXPECT_EQ(st.fail_other, 4, "fail_other");
	EXPECT_EQ(status_vs_query(m, 8), 0, "statuses agree");
	EXPECT_EQ(count_on(p, 4, slow_node), 4, "the bad half stays");
	EXPECT_EQ(checksum(p, 8 * PG), sum, "checksum");
	munmap(p, 8 * PG);
}

static void test_empty_and_null(void)
{
	struct hy_stats st = {0};
	struct hy_move m[1] = {{0, 0, 0}};
	int nodes[2];
	uintptr_t a[1] = {0};
	char *p = map_on(PG, slow_node, false, 10);

	EXPECT_EQ(hy_mig_move(NULL, 0, HY_MOVE_PROMOTE, &st), 0, "NULL, 0");
	EXPECT_EQ(hy_mig_move(m, 0, HY_MOVE_PROMOTE, NULL), 0, "n = 0");
	EXPECT_EQ(hy_mig_move(NULL, 3, HY_MOVE_PROMOTE, &st), -EINVAL, "NULL, 3");
	EXPECT_EQ(hy_mig_query(NULL, 0, NULL), 0, "query NULL, 0");
	EXPECT_EQ(hy_mig_query(NULL, 2, nodes), -EINVAL, "query NULL addrs");
	EXPECT_EQ(hy_mig_query(a, 1, NULL), -EINVAL, "query NULL nodes");
	EXPECT_EQ(memcmp(&st, &(struct hy_stats){0}, sizeof st), 0, "counters untouched");
	/* st may be NULL */
	m[0] = (struct hy_move){(uintptr_t)p, fast_node, 0};
	EXPECT_EQ(hy_mig_move(m, 1, HY_MOVE_PROMOTE, NULL), 1, "st NULL");
	EXPECT_EQ(m[0].status, fast_node, "status");
	/* address 0: nothing mapped there */
	m[0] = (struct hy_move){0, fast_node, 0};
	EXPECT_EQ(hy_mig_move(m, 1, HY_MOVE_PROMOTE, &st), 0, "address 0");
	EXPECT_EQ(st.fail_absent, 1, "fail_absent");
	munmap(p, PG);
}

/* ---- memory pressure on the fast node ---- */

/* A "Node N KEY: v kB" field of the node's meminfo, or -1. */
static long node_meminfo_kb(int node, const char *key)
{
	char path[96], buf[4096], *s;

	snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
	if (read_file(path, buf, sizeof buf) != 0 || !(s = strstr(buf, key)))
		return -1;
	return strtol(s + strlen(key), NULL, 10);
}

static long node_free_kb(int node)
{
	return node_meminfo_kb(node, "MemFree:");
}

/* What the kernel could free on node without touching anonymous memory:
 * page cache and reclaimable slab. */
static long node_reclaimable_kb(int node)
{
	long act = node_meminfo_kb(node, "Active(file):"), inact = node_meminfo_kb(node, "Inactive(file):");
	long slab = node_meminfo_kb(node, "KReclaimable:");

	return act < 0 || inact < 0 || slab < 0 ? -1 : act + inact + slab;
}

/* Free blocks of order >= 9 (2 MiB) on node, zone DMA left out (its
 * memory is kept from movable allocations by the lowmem reserve). */
static long big_free_blocks(int node)
{
	FILE *f = fopen("/proc/buddyinfo", "r");
	char line[512];
	long n = 0;

	while (f && fgets(line, sizeof line, f)) {
		int nd, pos;
		char zone[32];
		long c[16];
		int k = 0;

		if (sscanf(line, "Node %d, zone %31s%n", &nd, zone, &pos) != 2 || nd != node ||
		    !strcmp(zone, "DMA"))
			continue;
		for (char *s = line + pos; k < 16 && sscanf(s, "%ld%n", &c[k], &pos) == 1; s += pos)
			k++;
		for (int o = 9; o < k; o++)
			n += c[o];
	}
	if (f)
		fclose(f);
	return n;
}

/*
 * Fill the fast node: MPOL_PREFERRED, so that the kernel falls back to
 * other nodes instead of OOM-killing us once the fast node reaches its
 * watermark.  Returns the mapping (len in *len).
 */
static char *fill_fast(size_t *len, bool lock)
{
	long long total = numa_node_size64(fast_node, NULL);
	char *f;

	*len = (size_t)total + 128 * MIB;
	f = map_aligned(*len, fast_node, MPOL_PREFERRED, false);
	if (!f)
		return NULL;
	if (lock && mlock2(f, *len, MLOCK_ONFAULT) != 0) {
		munmap(f, *len);
		return NULL;
	}
	for (size_t o = 0; o < *len; o += PG)
		f[o] = 1;
	return f;
}

/* Free pages held in the per-CPU lists of node's zones (not in MemFree). */
static long node_pcp_kb(int node)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	char line[256];
	long n = 0, v;
	int nd, here = 0;

	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "Node %d,", &nd) == 1)
			here = nd == node;
		else if (here && sscanf(line, " count: %ld", &v) == 1)
			n += v;
	}
	if (f)
		fclose(f);
	return f ? n * (long)(PG / 1024) : -1;
}

/* vm.* sysctls a case changes, with their values before (restored in
 * reverse order; an empty old value was never changed). */
struct sysctl_save {
	const char *path;
	char old[64];
};

static void sysctls_restore(struct sysctl_save *s, size_t n)
{
	for (size_t i = n; i-- > 0;)
		if (s[i].old[0])
			write_file(s[i].path, s[i].old);
}

#define PCP_FRACTION "/proc/sys/vm/percpu_pagelist_high_fraction"

/* On each CPU of node: take 64 pages of node and give them back; a free to
 * a per-CPU list above its size trims the list (before 6.7 the only way
 * besides a drain). */
static void pcp_stir(int node)
{
	struct bitmask *cpus = numa_allocate_cpumask();
	cpu_set_t old, one;

	if (sched_getaffinity(0, sizeof old, &old) == 0 && numa_node_to_cpus(node, cpus) == 0)
		for (unsigned c = 0; c < cpus->size && c < CPU_SETSIZE; c++) {
			char *p;

			if (!numa_bitmask_isbitset(cpus, c))
				continue;
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			if (sched_setaffinity(0, sizeof one, &one) != 0)
				continue;
			p = map_aligned(64 * PG, node, MPOL_BIND, false);
			if (p) {
				for (size_t o = 0; o < 64 * PG; o += PG)
					p[o] = 1;
				munmap(p, 64 * PG);
			}
		}
	sched_setaffinity(0, sizeof old, &old);
	numa_free_cpumask(cpus);
}

/* Until node's per-CPU lists hold at most limit_kb, or 60 s have passed
 * (stirred every 0.1 s; a ceiling: under emulation on a busy host the
 * kernel's vmstat worker is slow to trim them); the kB left. */
static long pcp_wait(int node, long limit_kb)
{
	long kb = node_pcp_kb(node);

	for (int i = 0; i < 600 && kb > limit_kb; i++) {
		pcp_stir(node);
		usleep(100 * 1000);
		kb = node_pcp_kb(node);
	}
	return kb;
}

/*
 * Empty node's per-CPU free lists as far as the kernel lets us: the
 * smallest list size (a large vm.percpu_pagelist_high_fraction, the old
 * value kept in *sv), then wait for the lists to be trimmed to it (on
 * frees, pcp_stir, and on 6.7+ by the vmstat worker every second).  A fill
 * stops at the node's watermark with these lists untouched (their pages
 * are not in MemFree), and an allocation with direct reclaim drains them:
 * on 7.3 they held ~20 MiB after a fill.  Returns the kB left.
 */
static long pcp_shrink(int node, struct sysctl_save *sv)
{
	sv->path = PCP_FRACTION;
	sv->old[0] = 0;
	if (read_file(sv->path, sv->old, sizeof sv->old) != 0 || write_file(sv->path, "100000") != 0) {
		sv->old[0] = 0;
		return node_pcp_kb(node);
	}
	return pcp_wait(node, 4096);
}

/* Pages the kernel reclaimed or demoted so far, on any node. */
static long reclaimed(void)
{
	static const char *const names[] = {"pgsteal_kswapd", "pgsteal_direct", "pgdemote_kswapd",
					    "pgdemote_direct", "pgdemote_khugepaged"};
	long n = 0;

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		long v = vmstat(names[i]);

		n += v > 0 ? v : 0;
	}
	return n;
}

/* Target full: moved until the node is at its watermark, the rest -ENOMEM.
 * move_pages allocates with direct reclaim on the target node, so the node
 * is only full if nothing there can be reclaimed: the page cache is dropped
 * before the fill (the filler is locked), and what is left reclaimable is
 * checked against what is moved (under load, a 7.3 run once moved all
 * 32 MiB + a THP with 22 MiB free: the kernel had reclaimed the rest). */
static void test_target_full(void)
{
	const char *why = NULL;
	char *b = map_on(32 * MIB, slow_node, false, 11);
	char *t = thp_on(1, slow_node, 12, &why);
	size_t flen, nb = 32 * MIB / PG, nt = HP / PG;
	uint64_t sumb = checksum(b, 32 * MIB), sumt = t ? checksum(t, HP) : 0;
	struct hy_stats st = {0};
	struct hy_move *m;
	/* locked: the kernel must not make room by reclaiming or demoting the
	 * filler meanwhile (a loaded CI machine gave kswapd the time to) */
	char *f;
	long rc, freekb, rkb, pkb, steal0;
	struct sysctl_save fraction;

	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	pcp_shrink(fast_node, &fraction);
	f = fill_fast(&flen, true);
	if (!b || !f)
		sysctls_restore(&fraction, 1);
	CU_ASSERT_FATAL(b && f);
	freekb = node_free_kb(fast_node);
	rkb = node_reclaimable_kb(fast_node);
	pkb = pcp_wait(fast_node, 32 * 1024 + 2048 - 1024 - freekb - rkb);
	printf("\n  %s: fast node filled, %ld kB free, %ld kB page cache and reclaimable slab, "
	       "%ld kB in per-CPU lists\n",
	       kernel, freekb, rkb, pkb);
	if (freekb < 0 || rkb < 0 || pkb < 0 || freekb + rkb + pkb >= 32 * 1024 + 2048) {
		char msg[200];

		snprintf(msg, sizeof msg,
			 "the fast node is not full: %ld kB free + %ld kB reclaimable + %ld kB in "
			 "per-CPU lists would take the 32 MiB and the THP",
			 freekb, rkb, pkb);
		skip("target_full", msg);
		goto out;
	}
	m = moves_for(b, nb, fast_node);
	steal0 = reclaimed();
	rc = hy_mig_move(m, nb, HY_MOVE_PROMOTE, &st);
	printf("  %s: 32 MiB to the full node: %ld moved, %zu -ENOMEM, %zu -EBUSY "
	       "(%ld pages reclaimed or demoted meanwhile, %ld kB free after, %ld kB in per-CPU lists)\n",
	       kernel, rc, count_status(m, nb, -ENOMEM), count_status(m, nb, -EBUSY),
	       reclaimed() - steal0, node_free_kb(fast_node), node_pcp_kb(fast_node));
	CU_ASSERT(rc >= 0 && rc < (long)nb);
	EXPECT_EQ((long)count_status(m, nb, -ENOMEM), (long)nb - rc, "the rest: -ENOMEM");
	EXPECT_EQ(st.fail_nomem, nb - (size_t)rc, "fail_nomem");
	EXPECT_EQ((long)st.promote_pages, rc, "promote_pages");
	EXPECT_EQ(status_vs_query(m, nb), 0, "statuses agree with the pages' nodes");
	EXPECT_EQ(checksum(b, 32 * MIB), sumb, "checksum");
	free(m);

	if (t) {
		/* 6.1: split, then ENOMEM; 6.12: split, then a positive count */
		memset(&st, 0, sizeof st);
		m = moves_for(t, nt, fast_node);
		rc = hy_mig_move(m, nt, HY_MOVE_PROMOTE, &st);
		printf("  %s: a THP to the full node: %ld moved, %zu -ENOMEM, %zu -EBUSY, "
		       "AnonHugePages %ld kB\n",
		       kernel, rc, count_status(m, nt, -ENOMEM), count_status(m, nt, -EBUSY),
		       anon_huge_kb(t));
		EXPECT_EQ(st.fail_busy, 0, "not classified busy");
		EXPECT_EQ((long)st.fail_nomem, (long)nt - rc, "fail_nomem");
		EXPECT_EQ(status_vs_query(m, nt), 0, "statuses agree with the pages' nodes");
		EXPECT_EQ(checksum(t, HP), sumt, "checksum");
		free(m);
	} else {
		skip("target_full (THP part)", why);
	}
out:
	sysctls_restore(&fraction, 1);
	munmap(f, flen);
	munmap(b, 32 * MIB);
	if (t)
		munmap(t, HP);
}

/*
 * A THP to a fast node that has free memory but no free 2 MiB block.
 * Arranged (root only) by: lowering vm.min_free_kbytes so that the fill can
 * take even the large blocks the watermark reserve keeps free; filling the
 * fast node with mlocked 4 KiB pages; freeing 16 MiB of them at odd page
 * frame numbers (pagemap), so no two freed pages are buddies; taking any
 * 2 MiB block still free with "eaters" (one-byte touches of MADV_HUGEPAGE
 * ranges bound to the fast node: a THP if a block is free, else one page);
 * and keeping compaction away (vm.extfrag_threshold=1000: no compaction
 * for costly orders; vm.compact_unevictable_allowed=0: mlocked pages are
 * not moved); and keeping the per-CPU free lists small
 * (vm.percpu_pagelist_high_fraction), as they can hold free 2 MiB blocks.
 * Expected: the kernel splits the THP, moves its base pages.
 */
#define EATERS 64

static void test_thp_no_free_block(void)
{
	struct sysctl_save sv[] = {
	    {"/proc/sys/vm/min_free_kbytes", ""},
	    {"/proc/sys/vm/extfrag_threshold", ""},
	    {"/proc/sys/vm/compact_unevictable_allowed", ""},
	    {PCP_FRACTION, ""},
	};
	const char *val[] = {"4096", "1000", "0", "100000"};
	const char *why = NULL;
	static char msg[160];
	char *t, *f = NULL, *eater[EATERS] = {0};
	size_t flen = 0, n = HP / PG, freed = 0, eaten = 0;
	struct hy_stats st = {0};
	struct hy_move *m;
	long split0 = vmstat("thp_migration_split"), rc;
	uint64_t sum;
	int pm;

	if (geteuid() != 0) {
		skip("thp_no_free_block", "needs root for vm.* sysctls and pagemap frame numbers");
		return;
	}
	t = thp_on(1, slow_node, 13, &why);
	if (!t) {
		skip("thp_no_free_block", why);
		return;
	}
	sum = checksum(t, HP);
	for (size_t i = 0; i < 4; i++)
		if (read_file(sv[i].path, sv[i].old, sizeof sv[i].old) != 0 ||
		    write_file(sv[i].path, val[i]) != 0) {
			sysctls_restore(sv, i);
			skip("thp_no_free_block", "cannot set vm.* sysctls");
			munmap(t, HP);
			return;
		}
	pcp_wait(fast_node, 4096); /* a 2 MiB block left in a per-CPU list is a free block */
	f = fill_fast(&flen, true);
	if (!f) {
		why = "cannot fill the fast node with mlocked pages";
		goto out;
	}
	/* 16 MiB of holes, none of them buddies of each other */
	pm = open("/proc/self/pagemap", O_RDONLY);
	{
		size_t fp = flen / PG;
		int *nodes = malloc(fp * sizeof *nodes);

		where(f, fp, nodes);
		for (size_t i = fp; i-- > 0 && freed < 4096 && pm >= 0;) {
			uint64_t e;

			if (nodes[i] != fast_node ||
			    pread(pm, &e, 8, (off_t)((uintptr_t)(f + i * PG) / PG * 8)) != 8 ||
			    !(e >> 63) || !(e & 1))
				continue;
			if (munmap(f + i * PG, PG) == 0)
				freed++;
		}
		free(nodes);
	}
	if (pm >= 0)
		close(pm);
	while (big_free_blocks(fast_node) > 0 && eaten < EATERS) {
		eater[eaten] = map_aligned(HP, fast_node, MPOL_BIND, true);
		if (!eater[eaten])
			break;
		eater[eaten++][0] = 1;
	}
	if (freed < 1024 || big_free_blocks(fast_node) > 0) {
		snprintf(msg, sizeof msg,
			 "could not fragment the fast node (%zu holes, %zu eaters, %ld free 2 MiB "
			 "blocks left)",
			 freed, eaten, big_free_blocks(fast_node));
		why = msg;
		goto out;
	}
	printf("\n  %s: fast node: %ld kB free, no free block >= 2 MiB (%zu holes, %zu eaters)\n",
	       kernel, node_free_kb(fast_node), freed, eaten);

	m = moves_for(t, n, fast_node);
	rc = hy_mig_move(m, n, HY_MOVE_PROMOTE, &st);
	printf("  %s: THP without a free 2 MiB block: %ld of 512 moved, AnonHugePages %ld kB, "
	       "thp_migration_split +%ld\n",
	       kernel, rc, anon_huge_kb(t), vmstat("thp_migration_split") - split0);
	if (anon_huge_kb(t) == HP / 1024 && count_on(t, n, fast_node) == n) {
		why = "the kernel found a 2 MiB block after all (moved whole)";
		free(m);
		goto out;
	}
	EXPECT_EQ(rc, n, "the kernel split it and moved every base page");
	EXPECT_EQ(count_status(m, n, fast_node), n, "statuses");
	EXPECT_EQ(st.promote_pages, n, "promote_pages");
	EXPECT_EQ(st.fail_busy + st.fail_nomem + st.fail_other, 0, "no failures");
	EXPECT_EQ(count_on(t, n, fast_node), n, "on the fast node");
	EXPECT_EQ(anon_huge_kb(t), 0, "split: no longer huge");
	EXPECT_EQ(checksum(t, HP), sum, "checksum");
	free(m);
out:
	if (f)
		munmap(f, flen); /* holes included: munmap of a range with gaps is fine */
	for (size_t i = 0; i < eaten; i++)
		munmap(eater[i], HP);
	sysctls_restore(sv, 4);
	munmap(t, HP);
	if (why)
		skip("thp_no_free_block", why);
}

/* ---- throughput: hy_mig_move vs one raw move_pages call ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median5(double *v)
{
	qsort(v, 5, sizeof *v, cmp_double);
	return v[2];
}

struct bench {
	char *p;
	void **pg;
	int *nd[2]; /* [0] all fast, [1] all slow */
	int *status;
	struct hy_move *m;
	uint64_t sum;
	bool ok;
};

/* One move of all 64 MiB to the fast (dir 0) or slow (dir 1) node, by one
 * raw move_pages call or by hy_mig_move; returns its time, checks the rest. */
static double bench_move(struct bench *b, bool hy, int dir)
{
	int to = dir == 0 ? fast_node : slow_node;
	struct hy_stats st = {0};
	double t0, t;
	long rc;

	if (hy)
		for (size_t i = 0; i < BIG_PAGES; i++)
			b->m[i] = (struct hy_move){(uintptr_t)b->pg[i], to, 0};
	t0 = now_s();
	if (hy)
		rc = hy_mig_move(b->m, BIG_PAGES, dir == 0 ? HY_MOVE_PROMOTE : HY_MOVE_DEMOTE,
				 &st) == (long)BIG_PAGES
			 ? 0
			 : -1;
	else
		rc = syscall(SYS_move_pages, 0, BIG_PAGES, b->pg, b->nd[dir], b->status,
			     MPOL_MF_MOVE);
	t = now_s() - t0;
	b->ok &= rc == 0 && count_on(b->p, BIG_PAGES, to) == BIG_PAGES;
	b->ok &= checksum(b->p, BIG) == b->sum;
	return t;
}

/*
 * Median of 5 times per method and direction.  Each repetition moves up
 * with both methods (the first one's move is undone untimed) and down the
 * same way; which method goes first alternates, so neither always follows
 * the other.  Returns false if a move failed.
 */
static bool measure(char *p, bool huge, double *ratio_up, double *ratio_down)
{
	struct bench b = {.p = p, .sum = checksum(p, BIG), .ok = true};
	double t[2][2][5]; /* [hy][dir][rep] */

	b.pg = malloc(BIG_PAGES * sizeof *b.pg);
	b.nd[0] = malloc(BIG_PAGES * sizeof(int));
	b.nd[1] = malloc(BIG_PAGES * sizeof(int));
	b.status = malloc(BIG_PAGES * sizeof(int));
	b.m = calloc(BIG_PAGES, sizeof *b.m);
	for (size_t i = 0; i < BIG_PAGES; i++) {
		b.pg[i] = p + i * PG;
		b.nd[0][i] = fast_node;
		b.nd[1][i] = slow_node;
	}
	for (int r = 0; r < 5; r++) {
		bool hy_first = r % 2;

		for (int dir = 0; dir < 2; dir++) {
			t[hy_first][dir][r] = bench_move(&b, hy_first, dir);
			bench_move(&b, false, !dir); /* undo, untimed */
			t[!hy_first][dir][r] = bench_move(&b, !hy_first, dir);
		}
	}
	{
		double pu[5], pd[5], ru, rd, hu, hd;

		/* ratio of each repetition's adjacent pair, then the median: the
		 * host's load drifts less within a pair than across the run
		 * (taken before median5 sorts the times) */
		for (int r = 0; r < 5; r++) {
			pu[r] = t[0][0][r] / t[1][0][r];
			pd[r] = t[0][1][r] / t[1][1][r];
		}
		*ratio_up = median5(pu);
		*ratio_down = median5(pd);
		ru = median5(t[0][0]), rd = median5(t[0][1]);
		hu = median5(t[1][0]), hd = median5(t[1][1]);
		printf("  %s, 64 MiB %s: raw %.0f/%.0f MiB/s, hy_mig_move %.0f/%.0f MiB/s "
		       "(up/down, median of 5);"
		       " fastest of 5: ratio %.3f/%.3f\n",
		       kernel, huge ? "THP" : "4 KiB pages", 64 / ru, 64 / rd, 64 / hu, 64 / hd,
		       t[0][0][0] / t[1][0][0], t[0][1][0] / t[1][1][0]);
	}
	free(b.pg), free(b.nd[0]), free(b.nd[1]), free(b.status), free(b.m);
	return b.ok;
}

/*
 * What one move_pages call costs besides the pages (the kernel drains the
 * LRU caches of every CPU and waits for an expedited RCU grace period):
 * median of 21 calls for one page already on its node.
 */
static double call_toll(char *p)
{
	double t[21];
	void *a = p;
	int node = fast_node, status;

	for (int i = 0; i < 21; i++) {
		double t0 = now_s();
		syscall(SYS_move_pages, 0, 1, &a, &node, &status, MPOL_MF_MOVE);
		t[i] = now_s() - t0;
	}
	qsort(t, 21, sizeof *t, cmp_double);
	return t[10];
}

static void test_throughput(void)
{
	char *p = map_on(BIG, slow_node, false, 14);
	const char *why;
	double up, down, toll;

	CU_ASSERT_FATAL(p != NULL);
	toll = call_toll(p);
	printf("\n  %s: one move_pages call costs %.0f us besides its pages\n", kernel, toll * 1e6);
	CU_ASSERT(measure(p, false, &up, &down));
	printf("  %s: THROUGHPUT RATIO hy_mig_move / raw move_pages, 4 KiB pages: promote %.3f, "
	       "demote %.3f (median of 5 paired runs; target >= 0.9)\n",
	       kernel, up, down);
	munmap(p, BIG);
	p = thp_on(BIG / HP, slow_node, 15, &why);
	if (!p) {
		skip("throughput (THP)", why);
		return;
	}
	CU_ASSERT(measure(p, true, &up, &down));
	printf("  %s: THROUGHPUT RATIO hy_mig_move / raw move_pages, THP: promote %.3f, demote "
	       "%.3f (median of 5 paired runs; target >= 0.9)\n",
	       kernel, up, down);
	munmap(p, BIG);
}

static const struct hy_test tests[] = {
    HY_TEST(test_empty_and_null),
    HY_TEST(test_roundtrip_64m),
    HY_TEST(test_query),
    HY_TEST(test_absent),
    HY_TEST(test_shared_with_child),
    HY_TEST(test_mlocked),
    HY_TEST(test_pinned),
    HY_TEST(test_many_failed_chunks),
    HY_TEST(test_bad_nodes),
    HY_TEST(test_thp_whole),
    HY_TEST(test_thp_64m),
    HY_TEST(test_thp_pinned),
    HY_TEST(test_throughput),
    HY_TEST(test_target_full),
    HY_TEST(test_thp_no_free_block),
};

static int cpus_of(int node)
{
	struct bitmask *b = numa_allocate_cpumask();
	int n = numa_node_to_cpus(node, b) == 0 ? (int)numa_bitmask_weight(b) : -1;

	numa_free_cpumask(b);
	return n;
}

/* Before the first case: the two nodes to move between, THP made available;
 * NULL, or why no case can run here. */
static const char *nodes(void)
{
	static char why[128];
	int mem_nodes = 0;
	char *k = getenv("TIERED_VM_KERNEL");

	if (numa_available() < 0)
		return "no NUMA support in this kernel";
	max_node = numa_max_node();
	fast_node = slow_node = -1;
	for (int n = 0; n <= max_node; n++) {
		if (!numa_bitmask_isbitset(numa_all_nodes_ptr, n) || numa_node_size64(n, NULL) <= 0)
			continue;
		mem_nodes++;
		if (cpus_of(n) > 0 && fast_node < 0)
			fast_node = n;
		if (cpus_of(n) == 0)
			slow_node = n;
	}
	if (mem_nodes < 2) {
		snprintf(why, sizeof(why),
			 "%d NUMA node(s) with memory; moving pages needs at least 2", mem_nodes);
		return why;
	}
	if (fast_node < 0)
		fast_node = 0;
	if (slow_node < 0 || slow_node == fast_node)
		for (int n = 0; n <= max_node; n++)
			if (n != fast_node && numa_node_size64(n, NULL) > 0)
				slow_node = n;
	if (k)
		kernel = k;
	printf("test_migrate: kernel %s, fast node %d, slow node %d\n", kernel, fast_node,
	       slow_node);
	thp_setup();
	return NULL;
}

static const struct hy_suite suites[] = {HY_SUITE(NULL, tests, nodes)};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return hy_cunit_main(argc - 1, argv + 1, "migrate", suites, 1);
}
