/* SPDX-License-Identifier: MIT */
/*
 * stress_threads — 64 threads allocating and freeing mixed sizes through the
 * whole malloc family, with every block's content checked.
 *
 *   stress_threads [SCALE]
 *
 * Each thread keeps 256 slots.  Per step it either checks and releases an
 * occupied slot (free, realloc to a new size, or hand the block to another
 * thread through a shared queue: cross-thread frees), or fills an empty one
 * with malloc, calloc, realloc(NULL), reallocarray, posix_memalign,
 * aligned_alloc, memalign, valloc or pvalloc.  Sizes: mostly small, some
 * medium, some above 64 KiB (the library's default minimum managed size) up
 * to 4 MiB, so both the small and the managed arenas are exercised while the
 * engine's policy thread runs its epochs.  Checked: non-NULL, alignment,
 * malloc_usable_size >= size (and its tail writable), calloc memory zero,
 * content intact until release, realloc keeping the prefix.
 *
 * Before and after the threads, in the main thread: malloc(0) returns unique
 * pointers; free (small, large, NULL) keeps errno; overflowing requests fail
 * with ENOMEM; bad alignments with EINVAL; a realloc chain 1 MiB -> 64 MiB ->
 * 1 KiB keeps the data.
 *
 * Output (stdout): the operation counts and a checksum over what each thread
 * allocated (independent of scheduling), then "stress_threads: ok".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#include "stress.h"

#define NTHREADS 64
#define NSLOTS 256
#define QLEN 1024

struct block {
	uint8_t *p;
	size_t size;
	uint64_t tag;
	int kind; /* allocation function, for messages */
};

static const char *const kind_name[] = {"malloc",	 "calloc",	  "realloc(NULL)",
					"reallocarray", "posix_memalign", "aligned_alloc",
					"memalign",	 "valloc",	  "pvalloc",
					"realloc"};

/* Blocks handed between threads; whoever pops one checks and frees it. */
static struct {
	pthread_mutex_t lock;
	struct block q[QLEN];
	int n;
} xq = {.lock = PTHREAD_MUTEX_INITIALIZER};

static long steps;
static pthread_barrier_t start;

struct thr {
	int id;
	uint64_t sum;	  /* over this thread's own allocations: deterministic */
	long allocs, frees, reallocs, handed;
};

static size_t page_size;

static size_t pick_size(uint64_t *r)
{
	uint64_t c = rnd_below(r, 100);

	if (c < 70)
		return 1 + rnd_below(r, 256);
	if (c < 90)
		return 257 + rnd_below(r, 32 * 1024);
	if (c < 98)
		return 32 * 1024 + rnd_below(r, 224 * 1024);
	return 256 * 1024 + rnd_below(r, 4 * 1024 * 1024 - 256 * 1024);
}

/* Big blocks are filled and checked one byte per page plus the first and last
 * 256 bytes: the point is the mapping, not memory bandwidth. */
static void fill(struct block *b)
{
	if (b->size <= 65536) {
		pat_fill(b->p, b->size, b->tag);
	} else {
		pat_fill_pages(b->p, b->size, b->tag);
		pat_fill(b->p, 256, b->tag);
		for (size_t i = b->size - 256; i < b->size; i++)
			b->p[i] = pat_byte(b->tag, i);
	}
}

/* First n bytes of b against the pattern, where fill() wrote it (b->size is
 * the size it was filled at).  Returns the first bad offset, or n. */
static size_t check_prefix(const struct block *b, size_t n)
{
	size_t head = n < 256 ? n : 256, off;

	if (b->size <= 65536)
		return pat_check(b->p, n, b->tag);
	off = pat_check(b->p, head, b->tag);
	if (off < head)
		return off;
	for (size_t i = b->size - 256; i < n; i++)
		if (b->p[i] != pat_byte(b->tag, i))
			return i;
	for (size_t i = 0; i < n; i += 4096)
		if (b->p[i] != pat_byte(b->tag, i))
			return i;
	return n;
}

static void check_block(const struct block *b, const char *when)
{
	size_t off = check_prefix(b, b->size);

	CHECK(off == b->size, "%s: %s block %p size %zu tag %llx: byte %zu is %#x, want %#x", when,
	      kind_name[b->kind], (void *)b->p, b->size, (unsigned long long)b->tag, off,
	      b->p[off], pat_byte(b->tag, off));
}

static int allocate(struct block *b, uint64_t *r, int kind)
{
	size_t size = pick_size(r), align = (size_t)1 << (4 + rnd_below(r, 9)); /* 16..4096 */
	void *p = NULL;
	int rc = 0;

	if (rnd_below(r, 200) == 0)
		align = 65536;
	switch (kind) {
	case 0: p = malloc(size); break;
	case 1: p = calloc(1 + size / 16, 16); size = (1 + size / 16) * 16; break;
	case 2: p = realloc(NULL, size); break;
	case 3: p = reallocarray(NULL, 1 + size / 8, 8); size = (1 + size / 8) * 8; break;
	case 4: rc = posix_memalign(&p, align, size); break;
	case 5: size = (size + align - 1) & ~(align - 1); p = aligned_alloc(align, size); break;
	case 6: p = memalign(align, size); break;
	case 7: p = valloc(size); align = page_size; break;
	case 8: p = pvalloc(size); align = page_size; size = (size + align - 1) & ~(align - 1); break;
	}
	if (kind < 4) /* the fundamental alignment, for objects that fit */
		align = size >= 16 ? 16 : size >= 8 ? 8 : 1;
	if (!p || rc) {
		CHECK_FAIL("%s(%zu, align %zu) failed: rc %d errno %d", kind_name[kind], size, align, rc,
			    errno);
		return -1;
	}
	CHECK(((uintptr_t)p & (align - 1)) == 0, "%s(%zu): %p not aligned to %zu", kind_name[kind],
	      size, p, align);
	size_t usable = malloc_usable_size(p);
	CHECK(usable >= size, "%s(%zu): malloc_usable_size %zu", kind_name[kind], size, usable);
	if (kind == 1) {
		const uint8_t *z = p;
		size_t step = size > 65536 ? 4096 : 1;

		for (size_t i = 0; i < size; i += step)
			if (z[i]) {
				CHECK_FAIL("calloc(%zu): byte %zu is %#x", size, i, z[i]);
				break;
			}
	}
	/* the usable tail belongs to the program too */
	if (usable > size)
		((volatile uint8_t *)p)[usable - 1] = 0x5a;
	b->p = p;
	b->size = size;
	b->kind = kind;
	return 0;
}

static void pop_and_free(void)
{
	struct block b;

	pthread_mutex_lock(&xq.lock);
	if (xq.n == 0) {
		pthread_mutex_unlock(&xq.lock);
		return;
	}
	b = xq.q[--xq.n];
	pthread_mutex_unlock(&xq.lock);
	check_block(&b, "handed over");
	free(b.p);
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct block slot[NSLOTS] = {{0}};
	uint64_t r = 0x1234567ull * (uint64_t)(t->id + 1), gen = 0;

	t->sum = FNV_INIT;
	pthread_barrier_wait(&start);
	for (long s = 0; s < steps; s++) {
		struct block *b = &slot[rnd_below(&r, NSLOTS)];
		uint64_t c = rnd_below(&r, 100);

		if (s % 8 == 0)
			pop_and_free();
		if (!b->p) {
			if (allocate(b, &r, (int)rnd_below(&r, 9)))
				continue;
			b->tag = ((uint64_t)t->id << 48) | ++gen;
			fill(b);
			t->allocs++;
			uint64_t rec[2] = {b->size, (uint64_t)b->kind};
			t->sum = fnv1a(t->sum, rec, sizeof(rec));
			continue;
		}
		check_block(b, "before release");
		if (c < 60) {
			free(b->p);
			b->p = NULL;
			t->frees++;
		} else if (c < 85) {
			size_t nsize = pick_size(&r), keep = nsize < b->size ? nsize : b->size;
			uint8_t *np = realloc(b->p, nsize);

			if (!np) {
				CHECK_FAIL("realloc(%zu -> %zu) failed: errno %d", b->size, nsize, errno);
				continue;
			}
			b->p = np;
			size_t off = check_prefix(b, keep);
			CHECK(off == keep, "realloc %zu -> %zu: prefix byte %zu changed", b->size, nsize,
			      off);
			CHECK(malloc_usable_size(np) >= nsize, "realloc(%zu): usable %zu", nsize,
			      malloc_usable_size(np));
			b->size = nsize;
			b->kind = 9;
			b->tag = ((uint64_t)t->id << 48) | ++gen;
			fill(b);
			t->reallocs++;
			t->sum = fnv1a(t->sum, &nsize, sizeof(nsize));
		} else {
			pthread_mutex_lock(&xq.lock);
			if (xq.n < QLEN) {
				xq.q[xq.n++] = *b;
				b->p = NULL;
				t->handed++;
			}
			pthread_mutex_unlock(&xq.lock);
			if (b->p) { /* queue full: free it ourselves */
				free(b->p);
				b->p = NULL;
				t->frees++;
			}
		}
	}
	for (int i = 0; i < NSLOTS; i++)
		if (slot[i].p) {
			check_block(&slot[i], "at the end");
			free(slot[i].p);
		}
	return NULL;
}

/* The single-threaded contract checks. */
static void contract(const char *when)
{
	enum { N = 1000 };
	static void *z[N];
	void *p;

	for (int i = 0; i < N; i++) {
		z[i] = malloc(0);
		CHECK(z[i] != NULL, "%s: malloc(0) returned NULL", when);
	}
	/* unique: sort-free O(n^2) is fine for 1000 */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			if (z[i] && z[i] == z[j]) {
				CHECK_FAIL("%s: malloc(0) returned %p twice", when, z[i]);
				i = N;
				break;
			}
	for (int i = 0; i < N; i++)
		free(z[i]);

	size_t sizes[] = {16, 4000, 100000, 8 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = malloc(sizes[i]);
		CHECK(p != NULL, "%s: malloc(%zu) failed", when, sizes[i]);
		memset(p, 1, sizes[i]);
		errno = 4242;
		free(p);
		CHECK(errno == 4242, "%s: free of a %zu-byte block changed errno to %d", when, sizes[i],
		      errno);
	}
	errno = 4243;
	free(NULL);
	CHECK(errno == 4243, "%s: free(NULL) changed errno to %d", when, errno);

	/* volatile: the compiler must neither reject nor fold these calls */
	static volatile size_t huge = SIZE_MAX - 4096, half = SIZE_MAX / 2;
	errno = 0;
	p = malloc(huge);
	CHECK(p == NULL && errno == ENOMEM, "%s: malloc(SIZE_MAX-4096): %p errno %d", when, p, errno);
	errno = 0;
	p = calloc(half, 3);
	CHECK(p == NULL && errno == ENOMEM, "%s: calloc overflow: %p errno %d", when, p, errno);
	errno = 0;
	p = reallocarray(NULL, half, 3);
	CHECK(p == NULL && errno == ENOMEM, "%s: reallocarray overflow: %p errno %d", when, p, errno);
	p = (void *)1;
	int rc = posix_memalign(&p, 3, 16);
	CHECK(rc == EINVAL, "%s: posix_memalign(align 3) returned %d", when, rc);
	rc = posix_memalign(&p, sizeof(void *) / 2, 16);
	CHECK(rc == EINVAL, "%s: posix_memalign(align %zu) returned %d", when, sizeof(void *) / 2,
	      rc);

	/* realloc chain through the large sizes keeps the data */
	struct block b = {.size = 1 << 20, .tag = 77, .kind = 0};
	b.p = malloc(b.size);
	CHECK(b.p != NULL, "%s: malloc(1M) failed", when);
	if (!b.p)
		return;
	pat_fill(b.p, b.size, b.tag);
	uint8_t *np = realloc(b.p, 64 << 20);
	CHECK(np != NULL, "%s: realloc(1M -> 64M) failed", when);
	if (!np) {
		free(b.p);
		return;
	}
	b.p = np;
	CHECK(pat_check(b.p, b.size, b.tag) == b.size, "%s: realloc 1M -> 64M lost data", when);
	memset(b.p + b.size, 0xee, (64 << 20) - b.size);
	np = realloc(b.p, 1024);
	CHECK(np != NULL, "%s: realloc(64M -> 1K) failed", when);
	if (np)
		b.p = np;
	CHECK(pat_check(b.p, 1024, b.tag) == 1024, "%s: realloc 64M -> 1K lost data", when);
	free(b.p);
}

int main(int argc, char **argv)
{
	static struct thr t[NTHREADS];
	pthread_t tid[NTHREADS];
	uint64_t sum = FNV_INIT;
	long allocs = 0, reallocs = 0;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	steps = scaled(10000, stress_scale(argc, argv));
	contract("before threads");
	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		t[i].id = i;
		int rc = pthread_create(&tid[i], NULL, worker, &t[i]);
		if (rc) {
			fprintf(stderr, "pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		sum = fnv1a(sum, &t[i].sum, sizeof(t[i].sum));
		allocs += t[i].allocs;
		reallocs += t[i].reallocs;
	}
	while (xq.n)
		pop_and_free();
	contract("after threads");
	printf("stress_threads: %d threads x %ld steps: %ld allocations, %ld reallocs, checksum "
	       "%016llx\n",
	       NTHREADS, steps, allocs, reallocs, (unsigned long long)sum);
	return checks_done("stress_threads");
}
