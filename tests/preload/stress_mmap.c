/* SPDX-License-Identifier: MIT */
/*
 * stress_mmap — private anonymous mappings below and above 64 KiB (the
 * library's default minimum managed size) mapped, written, remapped,
 * punched and unmapped by several threads at once.
 *
 *   stress_mmap [SCALE]
 *
 * Eight threads each keep up to 24 ranges (4 KiB .. 2 MiB when mapped, through
 * mmap and mmap64) and per step do one of: map a new range; mremap it larger
 * (MREMAP_MAYMOVE: the old bytes kept, the new tail zero) or smaller (the
 * kept part intact) while it is still one mapping; munmap a hole in the
 * middle (the two halves intact and kept as two ranges); MAP_FIXED fresh memory over a part (zero there, the
 * rest intact); madvise(MADV_DONTNEED) a part (zero there); mprotect it
 * read-only, read it, and back; munmap it.  Each range is checked against
 * its pattern before every operation and refilled after.  Meanwhile two more
 * threads keep rewriting and checking a 4 MiB and a 32 KiB range that stay
 * mapped throughout.  Output: the operation counts (deterministic) and
 * "stress_mmap: ok".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define _LARGEFILE64_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "stress.h"

#define NTHREADS 8
#define NRANGES 24
#define PAGE 4096ul

enum { OP_MAP, OP_GROW, OP_SHRINK, OP_HOLE, OP_FIXED, OP_DONTNEED, OP_PROTECT, OP_UNMAP, NOPS };
static const char *const op_name[NOPS] = {"mmap",    "mremap-grow", "mremap-shrink", "hole",
					  "map-fixed", "dontneed",    "mprotect",      "munmap"};

struct range {
	uint8_t *p;
	size_t size;
	uint64_t tag;
	int split; /* MAP_FIXED made it several mappings: mremap would fail (EFAULT) */
};

struct thr {
	int id;
	long ops[NOPS];
	long steps;
};

static atomic_int stop;

static size_t pick_pages(uint64_t *r)
{
	switch (rnd_below(r, 4)) {
	case 0: return 1 + rnd_below(r, 15);	      /* below 64 KiB */
	case 1: return 16;			      /* exactly 64 KiB */
	case 2: return 17 + rnd_below(r, 240);	      /* up to 1 MiB */
	default: return 256 + rnd_below(r, 256);      /* up to 2 MiB */
	}
}

/* Small ranges are filled whole, big ones a byte per page (plus the ends). */
static void rfill(struct range *g, uint64_t tag)
{
	g->tag = tag;
	if (g->size <= 16 * PAGE)
		pat_fill(g->p, g->size, tag);
	else
		pat_fill_pages(g->p, g->size, tag);
}

/* First differing offset in [from, to) of a range filled by rfill, or to. */
static size_t rcheck(const struct range *g, size_t from, size_t to)
{
	if (g->size <= 16 * PAGE) {
		for (size_t i = from; i < to; i++)
			if (g->p[i] != pat_byte(g->tag, i))
				return i;
		return to;
	}
	for (size_t i = from; i < to; i += PAGE)
		if (g->p[i] != pat_byte(g->tag, i))
			return i;
	if (to == g->size && g->p[to - 1] != pat_byte(g->tag, to - 1))
		return to - 1;
	return to;
}

static size_t zero_check(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 512)
		if (p[i])
			return i;
	return n;
}

static void check_range(const struct range *g, const char *when)
{
	size_t off = rcheck(g, 0, g->size);

	CHECK(off == g->size, "%s: range %p size %zu tag %llx: byte %zu is %#x, want %#x", when,
	      (void *)g->p, g->size, (unsigned long long)g->tag, off, g->p[off],
	      pat_byte(g->tag, off));
}

static void *map_anon(size_t size, int use64)
{
	int prot = PROT_READ | PROT_WRITE, flags = MAP_PRIVATE | MAP_ANONYMOUS;

	return use64 ? mmap64(NULL, size, prot, flags, -1, 0) : mmap(NULL, size, prot, flags, -1, 0);
}

static void step(struct thr *t, struct range *rg, int *n, uint64_t *r, uint64_t *tag)
{
	int op = *n == 0 ? OP_MAP : (int)rnd_below(r, NOPS);
	struct range *g;

	if (op == OP_MAP) {
		if (*n == NRANGES)
			op = OP_UNMAP;
		else {
			struct range ng = {.size = pick_pages(r) * PAGE};

			ng.p = map_anon(ng.size, (int)(*tag & 1));
			if (ng.p == MAP_FAILED) {
				CHECK_FAIL("mmap(%zu): %s", ng.size, strerror(errno));
				return;
			}
			CHECK(zero_check(ng.p, ng.size) == ng.size, "mmap(%zu): fresh memory not zero",
			      ng.size);
			rfill(&ng, ++*tag);
			rg[(*n)++] = ng;
			t->ops[op]++;
			return;
		}
	}
	int idx = (int)rnd_below(r, (uint64_t)*n);
	g = &rg[idx];
	check_range(g, op_name[op]);
	size_t pages = g->size / PAGE;

	switch (op) {
	case OP_GROW: {
		if (g->split)
			break;
		size_t nsize = g->size + pick_pages(r) * PAGE;
		uint8_t *np = mremap(g->p, g->size, nsize, MREMAP_MAYMOVE);

		if (np == MAP_FAILED) {
			CHECK_FAIL("mremap(%zu -> %zu): %s", g->size, nsize, strerror(errno));
			return;
		}
		g->p = np;
		check_range(g, "after mremap-grow");
		CHECK(zero_check(np + g->size, nsize - g->size) == nsize - g->size,
		      "mremap-grow %zu -> %zu: the new tail is not zero", g->size, nsize);
		g->size = nsize;
		break;
	}
	case OP_SHRINK: {
		if (pages < 2 || g->split)
			break;
		size_t nsize = (1 + rnd_below(r, pages - 1)) * PAGE;
		uint8_t *np = mremap(g->p, g->size, nsize, 0);

		if (np == MAP_FAILED) {
			CHECK_FAIL("mremap(%zu -> %zu): %s", g->size, nsize, strerror(errno));
			return;
		}
		CHECK(np == g->p, "mremap shrink without MAYMOVE moved the range");
		size_t off = rcheck(g, 0, nsize);
		CHECK(off == nsize, "mremap-shrink %zu -> %zu: byte %zu changed", g->size, nsize, off);
		g->size = nsize;
		break;
	}
	case OP_HOLE: {
		if (pages < 3 || *n == NRANGES)
			break;
		size_t a = 1 + rnd_below(r, pages - 2), b = a + 1 + rnd_below(r, pages - a - 1);
		/* [0,a) stays, [a,b) goes, [b,pages) stays */
		if (munmap(g->p + a * PAGE, (b - a) * PAGE)) {
			CHECK_FAIL("munmap hole: %s", strerror(errno));
			return;
		}
		size_t off = rcheck(g, 0, a * PAGE);
		CHECK(off == a * PAGE, "hole: the left part changed at %zu", off);
		if (b < pages) {
			/* the right part keeps the old tag's bytes at their old offsets */
			for (size_t i = b * PAGE; i < g->size; i += PAGE)
				if (g->p[i] != pat_byte(g->tag, i)) {
					CHECK_FAIL("hole: the right part changed at %zu", i);
					break;
				}
			struct range right = {.p = g->p + b * PAGE, .size = g->size - b * PAGE,
					      .split = g->split};
			rfill(&right, ++*tag);
			rg[(*n)++] = right;
			g = &rg[idx];
		}
		g->size = a * PAGE;
		break;
	}
	case OP_FIXED: {
		size_t a = rnd_below(r, pages), len = 1 + rnd_below(r, pages - a);
		void *q = mmap(g->p + a * PAGE, len * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		if (q != g->p + a * PAGE) {
			CHECK_FAIL("mmap MAP_FIXED: %s", strerror(errno));
			return;
		}
		CHECK(zero_check(q, len * PAGE) == len * PAGE, "MAP_FIXED: the new part is not zero");
		size_t off = rcheck(g, 0, a * PAGE);
		CHECK(off == a * PAGE, "MAP_FIXED: the part before changed at %zu", off);
		g->split |= a > 0 || len < pages;
		break;
	}
	case OP_DONTNEED: {
		size_t a = rnd_below(r, pages), len = 1 + rnd_below(r, pages - a);

		if (madvise(g->p + a * PAGE, len * PAGE, MADV_DONTNEED)) {
			CHECK_FAIL("madvise: %s", strerror(errno));
			return;
		}
		CHECK(zero_check(g->p + a * PAGE, len * PAGE) == len * PAGE,
		      "MADV_DONTNEED: the part is not zero");
		break;
	}
	case OP_PROTECT: {
		if (mprotect(g->p, g->size, PROT_READ)) {
			CHECK_FAIL("mprotect: %s", strerror(errno));
			return;
		}
		check_range(g, "read-only");
		if (mprotect(g->p, g->size, PROT_READ | PROT_WRITE)) {
			CHECK_FAIL("mprotect: %s", strerror(errno));
			return;
		}
		break;
	}
	case OP_UNMAP:
		if (munmap(g->p, g->size))
			CHECK_FAIL("munmap: %s", strerror(errno));
		rg[idx] = rg[--*n];
		t->ops[op]++;
		return;
	}
	rfill(g, ++*tag);
	t->ops[op]++;
}

static void *mapper(void *arg)
{
	struct thr *t = arg;
	struct range rg[NRANGES];
	int n = 0;
	uint64_t r = 0xabcdefull * (uint64_t)(t->id + 1), tag = (uint64_t)t->id << 40;

	for (long s = 0; s < t->steps; s++)
		step(t, rg, &n, &r, &tag);
	for (int i = 0; i < n; i++) {
		check_range(&rg[i], "at the end");
		munmap(rg[i].p, rg[i].size);
	}
	return NULL;
}

/* Rewrites one range that stays mapped, all the time. */
static void *writer(void *arg)
{
	struct range g = {.size = (size_t)(uintptr_t)arg};
	uint64_t tag = g.size;

	g.p = map_anon(g.size, 0);
	if (g.p == MAP_FAILED) {
		CHECK_FAIL("mmap(%zu): %s", g.size, strerror(errno));
		return NULL;
	}
	rfill(&g, tag);
	while (!atomic_load(&stop)) {
		check_range(&g, "the long-lived range");
		rfill(&g, ++tag);
	}
	check_range(&g, "the long-lived range");
	munmap(g.p, g.size);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct thr t[NTHREADS];
	pthread_t tid[NTHREADS], w[2];
	long total[NOPS] = {0};

	for (int i = 0; i < NTHREADS; i++) {
		t[i].id = i;
		t[i].steps = scaled(2000, stress_scale(argc, argv));
	}
	if (pthread_create(&w[0], NULL, writer, (void *)(uintptr_t)(4 << 20)) ||
	    pthread_create(&w[1], NULL, writer, (void *)(uintptr_t)(32 << 10))) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&tid[i], NULL, mapper, &t[i])) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		for (int k = 0; k < NOPS; k++)
			total[k] += t[i].ops[k];
	}
	atomic_store(&stop, 1);
	pthread_join(w[0], NULL);
	pthread_join(w[1], NULL);
	printf("stress_mmap: %d threads x %ld steps:", NTHREADS, t[0].steps);
	for (int k = 0; k < NOPS; k++)
		printf(" %s %ld", op_name[k], total[k]);
	printf("\n");
	return checks_done("stress_mmap");
}
