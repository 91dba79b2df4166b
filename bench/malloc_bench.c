/* SPDX-License-Identifier: MIT */
/*
 * malloc_bench — multi-threaded malloc/free throughput of whatever
 * allocator the process runs with (DESIGN.md §7: libhybrid >= 0.95x
 * jemalloc, faster than glibc).  The allocator is chosen from outside
 * (plain, LD_PRELOAD=libjemalloc.so.2, LD_PRELOAD=libhybrid.so); one run of
 * this program measures one allocator, and bench/run-malloc interleaves the
 * allocators run by run and turns the runs into medians and ratios.
 *
 *   malloc_bench [-l LABEL] [-t 1,2,4] [-w small,mixed] [-d SECONDS] [CSV-PATH]
 *
 * The pattern, per thread: a window of live objects (small: 8192 objects of
 * 16-128 B; mixed: 1024 objects of 16 B - 64 KiB, sizes log-uniform so most
 * are small and most bytes are large).  Each operation picks a random slot,
 * checks and frees the object there and puts a new one of a random size in
 * its place, writing its first word, its last byte and one byte per 4 KiB
 * (so fresh pages are faulted in, as a program would).  The window is filled
 * before the clock starts; the threads then run for a fixed time (default
 * 1 s, long enough to span the engine's tracking epoch) and the figure is
 * operations (one malloc + one free) per second, all threads together.
 *
 * Which allocator really served the run is read from /proc/self/maps
 * (libhybrid.so, libjemalloc.so) and /proc/self/fd (a userfaultfd: the
 * engine runs) and printed beside the figures, so a mislabelled run shows.
 *
 * Two figures per case: operations per wall-clock second (what the program
 * sees), and operations per CPU-second of the whole process (every thread,
 * user and system time, so the library's own threads and page faults are
 * charged) — on a shared machine the second is the steadier one, since time
 * the benchmark spends descheduled does not count.
 *
 * Figures go to stdout; CSV rows
 *   label,allocator,engine,workload,threads,seconds,ops,mops_per_s,
 *   cpu_seconds,mops_per_cpu_s
 * to CSV-PATH (appended, header written when the file is empty).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/support.h"

#define MAX_THREADS 64

struct workload {
	const char *name;
	size_t slots;	      /* live objects per thread */
	unsigned min_log2;    /* sizes from 2^min_log2 ... */
	size_t max_size;      /* ... to max_size */
	bool log_uniform;     /* else uniform */
};

static const struct workload workloads[] = {
	{"small", 8192, 4, 128, false},
	{"mixed", 1024, 4, 64 << 10, true},
};

struct thread {
	pthread_t tid;
	const struct workload *w;
	uint64_t seed;
	uint64_t ops;
	int failed;
};

static pthread_barrier_t start_barrier, done_barrier;
static volatile int stop_flag;

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline size_t pick_size(const struct workload *w, uint64_t *s)
{
	uint64_t r = xorshift(s);
	size_t lo, hi;

	if (!w->log_uniform)
		return ((size_t)1 << w->min_log2) + r % (w->max_size - ((size_t)1 << w->min_log2) + 1);
	/* a power of two uniformly, then uniformly inside [2^e, 2^(e+1)) */
	unsigned emax = 63 - __builtin_clzll(w->max_size);
	unsigned e = w->min_log2 + (unsigned)(r % (emax - w->min_log2 + 1));

	lo = (size_t)1 << e;
	hi = lo << 1 > w->max_size ? w->max_size + 1 : lo << 1;
	return lo + (size_t)((r >> 8) % (hi - lo));
}

struct obj {
	uint64_t stamp; /* size ^ a constant: checked before the free */
};
#define STAMP(n) ((uint64_t)(n) ^ 0x5a5a5a5a5a5a5a5aull)

/* Write the object as a program would: a header, one byte per page, the end. */
static inline void touch(void *p, size_t n)
{
	char *c = p;

	((struct obj *)p)->stamp = STAMP(n);
	for (size_t off = 4096; off < n; off += 4096)
		c[off] = (char)off;
	c[n - 1] = 1;
}

static inline int check(void *p, size_t n)
{
	return ((struct obj *)p)->stamp == STAMP(n) && ((char *)p)[n - 1] == 1;
}

static void *worker(void *arg)
{
	struct thread *t = arg;
	const struct workload *w = t->w;
	void **slot = calloc(w->slots, sizeof(*slot));
	size_t *len = calloc(w->slots, sizeof(*len));
	uint64_t s = t->seed, ops = 0;

	if (!slot || !len) {
		t->failed = 1;
		pthread_barrier_wait(&start_barrier);
		pthread_barrier_wait(&done_barrier);
		return NULL;
	}
	for (size_t i = 0; i < w->slots; i++) {
		len[i] = pick_size(w, &s);
		if (!(slot[i] = malloc(len[i]))) {
			t->failed = 1;
			break;
		}
		touch(slot[i], len[i]);
	}
	pthread_barrier_wait(&start_barrier);
	while (!t->failed && !stop_flag) {
		for (int k = 0; k < 256; k++) {
			size_t i = (size_t)(xorshift(&s) % w->slots);
			size_t n = pick_size(w, &s);

			if (!check(slot[i], len[i]))
				t->failed = 2;
			free(slot[i]);
			if (!(slot[i] = malloc(n))) {
				t->failed = 1;
				len[i] = 0;
				break;
			}
			len[i] = n;
			touch(slot[i], n);
		}
		ops += 256;
	}
	t->ops = ops;
	pthread_barrier_wait(&done_barrier); /* the clocks stop before the clean-up */
	for (size_t i = 0; i < w->slots; i++)
		free(slot[i]);
	free(slot);
	free(len);
	return NULL;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * nthreads threads running w for secs seconds: operations, wall time and
 * the CPU time of the whole process meanwhile (every thread, user and
 * system: the library's own threads and page faults count).
 */
static int measure(const struct workload *w, int nthreads, double secs, uint64_t *ops_out,
		   double *secs_out, double *cpu_out)
{
	struct thread t[MAX_THREADS];
	uint64_t ops = 0, start, cpu0;
	struct timespec d;
	int failed = 0;

	memset(t, 0, sizeof(t));
	stop_flag = 0;
	pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&done_barrier, NULL, (unsigned)nthreads + 1);
	for (int i = 0; i < nthreads; i++) {
		t[i].w = w;
		t[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ (uint64_t)now_ns();
		if (pthread_create(&t[i].tid, NULL, worker, &t[i])) {
			fprintf(stderr, "malloc_bench: pthread_create failed\n");
			exit(1);
		}
	}
	pthread_barrier_wait(&start_barrier);
	start = now_ns();
	cpu0 = cpu_ns();
	d.tv_sec = (time_t)secs;
	d.tv_nsec = (long)((secs - (double)d.tv_sec) * 1e9);
	while (nanosleep(&d, &d) && errno == EINTR)
		;
	stop_flag = 1;
	pthread_barrier_wait(&done_barrier);
	*secs_out = (double)(now_ns() - start) / 1e9;
	*cpu_out = (double)(cpu_ns() - cpu0) / 1e9;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i].tid, NULL);
		ops += t[i].ops;
		if (t[i].failed)
			failed = t[i].failed;
	}
	pthread_barrier_destroy(&start_barrier);
	pthread_barrier_destroy(&done_barrier);
	*ops_out = ops;
	return failed;
}

/* What really serves malloc here: read, never assumed from the label. */
static const char *allocator(void)
{
	char line[512];
	bool hybrid = false, je = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			hybrid |= strstr(line, "/libhybrid.so") != NULL;
			je |= strstr(line, "/libjemalloc.so") != NULL;
		}
		fclose(f);
	}
	return hybrid ? (je ? "libhybrid+jemalloc" : "libhybrid+glibc") : je ? "jemalloc" : "glibc";
}

static bool engine_running(void)
{
	char path[320], target[64];
	struct dirent *de;
	bool found = false;
	DIR *d = opendir("/proc/self/fd");
	ssize_t n;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			found = strstr(target, "userfaultfd") != NULL;
		}
	}
	closedir(d);
	return found;
}

static void usage(void)
{
	fprintf(stderr, "usage: malloc_bench [-l LABEL] [-t 1,2,4] [-w small,mixed] "
			"[-d SECONDS] [CSV-PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *label = "-", *csv_path = NULL, *wl = "small,mixed";
	char tlist[128] = "1,2,4", *tok, *save;
	double secs = 1.0;
	FILE *csv = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "l:t:w:d:h")) != -1) {
		switch (opt) {
		case 'l': label = optarg; break;
		case 't': snprintf(tlist, sizeof(tlist), "%s", optarg); break;
		case 'w': wl = optarg; break;
		case 'd': secs = atof(optarg); break;
		default: usage();
		}
	}
	if (optind < argc)
		csv_path = argv[optind++];
	if (optind != argc || secs <= 0)
		usage();
	if (csv_path) {
		if (!(csv = fopen(csv_path, "a"))) {
			fprintf(stderr, "malloc_bench: %s: %s\n", csv_path, strerror(errno));
			return 1;
		}
		if (ftell(csv) == 0)
			fprintf(csv, "label,allocator,engine,workload,threads,seconds,ops,mops_per_s,"
				     "cpu_seconds,mops_per_cpu_s\n");
	}

	const char *alloc = allocator();
	bool eng = engine_running();

	printf("malloc_bench: label %s, allocator %s, engine %s, %.2f s per figure\n", label,
	       alloc, eng ? "running" : "not running", secs);
	printf("%-8s %-4s %8s %8s %10s %12s\n", "workload", "thr", "seconds", "cpu s", "Mops/s",
	       "Mops/cpu-s");
	for (size_t k = 0; k < sizeof(workloads) / sizeof(workloads[0]); k++) {
		const struct workload *w = &workloads[k];

		if (!strstr(wl, w->name))
			continue;
		char tl[128];

		snprintf(tl, sizeof(tl), "%s", tlist);
		for (tok = strtok_r(tl, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int n = atoi(tok);
			uint64_t ops;
			double s, cpu;
			int rc;

			if (n < 1 || n > MAX_THREADS)
				usage();
			rc = measure(w, n, secs, &ops, &s, &cpu);
			if (rc) {
				fprintf(stderr, "malloc_bench: %s, %d threads: %s\n", w->name, n,
					rc == 2 ? "an object was corrupted" : "out of memory");
				return 1;
			}
			printf("%-8s %-4d %8.3f %8.3f %10.3f %12.3f\n", w->name, n, s, cpu,
			       (double)ops / s / 1e6, (double)ops / cpu / 1e6);
			if (csv)
				fprintf(csv, "%s,%s,%s,%s,%d,%.6f,%llu,%.6f,%.6f,%.6f\n", label,
					alloc, eng ? "running" : "off", w->name, n, s,
					(unsigned long long)ops, (double)ops / s / 1e6, cpu,
					(double)ops / cpu / 1e6);
			fflush(stdout);
		}
	}
	if (csv)
		fclose(csv);
	return 0;
}
