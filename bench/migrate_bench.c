/* SPDX-License-Identifier: MIT */
/*
 * migrate_bench — pages per second through libhybrid's migrator (lib/migrate.c,
 * hy_mig_move) against raw batched move_pages(2) on the same pages (issue 8,
 * part 5; target >= 0.9x).  Runs where there are two memory nodes: the tiered VM
 * (bench/run migrate boots 6.12 2tier), or any NUMA machine.
 *
 *   migrate_bench [-s SIZE] [-r REPS] [-k 4k,thp] [-b BATCH] [-f FAST] [-S SLOW]
 *                 [-o CSV]
 *
 * For each page kind — 4k (MADV_NOHUGEPAGE) and thp (MADV_HUGEPAGE; the share of
 * the buffer really backed by huge pages is read from /proc/self/smaps before and
 * after every move and written to the CSV) — SIZE (default 128M) is populated on
 * the slow node, then moved slow -> fast ("promote") and back ("demote") REPS
 * times (default 5) by each method:
 *
 *   raw     move_pages(0, k, addrs, nodes, status, MPOL_MF_MOVE) over every base
 *           page, in batches of BATCH (default 2048, the migrator's own batch)
 *   lib     hy_mig_move() on the same list of base pages (it sorts, batches,
 *           checks each status and counts)
 *   raw-head (thp only, for reference) move_pages on one address per 2 MiB
 *
 * One untimed promote + demote warms both nodes up first.  The order of the
 * methods is rotated every repetition.  Each timing includes
 * filling the address arrays.  After every move the pages are located with a
 * move_pages query and those not on the target counted ("left"): a move that
 * left pages behind is still timed, but the CSV says so.  The data are checked
 * (a checksum) at the end.
 *
 * CSV rows (appended, header when the file is new):
 *   kind,rep,direction,method,pages,seconds,pages_per_s,left,thp_before,thp_after
 * Medians and per-repetition ratios lib/raw are printed on stderr;
 * bench/mkresults makes the table from the CSV.  Under TCG emulation absolute
 * rates mean nothing; the ratio does.  Exit 77 with fewer than two memory nodes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"
#include "stats.h"
#include "../tests/support.h"

#define PG	((size_t)4096)
#define HP	((size_t)2 << 20)
#define MAXREPS 64

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'G':
	case 'g':
		v *= 1 << 30;
		break;
	case 'M':
	case 'm':
		v *= 1 << 20;
		break;
	case 'K':
	case 'k':
		v *= 1 << 10;
		break;
	}
	return (size_t)v;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Share of [p, p+len) backed by huge pages, from /proc/self/smaps (-1: unknown). */
static double thp_share(const char *p, size_t len)
{
	char line[512];
	unsigned long lo, hi, kb, huge = 0;
	bool in = false, found = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = lo < (uintptr_t)p + len && hi > (uintptr_t)p;
			found |= in;
		} else if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) {
			huge += kb;
		}
	}
	fclose(f);
	return found ? (double)huge * 1024 / (double)len : -1;
}

static size_t npages, batch = 2048;
static char *buf;
static void **addrs;
static int *nodes, *status;
static struct hy_move *moves;

/* Pages not on `node` now. */
static size_t left_behind(int node)
{
	size_t left = 0;

	for (size_t i = 0; i < npages; i += batch) {
		size_t k = npages - i < batch ? npages - i : batch;

		for (size_t j = 0; j < k; j++)
			addrs[j] = buf + (i + j) * PG;
		if (move_pages(0, k, addrs, NULL, status, 0) < 0)
			return npages;
		for (size_t j = 0; j < k; j++)
			left += status[j] != node;
	}
	return left;
}

/* move_pages over `n` addresses spaced `step` apart, in batches. */
static int raw_move(size_t step, int node)
{
	size_t n = npages * PG / step;

	for (size_t i = 0; i < n; i += batch) {
		size_t k = n - i < batch ? n - i : batch;

		for (size_t j = 0; j < k; j++) {
			addrs[j] = buf + (i + j) * step;
			nodes[j] = node;
		}
		if (move_pages(0, k, addrs, nodes, status, MPOL_MF_MOVE) < 0) {
			fprintf(stderr, "migrate_bench: move_pages: %s\n", strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int lib_move(int node, enum hy_move_kind kind, struct hy_stats *st)
{
	for (size_t i = 0; i < npages; i++)
		moves[i] = (struct hy_move){.addr = (uintptr_t)(buf + i * PG), .to_node = node};
	long r = hy_mig_move(moves, npages, kind, st);

	if (r < 0) {
		fprintf(stderr, "migrate_bench: hy_mig_move: %s\n", strerror((int)-r));
		return -1;
	}
	return 0;
}

static uint64_t checksum(void)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < npages * PG / 8; i += 61)
		h = (h ^ ((uint64_t *)buf)[i]) * 0x100000001b3ULL;
	return h;
}

int main(int argc, char **argv)
{
	size_t size = 128UL << 20;
	int reps = 5, fast = 0, slow = -1, c;
	const char *kinds = "4k,thp", *csv_path = NULL;

	while ((c = getopt(argc, argv, "s:r:k:b:f:S:o:")) != -1) {
		switch (c) {
		case 's':
			size = parse_size(optarg);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'k':
			kinds = optarg;
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 10);
			break;
		case 'f':
			fast = atoi(optarg);
			break;
		case 'S':
			slow = atoi(optarg);
			break;
		case 'o':
			csv_path = optarg;
			break;
		default:
			fprintf(stderr,
				"usage: migrate_bench [-s SIZE] [-r REPS] [-k 4k,thp] [-b BATCH] "
				"[-f FAST] [-S SLOW] [-o CSV]\n");
			return 2;
		}
	}
	size &= ~(HP - 1);
	if (size == 0 || reps < 1 || reps > MAXREPS || batch == 0) {
		fprintf(stderr, "migrate_bench: bad size, repetitions (1-%d) or batch\n", MAXREPS);
		return 2;
	}
	if (numa_available() < 0) {
		fprintf(stderr, "migrate_bench: no NUMA here: skipped\n");
		return 77;
	}
	if (slow < 0) /* the highest-numbered node with memory */
		for (int n = numa_max_node(); n > fast && slow < 0; n--)
			if (numa_node_size64(n, NULL) > 0)
				slow = n;
	if (slow < 0 || slow == fast) {
		fprintf(stderr,
			"migrate_bench: needs two memory nodes (fast %d, slow %d): skipped\n", fast,
			slow);
		return 77;
	}
	npages = size / PG;
	addrs = malloc(batch * sizeof(*addrs));
	nodes = malloc(batch * sizeof(*nodes));
	status = malloc((batch > npages ? batch : npages) * sizeof(*status));
	moves = malloc(npages * sizeof(*moves));
	if (!addrs || !nodes || !status || !moves) {
		fprintf(stderr, "migrate_bench: out of memory\n");
		return 1;
	}
	FILE *csv = NULL;
	if (csv_path) {
		bool fresh = access(csv_path, F_OK) != 0;

		csv = fopen(csv_path, "a");
		if (!csv) {
			fprintf(stderr, "migrate_bench: %s: %s\n", csv_path, strerror(errno));
			return 1;
		}
		if (fresh)
			fprintf(
			    csv,
			    "kind,rep,direction,method,pages,seconds,pages_per_s,left,thp_before,"
			    "thp_after\n");
	}
	fprintf(
	    stderr,
	    "migrate_bench: %zu MiB (%zu pages), fast node %d, slow node %d, %d reps, batch %zu\n",
	    size >> 20, npages, fast, slow, reps, batch);

	int rc = 0;
	char klist[64];
	snprintf(klist, sizeof(klist), "%s", kinds);
	for (char *save, *kind = strtok_r(klist, ",", &save); kind;
	     kind = strtok_r(NULL, ",", &save)) {
		bool thp = !strcmp(kind, "thp");
		if (!thp && strcmp(kind, "4k")) {
			fprintf(stderr, "migrate_bench: page kind %s: 4k or thp\n", kind);
			return 2;
		}
		char *m = mmap(NULL, size + HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (m == MAP_FAILED) {
			perror("migrate_bench: mmap");
			return 1;
		}
		buf = (char *)(((uintptr_t)m + HP - 1) & ~(HP - 1));
		if (madvise(buf, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) && thp)
			fprintf(stderr, "migrate_bench: MADV_HUGEPAGE: %s\n", strerror(errno));
		/* populate on the slow node, then drop the policy: move_pages decides */
		unsigned long mask = 1UL << slow;
		if (mbind(buf, size, MPOL_BIND, &mask, sizeof(mask) * 8, 0)) {
			perror("migrate_bench: mbind");
			return 1;
		}
		for (size_t i = 0; i < size; i += PG)
			*(uint64_t *)(buf + i) = i * 0x9E3779B97F4A7C15ull;
		mbind(buf, size, MPOL_DEFAULT, NULL, 0, 0);
		uint64_t sum0 = checksum();
		double share = thp_share(buf, size);
		fprintf(
		    stderr,
		    "migrate_bench: %s: %zu pages on node %d (%zu elsewhere), huge pages %.0f%%\n",
		    kind, npages, slow, left_behind(slow), share * 100);
		if (thp && share < 0.9)
			fprintf(stderr,
				"migrate_bench: thp: only %.0f%% of the buffer is huge pages "
				"(transparent_hugepage/enabled?); the thp rows say so\n",
				share * 100);

		/* warm-up, not timed: the first allocations on each node after boot are slower
		 * (deferred struct page init, empty per-CPU lists) and would favour whichever
		 * method came second */
		if (raw_move(PG, fast) || raw_move(PG, slow)) {
			rc = 1;
			goto out;
		}
		const char *methods[3] = {"raw", "lib", "raw-head"};
		int nm = thp ? 3 : 2;
		double pps[3][2][MAXREPS];
		for (int r = 0; r < reps; r++) {
			for (int mi = 0; mi < nm; mi++) {
				int meth = (mi + r) % nm;
				for (int dir = 0; dir < 2;
				     dir++) { /* 0: promote (to fast), 1: demote */
					int to = dir ? slow : fast;
					struct hy_stats st = {0};
					double tb = thp_share(buf, size), t0 = now_s();
					int e = meth == 1   ? lib_move(to,
								       dir ? HY_MOVE_DEMOTE
									   : HY_MOVE_PROMOTE,
								       &st)
						: meth == 0 ? raw_move(PG, to)
							    : raw_move(HP, to);
					double dt = now_s() - t0;
					if (e) {
						rc = 1;
						goto out;
					}
					size_t left = left_behind(to);
					double ta = thp_share(buf, size);
					pps[meth][dir][r] = (double)npages / dt;
					if (csv)
						fprintf(csv,
							"%s,%d,%s,%s,%zu,%.6f,%.0f,%zu,%.3f,%.3f\n",
							kind, r + 1, dir ? "demote" : "promote",
							methods[meth], npages, dt,
							(double)npages / dt, left, tb, ta);
					if (left)
						fprintf(stderr,
							"migrate_bench: %s %s %s rep %d: %zu pages "
							"not moved\n",
							kind, methods[meth],
							dir ? "demote" : "promote", r + 1, left);
				}
			}
		}
		for (int dir = 0; dir < 2; dir++) {
			double ratio[MAXREPS], raw[MAXREPS], lib[MAXREPS];
			for (int r = 0; r < reps; r++) {
				ratio[r] = pps[1][dir][r] / pps[0][dir][r];
				raw[r] = pps[0][dir][r];
				lib[r] = pps[1][dir][r];
			}
			fprintf(stderr,
				"migrate_bench: %-3s %-7s raw %9.0f pages/s, lib %9.0f pages/s, "
				"lib/raw %.3f "
				"(median of %d)\n",
				kind, dir ? "demote" : "promote", median(raw, reps),
				median(lib, reps), median(ratio, reps), reps);
		}
		if (checksum() != sum0) {
			fprintf(stderr, "migrate_bench: %s: data changed by the moves!\n", kind);
			rc = 1;
		}
		munmap(m, size + HP);
	}
out:
	if (csv)
		fclose(csv);
	return rc;
}
