/* SPDX-License-Identifier: MIT */
/*
 * The public API (include/hybrid.h), as a program sees it: linked against
 * libhybrid.so, nothing but the header.
 *
 *   test_api off        hybrid_init(mode=off): the process runs unmanaged
 *   test_api loopback   hybrid_init with node 0 as both tiers: the engine runs
 *   test_api lazy       no hybrid_init: the first call starts the library from
 *                       HYBRID_* (ctest sets the loopback pair)
 *
 * A process has one libhybrid instance and its start is final, so the suites
 * run in order: what must happen before the start, the start, everything
 * else, and shutdown last.  Run alone (ctest runs each case in a process of
 * its own), a case after the start finds the library started for it.  Every documented error of every function is
 * checked, with "nothing changed" where the header promises it.  Placement
 * on real tiers is tests/vm/test_api_vm.c's.
 *
 * Exits 0 pass, 1 fail, 77 cannot run here (reason printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hybrid.h>

#include "../support.h"

#define PG 4096UL

static enum { OFF, LOOPBACK, LAZY } mode;
static bool managing; /* the engine runs (loopback, lazy) */

/* ---- helpers ------------------------------------------------------------------------ */

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	return p;
}

static bool is_mapped(void *p, size_t len)
{
	return msync(p, len, MS_ASYNC) == 0;
}

static struct hybrid_stats stats(void)
{
	struct hybrid_stats s = {.size = sizeof(s)};

	CU_ASSERT_EQUAL(hybrid_get_stats(&s), 0);
	return s;
}

static struct hybrid_where where(const void *p, size_t len)
{
	struct hybrid_where w = {.size = sizeof(w)};

	CU_ASSERT_EQUAL(hybrid_where(p, len, &w), 0);
	return w;
}

static uint64_t managed(const void *p, size_t len)
{
	return where(p, len).managed_bytes;
}

/* Lay the given pattern over a whole structure, to see what was written. */
#define POISON(x) memset(&(x), 0xa5, sizeof(x))

static bool poisoned(const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (((const unsigned char *)p)[i] != 0xa5)
			return false;
	return true;
}

/* ---- before the start --------------------------------------------------------------- */

static void test_version_strerror(void)
{
	char v[32];

	snprintf(v, sizeof(v), "%d.%d.%d", HYBRID_VERSION_MAJOR, HYBRID_VERSION_MINOR,
		 HYBRID_VERSION_PATCH);
	CU_ASSERT_STRING_EQUAL(hybrid_version(), v);
	CU_ASSERT_STRING_EQUAL(hybrid_strerror(0), "Success");
	CU_ASSERT_STRING_EQUAL(hybrid_strerror(-ESHUTDOWN), hybrid_strerror(ESHUTDOWN));
	CU_ASSERT_STRING_EQUAL(hybrid_strerror(INT_MIN), "Unknown error");
	CU_ASSERT_STRING_EQUAL(hybrid_strerror(-100000), "Unknown error");
}

/* The library's own texts for the codes it gives one meaning (hybrid.h,
 * hybrid_strerror(3)), the C library's for the rest. */
static void test_strerror_texts(void)
{
	static const struct {
		int err;
		const char *text;
	} own[] = {
		{-ENODEV, "libhybrid runs unmanaged in this process (one memory tier, mode off, or "
			  "bad configuration)"},
		{-ESHUTDOWN, "libhybrid was shut down (hybrid_shutdown)"},
		{-EALREADY, "libhybrid was already started"},
		{-EPERM, "the program set a memory policy of its own there (mbind, set_mempolicy, "
			 "numactl)"},
		{-EACCES, "the kernel cannot track a shared mapping this process may not write"},
		{-ENOTSUP, "the kernel cannot track this kind of memory"},
		{-E2BIG, "structure larger than this libhybrid knows, with members it cannot "
			 "honour"},
		{-EFAULT, "part of the range is not mapped"},
	};
	static const int libc[] = {EINVAL, ENOMEM, EBUSY, ENOSYS, EBADF};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		CU_ASSERT_STRING_EQUAL(hybrid_strerror(own[i].err), own[i].text);
		CU_ASSERT_STRING_EQUAL(hybrid_strerror(-own[i].err), own[i].text);
	}
	/* never the kernel's words for a library case */
	CU_ASSERT_PTR_NULL(strstr(hybrid_strerror(-ESHUTDOWN), "transport endpoint"));
	CU_ASSERT_PTR_NULL(strstr(hybrid_strerror(-ENODEV), "No such device"));
	for (size_t i = 0; i < sizeof(libc) / sizeof(libc[0]); i++)
		CU_ASSERT_STRING_EQUAL(hybrid_strerror(-libc[i]), strerrordesc_np(libc[i]));
}

static void test_stats_before_start(void)
{
	struct hybrid_stats s;

	CU_ASSERT_EQUAL(hybrid_get_stats(NULL), -EINVAL);
	POISON(s);
	s.size = sizeof(s.size) - 1;
	CU_ASSERT_EQUAL(hybrid_get_stats(&s), -EINVAL);
	CU_ASSERT(poisoned((char *)&s + sizeof(s.size), sizeof(s) - sizeof(s.size)));
	s = stats();
	/* reading counters does not start the library */
	CU_ASSERT_EQUAL(s.state, HYBRID_STATE_NOT_STARTED);
	CU_ASSERT_EQUAL(s.managed_bytes, 0);
	CU_ASSERT_EQUAL(stats().state, HYBRID_STATE_NOT_STARTED);
}

static const struct hybrid_option loopback_opts[] = {
	{"fast_nodes", "0"}, {"slow-nodes", "0"}, {"HYBRID_EPOCH", "20ms"},
	{"track_overhead", "100"},
};

static struct hybrid_options options(const struct hybrid_option *o, unsigned n)
{
	return (struct hybrid_options){.size = sizeof(struct hybrid_options),
				       .flags = HYBRID_INIT_IGNORE_ENV,
				       .noptions = n,
				       .options = o};
}

/* Each refused hybrid_init leaves the library unstarted. */
#define REFUSED(opts, err)                                                                         \
	do {                                                                                       \
		CU_ASSERT_EQUAL(hybrid_init(opts), err);                                           \
		CU_ASSERT_EQUAL(stats().state, HYBRID_STATE_NOT_STARTED);                          \
	} while (0)

static void test_init_errors(void)
{
	struct hybrid_option bad[] = {{"dram_limit", "lots"}};
	struct hybrid_option unknown[] = {{"dram_limt", "1G"}};
	struct hybrid_option nul[] = {{"dram_limit", NULL}};
	struct hybrid_option noname[] = {{NULL, "1G"}};
	struct hybrid_option cross[] = {{"promote_threshold", "5"}, {"promote_window", "3"}};
	struct hybrid_options o;
	struct {
		struct hybrid_options o;
		uint64_t future[2];
	} big;
	char buf[256];

	o = options(bad, 1);
	o.errbuf = buf;
	o.errbuf_len = sizeof(buf);
	buf[0] = 0;
	REFUSED(&o, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "dram_limit"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "lots"));

	o = options(unknown, 1);
	o.errbuf = buf;
	o.errbuf_len = sizeof(buf);
	REFUSED(&o, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "dram_limt"));
	o = options(nul, 1);
	REFUSED(&o, -EINVAL);
	o = options(noname, 1);
	REFUSED(&o, -EINVAL);
	o = options(cross, 2);
	REFUSED(&o, -EINVAL);

	/* the structure itself */
	o = options(loopback_opts, 4);
	o.size = offsetof(struct hybrid_options, options);
	REFUSED(&o, -EINVAL);
	o = options(loopback_opts, 4);
	o.flags |= 0x80;
	REFUSED(&o, -EINVAL);
	o = options(NULL, 4);
	REFUSED(&o, -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o = options(loopback_opts, 4);
	big.o.size = sizeof(big);
	big.future[1] = 1; /* a member this library does not know, set */
	REFUSED(&big.o, -E2BIG);
	o = options(loopback_opts, 4);
	o.size = (size_t)1 << 40; /* garbage: never read that far */
	REFUSED(&o, -E2BIG);

	/* the environment's bad values, unless told to ignore it (a HYBRID_
	 * name that is no option is only warned about: test_config) */
	setenv("HYBRID_PROMOTE_WINDOW", "99", 1);
	o = options(loopback_opts, 4);
	o.flags = 0;
	o.errbuf = buf;
	o.errbuf_len = sizeof(buf);
	REFUSED(&o, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "HYBRID_PROMOTE_WINDOW"));
	unsetenv("HYBRID_PROMOTE_WINDOW");
}

static void test_init(void)
{
	struct hybrid_option off[] = {{"mode", "off"}};
	struct {
		struct hybrid_options o;
		uint64_t future[2];
	} big;
	int rc;

	if (mode == OFF) {
		struct hybrid_options o = options(off, 1);

		CU_ASSERT_EQUAL(hybrid_init(&o), -ENODEV);
		CU_ASSERT_EQUAL(stats().state, HYBRID_STATE_UNMANAGED);
		CU_ASSERT_EQUAL(hybrid_init(NULL), -ENODEV);
		CU_ASSERT_EQUAL(hybrid_init(&o), -ENODEV);
		return;
	}
	/* a newer caller's structure, its unknown members zero: accepted */
	memset(&big, 0, sizeof(big));
	big.o = options(loopback_opts, 4);
	big.o.size = sizeof(big);
	rc = hybrid_init(&big.o);
	if (rc == -ENODEV)
		HY_SKIP("the engine cannot run here (loopback pair refused); see stderr");
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(stats().state, HYBRID_STATE_RUNNING);
	CU_ASSERT_EQUAL(hybrid_init(&big.o), -EALREADY);
	CU_ASSERT_EQUAL(hybrid_init(NULL), -EALREADY);
}

/* lazy: the first call that needs the library starts it from HYBRID_*. */
static void test_lazy_start(void)
{
	void *p = NULL;

	CU_ASSERT_EQUAL(hybrid_mmap(&p, 4 * PG, HYBRID_HINT_HYBRID, 0), 0);
	if (stats().state != HYBRID_STATE_RUNNING)
		HY_SKIP("not started from the environment; run with HYBRID_FAST_NODES=0 "
			"HYBRID_SLOW_NODES=0");
	CU_ASSERT_EQUAL(managed(p, 4 * PG), 4 * PG);
	CU_ASSERT_EQUAL(hybrid_init(NULL), -EALREADY);
	CU_ASSERT_EQUAL(hybrid_munmap(p, 4 * PG), 0);
}

/* ---- memory ------------------------------------------------------------------------- */

static void test_mmap_errors(void)
{
	void *p = (void *)0x1234;

	CU_ASSERT_EQUAL(hybrid_mmap(NULL, PG, HYBRID_HINT_HYBRID, 0), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_mmap(&p, 0, HYBRID_HINT_HYBRID, 0), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_mmap(&p, PG, -1, 0), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_mmap(&p, PG, HYBRID_HINT_PIN + 1, 0), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_mmap(&p, PG, HYBRID_HINT_HYBRID, 1), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_mmap(&p, SIZE_MAX, HYBRID_HINT_HYBRID, 0), -ENOMEM);
	CU_ASSERT_EQUAL(hybrid_mmap(&p, SIZE_MAX / 2 + 1, HYBRID_HINT_HYBRID, 0), -ENOMEM);
	CU_ASSERT_PTR_EQUAL(p, (void *)0x1234); /* untouched */
}

static void test_mmap_hints(void)
{
	uint64_t before = stats().managed_bytes;

	for (int hint = HYBRID_HINT_DEFAULT; hint <= HYBRID_HINT_PIN; hint++) {
		size_t len = 5 * PG + 1; /* rounded up to 6 pages */
		char *p = NULL;

		CU_ASSERT_EQUAL_FATAL(hybrid_mmap((void **)&p, len, hint, 0), 0);
		CU_ASSERT_EQUAL((uintptr_t)p % PG, 0);
		memset(p, hint + 1, 6 * PG);
		CU_ASSERT_EQUAL(p[6 * PG - 1], hint + 1);
		CU_ASSERT_EQUAL(managed(p, 6 * PG),
				managing && hint != HYBRID_HINT_DEFAULT ? 6 * PG : 0);
		CU_ASSERT_EQUAL(stats().managed_bytes - before,
				managing && hint != HYBRID_HINT_DEFAULT ? 6 * PG : 0);
		CU_ASSERT_EQUAL(hybrid_munmap(p, len), 0);
		CU_ASSERT_FALSE(is_mapped(p, PG));
		CU_ASSERT_EQUAL(stats().managed_bytes, before);
	}
}

static void test_munmap_errors(void)
{
	char *p = map(3 * PG);
	void *h;

	CU_ASSERT_EQUAL(hybrid_munmap(NULL, PG), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_munmap(p + 1, PG), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_munmap(p, 0), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_munmap((void *)(UINTPTR_MAX & ~(PG - 1)), 2 * PG), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_munmap(p, SIZE_MAX), -EINVAL);
	/* a hole in the middle: -EFAULT, and nothing was unmapped */
	CU_ASSERT_EQUAL_FATAL(munmap(p + PG, PG), 0);
	CU_ASSERT_EQUAL(hybrid_munmap(p, 3 * PG), -EFAULT);
	CU_ASSERT(is_mapped(p, PG));
	CU_ASSERT(is_mapped(p + 2 * PG, PG));
	/* any mapping the program owns, not only hybrid_mmap's */
	CU_ASSERT_EQUAL(hybrid_munmap(p, PG), 0);
	CU_ASSERT_FALSE(is_mapped(p, PG));
	CU_ASSERT_EQUAL(hybrid_munmap(p + 2 * PG, 1), 0); /* len rounded up */
	CU_ASSERT_FALSE(is_mapped(p + 2 * PG, PG));

	/* the hybrid heap's memory is not the program's to unmap */
	h = hybrid_aligned_alloc(PG, 4 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(hybrid_munmap(h, 4 << 20), -EINVAL);
	CU_ASSERT(is_mapped(h, 4 << 20));
	hybrid_free(h);
}

/* ---- hints -------------------------------------------------------------------------- */

static void test_madvise_errors(void)
{
	char *p = map(3 * PG);
	uint64_t before = stats().managed_bytes;

	CU_ASSERT_EQUAL(hybrid_madvise(NULL, PG, HYBRID_HINT_HOT), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_madvise(p + 8, PG, HYBRID_HINT_HOT), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_madvise(p, 0, HYBRID_HINT_HOT), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_madvise(p, SIZE_MAX, HYBRID_HINT_HOT), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_madvise(p, -(uintptr_t)p, HYBRID_HINT_HOT), -EINVAL); /* to 2^64 */
	CU_ASSERT_EQUAL(hybrid_madvise(p, PG, -1), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_madvise(p, PG, 5), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_madvise(p, PG, INT_MAX), -EINVAL);
	/* a hole: -EFAULT, nothing managed */
	CU_ASSERT_EQUAL_FATAL(munmap(p + PG, PG), 0);
	CU_ASSERT_EQUAL(hybrid_madvise(p, 3 * PG, HYBRID_HINT_HYBRID), -EFAULT);
	CU_ASSERT_EQUAL(managed(p, PG), 0);
	CU_ASSERT_EQUAL(stats().managed_bytes, before);
	/* errno is not ours to change */
	errno = 1234;
	CU_ASSERT_EQUAL(hybrid_madvise(p, 3 * PG, HYBRID_HINT_HYBRID), -EFAULT);
	CU_ASSERT_EQUAL(errno, 1234);
	/* where nothing is managed, a good hint has nothing to act on */
	if (!managing)
		CU_ASSERT_EQUAL(hybrid_madvise(p, PG, HYBRID_HINT_HOT), -ENODEV);
	munmap(p, 3 * PG);
}

/* Hint, re-hint part, stop part: the range is managed exactly once. */
static void test_madvise_rehint(void)
{
	char *p;
	uint64_t base = stats().managed_bytes;

	if (!managing)
		return;
	p = map(8 * PG);
	memset(p, 7, 8 * PG);
	CU_ASSERT_EQUAL(hybrid_madvise(p, 8 * PG, HYBRID_HINT_HOT), 0);
	CU_ASSERT_EQUAL(managed(p, 8 * PG), 8 * PG);
	CU_ASSERT_EQUAL(stats().managed_bytes - base, 8 * PG);
	/* the same hint again, and a new one over part: counted once */
	CU_ASSERT_EQUAL(hybrid_madvise(p, 8 * PG, HYBRID_HINT_HOT), 0);
	CU_ASSERT_EQUAL(hybrid_madvise(p + 2 * PG, 3 * PG, HYBRID_HINT_COLD), 0);
	CU_ASSERT_EQUAL(hybrid_madvise(p + 6 * PG, PG + 1, HYBRID_HINT_PIN), 0); /* 2 pages */
	CU_ASSERT_EQUAL(managed(p, 8 * PG), 8 * PG);
	CU_ASSERT_EQUAL(stats().managed_bytes - base, 8 * PG);
	/* DEFAULT stops managing just that part */
	CU_ASSERT_EQUAL(hybrid_madvise(p + 3 * PG, 2 * PG, HYBRID_HINT_DEFAULT), 0);
	CU_ASSERT_EQUAL(managed(p, 8 * PG), 6 * PG);
	CU_ASSERT_EQUAL(managed(p + 3 * PG, 2 * PG), 0);
	CU_ASSERT_EQUAL(stats().managed_bytes - base, 6 * PG);
	/* ... and nothing at all on a range not managed */
	CU_ASSERT_EQUAL(hybrid_madvise(p + 3 * PG, 2 * PG, HYBRID_HINT_DEFAULT), 0);
	CU_ASSERT_EQUAL(stats().managed_bytes - base, 6 * PG);
	/* data untouched throughout */
	for (size_t i = 0; i < 8 * PG; i += 512)
		CU_ASSERT_EQUAL(p[i], 7);
	CU_ASSERT_EQUAL(hybrid_munmap(p, 8 * PG), 0);
	CU_ASSERT_EQUAL(stats().managed_bytes, base);
}

/* A range with the program's own policy is the program's: -EPERM, and a
 * refused re-hint leaves the parts that were managed with their hint. */
static void test_madvise_foreign_policy(void)
{
	unsigned long node0 = 1;
	uint64_t base;
	char *p;

	if (!managing)
		return;
	p = map(8 * PG);
	CU_ASSERT_EQUAL(hybrid_madvise(p + 4 * PG, 4 * PG, HYBRID_HINT_HYBRID), 0);
	base = stats().managed_bytes;
	/* MPOL_BIND (2) to node 0 on the first half */
	CU_ASSERT_EQUAL_FATAL(syscall(SYS_mbind, p, 4 * PG, 2, &node0, 64, 0), 0);
	CU_ASSERT_EQUAL(hybrid_madvise(p, 4 * PG, HYBRID_HINT_HOT), -EPERM);
	CU_ASSERT_EQUAL(hybrid_madvise(p, 8 * PG, HYBRID_HINT_HOT), -EPERM);
	CU_ASSERT_EQUAL(managed(p, 4 * PG), 0);
	CU_ASSERT_EQUAL(managed(p + 4 * PG, 4 * PG), 4 * PG);
	CU_ASSERT_EQUAL(stats().managed_bytes, base);
	CU_ASSERT_EQUAL(hybrid_munmap(p, 8 * PG), 0);
}

/* A shared mapping the process may not write: the kernel will not track it
 * (userfaultfd's EPERM), which is -EACCES, never the -EPERM of a foreign
 * policy; nothing managed.  (With tracking off it is managed like any.) */
static void test_madvise_readonly_shared(void)
{
	struct hybrid_stats s;
	uint64_t base;
	char path[] = "/tmp/test_api_ro.XXXXXX";
	int fd = mkstemp(path), ro, rc;
	void *p;

	if (!managing)
		return;
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(ftruncate(fd, 4 * PG), 0);
	ro = open(path, O_RDONLY);
	unlink(path);
	close(fd);
	CU_ASSERT_FATAL(ro >= 0);
	p = mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, ro, 0);
	close(ro);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	base = stats().managed_bytes;
	s = stats();
	rc = hybrid_madvise(p, 4 * PG, HYBRID_HINT_HYBRID);
	if (!strcmp(s.backend, "off")) {
		CU_ASSERT_EQUAL(rc, 0);
	} else {
		CU_ASSERT_EQUAL(rc, -EACCES);
		CU_ASSERT_EQUAL(managed(p, 4 * PG), 0);
		CU_ASSERT_EQUAL(stats().managed_bytes, base);
	}
	CU_ASSERT_EQUAL(hybrid_munmap(p, 4 * PG), 0);
}

/* ---- the hybrid heap ---------------------------------------------------------------- */

static void test_heap(void)
{
	char *p, *q, *z;

	p = hybrid_malloc(100);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 'x', 100);
	q = hybrid_realloc(p, 1 << 20);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q[99], 'x');
	CU_ASSERT_EQUAL(q[0], 'x');
	q[(1 << 20) - 1] = 1;
	z = hybrid_calloc(1000, 1000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	CU_ASSERT(z[0] == 0 && z[999999] == 0 && z[500000] == 0);
	p = hybrid_aligned_alloc(1 << 16, 10);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL((uintptr_t)p % (1 << 16), 0);
	hybrid_free(p);
	hybrid_free(z);
	CU_ASSERT_PTR_NULL(hybrid_realloc(q, 0)); /* frees */

	/* size 0: a unique pointer that can be freed */
	p = hybrid_malloc(0);
	CU_ASSERT_PTR_NOT_NULL(p);
	hybrid_free(p);
	p = hybrid_realloc(NULL, 10);
	CU_ASSERT_PTR_NOT_NULL(p);
	hybrid_free(p);
	hybrid_free(NULL);
}

/*
 * Pointers that are not the hybrid heap's: refused, left alone, no crash.
 * In a child, so that a crash is one failed check rather than the end of
 * the suite.
 */
static int foreign_pointers(void)
{
	char *g = malloc(64);
	int local = 42, bad = 0;

	strcpy(g, "glibc");
	errno = 0;
	bad |= hybrid_realloc(g, 128) != NULL;
	bad |= errno != EINVAL;
	bad |= strcmp(g, "glibc") != 0;
	hybrid_free(g);
	hybrid_free(&local);
	hybrid_free((void *)foreign_pointers);
	bad |= strcmp(g, "glibc") != 0 || local != 42;
	free(g);
	return bad;
}

static void test_heap_errors(void)
{
	int status;
	pid_t pid;

	errno = 0;
	CU_ASSERT_PTR_NULL(hybrid_calloc(SIZE_MAX / 2, 3));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	errno = 0;
	CU_ASSERT_PTR_NULL(hybrid_malloc(SIZE_MAX - 4096));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	errno = 0;
	CU_ASSERT_PTR_NULL(hybrid_aligned_alloc(3, 10));
	CU_ASSERT_EQUAL(errno, EINVAL);
	errno = 0;
	CU_ASSERT_PTR_NULL(hybrid_aligned_alloc(0, 10));
	CU_ASSERT_EQUAL(errno, EINVAL);

	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		_exit(foreign_pointers());
	CU_ASSERT_EQUAL_FATAL(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		printf("\n    foreign pointer: killed by signal %d\n", WTERMSIG(status));
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The heap's memory is managed like any hybrid range. */
static void test_heap_managed(void)
{
	size_t len = 8 << 20;
	char *p = hybrid_malloc(len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 1, len);
	CU_ASSERT(managing ? managed(p, len) >= len - 2 * PG : managed(p, len) == 0);
	hybrid_free(p);
}

/* ---- introspection ------------------------------------------------------------------ */

static void test_stats_sizes(void)
{
	struct hybrid_stats s;
	struct {
		struct hybrid_stats s;
		unsigned char tail[32];
	} big;
	size_t old = offsetof(struct hybrid_stats, promote_pages);

	/* an older program's smaller structure: filled up to its size, no further */
	POISON(s);
	s.size = old;
	CU_ASSERT_EQUAL(hybrid_get_stats(&s), 0);
	CU_ASSERT_EQUAL(s.size, old);
	CU_ASSERT_EQUAL(s.state, managing ? HYBRID_STATE_RUNNING : HYBRID_STATE_UNMANAGED);
	CU_ASSERT(poisoned((char *)&s + old, sizeof(s) - old));
	/* a newer one's larger structure: what we know, and size says how much */
	POISON(big);
	big.s.size = sizeof(big);
	CU_ASSERT_EQUAL(hybrid_get_stats(&big.s), 0);
	CU_ASSERT_EQUAL(big.s.size, sizeof(struct hybrid_stats));
	CU_ASSERT(poisoned(big.tail, sizeof(big.tail)));
	CU_ASSERT_FALSE(poisoned(&big.s.policy_ns, sizeof(big.s.policy_ns)));
	CU_ASSERT_FALSE(poisoned(&big.s.self_bytes, sizeof(big.s.self_bytes)));
	/* the smallest structure: only its size */
	s.size = sizeof(s.size);
	CU_ASSERT_EQUAL(hybrid_get_stats(&s), 0);
	CU_ASSERT_EQUAL(s.size, sizeof(s.size));
}

static uint64_t epochs_now(void *arg)
{
	(void)arg;
	return stats().epochs;
}

static void test_stats_running(void)
{
	struct hybrid_stats s = stats(), s2;

	if (!managing) {
		CU_ASSERT_EQUAL(s.epochs, 0);
		CU_ASSERT_STRING_EQUAL(s.backend, "");
		return;
	}
	CU_ASSERT(s.backend[0] != 0);
	/* epochs of 20 ms: two more, however long a busy machine takes to run them
	 * (the second: the first epoch has set self_bytes and returned) */
	hy_wait_for(epochs_now, NULL, s.epochs + 2, HY_WAIT_CEILING);
	s2 = stats();
	CU_ASSERT(s2.epochs >= s.epochs + 2);
	if (s2.epochs >= 2)
		CU_ASSERT(s2.self_bytes > 0);
}

static void test_tiers(void)
{
	struct hybrid_tiers t, small;

	CU_ASSERT_EQUAL(hybrid_get_tiers(NULL), -EINVAL);
	t.size = 1;
	CU_ASSERT_EQUAL(hybrid_get_tiers(&t), -EINVAL);
	t.size = sizeof(t);
	CU_ASSERT_EQUAL_FATAL(hybrid_get_tiers(&t), 0);
	CU_ASSERT_EQUAL(t.size, sizeof(t));
	if (mode == OFF) {
		CU_ASSERT_EQUAL(t.ntiers, 0); /* mode off: no tier list at all */
		return;
	}
	CU_ASSERT_EQUAL(t.ntiers, 2);
	CU_ASSERT_EQUAL(t.source, HYBRID_TIERS_EXPLICIT);
	CU_ASSERT_EQUAL(t.loopback, 1);
	CU_ASSERT(HYBRID_NODE_ISSET(t.tier[0].nodes, 0));
	CU_ASSERT(HYBRID_NODE_ISSET(t.tier[1].nodes, 0));
	CU_ASSERT_FALSE(HYBRID_NODE_ISSET(t.tier[0].nodes, 1));
	CU_ASSERT_FALSE(HYBRID_NODE_ISSET(t.tier[0].nodes, -1));
	CU_ASSERT(t.tier[0].mem_total > 0 && t.tier[0].mem_free <= t.tier[0].mem_total);
	CU_ASSERT(t.nnodes >= 1);
	CU_ASSERT_EQUAL(t.node[0].id, 0);
	CU_ASSERT_EQUAL(t.node[0].tier, 0);
	CU_ASSERT(t.node[0].allowed);
	CU_ASSERT(t.node[0].mem_total > 0);

	POISON(small);
	small.size = offsetof(struct hybrid_tiers, tier);
	CU_ASSERT_EQUAL(hybrid_get_tiers(&small), 0);
	CU_ASSERT_EQUAL(small.ntiers, 2);
	CU_ASSERT(poisoned(small.tier, sizeof(small) - offsetof(struct hybrid_tiers, tier)));
}

static void test_where_errors(void)
{
	char *p = map(3 * PG);
	struct hybrid_where w;

	w.size = sizeof(w);
	CU_ASSERT_EQUAL(hybrid_where(p, PG, NULL), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_where(NULL, PG, &w), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_where(p, 0, &w), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_where(p, SIZE_MAX, &w), -EINVAL);
	CU_ASSERT_EQUAL(hybrid_where((void *)(UINTPTR_MAX - 100), 50, &w), -EINVAL);
	w.size = 0;
	CU_ASSERT_EQUAL(hybrid_where(p, PG, &w), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(munmap(p + PG, PG), 0);
	POISON(w);
	w.size = sizeof(w);
	CU_ASSERT_EQUAL(hybrid_where(p, 3 * PG, &w), -EFAULT);
	CU_ASSERT_EQUAL(hybrid_where(p + PG - 1, 2, &w), -EFAULT); /* one byte in the hole */
	CU_ASSERT(poisoned((char *)&w + sizeof(w.size), sizeof(w) - sizeof(w.size)));
	munmap(p, 3 * PG);
}

static void test_where(void)
{
	char *p = map(16 * PG);
	struct hybrid_where w, small;
	uint64_t tiers = 0, nodes = 0;

	for (int i = 0; i < 10; i++)
		p[i * PG] = 1; /* pages 0-9 present, 10-15 not */
	w = where(p, 16 * PG);
	CU_ASSERT_EQUAL(w.size, sizeof(w));
	CU_ASSERT_EQUAL(w.bytes, 16 * PG);
	CU_ASSERT_EQUAL(w.absent_bytes, 6 * PG);
	CU_ASSERT_EQUAL(w.managed_bytes, 0);
	for (int t = 0; t < HYBRID_MAX_TIERS; t++)
		tiers += w.tier_bytes[t];
	for (int n = 0; n < w.nnodes; n++)
		nodes += w.node[n].bytes;
	CU_ASSERT_EQUAL(tiers + w.untiered_bytes, 10 * PG);
	CU_ASSERT_EQUAL(nodes, 10 * PG);
	CU_ASSERT(w.nnodes >= 1);
	CU_ASSERT_EQUAL(w.ntiers, mode == OFF ? 0 : 2);
	/* off: no tier list; loopback: a page not managed counts on the fastest tier */
	CU_ASSERT_EQUAL(mode == OFF ? w.untiered_bytes : w.tier_bytes[0], 10 * PG);

	/* exact bytes, whatever the alignment: 100 bytes before page 10 */
	w = where(p + 10 * PG - 100, 3 * PG);
	CU_ASSERT_EQUAL(w.bytes, 3 * PG);
	CU_ASSERT_EQUAL(w.absent_bytes, 3 * PG - 100);
	CU_ASSERT_EQUAL(w.node[0].bytes, 100);
	w = where(p + 1, 1);
	CU_ASSERT_EQUAL(w.bytes, 1);
	CU_ASSERT_EQUAL(w.node[0].bytes, 1);

	/* managed pages count as managed; after MADV_DONTNEED, absent */
	if (managing) {
		CU_ASSERT_EQUAL(hybrid_madvise(p, 4 * PG, HYBRID_HINT_HYBRID), 0);
		CU_ASSERT_EQUAL(managed(p, 16 * PG), 4 * PG);
		CU_ASSERT_EQUAL(managed(p + 2 * PG + 5, 10), 10);
		/* loopback: hybrid pages count on the slow tier, where they start */
		CU_ASSERT_EQUAL(where(p, 4 * PG).tier_bytes[1], 4 * PG);
	}
	madvise(p, PG, MADV_DONTNEED);
	CU_ASSERT_EQUAL(where(p, 16 * PG).absent_bytes, 7 * PG);

	/* an older program's structure */
	POISON(small);
	small.size = offsetof(struct hybrid_where, managed_bytes);
	CU_ASSERT_EQUAL(hybrid_where(p, 16 * PG, &small), 0);
	CU_ASSERT_EQUAL(small.size, offsetof(struct hybrid_where, managed_bytes));
	CU_ASSERT_EQUAL(small.absent_bytes, 7 * PG);
	CU_ASSERT(poisoned(&small.managed_bytes,
			   sizeof(small) - offsetof(struct hybrid_where, managed_bytes)));
	CU_ASSERT_EQUAL(hybrid_munmap(p, 16 * PG), 0);
}

/* ---- shutdown (last) ---------------------------------------------------------------- */

static void test_shutdown(void)
{
	char *kept = NULL, *h = hybrid_malloc(1000), *plain = map(2 * PG), *p = NULL;
	struct hybrid_tiers t = {.size = sizeof(t)};
	struct hybrid_stats before;

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL_FATAL(hybrid_mmap((void **)&kept, 4 * PG, HYBRID_HINT_HYBRID, 0), 0);
	memset(kept, 3, 4 * PG);
	strcpy(h, "heap");
	before = stats();

	CU_ASSERT_EQUAL(hybrid_shutdown(), 0);
	CU_ASSERT_EQUAL(hybrid_shutdown(), -ESHUTDOWN);
	CU_ASSERT_EQUAL(stats().state, HYBRID_STATE_STOPPED);
	/* management: refused */
	CU_ASSERT_EQUAL(hybrid_init(NULL), -ESHUTDOWN);
	CU_ASSERT_EQUAL(hybrid_mmap((void **)&p, PG, HYBRID_HINT_HYBRID, 0), -ESHUTDOWN);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_EQUAL(hybrid_madvise(plain, PG, HYBRID_HINT_HOT), -ESHUTDOWN);
	CU_ASSERT_EQUAL(hybrid_madvise(kept, PG, HYBRID_HINT_DEFAULT), -ESHUTDOWN);
	/* argument errors still come first */
	CU_ASSERT_EQUAL(hybrid_madvise(plain, PG, 9), -EINVAL);
	/* memory valid, counters readable, introspection works */
	for (size_t i = 0; i < 4 * PG; i += 256)
		CU_ASSERT_EQUAL(kept[i], 3);
	CU_ASSERT_STRING_EQUAL(h, "heap");
	CU_ASSERT(stats().epochs >= before.epochs);
	CU_ASSERT_EQUAL(where(kept, 4 * PG).managed_bytes, 0);
	CU_ASSERT_EQUAL(hybrid_get_tiers(&t), 0);
	CU_ASSERT_EQUAL(t.ntiers, mode == OFF ? 0 : 2);
	/* releasing and the heap keep working */
	CU_ASSERT_EQUAL(hybrid_munmap(kept, 4 * PG), 0);
	CU_ASSERT_FALSE(is_mapped(kept, PG));
	hybrid_free(h);
	h = hybrid_calloc(10, 10);
	CU_ASSERT_PTR_NOT_NULL(h);
	hybrid_free(h);
	CU_ASSERT_EQUAL(hybrid_munmap(plain, 2 * PG), 0);
}

/* ---- main --------------------------------------------------------------------------- */

static const struct hy_test before_start[] = {
	HY_TEST(test_version_strerror),
	HY_TEST(test_strerror_texts),
	HY_TEST(test_stats_before_start),
	HY_TEST(test_init_errors),
	HY_TEST(test_init),
};

static const struct hy_test lazy_start[] = {
	HY_TEST(test_stats_before_start),
	HY_TEST(test_lazy_start),
};

static const struct hy_test started[] = {
	HY_TEST(test_mmap_errors),   HY_TEST(test_mmap_hints),
	HY_TEST(test_munmap_errors), HY_TEST(test_madvise_errors),
	HY_TEST(test_madvise_rehint), HY_TEST(test_madvise_foreign_policy),
	HY_TEST(test_madvise_readonly_shared),
	HY_TEST(test_heap),	     HY_TEST(test_heap_errors),
	HY_TEST(test_heap_managed),  HY_TEST(test_stats_sizes),
	HY_TEST(test_stats_running), HY_TEST(test_tiers),
	HY_TEST(test_where_errors),  HY_TEST(test_where),
	HY_TEST(test_shutdown),
};

/*
 * Before the first "started" case: the library started as the mode starts
 * it, if an earlier case has not (each case also runs alone, in a process
 * of its own); NULL, or why it cannot run here.
 */
static const char *start(void)
{
	static const struct hybrid_option off[] = {{"mode", "off"}};
	struct hybrid_options o = options(mode == OFF ? off : loopback_opts, mode == OFF ? 1 : 4);
	struct hybrid_stats s = {.size = sizeof(s)};
	void *p = NULL;

	if (mode == LAZY) { /* the first call that needs the library */
		if (hybrid_mmap(&p, PG, HYBRID_HINT_HYBRID, 0) == 0)
			hybrid_munmap(p, PG);
	} else if (hybrid_init(&o) == -ENODEV && mode == LOOPBACK) {
		return "the engine cannot run here (loopback pair refused); see stderr";
	}
	if (managing && (hybrid_get_stats(&s) || s.state != HYBRID_STATE_RUNNING))
		return "the library did not start with the loopback tier pair; see stderr";
	return NULL;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";
	const struct hy_suite off_loopback[] = {
		HY_SUITE(NULL, before_start, NULL),
		HY_SUITE(NULL, started, start),
	};
	const struct hy_suite lazy[] = {
		HY_SUITE(NULL, lazy_start, NULL),
		HY_SUITE(NULL, started, start),
	};

	if (!strcmp(m, "off"))
		mode = OFF;
	else if (!strcmp(m, "loopback"))
		mode = LOOPBACK;
	else if (!strcmp(m, "lazy"))
		mode = LAZY;
	else {
		fprintf(stderr, "usage: test_api off|loopback|lazy [--list | CASE...]\n");
		return 2;
	}
	managing = mode != OFF;
	return hy_cunit_main(argc - 2, argv + 2, m, mode == LAZY ? lazy : off_loopback, 2);
}
