/* SPDX-License-Identifier: MIT */
/*
 * gups — hot-set capture: how fast, and how precisely, does a tiering system put a
 * write-hot set on DRAM?  (issue 8, part 1; see bench/README.md, bench/run-capture)
 *
 * A GUPS-style loop: random 8-byte read-modify-writes over a table, a share of them
 * (-p, default 90%) to a hot set of -H % (default 10%) of the table's 4 KiB pages, the
 * rest uniformly over the other pages.  The hot set is either one contiguous run of
 * pages (2 MiB aligned) or pages scattered at random (-l).  After -t seconds the hot
 * set moves (a disjoint set of the same size) and the run goes on for -T seconds.
 *
 * Every -i seconds (default 1 s, one libhybrid epoch) the loop stops briefly and asks
 * the kernel where pages are (move_pages with nodes == NULL): every hot page, and a
 * fixed random sample of cold pages.  From that it records the fraction of the hot set
 * on DRAM (node -d, default 0) and the expected fraction of updates hitting DRAM in
 * that interval, p*hot + (1-p)*cold (updates are uniform within each set, so this is
 * the expectation of the hit count; the loop does not look up a node per update).  At
 * the start and end of each phase it queries every page: cold pages that went from a
 * slow node to DRAM during the phase are "cold promoted" (a net figure: a page promoted
 * and demoted again within the phase is not seen).  Migration volume comes from
 * libhybrid's counters when it is preloaded (hybrid_get_stats, found with dlsym, so
 * that nothing of libhybrid is linked) and from /proc/vmstat (the kernel's tiering:
 * pgpromote_success, pgdemote_*, pgmigrate_success) for every run.
 *
 * -w PERMILLE makes the loop read-mostly: only that many updates in 1000 write (the
 * rest only read their word); default 1000, every update writes.  Write tracking sees
 * only the writes, so this is the case where tracking costs least per update.
 *
 * Placement modes (-m): plain (whatever the environment does: first touch, numactl,
 * the preload), malloc (the table allocated in 2 MiB chunks with posix_memalign rather
 * than one mmap, so that an LD_PRELOADed allocator such as memkind's libmemtier.so
 * places it), oracle (the table bound to the slow node with mbind, the hot set then
 * moved to DRAM with move_pages, and moved again at once when the hot set moves; with
 * a scattered hot set it asks for no huge pages, to be exact at 4 KiB), slow (the table
 * alone bound to the slow node, nothing moved: the process's other memory stays where
 * the kernel puts it, unlike numactl --membind), memtier:R (memkind's static-ratio
 * tiering: the table is allocated in 2 MiB chunks from a memtier memory of
 * DRAM:KMEM_DAX = 1:R, the way libmemtier.so serves malloc; needs memkind at build).
 * -b SIZE first locks a balloon on DRAM so that only SIZE of it stays free: DRAM then
 * holds the hot set (plus a margin) but not the table.  With -K gups only does that:
 * it locks the balloon, says "gups: balloon held" and waits for a signal (no table, no
 * updates) -- the same DRAM pressure for another program (bench/run-speed-redis).
 *
 * Output: one CSV row per interval (-o) and one per phase (-x), appended, with a header
 * when the file is new; the label (-L, comma-separated) starts each row.  The phase row
 * ends with the throughput, M updates per second spent updating (the interval queries
 * not counted), over the phase (mupd_s) and over its second half (mupd_s_settled), then
 * where the memory that is not the table's data sits at the phase's end: page tables
 * and transparent huge pages on the DRAM and the slow node (whole-node figures from
 * sysfs, KiB; gups is most of the guest's memory in the VM).  Figures also
 * go to stderr.  Times are wall-clock; in the emulated VM they are emulated seconds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hybrid.h"
#include "../tests/support.h"

#ifdef HAVE_MEMKIND
#include <memkind.h>
#include <memkind_memtier.h>
#endif

#define PAGE 4096UL
#define CHUNK (2UL << 20) /* table slice: 512 pages */
#define PPC 512UL

static unsigned long npages, nhot;
static char **chunk;		/* npages / PPC slices */
static uint32_t *hot;		/* the current hot pages */
static uint8_t *is_hot;		/* per page */
static uint32_t *cold_sample;	/* pages sampled for the cold fraction */
static unsigned long ncold_sample;
static int dram_node = 0, slow_node = 1;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static inline uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static inline char *page_addr(unsigned long p)
{
	return chunk[p / PPC] + (p % PPC) * PAGE;
}

static void die(const char *what)
{
	fprintf(stderr, "gups: %s: %s\n", what, strerror(errno));
	exit(1);
}

static unsigned long parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	switch (*end) {
	case 'G': case 'g': v *= 1 << 30; break;
	case 'M': case 'm': v *= 1 << 20; break;
	case 'K': case 'k': v *= 1 << 10; break;
	}
	return (unsigned long)v;
}

/* Node of each page in pages[0..n) into node[] (negative: not present). */
static void query(const uint32_t *pages, unsigned long n, int *node)
{
	enum { B = 8192 };
	static void *addr[B];
	for (unsigned long i = 0; i < n; i += B) {
		unsigned long k = n - i < B ? n - i : B;
		for (unsigned long j = 0; j < k; j++)
			addr[j] = page_addr(pages ? pages[i + j] : i + j);
		if (move_pages(0, k, addr, NULL, node + i, 0) < 0)
			die("move_pages (query)");
	}
}

static double frac_on_dram(const uint32_t *pages, unsigned long n, int *buf)
{
	unsigned long c = 0;
	query(pages, n, buf);
	for (unsigned long i = 0; i < n; i++)
		c += buf[i] == dram_node;
	return n ? (double)c / n : 0;
}

/* /proc/vmstat counters of migration between tiers. */
struct vmstat {
	uint64_t promote, demote, migrate, numa_migrated;
};
static void read_vmstat(struct vmstat *v)
{
	char name[64];
	unsigned long long val;
	memset(v, 0, sizeof(*v));
	FILE *f = fopen("/proc/vmstat", "r");
	if (!f)
		return;
	while (fscanf(f, "%63s %llu", name, &val) == 2) {
		if (!strcmp(name, "pgpromote_success"))
			v->promote += val;
		else if (!strncmp(name, "pgdemote_", 9))
			v->demote += val;
		else if (!strcmp(name, "pgmigrate_success"))
			v->migrate += val;
		else if (!strcmp(name, "numa_pages_migrated"))
			v->numa_migrated += val;
	}
	fclose(f);
}

/* CPU time of the whole process (every thread, the library's included), seconds. */
static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int (*get_stats)(struct hybrid_stats *);
static void lib_stats(struct hybrid_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (get_stats)
		get_stats(st);
}

/* A field of a node's meminfo in sysfs ("MemFree", "PageTables", ...), in KiB. */
static unsigned long node_kb(int node, const char *field)
{
	char path[96], line[256], key[64];
	unsigned long kb = 0;
	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	snprintf(key, sizeof(key), " %s:", field);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *m = strstr(line, key);
		if (m)
			kb = strtoul(m + strlen(key), NULL, 10);
	}
	fclose(f);
	return kb;
}

/* A node's free memory (bytes). */
static unsigned long node_free(int node)
{
	return node_kb(node, "MemFree") << 10;
}

/* Lock DRAM so that about `leave` bytes of it stay free. */
static void balloon(unsigned long leave)
{
	unsigned long fr = node_free(dram_node);
	if (fr <= leave) {
		fprintf(stderr, "gups: DRAM node %d has %lu MiB free, no balloon\n", dram_node, fr >> 20);
		return;
	}
	unsigned long len = (fr - leave) & ~(CHUNK - 1);
	char *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		die("mmap (balloon)");
	unsigned long mask = 1UL << dram_node;
	if (mbind(b, len, MPOL_BIND, &mask, sizeof(mask) * 8, 0))
		die("mbind (balloon)");
	if (mlock(b, len))
		die("mlock (balloon)");
	fprintf(stderr, "gups: balloon %lu MiB on node %d, %lu MiB left free\n", len >> 20, dram_node,
		node_free(dram_node) >> 20);
}

/* The oracle's placement: move pages[0..n) to `node` now (move_pages; retried once
 * for THP tails, which report -EBUSY although the whole huge page moved). */
static void move_to(const uint32_t *pages, unsigned long n, int node)
{
	enum { B = 8192 };
	static void *addr[B];
	static int nodes[B], status[B];
	for (unsigned long i = 0; i < n; i += B) {
		unsigned long k = n - i < B ? n - i : B;
		for (unsigned long j = 0; j < k; j++) {
			addr[j] = page_addr(pages[i + j]);
			nodes[j] = node;
		}
		for (int tries = 0; tries < 2; tries++)
			if (move_pages(0, k, addr, nodes, status, MPOL_MF_MOVE) < 0)
				die("move_pages (oracle)");
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t *perm;
static bool scattered;

/* Phase k's hot set: disjoint from the other phase's. */
static void choose_hot(int phase)
{
	memset(is_hot, 0, npages);
	if (scattered) {
		memcpy(hot, perm + phase * nhot, nhot * sizeof(*hot));
		qsort(hot, nhot, sizeof(*hot), cmp_u32);
	} else {
		unsigned long start = (unsigned long)(npages * (phase ? 0.7 : 0.4)) / PPC * PPC;
		if (start + nhot > npages)
			start = npages - nhot;
		for (unsigned long i = 0; i < nhot; i++)
			hot[i] = start + i;
	}
	for (unsigned long i = 0; i < nhot; i++)
		is_hot[hot[i]] = 1;
	/* A fixed sample of the cold pages for this phase. */
	for (unsigned long i = 0; i < ncold_sample;) {
		uint32_t p = rnd() % npages;
		if (!is_hot[p])
			cold_sample[i++] = p;
	}
	qsort(cold_sample, ncold_sample, sizeof(*cold_sample), cmp_u32);
}

int main(int argc, char **argv)
{
	unsigned long size = 512UL << 20, leave = 0;
	double hot_pct = 10, upd_pct = 90, t1 = 20, t2 = 20, ival = 1;
	unsigned long wpm = 1000; /* writes per 1000 updates */
	const char *mode = "plain", *label = "run", *out = NULL, *sum = NULL;
	bool hold = false;
	int c;
	while ((c = getopt(argc, argv, "s:H:p:l:t:T:i:m:b:d:S:L:o:x:r:w:K")) != -1) {
		switch (c) {
		case 'K': hold = true; break;
		case 's': size = parse_size(optarg); break;
		case 'H': hot_pct = atof(optarg); break;
		case 'p': upd_pct = atof(optarg); break;
		case 'l': scattered = !strcmp(optarg, "scattered"); break;
		case 't': t1 = atof(optarg); break;
		case 'T': t2 = atof(optarg); break;
		case 'i': ival = atof(optarg); break;
		case 'm': mode = optarg; break;
		case 'b': leave = parse_size(optarg); break;
		case 'd': dram_node = atoi(optarg); break;
		case 'S': slow_node = atoi(optarg); break;
		case 'L': label = optarg; break;
		case 'o': out = optarg; break;
		case 'w': wpm = strtoul(optarg, NULL, 10);
			if (wpm > 1000) {
				fprintf(stderr, "gups: -w takes 0-1000 (writes per 1000 updates)\n");
				return 2;
			}
			break;
		case 'x': sum = optarg; break;
		case 'r': rng_state += (strtoull(optarg, NULL, 0) + 1) * 0xD1B54A32D192ED03ull;
			rng_state |= 1; /* xorshift: never zero */
			break;
		default:
			fprintf(stderr,
				"usage: gups [-s SIZE] [-H hot%%] [-p upd%%] [-l contiguous|scattered] [-t s] [-T s] [-i s]\n"
				"            [-w writes-per-1000] [-m plain|malloc|oracle|slow|memtier:R] [-b DRAM-free] [-d dram-node] [-S slow-node]\n"
				"            [-L label] [-o intervals.csv] [-x summary.csv] [-r seed]\n"
				"       gups -K -b DRAM-free [-d dram-node]   (hold the balloon only, until a signal)\n");
			return 2;
		}
	}
	if (hold) {
		if (!leave) {
			fprintf(stderr, "gups: -K needs -b SIZE\n");
			return 2;
		}
		balloon(leave);
		fprintf(stderr, "gups: balloon held\n");
		for (;;)
			pause();
	}
	get_stats = (int (*)(struct hybrid_stats *))dlsym(RTLD_DEFAULT, "hybrid_get_stats");
	npages = size / CHUNK * PPC;
	nhot = (unsigned long)(npages * hot_pct / 100);
	if (npages == 0 || nhot == 0 || 2 * nhot > npages) {
		fprintf(stderr, "gups: bad sizes\n");
		return 2;
	}
	if (leave)
		balloon(leave);

	unsigned long nchunks = npages / PPC;
	chunk = calloc(nchunks, sizeof(*chunk));
	hot = calloc(nhot, sizeof(*hot));
	is_hot = calloc(npages, 1);
	perm = malloc(npages * sizeof(*perm));
	ncold_sample = npages - nhot < 4096 ? npages - nhot : 4096;
	cold_sample = calloc(ncold_sample, sizeof(*cold_sample));
	int *nodebuf = malloc(npages * sizeof(int)), *snap0 = malloc(npages * sizeof(int)),
	    *snap1 = malloc(npages * sizeof(int));
	if (!chunk || !hot || !is_hot || !perm || !cold_sample || !nodebuf || !snap0 || !snap1)
		die("calloc");
	for (unsigned long i = 0; i < npages; i++)
		perm[i] = i;
	for (unsigned long i = npages - 1; i > 0; i--) {
		unsigned long j = rnd() % (i + 1);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}

	bool oracle = !strcmp(mode, "oracle"), slowbind = !strcmp(mode, "slow");
	if (!strncmp(mode, "memtier:", 8)) {
#ifdef HAVE_MEMKIND
		unsigned ratio = atoi(mode + 8);
		struct memtier_builder *b = memtier_builder_new(MEMTIER_POLICY_STATIC_RATIO);
		if (!b || memtier_builder_add_tier(b, MEMKIND_DEFAULT, 1) ||
		    memtier_builder_add_tier(b, MEMKIND_DAX_KMEM, ratio)) {
			fprintf(stderr, "gups: memtier builder failed (KMEM_DAX node? MEMKIND_DAX_KMEM_NODES)\n");
			return 1;
		}
		struct memtier_memory *m = memtier_builder_construct_memtier_memory(b);
		if (!m) {
			fprintf(stderr, "gups: memtier memory failed\n");
			return 1;
		}
		memtier_builder_delete(b);
		for (unsigned long i = 0; i < nchunks; i++)
			if (memtier_posix_memalign(m, (void **)&chunk[i], CHUNK, CHUNK))
				die("memtier_posix_memalign");
#else
		fprintf(stderr, "gups: built without memkind\n");
		return 77;
#endif
	} else if (!strcmp(mode, "malloc")) {
		for (unsigned long i = 0; i < nchunks; i++)
			if ((errno = posix_memalign((void **)&chunk[i], CHUNK, CHUNK)))
				die("posix_memalign");
	} else {
		/* One mapping, 2 MiB aligned so that huge pages can form where allowed. */
		char *m = mmap(NULL, npages * PAGE + CHUNK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			die("mmap");
		char *base = (char *)(((uintptr_t)m + CHUNK - 1) & ~(CHUNK - 1));
		if (base > m)
			munmap(m, base - m);
		munmap(base + npages * PAGE, m + CHUNK - base);
		for (unsigned long i = 0; i < nchunks; i++)
			chunk[i] = base + i * CHUNK;
		if (oracle && scattered)
			madvise(base, npages * PAGE, MADV_NOHUGEPAGE); /* exactness at 4 KiB */
	}

	choose_hot(0);
	if (oracle || slowbind) {
		unsigned long mask = 1UL << slow_node;
		if (mbind(chunk[0], npages * PAGE, MPOL_BIND, &mask, sizeof(mask) * 8, 0))
			die("mbind (oracle)");
	}
	double ti = now_s();
	for (unsigned long p = 0; p < npages; p++) /* first touch, in address order */
		memset(page_addr(p), (int)p, PAGE);
	if (oracle)
		move_to(hot, nhot, dram_node);
	fprintf(stderr, "gups: %lu MiB table, %lu pages, %lu hot (%s), init %.2f s, libhybrid %s\n",
		npages * PAGE >> 20, npages, nhot, scattered ? "scattered" : "contiguous", now_s() - ti,
		get_stats ? "preloaded" : "absent");

	FILE *fo = NULL, *fs = NULL;
	if (out) {
		bool fresh = access(out, F_OK) != 0;
		fo = fopen(out, "a");
		if (!fo)
			die(out);
		if (fresh)
			fprintf(fo, "label,phase,interval,t,lib_epochs,hot_dram,cold_dram,hit_est,mupd_s\n");
	}
	if (sum) {
		bool fresh = access(sum, F_OK) != 0;
		fs = fopen(sum, "a");
		if (!fs)
			die(sum);
		if (fresh)
			fprintf(fs, "label,phase,pages,hot_pages,hot_dram_start,hot_dram_end,t95_s,epochs95,"
				    "intervals95,cold_promoted,cold_promoted_frac,promoted,cold_share_of_promoted,"
				    "hot_captured,lib_migrated_bytes,kernel_migrated_pages,bytes_per_hot_captured,"
				    "hit_mean,hit_last,dram_pages_end,lib_epochs,lib_promote_pages,lib_demote_pages,"
				    "vm_promote,vm_demote,vm_migrate,updates,wall_s,cpu_s,writes_permille,"
				    "lib_backend,lib_managed_bytes,lib_policy_ns,lib_pages_armed,lib_wp_faults,"
				    "lib_pages_scanned,mupd_s,mupd_s_settled,pt_dram_kb,pt_slow_kb,thp_dram_kb,"
				    "thp_slow_kb\n");
	}

	const uint64_t thresh = (uint64_t)(upd_pct / 100 * 4294967296.0);
	/* -w: an update writes when the low 10 bits of its random word (used for
	 * nothing else) fall under wthresh/1024; 1024 = always. */
	const uint64_t wthresh = (wpm * 1024 + 500) / 1000;
	uint64_t rsum = 0;
	uint64_t *sink = (uint64_t *)page_addr(0);
	query(NULL, npages, snap0);
	for (int phase = 0; phase < 2; phase++) {
		if (phase == 1) {
			if (oracle) { /* the ideal: exactly the new hot set, at once */
				uint32_t *old = malloc(nhot * sizeof(*old));
				memcpy(old, hot, nhot * sizeof(*old));
				choose_hot(1);
				move_to(old, nhot, slow_node);
				move_to(hot, nhot, dram_node);
				free(old);
			} else {
				choose_hot(1);
			}
		}
		double len = phase ? t2 : t1;
		struct hybrid_stats s0, s1;
		struct vmstat v0, v1;
		lib_stats(&s0);
		read_vmstat(&v0);
		double hot_start = 0;
		for (unsigned long i = 0; i < nhot; i++)
			hot_start += snap0[hot[i]] == dram_node;
		hot_start /= nhot;
		double c0 = cpu_now(), t0 = now_s(), t95 = -1, hit_sum = 0, hit_last = 0;
		long e95 = -1, i95 = -1, k = 0;
		/* Throughput: updates per second spent updating (the interval queries left
		 * out), over the phase and over its settled second half (intervals that
		 * start at len/2 or later) — the speed figure of bench/run-speed. */
		uint64_t updates = 0, upd2 = 0;
		double busy = 0, busy2 = 0;
		while (now_s() - t0 < len) {
			double tb = now_s();
			uint64_t n = 0;
			while (now_s() - tb < ival) {
				for (int j = 0; j < 4096; j++) {
					uint64_t r = rnd(), p;
					if ((uint32_t)r < thresh) {
						p = hot[((r >> 32) * nhot) >> 32];
					} else {
						do
							p = ((rnd() >> 32) * npages) >> 32;
						while (is_hot[p]);
					}
					uint64_t *w = (uint64_t *)page_addr(p) + ((r >> 20) & 511);
					if ((r & 1023) < wthresh)
						*w ^= r;
					else
						rsum += *w;
				}
				n += 4096;
			}
			updates += n;
			double dt = now_s() - tb;
			busy += dt;
			if (tb - t0 >= len / 2) {
				upd2 += n;
				busy2 += dt;
			}
			k++;
			double h = frac_on_dram(hot, nhot, nodebuf);
			double cf = frac_on_dram(cold_sample, ncold_sample, nodebuf);
			double hit = upd_pct / 100 * h + (1 - upd_pct / 100) * cf;
			hit_sum += hit;
			hit_last = hit;
			struct hybrid_stats st;
			lib_stats(&st);
			double t = now_s() - t0;
			if (t95 < 0 && h >= 0.95) {
				t95 = t;
				i95 = k;
				e95 = get_stats ? (long)(st.epochs - s0.epochs) : -1;
			}
			if (fo)
				fprintf(fo, "%s,%d,%ld,%.2f,%llu,%.4f,%.4f,%.4f,%.3f\n", label, phase + 1, k, t,
					(unsigned long long)(st.epochs - s0.epochs), h, cf, hit, n / dt / 1e6);
			fprintf(stderr, "gups: phase %d t=%6.1f s hot on DRAM %.3f cold %.3f hit %.3f (%.2f Mupd/s)\n",
				phase + 1, t, h, cf, hit, n / dt / 1e6);
		}
		double wall = now_s() - t0, cpu = cpu_now() - c0;
		query(NULL, npages, snap1);
		lib_stats(&s1);
		read_vmstat(&v1);
		unsigned long cold_prom = 0, prom = 0, hot_end = 0, hot_cap = 0, dram_end = 0;
		for (unsigned long p = 0; p < npages; p++) {
			bool up = snap0[p] != dram_node && snap1[p] == dram_node;
			prom += up;
			cold_prom += up && !is_hot[p];
			hot_cap += up && is_hot[p];
			hot_end += is_hot[p] && snap1[p] == dram_node;
			dram_end += snap1[p] == dram_node;
		}
		uint64_t lib_bytes = (s1.promote_bytes - s0.promote_bytes) + (s1.demote_bytes - s0.demote_bytes);
		uint64_t kpages = (v1.promote - v0.promote) + (v1.demote - v0.demote);
		uint64_t moved = get_stats ? lib_bytes : kpages * PAGE;
		if (oracle) /* its own mbind moves: the pages it re-bound */
			moved = phase ? 2 * nhot * PAGE : 0;
		double bphc = hot_cap ? (double)moved / hot_cap : -1;
		fprintf(stderr,
			"gups: phase %d: hot on DRAM %.3f -> %.3f, 95%% at %.1f s (%ld epochs), cold promoted %lu "
			"(%.4f of cold), promoted %lu, hot captured %lu, migrated %.1f MiB (%.0f B per hot page), "
			"mean hit %.3f, %.3f Mupd/s (settled half %.3f)\n",
			phase + 1, hot_start, (double)hot_end / nhot, t95, e95, cold_prom,
			(double)cold_prom / (npages - nhot), prom, hot_cap, moved / 1048576.0, bphc,
			k ? hit_sum / k : 0, busy > 0 ? updates / busy / 1e6 : 0,
			busy2 > 0 ? upd2 / busy2 / 1e6 : 0);
		if (fs)
			fprintf(fs,
				"%s,%d,%lu,%lu,%.4f,%.4f,%.2f,%ld,%ld,%lu,%.5f,%lu,%.4f,%lu,%llu,%llu,%.0f,%.4f,%.4f,"
				"%lu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.3f,%.3f,%lu,%.12s,%llu,%llu,%llu,%llu,%llu,%.4f,%.4f,%lu,%lu,%lu,%lu\n",
				label, phase + 1, npages, nhot, hot_start, (double)hot_end / nhot, t95, e95, i95,
				cold_prom, (double)cold_prom / (npages - nhot), prom,
				prom ? (double)cold_prom / prom : 0, hot_cap, (unsigned long long)lib_bytes,
				(unsigned long long)kpages, bphc, k ? hit_sum / k : 0, hit_last, dram_end,
				(unsigned long long)(s1.epochs - s0.epochs),
				(unsigned long long)(s1.promote_pages - s0.promote_pages),
				(unsigned long long)(s1.demote_pages - s0.demote_pages),
				(unsigned long long)(v1.promote - v0.promote),
				(unsigned long long)(v1.demote - v0.demote),
				(unsigned long long)(v1.migrate - v0.migrate), (unsigned long long)updates, wall,
				cpu, wpm, s1.backend[0] ? s1.backend : "none",
				(unsigned long long)s1.managed_bytes,
				(unsigned long long)(s1.policy_ns - s0.policy_ns),
				(unsigned long long)(s1.pages_armed - s0.pages_armed),
				(unsigned long long)(s1.wp_faults - s0.wp_faults),
				(unsigned long long)(s1.pages_scanned - s0.pages_scanned),
				busy > 0 ? updates / busy / 1e6 : 0, busy2 > 0 ? upd2 / busy2 / 1e6 : 0,
				node_kb(dram_node, "PageTables"), node_kb(slow_node, "PageTables"),
				node_kb(dram_node, "AnonHugePages"), node_kb(slow_node, "AnonHugePages"));
		memcpy(snap0, snap1, npages * sizeof(int));
	}
	if (fo)
		fclose(fo);
	if (fs)
		fclose(fs);
	fprintf(stderr, "gups: checksum %llx\n", (unsigned long long)(*sink + rsum));
	return 0;
}
