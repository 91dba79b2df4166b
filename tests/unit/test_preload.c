/* SPDX-License-Identifier: MIT */
/*
 * test_preload — the interposed symbols, run with libhybrid preloaded and the
 * loopback tier pair (node 0 as fast and slow tier), so that the engine runs
 * and manages memory for real on a one-node host.  "Managed" is seen from
 * outside the library: a managed range carries the hybrid placement policy
 * (MPOL_PREFERRED_MANY or MPOL_PREFERRED), an unmanaged one the default.
 *
 * CTest sets LD_PRELOAD and HYBRID_*; run by hand without them it skips, as
 * in a sanitized build.
 */
#include <errno.h>
#include <numaif.h>
#include <stdbool.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include "../support.h"

#define MPOL_DEFAULT_ 0
#define MPOL_F_ADDR_  2
#define MPOL_BIND_    2
#define KiB	      ((size_t)1024)
#define MiB	      (1024 * KiB)

static int policy_of(const void *p)
{
	unsigned long mask[16] = {0};
	int mode = -1;

	if (syscall(SYS_get_mempolicy, &mode, mask, 1024UL, p, MPOL_F_ADDR_) < 0)
		return -1;
	return mode & 0xff;
}

static bool managed(const void *p)
{
	int m = policy_of(p);

	return m == 1 /* MPOL_PREFERRED */ || m == 5 /* MPOL_PREFERRED_MANY */;
}

/* n more epochs of the preloaded library's policy thread (which must be
 * running), however long they take (60-s ceiling). */
static bool epochs_pass(unsigned n)
{
	struct hybrid_stats s;

	return hy_lib_stats(&s) && hy_lib_wait_epochs(n, HY_WAIT_CEILING);
}

static void *map(size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	return p;
}

static void test_malloc_family(void)
{
	/* through volatiles, so that the compiler cannot see the overflow
	 * coming and the calls really reach the library */
	static void *(*volatile ra)(void *, size_t, size_t) = reallocarray;
	static volatile size_t big_v = SIZE_MAX / 2;
	void *a = malloc(0), *b = malloc(0), *p, *q;
	size_t big = big_v;

	CU_ASSERT(a && b && a != b); /* malloc(0): unique pointers */
	free(a);
	free(b);
	free(NULL);

	p = malloc(100);
	CU_ASSERT_FATAL(p != NULL);
	errno = 1234;
	free(p);
	CU_ASSERT_EQUAL(errno, 1234); /* free preserves errno */

	errno = 0;
	CU_ASSERT_PTR_NULL(calloc(big, 4));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	p = malloc(4096);
	memset(p, 0xa5, 4096);
	free(p);
	q = calloc(1, 4096);
	CU_ASSERT_FATAL(q != NULL);
	for (size_t i = 0; i < 4096; i++)
		if (((unsigned char *)q)[i]) {
			CU_FAIL("calloc memory not zero");
			break;
		}
	free(q);

	p = malloc(16);
	strcpy(p, "hybrid heap");
	errno = 0;
	CU_ASSERT_PTR_NULL(ra(p, big, 4));
	CU_ASSERT_EQUAL(errno, ENOMEM);
	CU_ASSERT_STRING_EQUAL(p, "hybrid heap"); /* untouched on failure */
	q = realloc(p, 1 * MiB);
	CU_ASSERT_FATAL(q != NULL);
	CU_ASSERT_STRING_EQUAL(q, "hybrid heap");
	free(q);

	CU_ASSERT_EQUAL(posix_memalign(&p, 3, 64), EINVAL);
	CU_ASSERT_EQUAL(posix_memalign(&p, 4096, 100), 0);
	CU_ASSERT(((uintptr_t)p & 4095) == 0);
	free(p);
	p = aligned_alloc(64, 128);
	CU_ASSERT(p && ((uintptr_t)p & 63) == 0);
	free(p);
	p = memalign(256, 10);
	CU_ASSERT(p && ((uintptr_t)p & 255) == 0);
	free(p);
	p = valloc(10);
	CU_ASSERT(p && ((uintptr_t)p & 4095) == 0);
	free(p);
	p = pvalloc(1);
	CU_ASSERT(p && ((uintptr_t)p & 4095) == 0 && malloc_usable_size(p) >= 4096);
	free(p);
	p = malloc(1000);
	CU_ASSERT(malloc_usable_size(p) >= 1000);
	free(p);
	CU_ASSERT_EQUAL(malloc_usable_size(NULL), 0);
}

/* The heap is jemalloc's hybrid arenas: big and small allocations alike
 * live in managed memory, in every thread. */
static void *thread_heap(void *arg)
{
	char *p = malloc(200);

	(void)arg;
	memset(p, 1, 200);
	return (void *)(uintptr_t)managed(p); /* freed by the main thread */
}

static void test_heap_is_hybrid(void)
{
	char *big = malloc(8 * MiB), *small = malloc(100);
	pthread_t t[8];
	struct mallinfo2 mi;

	memset(big, 1, 8 * MiB);
	memset(small, 1, 100);
	CU_ASSERT(managed(big));
	CU_ASSERT(managed(small));
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, thread_heap, NULL);
	for (int i = 0; i < 8; i++) {
		void *r;

		pthread_join(t[i], &r);
		CU_ASSERT(r == (void *)1);
	}
	/* glibc's heap is not used at all */
	mi = mallinfo2();
	CU_ASSERT(mi.uordblks < 64 * KiB);
	free(big);
	free(small);
}

/* jemalloc runs with the library's compiled-in options (heap.c). */
static void test_jemalloc_options(void)
{
	int (*ctl)(const char *, void *, size_t *, void *, size_t) =
		(int (*)(const char *, void *, size_t *, void *, size_t))dlsym(RTLD_DEFAULT,
										 "mallctl");
	size_t max = 0, sz = sizeof(max);

	CU_ASSERT_PTR_NOT_NULL_FATAL(ctl);
	CU_ASSERT_EQUAL(ctl("opt.tcache_max", &max, &sz, NULL, 0), 0);
	CU_ASSERT_EQUAL(max, 65536);
}

/* Which mappings become hybrid (preload.c's table). */
static void test_mapping_rules(void)
{
	const int rw = PROT_READ | PROT_WRITE, pa = MAP_PRIVATE | MAP_ANONYMOUS;
	char path[] = "/tmp/test_preload.XXXXXX";
	int fd = mkstemp(path);
	void *p;

	p = map(1 * MiB, rw, pa);
	CU_ASSERT(managed(p));
	munmap(p, 1 * MiB);
	p = map(16 * KiB, rw, pa); /* below min_size (64K) */
	CU_ASSERT(!managed(p));
	munmap(p, 16 * KiB);
	p = map(1 * MiB, rw, MAP_SHARED | MAP_ANONYMOUS); /* the process tree's */
	CU_ASSERT(managed(p));
	munmap(p, 1 * MiB);
	p = map(16 * KiB, rw, MAP_SHARED | MAP_ANONYMOUS);
	CU_ASSERT(!managed(p));
	munmap(p, 16 * KiB);
	p = map(1 * MiB, PROT_READ, MAP_SHARED | MAP_ANONYMOUS);
	CU_ASSERT(!managed(p));
	munmap(p, 1 * MiB);
	p = map(1 * MiB, PROT_NONE, pa); /* a reservation */
	CU_ASSERT(!managed(p));
	munmap(p, 1 * MiB);
	p = map(1 * MiB, PROT_READ, pa);
	CU_ASSERT(!managed(p));
	munmap(p, 1 * MiB);
	p = map(1 * MiB, rw, pa | MAP_STACK);
	CU_ASSERT(!managed(p));
	munmap(p, 1 * MiB);
	CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, 1 * MiB) == 0);
	p = mmap(NULL, 1 * MiB, rw, MAP_PRIVATE, fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT(!managed(p));
	munmap(p, 1 * MiB);
	p = mmap(NULL, 1 * MiB, rw, MAP_SHARED, fd, 0); /* the page cache's */
	CU_ASSERT_FATAL(p != MAP_FAILED);
	CU_ASSERT(!managed(p));
	munmap(p, 1 * MiB);
	close(fd);
	unlink(path);
}

/* MAP_FIXED over a managed range: the new mapping is judged afresh. */
static void test_map_fixed(void)
{
	char *p = map(2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), *q;
	int fd = memfd_create("test_map_fixed", 0);

	CU_ASSERT(managed(p));
	CU_ASSERT_FATAL(fd >= 0 && ftruncate(fd, 2 * MiB) == 0);
	q = mmap(p, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	CU_ASSERT_FATAL(q == p);
	CU_ASSERT(!managed(q)); /* file-backed: not ours */
	memset(q, 3, 2 * MiB); /* no stale tracking state in the way */
	munmap(q, 2 * MiB);
	close(fd);
}

static void test_mremap(void)
{
	char *p = map(1 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS), *q;
	bool same = true;

	memset(p, 7, 1 * MiB);
	CU_ASSERT(epochs_pass(2)); /* the range gets armed */
	q = mremap(p, 1 * MiB, 4 * MiB, MREMAP_MAYMOVE);
	CU_ASSERT_FATAL(q != MAP_FAILED);
	for (size_t i = 0; i < 1 * MiB; i++)
		same &= q[i] == 7;
	CU_ASSERT(same);
	CU_ASSERT(managed(q) && managed(q + 3 * MiB));
	memset(q, 8, 4 * MiB); /* written after the move: no fault goes astray */
	CU_ASSERT(epochs_pass(2));
	same = true;
	for (size_t i = 0; i < 4 * MiB; i++)
		same &= q[i] == 8;
	CU_ASSERT(same);
	munmap(q, 4 * MiB);
}

/* The program's own mbind wins, and the engine leaves the range alone. */
static void test_program_mbind(void)
{
	char *p = map(1 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned long node0 = 1;

	CU_ASSERT(managed(p));
	CU_ASSERT_EQUAL(mbind(p, 1 * MiB, MPOL_BIND_, &node0, 64, 0), 0);
	memset(p, 1, 1 * MiB);
	CU_ASSERT(epochs_pass(3)); /* epochs in which the engine could have touched it */
	CU_ASSERT_EQUAL(policy_of(p), MPOL_BIND_);
	munmap(p, 1 * MiB);
}

static int threads_of_self(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* . and .. */
}

/* fork: the child has its own policy thread (the parent's was not
 * copied), and copy-on-write holds both ways. */
static void test_fork(void)
{
	size_t n = 4 * MiB;
	char *a = malloc(n);
	int pipefd[2], st;
	pid_t pid;

	memset(a, 1, n);
	CU_ASSERT(epochs_pass(2)); /* a tracked, armed heap at fork */
	CU_ASSERT_EQUAL(threads_of_self(), 2); /* main + policy thread */
	CU_ASSERT_FATAL(pipe(pipefd) == 0);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (!pid) {
		char ok = 1, c;

		for (size_t i = 0; i < n; i++)
			ok &= a[i] == 1;
		ok &= threads_of_self() == 2;
		memset(a, 2, n); /* the parent must never see this */
		ok &= epochs_pass(2); /* the child's own thread, over its copy */
		for (size_t i = 0; i < n; i++)
			ok &= a[i] == 2;
		if (read(pipefd[0], &c, 1) != 1) /* the parent wrote after fork */
			ok = 0;
		ok &= a[0] == 2;
		_exit(ok ? 0 : 1);
	}
	memset(a, 3, n);
	CU_ASSERT(write(pipefd[1], "x", 1) == 1);
	CU_ASSERT(waitpid(pid, &st, 0) == pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CU_ASSERT(a[0] == 3 && a[n - 1] == 3);
	close(pipefd[0]);
	close(pipefd[1]);
	free(a);
}

static const struct hy_test tests[] = {
	HY_TEST(test_malloc_family), HY_TEST(test_heap_is_hybrid), HY_TEST(test_jemalloc_options), HY_TEST(test_mapping_rules),
	HY_TEST(test_map_fixed),     HY_TEST(test_mremap),	   HY_TEST(test_program_mbind),
	HY_TEST(test_fork),
};

/* Preloaded?  A sanitized build never is: its runtime must come first in the
 * library list, and owns malloc (tests/unit/preload.cmake). */
static const char *preloaded(void)
{
	if (SANITIZED)
		return "a sanitizer build: its runtime owns malloc and must load first, so "
		       "libhybrid.so cannot be preloaded";
	if (!getenv("LD_PRELOAD") || !strstr(getenv("LD_PRELOAD"), "libhybrid.so"))
		return "libhybrid.so not preloaded (ctest preloads it)";
	return NULL;
}

static const struct hy_suite suites[] = {HY_SUITE(NULL, tests, preloaded)};

int main(int argc, char **argv)
{
	return hy_cunit_main(argc - 1, argv + 1, "preload", suites, 1);
}
