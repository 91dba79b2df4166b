/* SPDX-License-Identifier: MIT */
/*
 * stress_fork — fork while other threads allocate, with copy-on-write checked
 * on both sides; also posix_spawn and vfork+exec.
 *
 *   stress_fork [SCALE]          (stress_fork --spawned: the spawned child)
 *
 * Four threads (at nice 19, so that the main thread keeps a core) allocate,
 * fill, check and free mixed sizes for the whole run, so forks happen while
 * they are inside the allocator.  The main thread owns three buffers: a small
 * heap block, a 256 KiB heap block and a 512 KiB private anonymous mapping
 * (both above the 64 KiB minimum managed size).  300 times:
 *
 *   parent: fill the buffers with pattern A; fork
 *   parent: overwrite them with pattern B, then tell the child (pipe)
 *   child:  wait for that, check it still sees A (a page written by the parent
 *           after fork is never seen by the child), write C and check it,
 *           allocate and free (every 10th child also in a new thread), exit()
 *   parent: the child exited 0, and the buffers hold B (the child's C writes
 *           are not seen by the parent)
 *
 * Every 20th round also posix_spawn()s, and every 25th vfork()+execv()s, this
 * program with --spawned (allocates, checks, exits 7).  Output: the counts
 * and "stress_fork: ok".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "stress.h"

#define NTHREADS 4
#define SMALL 1000
#define BIG (256 << 10)
#define MAP (512 << 10)

extern char **environ;
static atomic_int stop;
static char self[4096];

/* A thread that keeps allocating until told to stop. */
static void *churn(void *arg)
{
	uint64_t r = (uint64_t)(uintptr_t)arg * 7919 + 1, tag = (uint64_t)(uintptr_t)arg << 40;
	void *keep[16] = {0};
	size_t ksize[16] = {0};
	uint64_t ktag[16] = {0};

	while (!atomic_load(&stop)) {
		int i = (int)rnd_below(&r, 16);
		size_t size = rnd_below(&r, 10) == 0 ? 65536 + rnd_below(&r, 512 * 1024)
						       : 1 + rnd_below(&r, 2048);

		if (keep[i]) {
			size_t n = ksize[i] < 4096 ? ksize[i] : 4096;
			size_t off = pat_check(keep[i], n, ktag[i]);

			CHECK(off == n, "thread block %p size %zu: byte %zu changed", keep[i],
			      ksize[i], off);
			free(keep[i]);
		}
		keep[i] = malloc(size);
		if (!keep[i]) {
			CHECK_FAIL("thread malloc(%zu) failed", size);
			continue;
		}
		ksize[i] = size;
		ktag[i] = ++tag;
		pat_fill(keep[i], size < 4096 ? size : 4096, ktag[i]);
	}
	for (int i = 0; i < 16; i++)
		free(keep[i]);
	return NULL;
}

static void fill_all(uint8_t *small, uint8_t *big, uint8_t *map, uint64_t tag)
{
	pat_fill(small, SMALL, tag);
	pat_fill_pages(big, BIG, tag);
	pat_fill_pages(map, MAP, tag + 1);
}

/* 0 when all three buffers hold tag's pattern, else reports and returns 1. */
static int check_all(const uint8_t *small, const uint8_t *big, const uint8_t *map, uint64_t tag,
		     const char *who)
{
	size_t a = pat_check(small, SMALL, tag), b = pat_check_pages(big, BIG, tag),
	       c = pat_check_pages(map, MAP, tag + 1);

	CHECK(a == SMALL, "%s: small block byte %zu is not pattern %llx", who, a,
	      (unsigned long long)tag);
	CHECK(b == BIG, "%s: 256 KiB block byte %zu is not pattern %llx", who, b,
	      (unsigned long long)tag);
	CHECK(c == MAP, "%s: 512 KiB mapping byte %zu is not pattern %llx", who, c,
	      (unsigned long long)tag + 1);
	return a != SMALL || b != BIG || c != MAP;
}

static void *child_thread(void *arg)
{
	size_t n = (size_t)(uintptr_t)arg;
	uint8_t *p = malloc(n);

	if (!p)
		return (void *)1;
	pat_fill(p, n, 99);
	void *bad = (void *)(uintptr_t)(pat_check(p, n, 99) != n);
	free(p);
	return bad;
}

static int spawned(void)
{
	int bad = 0;

	for (size_t n = 16; n <= (4 << 20); n *= 4) {
		uint8_t *p = malloc(n);

		if (!p)
			return 1;
		pat_fill(p, n, n);
		bad |= pat_check(p, n, n) != n;
		free(p);
	}
	return bad ? 1 : 7;
}

/* vfork in a function of its own: the child only execs or _exits, and the
 * caller's variables are not clobbered. */
static __attribute__((noinline)) pid_t vfork_exec(char **args)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execv(self, args);
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	pthread_t tid[NTHREADS];
	long rounds, spawns = 0, vforks = 0;
	uint8_t *small, *big, *map;

	if (argc > 1 && strcmp(argv[1], "--spawned") == 0)
		return spawned();
	rounds = scaled(300, stress_scale(argc, argv));
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self[n] = 0;
	small = malloc(SMALL);
	big = malloc(BIG);
	map = mmap(NULL, MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!small || !big || map == MAP_FAILED) {
		perror("allocating the buffers");
		return 1;
	}
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&tid[i], NULL, churn, (void *)(uintptr_t)(i + 1))) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}

	for (long i = 0; i < rounds; i++) {
		uint64_t a = 1000 + (uint64_t)i * 8, b = a + 2, c = a + 4;
		int fds[2], st;
		char x;

		fill_all(small, big, map, a);
		if (pipe(fds)) {
			perror("pipe");
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			int bad;

			close(fds[1]);
			if (read(fds[0], &x, 1) != 1)
				_exit(3);
			bad = check_all(small, big, map, a, "child, after the parent wrote");
			fill_all(small, big, map, c);
			bad |= check_all(small, big, map, c, "child, its own writes");
			void *p = malloc(200000), *q = calloc(10, 100);
			if (!p || !q)
				bad = 1;
			else {
				memset(p, 1, 200000);
				free(p);
				free(q);
			}
			if (i % 10 == 0) {
				pthread_t t;
				void *res = (void *)1;

				if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)100000) ||
				    pthread_join(t, &res) || res)
					bad = 1;
			}
			exit(bad);
		}
		close(fds[0]);
		fill_all(small, big, map, b);
		if (write(fds[1], "x", 1) != 1)
			perror("write");
		close(fds[1]);
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %ld: child status %#x", i, st);
		check_all(small, big, map, b, "parent, after the child wrote");

		char *args[] = {self, "--spawned", NULL};
		if (i % 20 == 0) {
			int rc = posix_spawn(&pid, self, NULL, NULL, args, environ);

			CHECK(rc == 0, "posix_spawn: %s", strerror(rc));
			if (rc == 0 && waitpid(pid, &st, 0) == pid)
				CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7,
				      "round %ld: spawned child status %#x", i, st);
			spawns++;
		}
		if (i % 25 == 0) {
			pid = vfork_exec(args);
			CHECK(pid > 0, "vfork: %s", strerror(errno));
			if (pid > 0 && waitpid(pid, &st, 0) == pid)
				CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7,
				      "round %ld: vforked child status %#x", i, st);
			vforks++;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(tid[i], NULL);
	free(small);
	free(big);
	munmap(map, MAP);
	printf("stress_fork: %ld forks with %d threads running, %ld posix_spawns, %ld vforks\n",
	       rounds, NTHREADS, spawns, vforks);
	return checks_done("stress_fork");
}
