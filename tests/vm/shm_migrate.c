/* SPDX-License-Identifier: MIT */
/*
 * shm_migrate — shared memory migrated by libhybrid while another process
 * reads it, and the migrating process killed in the middle (issue 9); the
 * three roles of test_shm_kill.sh.  Linked with -lhybrid: the preload never
 * manages MAP_SHARED mappings (other processes own them too), but the API
 * takes any range the program owns, a shared one included.
 *
 *   shm_migrate writer MIB
 *     A memfd of MIB MiB, mapped MAP_SHARED and filled with a pattern that
 *     names each page (a page moved to the wrong place shows), then moved
 *     back and forth with hybrid_madvise(HYBRID_HINT_HOT) and (COLD): each
 *     cycle waits (hybrid_where) until the whole range is on the target tier,
 *     at most 300 of the library's epochs (a wall-clock ceiling of 300 s for
 *     an engine whose epochs stopped), and prints "cycle N: tier T ..." with
 *     the counters.  Prints
 *     "ready PID FD" first (the reader opens /proc/PID/fd/FD).  Never ends:
 *     it is killed.  The writer never writes the range after filling it.
 *
 *   shm_migrate reader PID FD MIB STOPFILE
 *     Opens /proc/PID/fd/FD (its own descriptor of the memfd, which outlives
 *     the writer) and verifies every byte, pass after pass, until STOPFILE
 *     exists: three passes in four with pread(2) (the page stays mapped by
 *     the writer alone, so move_pages may move it while we read), every
 *     fourth through a mapping of its own (mmap, read, munmap: while mapped
 *     by two processes a page cannot move, move_pages says -EACCES).  Counts
 *     the passes made while the writer was alive and after (alive when the
 *     pass began); after each, "reader: pass N, writer alive|gone".  Prints
 *     "reader: ..." and exits 1 on any mismatch.
 *
 *   shm_migrate killer PID SECONDS
 *     Watches /proc/PID/task/ * /syscall and sends SIGKILL the moment a
 *     thread of PID is inside move_pages(2); after SECONDS without seeing
 *     one it kills anyway and says so (exit 2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hybrid.h"
#include "../support.h"

#define PG 4096
#define CHUNK (256 << 10)

/* byte j of page i: the page number is in every 8-byte word */
static inline uint8_t pat(size_t i, size_t j)
{
	uint64_t w = (uint64_t)i * 0x9e3779b97f4a7c15ull + (j / 8) * 0xbf58476d1ce4e5b9ull;

	return (uint8_t)(w >> ((j % 8) * 8));
}

/* number of bytes of buf (at file offset off) that differ from the pattern */
static size_t verify(const uint8_t *buf, size_t off, size_t n, size_t *first)
{
	size_t bad = 0;

	for (size_t k = 0; k < n; k++)
		if (buf[k] != pat((off + k) / PG, (off + k) % PG)) {
			if (!bad)
				*first = off + k;
			bad++;
		}
	return bad;
}

static int writer(size_t mib)
{
	size_t len = mib << 20;
	struct hybrid_stats st = {.size = sizeof(st)};
	struct hybrid_where w = {.size = sizeof(w)};
	uint8_t *p;
	int fd, rc, last;

	rc = hybrid_init(NULL); /* -EALREADY: started already, as preloaded (hybridctl) */
	if (rc && rc != -EALREADY)
		hy_skip("writer: hybrid_init: %s (needs two tiers)", hybrid_strerror(rc));
	fd = memfd_create("hybrid-shm-test", 0);
	if (fd < 0 || ftruncate(fd, (off_t)len)) {
		perror("writer: memfd");
		return 1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("writer: mmap");
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = pat(i / PG, i % PG);
	rc = hybrid_madvise(p, len, HYBRID_HINT_COLD);
	if (rc) {
		printf("writer: hybrid_madvise(MAP_SHARED memfd, COLD): %s\n", hybrid_strerror(rc));
		return 1;
	}
	last = 0;
	printf("ready %d %d\n", (int)getpid(), fd);
	fflush(stdout);
	for (int c = 1;; c++) {
		int hot = c % 2, target;
		double t0 = now_s(), t = t0;
		uint64_t e0;

		hybrid_get_stats(&st);
		e0 = st.epochs;

		rc = hybrid_madvise(p, len, hot ? HYBRID_HINT_HOT : HYBRID_HINT_COLD);
		if (rc) {
			printf("writer: hybrid_madvise(%s): %s\n", hot ? "HOT" : "COLD",
			       hybrid_strerror(rc));
			return 1;
		}
		for (;;) {
			if (hybrid_where(p, len, &w)) {
				printf("writer: hybrid_where failed\n");
				return 1;
			}
			target = hot ? 0 : w.ntiers - 1;
			hybrid_get_stats(&st);
			if (w.tier_bytes[target] == len || st.epochs >= e0 + 300 || t - t0 > 300)
				break;
			usleep(20000);
			t = now_s();
		}
		hybrid_get_stats(&st);
		printf("cycle %d: tier %d holds %llu of %zu bytes after %.2f s, %llu epochs; promoted "
		       "%llu demoted %llu pages, fail_access %llu, fail_busy %llu\n",
		       c, target, (unsigned long long)w.tier_bytes[target], len, t - t0,
		       (unsigned long long)(st.epochs - e0),
		       (unsigned long long)st.promote_pages, (unsigned long long)st.demote_pages,
		       (unsigned long long)st.fail_access, (unsigned long long)st.fail_busy);
		fflush(stdout);
		last = c;
	}
	return last < 0;
}

static int alive(int pid)
{
	char path[64], buf[256], *rp;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static int reader(int pid, int wfd, size_t mib, const char *stopfile)
{
	size_t len = mib << 20, bad = 0, first = 0, bytes = 0;
	long passes[2] = {0, 0}, mapped = 0;
	char path[64];
	uint8_t *buf = malloc(CHUNK);
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, wfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf) {
		printf("reader: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("reader: opened %s\n", path);
	fflush(stdout);
	for (long n = 0; access(stopfile, F_OK) != 0; n++) {
		int during = alive(pid);
		size_t b0 = bad;

		if (n % 4 == 3) {
			uint8_t *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

			if (m == MAP_FAILED) {
				printf("reader: mmap: %s\n", strerror(errno));
				return 1;
			}
			bad += verify(m, 0, len, &first);
			munmap(m, len);
			mapped++;
		} else {
			for (size_t off = 0; off < len; off += CHUNK) {
				ssize_t r = pread(fd, buf, CHUNK, (off_t)off);

				if (r != CHUNK) {
					printf("reader: pread at %zu: %zd (%s)\n", off, r,
					       r < 0 ? strerror(errno) : "short");
					return 1;
				}
				bad += verify(buf, off, CHUNK, &first);
			}
		}
		bytes += len;
		passes[!during]++;
		if (bad != b0)
			printf("reader: pass %ld: %zu bytes differ (first at offset %zu)\n", n,
			       bad - b0, first);
		printf("reader: pass %ld, writer %s\n", n, during ? "alive" : "gone");
		fflush(stdout);
	}
	printf("reader: %ld passes while the writer lived, %ld after it was killed (%ld through "
	       "a mapping), %zu bytes verified, %zu differed\n",
	       passes[0], passes[1], mapped, bytes, bad);
	return bad ? 1 : 0;
}

/* the syscall number a thread of pid is in, for each thread; 1 if one is in move_pages */
static int in_move_pages(int pid, int *tid)
{
	char path[320], buf[128];
	struct dirent *d;
	DIR *dir;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (!found && (d = readdir(dir))) {
		int fd;
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", pid, d->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			if (atoi(buf) == SYS_move_pages && buf[0] != '-') {
				found = 1;
				*tid = atoi(d->d_name);
			}
		}
	}
	closedir(dir);
	return found;
}

static int killer(int pid, double secs)
{
	double end = now_s() + secs;
	long polls = 0;
	int tid = 0, r;

	while (now_s() < end) {
		polls++;
		r = in_move_pages(pid, &tid);
		if (r < 0) {
			printf("killer: process %d is gone\n", pid);
			return 1;
		}
		if (r) {
			kill(pid, SIGKILL);
			printf("killer: SIGKILL to %d while its thread %d was in move_pages (poll %ld)\n",
			       pid, tid, polls);
			return 0;
		}
	}
	kill(pid, SIGKILL);
	printf("killer: SIGKILL to %d: no thread seen in move_pages in %.0f s (%ld polls)\n", pid,
	       secs, polls);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "writer"))
		return writer((size_t)atoi(argv[2]));
	if (argc == 6 && !strcmp(argv[1], "reader"))
		return reader(atoi(argv[2]), atoi(argv[3]), (size_t)atoi(argv[4]), argv[5]);
	if (argc == 4 && !strcmp(argv[1], "killer"))
		return killer(atoi(argv[2]), atof(argv[3]));
	fprintf(stderr, "usage: shm_migrate writer MIB | reader PID FD MIB STOPFILE | killer PID SECONDS\n");
	return 2;
}
