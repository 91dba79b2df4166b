/* SPDX-License-Identifier: MIT */
/*
 * forkcost — what libhybrid adds to fork() of a process that manages memory
 * (issue 17: "fork of a process managing 1 GiB <= 0.1 ms over plain").
 *
 *   forkcost [-r ROUNDS] [-n FORKS] [-s SIZE_MIB] [-t TOUCH_MIB] [-L LIBHYBRID]
 *            [-J LIBJEMALLOC] [CSV-PATH]
 *
 * A worker process maps SIZE MiB (default 1024) of private anonymous memory
 * with mmap (under the preload: a managed range), writes TOUCH MiB of it
 * (default 64, spread over the whole range, one page in SIZE/TOUCH), then
 * times FORKS times (default 50) fork() + the child's _exit(0) + waitpid(),
 * and sends its times to the driver.  The driver runs one worker of each
 * variant per round, the order rotated every round, ROUNDS rounds (default
 * 10), so that drift and noise fall on all alike:
 *
 *   plain              no preload
 *   jemalloc           LD_PRELOAD=libjemalloc.so.2 (optional)
 *   preload-loopback   LD_PRELOAD=libhybrid.so HYBRID_FAST_NODES=0
 *                      HYBRID_SLOW_NODES=0: the engine runs, the range is
 *                      managed (the worker checks it with hybrid_get_stats)
 *
 * Reported per variant: median, 10th and 90th percentile of one fork (us),
 * and the median over rounds of (variant's round median - plain's round
 * median): the extra cost per fork.  Figures to stdout; CSV rows
 * "variant,forks,median_us,p10_us,p90_us,median_extra_us" to CSV-PATH.
 * LIBHYBRID defaults to ../lib/libhybrid.so next to this program.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../include/hybrid.h"
#include "../tests/support.h"
#include "bench_env.h"

extern char **environ;

#define MAX_VARIANTS 4

struct variant {
	const char *name;
	char **envp;
	double *us; /* every fork of every round */
	double *round_med;
	int n;
	bool skip;
	bool optional;
	bool managed; /* the worker must find its range managed */
};

/* ---- the worker ---- */

static int worker(size_t size_mib, size_t touch_mib, int forks, bool managed)
{
	size_t len = size_mib << 20, step;
	long pg = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "forkcost worker: mmap %zu MiB: %s\n", size_mib, strerror(errno));
		return 1;
	}
	step = touch_mib ? len / ((touch_mib << 20) / (size_t)pg) : len;
	if (step < (size_t)pg)
		step = (size_t)pg;
	for (size_t o = 0; touch_mib && o < len; o += step)
		p[o] = 1;
	if (managed) {
		int (*get)(struct hybrid_stats *) =
		    (int (*)(struct hybrid_stats *))dlsym(RTLD_DEFAULT, "hybrid_get_stats");
		struct hybrid_stats st = {.size = sizeof(st)};

		if (!get || get(&st) || st.managed_bytes < len) {
			fprintf(stderr, "forkcost worker: the range is not managed (%s)\n",
				get ? "managed_bytes too small" : "no libhybrid");
			return 1;
		}
	}
	for (int i = 0; i < forks; i++) {
		uint64_t t0 = now_ns();
		pid_t pid = fork();
		int st;

		if (pid < 0)
			return 1;
		if (pid == 0)
			_exit(0);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		printf("%.3f\n", (double)(now_ns() - t0) / 1e3);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
	}
	munmap(p, len);
	return 0;
}

/* ---- the driver ---- */

/* One worker of v; its fork times appended to v->us; the round's median, or
 * < 0 when it failed. */
static double run(struct variant *v, char **argv, int forks)
{
	posix_spawn_file_actions_t fa;
	int fd[2], st, got = 0;
	double *mine = v->us + v->n;
	char line[64];
	FILE *f;
	pid_t pid;

	if (pipe(fd))
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
	posix_spawn_file_actions_addclose(&fa, fd[0]);
	if (posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, v->envp)) {
		posix_spawn_file_actions_destroy(&fa);
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	f = fdopen(fd[0], "r");
	while (f && fgets(line, sizeof(line), f))
		if (got < forks)
			mine[got++] = atof(line);
	if (f)
		fclose(f);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) || got != forks)
		return -1;
	v->n += got;
	{
		double tmp[got];

		memcpy(tmp, mine, sizeof(tmp));
		return bench_pct(tmp, got, 0.5);
	}
}

static char *sibling(const char *rel)
{
	static char buf[PATH_MAX + 64];
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	if ((slash = strrchr(exe, '/')))
		*slash = 0;
	snprintf(buf, sizeof(buf), "%s/%s", exe, rel);
	return buf;
}

int main(int argc, char **argv)
{
	const char *je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", *csv_path = NULL;
	char *lib = sibling("../lib/libhybrid.so");
	int rounds = 10, forks = 50, nv = 0, opt;
	size_t size_mib = 1024, touch_mib = 64;
	char preload[PATH_MAX + 96], jepreload[PATH_MAX + 16], sz[32], tc[32], nf[32];
	struct variant v[MAX_VARIANTS];
	FILE *csv = NULL;

	if (argc == 6 && !strcmp(argv[1], "--worker"))
		return worker(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0), atoi(argv[4]),
			      atoi(argv[5]));
	while ((opt = getopt(argc, argv, "r:n:s:t:L:J:h")) != -1) {
		switch (opt) {
		case 'r': rounds = atoi(optarg); break;
		case 'n': forks = atoi(optarg); break;
		case 's': size_mib = strtoul(optarg, NULL, 0); break;
		case 't': touch_mib = strtoul(optarg, NULL, 0); break;
		case 'L': lib = optarg; break;
		case 'J': je = optarg; break;
		default:
			fprintf(stderr, "usage: forkcost [-r ROUNDS] [-n FORKS] [-s SIZE_MIB] "
					"[-t TOUCH_MIB] [-L LIBHYBRID] [-J LIBJEMALLOC] [CSV-PATH]\n");
			return 2;
		}
	}
	if (optind < argc)
		csv_path = argv[optind];
	if (rounds < 1 || forks < 1 || !size_mib || touch_mib > size_mib || !lib ||
	    access(lib, R_OK)) {
		fprintf(stderr, "forkcost: need ROUNDS, FORKS >= 1, TOUCH <= SIZE and %s\n",
			lib ? lib : "libhybrid.so");
		return 2;
	}
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	snprintf(jepreload, sizeof(jepreload), "LD_PRELOAD=%s", je);
	snprintf(sz, sizeof(sz), "%zu", size_mib);
	snprintf(tc, sizeof(tc), "%zu", touch_mib);
	snprintf(nf, sizeof(nf), "%d", forks);

	memset(v, 0, sizeof(v));
	v[nv++] = (struct variant){"plain", bench_env(NULL, NULL, NULL, NULL)};
	v[nv++] = (struct variant){"jemalloc", bench_env(jepreload, NULL, NULL, NULL), .optional = true};
	v[nv++] = (struct variant){"preload-loopback",
				   bench_env(preload, "HYBRID_FAST_NODES=0", "HYBRID_SLOW_NODES=0", NULL),
				   .managed = true};
	for (int i = 0; i < nv; i++) {
		char *wargv[] = {argv[0], "--worker", sz, tc, "1", v[i].managed ? "1" : "0", NULL};

		v[i].us = calloc((size_t)rounds * (size_t)forks + 1, sizeof(double));
		v[i].round_med = calloc((size_t)rounds, sizeof(double));
		if (!v[i].us || !v[i].round_med)
			return 1;
		/* once, untimed: it must work here */
		if (run(&v[i], wargv, 1) >= 0) {
			v[i].n = 0;
			continue;
		}
		if (!v[i].optional) {
			fprintf(stderr, "forkcost: %s fails here\n", v[i].name);
			return 1;
		}
		v[i].skip = true;
		printf("forkcost: %s skipped: its worker does not run here\n", v[i].name);
	}
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < nv; j++) {
			struct variant *x = &v[(j + r) % nv];
			char *wargv[] = {argv[0], "--worker", sz, tc, nf, x->managed ? "1" : "0", NULL};

			if (x->skip)
				continue;
			if ((x->round_med[r] = run(x, wargv, forks)) < 0) {
				fprintf(stderr, "forkcost: %s failed in round %d\n", x->name, r);
				return 1;
			}
		}
	}

	if (csv_path && !(csv = fopen(csv_path, "w"))) {
		fprintf(stderr, "forkcost: %s: %s\n", csv_path, strerror(errno));
		return 1;
	}
	if (csv)
		fprintf(csv, "variant,forks,median_us,p10_us,p90_us,median_extra_us\n");
	printf("forkcost: fork + _exit + waitpid of a process with %zu MiB mapped, %zu MiB "
	       "touched; %d rounds x %d forks, interleaved; us\n",
	       size_mib, touch_mib, rounds, forks);
	printf("%-20s %9s %9s %9s %18s\n", "variant", "median", "p10", "p90", "extra vs plain");
	for (int i = 0; i < nv; i++) {
		double d[rounds], med, p10, p90, extra;

		if (v[i].skip)
			continue;
		for (int r = 0; r < rounds; r++)
			d[r] = v[i].round_med[r] - v[0].round_med[r];
		extra = bench_pct(d, rounds, 0.5);
		med = bench_pct(v[i].us, v[i].n, 0.5);
		p10 = bench_pct(v[i].us, v[i].n, 0.1);
		p90 = bench_pct(v[i].us, v[i].n, 0.9);
		printf("%-20s %9.1f %9.1f %9.1f %18.1f\n", v[i].name, med, p10, p90, extra);
		if (csv)
			fprintf(csv, "%s,%d,%.2f,%.2f,%.2f,%.2f\n", v[i].name, v[i].n, med, p10, p90,
				extra);
	}
	printf("extra vs plain: median over rounds of (variant - plain) of the round medians\n");
	if (csv)
		fclose(csv);
	return 0;
}
