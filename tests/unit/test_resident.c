/* SPDX-License-Identifier: MIT */
/*
 * resident: the present runs of real mappings, as PAGEMAP_SCAN (or
 * mincore, on kernels without it) reports them -- touched pages found,
 * untouched and discarded ones not, a terabyte reserved and untouched
 * found empty, a scan across fork reading the child's own memory, and a
 * descriptor the program took over left to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support.h"
#include "resident.h"

#define PG 4096UL

struct seen {
	uintptr_t run[64][2];
	size_t n, pages;
};

static int note(void *arg, uintptr_t a, uintptr_t b, bool huge)
{
	struct seen *s = arg;

	(void)huge;
	if (s->n < 64) {
		s->run[s->n][0] = a;
		s->run[s->n][1] = b;
	}
	s->n++;
	s->pages += (b - a) / PG;
	return 0;
}

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	madvise(p, len, MADV_NOHUGEPAGE); /* page runs, not 2 MiB ones */
	return p;
}

static void test_runs(void)
{
	struct hy_resident r;
	struct seen s = {0};
	size_t len = 64 * PG;
	char *p = map(len);

	hy_res_init(&r);
	p[0] = 1;
	p[5 * PG] = 1;
	for (int i = 10; i < 20; i++)
		p[i * PG] = 1;
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + len, note, &s), 0);
	CU_ASSERT_EQUAL(s.n, 3);
	CU_ASSERT_EQUAL(s.pages, 12);
	CU_ASSERT_EQUAL(s.run[1][0], (uintptr_t)p + 5 * PG);
	CU_ASSERT_EQUAL(s.run[2][1], (uintptr_t)p + 20 * PG);
	/* discarded pages are gone */
	madvise(p + 10 * PG, 5 * PG, MADV_DONTNEED);
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + len, note, &s), 0);
	CU_ASSERT_EQUAL(s.pages, 7);
	munmap(p, len);
	hy_res_close(&r);
}

/* A terabyte reserved, two pages touched: the scan finds two pages (and,
 * with PAGEMAP_SCAN, without a byte per page of the range). */
static void test_sparse(void)
{
	struct hy_resident r;
	struct seen s = {0};
	size_t len = (size_t)1 << 40;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		HY_SKIP("cannot reserve 1 TiB here (overcommit policy)");
	hy_res_init(&r);
	madvise(p, len, MADV_NOHUGEPAGE);
	p[0] = 1;
	p[len - PG] = 1;
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + len, note, &s), 0);
	CU_ASSERT_EQUAL(s.pages, 2);
	munmap(p, len);
	hy_res_close(&r);
}

/* A scanner opened in the parent reads the child's memory in the child. */
static void test_fork(void)
{
	struct hy_resident r;
	struct seen s = {0};
	char *p = map(16 * PG);
	pid_t pid;
	int st;

	hy_res_init(&r);
	p[0] = 1;
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + 16 * PG, note, &s), 0);
	CU_ASSERT_EQUAL(s.pages, 1);
	pid = fork();
	if (!pid) {
		/* the child's own page tables: page 0 came with fork, two
		 * more touched here; the parent never sees them */
		p[1 * PG] = 1;
		p[2 * PG] = 1;
		memset(&s, 0, sizeof(s));
		_exit(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + 16 * PG, note, &s) == 0 &&
				      s.pages == 3
			      ? 0
			      : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	waitpid(pid, &st, 0);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	memset(&s, 0, sizeof(s));
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + 16 * PG, note, &s), 0);
	CU_ASSERT_EQUAL(s.pages, 1); /* the parent's view is its own */
	munmap(p, 16 * PG);
	hy_res_close(&r);
}

/*
 * The program closes the scanner's pagemap descriptor and gets the number
 * back for a file of its own (a daemon's close-all, then open): the
 * scanner forgets the number at its check, never closes the program's
 * file, and its next scan opens the pagemap again.
 */
static void test_fd_taken(void)
{
	struct hy_resident r;
	struct seen s = {0};
	char *p = map(4 * PG);
	int fd, mine;

	hy_res_init(&r);
	p[0] = 1;
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + 4 * PG, note, &s), 0);
	CU_ASSERT_EQUAL(s.pages, 1);
	fd = r.fd;
	if (fd < 0) { /* mincore: no descriptor to take */
		hy_skip("no PAGEMAP_SCAN here: the scanner holds no descriptor");
		hy_res_close(&r);
		munmap(p, 4 * PG);
		return;
	}
	close(fd);
	mine = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CU_ASSERT_EQUAL_FATAL(mine, fd); /* the lowest free number: the same */
	hy_res_check(&r);
	CU_ASSERT_NOT_EQUAL(r.fd, mine);
	memset(&s, 0, sizeof(s));
	p[PG] = 1;
	CU_ASSERT_EQUAL(hy_res_scan(&r, (uintptr_t)p, (uintptr_t)p + 4 * PG, note, &s), 0);
	CU_ASSERT_EQUAL(s.pages, 2); /* a pagemap again, not /dev/null */
	CU_ASSERT_NOT_EQUAL(r.fd, mine);
	hy_res_close(&r);
	CU_ASSERT_EQUAL(fcntl(mine, F_GETFD), FD_CLOEXEC); /* still the program's */
	close(mine);
	munmap(p, 4 * PG);
}

static const struct hy_test tests[] = {
	HY_TEST(test_runs),
	HY_TEST(test_sparse),
	HY_TEST(test_fork),
	HY_TEST(test_fd_taken),
};

HY_CUNIT_MAIN("resident", tests)
