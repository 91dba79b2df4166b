/* SPDX-License-Identifier: MIT */
/*
 * bench_env — what the benchmark drivers that start programs share: the
 * environment of a variant (the caller's, without LD_PRELOAD and HYBRID_*,
 * plus the variant's own entries) and percentiles of a sample.
 */
#ifndef HY_BENCH_ENV_H
#define HY_BENCH_ENV_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static inline int bench_cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The p-th quantile (0-1) of v[0..n), interpolated; sorts v. */
static inline double bench_pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_dbl);
	double idx = p * (n - 1);
	int i = (int)idx;

	return i + 1 < n ? v[i] + (idx - i) * (v[i + 1] - v[i]) : v[i];
}

/* environ without LD_PRELOAD and HYBRID_*, plus the non-NULL of a-d (kept,
 * not copied); exits on no memory. */
static inline char **bench_env(const char *a, const char *b, const char *c, const char *d)
{
	const char *add[] = {a, b, c, d};
	size_t n = 0, k = 0;
	char **e;

	while (environ[n])
		n++;
	e = calloc(n + 5, sizeof(*e));
	if (!e)
		exit(1);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "HYBRID_", 7))
			e[k++] = environ[i];
	for (size_t i = 0; i < 4; i++)
		if (add[i])
			e[k++] = (char *)add[i];
	return e;
}

#endif
