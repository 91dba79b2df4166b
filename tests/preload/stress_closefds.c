/* SPDX-License-Identifier: MIT */
/*
 * stress_closefds — close every file descriptor like a daemon does, reuse the
 * numbers for the program's own files, then keep allocating and mapping.
 *
 *   stress_closefds [SCALE]              runs "loop", then "closefrom"
 *   stress_closefds --mode loop|closefrom
 * (SCALE is accepted like the other programs' and ignored: the work is
 * what the library needs to run a few epochs.)  Every wait for the library
 * has a 60-s ceiling (a hang is a failure, a slow machine is not).
 *
 * Each mode, in a process of its own (posix_spawn of this program, so the
 * library starts in it as in any program):
 *   1. allocate heap blocks and a mapping and start a thread that keeps
 *      allocating, then wait until the library's policy thread has run 3
 *      epochs with its descriptors (userfaultfd, eventfd, ...) open (read
 *      through hybrid_get_stats where the library is loaded; no wait in
 *      the plain run);
 *   2. close 0 and 3..1023: close() one by one ("loop") or closefrom(3)
 *      (glibc: close_range(2), one system call);
 *   3. reuse the numbers: a non-blocking pipe and a memfd with 64 KiB of known
 *      content are dup2()ed over descriptors 3..63 (read end, write end and
 *      file in turn), and 1000 known bytes are put into the pipe;
 *   4. for at least 50 rounds, and until the library has run 3 more epochs
 *      (where it runs): allocate, fill, check and free mixed sizes (small,
 *      and above 64 KiB), mmap/mremap/munmap private ranges, in two threads;
 *   5. check that nothing wrote to or read from the program's descriptors:
 *      the pipe holds exactly the 1000 bytes and nothing more, the memfd's
 *      content, size and offset are unchanged, and every buffer is intact.
 * stdout and stderr stay open (the checks report there).  A library that
 * notices its descriptors are gone may say so once on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "stress.h"

#define TOKEN 1000
#define FILESZ 65536

extern char **environ;
static atomic_int stop;

/* One round of work: heap blocks and mappings, each checked. */
static void work_round(uint64_t *r, uint64_t tag)
{
	size_t hsize = rnd_below(r, 4) == 0 ? 65536 + rnd_below(r, 1 << 20) : 1 + rnd_below(r, 4000);
	uint8_t *h = malloc(hsize);

	if (!h) {
		CHECK_FAIL("malloc(%zu) failed", hsize);
		return;
	}
	pat_fill(h, hsize, tag);

	size_t msize = (1 + rnd_below(r, 64)) * 4096; /* 4 KiB .. 256 KiB */
	uint8_t *m = mmap(NULL, msize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		CHECK_FAIL("mmap(%zu): %s", msize, strerror(errno));
	} else {
		pat_fill(m, msize, tag + 1);
		uint8_t *m2 = mremap(m, msize, msize * 2, MREMAP_MAYMOVE);
		if (m2 == MAP_FAILED) {
			CHECK_FAIL("mremap(%zu -> %zu): %s", msize, msize * 2, strerror(errno));
			munmap(m, msize);
		} else {
			size_t off = pat_check(m2, msize, tag + 1);
			CHECK(off == msize, "mremap %zu -> %zu: byte %zu changed", msize, msize * 2,
			      off);
			CHECK(m2[msize * 2 - 1] == 0, "mremap: the new tail is not zero");
			munmap(m2, msize * 2);
		}
	}
	size_t off = pat_check(h, hsize, tag);
	CHECK(off == hsize, "heap block of %zu: byte %zu changed", hsize, off);
	free(h);
}

static void *worker(void *arg)
{
	uint64_t r = (uint64_t)(uintptr_t)arg, tag = 1000000;

	while (!atomic_load(&stop))
		work_round(&r, tag += 2);
	return NULL;
}

static int run_mode(const char *mode)
{
	uint64_t r = 42, tag = 0;
	pthread_t t1, t2;
	int p[2], mfd;
	static uint8_t file[FILESZ], back[FILESZ], token[TOKEN], got[TOKEN + 64];

	/* 1. a running library with its descriptors */
	uint8_t *keep = malloc(300000), *kmap = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
						    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!keep || kmap == MAP_FAILED) {
		perror("allocating");
		return 1;
	}
	pat_fill(keep, 300000, 7);
	pat_fill_pages(kmap, 1 << 20, 8);
	if (pthread_create(&t1, NULL, worker, (void *)1)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	CHECK(hy_lib_wait_epochs(3, HY_WAIT_CEILING), "%s: the library ran no 3 epochs in %.0f s",
	      mode, HY_WAIT_CEILING);

	/* 2. close them all (but stdout and stderr) */
	if (strcmp(mode, "closefrom") == 0) {
		close(0);
		closefrom(3);
	} else {
		close(0);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}

	/* 3. reuse the numbers */
	if (pipe2(p, O_NONBLOCK) || (mfd = memfd_create("stress_closefds", 0)) < 0) {
		perror("pipe/memfd");
		return 1;
	}
	pat_fill(file, FILESZ, 9);
	pat_fill(token, TOKEN, 10);
	if (write(mfd, file, FILESZ) != FILESZ || write(p[1], token, TOKEN) != TOKEN) {
		perror("write");
		return 1;
	}
	for (int fd = 3; fd < 64; fd++) {
		int src = fd % 3 == 0 ? p[0] : fd % 3 == 1 ? p[1] : mfd;

		if (fd != p[0] && fd != p[1] && fd != mfd && dup2(src, fd) != fd) {
			perror("dup2");
			return 1;
		}
	}

	/* 4. keep working */
	if (pthread_create(&t2, NULL, worker, (void *)2)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	/* at least 50 rounds, and 3 epochs of the library with its descriptors
	 * gone, however slow the machine */
	struct hybrid_stats hs;
	bool lib = hy_lib_stats(&hs); /* preloaded (else nothing to wait for) */
	double end = now_s() + HY_WAIT_CEILING;
	for (int rounds = 0; rounds < 50 || (lib && hy_lib_epochs() < hs.epochs + 3 && now_s() < end);
	     rounds++)
		work_round(&r, tag += 2);
	CHECK(!lib || hy_lib_epochs() >= hs.epochs + 3,
	      "%s: the library ran no 3 epochs after the close in %.0f s", mode, HY_WAIT_CEILING);
	atomic_store(&stop, 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);

	/* 5. nothing touched the program's descriptors or memory */
	ssize_t n = read(p[0], got, sizeof(got));
	CHECK(n == TOKEN && memcmp(got, token, TOKEN) == 0,
	      "%s: the pipe gave %zd bytes, want the %d the program wrote", mode, n, TOKEN);
	n = read(p[0], got, sizeof(got));
	CHECK(n < 0 && errno == EAGAIN, "%s: the pipe holds %zd more bytes nobody of the program wrote",
	      mode, n);
	struct stat st;
	CHECK(fstat(mfd, &st) == 0 && st.st_size == FILESZ, "%s: the file's size changed to %lld",
	      mode, (long long)st.st_size);
	CHECK(lseek(mfd, 0, SEEK_CUR) == FILESZ, "%s: the file's offset moved to %lld", mode,
	      (long long)lseek(mfd, 0, SEEK_CUR));
	CHECK(pread(mfd, back, FILESZ, 0) == FILESZ && memcmp(back, file, FILESZ) == 0,
	      "%s: the file's content changed", mode);
	CHECK(pat_check(keep, 300000, 7) == 300000, "%s: the heap block kept from before changed",
	      mode);
	CHECK(pat_check_pages(kmap, 1 << 20, 8) == 1 << 20,
	      "%s: the mapping kept from before changed", mode);
	free(keep);
	munmap(kmap, 1 << 20);
	printf("stress_closefds %s: descriptors closed and reused, pipe, file and memory intact\n",
	       mode);
	return checks_done("stress_closefds");
}

int main(int argc, char **argv)
{
	char self[4096];
	const char *modes[] = {"loop", "closefrom"};
	int bad = 0;

	if (argc > 2 && strcmp(argv[1], "--mode") == 0)
		return run_mode(argv[2]);

	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self[n] = 0;
	(void)argc, (void)argv;
	fflush(stdout);
	for (int i = 0; i < 2; i++) {
		char *args[] = {self, "--mode", (char *)modes[i], NULL};
		pid_t pid;
		int st, rc = posix_spawn(&pid, self, NULL, NULL, args, environ);

		if (rc) {
			fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
			return 1;
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			printf("stress_closefds %s: FAILED (status %#x)\n", modes[i], st);
			bad = 1;
		}
	}
	return bad;
}
