/* SPDX-License-Identifier: MIT */
/*
 * The tracking backends (track.h) against real memory on the running
 * kernel: exact reports for armed pages, nothing for pages not armed,
 * re-arming, removal, data integrity, never-touched pages, huge pages,
 * kernel-mode faults (read(2) into an armed page), blocked and concurrent
 * writers, fork, and the choice of backend; for rwp (Linux 7.3) reads,
 * zaps and kernel reads of armed pages.
 *
 *   test_track [common] [async] [sync] [rwp] [SUITE.CASE]...   (default: all)
 *
 * The cases of a backend that cannot run here skip, with the reason.
 * tests/vm runs "sync common" on 6.1 and everything on 6.12 and 7.3.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support.h"
#include "kfeat.h"
#include "track.h"
#include "track_impl.h"

#define PG     ((size_t)4096)
#define NPAGES 4096 /* 16 MiB */
#define LEN    (NPAGES * PG)
#define WORDS  (NPAGES / 64)

static int backend; /* of the suite running */
static struct hy_kfeat kf;

/* ---- helpers ---- */

static char *map(size_t len, bool populate)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE); /* base pages: exact reports */
	if (populate)
		for (size_t i = 0; i < len / 8; i++)
			((uint64_t *)p)[i] = i * 0x9e3779b97f4a7c15ull;
	return p;
}

/* One 8-byte write into page pg, mirrored into the shadow copy. */
static void poke(char *p, char *shadow, size_t pg, uint64_t v)
{
	size_t off = pg * PG + (v % (PG / 8)) * 8;

	*(volatile uint64_t *)(p + off) = v;
	if (shadow)
		*(uint64_t *)(shadow + off) = v;
}

static char *shadow_of(const char *p, size_t len)
{
	char *s = malloc(len);

	if (s)
		memcpy(s, p, len);
	return s;
}

static struct hy_track *open_b(int b, struct hy_stats *st)
{
	struct hy_track *t = NULL;
	struct hy_err err = {{0}};
	int rc = hy_track_open(&t, b, st, &err);

	if (rc)
		fprintf(stderr, "hy_track_open(%d): %d %s\n", b, rc, err.msg);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	return t;
}

static long count_bits(const uint64_t *w, size_t words)
{
	long n = 0;

	for (size_t i = 0; i < words; i++)
		n += __builtin_popcountll(w[i]);
	return n;
}

static bool bit(const uint64_t *w, size_t i)
{
	return w[i / 64] >> (i % 64) & 1;
}

/* ---- the same tests for each backend ---- */

/* Arm all, write {3, 100, 2000}: exactly those; then nothing. */
static void t_exact(void)
{
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true), *sh = shadow_of(p, LEN);
	uint64_t w[WORDS];
	const size_t pages[] = {3, 100, 2000};

	CU_ASSERT_FATAL(p && sh);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	CU_ASSERT_EQUAL(hy_stat_get(&st, pages_armed), NPAGES);
	for (size_t k = 0; k < 3; k++)
		poke(p, sh, pages[k], 0x1111 * (k + 1));
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 3);
	CU_ASSERT_EQUAL(count_bits(w, WORDS), 3);
	for (size_t k = 0; k < 3; k++)
		CU_ASSERT(bit(w, pages[k]));
	memset(w, 0xff, sizeof(w));
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	CU_ASSERT_EQUAL(count_bits(w, WORDS), 0);
	/* re-armed: the same pages are seen again */
	poke(p, sh, 100, 77);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 100));
	if (backend == HY_BACKEND_SYNC)
		CU_ASSERT_EQUAL(hy_stat_get(&st, wp_faults), 4);
	if (backend == HY_BACKEND_ASYNC)
		CU_ASSERT_EQUAL(hy_stat_get(&st, pages_scanned), 3 * NPAGES);
	CU_ASSERT_EQUAL(hy_stat_get(&st, pages_armed), NPAGES + 4);
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	hy_track_close(t);
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	munmap(p, LEN);
	free(sh);
}

/* Every other page armed, every page written: only the armed ones. */
static void t_subset(void)
{
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true), *sh = shadow_of(p, LEN);
	uint64_t arm[WORDS], w[WORDS];
	long n;

	CU_ASSERT_FATAL(p && sh);
	for (size_t i = 0; i < WORDS; i++)
		arm[i] = 0x5555555555555555ull;
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, arm), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		poke(p, sh, pg, pg * 31 + 7);
	n = hy_track_harvest(t, (uintptr_t)p, LEN, w);
	if (n != NPAGES / 2)
		printf("\n    harvest %ld, faults %llu, w[0] %llx ", n,
		       (unsigned long long)hy_stat_get(&st, wp_faults), (unsigned long long)w[0]);
	CU_ASSERT_EQUAL(n, NPAGES / 2);
	CU_ASSERT(memcmp(w, arm, sizeof(w)) == 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	/* now arm the other half: the first half is released */
	for (size_t i = 0; i < WORDS; i++)
		arm[i] = ~arm[i];
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, arm), 0);
	for (size_t pg = 0; pg < NPAGES; pg += 2)
		poke(p, sh, pg, pg * 17 + 3); /* the released half only */
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	poke(p, sh, 1, 5);
	poke(p, sh, NPAGES - 1, 6);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 2);
	CU_ASSERT(bit(w, 1) && bit(w, NPAGES - 1));
	if (backend == HY_BACKEND_SYNC)
		CU_ASSERT_EQUAL(hy_stat_get(&st, wp_faults), NPAGES / 2 + 2);
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	hy_track_close(t);
	munmap(p, LEN);
	free(sh);
}

/* Registered but not armed: nothing reported, nothing faults. */
static void t_unarmed(void)
{
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true);
	uint64_t w[WORDS];

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	for (size_t pg = 0; pg < NPAGES; pg += 3)
		poke(p, NULL, pg, pg);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	CU_ASSERT_EQUAL(hy_stat_get(&st, wp_faults), 0);
	CU_ASSERT_EQUAL(hy_stat_get(&st, pages_armed), 0);
	hy_track_close(t);
	munmap(p, LEN);
}

/*
 * Re-arming without a harvest keeps what the still-armed pages saw: a write
 * before arm() is reported after it.  A sub-window works on its own pages.
 */
static void t_rearm_window(void)
{
	struct hy_track *t = open_b(backend, NULL);
	char *p = map(LEN, true);
	uint64_t w[WORDS], arm[WORDS] = {0};

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	poke(p, NULL, 5, 1);
	poke(p, NULL, 70, 1);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 2);
	CU_ASSERT(bit(w, 5) && bit(w, 70));
	/* a window [64, 128) at an unaligned place of the range */
	poke(p, NULL, 70, 2);
	poke(p, NULL, 200, 2);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p + 64 * PG, 64 * PG, w), 1);
	CU_ASSERT(bit(w, 6));
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 200));
	/* disarm everything in a window, arm one page of it */
	arm[0] = 1ull << 9;
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p + 3 * PG, 64 * PG, arm), 0);
	poke(p, NULL, 5, 3);  /* window page 2: released */
	poke(p, NULL, 12, 3); /* window page 9: armed */
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 12));
	hy_track_close(t);
	munmap(p, LEN);
}

/*
 * Removal: harvest and arm of a removed range fail with -EINVAL (defined:
 * a range the tracker does not hold is an error, not "nothing written"), and
 * its pages are released.  Removing a middle part splits the range; each
 * side keeps its armed pages.
 */
static void t_remove(void)
{
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true), *sh = shadow_of(p, LEN);
	uintptr_t a = (uintptr_t)p, hole = a + 1000 * PG;
	size_t hole_len = 1000 * PG;
	uint64_t w[WORDS];
	uint64_t faults;

	CU_ASSERT_FATAL(p && sh);
	CU_ASSERT_EQUAL(hy_track_add(t, a, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, a, LEN, NULL), 0);
	poke(p, sh, 10, 1);
	poke(p, sh, 1500, 1);
	poke(p, sh, 3000, 1);
	CU_ASSERT_EQUAL(hy_track_remove(t, hole, hole_len), 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, a, LEN, w), -EINVAL);
	CU_ASSERT_EQUAL(hy_track_harvest(t, hole, hole_len, w), -EINVAL);
	CU_ASSERT_EQUAL(hy_track_arm(t, hole, hole_len, NULL), -EINVAL);
	CU_ASSERT_EQUAL(hy_track_harvest(t, a, 1000 * PG, w), 1);
	CU_ASSERT(bit(w, 10));
	CU_ASSERT_EQUAL(hy_track_harvest(t, a + 2000 * PG, LEN - 2000 * PG, w), 1);
	CU_ASSERT(bit(w, 1000));
	/* the hole is released: writing it costs no fault and blocks nothing */
	faults = hy_stat_get(&st, wp_faults);
	for (size_t pg = 1000; pg < 2000; pg++)
		poke(p, sh, pg, pg + 1);
	CU_ASSERT_EQUAL(hy_stat_get(&st, wp_faults), faults);
	/* the two sides are still armed */
	poke(p, sh, 999, 1);
	poke(p, sh, 2000, 1);
	CU_ASSERT_EQUAL(hy_track_harvest(t, a, 1000 * PG, w), 1);
	CU_ASSERT(bit(w, 999));
	CU_ASSERT_EQUAL(hy_track_harvest(t, a + 2000 * PG, LEN - 2000 * PG, w), 1);
	CU_ASSERT(bit(w, 0));
	/* remove all: everything fails, the memory is plain memory again */
	CU_ASSERT_EQUAL(hy_track_remove(t, a, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, a, 1000 * PG, w), -EINVAL);
	for (size_t pg = 0; pg < NPAGES; pg++)
		poke(p, sh, pg, pg + 2);
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	/* add again over the same memory */
	CU_ASSERT_EQUAL(hy_track_add(t, a, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, a, LEN, NULL), 0);
	poke(p, sh, 4000, 9);
	CU_ASSERT_EQUAL(hy_track_harvest(t, a, LEN, w), 1);
	CU_ASSERT(bit(w, 4000));
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	hy_track_close(t);
	munmap(p, LEN);
	free(sh);
}

/*
 * Never-touched pages.  With WP_UNPOPULATED (always with async) an armed
 * page that was never touched is covered: its first write is reported, a
 * read is not.  Without it (sync on 6.1-6.3) the first write is not seen;
 * the next arm() protects the now populated page.  rwp cannot protect a
 * page that is not there, but its first touch maps it unprotected, which
 * reads as accessed: the write and the read (of the zero page) are both
 * reported, and the harvest protects them.
 */
static void t_unpopulated(void)
{
	struct hy_track *t = open_b(backend, NULL);
	char *p = map(LEN, false);
	uint64_t w[WORDS];
	bool covered = backend != HY_BACKEND_SYNC || kf.wp_unpopulated;
	bool rwp = backend == HY_BACKEND_RWP;
	volatile char c;

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	poke(p, NULL, 7, 1);
	c = p[9 * PG];
	(void)c;
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), rwp ? 2 : covered ? 1 : 0);
	CU_ASSERT(bit(w, 7) == covered);
	CU_ASSERT(bit(w, 9) == rwp);
	if (rwp) { /* protected now: seen again, the read too */
		poke(p, NULL, 7, 1);
		c = p[9 * PG + 1];
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 2);
		CU_ASSERT(bit(w, 7) && bit(w, 9));
	}
	if (!covered) {
		printf("\n    (no WP_UNPOPULATED: first write to a never-touched page not seen, "
		       "as documented) ");
		CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
		poke(p, NULL, 7, 2);
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
		CU_ASSERT(bit(w, 7));
	}
	CU_ASSERT_EQUAL(*(volatile uint64_t *)(p + 7 * PG + 8), 1);
	hy_track_close(t);
	munmap(p, LEN);
}

/* A write done by the kernel (read(2) from a pipe) into armed pages, one
 * populated and one never touched: completes, data right, page reported. */
static void t_syscall_write(void)
{
	struct hy_track *t = open_b(backend, NULL);
	char *p = map(LEN, true), *q = map(64 * PG, false), src[PG];
	uint64_t w[WORDS];
	int fd[2];

	CU_ASSERT_FATAL(p && q && pipe(fd) == 0);
	for (size_t i = 0; i < PG; i++)
		src[i] = (char)(i * 7 + 1);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)q, 64 * PG), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)q, 64 * PG, NULL), 0);
	CU_ASSERT_EQUAL(write(fd[1], src, PG), (ssize_t)PG);
	CU_ASSERT_EQUAL(read(fd[0], p + 42 * PG, PG), (ssize_t)PG);
	CU_ASSERT(memcmp(p + 42 * PG, src, PG) == 0);
	CU_ASSERT_EQUAL(write(fd[1], src, PG), (ssize_t)PG);
	CU_ASSERT_EQUAL(read(fd[0], q + 5 * PG, PG), (ssize_t)PG);
	CU_ASSERT(memcmp(q + 5 * PG, src, PG) == 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 42));
	if (backend != HY_BACKEND_SYNC || kf.wp_unpopulated) {
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)q, 64 * PG, w), 1);
		CU_ASSERT(bit(w, 5));
	}
	close(fd[0]);
	close(fd[1]);
	hy_track_close(t);
	munmap(p, LEN);
	munmap(q, 64 * PG);
}

static long anon_huge_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "AnonHugePages:", 14))
			v = atol(line + 14);
	if (f)
		fclose(f);
	return v;
}

/*
 * Huge pages (documented in track_async.c): an armed THP written at one
 * place reports that 4 KiB page only; the kernel splits the PMD.  With rwp
 * the first access reports all 512 pages and the harvest splits the
 * mapping; from then on pages are reported one by one.
 */
static void t_thp(void)
{
	struct hy_track *t = open_b(backend, NULL);
	size_t hl = 2u << 20, maplen = 3 * hl;
	char *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *h = (char *)(((uintptr_t)m + hl - 1) & ~(uintptr_t)(hl - 1));
	uint64_t w[512 / 64];
	long before;

	CU_ASSERT_FATAL(m != MAP_FAILED);
	before = anon_huge_kb();
	if (madvise(h, hl, MADV_HUGEPAGE) == 0)
		memset(h, 1, hl);
	if (anon_huge_kb() < before + 2048) {
		hy_skip("no transparent huge page here (THP off or memory fragmented)");
		hy_track_close(t);
		munmap(m, maplen);
		return;
	}
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)h, hl), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)h, hl, NULL), 0);
	CU_ASSERT(anon_huge_kb() >= before + 2048); /* arming whole keeps it huge */
	h[77 * PG + 5] = 2;
	if (backend == HY_BACKEND_RWP) {
		volatile char c;

		/* the first access seen: all 512, and the harvest splits the
		 * mapping (the THP stays whole) so that pages are seen one by one */
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)h, hl, w), 512);
		printf("\n    (rwp: AnonHugePages %ld kB once populated, %ld kB after one write "
		       "and its harvest; still a THP: %d) ",
		       before + 2048, anon_huge_kb(), thp_probe(h));
		CU_ASSERT(anon_huge_kb() < before + 2048);
		CU_ASSERT_EQUAL(thp_probe(h), 1);
		c = h[300 * PG]; /* a read */
		(void)c;
		h[301 * PG] = 3; /* a write */
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)h, hl, w), 2);
		CU_ASSERT(bit(w, 300) && bit(w, 301));
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)h, hl, w), 0);
		CU_ASSERT_EQUAL(h[301 * PG], 3);
	} else {
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)h, hl, w), 1);
		CU_ASSERT(bit(w, 77));
		printf("\n    (AnonHugePages %ld kB once populated, %ld kB after one write) ",
		       before + 2048, anon_huge_kb());
	}
	CU_ASSERT_EQUAL(h[77 * PG + 5], 2);
	CU_ASSERT_EQUAL(h[78 * PG], 1);
	hy_track_close(t);
	munmap(m, maplen);
}

/* The calibration ran and gave plausible numbers.  The ceilings catch a
 * broken measure, not a slow machine: the sync round trip took 13.8 ms of
 * CPU in the emulated VM beside other VMs (0.1-5 ms usually). */
static void t_cost(void)
{
	struct hy_track *t = open_b(backend, NULL);
	struct hy_track_cost c;

	hy_track_cost(t, &c);
	printf("\n    (%s: first write to an armed page %llu ns, harvest %llu ns/page) ",
	       hy_track_name(t), (unsigned long long)c.fault_ns,
	       (unsigned long long)c.harvest_ns_per_page);
	CU_ASSERT(c.fault_ns > 0 && c.fault_ns < 1000000000);
	CU_ASSERT(c.harvest_ns_per_page > 0 && c.harvest_ns_per_page < 10000000);
	hy_track_close(t);
}

/*
 * After fork the child must not act on the parent's memory through the
 * inherited userfaultfd: calls fail with -ECHILD, close only frees; the
 * child's copy of an armed page is plain memory.
 */
static void t_fork(void)
{
	struct hy_track *t = open_b(backend, NULL);
	char *p = map(LEN, true);
	uint64_t w[WORDS];
	int status = -1;
	pid_t pid;

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	pid = fork();
	if (pid == 0) {
		int bad = 0;
		alarm(20);
		poke(p, NULL, 1, 1); /* must not block */
		bad |= hy_track_harvest(t, (uintptr_t)p, LEN, w) != -ECHILD;
		bad |= hy_track_arm(t, (uintptr_t)p, LEN, NULL) != -ECHILD;
		bad |= hy_track_remove(t, (uintptr_t)p, LEN) != -ECHILD;
		hy_track_close(t);
		_exit(bad);
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the parent's tracking is untouched by the child */
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	poke(p, NULL, 2, 1);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 2));
	hy_track_close(t);
	munmap(p, LEN);
}

/* ---- rwp only: reads, zaps, the kernel reading armed pages ---- */

/* Reads are seen exactly, like writes; the data is untouched. */
static void t_reads(void)
{
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true), *sh = shadow_of(p, LEN);
	uint64_t w[WORDS], sum = 0;
	const size_t pages[] = {3, 100, 2000, 4095};

	CU_ASSERT_FATAL(p && sh);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	for (size_t k = 0; k < 4; k++)
		sum += *(volatile uint64_t *)(p + pages[k] * PG + 64 * k);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 4);
	CU_ASSERT_EQUAL(count_bits(w, WORDS), 4);
	for (size_t k = 0; k < 4; k++)
		CU_ASSERT(bit(w, pages[k]));
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	/* a read and a write of the same page: one page */
	sum += *(volatile uint64_t *)(p + 9 * PG);
	poke(p, sh, 9, 5);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 9));
	CU_ASSERT(sum != 0);
	hy_track_close(t);
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	munmap(p, LEN);
	free(sh);
}

/*
 * Zaps drop the protection (userfaultfd.rst): an armed page discarded with
 * MADV_DONTNEED and not touched again reads as not accessed; touched again
 * it comes back unprotected, reads as accessed, and the harvest re-arms
 * it.  MADV_FREE'd pages written again before reclaim: seen, data right.
 */
static void t_zap(void)
{
	struct hy_track *t = open_b(backend, NULL);
	char *p = map(LEN, true);
	uint64_t w[WORDS];
	volatile uint64_t v;

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	CU_ASSERT_EQUAL(madvise(p + 10 * PG, 10 * PG, MADV_DONTNEED), 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 0);
	v = *(volatile uint64_t *)(p + 12 * PG); /* the zero page now */
	CU_ASSERT_EQUAL(v, 0);
	poke(p, NULL, 13, 7);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 2);
	CU_ASSERT(bit(w, 12) && bit(w, 13));
	/* re-armed by that harvest: seen again */
	v = *(volatile uint64_t *)(p + 13 * PG + (7 % (PG / 8)) * 8);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 13));
	/* MADV_FREE, then reuse before any reclaim */
	CU_ASSERT_EQUAL(madvise(p + 30 * PG, 10 * PG, MADV_FREE), 0);
	poke(p, NULL, 31, 9);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 1);
	CU_ASSERT(bit(w, 31));
	v = *(volatile uint64_t *)(p + 31 * PG + (9 % (PG / 8)) * 8);
	CU_ASSERT_EQUAL(v, 9);
	hy_track_close(t);
	munmap(p, LEN);
}

/*
 * The kernel reading armed pages (write(2) from them, process_vm_readv,
 * O_DIRECT from a file into them and out of them): each works exactly as
 * without tracking, and the pages are reported as accessed.
 */
static void t_kernel_reads(void)
{
	struct hy_track *t = open_b(backend, NULL);
	static const char *const dirs[] = {"/tmp", "/dev/shm", "/var/tmp"};
	char *p = map(LEN, true), *sh = shadow_of(p, LEN), buf[PG];
	struct iovec local = {.iov_base = buf, .iov_len = PG}, remote;
	uint64_t w[WORDS];
	int fd[2], f;

	CU_ASSERT_FATAL(p && sh && pipe(fd) == 0);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	/* write(2) out of an armed page */
	CU_ASSERT_EQUAL(write(fd[1], p + 50 * PG, PG), (ssize_t)PG);
	CU_ASSERT_EQUAL(read(fd[0], buf, PG), (ssize_t)PG);
	CU_ASSERT(memcmp(buf, sh + 50 * PG, PG) == 0);
	/* process_vm_readv of our own armed page */
	remote.iov_base = p + 60 * PG;
	remote.iov_len = PG;
	CU_ASSERT_EQUAL(process_vm_readv(getpid(), &local, 1, &remote, 1, 0), (ssize_t)PG);
	CU_ASSERT(memcmp(buf, sh + 60 * PG, PG) == 0);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 2);
	CU_ASSERT(bit(w, 50) && bit(w, 60));
	/* O_DIRECT: out of page 70 into a file, back into page 80 (GUP both ways) */
	f = -1;
	for (size_t k = 0; f < 0 && k < sizeof(dirs) / sizeof(dirs[0]); k++)
		f = open(dirs[k], O_TMPFILE | O_RDWR | O_DIRECT, 0600);
	if (f < 0) {
		printf("\n    (no file system here takes O_DIRECT (%s): that part not tried) ",
		       strerror(errno));
	} else {
		CU_ASSERT_EQUAL(pwrite(f, p + 70 * PG, PG, 0), (ssize_t)PG);
		CU_ASSERT_EQUAL(pread(f, p + 80 * PG, PG, 0), (ssize_t)PG);
		memcpy(sh + 80 * PG, sh + 70 * PG, PG);
		close(f);
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), 2);
		CU_ASSERT(bit(w, 70) && bit(w, 80));
	}
	close(fd[0]);
	close(fd[1]);
	CU_ASSERT(memcmp(p, sh, LEN) == 0);
	hy_track_close(t);
	munmap(p, LEN);
	free(sh);
}

/* ---- sync only: threads ---- */

struct writer {
	pthread_t th;
	char *p;
	size_t from, step, n;
	int rounds;
	bool done;
};

static void *writer(void *arg)
{
	struct writer *wr = arg;

	for (int r = 0; r < wr->rounds; r++)
		for (size_t pg = wr->from; pg < wr->n; pg += wr->step)
			poke(wr->p, NULL, pg, (uint64_t)(pg * 1000 + wr->from * 10 + (size_t)r));
	__atomic_store_n(&wr->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Wait up to `sec` seconds for a writer; false if it is still blocked. */
static bool finished(struct writer *wr, int sec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += sec;
	return pthread_timedjoin_np(wr->th, NULL, &ts) == 0;
}

/* A thread blocked on a write fault is released by the handler, and
 * also while the policy side is busy arming and harvesting. */
static void t_blocked_released(void)
{
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true);
	struct writer wr = {.p = p, .from = 0, .step = 1, .n = NPAGES, .rounds = 1};
	uint64_t w[WORDS];
	long seen = 0, n;

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	CU_ASSERT_FATAL(pthread_create(&wr.th, NULL, writer, &wr) == 0);
	while (!__atomic_load_n(&wr.done, __ATOMIC_ACQUIRE)) {
		n = hy_track_harvest(t, (uintptr_t)p, LEN, w);
		CU_ASSERT(n >= 0);
		seen += n > 0 ? n : 0;
	}
	CU_ASSERT(finished(&wr, 30));
	seen += hy_track_harvest(t, (uintptr_t)p, LEN, w);
	/* re-armed pages may fault again in the same round: at least each once */
	CU_ASSERT(seen >= NPAGES);
	CU_ASSERT((long)hy_stat_get(&st, wp_faults) >= NPAGES);
	hy_track_close(t);
	munmap(p, LEN);
}

/* Eight threads write interleaved pages (and share page 0) at once:
 * every page reported once, data as written, faults counted. */
static void t_many_threads(void)
{
	enum { NT = 8 };
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true);
	struct writer wr[NT];
	uint64_t w[WORDS];
	bool ok = true;

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	for (int i = 0; i < NT; i++) {
		wr[i] = (struct writer){
		    .p = p, .from = (size_t)i, .step = NT, .n = NPAGES, .rounds = 2};
		CU_ASSERT_FATAL(pthread_create(&wr[i].th, NULL, writer, &wr[i]) == 0);
	}
	for (int i = 0; i < NT; i++)
		CU_ASSERT(finished(&wr[i], 60));
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, LEN, w), NPAGES);
	CU_ASSERT(hy_stat_get(&st, wp_faults) >= NPAGES);
	CU_ASSERT(hy_stat_get(&st, wp_faults) <= 2 * NPAGES);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		uint64_t v = (uint64_t)(pg * 1000 + (pg % NT) * 10 + 1);
		ok &= *(uint64_t *)(p + pg * PG + (v % (PG / 8)) * 8) == v;
	}
	CU_ASSERT(ok);
	hy_track_close(t);
	munmap(p, LEN);
}

/* close() while writers keep hitting armed pages: nobody is left blocked
 * and the memory stays usable. */
static uint64_t faults_of(void *st)
{
	return hy_stat_get((struct hy_stats *)st, wp_faults);
}

static void t_close_under_writers(void)
{
	enum { NT = 4 };
	struct hy_stats st = {0};
	struct hy_track *t = open_b(backend, &st);
	char *p = map(LEN, true);
	struct writer wr[NT];

	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, LEN), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, LEN, NULL), 0);
	for (int i = 0; i < NT; i++) {
		wr[i] = (struct writer){
		    .p = p, .from = (size_t)i, .step = NT, .n = NPAGES, .rounds = 50};
		CU_ASSERT_FATAL(pthread_create(&wr[i].th, NULL, writer, &wr[i]) == 0);
	}
	/* the writers are hitting armed pages: faults are being handled */
	CU_ASSERT(hy_wait_for(faults_of, &st, NT, HY_WAIT_CEILING) >= NT);
	hy_track_close(t);
	for (int i = 0; i < NT; i++)
		CU_ASSERT(finished(&wr[i], 60));
	poke(p, NULL, 0, 1);
	munmap(p, LEN);
}

/* ---- common: choosing a backend ---- */

static void t_choice(void)
{
	struct hy_kfeat k = kf;
	struct hy_track *t = NULL;
	struct hy_err err;
	const char *why, *expect = hy_kfeat_backend(&kf, &why);

	/* auto picks what the probe says */
	CU_ASSERT_EQUAL(hy_track_open(&t, HY_BACKEND_AUTO, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(hy_track_name(t), expect);
	CU_ASSERT(!strcmp(expect, "off") ? err.msg[0] != 0 : err.msg[0] == 0);
	hy_track_close(t);

	/* RWP: auto takes rwp where the kernel has it (7.3); without, async */
	if (hy_kfeat_rwp(&kf)) {
		CU_ASSERT_STRING_EQUAL(expect, "rwp");
		k.rwp = false;
		CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_AUTO, &k, NULL, &err), 0);
		CU_ASSERT_STRING_EQUAL(hy_track_name(t), kf.wp_async ? "async" : "sync");
		CU_ASSERT_EQUAL(err.msg[0], 0);
		hy_track_close(t);
	}
	k.rwp = false;
	CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_RWP, &k, NULL, &err), -ENOTSUP);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "7.3"));
	printf("\n    (rwp refused: %s) ", err.msg);
	k.rwp = kf.rwp;
	k.pagemap_accessed = false;
	CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_RWP, &k, NULL, &err), -ENOTSUP);
	k.rwp = false;

	/* no WP_ASYNC: explicit async refused, auto takes sync */
	k.wp_async = false;
	CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_ASYNC, &k, NULL, &err), -ENOTSUP);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "WP_ASYNC"));
	printf("\n    (async refused: %s) ", err.msg);
	if (kf.uffd_kernel_faults && kf.wp) {
		CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_AUTO, &k, NULL, &err), 0);
		CU_ASSERT_STRING_EQUAL(hy_track_name(t), "sync");
		CU_ASSERT_EQUAL(err.msg[0], 0);
		hy_track_close(t);
	}

	/* and user-mode-only: explicit sync refused, auto is off with a reason */
	k.uffd_kernel_faults = false;
	CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_SYNC, &k, NULL, &err), -ENOTSUP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "EFAULT"));
	printf("\n    (sync refused: %s) ", err.msg);
	CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_AUTO, &k, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(hy_track_name(t), "off");
	CU_ASSERT(err.msg[0] != 0);
	printf("\n    (auto: off, %s) ", err.msg);
	hy_track_close(t);

	/* no userfaultfd at all */
	k.uffd = false;
	CU_ASSERT_EQUAL(hy_track_open_with(&t, HY_BACKEND_AUTO, &k, NULL, &err), 0);
	CU_ASSERT_STRING_EQUAL(hy_track_name(t), "off");
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "userfaultfd"));
	hy_track_close(t);
	CU_ASSERT_EQUAL(hy_track_open_with(&t, 42, &kf, NULL, &err), -EINVAL);
}

/*
 * For real, not by masking features: an unprivileged process (nobody,
 * vm.unprivileged_userfaultfd=0, no access to /dev/userfaultfd) has only a
 * user-mode-only userfaultfd.  Explicit sync must fail with -ENOTSUP;
 * auto falls back (rwp or async where the kernel has it, else off).
 */
static void t_unprivileged(void)
{
	int status = -1;
	pid_t pid;

	if (geteuid() != 0 || kf.unpriv_sysctl != 0)
		HY_SKIP("needs root and vm.unprivileged_userfaultfd=0 (euid %d, sysctl %d)",
			(int)geteuid(), kf.unpriv_sysctl);
	pid = fork();
	if (pid == 0) {
		struct hy_track *t = NULL;
		struct hy_kfeat k;
		struct hy_err err;
		int rc;

		alarm(20);
		if (setgid(65534) || setuid(65534))
			_exit(10);
		/* after setuid the process is not dumpable: /proc/self/pagemap
		 * would stay root's */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
		hy_kfeat_probe(&k);
		if (k.uffd_kernel_faults)
			_exit(11); /* /dev/userfaultfd is open to nobody here: cannot test */
		rc = hy_track_open(&t, HY_BACKEND_SYNC, NULL, &err);
		if (rc != -ENOTSUP || t || !err.msg[0])
			_exit(12);
		fprintf(stderr, "\n    (as nobody, sync: %d %s) ", rc, err.msg);
		rc = hy_track_open(&t, HY_BACKEND_AUTO, NULL, &err);
		if (rc || !t)
			_exit(13);
		if (strcmp(hy_track_name(t), hy_kfeat_rwp(&k)			? "rwp"
					      : k.wp_async && k.pagemap_scan ? "async"
									     : "off"))
			_exit(14);
		fprintf(stderr, "(auto: %s) ", hy_track_name(t));
		hy_track_close(t);
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &status, 0);
	CU_ASSERT(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 11)
		hy_skip("nobody may open /dev/userfaultfd here: no user-mode-only process to test");
	else
		CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

static void t_off_and_args(void)
{
	struct hy_track *t = open_b(HY_BACKEND_OFF, NULL);
	struct hy_track_cost c;
	uint64_t w[2] = {~0ull, ~0ull};
	char *p = map(64 * PG, true);

	CU_ASSERT_STRING_EQUAL(hy_track_name(t), "off");
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, 64 * PG), 0);
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, 64 * PG, NULL), 0);
	poke(p, NULL, 3, 3);
	CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, 64 * PG, w), 0);
	CU_ASSERT_EQUAL(w[0], 0);
	CU_ASSERT_EQUAL(hy_track_remove(t, (uintptr_t)p, 64 * PG), 0);
	hy_track_cost(t, &c);
	CU_ASSERT_EQUAL(c.fault_ns, 0);
	hy_track_close(t);
	hy_track_close(NULL);

	if (strcmp(hy_kfeat_backend(&kf, &(const char *){NULL}), "off")) {
		t = open_b(HY_BACKEND_AUTO, NULL);
		CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p + 1, PG), -EINVAL);
		CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, 100), -EINVAL);
		CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, 0), -EINVAL);
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, 64 * PG, w), -EINVAL);
		CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, 64 * PG, NULL), -EINVAL);
		CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, 32 * PG), 0);
		/* beyond the range, or across its end */
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, 64 * PG, w), -EINVAL);
		CU_ASSERT_EQUAL(hy_track_harvest(t, (uintptr_t)p, 32 * PG, w), 0);
		/* nothing mapped there (below mmap_min_addr): registration fails
		 * cleanly.  (A hole made by munmap would not do: the tracker's own
		 * bitmap allocation may land in it.) */
		CU_ASSERT(hy_track_add(t, PG, 16 * PG) < 0);
		CU_ASSERT_EQUAL(hy_track_harvest(t, PG, 16 * PG, w), -EINVAL);
		hy_track_close(t);
	}
	munmap(p, 64 * PG);
}

/* hy_track_bytes: a range's bitmaps (a bit per page, sync two) count for
 * the part in memory -- nothing while the range was never armed, the
 * armed bitmap's words once it is -- and no longer once it is removed. */
static void t_bytes(void)
{
	struct hy_track *t = open_b(backend, NULL);
	const size_t len = 64 << 20, bitmap = len / PG / 8;
	char *p = map(len, false);
	size_t b0 = hy_track_bytes(t), b1, b2, b3;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(b0 > 0);
	CU_ASSERT_EQUAL(hy_track_add(t, (uintptr_t)p, len), 0);
	b1 = hy_track_bytes(t);
	CU_ASSERT(b1 < b0 + bitmap); /* registered, never armed: no bitmap in memory */
	CU_ASSERT_EQUAL(hy_track_arm(t, (uintptr_t)p, len, NULL), 0);
	b2 = hy_track_bytes(t);
	CU_ASSERT(b2 >= b0 + bitmap);
	CU_ASSERT_EQUAL(hy_track_remove(t, (uintptr_t)p, len), 0);
	b3 = hy_track_bytes(t);
	CU_ASSERT(b3 + bitmap <= b2);
	CU_ASSERT_EQUAL(hy_track_bytes(NULL), 0);
	hy_track_close(t);
	munmap(p, len);
}

/* ---- main: suites by argument ---- */

static const struct hy_test backend_tests[] = {
    HY_TEST(t_exact),  HY_TEST(t_subset),      HY_TEST(t_unarmed),	 HY_TEST(t_rearm_window),
    HY_TEST(t_remove), HY_TEST(t_unpopulated), HY_TEST(t_syscall_write), HY_TEST(t_thp),
    HY_TEST(t_cost),   HY_TEST(t_fork),        HY_TEST(t_bytes),
};
static const struct hy_test rwp_tests[] = {
    HY_TEST(t_reads),
    HY_TEST(t_zap),
    HY_TEST(t_kernel_reads),
};
static const struct hy_test sync_tests[] = {
    HY_TEST(t_blocked_released),
    HY_TEST(t_many_threads),
    HY_TEST(t_close_under_writers),
};
/* The bitmap searches the harvest uses (trk_next, trk_last_set), against
 * a bit-by-bit reading, on random maps of every density and all bounds. */
static void t_bits(void)
{
	uint64_t b[4], seed = 12345;
	int bad = 0;

	for (int round = 0; round < 200; round++) {
		for (int w = 0; w < 4; w++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			b[w] = round % 3 == 0 ? seed : round % 3 == 1 ? seed & (seed >> 7) & (seed >> 13) : 0;
		}
		for (size_t from = 0; from <= 256; from += 7)
			for (size_t to = from; to <= 256; to += 5) {
				size_t next1 = to, next0 = to, last = to;

				for (size_t i = from; i < to; i++) {
					bool v = trk_bit(b, i);

					if (v && next1 == to)
						next1 = i;
					if (!v && next0 == to)
						next0 = i;
					if (v)
						last = i;
				}
				bad += trk_next(b, from, to, true) != next1;
				bad += trk_next(b, from, to, false) != next0;
				bad += trk_last_set(b, from, to) != last;
			}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static const struct hy_test common_tests[] = {
    HY_TEST(t_choice),
    HY_TEST(t_unprivileged),
    HY_TEST(t_off_and_args),
    HY_TEST(t_bits),
};

/* Can backend b run here?  NULL if yes, else why not. */
static const char *cannot(int b)
{
	static struct hy_err err;
	struct hy_track *t = NULL;

	if (hy_track_open(&t, b, NULL, &err))
		return err.msg;
	hy_track_close(t);
	return NULL;
}

static const char *set_async(void)
{
	backend = HY_BACKEND_ASYNC;
	return cannot(backend);
}

static const char *set_rwp(void)
{
	backend = HY_BACKEND_RWP;
	return cannot(backend);
}

static const char *set_sync(void)
{
	backend = HY_BACKEND_SYNC;
	return cannot(backend);
}

/* The backend cases run once per backend; a backend that cannot run here
 * has its cases skipped, with the reason. */
static const struct hy_suite suites[] = {
	HY_SUITE("common", common_tests, NULL),
	HY_SUITE("rwp", backend_tests, set_rwp),
	HY_SUITE("rwp", rwp_tests, set_rwp),
	HY_SUITE("async", backend_tests, set_async),
	HY_SUITE("sync", backend_tests, set_sync),
	HY_SUITE("sync", sync_tests, set_sync),
};

int main(int argc, char **argv)
{
	hy_kfeat_probe(&kf);
	return hy_cunit_main(argc - 1, argv + 1, "track", suites, sizeof(suites) / sizeof(suites[0]));
}
