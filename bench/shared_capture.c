/* SPDX-License-Identifier: MIT */
/*
 * shared_capture — hot-set capture of a table shared by a process tree (issue 20,
 * item 5): how fast, and how precisely, does a tiering system put the hot set of a
 * MAP_SHARED|MAP_ANONYMOUS table, written by N forked processes, on DRAM?
 * (bench/README.md, bench/run-shared)
 *
 *   shared_capture [-p WORKERS] [-s MIB] [-H HOT_PCT] [-l contiguous|scattered]
 *                  [-P HOT_SHARE_PCT] [-w WRITE_PERMILLE] [-t SECONDS] [-i SECONDS]
 *                  [-d DRAM_NODE] [-S SLOW_NODE] [-L LABEL] [-o INTERVALS.csv]
 *                  [-x SUMMARY.csv] [-b MIB]
 *
 * The parent maps the table (default 128 MiB) and puts every page on the slow node
 * before any worker exists, so that every contender starts equal:
 *   - without libhybrid: mbind(MPOL_BIND, slow node), every page written, then
 *     mbind(MPOL_DEFAULT) with no move flag: the pages stay where they are, but no
 *     policy pins them any more (the kernel's tiering may move them);
 *   - under libhybrid: the table is the tree's hybrid memory and the library places
 *     it on the slow tier itself; an mbind would take it away from the library (the
 *     preload's mbind lets go of the range), so the parent only writes every page.
 * Then, in both cases, pages found elsewhere (a full node, a fallback) are moved to
 * the slow node with move_pages (no policy change), and the parent checks with a
 * move_pages query that every page is there: the count is printed, and a run that
 * does not start with every page on the slow node fails (exit 1).
 *
 * -b MIB first locks a balloon on DRAM (mbind to the DRAM node + mlock, not inherited
 * by the workers) so that only MIB of it stays free: DRAM can then hold the hot set
 * but not the table, and promoting cold pages costs room (without it, the 502 MiB
 * DRAM node of the VM's 2tier holds the whole 128 MiB table).  The balloon's mbind
 * goes through the program's mbind (libhybrid's, which lets go of the range).
 *
 * Then it forks the workers (t = 0).  Each does GUPS-style random 8-byte updates:
 * -P % (default 90) go to the hot set, -H % (default 10) of the table's pages, the
 * rest uniformly over the other (cold) pages, so a cold page is touched too, about
 * 80x less often than a hot one at the defaults; -w PERMILLE of the updates write
 * (default 1000: all; 50: read-mostly).  The hot set is one contiguous, 2 MiB-aligned
 * run of pages (a third of the way in) or pages scattered at random.  The parent
 * never touches the table again: only the workers' accesses count.
 *
 * Every -i seconds (default 0.5) the parent asks where every page is (move_pages with
 * nodes == NULL on its own mapping, which maps every page) and records the fraction
 * of the hot set on DRAM, of the cold pages on DRAM, and the expected fraction of
 * updates hitting DRAM, P*hot + (1-P)*cold.  Under libhybrid (hybrid_get_stats,
 * found with dlsym: nothing of libhybrid is linked) every member's epochs are read
 * (each worker publishes its counters in a small shared control page, as the parent
 * does), and the epochs of a sample are the most any member ran since t = 0.  At the
 * end: time (and epochs) until 95% of the hot set was on DRAM, the hot fraction at
 * the end, the cold pages promoted (cold pages on DRAM at the end / cold pages: all
 * started on the slow node), and /proc/vmstat's promotion and demotion counters.
 *
 * Output: one CSV row per sample (-o) and one per run (-x), appended, with a header
 * when the file is new; the label (-L, "contender,layout,access") starts each row.
 * Figures go to stdout.  Times are wall clock: in the emulated VM, emulated seconds,
 * so claim fractions and ratios, not speeds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <numaif.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hybrid.h"

#include "../tests/support.h" /* now_s, hy_lib_stats */

#define PAGE	    4096UL
#define MAX_WORKERS 16

/*
 * The control page: shared by the tree, one page (below the preload's minimum size
 * for a managed mapping, so the library leaves it alone).  The parent writes stop;
 * each worker writes only its own slot.
 */
struct slot {
	uint64_t epochs0, epochs; /* its library's epochs at start and now */
	uint64_t promote_pages, demote_pages, shared_bytes, lead_bytes;
	uint64_t updates;
	uint64_t beat; /* reports made */
};

struct ctl {
	int stop;
	struct slot m[MAX_WORKERS + 1]; /* 0: the parent */
};

static struct ctl *ctl;
static char *table;
static unsigned long npages, nhot, ncold;
static uint32_t *hot, *cold; /* page indices */
static uint8_t *is_hot;
static int opt_workers = 4, dram_node = 0, slow_node = 1;
static unsigned long opt_mib = 128;
static unsigned opt_hot_pct = 10, opt_hot_share = 90, opt_write_pm = 1000;
static double opt_secs = 40, opt_interval = 0.5;
static bool opt_scattered;
static unsigned long opt_leave_mib; /* -b: 0 = no balloon */
static const char *opt_label = "plain,contiguous,write";

static void nap(double s)
{
	struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* ---- libhybrid's counters, when it is preloaded ---- */

static void report(int me, uint64_t updates)
{
	struct hybrid_stats s;
	struct slot *m = &ctl->m[me];

	__atomic_store_n(&m->updates, updates, __ATOMIC_RELAXED);
	if (!hy_lib_stats(&s))
		return;
	if (!__atomic_load_n(&m->beat, __ATOMIC_RELAXED))
		__atomic_store_n(&m->epochs0, s.epochs, __ATOMIC_RELAXED);
	__atomic_store_n(&m->epochs, s.epochs, __ATOMIC_RELAXED);
	__atomic_store_n(&m->promote_pages, s.promote_pages, __ATOMIC_RELAXED);
	__atomic_store_n(&m->demote_pages, s.demote_pages, __ATOMIC_RELAXED);
	__atomic_store_n(&m->shared_bytes, s.shared_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&m->lead_bytes, s.lead_bytes, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->beat, 1, __ATOMIC_RELEASE);
}

static uint64_t slot_get(int i, size_t off)
{
	uint64_t v;

	__atomic_load((uint64_t *)((char *)&ctl->m[i] + off), &v, __ATOMIC_RELAXED);
	return v;
}
#define M(i, field) slot_get(i, offsetof(struct slot, field))

/* The most epochs any member ran since it started (0 without the library). */
static uint64_t tree_epochs(void)
{
	uint64_t e = 0;

	for (int i = 0; i <= opt_workers; i++)
		if (M(i, beat) && M(i, epochs) - M(i, epochs0) > e)
			e = M(i, epochs) - M(i, epochs0);
	return e;
}

/* The member deciding for the table (lead_bytes > 0), or -1. */
static int lead_member(void)
{
	for (int i = 0; i <= opt_workers; i++)
		if (M(i, lead_bytes))
			return i;
	return -1;
}

/* ---- /proc/vmstat: the kernel's own migrations ---- */

struct vmstat {
	uint64_t promote, demote, hint_faults;
};

static void read_vmstat(struct vmstat *v)
{
	char name[64];
	unsigned long long val;
	FILE *f = fopen("/proc/vmstat", "r");

	memset(v, 0, sizeof(*v));
	if (!f)
		return;
	while (fscanf(f, "%63s %llu", name, &val) == 2) {
		if (!strcmp(name, "pgpromote_success"))
			v->promote = val;
		else if (!strncmp(name, "pgdemote_", 9))
			v->demote += val;
		else if (!strcmp(name, "numa_hint_faults"))
			v->hint_faults = val;
	}
	fclose(f);
}

/* ---- the workers ---- */

static inline uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return *s = x;
}

static int worker(int me)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(me + 1), updates = 0, sink = 0;
	uint64_t hot_cut = (uint64_t)opt_hot_share * 10, write_cut = opt_write_pm;
	double next_report = 0;

	/* a program's first malloc: where a forked child's library goes live */
	void *volatile first = malloc(64);
	free(first);
	report(me, 0);
	while (!__atomic_load_n(&ctl->stop, __ATOMIC_ACQUIRE)) {
		for (int k = 0; k < 4096; k++) {
			uint64_t r = xorshift(&rng), r2 = xorshift(&rng);
			unsigned long pg = r % 1000 < hot_cut ? hot[r2 % nhot] : cold[r2 % ncold];
			uint64_t *w = (uint64_t *)(table + pg * PAGE) + ((r >> 20) & 511);

			if ((r >> 32) % 1000 < write_cut)
				*w += 1;
			else
				sink += *(volatile uint64_t *)w;
		}
		updates += 4096;
		if (now_s() >= next_report) {
			report(me, updates);
			next_report = now_s() + 0.1;
		}
	}
	report(me, updates);
	return sink == 42 ? 0 : 0; /* sink keeps the reads */
}

/* ---- the parent ---- */

/* Every page's node into st; false if the query failed. */
static bool where(void **addr, int *st)
{
	if (syscall(SYS_move_pages, 0, npages, addr, NULL, st, 0) < 0) {
		perror("shared_capture: move_pages (query)");
		return false;
	}
	return true;
}

static void count(const int *st, unsigned long *hot_on, unsigned long *cold_on)
{
	*hot_on = *cold_on = 0;
	for (unsigned long i = 0; i < npages; i++)
		if (st[i] == dram_node)
			*(is_hot[i] ? hot_on : cold_on) += 1;
}

static void pick_hot_set(void)
{
	uint64_t rng = 12345;

	nhot = npages * opt_hot_pct / 100;
	if (!nhot)
		nhot = 1;
	ncold = npages - nhot;
	if (opt_scattered) {
		for (unsigned long n = 0; n < nhot;) {
			unsigned long p = xorshift(&rng) % npages;

			if (!is_hot[p])
				is_hot[p] = 1, n++;
		}
	} else {
		unsigned long start = (npages / 3) & ~511UL; /* 2 MiB aligned */

		if (start + nhot > npages)
			start = npages - nhot;
		for (unsigned long i = 0; i < nhot; i++)
			is_hot[start + i] = 1;
	}
	for (unsigned long i = 0, h = 0, c = 0; i < npages; i++) {
		if (is_hot[i])
			hot[h++] = (uint32_t)i;
		else
			cold[c++] = (uint32_t)i;
	}
}

/* Every page on the slow node before t = 0 (the file comment says how); false if
 * some page could not be put there. */
static bool place_slow(bool library, void **addr, int *st)
{
	unsigned long mask = 1UL << slow_node, off = 0, moved = 0;
	int *nodes = malloc(npages * sizeof(*nodes));
	void **mv = malloc(npages * sizeof(*mv));

	if (!nodes || !mv)
		return false;
	if (!library && syscall(SYS_mbind, table, npages * PAGE, MPOL_BIND, &mask, 64, 0)) {
		perror("shared_capture: mbind(MPOL_BIND)");
		return false;
	}
	for (unsigned long i = 0; i < npages; i++)
		memset(table + i * PAGE, 0, 64);
	if (!library && syscall(SYS_mbind, table, npages * PAGE, MPOL_DEFAULT, NULL, 0, 0)) {
		perror("shared_capture: mbind(MPOL_DEFAULT)");
		return false;
	}
	if (!where(addr, st))
		return false;
	for (unsigned long i = 0; i < npages; i++)
		if (st[i] != slow_node)
			mv[off] = addr[i], nodes[off++] = slow_node;
	if (off) {
		int *mst = malloc(off * sizeof(*mst));

		if (mst && syscall(SYS_move_pages, 0, off, mv, nodes, mst, MPOL_MF_MOVE) >= 0)
			for (unsigned long i = 0; i < off; i++)
				moved += mst[i] == slow_node;
		free(mst);
	}
	free(nodes), free(mv);
	if (!where(addr, st))
		return false;
	unsigned long there = 0;
	for (unsigned long i = 0; i < npages; i++)
		there += st[i] == slow_node;
	printf("shared_capture: start: %lu of %lu pages on node %d (%s; %lu were elsewhere, %lu moved there)\n",
	       there, npages, slow_node,
	       library ? "placed by libhybrid" : "mbind to the slow node, then MPOL_DEFAULT", off, moved);
	return there == npages;
}

/* Free memory of a node in KiB (0 if unknown). */
static unsigned long node_free_kib(int node)
{
	char path[96], line[256];
	unsigned long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "MemFree:");
		if (p) {
			kib = strtoul(p + 8, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

/* -b: lock all of DRAM but leave_mib; false on failure (said why). */
static bool balloon(unsigned long leave_mib)
{
	typedef long (*mbind_fn)(void *, unsigned long, int, const unsigned long *, unsigned long, unsigned);
	mbind_fn mb = (mbind_fn)dlsym(RTLD_DEFAULT, "mbind");
	struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
	unsigned long mask = 1UL << dram_node, free_kib = node_free_kib(dram_node), len;
	char *b;
	long rc;

	if (free_kib / 1024 <= leave_mib + 16) {
		printf("shared_capture: balloon: node %d has %lu MiB free, leaving %lu: none\n", dram_node,
		       free_kib / 1024, leave_mib);
		return true;
	}
	len = (free_kib / 1024 - leave_mib) << 20;
	setrlimit(RLIMIT_MEMLOCK, &inf);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED) {
		perror("shared_capture: balloon mmap");
		return false;
	}
	madvise(b, len, MADV_DONTFORK);
	rc = mb ? mb(b, len, MPOL_BIND, &mask, 64, 0) : syscall(SYS_mbind, b, len, MPOL_BIND, &mask, 64, 0);
	if (rc || mlock(b, len)) {
		perror("shared_capture: balloon mbind/mlock");
		return false;
	}
	printf("shared_capture: balloon: %lu MiB locked on node %d, %lu MiB of it free now\n", len >> 20,
	       dram_node, node_free_kib(dram_node) / 1024);
	return true;
}

static FILE *csv(const char *path, const char *header)
{
	FILE *f;
	bool fresh;

	if (!path)
		return NULL;
	f = fopen(path, "a");
	if (!f) {
		perror(path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	fresh = ftell(f) == 0;
	if (fresh)
		fprintf(f, "%s\n", header);
	return f;
}

static void usage(void)
{
	fprintf(stderr, "usage: shared_capture [-p WORKERS] [-s MIB] [-H HOT_PCT] [-l contiguous|scattered]\n"
			"       [-P HOT_SHARE_PCT] [-w WRITE_PERMILLE] [-t SECONDS] [-i SECONDS]\n"
			"       [-d DRAM_NODE] [-S SLOW_NODE] [-L LABEL] [-o INTERVALS.csv] [-x SUMMARY.csv] [-b MIB]\n");
}

int main(int argc, char **argv)
{
	const char *iv_path = NULL, *sum_path = NULL;
	struct hybrid_stats s;
	struct vmstat v0, v1;
	pid_t pids[MAX_WORKERS];
	void **addr;
	int *st, c, rc = 0;
	bool library;

	while ((c = getopt(argc, argv, "p:s:H:l:P:w:t:i:d:S:L:o:x:b:")) != -1) {
		switch (c) {
		case 'p': opt_workers = atoi(optarg); break;
		case 's': opt_mib = strtoul(optarg, NULL, 10); break;
		case 'H': opt_hot_pct = (unsigned)atoi(optarg); break;
		case 'l': opt_scattered = !strcmp(optarg, "scattered");
			  if (!opt_scattered && strcmp(optarg, "contiguous")) { usage(); return 2; }
			  break;
		case 'P': opt_hot_share = (unsigned)atoi(optarg); break;
		case 'w': opt_write_pm = (unsigned)atoi(optarg); break;
		case 't': opt_secs = atof(optarg); break;
		case 'i': opt_interval = atof(optarg); break;
		case 'd': dram_node = atoi(optarg); break;
		case 'S': slow_node = atoi(optarg); break;
		case 'L': opt_label = optarg; break;
		case 'o': iv_path = optarg; break;
		case 'x': sum_path = optarg; break;
		case 'b': opt_leave_mib = strtoul(optarg, NULL, 10); break;
		default: usage(); return 2;
		}
	}
	if (opt_workers < 1 || opt_workers > MAX_WORKERS || !opt_mib || !opt_hot_pct || opt_hot_pct > 50 ||
	    opt_hot_share > 100 || opt_write_pm > 1000 || opt_secs <= 0 || opt_interval <= 0) {
		usage();
		return 2;
	}
	library = hy_lib_stats(&s);
	npages = opt_mib << 20 >> 12;
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	table = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	hot = malloc(npages * sizeof(*hot));
	cold = malloc(npages * sizeof(*cold));
	is_hot = calloc(npages, 1);
	addr = malloc(npages * sizeof(*addr));
	st = malloc(npages * sizeof(*st));
	if (ctl == MAP_FAILED || table == MAP_FAILED || !hot || !cold || !is_hot || !addr || !st) {
		perror("shared_capture: memory");
		return 1;
	}
	for (unsigned long i = 0; i < npages; i++)
		addr[i] = table + i * PAGE;
	pick_hot_set();
	if (opt_leave_mib && !balloon(opt_leave_mib))
		return 1;
	if (!place_slow(library, addr, st)) {
		fprintf(stderr, "shared_capture: not every page starts on node %d: no run\n", slow_node);
		return 1;
	}
	printf("shared_capture: %s; %d workers, %lu MiB shared table, hot set %lu pages (%s), "
	       "%u%% of updates to it, %u permille written, libhybrid %s\n",
	       opt_label, opt_workers, opt_mib, nhot, opt_scattered ? "scattered" : "contiguous",
	       opt_hot_share, opt_write_pm, library ? "loaded" : "not loaded");
	fflush(stdout);

	FILE *iv = csv(iv_path, "contender,layout,access,workers,t,epochs,hot_on_dram,cold_on_dram,dram_hit,"
				"lib_promote_pages,lib_demote_pages,lead");
	read_vmstat(&v0);
	report(0, 0);
	double t0 = now_s();
	for (int w = 0; w < opt_workers; w++) {
		pids[w] = fork();
		if (pids[w] == 0)
			_exit(worker(1 + w));
		if (pids[w] < 0) {
			perror("shared_capture: fork");
			__atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
			opt_workers = w;
			rc = 1;
			break;
		}
	}

	double t95 = -1, hit_sum = 0, hot_f = 0, cold_f = 0, hit = 0;
	uint64_t e95 = 0, epochs = 0;
	unsigned long hot_on = 0, cold_on = 0, samples = 0;
	double hs = opt_hot_share / 100.0;

	for (double next = t0 + opt_interval; !rc; next += opt_interval) {
		double d = next - now_s();

		if (d > 0)
			nap(d);
		report(0, 0);
		if (!where(addr, st)) {
			rc = 1;
			break;
		}
		double t = now_s() - t0;

		epochs = tree_epochs();
		count(st, &hot_on, &cold_on);
		hot_f = (double)hot_on / (double)nhot;
		cold_f = (double)cold_on / (double)(ncold ? ncold : 1);
		hit = hs * hot_f + (1 - hs) * cold_f;
		hit_sum += hit, samples++;
		if (t95 < 0 && hot_on * 100 >= nhot * 95)
			t95 = t, e95 = epochs;
		uint64_t pp = 0, dp = 0;
		for (int i = 0; i <= opt_workers; i++)
			pp += M(i, promote_pages), dp += M(i, demote_pages);
		if (iv) {
			fprintf(iv, "%s,%d,%.2f,%llu,%.4f,%.4f,%.4f,%llu,%llu,%d\n", opt_label, opt_workers, t,
				(unsigned long long)epochs, hot_f, cold_f, hit, (unsigned long long)pp,
				(unsigned long long)dp, lead_member());
			fflush(iv);
		}
		if (t >= opt_secs)
			break;
	}
	__atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
	read_vmstat(&v1);
	for (int w = 0; w < opt_workers; w++) {
		int status;

		if (waitpid(pids[w], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "shared_capture: worker %d ended with status %#x\n", w + 1, status);
			rc = 1;
		}
	}

	uint64_t pp = 0, dp = 0, upd = 0;
	int lead = lead_member();
	for (int i = 0; i <= opt_workers; i++)
		pp += M(i, promote_pages), dp += M(i, demote_pages), upd += M(i, updates);
	double secs = now_s() - t0;
	char t95s[32], e95s[32];

	if (t95 >= 0) {
		snprintf(t95s, sizeof(t95s), "%.1f", t95);
		snprintf(e95s, sizeof(e95s), "%llu", (unsigned long long)e95);
	} else {
		strcpy(t95s, "never");
		strcpy(e95s, "never");
	}
	printf("shared_capture: %s: hot set on DRAM %.3f at the end (95%% at %s s, %s epochs), "
	       "cold pages promoted %.2f%%, DRAM-hit %.3f at the end, %.3f mean\n",
	       opt_label, hot_f, t95s, library ? e95s : "-", 100 * cold_f, hit,
	       samples ? hit_sum / (double)samples : 0);
	printf("shared_capture: %s: %llu epochs, libhybrid promoted %llu demoted %llu pages (lead: member %d); "
	       "kernel pgpromote_success %llu, pgdemote %llu, numa_hint_faults %llu; %.2f M updates/s (wall clock: emulated in the VM)\n",
	       opt_label, (unsigned long long)epochs, (unsigned long long)pp, (unsigned long long)dp, lead,
	       (unsigned long long)(v1.promote - v0.promote), (unsigned long long)(v1.demote - v0.demote),
	       (unsigned long long)(v1.hint_faults - v0.hint_faults), (double)upd / secs / 1e6);
	if (iv)
		fclose(iv);
	FILE *sf = csv(sum_path, "contender,layout,access,workers,mib,leave_mib,seconds,t95,epochs95,hot_end,cold_promoted_pct,"
				 "dram_hit_end,dram_hit_mean,epochs,lib_promote_pages,lib_demote_pages,lead,"
				 "pgpromote_success,pgdemote,numa_hint_faults,mupdates_per_s");
	if (sf) {
		fprintf(sf, "%s,%d,%lu,%lu,%.1f,%s,%s,%.4f,%.3f,%.4f,%.4f,%llu,%llu,%llu,%d,%llu,%llu,%llu,%.3f\n",
			opt_label, opt_workers, opt_mib, opt_leave_mib, secs, t95 >= 0 ? t95s : "", t95 >= 0 && library ? e95s : "",
			hot_f, 100 * cold_f, hit, samples ? hit_sum / (double)samples : 0,
			(unsigned long long)epochs, (unsigned long long)pp, (unsigned long long)dp, lead,
			(unsigned long long)(v1.promote - v0.promote), (unsigned long long)(v1.demote - v0.demote),
			(unsigned long long)(v1.hint_faults - v0.hint_faults), (double)upd / secs / 1e6);
		fclose(sf);
	}
	return rc;
}
