/* memlat — load latency and stream bandwidth of each NUMA node, as a guest sees them.
 *
 *   memlat [--mib N] [--reps R]
 *
 * For every node with memory: N MiB (default 64, far more than the slow-tier plugin's
 * 32 KiB tag cache, tests/vm/slowmem.c) bound there with mbind(MPOL_BIND) and faulted in,
 * then R (default 5) rounds of
 *   chase   a pointer chase through the buffer's 64-byte lines in a random order closed
 *           into one cycle: each load depends on the one before, so the
 *           time per load is the latency of one missed line;
 *   read    a sequential read of the buffer (sum of 64-bit words);
 *   write   a sequential write of the buffer.
 * The rounds alternate between the nodes so that a busy host slows every node alike;
 * each figure is the median of the R rounds, each ratio the median of the R rounds'
 * ratios (a round's figures for two nodes are measured seconds apart).  Output, one line per node and one per
 * slow node's ratio to node 0 (tiered-vm --calibrate reads the "memlat:" lines):
 *   memlat: node 1 chase_ns 123.4 read_mbs 456 write_mbs 789
 *   memlat: ratio node1/node0 chase 2.51 read 0.40 write 0.38
 * Emulated times are no hardware's times: only ratios within one run mean something.
 * Exit status: 0 done, 1 error (placement wrong, out of memory), 77 no NUMA.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define LINE 64
#define MAX_NODES 8
#define MAX_REPS 64

struct node {
	int id;
	char *buf;
	size_t bytes;
	double chase[MAX_REPS], rd[MAX_REPS], wr[MAX_REPS];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	double s[MAX_REPS];
	memcpy(s, v, sizeof(double) * (size_t)n);
	qsort(s, (size_t)n, sizeof(double), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* xorshift64*: a fixed seed, so every run chases the same permutation */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/*
 * The buffer on node n: mmap, mbind(MPOL_BIND) and every page written, then the
 * placement checked for a page in every MiB.  Each line's first word is the address
 * of the next line of one random cycle through all lines.
 */
static int setup(struct node *nd, size_t bytes)
{
	size_t nlines = bytes / LINE, i;
	unsigned long mask[MAX_NODES / (8 * sizeof(unsigned long)) + 1] = {0};
	uint32_t *perm;
	nd->bytes = bytes;
	nd->buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nd->buf == MAP_FAILED) {
		perror("memlat: mmap");
		return -1;
	}
	mask[0] = 1UL << nd->id;
	if (mbind(nd->buf, bytes, MPOL_BIND, mask, MAX_NODES + 1, 0) != 0) {
		perror("memlat: mbind");
		return -1;
	}
	memset(nd->buf, 1, bytes);
	for (i = 0; i < bytes; i += 1 << 20) {
		int where = -1;
		if (get_mempolicy(&where, NULL, 0, nd->buf + i, MPOL_F_NODE | MPOL_F_ADDR) != 0 ||
		    where != nd->id) {
			fprintf(stderr, "memlat: FAIL: page at +%zu MiB is on node %d, not %d\n",
				i >> 20, where, nd->id);
			return -1;
		}
	}
	perm = malloc(nlines * sizeof *perm);
	if (!perm) {
		fprintf(stderr, "memlat: out of memory\n");
		return -1;
	}
	for (i = 0; i < nlines; i++)
		perm[i] = (uint32_t)i;
	for (i = nlines - 1; i > 0; i--) { /* shuffled (Fisher-Yates) */
		size_t j = rnd() % i;
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	/* perm as a cycle: line perm[k] points to line perm[k + 1] */
	for (i = 0; i < nlines; i++)
		*(char **)(nd->buf + (size_t)perm[i] * LINE) =
		    nd->buf + (size_t)perm[(i + 1) % nlines] * LINE;
	free(perm);
	return 0;
}

static volatile uint64_t sink;

/* ns per dependent load over one pass of the cycle */
static double chase(struct node *nd)
{
	size_t n = nd->bytes / LINE, i;
	char *p = nd->buf;
	double t0 = now_s(), t;
	for (i = 0; i < n; i++)
		p = *(char **)p;
	t = now_s() - t0;
	sink = (uint64_t)(uintptr_t)p;
	return t * 1e9 / (double)n;
}

static double stream_read(struct node *nd)
{
	const uint64_t *w = (const uint64_t *)nd->buf;
	size_t n = nd->bytes / sizeof *w, i;
	uint64_t s = 0;
	double t0 = now_s(), t;
	for (i = 0; i < n; i++)
		s += w[i];
	t = now_s() - t0;
	sink = s;
	return (double)nd->bytes / t / 1e6;
}

/* writes every word but the chase's pointer (the first word of each line) */
static double stream_write(struct node *nd, uint64_t v)
{
	volatile uint64_t *w = (volatile uint64_t *)nd->buf;
	size_t n = nd->bytes / sizeof *w, i;
	double t0 = now_s(), t;
	for (i = 0; i < n; i++)
		if (i % (LINE / sizeof *w))
			w[i] = v;
	t = now_s() - t0;
	return (double)nd->bytes / t / 1e6;
}

int main(int argc, char **argv)
{
	struct node nodes[MAX_NODES];
	size_t mib = 64;
	int reps = 5, nn = 0, i, r;
	for (i = 1; i < argc; i++) {
		char *end;
		long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
		if (i + 1 < argc && *end == 0 && strcmp(argv[i], "--mib") == 0 && v >= 1 && v <= 4096)
			mib = (size_t)v;
		else if (i + 1 < argc && *end == 0 && strcmp(argv[i], "--reps") == 0 && v >= 1 &&
			 v <= MAX_REPS)
			reps = (int)v;
		else {
			fprintf(stderr, "usage: memlat [--mib 1..4096] [--reps 1..%d]\n", MAX_REPS);
			return 2;
		}
		i++;
	}
	if (numa_available() < 0) {
		printf("memlat: SKIP: no NUMA support\n");
		return 77;
	}
	for (i = 0; i <= numa_max_node() && nn < MAX_NODES; i++) {
		long long free_b;
		if (!numa_bitmask_isbitset(numa_all_nodes_ptr, i) || numa_node_size64(i, &free_b) <= 0)
			continue;
		nodes[nn].id = i;
		if (setup(&nodes[nn], mib << 20) != 0)
			return 1;
		nn++;
	}
	if (nn == 0 || nodes[0].id != 0) {
		fprintf(stderr, "memlat: FAIL: node 0 has no memory\n");
		return 1;
	}
	/* one untimed pass each: the guest's and QEMU's TLBs, the plugin's tags warm alike */
	for (i = 0; i < nn; i++)
		chase(&nodes[i]);
	for (r = 0; r < reps; r++)
		for (i = 0; i < nn; i++) {
			nodes[i].chase[r] = chase(&nodes[i]);
			nodes[i].rd[r] = stream_read(&nodes[i]);
			nodes[i].wr[r] = stream_write(&nodes[i], (uint64_t)r);
		}
	for (i = 0; i < nn; i++)
		printf("memlat: node %d chase_ns %.1f read_mbs %.0f write_mbs %.0f (%zu MiB, median of %d)\n",
		       nodes[i].id, median(nodes[i].chase, reps), median(nodes[i].rd, reps),
		       median(nodes[i].wr, reps), mib, reps);
	for (i = 1; i < nn; i++) {
		double c[MAX_REPS], rd[MAX_REPS], wr[MAX_REPS];
		for (r = 0; r < reps; r++) {
			c[r] = nodes[i].chase[r] / nodes[0].chase[r];
			rd[r] = nodes[i].rd[r] / nodes[0].rd[r];
			wr[r] = nodes[i].wr[r] / nodes[0].wr[r];
		}
		printf("memlat: ratio node%d/node0 chase %.2f read %.2f write %.2f\n", nodes[i].id,
		       median(c, reps), median(rd, reps), median(wr, reps));
	}
	return 0;
}
