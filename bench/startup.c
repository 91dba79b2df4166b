/* SPDX-License-Identifier: MIT */
/*
 * startup — what libhybrid adds to the start (and exit) of every program
 * (DESIGN.md §7: preload start-up <= 5 ms per exec).
 *
 *   startup [-n RUNS] [-p PROGRAM] [-L LIBHYBRID] [-C HYBRIDCTL] [-J LIBJEMALLOC]
 *           [CSV-PATH]
 *
 * Times spawn-to-exit (posix_spawn + waitpid) of PROGRAM (default /bin/true)
 * in these variants, interleaved exec by exec (one of each per round, the
 * order rotated every round) so that drift and noise fall on all alike:
 *
 *   plain              no preload
 *   jemalloc           LD_PRELOAD=libjemalloc.so.2 (reference: the share of
 *                      the cost that is loading jemalloc itself)
 *   preload            LD_PRELOAD=libhybrid.so, default environment (on a
 *                      one-tier machine: the library decides "unmanaged")
 *   preload-loopback   LD_PRELOAD=libhybrid.so HYBRID_FAST_NODES=0
 *                      HYBRID_SLOW_NODES=0: the engine starts for real
 *   hybridctl          hybridctl -- PROGRAM (the launcher's own exec
 *                      included), and hybridctl-loopback with
 *                      --fast-nodes=0 --slow-nodes=0; only when the
 *                      launcher runs programs: it is tried once first, and
 *                      the variant skipped with a note if it refuses
 *
 * Reported per variant: median, 10th and 90th percentile of the exec time,
 * and the median over rounds of (variant - plain) of the same round: the
 * per-exec cost.  LIBHYBRID and HYBRIDCTL default to ../lib/libhybrid.so
 * and ../tools/hybridctl next to this program (the build tree).  Figures to
 * stdout; CSV rows "variant,runs,median_ms,p10_ms,p90_ms,median_extra_ms"
 * to CSV-PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/support.h"
#include "bench_env.h"

extern char **environ;

#define MAX_VARIANTS 8

struct variant {
	const char *name;
	char *argv[8];
	char **envp;
	double *ms;	 /* per round */
	bool skip;
	bool optional; /* may be skipped when it cannot run here */
};

/* ms from spawn to reaped exit; < 0 when the program failed */
static double run(struct variant *v, bool quiet)
{
	posix_spawn_file_actions_t fa;
	uint64_t t0;
	pid_t pid;
	int st;

	fflush(stdout);
	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	t0 = now_ns();
	if (posix_spawn(&pid, v->argv[0], &fa, NULL, v->argv, v->envp)) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return (double)(now_ns() - t0) / 1e6;
}

/* path of a sibling directory's file next to this executable's directory */
static char *sibling(const char *rel)
{
	static char buf[2][PATH_MAX + 64];
	static int k;
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	if ((slash = strrchr(exe, '/')))
		*slash = 0;
	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", exe, rel);
	return buf[k];
}

int main(int argc, char **argv)
{
	const char *prog = "/bin/true", *csv_path = NULL;
	const char *je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
	char *lib = sibling("../lib/libhybrid.so"), *ctl = NULL;
	struct variant v[MAX_VARIANTS];
	char preload[PATH_MAX + 16], jepreload[PATH_MAX + 16], ctlbuf[PATH_MAX + 64];
	int runs = 500, nv = 0, opt;
	FILE *csv = NULL;

	snprintf(ctlbuf, sizeof(ctlbuf), "%s", sibling("../tools/hybridctl"));
	ctl = ctlbuf;
	while ((opt = getopt(argc, argv, "n:p:L:C:J:h")) != -1) {
		switch (opt) {
		case 'n': runs = atoi(optarg); break;
		case 'p': prog = optarg; break;
		case 'L': lib = optarg; break;
		case 'C': ctl = optarg; break;
		case 'J': je = optarg; break;
		default:
			fprintf(stderr, "usage: startup [-n RUNS] [-p PROGRAM] [-L LIBHYBRID] "
					"[-C HYBRIDCTL] [-J LIBJEMALLOC] [CSV-PATH]\n");
			return 2;
		}
	}
	if (optind < argc)
		csv_path = argv[optind];
	if (runs < 3 || !lib || access(lib, R_OK) || access(prog, X_OK)) {
		fprintf(stderr, "startup: need at least 3 runs, %s and %s\n", lib ? lib : "libhybrid.so",
			prog);
		return 2;
	}
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", lib);
	snprintf(jepreload, sizeof(jepreload), "LD_PRELOAD=%s", je);

	memset(v, 0, sizeof(v));
	v[nv++] = (struct variant){"plain", {(char *)prog}, bench_env(NULL, NULL, NULL, NULL)};
	v[nv++] = (struct variant){"jemalloc", {(char *)prog}, bench_env(jepreload, NULL, NULL, NULL),
				   .optional = true};
	v[nv++] = (struct variant){"preload", {(char *)prog}, bench_env(preload, NULL, NULL, NULL)};
	v[nv++] = (struct variant){"preload-loopback", {(char *)prog},
				   bench_env(preload, "HYBRID_FAST_NODES=0", "HYBRID_SLOW_NODES=0", NULL)};
	v[nv++] = (struct variant){"hybridctl", {ctl, "--", (char *)prog}, bench_env(NULL, NULL, NULL, NULL),
				   .optional = true};
	v[nv++] = (struct variant){"hybridctl-loopback",
				   {ctl, "--fast-nodes=0", "--slow-nodes=0", "--", (char *)prog},
				   bench_env(NULL, NULL, NULL, NULL), .optional = true};

	/* each variant once, untimed: it must work here (and warms the caches) */
	for (int i = 0; i < nv; i++) {
		if (run(&v[i], false) >= 0)
			continue;
		if (!v[i].optional) {
			fprintf(stderr, "startup: %s fails here\n", v[i].name);
			return 1;
		}
		v[i].skip = true;
		printf("startup: %s skipped: `", v[i].name);
		for (char **a = v[i].argv; *a; a++)
			printf("%s%s", a == v[i].argv ? "" : " ", *a);
		printf("` does not run here (exit status not 0)\n");
	}
	for (int i = 0; i < nv; i++)
		if (!(v[i].ms = calloc((size_t)runs, sizeof(double))))
			return 1;

	for (int r = 0; r < runs; r++) {
		for (int j = 0; j < nv; j++) {
			struct variant *x = &v[(j + r) % nv];

			if (x->skip)
				continue;
			if ((x->ms[r] = run(x, true)) < 0) {
				fprintf(stderr, "startup: %s failed in round %d\n", x->name, r);
				return 1;
			}
		}
	}

	if (csv_path && !(csv = fopen(csv_path, "w"))) {
		fprintf(stderr, "startup: %s: %s\n", csv_path, strerror(errno));
		return 1;
	}
	if (csv)
		fprintf(csv, "variant,runs,median_ms,p10_ms,p90_ms,median_extra_ms\n");
	printf("startup: %s, %d execs per variant, interleaved; ms from spawn to exit\n", prog,
	       runs);
	printf("%-20s %9s %9s %9s %18s\n", "variant", "median", "p10", "p90", "extra vs plain");
	double *d = calloc((size_t)runs, sizeof(double));

	if (!d)
		return 1;
	for (int i = 0; i < nv; i++) {
		double med, p10, p90, extra;

		if (v[i].skip)
			continue;
		for (int r = 0; r < runs; r++)
			d[r] = v[i].ms[r] - v[0].ms[r];
		extra = bench_pct(d, runs, 0.5);
		memcpy(d, v[i].ms, (size_t)runs * sizeof(double));
		med = bench_pct(d, runs, 0.5);
		p10 = bench_pct(d, runs, 0.1);
		p90 = bench_pct(d, runs, 0.9);
		printf("%-20s %9.3f %9.3f %9.3f %18.3f\n", v[i].name, med, p10, p90, extra);
		if (csv)
			fprintf(csv, "%s,%d,%.4f,%.4f,%.4f,%.4f\n", v[i].name, runs, med, p10, p90,
				extra);
	}
	printf("extra vs plain: median over rounds of (variant - plain) of the same round\n");
	if (csv)
		fclose(csv);
	return 0;
}
