/* SPDX-License-Identifier: MIT */
/*
 * stress_forkmt — forks from several threads at once, with copy-on-write
 * checked both ways (issue 9: fork storms).
 *
 *   stress_forkmt [SCALE]
 *
 * Four threads, each owning a small heap block (3000 bytes), a 256 KiB heap
 * block and a 512 KiB private anonymous mapping (the last two above the
 * 64 KiB minimum managed size), plus one 1 MiB mapping shared by all of
 * them, one 4 KiB slice per thread.  All threads meet at a barrier before
 * every round, so that their forks happen at the same moment (and while the
 * other threads are inside malloc, free or the fork handlers).  75 rounds
 * per thread (300 forks):
 *
 *   parent thread: fill its buffers with pattern A; fork
 *   parent thread: overwrite them with pattern B, then tell the child (pipe)
 *   child:   wait for that, check it still sees A in its buffers and in its
 *            slice of the common mapping, write C and check it, malloc and
 *            free a few sizes (every 8th child also from a new thread), and
 *            exit() with 40 + the thread's index
 *   parent thread: the child exited with that status, and its buffers and
 *            slice hold B (the child's C writes are not seen)
 *
 * The child of a threaded parent has one thread; it uses malloc and
 * pthread_create all the same, as real programs do (the library's fork
 * handlers must leave every lock usable).  Output: the counts and
 * "stress_forkmt: ok".  A fork child that hangs shows as a timeout of the
 * whole run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "stress.h"

#define NTHREADS 4
#define SMALL 3000
#define BIG (256 << 10)
#define MAP (512 << 10)
#define COMMON (1 << 20)
#define SLICE 4096

static uint8_t *common;
static long rounds;
static pthread_barrier_t barrier;
static atomic_long forks, child_threads;

struct bufs {
	uint8_t *small, *big, *map, *slice;
};

static void fill_all(const struct bufs *b, uint64_t tag)
{
	pat_fill(b->small, SMALL, tag);
	pat_fill_pages(b->big, BIG, tag);
	pat_fill_pages(b->map, MAP, tag + 1);
	pat_fill(b->slice, SLICE, tag + 2);
}

/* 0 when every buffer holds tag's pattern, else reports and returns 1. */
static int check_all(const struct bufs *b, uint64_t tag, const char *who, long t, long i)
{
	size_t a = pat_check(b->small, SMALL, tag), c = pat_check_pages(b->big, BIG, tag),
	       d = pat_check_pages(b->map, MAP, tag + 1), s = pat_check(b->slice, SLICE, tag + 2);

	CHECK(a == SMALL, "thread %ld round %ld %s: small block byte %zu", t, i, who, a);
	CHECK(c == BIG, "thread %ld round %ld %s: 256 KiB block byte %zu", t, i, who, c);
	CHECK(d == MAP, "thread %ld round %ld %s: 512 KiB mapping byte %zu", t, i, who, d);
	CHECK(s == SLICE, "thread %ld round %ld %s: common mapping slice byte %zu", t, i, who, s);
	return a != SMALL || c != BIG || d != MAP || s != SLICE;
}

static void *child_thread(void *arg)
{
	size_t n = (size_t)(uintptr_t)arg;
	uint8_t *p = malloc(n);

	if (!p)
		return (void *)1;
	pat_fill(p, n, 77);
	void *bad = (void *)(uintptr_t)(pat_check(p, n, 77) != n);
	free(p);
	return bad;
}

/* In the child: never returns. */
static void child(const struct bufs *b, int rfd, long t, long i)
{
	uint64_t a = ((uint64_t)t << 32) + (uint64_t)i * 8, c = a + 4;
	int bad;
	char x;

	if (read(rfd, &x, 1) != 1)
		_exit(3);
	bad = check_all(b, a, "child, after the parent wrote", t, i);
	fill_all(b, c);
	bad |= check_all(b, c, "child, its own writes", t, i);
	for (size_t n = 24; n <= (1 << 20); n *= 8) {
		uint8_t *p = malloc(n);

		if (!p) {
			bad = 1;
			break;
		}
		pat_fill(p, n < 8192 ? n : 8192, n);
		bad |= pat_check(p, n < 8192 ? n : 8192, n) != (n < 8192 ? n : 8192);
		free(p);
	}
	if (i % 8 == 0) {
		pthread_t th;
		void *res = (void *)1;

		if (pthread_create(&th, NULL, child_thread, (void *)(uintptr_t)150000) ||
		    pthread_join(th, &res) || res)
			bad = 1;
	}
	exit(bad ? 1 : 40 + (int)t);
}

static void *forker(void *arg)
{
	long t = (long)(uintptr_t)arg;
	struct bufs b = {malloc(SMALL), malloc(BIG), NULL, common + t * SLICE};
	void *m = mmap(NULL, MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!b.small || !b.big || m == MAP_FAILED) {
		CHECK_FAIL("thread %ld: allocating its buffers failed", t);
		pthread_barrier_wait(&barrier); /* the others must not wait for us forever */
		for (long i = 0; i < rounds; i++)
			pthread_barrier_wait(&barrier);
		return NULL;
	}
	b.map = m;
	pthread_barrier_wait(&barrier);
	for (long i = 0; i < rounds; i++) {
		uint64_t a = ((uint64_t)t << 32) + (uint64_t)i * 8, bb = a + 2;
		int fds[2], st;

		fill_all(&b, a);
		if (pipe2(fds, O_CLOEXEC)) {
			CHECK_FAIL("thread %ld: pipe: %s", t, strerror(errno));
			pthread_barrier_wait(&barrier);
			continue;
		}
		pthread_barrier_wait(&barrier); /* all threads fork together */
		pid_t pid = fork();
		if (pid < 0) {
			CHECK_FAIL("thread %ld round %ld: fork: %s", t, i, strerror(errno));
			close(fds[0]);
			close(fds[1]);
			continue;
		}
		if (pid == 0) {
			close(fds[1]);
			child(&b, fds[0], t, i);
		}
		atomic_fetch_add(&forks, 1);
		if (i % 8 == 0)
			atomic_fetch_add(&child_threads, 1);
		close(fds[0]);
		fill_all(&b, bb);
		if (write(fds[1], "x", 1) != 1)
			CHECK_FAIL("thread %ld round %ld: write to the child: %s", t, i,
				    strerror(errno));
		close(fds[1]);
		/* also churn the heap while others fork */
		void *p = malloc(70000 + (size_t)i * 64), *q = calloc(3, 1000);
		free(q);
		if (waitpid(pid, &st, 0) != pid)
			CHECK_FAIL("thread %ld round %ld: waitpid: %s", t, i, strerror(errno));
		else
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 40 + t,
			      "thread %ld round %ld: child status %#x, want exit %ld", t, i, st,
			      40 + t);
		free(p);
		check_all(&b, bb, "parent, after the child wrote", t, i);
	}
	free(b.small);
	free(b.big);
	munmap(b.map, MAP);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t tid[NTHREADS];

	rounds = scaled(75, stress_scale(argc, argv));
	common = mmap(NULL, COMMON, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (common == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pthread_barrier_init(&barrier, NULL, NTHREADS);
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&tid[i], NULL, forker, (void *)(uintptr_t)i)) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(tid[i], NULL);
	munmap(common, COMMON);
	printf("stress_forkmt: %ld forks from %d threads at once (%ld rounds each), %ld children "
	       "started a thread\n",
	       atomic_load(&forks), NTHREADS, rounds, atomic_load(&child_threads));
	return checks_done("stress_forkmt");
}
