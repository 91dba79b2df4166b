/*
 * slowmem.c - a QEMU TCG plugin that makes ranges of guest-physical memory slow.
 *
 * Copyright (C) 2026 the libhybrid authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * This file is licensed under the GNU General Public License, version 2 or (at your
 * option) any later version, unlike the rest of libhybrid: a QEMU TCG plugin is
 * loaded into QEMU and calls QEMU's plugin interface (include/qemu/qemu-plugin.h,
 * GPL-2.0-or-later), so it is a work based on that interface.  It is a test tool
 * only; nothing of it is linked into the library.
 *
 * Usage (QEMU 7.2, plugin API version 1):
 *   qemu-system-x86_64 -accel tcg,thread=multi \
 *       -plugin file=slowmem.so,range=0x20000000-0x80000000:200 ...
 * Each range=START-END:NS (hexadecimal or decimal, END exclusive, repeatable) makes a
 * guest access to [START, END) that misses the model below cost NS more nanoseconds.
 *
 * The model: under TCG every guest load and store costs the same host time whatever
 * node it reaches.  For every load and store the plugin looks at the guest-physical
 * address; one in a slow range is split into its 64-byte line, and the line is looked
 * up in that vCPU's tag cache: 512 direct-mapped lines (32 KiB, a crude L1 that holds
 * only slow lines).  A hit costs nothing; a miss enters the line and spins on the host
 * clock for NS.  With a multi-threaded TCG the guest's clocks follow the host's, so the
 * guest sees a load that took NS longer.  A cost per *missed line*, not per access,
 * matters: the kernel zeroes pages with string instructions that reach the plugin one
 * byte at a time; with a delay on every access faulting in 768 MiB never finished.
 *
 * Not modelled: a real cache hierarchy (hits in DRAM are not cheaper than here, lines of
 * node 0 are never cached or evicted by slow lines), prefetching, write-back (a store
 * costs like a load), contention between vCPUs, a bandwidth limit.  Accesses that QEMU
 * makes on the guest's behalf (page-table walks, DMA of virtio devices) are not delayed.
 *
 * The plugin declares the few parts of qemu-plugin.h it uses (no Debian package ships
 * the header); they are checked against QEMU v7.2.0's include/qemu/qemu-plugin.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- QEMU plugin API, version 1 (QEMU 4.2 .. 8.x), the parts used here ------------ */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define QEMU_PLUGIN_VERSION 1
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
typedef struct qemu_info_t {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_plugin_hwaddr;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
					  uint64_t vaddr, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
				      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
				      void *userdata);
struct qemu_plugin_hwaddr *qemu_plugin_get_hwaddr(qemu_plugin_meminfo_t info, uint64_t vaddr);
bool qemu_plugin_hwaddr_is_io(const struct qemu_plugin_hwaddr *haddr);
uint64_t qemu_plugin_hwaddr_phys_addr(const struct qemu_plugin_hwaddr *haddr);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
					   char **argv);
/* -------------------------------------------------------------------------------------- */

#define LINE_SHIFT 6     /* 64-byte lines */
#define TAG_LINES 512    /* per vCPU: 32 KiB of slow lines */
#define MAX_RANGES 16

struct range {
	uint64_t start, end; /* guest-physical, end exclusive */
	uint64_t ticks;      /* the delay in clock ticks (see spin) */
	unsigned ns;
};

/*
 * One per vCPU, touched only by that vCPU's TCG thread (the callback's vcpu_index),
 * so no locking; aligned so that two vCPUs never share a host cache line.  A tag is
 * line number + 1, so 0 means empty.
 */
struct vcpu {
	uint64_t tag[TAG_LINES];
} __attribute__((aligned(64)));

static struct range ranges[MAX_RANGES];
static unsigned nranges;
static struct vcpu *vcpus;
static unsigned nvcpus;

/*
 * The clock: the TSC when the host says it is invariant (constant_tsc and nonstop_tsc:
 * a read costs a few ns, so the delay is close to what was asked), else
 * CLOCK_MONOTONIC (about 20 ns a read through the vDSO).  Ticks per ns are measured
 * against CLOCK_MONOTONIC at install.
 */
static bool use_tsc;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (use_tsc) {
		uint32_t lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		return ((uint64_t)hi << 32) | lo;
	}
#endif
	return mono_ns();
}

static bool tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;
	if (!f)
		return false;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "flags", 5) == 0) {
			found = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
			break;
		}
	}
	fclose(f);
	return found;
#else
	return false;
#endif
}

/* Ticks per nanosecond: the TSC against CLOCK_MONOTONIC over 20 ms. */
static double ticks_per_ns(void)
{
	uint64_t t0, c0, t1, c1;
	if (!use_tsc)
		return 1.0;
	t0 = mono_ns();
	c0 = now_ticks();
	do
		t1 = mono_ns();
	while (t1 - t0 < 20000000u);
	c1 = now_ticks();
	return (double)(c1 - c0) / (double)(t1 - t0);
}

/* The delay: spins until the clock has moved on by ticks. */
static void spin(uint64_t ticks)
{
	uint64_t t0 = now_ticks();
	while (now_ticks() - t0 < ticks)
		__asm__ volatile("" ::: "memory");
}

static void on_mem(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
	struct qemu_plugin_hwaddr *h = qemu_plugin_get_hwaddr(info, vaddr);
	uint64_t pa, line;
	struct vcpu *v;
	unsigned i;
	(void)udata;
	if (!h || qemu_plugin_hwaddr_is_io(h) || vcpu_index >= nvcpus)
		return;
	pa = qemu_plugin_hwaddr_phys_addr(h);
	for (i = 0; i < nranges; i++)
		if (pa >= ranges[i].start && pa < ranges[i].end)
			break;
	if (i == nranges)
		return;
	v = &vcpus[vcpu_index];
	line = pa >> LINE_SHIFT;
	if (v->tag[line % TAG_LINES] == line + 1)
		return;
	v->tag[line % TAG_LINES] = line + 1;
	spin(ranges[i].ticks);
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb), i;
	(void)id;
	for (i = 0; i < n; i++)
		qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i), on_mem,
						 QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
}

/* range=START-END:NS; returns false (with a message) on anything else. */
static bool parse_range(const char *arg, struct range *r)
{
	const char *s = arg + strlen("range=");
	char *end;
	unsigned long long a, b, ns;
	errno = 0;
	a = strtoull(s, &end, 0);
	if (end == s || *end != '-')
		goto bad;
	s = end + 1;
	b = strtoull(s, &end, 0);
	if (end == s || *end != ':')
		goto bad;
	s = end + 1;
	ns = strtoull(s, &end, 10);
	if (end == s || *end || errno || b <= a || ns == 0 || ns > 100000)
		goto bad;
	r->start = a;
	r->end = b;
	r->ns = (unsigned)ns;
	return true;
bad:
	fprintf(stderr, "slowmem: cannot read '%s' (want range=START-END:NS, START < END, 1 <= NS <= 100000)\n",
		arg);
	return false;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
					   char **argv)
{
	double tpn;
	int i;
	if (!info->system_emulation) {
		fprintf(stderr, "slowmem: needs system emulation (guest-physical addresses)\n");
		return -1;
	}
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "range=", 6) != 0) {
			fprintf(stderr, "slowmem: unknown argument '%s' (want range=START-END:NS)\n", argv[i]);
			return -1;
		}
		if (nranges == MAX_RANGES) {
			fprintf(stderr, "slowmem: at most %d ranges\n", MAX_RANGES);
			return -1;
		}
		if (!parse_range(argv[i], &ranges[nranges]))
			return -1;
		nranges++;
	}
	if (nranges == 0) {
		fprintf(stderr, "slowmem: no range=START-END:NS given\n");
		return -1;
	}
	nvcpus = (unsigned)(info->system.max_vcpus > 0 ? info->system.max_vcpus : 1);
	vcpus = aligned_alloc(64, sizeof *vcpus * nvcpus);
	if (!vcpus) {
		fprintf(stderr, "slowmem: out of memory\n");
		return -1;
	}
	memset(vcpus, 0, sizeof *vcpus * nvcpus);
	use_tsc = tsc_invariant();
	tpn = ticks_per_ns();
	for (i = 0; i < (int)nranges; i++)
		ranges[i].ticks = (uint64_t)(ranges[i].ns * tpn + 0.5);
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
	return 0;
}
