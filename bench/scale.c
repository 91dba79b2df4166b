/* SPDX-License-Identifier: MIT */
/*
 * scale — what the library costs a process as its managed memory grows
 * (issue 17: "Cost that follows resident memory"): the policy thread's CPU
 * per epoch and the library's own memory, against managed VIRTUAL size at a
 * fixed resident set, and against RESIDENT size.
 *
 *   scale [-v SIZES] [-R SIZE] [-r SIZES] [-P SIZE] [-n RUNS] [-w EPOCHS]
 *         [-e EPOCHS] [-E EPOCH] [-T SECONDS] [-L LIBHYBRID] [CSV-PATH]
 *
 *   -v  virtual sweep: reservation sizes (default 1G,16G,256G,1T,4T; "" none)
 *   -R  the resident set of every virtual configuration (default 256M)
 *   -r  resident sweep: sizes touched, reservation = resident (default 1G,4G;
 *       up to 16G on a 24 GiB machine; "" none)
 *   -P  the resident set is spread as pieces of this size, evenly over the
 *       reservation (default 64M)
 *   -n  runs of each configuration (default 3), interleaved round by round,
 *       the order rotated every round; figures are medians
 *   -w  epochs let pass before measuring (default 2: the first calibrates)
 *   -e  epochs measured (default 5)
 *   -E  HYBRID_EPOCH of the children (default: none set, the library's 1 s)
 *   -T  ceiling of one run, seconds (default 1800): a run that has not seen
 *       its epochs by then fails (and says how far it got)
 *
 * Each run is a fresh process: this program exec'd again (--child) with
 * LD_PRELOAD=libhybrid.so HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 (the
 * loopback pair: node 0 is both tiers, every mechanism runs for real).  The
 * child maps the reservation with mmap(MAP_PRIVATE|MAP_ANONYMOUS|
 * MAP_NORESERVE) -- through the preload, so the library manages it as it
 * would any program's -- checks that it is managed (hybrid_get_stats:
 * managed_bytes), touches the resident pieces, and starts a thread that
 * writes one word in every resident page once per epoch (it waits for the
 * epoch counter between passes), so that pages are armed and caught.  It
 * lets -w epochs pass, then measures over the next -e epochs: the counters'
 * policy_ns and epochs (policy CPU per epoch), the wall time per epoch,
 * self_bytes (the library's state and tracking tables, mapped) and, from
 * /proc/self/status, VmRSS and VmPTE (page tables: arming never-touched
 * pages of a sparse reservation fills them).  Epochs are waited for by
 * reading the counters, never by sleeping a fixed time.
 *
 * Reported: policy CPU per epoch (median over runs, min-max) and as % of
 * one CPU at the default 1 s epoch (per-epoch CPU / 1 s: above 100% the
 * thread cannot keep a 1 s epoch), the measured % of a CPU at the epoch
 * that ran (policy CPU / wall time), wall time per epoch, self_bytes, RSS
 * and page tables.  With -E shorter than 1 s the per-epoch figures are of
 * epochs of that length: walks over the state cost the same per epoch,
 * arming (sized by the overhead governor as a share of the epoch) less.
 * Figures to stdout; CSV rows (header below) to CSV-PATH.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/support.h"
#include "bench_env.h"
#include "hybrid.h"

extern char **environ;

#define PG	    4096UL
#define MAX_CONF    32
#define MAX_RUNS    64
#define CSV_HEAD                                                                                   \
	"sweep,virtual_bytes,resident_bytes,runs,epoch_us,epochs_measured,policy_ms_per_epoch,"    \
	"policy_ms_min,policy_ms_max,cpu_pct_at_1s,cpu_pct_measured,wall_ms_per_epoch,"          \
	"self_bytes,rss_bytes,pte_bytes,armed_per_epoch"

/* ---- sizes ---------------------------------------------------------------- */

static uint64_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t m = 1;

	switch (*end) {
	case 'k': case 'K': m = 1ULL << 10; end++; break;
	case 'm': case 'M': m = 1ULL << 20; end++; break;
	case 'g': case 'G': m = 1ULL << 30; end++; break;
	case 't': case 'T': m = 1ULL << 40; end++; break;
	}
	if (end == s || v <= 0 || (*end && strcmp(end, "iB") && strcmp(end, "B"))) {
		fprintf(stderr, "scale: bad size '%s'\n", s);
		exit(2);
	}
	return (uint64_t)(v * (double)m);
}

static int parse_list(const char *s, uint64_t *out, int max)
{
	char buf[512], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
		out[n++] = parse_size(tok);
	return n;
}

/* "1.0 GiB", "256 MiB" */
static const char *human(uint64_t v, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double x = (double)v;
	int i = 0;

	while (x >= 1024 && i < 5) {
		x /= 1024;
		i++;
	}
	snprintf(buf, len, x == (double)(uint64_t)x ? "%.0f %s" : "%.1f %s", x, u[i]);
	return buf;
}

/* ---- the child: one configuration under the library ------------------------ */

typedef int get_stats_fn(struct hybrid_stats *);
static get_stats_fn *get_stats;

static struct hybrid_stats stats(void)
{
	struct hybrid_stats s;

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	get_stats(&s);
	return s;
}

struct pieces {
	char *base;
	uint64_t n, len, stride; /* n pieces of len, one every stride bytes */
};

static volatile int stop_writer;

static void write_pass(const struct pieces *p, uint64_t v)
{
	for (uint64_t k = 0; k < p->n; k++) {
		char *q = p->base + k * p->stride;
		for (uint64_t o = 0; o < p->len; o += PG)
			*(volatile uint64_t *)(q + o) = v;
	}
}

/* One pass over every resident page per epoch: the pass, then wait for the
 * epoch counter to move (polled; the library's thread is what we measure). */
static void *writer(void *arg)
{
	const struct pieces *p = arg;
	struct timespec nap = {0, 2 * 1000 * 1000};
	uint64_t pass = 1;

	while (!stop_writer) {
		uint64_t e = stats().epochs;
		write_pass(p, ++pass);
		while (!stop_writer && stats().epochs == e)
			nanosleep(&nap, NULL);
	}
	return NULL;
}

static uint64_t status_kib(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtoull(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Wait until the epoch counter reaches `want`; false at the deadline. */
static bool wait_epochs(uint64_t want, double deadline, struct hybrid_stats *s)
{
	struct timespec nap = {0, 5 * 1000 * 1000};

	for (;;) {
		*s = stats();
		if (s->epochs >= want)
			return true;
		if (now_s() > deadline)
			return false;
		nanosleep(&nap, NULL);
	}
}

static int child(int argc, char **argv)
{
	uint64_t virt, res, piece, warm, meas, t0, t1;
	double deadline;
	struct hybrid_stats s0, s1;
	struct pieces p;
	pthread_t th;

	if (argc != 8) {
		fprintf(stderr, "scale --child VIRT RES PIECE WARM EPOCHS TIMEOUT_S\n");
		return 2;
	}
	virt = strtoull(argv[2], NULL, 10);
	res = strtoull(argv[3], NULL, 10);
	piece = strtoull(argv[4], NULL, 10);
	warm = strtoull(argv[5], NULL, 10);
	meas = strtoull(argv[6], NULL, 10);
	deadline = now_s() + strtod(argv[7], NULL);
	get_stats = (get_stats_fn *)dlsym(RTLD_DEFAULT, "hybrid_get_stats");
	if (!get_stats) {
		fprintf(stderr, "scale: child not under libhybrid (no hybrid_get_stats)\n");
		return 1;
	}
	if (piece > res)
		piece = res;
	p.n = res / piece;
	p.len = piece;
	p.stride = virt / p.n / piece * piece;
	p.base = mmap(NULL, virt, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	if (p.base == MAP_FAILED) {
		fprintf(stderr, "scale: mmap %" PRIu64 " bytes: %s\n", virt, strerror(errno));
		return 1;
	}
	s0 = stats();
	if (s0.state != HYBRID_STATE_RUNNING || s0.managed_bytes < virt) {
		fprintf(stderr, "scale: the reservation is not managed (state %u, %" PRIu64 " bytes managed)\n",
			s0.state, s0.managed_bytes);
		return 1;
	}
	write_pass(&p, 1); /* populate the resident set */
	if (pthread_create(&th, NULL, writer, &p)) {
		fprintf(stderr, "scale: cannot start the writer\n");
		return 1;
	}
	if (!wait_epochs(s0.epochs + warm, deadline, &s0)) {
		printf("timeout epochs=%" PRIu64 " policy_ns=%" PRIu64 "\n", s0.epochs, s0.policy_ns);
		return 3;
	}
	t0 = now_ns();
	if (!wait_epochs(s0.epochs + meas, deadline, &s1)) {
		printf("timeout epochs=%" PRIu64 " policy_ns=%" PRIu64 "\n", s1.epochs, s1.policy_ns);
		return 3;
	}
	t1 = now_ns();
	printf("result epochs=%" PRIu64 " policy_ns=%" PRIu64 " wall_ns=%" PRIu64
	       " self_bytes=%" PRIu64 " rss_bytes=%" PRIu64 " pte_bytes=%" PRIu64
	       " armed=%" PRIu64 " managed=%" PRIu64 " backend=%s\n",
	       s1.epochs - s0.epochs, s1.policy_ns - s0.policy_ns, t1 - t0, s1.self_bytes,
	       status_kib("VmRSS") << 10, status_kib("VmPTE") << 10, s1.pages_armed - s0.pages_armed,
	       s1.managed_bytes, s1.backend);
	fflush(stdout);
	stop_writer = 1;
	pthread_join(th, NULL);
	return 0;
}

/* ---- the parent: configurations, runs, medians ------------------------------ */

struct run {
	double policy_ns, wall_ns, epochs, self, rss, pte, armed;
};

struct conf {
	const char *sweep; /* "virtual" or "resident" */
	uint64_t virt, res;
	struct run r[MAX_RUNS];
	int n, failed;
	char why[160];
};

static char *self_exe(void)
{
	static char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	return exe;
}

/* environ without LD_PRELOAD and HYBRID_*, plus the loopback pair */
static char **child_env(const char *lib, const char *epoch)
{
	static char pre[PATH_MAX + 16], ep[64];

	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", lib);
	if (epoch)
		snprintf(ep, sizeof(ep), "HYBRID_EPOCH=%s", epoch);
	return bench_env(pre, "HYBRID_FAST_NODES=0", "HYBRID_SLOW_NODES=0", epoch ? ep : NULL);
}

static uint64_t field(const char *line, const char *key)
{
	char k[40];
	const char *p;

	snprintf(k, sizeof(k), " %s=", key);
	p = strstr(line, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

/* One run of c in a fresh process; false (c->why says why) if it failed. */
static bool run_one(struct conf *c, char **envp, uint64_t piece, int warm, int meas, int timeout)
{
	char a[7][32], *argv[10], out[1024] = "", line[1100];
	posix_spawn_file_actions_t fa;
	int fd[2], st;
	ssize_t got, n = 0;
	pid_t pid;

	snprintf(a[0], 32, "%" PRIu64, c->virt);
	snprintf(a[1], 32, "%" PRIu64, c->res);
	snprintf(a[2], 32, "%" PRIu64, piece);
	snprintf(a[3], 32, "%d", warm);
	snprintf(a[4], 32, "%d", meas);
	snprintf(a[5], 32, "%d", timeout);
	argv[0] = self_exe();
	argv[1] = "--child";
	for (int i = 0; i < 6; i++)
		argv[2 + i] = a[i];
	argv[8] = NULL;
	if (pipe(fd))
		return false;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
	posix_spawn_file_actions_addclose(&fa, fd[0]);
	fflush(stdout);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, envp)) {
		posix_spawn_file_actions_destroy(&fa);
		snprintf(c->why, sizeof(c->why), "cannot spawn %s", argv[0]);
		return false;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	while (n < (ssize_t)sizeof(out) - 1 && (got = read(fd[0], out + n, sizeof(out) - 1 - n)) != 0)
		if (got > 0)
			n += got;
		else if (errno != EINTR)
			break;
	out[n] = 0;
	close(fd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	snprintf(line, sizeof(line), " %s", out);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
			snprintf(c->why, sizeof(c->why),
				 "ceiling of %d s: %" PRIu64 " epochs, %.1f s of policy CPU", timeout,
				 field(line, "epochs"), (double)field(line, "policy_ns") / 1e9);
		else
			snprintf(c->why, sizeof(c->why), "child failed (status %#x)", st);
		return false;
	}
	if (strncmp(out, "result ", 7) || !field(line, "epochs")) {
		snprintf(c->why, sizeof(c->why), "child said: %.100s", out);
		return false;
	}
	c->r[c->n++] = (struct run){(double)field(line, "policy_ns"), (double)field(line, "wall_ns"),
				    (double)field(line, "epochs"), (double)field(line, "self_bytes"),
				    (double)field(line, "rss_bytes"), (double)field(line, "pte_bytes"),
				    (double)field(line, "armed")};
	return true;
}

/* median, min and max of one figure of c's runs, per epoch if asked */
static double stat3(const struct conf *c, size_t off, bool per_epoch, double *lo, double *hi)
{
	double v[MAX_RUNS];
	int n = c->n;

	for (int i = 0; i < n; i++) {
		double x = *(const double *)((const char *)&c->r[i] + off);
		v[i] = per_epoch ? x / c->r[i].epochs : x;
	}
	qsort(v, (size_t)n, sizeof(v[0]), bench_cmp_dbl);
	if (lo)
		*lo = v[0];
	if (hi)
		*hi = v[n - 1];
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define FIG(c, f, pe, lo, hi) stat3(c, offsetof(struct run, f), pe, lo, hi)

static void usage(void)
{
	fprintf(stderr, "usage: scale [-v SIZES] [-R SIZE] [-r SIZES] [-P SIZE] [-n RUNS] [-w EPOCHS] "
			"[-e EPOCHS] [-E EPOCH] [-T SECONDS] [-L LIBHYBRID] [CSV-PATH]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *vlist = "1G,16G,256G,1T,4T", *rlist = "1G,4G", *epoch = NULL, *csv_path = NULL;
	uint64_t vs[MAX_CONF], rs[MAX_CONF], vres = 256ULL << 20, piece = 64ULL << 20;
	int runs = 3, warm = 2, meas = 5, timeout = 1800, nv, nr, nc = 0, opt, bad = 0;
	char lib[PATH_MAX], *exe, **envp;
	static struct conf c[MAX_CONF];
	FILE *csv = NULL;
	uint64_t epoch_us = 1000000;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child(argc, argv);
	exe = self_exe();
	snprintf(lib, sizeof(lib), "%s", exe ? exe : ".");
	if (strrchr(lib, '/'))
		*strrchr(lib, '/') = 0;
	strncat(lib, "/../lib/libhybrid.so", sizeof(lib) - strlen(lib) - 1);
	while ((opt = getopt(argc, argv, "v:R:r:P:n:w:e:E:T:L:h")) != -1) {
		switch (opt) {
		case 'v': vlist = optarg; break;
		case 'R': vres = parse_size(optarg); break;
		case 'r': rlist = optarg; break;
		case 'P': piece = parse_size(optarg); break;
		case 'n': runs = atoi(optarg); break;
		case 'w': warm = atoi(optarg); break;
		case 'e': meas = atoi(optarg); break;
		case 'E': epoch = optarg; break;
		case 'T': timeout = atoi(optarg); break;
		case 'L': snprintf(lib, sizeof(lib), "%s", optarg); break;
		default: usage();
		}
	}
	if (optind < argc)
		csv_path = argv[optind];
	if (runs < 1 || runs > MAX_RUNS || warm < 1 || meas < 1 || timeout < 1 || !piece)
		usage();
	if (access(lib, R_OK)) {
		fprintf(stderr, "scale: %s: %s\n", lib, strerror(errno));
		return 1;
	}
	if (epoch) { /* the epoch's length, for the labels: "250ms", "1s" */
		char *end;
		double v = strtod(epoch, &end);
		epoch_us = (uint64_t)(v * (!strcmp(end, "ms") ? 1e3 : !strcmp(end, "us") ? 1 : 1e6));
	}
	nv = *vlist ? parse_list(vlist, vs, MAX_CONF / 2) : 0;
	nr = *rlist ? parse_list(rlist, rs, MAX_CONF / 2) : 0;
	for (int i = 0; i < nv; i++) {
		if (vs[i] < vres) {
			fprintf(stderr, "scale: reservation %" PRIu64 " smaller than the resident set\n", vs[i]);
			return 2;
		}
		c[nc++] = (struct conf){.sweep = "virtual", .virt = vs[i], .res = vres};
	}
	for (int i = 0; i < nr; i++)
		c[nc++] = (struct conf){.sweep = "resident", .virt = rs[i], .res = rs[i]};
	if (!nc)
		usage();
	envp = child_env(lib, epoch);
	printf("scale: %d configurations x %d runs, %d + %d epochs each, epoch %s, loopback pair, %s\n",
	       nc, runs, warm, meas, epoch ? epoch : "1s (default)", lib);
	for (int round = 0; round < runs; round++) {
		for (int j = 0; j < nc; j++) {
			struct conf *x = &c[(j + round) % nc];
			char a[32], b[32];
			double t = now_s();

			if (x->failed) /* a configuration that failed once is not tried again */
				continue;
			if (!run_one(x, envp, piece, warm, meas, timeout)) {
				x->failed = 1;
				fprintf(stderr, "scale: %s %s / %s resident: %s\n", x->sweep,
					human(x->virt, a, sizeof(a)), human(x->res, b, sizeof(b)), x->why);
				continue;
			}
			printf("  round %d: %-8s %9s virtual %9s resident: %8.2f ms policy CPU per epoch (%.0f s)\n",
			       round + 1, x->sweep, human(x->virt, a, sizeof(a)), human(x->res, b, sizeof(b)),
			       x->r[x->n - 1].policy_ns / x->r[x->n - 1].epochs / 1e6, now_s() - t);
		}
	}
	if (csv_path && !(csv = fopen(csv_path, "w"))) {
		fprintf(stderr, "scale: %s: %s\n", csv_path, strerror(errno));
		return 1;
	}
	if (csv)
		fprintf(csv, CSV_HEAD "\n");
	printf("\npolicy thread CPU per epoch (median of runs, min-max), epochs of %s; %% of one CPU at the\n"
	       "default 1 s epoch = CPU per epoch / 1 s; measured %% = CPU / wall time at the epoch run\n\n",
	       epoch ? epoch : "1 s");
	printf("%-8s %9s %9s %4s %10s %19s %8s %8s %9s %10s %10s %10s\n", "sweep", "virtual", "resident",
	       "runs", "ms/epoch", "min-max", "%@1s", "%meas", "wall ms", "self", "RSS", "page tbl");
	for (int i = 0; i < nc; i++) {
		struct conf *x = &c[i];
		char a[32], b[32], s1[32], s2[32], s3[32], mm[40];
		double lo, hi, pol, wall, cpu1, cpum;

		if (!x->n) {
			printf("%-8s %9s %9s    0  failed: %s\n", x->sweep, human(x->virt, a, sizeof(a)),
			       human(x->res, b, sizeof(b)), x->why);
			bad = 1;
			continue;
		}
		pol = FIG(x, policy_ns, true, &lo, &hi) / 1e6;
		wall = FIG(x, wall_ns, true, NULL, NULL) / 1e6;
		cpu1 = pol / 1000 * 100;
		cpum = wall > 0 ? pol / wall * 100 : 0;
		snprintf(mm, sizeof(mm), "%.2f-%.2f", lo / 1e6, hi / 1e6);
		printf("%-8s %9s %9s %4d %10.2f %19s %8.2f %8.2f %9.1f %10s %10s %10s\n", x->sweep,
		       human(x->virt, a, sizeof(a)), human(x->res, b, sizeof(b)), x->n, pol, mm, cpu1, cpum,
		       wall, human((uint64_t)FIG(x, self, false, NULL, NULL), s1, sizeof(s1)),
		       human((uint64_t)FIG(x, rss, false, NULL, NULL), s2, sizeof(s2)),
		       human((uint64_t)FIG(x, pte, false, NULL, NULL), s3, sizeof(s3)));
		if (csv)
			fprintf(csv, "%s,%" PRIu64 ",%" PRIu64 ",%d,%" PRIu64 ",%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.0f,%.0f,%.0f,%.0f\n",
				x->sweep, x->virt, x->res, x->n, epoch_us, meas, pol, lo / 1e6, hi / 1e6, cpu1,
				cpum, wall, FIG(x, self, false, NULL, NULL), FIG(x, rss, false, NULL, NULL),
				FIG(x, pte, false, NULL, NULL), FIG(x, armed, true, NULL, NULL));
		if (x->failed) {
			printf("%-8s   (a later run failed: %s)\n", "", x->why);
			bad = 1;
		}
	}
	if (csv)
		fclose(csv);
	return bad;
}
