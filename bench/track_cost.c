/* SPDX-License-Identifier: MIT */
/*
 * track_cost — what access tracking costs on this machine (DESIGN.md §3,
 * §7): the figures the overhead governor and the issue note rely on.
 *
 *   track_cost [CSV-PATH] [GIB] [BACKENDS]
 *
 * BACKENDS (comma-separated, default async,sync,rwp): which backends to
 * measure; without sync, no bare round trip either (under emulation each
 * sync round trip takes milliseconds: 2 x 10240 of them are minutes).
 *
 * 1. async epoch cost: one hy_track_harvest (PAGEMAP_SCAN + re-protect)
 *    over GIB GiB (default 1) of populated base pages, all armed, with
 *    about 10% of the pages written since the last harvest; median of 5.
 *    For reference the same with nothing written, and with every other
 *    page armed (a scattered sample), and what arming costs.
 * 2. the first write to an armed page, async and sync, each write timed
 *    alone (median, mean, 99th percentile over 5 x 2048 pages), next to a
 *    write to a page that is not armed;
 * 3. a minimal userfaultfd round trip in the same run: a bare uffd and a
 *    thread doing nothing but poll + read + UFFDIO_WRITEPROTECT(0), so the
 *    sync figure can be told apart from the kernel's own cost.
 *
 * Where the kernel has userfaultfd read-write protection (Linux 7.3), the
 * rwp backend is measured the same way beside async, in the same run, so
 * that rwp / async ratios can be taken (the host kernel has none: run it in
 * the 7.3 VM): its epoch harvest with ~10% of the pages written, and with
 * ~10% only read (async does not see reads: its harvest of that epoch is
 * measured too); arming; and the first read and the first write to an
 * armed page (async: a read of an armed page is not tracked, it is timed
 * for reference), beside a read and a write of a page that is not armed
 * (the library off).
 *
 * Figures go to stdout (stderr when the CSV goes to stdout); CSV rows
 * "metric,backend,stat,value,unit" to CSV-PATH or stdout.  Exit 77 if no
 * tracking backend can run here.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kernel_compat.h"
#include "kfeat.h"
#include "track.h"
#include "../tests/support.h"

#define PG	((size_t)4096)
#define ROUNDS	5
#define NFAULTS 2048

static FILE *out, *csv;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static void row(const char *metric, const char *backend, const char *stat, double value,
		const char *unit)
{
	fprintf(csv, "%s,%s,%s,%.1f,%s\n", metric, backend, stat, value, unit);
}

static char *map_populated(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < len; i += PG)
		p[i] = 1;
	return p;
}

/* About one page in ten, a different tenth each round. */
static bool chosen(size_t pg, int round)
{
	uint64_t h =
	    (pg + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(round + 1) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 29;
	return h % 10 == 0;
}

/* ---- 1. async epoch ---- */

/* Touch about one page in ten of p[0..n) for round r: write, or only read. */
static void touch_tenth(char *p, size_t n, int r, bool rd)
{
	for (size_t pg = 0; pg < n; pg++)
		if (chosen(pg, r)) {
			if (rd)
				(void)*(volatile char *)(p + pg * PG);
			else
				p[pg * PG] = (char)r;
		}
}

/*
 * One backend's epoch: arming all, harvests with ~10% written / read /
 * nothing, every other page armed.  name: the backend column.
 */
static int epoch_cost(double gib, int backend, const char *name)
{
	size_t len = (size_t)(gib * (1u << 30)) & ~(PG - 1), n = len / PG, words = (n + 63) / 64;
	struct hy_track *t;
	struct hy_err err;
	uint64_t *w = calloc(words, 8), *arm = calloc(words, 8), tw[ROUNDS], t0[ROUNDS], ts[ROUNDS],
		 tr[ROUNDS];
	uint64_t a0, a1, a2, a3, written = 0, readseen = 0;
	char *p;

	if (hy_track_open(&t, backend, NULL, &err)) {
		fprintf(out, "%s epoch: not measured (%s)\n", name, err.msg);
		return -1;
	}
	p = map_populated(len);
	if (!p || !w || !arm || hy_track_add(t, (uintptr_t)p, len)) {
		fprintf(out, "%s epoch: cannot map/register %.2f GiB\n", name, gib);
		hy_track_close(t);
		return -1;
	}
	a0 = now_ns();
	hy_track_arm(t, (uintptr_t)p, len, NULL);
	a1 = now_ns();
	hy_track_harvest(t, (uintptr_t)p, len, w); /* steady state */
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t s;
		long k;

		touch_tenth(p, n, r, false);
		s = now_ns();
		k = hy_track_harvest(t, (uintptr_t)p, len, w);
		tw[r] = now_ns() - s;
		written += (uint64_t)(k > 0 ? k : 0);
		s = now_ns();
		hy_track_harvest(t, (uintptr_t)p, len, w);
		t0[r] = now_ns() - s;
		/* reads only: rwp sees (and re-arms) them, async finds nothing */
		touch_tenth(p, n, r + ROUNDS, true);
		s = now_ns();
		k = hy_track_harvest(t, (uintptr_t)p, len, w);
		tr[r] = now_ns() - s;
		readseen += (uint64_t)(k > 0 ? k : 0);
	}
	/* every other page armed: 50% of the pages, one run each */
	for (size_t i = 0; i < words; i++)
		arm[i] = 0x5555555555555555ull;
	a2 = now_ns();
	hy_track_arm(t, (uintptr_t)p, len, arm);
	a3 = now_ns();
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t s;

		touch_tenth(p, n, r, false);
		s = now_ns();
		hy_track_harvest(t, (uintptr_t)p, len, w);
		ts[r] = now_ns() - s;
	}
	hy_track_close(t);
	munmap(p, len);

	double per_gib = 1.0 / gib, mw = (double)median(tw, ROUNDS),
	       m0 = (double)median(t0, ROUNDS), mr = (double)median(tr, ROUNDS);
	double msc = (double)median(ts, ROUNDS);
	fprintf(out, "%s epoch, %.2f GiB of base pages, all armed (%llu pages):\n", name, gib,
		(unsigned long long)n);
	fprintf(out, "  harvest with %.1f%% written   %8.2f ms per GiB  (%.1f ns/page)\n",
		100.0 * (double)written / ROUNDS / (double)n, mw / 1e6 * per_gib, mw / (double)n);
	fprintf(out, "  harvest with %.1f%% seen read %8.2f ms per GiB  (%.1f ns/page)\n",
		100.0 * (double)readseen / ROUNDS / (double)n, mr / 1e6 * per_gib, mr / (double)n);
	fprintf(out, "  harvest with nothing written %8.2f ms per GiB  (%.1f ns/page)\n",
		m0 / 1e6 * per_gib, m0 / (double)n);
	fprintf(out, "  every other page armed, ~10%% written %8.2f ms per GiB\n",
		msc / 1e6 * per_gib);
	fprintf(out, "  arming all                         %8.2f ms per GiB  (%.1f ns/page)\n",
		(double)(a1 - a0) / 1e6 * per_gib, (double)(a1 - a0) / (double)n);
	fprintf(out, "  re-arming as every other page      %8.2f ms per GiB\n",
		(double)(a3 - a2) / 1e6 * per_gib);
	row("epoch_harvest_10pct_written", name, "median5", mw / 1e6 * per_gib, "ms/GiB");
	row("epoch_harvest_10pct_read", name, "median5", mr / 1e6 * per_gib, "ms/GiB");
	row("epoch_harvest_nothing_written", name, "median5", m0 / 1e6 * per_gib, "ms/GiB");
	row("epoch_harvest_alternate_armed", name, "median5", msc / 1e6 * per_gib, "ms/GiB");
	row("arm_all", name, "once", (double)(a1 - a0) / 1e6 * per_gib, "ms/GiB");
	row("arm_alternate", name, "once", (double)(a3 - a2) / 1e6 * per_gib, "ms/GiB");
	row("written_share", name, "mean5", 100.0 * (double)written / ROUNDS / (double)n, "%");
	row("read_seen_share", name, "mean5", 100.0 * (double)readseen / ROUNDS / (double)n, "%");
	free(w);
	free(arm);
	return 0;
}

/* ---- 2. and 3. first-write fault cost ---- */

struct lat {
	uint64_t v[ROUNDS * NFAULTS];
	size_t n;
};

static void report(const char *what, const char *backend, struct lat *l)
{
	double mean = 0;
	uint64_t p50, p99;

	for (size_t i = 0; i < l->n; i++)
		mean += (double)l->v[i];
	mean /= (double)(l->n ? l->n : 1);
	qsort(l->v, l->n, sizeof(l->v[0]), cmp_u64);
	p50 = l->v[l->n / 2];
	p99 = l->v[l->n * 99 / 100];
	fprintf(out, "  %-34s %-6s median %7.2f us  mean %7.2f us  p99 %7.2f us  (%zu writes)\n",
		what, backend, (double)p50 / 1e3, mean / 1e3, (double)p99 / 1e3, l->n);
	row(what, backend, "median", (double)p50, "ns");
	row(what, backend, "mean", mean, "ns");
	row(what, backend, "p99", (double)p99, "ns");
}

/* Time each first write (rd: read) to NFAULTS armed pages, ROUNDS times. */
static void time_access(char *p, struct lat *l, int (*arm)(void *ctx), void *ctx, bool rd)
{
	for (int r = 0; r < ROUNDS; r++) {
		if (arm && arm(ctx))
			return;
		for (size_t i = 0; i < NFAULTS; i++) {
			uint64_t s = now_ns();
			if (rd)
				(void)*(volatile char *)(p + i * PG);
			else
				*(volatile char *)(p + i * PG) = (char)(r + 2);
			l->v[l->n++] = now_ns() - s;
		}
	}
}

static void time_writes(char *p, struct lat *l, int (*arm)(void *ctx), void *ctx)
{
	time_access(p, l, arm, ctx, false);
}

struct arm_ctx {
	struct hy_track *t;
	char *p;
	uint64_t *w;
};

static int arm_track(void *c)
{
	struct arm_ctx *a = c;

	/* harvest re-arms the pages written last round */
	return hy_track_harvest(a->t, (uintptr_t)a->p, NFAULTS * PG, a->w) < 0;
}

/* First write (rd: read) to an armed page; the calibration rows with the writes. */
static int track_fault(int backend, const char *name, struct lat *l, bool rd)
{
	uint64_t w[NFAULTS / 64];
	struct hy_track_cost c;
	struct hy_err err;
	struct arm_ctx a = {.w = w};
	char *p;

	l->n = 0;
	if (hy_track_open(&a.t, backend, NULL, &err)) {
		fprintf(out, "  %s: not measured (%s)\n", name, err.msg);
		return -1;
	}
	p = a.p = map_populated(NFAULTS * PG);
	if (!p || hy_track_add(a.t, (uintptr_t)p, NFAULTS * PG) ||
	    hy_track_arm(a.t, (uintptr_t)p, NFAULTS * PG, NULL)) {
		hy_track_close(a.t);
		return -1;
	}
	hy_track_cost(a.t, &c);
	time_access(p, l, arm_track, &a, rd);
	hy_track_close(a.t);
	munmap(p, NFAULTS * PG);
	report(rd ? "first_read_armed_page" : "first_write_armed_page", name, l);
	if (rd)
		return 0;
	fprintf(out, "  %-34s %-6s %llu ns fault, %llu ns/page harvest\n", "(calibration at open)",
		name, (unsigned long long)c.fault_ns, (unsigned long long)c.harvest_ns_per_page);
	row("calibration_fault", name, "median3", (double)c.fault_ns, "ns");
	row("calibration_harvest_per_page", name, "median3", (double)c.harvest_ns_per_page, "ns");
	return 0;
}

/* The minimal handler: nothing but poll, read, un-protect. */
struct bare {
	int uffd, stop[2];
};

static void *bare_handler(void *arg)
{
	struct bare *b = arg;
	struct pollfd pf[2] = {{.fd = b->uffd, .events = POLLIN},
			       {.fd = b->stop[0], .events = POLLIN}};
	struct uffd_msg m[64];

	for (;;) {
		ssize_t got;

		if (poll(pf, 2, -1) < 0)
			continue;
		if (pf[1].revents)
			return NULL;
		got = read(b->uffd, m, sizeof(m));
		for (ssize_t k = 0; k < got / (ssize_t)sizeof(m[0]); k++) {
			struct uffdio_writeprotect wp = {
			    .range = {.start = m[k].arg.pagefault.address & ~(PG - 1), .len = PG}};
			ioctl(b->uffd, UFFDIO_WRITEPROTECT, &wp);
		}
	}
}

struct bare_arm {
	int uffd;
	char *p;
};

static int arm_bare(void *c)
{
	struct bare_arm *a = c;
	struct uffdio_writeprotect wp = {.range = {.start = (uintptr_t)a->p, .len = NFAULTS * PG},
					 .mode = UFFDIO_WRITEPROTECT_MODE_WP};

	return ioctl(a->uffd, UFFDIO_WRITEPROTECT, &wp);
}

static int bare_round_trip(struct lat *l)
{
	struct bare b = {.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK)};
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg = {.mode = UFFDIO_REGISTER_MODE_WP};
	struct bare_arm a;
	pthread_t th;
	char *p;

	l->n = 0;
	if (b.uffd < 0 || ioctl(b.uffd, UFFDIO_API, &api) || pipe(b.stop)) {
		fprintf(out, "  bare userfaultfd: not measured (%s)\n", strerror(errno));
		return -1;
	}
	p = map_populated(NFAULTS * PG);
	reg.range.start = (uintptr_t)p;
	reg.range.len = NFAULTS * PG;
	if (!p || ioctl(b.uffd, UFFDIO_REGISTER, &reg) ||
	    pthread_create(&th, NULL, bare_handler, &b)) {
		fprintf(out, "  bare userfaultfd: not measured (%s)\n", strerror(errno));
		return -1;
	}
	a.uffd = b.uffd;
	a.p = p;
	time_writes(p, l, arm_bare, &a);
	if (write(b.stop[1], "x", 1) == 1)
		pthread_join(th, NULL);
	close(b.uffd);
	munmap(p, NFAULTS * PG);
	report("first_write_armed_page", "bare", l);
	return 0;
}

static void plain_access(struct lat *l, bool rd)
{
	char *p = map_populated(NFAULTS * PG);

	l->n = 0;
	if (!p)
		return;
	time_access(p, l, NULL, NULL, rd);
	munmap(p, NFAULTS * PG);
	report(rd ? "read_unarmed_page" : "write_unarmed_page", "none", l);
}

/* Is name in the comma-separated list? */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static struct lat l;
	struct hy_kfeat k;
	struct utsname u;
	const char *why;
	double gib = argc > 2 ? atof(argv[2]) : 1.0;
	const char *which = argc > 3 ? argv[3] : "async,sync,rwp";

	csv = stdout;
	out = stdout;
	if (argc > 1 && strcmp(argv[1], "-")) {
		csv = fopen(argv[1], "w");
		if (!csv) {
			fprintf(stderr, "track_cost: %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
	} else {
		out = stderr;
	}
	if (gib <= 0 || gib > 64) {
		fprintf(stderr, "usage: track_cost [CSV-PATH|-] [GIB] [async,sync,rwp]\n");
		return 2;
	}
	hy_kfeat_probe(&k);
	uname(&u);
	fprintf(out, "track_cost: Linux %s, %ld CPUs; auto backend: %s\n", u.release,
		sysconf(_SC_NPROCESSORS_ONLN), hy_kfeat_backend(&k, &why));
	fprintf(csv, "# track_cost on Linux %s, %ld CPUs\nmetric,backend,stat,value,unit\n",
		u.release, sysconf(_SC_NPROCESSORS_ONLN));
	if (!strcmp(hy_kfeat_backend(&k, &why), "off")) {
		fprintf(out, "no tracking backend here: %s\n", why);
		return 77;
	}
	/* rwp only where the kernel has it (7.3): no line, no row elsewhere */
	bool async = listed(which, "async"), sync = listed(which, "sync"),
	     rwp = listed(which, "rwp") && hy_kfeat_rwp(&k);

	if (async)
		epoch_cost(gib, HY_BACKEND_ASYNC, "async");
	if (rwp)
		epoch_cost(gib, HY_BACKEND_RWP, "rwp");
	fprintf(out, "first write to a page, each timed alone (clock_gettime included):\n");
	plain_access(&l, false);
	if (async)
		track_fault(HY_BACKEND_ASYNC, "async", &l, false);
	if (rwp)
		track_fault(HY_BACKEND_RWP, "rwp", &l, false);
	if (sync) {
		track_fault(HY_BACKEND_SYNC, "sync", &l, false);
		bare_round_trip(&l);
	}
	if (rwp) {
		fprintf(out, "first read of a page (async: not tracked, for reference):\n");
		plain_access(&l, true);
		if (async)
			track_fault(HY_BACKEND_ASYNC, "async", &l, true);
		track_fault(HY_BACKEND_RWP, "rwp", &l, true);
	}
	if (csv != stdout)
		fclose(csv);
	return 0;
}
