/* SPDX-License-Identifier: MIT */
/*
 * unpriv_probe — a plain program (not linked with libhybrid) for
 * test_unpriv_uffd.sh: run with and without the preload, as root and as an
 * unprivileged user, in the tiered VM.
 *
 *   unpriv_probe [EPOCHS [UNTIL_FAST_EPOCHS [read]]]
 *
 * stdout (identical with and without the library):
 *   heap: <checksum>, mmap: <checksum>
 *   read(2) into the heap: 61440 bytes, intact
 *   unpriv_probe: ok
 * stderr (what the test checks, never compared):
 *   uffd: uid U, userfaultfd(0) ok|E..., user-mode-only ok|E..., /dev/userfaultfd ok|E...
 *   where (first touch): heap N0 on node 0, N1 on node 1, ...; mmap ...
 *   rewrites: R rounds over E of the library's epochs (S s)[, ceiling reached]
 *   where (end): the same after the rewrites (promoted pages on node 0)
 *
 * Memory: 16 MiB from malloc and a 16 MiB private anonymous mapping (both
 * above the 64 KiB minimum managed size), written, then written again and
 * again while the library runs EPOCHS epochs (default 20) so that tracking
 * epochs pass over written pages (with "read": read again instead, one byte
 * a page, for the rwp backend); then, with UNTIL_FAST_EPOCHS, on until some
 * page is on node 0, at most that many epochs more.  Epochs, not seconds: a
 * 200-ms epoch under emulation on a busy host may take seconds, and the
 * rule the library applies counts epochs.  They are read with
 * hybrid_get_stats, found with dlsym where the library is preloaded
 * (tests/support.h: the probe does not link it); without it (the plain run)
 * two rounds.  Ceilings on the wall clock, 120 s for the first part and 600
 * s in all, only end a run whose epochs stopped.  Last, a
 * 60 KiB read(2) from a pipe into the heap block (a system call writing into
 * tracked memory: with a user-mode-only userfaultfd and a write-protected
 * page, the sync backend would make it fail with EFAULT).  Placement is
 * queried with move_pages(2) (nodes NULL) for every page.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../support.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define MIB (1u << 20)
#define PG 4096
#define PIPE_BYTES 61440

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void uffd_report(void)
{
	char a[32] = "ok", b[32] = "ok", c[32] = "ok";
	int fd;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		snprintf(a, sizeof(a), "%s", strerrorname_np(errno));
	else
		close(fd);
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		snprintf(b, sizeof(b), "%s", strerrorname_np(errno));
	else
		close(fd);
	fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		snprintf(c, sizeof(c), "%s", strerrorname_np(errno));
	else
		close(fd);
	fprintf(stderr, "uffd: uid %d, userfaultfd(0) %s, user-mode-only %s, /dev/userfaultfd %s\n",
		(int)getuid(), a, b, c);
}

/* "N0 on node 0, N1 on node 1" for the pages of [p, p+len) */
static void where(const char *name, unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t n = len / PG, cnt[8] = {0}, other = 0;
	void **pages = malloc(n * sizeof(*pages));
	int *st = malloc(n * sizeof(*st));
	int k = 0;

	for (size_t i = 0; i < n; i++)
		pages[i] = p + i * PG;
	if (syscall(SYS_move_pages, 0, n, pages, NULL, st, 0)) {
		snprintf(out, outlen, "%s move_pages: %s", name, strerror(errno));
		free(pages);
		free(st);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (st[i] >= 0 && st[i] < 8)
			cnt[st[i]]++;
		else
			other++;
	k = snprintf(out, outlen, "%s", name);
	for (int i = 0; i < 8; i++)
		if (cnt[i])
			k += snprintf(out + k, outlen - (size_t)k, " %zu on node %d,", cnt[i], i);
	snprintf(out + k, outlen - (size_t)k, " %zu elsewhere", other);
	free(pages);
	free(st);
}

/* Has any page of the heap block or the mapping come to node 0? */
static int on_node0(unsigned char *h, unsigned char *m, size_t len)
{
	char a[256], b[256];

	where("heap", h, len, a, sizeof(a));
	where("mmap", m, len, b, sizeof(b));
	return strstr(a, " on node 0,") || strstr(b, " on node 0,");
}

/* Where the library runs here: its epochs so far, else -1 (hy_lib_stats). */
static long long lib_epochs(void)
{
	struct hybrid_stats s;

	return hy_lib_stats(&s) ? (long long)s.epochs : -1;
}

int main(int argc, char **argv)
{
	/* 20 epochs: the probe writes all its memory alike, so the adaptive
	 * window's first, long windows catch all of it and are not counted
	 * (hy_win_learn); fewer left too few counted epochs for the twice rule */
	long long epochs = argc > 1 ? atoll(argv[1]) : 20;
	/* then, where promotion is expected, on until some page is on node 0
	 * (an event: the adaptive window can take many epochs to find this
	 * program, which writes all its memory alike), at most this many epochs
	 * more */
	long long until_fast = argc > 2 ? atoll(argv[2]) : 0;
	/* read instead of writing: what only read-write protection sees */
	int reads = argc > 3 && !strcmp(argv[3], "read");
	volatile unsigned sink = 0;
	size_t len = 16 * MIB;
	unsigned char *h = malloc(len), *m, src[PIPE_BYTES];
	double t0;
	char w1[256], w2[256];
	int fds[2], bad = 0, ceiling = 0;
	unsigned rounds = 0, done = 0;
	long long e0, e = -1;

	uffd_report();
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!h || m == MAP_FAILED) {
		perror("unpriv_probe: memory");
		return 1;
	}
	for (size_t i = 0; i < len; i++) {
		h[i] = (unsigned char)(i * 7 + 1);
		m[i] = (unsigned char)(i * 13 + 5);
	}
	/* where the pages were placed at first touch */
	where("heap", h, len, w1, sizeof(w1));
	where("mmap", m, len, w2, sizeof(w2));
	fprintf(stderr, "where (first touch): %s; %s\n", w1, w2);
	/* writes in several epochs: what tracking watches (and promotes) */
	t0 = now_s();
	e0 = lib_epochs();
	for (;;) {
		for (size_t i = 0; i < len; i += PG) {
			if (reads) {
				sink += h[i] + m[i];
				continue;
			}
			h[i] = (unsigned char)(h[i] + 1);
			m[i] = (unsigned char)(m[i] + 1);
		}
		rounds += !reads;
		done++;
		usleep(50000);
		e = lib_epochs();
		if (e0 < 0 || e < 0) { /* no library here: nothing to wait for */
			if (done >= 2)
				break;
			continue;
		}
		if (e < e0 + epochs) { /* the first part */
			if (now_s() - t0 < 120)
				continue;
			ceiling = 1;
			break;
		}
		if (e >= e0 + epochs + until_fast || !until_fast || on_node0(h, m, len))
			break;
		if (now_s() - t0 >= 600) {
			ceiling = 1;
			break;
		}
	}
	fprintf(stderr, "rewrites: %u rounds over %lld of the library's epochs (%.1f s)%s\n", done,
		e0 < 0 || e < 0 ? 0 : e - e0, now_s() - t0, ceiling ? ", ceiling reached" : "");
	for (size_t i = 0; i < len; i += PG) { /* the count of rounds must not show in the output */
		h[i] = (unsigned char)(h[i] - rounds);
		m[i] = (unsigned char)(m[i] - rounds);
	}
	/* the kernel writes into the (tracked) heap block */
	for (size_t i = 0; i < PIPE_BYTES; i++)
		src[i] = (unsigned char)(i * 3 + 11);
	if (pipe(fds) || write(fds[1], src, PIPE_BYTES) != PIPE_BYTES) {
		perror("unpriv_probe: pipe");
		return 1;
	}
	size_t got = 0;
	while (got < PIPE_BYTES) {
		ssize_t r = read(fds[0], h + 3 * MIB + 100 + got, PIPE_BYTES - got);
		if (r <= 0) {
			fprintf(stderr, "unpriv_probe: read(2) into the heap: %s\n",
				r < 0 ? strerror(errno) : "EOF");
			bad = 1;
			break;
		}
		got += (size_t)r;
	}
	int intact = !bad && memcmp(h + 3 * MIB + 100, src, PIPE_BYTES) == 0;
	memset(h + 3 * MIB + 100, 0x5a, PIPE_BYTES);
	printf("heap: %016llx, mmap: %016llx\n", (unsigned long long)fnv(0xcbf29ce484222325ull, h, len),
	       (unsigned long long)fnv(0xcbf29ce484222325ull, m, len));
	printf("read(2) into the heap: %zu bytes, %s\n", got, intact ? "intact" : "CHANGED");
	where("heap", h, len, w1, sizeof(w1));
	where("mmap", m, len, w2, sizeof(w2));
	fprintf(stderr, "where (end): %s; %s\n", w1, w2);
	printf("unpriv_probe: %s\n", intact ? "ok" : "FAILED");
	free(h);
	munmap(m, len);
	return intact ? 0 : 1;
}
