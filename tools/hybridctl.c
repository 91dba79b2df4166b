/* SPDX-License-Identifier: MIT */
/*
 * hybridctl — the numactl-style face of libhybrid.
 *
 *   hybridctl --hardware        the tiers of this machine and the kernel
 *                               features libhybrid can use
 *   hybridctl [options] --show  the effective options and where each came from
 *   hybridctl [options] [--] command [args...]
 *                               run command hybrid: set HYBRID_*, put
 *                               libhybrid.so first in LD_PRELOAD, exec
 *   hybridctl stat [PID]        the live counters of managed processes
 *
 * Every long option comes from the library's option table (config.h): the
 * launcher, the environment and the API share one parser.  The environment's
 * HYBRID_* variables are read first and the command line overrides them.
 * Any bad option or value: one line on stderr and exit 2, before anything
 * is started.  A HYBRID_ name of the environment that is no option is not
 * ours to refuse (the prefix is not ours alone): one warning line, and the
 * command runs.  What the command line set is passed on as HYBRID_<NAME> in
 * the canonical form hy_config_format() writes, so the library parses
 * exactly what was validated here.
 *
 * The library is found from /proc/self/exe, never from a fixed path: next to
 * the executable in the build tree (tools/ -> lib/) or in its install prefix
 * (bin/ -> lib/, the relative path baked in by CMake as HY_BIN_TO_LIB).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hybrid.h"
#include "clock.h"
#include "config.h"
#include "export_fmt.h"
#include "export_read.h"
#include "kfeat.h"
#include "log.h"
#include "stat_plot.h"
#include "topology.h"

#define EXIT_USAGE	2
#define EXIT_CANNOT_RUN 126 /* as env(1) */
#define EXIT_NOT_FOUND	127

/* Where the library is, relative to the directory of this executable. */
#ifndef HY_BIN_TO_LIB
#define HY_BIN_TO_LIB "../lib" /* installed: <prefix>/bin -> <prefix>/<libdir> */
#endif
#ifndef HY_BUILD_TO_LIB
#define HY_BUILD_TO_LIB "../lib" /* build tree: tools/ -> lib/ */
#endif

/* The launcher does not link libhybrid.so, so it carries its own copy of the
 * version, from the same header. */
#define VERSION HY_VERSION_TEXT
#define LIBNAME "libhybrid.so." HY_STR(HYBRID_VERSION_MAJOR) /* the soname */

/* getopt values: our own options from 0x100, table options at OPT_TABLE + id
 * (so that 0, which getopt uses for "unknown long option", is no option). */
enum { OPT_HARDWARE = 0x100, OPT_SHOW, OPT_VERSION, OPT_HELP, OPT_ROOT, OPT_TABLE = 0x200 };

static void usage(FILE *f)
{
	char l[64], acc[256];

	fprintf(f, "usage: hybridctl [options] [--] command [args...]\n"
		   "       hybridctl [options] --show\n"
		   "       hybridctl --hardware\n"
		   "       hybridctl stat [PID] [--interval=S] [--count=N] [--json]\n"
		   "       hybridctl stat PID --plot=FILE.png [--interval=S] [--count=N]\n"
		   "       hybridctl stat PID --tree [--json]\n"
		   "\n"
		   "  -H, --hardware        show tiers, nodes and kernel features\n"
		   "  -s, --show            show the effective options and their sources\n"
		   "  -V, --version         print the version\n"
		   "  -h, --help            this help\n"
		   "      --root=DIR        read sysfs and proc below DIR (for testing)\n"
		   "\n"
		   "Running a command: options stop at the first non-option (or --); the\n"
		   "command runs with libhybrid.so first in LD_PRELOAD and the options set as\n"
		   "HYBRID_<NAME>. Exit status: the command's; 2 for a bad option or value;\n"
		   "126 if the command cannot be run, 127 if it is not found.\n"
		   "  --stats[=FILE]        print the counters when the command exits: on stderr,\n"
		   "                        or into FILE, created new (mode 0600; an existing\n"
		   "                        FILE is refused); --stats=+FILE appends to FILE\n"
		   "\n"
		   "stat: the live counters of running managed processes (yours; root: any)\n"
		   "  hybridctl stat        list your managed processes\n"
		   "  hybridctl stat PID    bytes per tier, promotions, demotions, failures\n"
		   "  -i, --interval=S      report every S seconds; for a PID one row each, as\n"
		   "                        vmstat (rates over the interval, header every screen)\n"
		   "  -c, --count=N         stop after N reports (default: 1, or endless with -i;\n"
		   "                        a count alone reports every second)\n"
		   "  -j, --json            JSON: one object per report (a list: an array)\n"
		   "  -p, --plot=FILE.png   sample PID (every second, or -i) until it ends, -c\n"
		   "                        samples or Ctrl-C; keep them in FILE.csv and draw\n"
		   "                        bytes per tier, promotions and demotions (gnuplot)\n"
		   "  -t, --tree            the processes that share memory with PID (its tree):\n"
		   "                        each one's shared bytes, the part it leads, its moves\n"
		   "\n"
		   "options (each also as environment variable HYBRID_<NAME>):\n");
	for (int id = 0; id < HY_OPT_COUNT; id++) {
		const struct hy_opt_desc *o = &hy_options[id];
		char sh[8] = "    ";

		if (o->shortopt)
			snprintf(sh, sizeof(sh), "-%c, ", o->shortopt);
		fprintf(f, "  %s--%s%s%s%s\n        %s\n        (%s)\n", sh,
			hy_config_long_name(id, l, sizeof(l)), id == HY_OPT_STATS ? "[=" : "=",
			hy_type_name(o->type), id == HY_OPT_STATS ? "]" : "", o->help,
			hy_config_accepts(id, acc, sizeof(acc)));
	}
}

static void print_hardware(const struct hy_topo *t)
{
	struct hy_kfeat kf;
	char a[128], b[32], c[32];
	const char *why, *backend;

	printf("libhybrid %s: hardware\n", VERSION);
	printf("memory nodes: %d\n", t->nnodes);
	for (int i = 0; i < t->nnodes; i++) {
		const struct hy_node *n = &t->node[i];

		printf("node %d: %s, %s total, %s free", n->id, n->has_cpu ? "cpus" : "no cpus",
		       hy_human_bytes((double)n->mem_total, b, sizeof(b)),
		       hy_human_bytes((double)n->mem_free, c, sizeof(c)));
		if (n->kernel_tier >= 0)
			printf(", kernel memory_tier%d", n->kernel_tier);
		if (n->read_latency || n->read_bandwidth)
			printf(", HMAT read %u ns %u MB/s", n->read_latency, n->read_bandwidth);
		if (!n->allowed)
			printf(", outside cpuset");
		printf("\n");
	}
	printf("node distances:\nnode ");
	for (int j = 0; j < t->nnodes; j++)
		printf("%4d", t->node[j].id);
	printf("\n");
	for (int i = 0; i < t->nnodes; i++) {
		printf("%4d:", t->node[i].id);
		for (int j = 0; j < t->nnodes; j++)
			printf("%4d", t->dist[i][j]);
		printf("\n");
	}

	printf("tiers: %d (source: %s)%s\n", t->ntiers, hy_topo_source_name(t->source),
	       t->loopback ? " LOOPBACK" : "");
	for (int k = 0; k < t->ntiers; k++) {
		const char *role = k == 0 ? "fastest" : k == t->ntiers - 1 ? "slowest" : "middle";

		printf("tier %d: nodes %s (%s; %s total, %s free)", k,
		       hy_nm_format(&t->tier[k].nodes, a, sizeof(a)), t->ntiers > 1 ? role : "only",
		       hy_human_bytes((double)t->tier[k].mem_total, b, sizeof(b)),
		       hy_human_bytes((double)t->tier[k].mem_free, c, sizeof(c)));
		if (k + 1 < t->ntiers) {
			printf(", demotes");
			hy_nm_for_each(id, &t->tier[k].nodes)
			{
				printf(" %d->%d", id, hy_topo_node(t, id)->demote_to);
			}
		}
		printf("\n");
	}
	if (t->loopback)
		printf("loopback: the same nodes play more than one tier; every mechanism runs, "
		       "but pages do not change node\n");

	hy_kfeat_probe(&kf);
	printf("kernel features:\n");
	printf("  userfaultfd:           %s", kf.uffd ? "yes" : "no");
	if (kf.uffd)
		printf(" (%s; faults inside system calls: %s)", kf.uffd_how,
		       kf.uffd_kernel_faults ? "yes" : "no");
	else
		printf(" (%s)", strerror(kf.uffd_errno));
	printf("\n  uffd write-protect:    %s\n", kf.wp ? "yes" : "no");
	printf("  WP on shmem/hugetlbfs: %s\n", kf.wp_shmem ? "yes" : "no");
	printf("  WP_UNPOPULATED:        %s\n", kf.wp_unpopulated ? "yes" : "no");
	printf("  WP_ASYNC:              %s\n", kf.wp_async ? "yes" : "no");
	printf("  PAGEMAP_SCAN:          %s\n", kf.pagemap_scan ? "yes" : "no");
	printf("  uffd read-write prot.: %s\n", !kf.rwp	      ? "no"
					  : !kf.rwp_async	      ? "yes, without RWP_ASYNC"
					  : !kf.pagemap_accessed ? "yes, PAGEMAP_SCAN without PAGE_IS_ACCESSED"
								 : "yes (RWP, RWP_ASYNC, PAGE_IS_ACCESSED)");
	printf("  unprivileged uffd:     ");
	if (kf.unpriv_sysctl < 0)
		printf("unknown");
	else
		printf("vm.unprivileged_userfaultfd=%d", kf.unpriv_sysctl);
	printf(", /dev/userfaultfd %s\n", !kf.dev_userfaultfd	 ? "absent"
					  : kf.dev_userfaultfd_ok ? "usable by us"
								 : "present, not usable by us");
	printf("  memory tiers in sysfs: %s", kf.memory_tiers ? "yes" : "no");
	if (kf.memory_tiers)
		printf(" (%d tier%s with memory)", t->kernel_ntiers, t->kernel_ntiers == 1 ? "" : "s");
	printf("\n  MPOL_PREFERRED_MANY:   %s\n", kf.preferred_many ? "yes" : "no (MPOL_PREFERRED)");
	backend = hy_kfeat_backend(&kf, &why);
	printf("tracking backend (auto): %s", backend);
	if (why)
		printf(" (%s)", why);
	printf("\naccesses seen: %s\n",
	       !strcmp(backend, "rwp")	 ? "reads and writes"
	       : !strcmp(backend, "off") ? "none (placement only)"
					 : "writes only: pages only read stay on the slow tier "
					   "(read-write protection needs Linux 7.3; see hybrid(7))");
	if (t->root[0])
		printf("note: tiers read below %s; kernel features are this machine's\n", t->root);
	if (t->ntiers < 2)
		printf("note: one tier: libhybrid runs programs unchanged here. Tiering needs a "
		       "slower memory node (CXL, PMEM onlined by kmem, a CPU-less NUMA node); to "
		       "exercise the mechanisms on one node, name a loopback pair: "
		       "HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 (or tests/vm/tiered-vm for a "
		       "tiered VM)\n");
}

static void print_show(const struct hy_config *cfg)
{
	char l[64], v[512];

	printf("%-20s %-14s %-13s %s\n", "option", "value", "source", "help");
	for (int id = 0; id < HY_OPT_COUNT; id++)
		printf("%-20s %-14s %-13s %s\n", hy_config_long_name(id, l, sizeof(l)),
		       hy_config_format(cfg, id, v, sizeof(v)), hy_source_name(cfg->src[id]),
		       hy_options[id].help);
}

/* ---- launching ---------------------------------------------------------- */

/*
 * The library for LD_PRELOAD: next to this executable, installed or in the
 * build tree.  Its absolute path into buf; -ENOENT if neither exists (tried:
 * the paths looked at, for the message).
 */
static int find_library(char *buf, size_t len, char *tried, size_t tlen)
{
	static const char *const rel[] = {HY_BIN_TO_LIB, HY_BUILD_TO_LIB};
	char exe[PATH_MAX], cand[PATH_MAX + 64], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	tried[0] = 0;
	if (n <= 0)
		return -errno;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		char real[PATH_MAX];

		if (i && !strcmp(rel[i], rel[0]))
			continue;
		snprintf(cand, sizeof(cand), "%s/%s/%s", exe, rel[i], LIBNAME);
		snprintf(tried + strlen(tried), tlen - strlen(tried), "%s%s", i ? ", " : "", cand);
		/* the directory made canonical, the soname kept: a newer build or
		 * install behind the same soname is picked up */
		*strrchr(cand, '/') = 0;
		if (realpath(cand, real) && strlen(real) + sizeof(LIBNAME) + 1 < len) {
			snprintf(buf, len, "%s/%s", real, LIBNAME);
			if (!access(buf, R_OK))
				return 0;
		}
	}
	return -ENOENT;
}

/*
 * LD_PRELOAD = lib, then every earlier entry except any libhybrid (ours or
 * another copy: two would each start an instance).  ld.so separates entries
 * by spaces or colons; the result uses colons.
 */
static int set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD"), *s;
	size_t len = strlen(lib) + (old ? strlen(old) : 0) + 2, used;
	char *v = malloc(len);

	if (!v)
		return -ENOMEM;
	used = (size_t)snprintf(v, len, "%s", lib);
	for (s = old; s && *s;) {
		size_t n = strcspn(s, ": ");

		if (n && !hy_preload_entry_is_libhybrid(s, n))
			used += (size_t)snprintf(v + used, len - used, ":%.*s", (int)n, s);
		s += n;
		s += strspn(s, ": ");
	}
	if (setenv("LD_PRELOAD", v, 1)) {
		free(v);
		return -errno;
	}
	free(v);
	return 0;
}

/*
 * --stats=FILE and --stats=+FILE: a relative FILE is made absolute here (the
 * command may change directory).  FILE is created now, new, mode 0600,
 * never through a symbolic link, and an existing FILE is refused, before
 * anything runs; the library is then told to append (+FILE), so that every
 * managed process of the command (a shell's children too) adds its report.
 * *created: the file made here, removed if the command cannot be run.
 */
static int prepare_stats(struct hy_config *cfg, char *created, size_t clen)
{
	const char *v = cfg->stats, *path = v[0] == '+' ? v + 1 : v;
	bool append = v[0] == '+';
	char abs[PATH_MAX], val[PATH_MAX + 2], cwd[PATH_MAX];
	struct hy_err err;
	struct stat st;
	int fd;

	created[0] = 0;
	if (cfg->src[HY_OPT_STATS] != HY_SRC_CMDLINE || !strcmp(v, "stderr"))
		return 0;
	if (!*path) {
		hy_error("--stats=+ needs a file name; see hybridctl --help");
		return -1;
	}
	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			hy_error("--stats: cannot tell the current directory: %s", strerror(errno));
			return -1;
		}
		if ((size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= sizeof(abs)) {
			hy_error("--stats: path too long");
			return -1;
		}
	} else {
		snprintf(abs, sizeof(abs), "%s", path);
	}
	if (append) {
		bool existed = !lstat(abs, &st);

		if (existed && !S_ISREG(st.st_mode)) {
			hy_error("--stats: %s is not a regular file%s", abs,
				 S_ISLNK(st.st_mode) ? " (a symbolic link: not followed)" : "");
			return -1;
		}
		fd = open(abs, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			  0600);
		if (fd < 0) {
			hy_error("--stats: cannot write %s: %s", abs, strerror(errno));
			return -1;
		}
		close(fd);
		if (!existed)
			snprintf(created, clen, "%s", abs);
	} else {
		fd = open(abs, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST) {
			hy_error("--stats: %s exists; not overwritten (--stats=+%s appends to it)", abs,
				 path);
			return -1;
		}
		if (fd < 0) {
			hy_error("--stats: cannot create %s: %s", abs, strerror(errno));
			return -1;
		}
		close(fd);
		snprintf(created, clen, "%s", abs);
	}
	snprintf(val, sizeof(val), "+%s", abs);
	if (hy_config_set(cfg, HY_OPT_STATS, val, HY_SRC_CMDLINE, &err)) {
		hy_error("--stats: %s", err.msg);
		if (created[0])
			unlink(created);
		return -1;
	}
	return 0;
}

/*
 * The environment's HYBRID_ names that are no option were said once, here:
 * pass them on in HYBRID_IGNORE_NAMES, so that the launched tree (a version
 * manager's shims, a shell script's commands) does not say them again in
 * every process.  A list that would not fit is not passed: the programs
 * then say it themselves, which is noise, not harm.
 */
static int pass_on_ignored(struct hy_config *cfg)
{
	char add[HY_NAMES_MAX], val[2 * HY_NAMES_MAX + 1], name[64];
	struct hy_err err;

	if (!hy_config_unknown_env(cfg, NULL, add, sizeof(add)) || !add[0])
		return 0;
	snprintf(val, sizeof(val), "%s%s%s", cfg->ignore_names, cfg->ignore_names[0] ? "," : "",
		 add);
	if (hy_config_set(cfg, HY_OPT_IGNORE_NAMES, val, cfg->src[HY_OPT_IGNORE_NAMES], &err))
		return 0;
	return setenv(hy_config_env_name(HY_OPT_IGNORE_NAMES, name, sizeof(name)),
		      cfg->ignore_names, 1);
}

/* Run cmd under the library; returns only on failure, with the exit status. */
static int launch(struct hy_config *cfg, char **cmd)
{
	char lib[PATH_MAX], tried[3 * PATH_MAX], created[PATH_MAX], name[64], val[PATH_MAX + 2];
	int e;

	if (find_library(lib, sizeof(lib), tried, sizeof(tried))) {
		hy_error("cannot find %s (looked for %s)", LIBNAME, tried[0] ? tried : LIBNAME);
		return EXIT_USAGE;
	}
	if (strpbrk(lib, " :\t\n")) {
		hy_error("cannot preload %s: LD_PRELOAD cannot hold a path with spaces or colons",
			 lib);
		return EXIT_USAGE;
	}
	if (prepare_stats(cfg, created, sizeof(created)))
		return EXIT_USAGE;
	for (int id = 0; id < HY_OPT_COUNT; id++)
		if (cfg->src[id] == HY_SRC_CMDLINE &&
		    setenv(hy_config_env_name(id, name, sizeof(name)),
			   hy_config_format(cfg, id, val, sizeof(val)), 1))
			goto fail;
	if (pass_on_ignored(cfg) || set_preload(lib))
		goto fail;
	fflush(NULL);
	execvp(cmd[0], cmd);
	e = errno;
	if (created[0])
		unlink(created);
	hy_error("cannot run %s: %s", cmd[0], strerror(e));
	return e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
fail:
	hy_error("cannot set the environment: %s", strerror(errno));
	if (created[0])
		unlink(created);
	return EXIT_CANNOT_RUN;
}

/* ---- stat --------------------------------------------------------------- */

/* Seconds, "0.5" or with a unit ("500ms"); 10 ms to 1 h. */
static int parse_interval(const char *s, uint64_t *us)
{
	char *end;
	double d;

	if (!hy_parse_duration(s, us))
		return *us >= 10000 && *us <= 3600000000u ? 0 : -ERANGE;
	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !(d >= 0.01 && d <= 3600))
		return -EINVAL;
	*us = (uint64_t)(d * 1e6 + 0.5);
	return 0;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

struct listing {
	struct hy_export_page *p;
	size_t n, cap;
};

static void collect(const struct hy_export_page *p, void *arg)
{
	struct listing *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *q = realloc(l->p, cap * sizeof(*l->p));
		if (!q)
			return;
		l->p = q;
		l->cap = cap;
	}
	l->p[l->n++] = *p;
}

static int by_pid(const void *a, const void *b)
{
	const struct hy_export_page *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static const char *read_error(int pid, int rc, char *buf, size_t len)
{
	switch (rc) {
	case -ESRCH:
		snprintf(buf, len, "pid %d: no such process", pid);
		break;
	case -ENOENT:
		snprintf(buf, len, "pid %d: no live statistics (not running under libhybrid, not "
				   "managed, or it closed the descriptor they are published on)", pid);
		break;
	case -EACCES:
		snprintf(buf, len, "pid %d: permission denied: a process's statistics are readable "
				   "only by its user (while it is dumpable) and root", pid);
		break;
	case -EPROTO:
		snprintf(buf, len, "pid %d: statistics written by an incompatible libhybrid; use "
				   "the hybridctl of the library it runs", pid);
		break;
	case -EAGAIN:
		snprintf(buf, len, "pid %d: no consistent snapshot (the process seems stopped "
				   "mid-update)", pid);
		break;
	default:
		snprintf(buf, len, "pid %d: %s", pid, strerror(-rc));
	}
	return buf;
}

static int stat_list(bool json, uint64_t interval_us, long count)
{
	struct listing l = {0};
	char buf[8192];
	uint64_t now;
	int rc = 0;

	for (long k = 0; count <= 0 || k < count; k++) {
		if (k) {
			sleep_us(interval_us);
			if (!json)
				printf("\n");
		}
		l.n = 0;
		rc = hy_export_list(collect, &l);
		if (rc < 0) {
			hy_error("cannot list the processes in /proc: %s", strerror(-rc));
			rc = 1;
			break;
		}
		rc = 0;
		now = hy_mono_ns(); /* the processes' ages: as of the walk */
		if (l.n) /* qsort(NULL, 0) is undefined (UBSan) */
			qsort(l.p, l.n, sizeof(*l.p), by_pid);
		if (json) {
			printf("[");
			for (size_t i = 0; i < l.n; i++) {
				size_t n = hy_export_format(&l.p[i], NULL, now, HY_EXPORT_JSON,
							    buf, sizeof(buf));
				while (n && buf[n - 1] == '\n')
					buf[--n] = 0;
				printf("%s%s", i ? ", " : "", buf);
			}
			printf("]\n");
		} else if (!l.n) {
			printf(geteuid() ? "no managed processes of this user\n"
					 : "no managed processes\n");
		} else {
			/* the user last: root's list holds every user's processes */
			hy_export_format(NULL, NULL, 0, HY_EXPORT_HEAD, buf, sizeof(buf));
			printf("%.*s %s\n", (int)strcspn(buf, "\n"), buf, "USER");
			for (size_t i = 0; i < l.n; i++) {
				const struct passwd *pw = getpwuid(l.p[i].uid);

				hy_export_format(&l.p[i], NULL, now, HY_EXPORT_ROW, buf, sizeof(buf));
				printf("%.*s ", (int)strcspn(buf, "\n"), buf);
				if (pw)
					printf("%s\n", pw->pw_name);
				else
					printf("%u\n", (unsigned)l.p[i].uid);
			}
		}
		fflush(stdout);
		if (!interval_us)
			break;
	}
	free(l.p);
	return rc;
}

/*
 * The tree PID shares memory with: every live entry with its tree id, one
 * row each, and the tree's line first (its shared memory as the member that
 * maps most of it counts it, and its lead).  JSON: {"tree", "processes",
 * "shared_bytes", "lead", "members": [the members' objects]}.
 */
static int stat_tree(int pid, bool json)
{
	struct listing l = {0};
	const struct hy_export_page *me = NULL;
	uint64_t tree, shared = 0, now;
	size_t n = 0;
	int lead = 0, rc;
	char buf[8192];

	rc = hy_export_list(collect, &l);
	if (rc < 0) {
		hy_error("cannot list the processes in /proc: %s", strerror(-rc));
		free(l.p);
		return 1;
	}
	if (l.n)
		qsort(l.p, l.n, sizeof(*l.p), by_pid);
	for (size_t i = 0; i < l.n; i++)
		if (l.p[i].pid == pid)
			me = &l.p[i];
	if (!me) {
		/* not in the list: say why, as stat PID would */
		struct hy_export_page one;

		rc = hy_export_read(pid, &one);
		hy_error("%s", rc ? read_error(pid, rc, buf, sizeof(buf))
				  : "the process ended while being read");
		free(l.p);
		return 1;
	}
	tree = me->cur.st.tree_id;
	if (!tree) {
		hy_error("pid %d shares no managed memory with other processes (no tree)", pid);
		free(l.p);
		return 1;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct hy_stats *st = &l.p[i].cur.st;

		if (st->tree_id != tree)
			continue;
		n++;
		if (st->shared_bytes > shared)
			shared = st->shared_bytes;
		if (st->lead_bytes && !lead)
			lead = l.p[i].pid;
	}
	now = hy_mono_ns();
	if (json) {
		printf("{\"tree\": \"%016llx\", \"processes\": %zu, \"shared_bytes\": %llu, "
		       "\"lead\": ",
		       (unsigned long long)tree, n, (unsigned long long)shared);
		printf(lead ? "%d" : "null", lead);
		printf(", \"members\": [");
		for (size_t i = 0, k = 0; i < l.n; i++) {
			size_t m;

			if (l.p[i].cur.st.tree_id != tree)
				continue;
			m = hy_export_format(&l.p[i], NULL, now, HY_EXPORT_JSON, buf, sizeof(buf));
			while (m && buf[m - 1] == '\n')
				buf[--m] = 0;
			printf("%s%s", k++ ? ", " : "", buf);
		}
		printf("]}\n");
	} else {
		char a[32], b[32];

		printf("tree %016llx: %zu processes, %s shared", (unsigned long long)tree, n,
		       hy_human_bytes((double)shared, a, sizeof(a)));
		if (lead)
			printf(", led by pid %d\n", lead);
		else
			printf(", no lead yet (chosen at the members' next epochs)\n");
		printf("%-8s %-16s %10s %10s %10s %10s %10s\n", "PID", "COMMAND", "SHARED", "LEADS",
		       "PROMOTED", "DEMOTED", "FAILED");
		for (size_t i = 0; i < l.n; i++) {
			const struct hy_stats *st = &l.p[i].cur.st;
			char cmd[sizeof(l.p[i].comm) + 1];

			if (st->tree_id != tree)
				continue;
			snprintf(cmd, sizeof(cmd), "%.*s", (int)sizeof(l.p[i].comm), l.p[i].comm);
			for (char *c = cmd; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					*c = '?';
			printf("%-8d %-16s %10s %10s %10llu %10llu %10llu\n", (int)l.p[i].pid, cmd,
			       hy_human_bytes((double)st->shared_bytes, a, sizeof(a)),
			       hy_human_bytes((double)st->lead_bytes, b, sizeof(b)),
			       (unsigned long long)st->promote_pages,
			       (unsigned long long)st->demote_pages,
			       (unsigned long long)(st->fail_busy + st->fail_access + st->fail_nomem +
						    st->fail_absent + st->fail_other));
		}
	}
	free(l.p);
	return 0;
}

/*
 * Lines of a screen, for -i's header every screen (vmstat's habit): $LINES
 * if set, else the terminal's, else 24.
 */
static long screen_lines(void)
{
	const char *e = getenv("LINES");
	struct winsize ws;
	char *end;
	long n;

	if (e && *e) {
		errno = 0;
		n = strtol(e, &end, 10);
		if (!errno && !*end && n > 0)
			return n;
	}
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row > 0)
		return ws.ws_row;
	return 24;
}

/*
 * One process: the full report once; with an interval (text) a title line,
 * then one row per interval, its column header again every screen (vmstat);
 * in JSON one object per report.
 */
static int stat_pid(int pid, bool json, uint64_t interval_us, long count)
{
	struct hy_export_page cur, prev;
	char buf[8192];
	bool have_prev = false, rows = interval_us && !json;
	long per_screen = screen_lines() - 1; /* a header line, then rows */

	if (per_screen < 1)
		per_screen = 1;
	for (long k = 0; count <= 0 || k < count; k++) {
		const struct hy_export_snap *since;
		uint64_t now;
		int rc;

		if (k)
			sleep_us(interval_us);
		rc = hy_export_read(pid, &cur);
		now = hy_mono_ns();
		if (rc && k && (rc == -ESRCH || rc == -ENOENT)) {
			fprintf(stderr, "hybridctl: pid %d ended\n", pid);
			return 0;
		}
		if (rc) {
			hy_error("%s", read_error(pid, rc, buf, sizeof(buf)));
			return 1;
		}
		/* rates over the interval, or over the last epoch if none passed */
		since = have_prev && prev.cur.mono_ns < cur.cur.mono_ns ? &prev.cur : NULL;
		if (rows) {
			hy_stat_row(&cur, since, now, k, per_screen, buf, sizeof(buf));
		} else {
			hy_export_format(&cur, since, now, json ? HY_EXPORT_JSON : HY_EXPORT_TEXT,
					 buf, sizeof(buf));
			fputs(buf, stdout);
		}
		fflush(stdout);
		if (!interval_us)
			break;
		prev = cur;
		have_prev = true;
	}
	return 0;
}

/* --plot: checked before anything is sampled; hy_stat_plot does the rest. */
static int stat_plot(int pid, const char *png, bool json, uint64_t interval_us, long count)
{
	struct hy_export_page first;
	char buf[512];
	int rc;

	if (!pid || json || !*png) {
		hy_error("stat --plot: %s; see hybridctl --help",
			 !pid ? "needs a PID" : json ? "not with --json" : "needs a file name");
		return EXIT_USAGE;
	}
	if (!hy_plot_have_gnuplot()) {
		hy_error("stat --plot needs gnuplot, which is not in PATH (Debian: apt-get install "
			 "gnuplot-nox)");
		return 1;
	}
	rc = hy_export_read(pid, &first);
	if (rc) {
		hy_error("%s", read_error(pid, rc, buf, sizeof(buf)));
		return 1;
	}
	return hy_stat_plot(pid, &first, png, interval_us ? interval_us : 1000000, count,
			    screen_lines() > 1 ? screen_lines() - 1 : 1);
}

static int stat_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"interval", required_argument, NULL, 'i'},
		{"count", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"plot", required_argument, NULL, 'p'},
		{"tree", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t interval_us = 0;
	long count = 0, pid = 0;
	const char *plot = NULL;
	bool json = false, tree = false;
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:c:jp:th", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (parse_interval(optarg, &interval_us)) {
				hy_error("stat --interval: invalid interval \"%s\"; expected seconds "
					 "(0.5, 2) or a duration (500ms), from 10ms to 1h", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || count < 1) {
				hy_error("stat --count: invalid count \"%s\"; expected a positive "
					 "integer", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'p':
			plot = optarg;
			break;
		case 't':
			tree = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			if (optopt == 'i' || optopt == 'c' || optopt == 'p')
				hy_error("stat: -%c needs a value; see hybridctl --help", optopt);
			else if (optopt)
				hy_error("stat: unknown option -%c; see hybridctl --help", optopt);
			else
				hy_error("stat: unknown option %s; see hybridctl --help",
					 argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc) {
		hy_error("stat: one PID at most (to run a program named stat: hybridctl -- stat ...)");
		return EXIT_USAGE;
	}
	if (optind < argc) {
		errno = 0;
		pid = strtol(argv[optind], &end, 10);
		if (errno || end == argv[optind] || *end || pid < 1 || pid > INT_MAX) {
			hy_error("stat: \"%s\" is not a process id (to run a program named stat: "
				 "hybridctl -- stat ...)", argv[optind]);
			return EXIT_USAGE;
		}
	}
	if (tree) {
		if (!pid || plot || interval_us || count) {
			hy_error("stat --tree: %s", !pid ? "needs a PID"
						  : "takes only --json beside it");
			return EXIT_USAGE;
		}
		return stat_tree((int)pid, json);
	}
	if (plot)
		return stat_plot((int)pid, plot, json, interval_us, count);
	if (count > 1 && !interval_us)
		interval_us = 1000000; /* vmstat's habit: a count alone means every second */
	if (!interval_us)
		count = 1;
	return pid ? stat_pid((int)pid, json, interval_us, count)
		   : stat_list(json, interval_us, count);
}

/* ---- the command line ---------------------------------------------------- */

/* What the command line asked for besides the table's options. */
struct cmdline {
	const char *root; /* --root */
	bool hardware, show;
	char **cmd; /* the command to run, or NULL */
};

/* getopt's tables: the option table's long names (kept in names for the
 * messages) and short letters, then our own options. */
static void getopt_tables(struct option *longopts, char names[][64], char *shortopts)
{
	int n = 0;

	for (int id = 0; id < HY_OPT_COUNT; id++) {
		const struct hy_opt_desc *o = &hy_options[id];

		/* --stats alone means stderr: its value is optional (--stats=FILE) */
		longopts[n++] = (struct option){hy_config_long_name(id, names[id], sizeof(names[id])),
						id == HY_OPT_STATS ? optional_argument
								   : required_argument,
						NULL, OPT_TABLE + id};
		if (o->shortopt) {
			size_t s = strlen(shortopts);
			shortopts[s] = o->shortopt;
			shortopts[s + 1] = ':';
			shortopts[s + 2] = 0;
		}
	}
	longopts[n++] = (struct option){"hardware", no_argument, NULL, OPT_HARDWARE};
	longopts[n++] = (struct option){"show", no_argument, NULL, OPT_SHOW};
	longopts[n++] = (struct option){"version", no_argument, NULL, OPT_VERSION};
	longopts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
	longopts[n++] = (struct option){"root", required_argument, NULL, OPT_ROOT};
	longopts[n] = (struct option){0};
}

/* What getopt stumbled on (its '?': optopt, or argv[optind - 1]), in one
 * line. */
static void option_error(char **argv, char names[][64], const char *shortopts)
{
	if (optopt >= OPT_TABLE && optopt < OPT_TABLE + HY_OPT_COUNT)
		hy_error("--%s needs a value; see hybridctl --help", names[optopt - OPT_TABLE]);
	else if (optopt == OPT_ROOT)
		hy_error("--root needs a value; see hybridctl --help");
	else if (optopt && strchr(shortopts, optopt))
		hy_error("-%c needs a value; see hybridctl --help", optopt);
	else if (optopt)
		hy_error("unknown option -%c; see hybridctl --help", optopt);
	else
		hy_error("unknown option %s; see hybridctl --help", argv[optind - 1]);
}

/* Option c of the table (its long or short form) set to optarg, from the
 * command line; 0, or -1 said on stderr. */
static int set_option(struct hy_config *cfg, int c, char names[][64])
{
	struct hy_err err;
	int id = -1;

	if (c >= OPT_TABLE && c < OPT_TABLE + HY_OPT_COUNT)
		id = c - OPT_TABLE;
	for (int i = 0; i < HY_OPT_COUNT && id < 0; i++)
		if (hy_options[i].shortopt == c)
			id = i;
	if (id < 0) {
		hy_error("unexpected option; see hybridctl --help");
		return -1;
	}
	if (hy_config_set(cfg, id, optarg ? optarg : "stderr", HY_SRC_CMDLINE, &err)) {
		hy_error("--%s: %s", names[id], err.msg);
		return -1;
	}
	return 0;
}

/*
 * The options: the environment's HYBRID_* first, the command line over
 * them, checked as a whole; our own options into cl.  -1 to go on, else
 * the exit status (--help and --version are done, a bad option or value
 * was said).
 */
static int parse_cmdline(int argc, char **argv, struct hy_config *cfg, struct cmdline *cl)
{
	struct option longopts[HY_OPT_COUNT + 8];
	char names[HY_OPT_COUNT][64], shortopts[3 * HY_OPT_COUNT + 16] = "+HsVh";
	struct hy_err err;
	int c;

	hy_config_defaults(cfg);
	if (hy_config_load_env_quiet(cfg, &err)) {
		hy_error("%s", err.msg);
		return EXIT_USAGE;
	}
	getopt_tables(longopts, names, shortopts);
	opterr = 0; /* our own messages: one line, exit 2 */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
		case OPT_HARDWARE:
			cl->hardware = true;
			continue;
		case 's':
		case OPT_SHOW:
			cl->show = true;
			continue;
		case 'V':
		case OPT_VERSION:
			printf("hybridctl (libhybrid) %s\n", VERSION);
			return 0;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_ROOT:
			cl->root = optarg;
			continue;
		case '?':
			option_error(argv, names, shortopts);
			return EXIT_USAGE;
		default:
			break;
		}
		if (set_option(cfg, c, names))
			return EXIT_USAGE;
	}
	if (hy_config_check(cfg, &err)) {
		hy_error("%s", err.msg);
		return EXIT_USAGE;
	}
	/* after the command line, which may name them in --ignore-names */
	hy_config_warn_unknown(cfg);
	if (optind < argc && (cl->show || cl->hardware || strcmp(cl->root, "/"))) {
		hy_error("--show, --hardware and --root take no command; see hybridctl --help");
		return EXIT_USAGE;
	}
	cl->cmd = optind < argc ? argv + optind : NULL;
	return -1;
}

/* What the command line asked for: --show, --hardware, or the command;
 * the exit status (launch returns only if the command could not run). */
static int run(struct hy_config *cfg, const struct cmdline *cl)
{
	struct hy_topo *topo;
	struct hy_err err;

	/* Explicit nodes are checked against the machine before anything runs. */
	topo = malloc(sizeof(*topo));
	if (!topo) {
		hy_error("out of memory");
		return 1;
	}
	if (hy_topo_discover(topo, cl->root, cfg, &err)) {
		hy_error("%s", err.msg);
		free(topo);
		return EXIT_USAGE;
	}
	if (cl->show)
		print_show(cfg);
	if (cl->hardware)
		print_hardware(topo);
	free(topo);
	if (cl->cmd)
		return launch(cfg, cl->cmd);
	if (!cl->show && !cl->hardware) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cmdline cl = {.root = "/"};
	struct hy_config cfg;
	int rc;

	hy_log_set_prefix("hybridctl");
	/* a subcommand only as the first word: "hybridctl -- stat" runs stat(1) */
	if (argc > 1 && !strcmp(argv[1], "stat"))
		return stat_main(argc - 1, argv + 1);
	rc = parse_cmdline(argc, argv, &cfg, &cl);
	return rc >= 0 ? rc : run(&cfg, &cl);
}
