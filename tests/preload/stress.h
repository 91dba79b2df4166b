/* SPDX-License-Identifier: MIT */
/*
 * Shared by the preload stress programs: a seeded PRNG and byte patterns that
 * say where they came from.  Checks are tests/support.h's CHECK().
 *
 * Every program is deterministic in what it prints: each thread draws from
 * its own PRNG seeded by its index, so the operations, and the checksums over
 * the data they leave, do not depend on scheduling.  A mismatch is printed on
 * stderr (what, where, want, got) and makes the program exit 1; the
 * summary line on stdout (checks_done) is then "FAILED".
 */
#ifndef PRELOAD_STRESS_H
#define PRELOAD_STRESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support.h"

/* splitmix64: small, good enough, the same everywhere. */
static inline uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* uniform in [0, n) (n > 0; the bias is irrelevant here) */
static inline uint64_t rnd_below(uint64_t *s, uint64_t n)
{
	return rnd_next(s) % n;
}

/* The byte at offset i of a block tagged tag: cheap, and differs between
 * neighbouring offsets and between tags. */
static inline uint8_t pat_byte(uint64_t tag, size_t i)
{
	return (uint8_t)((tag * 0x9e3779b1u) ^ (i * 0x45d9f3bu) ^ (i >> 8) ^ (tag >> 13));
}

static inline void pat_fill(void *p, size_t n, uint64_t tag)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = pat_byte(tag, i);
}

/* offset of the first byte that differs from the pattern, or n */
static inline size_t pat_check(const void *p, size_t n, uint64_t tag)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != pat_byte(tag, i))
			return i;
	return n;
}

/* Same with a stride: one byte per 4 KiB page plus the ends (big ranges). */
static inline void pat_fill_pages(void *p, size_t n, uint64_t tag)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i += 4096)
		b[i] = pat_byte(tag, i);
	if (n)
		b[n - 1] = pat_byte(tag, n - 1);
}

static inline size_t pat_check_pages(const void *p, size_t n, uint64_t tag)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i += 4096)
		if (b[i] != pat_byte(tag, i))
			return i;
	if (n && b[n - 1] != pat_byte(tag, n - 1))
		return n - 1;
	return n;
}

static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

/* Scale factor for the amount of work (argv[1], default 1): the VM runs the
 * programs with less, since TCG emulation is an order of magnitude slower. */
static inline double stress_scale(int argc, char **argv)
{
	double s = argc > 1 ? strtod(argv[1], NULL) : 1.0;

	return s > 0 ? s : 1.0;
}

static inline long scaled(long n, double scale)
{
	long v = (long)((double)n * scale);

	return v > 0 ? v : 1;
}

#endif
