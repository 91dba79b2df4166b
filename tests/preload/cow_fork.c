/* SPDX-License-Identifier: MIT */
/*
 * cow_fork — copy-on-write across fork while the library moves pages: no
 * process may ever see another's writes, or lose its own.
 *
 *   cow_fork [-c CHILDREN] [-l LIFE_S]
 *
 * The parent fills 256 heap blocks (4 KiB to 1 MiB, from the preloaded
 * malloc: hybrid memory) with a pattern that names the writer, the block,
 * the word and the block's round, then rewrites a hot few and some others
 * over and over, verifying each block before it rewrites it.  Every 0.2 s
 * (4 at a time) it forks a child that first verifies every block as
 * inherited, then for LIFE_S seconds verifies and rewrites random blocks
 * with its own name, verifies all again and exits (a lost copy-on-write
 * shows as a child seeing the parent's later writes, or the parent a
 * child's).  The block table and rounds live outside the heap.  The parent
 * runs until CHILDREN children have come and gone and its library has
 * promoted 256 pages and demoted 64 (run it with a DRAM limit: events, not
 * time; a ceiling of 600 s only catches a hang).  In the tiered VM the
 * pages really move; on the host's loopback pair the same calls run.
 *
 * Prints what it did; exit 0 pass, 1 fail, 77 when libhybrid is not loaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support.h"

#define NB 256
static uint64_t *blk[NB];
static size_t words[NB];
static uint32_t round_[NB], tag_[NB];
static uint64_t rng = 88172645463325252ull;
static unsigned me;

static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t pattern(uint32_t tag, unsigned b, size_t i, uint32_t r)
{
	uint64_t x = ((uint64_t)tag << 40) ^ ((uint64_t)b << 28) ^ (i * 0x9E3779B97F4A7C15ull) ^
		     ((uint64_t)r << 8);

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void fill(unsigned b)
{
	round_[b]++;
	tag_[b] = me;
	for (size_t i = 0; i < words[b]; i++)
		blk[b][i] = pattern(me, b, i, round_[b]);
}

/* 0, or 1 after saying what the first wrong word holds and whose it is */
static int check(unsigned b, const char *when)
{
	for (size_t i = 0; i < words[b]; i++) {
		uint64_t want = pattern(tag_[b], b, i, round_[b]);

		if (blk[b][i] == want)
			continue;
		fprintf(stderr,
			"cow_fork: process %u (pid %d, %s): block %u word %zu (page %zu): %016llx, "
			"want %016llx (writer %u, round %u)\n",
			me, (int)getpid(), when, b, i, i * 8 / 4096, (unsigned long long)blk[b][i],
			(unsigned long long)want, tag_[b], round_[b]);
		for (uint32_t t = 0; t < 4096; t++)
			for (uint32_t r = 0; r <= round_[b] + 64; r++)
				if (pattern(t, b, i, r) == blk[b][i]) {
					fprintf(stderr, "cow_fork:   it is writer %u's, round %u\n", t, r);
					return 1;
				}
		return 1;
	}
	return 0;
}

static int child(double life)
{
	double c0 = now_s();
	int bad = 0;

	for (unsigned b = 0; b < NB; b++)
		bad += check(b, "child, as inherited");
	while (now_s() - c0 < life && !bad)
		for (int k = 0; k < 16; k++) {
			unsigned b = (unsigned)(xr() % NB);

			bad += check(b, "child");
			if (xr() % 2)
				fill(b);
		}
	for (unsigned b = 0; b < NB; b++)
		bad += check(b, "child, at its end");
	for (int k = 0; k < 1000; k++) { /* its own heap traffic too */
		void *q = malloc(64 + (size_t)k);

		if (q)
			memset(q, 0x5a, 64 + (size_t)k);
		free(q);
	}
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned want_kids = 40, kids = 0, bad_kids = 0;
	double life = 1.5, t0, tfork, end;
	struct hybrid_stats s0, s;
	int opt, live = 0, bad = 0, status;

	while ((opt = getopt(argc, argv, "c:l:")) != -1)
		switch (opt) {
		case 'c': want_kids = (unsigned)atoi(optarg); break;
		case 'l': life = atof(optarg); break;
		default: fprintf(stderr, "usage: cow_fork [-c CHILDREN] [-l LIFE_S]\n"); return 2;
		}
	if (!hy_lib_stats(&s0)) {
		printf("SKIP: libhybrid is not loaded (run under hybridctl or LD_PRELOAD)\n");
		return 77;
	}
	for (unsigned b = 0; b < NB; b++) {
		size_t sz = ((size_t)4096 << (b % 9)) + (b * 4096) % 65536;

		words[b] = sz / 8;
		blk[b] = malloc(sz);
		if (!blk[b])
			return 1;
		fill(b);
	}
	t0 = tfork = now_s();
	end = t0 + 600;
	for (;;) {
		pid_t w;

		hy_lib_stats(&s);
		if ((kids >= want_kids && s.promote_pages - s0.promote_pages >= 256 &&
		     s.demote_pages - s0.demote_pages >= 64) || now_s() > end || bad)
			break;
		for (int k = 0; k < 32; k++) { /* a hot few, and now and then any */
			unsigned b = xr() % 8 ? (unsigned)(xr() % 16) : (unsigned)(xr() % NB);

			bad += check(b, "parent");
			fill(b);
		}
		if (now_s() - tfork > 0.2 && live < 4) {
			pid_t p;

			tfork = now_s();
			fflush(NULL);
			p = fork();
			if (p == 0) {
				me = kids + 1;
				rng ^= (uint64_t)me * 0x9E3779B97F4A7C15ull;
				_exit(child(life));
			}
			if (p > 0)
				kids++, live++;
		}
		while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
			live--;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				bad_kids++;
				fprintf(stderr, "cow_fork: child %d: status %#x\n", (int)w, status);
			}
		}
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad_kids++;
	for (unsigned b = 0; b < NB; b++)
		bad += check(b, "parent, at the end");
	hy_lib_stats(&s);
	printf("cow_fork: %u children in %.0f s; the parent's library promoted %llu pages, demoted "
	       "%llu; %d wrong blocks in the parent, %u children failed\n",
	       kids, now_s() - t0, (unsigned long long)(s.promote_pages - s0.promote_pages),
	       (unsigned long long)(s.demote_pages - s0.demote_pages), bad, bad_kids);
	CHECK(!bad && !bad_kids, "a process saw another's writes or lost its own");
	CHECK(kids >= want_kids, "only %u children of %u before the ceiling", kids, want_kids);
	CHECK(s.promote_pages - s0.promote_pages >= 256 && s.demote_pages - s0.demote_pages >= 64,
	      "the library moved too little to test anything (promoted %llu, demoted %llu)",
	      (unsigned long long)(s.promote_pages - s0.promote_pages),
	      (unsigned long long)(s.demote_pages - s0.demote_pages));
	return checks_done("cow_fork");
}
