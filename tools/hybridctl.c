/* SPDX-License-Identifier: MIT */
/*
 * hybridctl — the numactl-style face of libhybrid.
 *
 *   hybridctl --hardware        the tiers of this machine and the kernel
 *                               features libhybrid can use
 *   hybridctl [options] --show  the effective options and where each came from
 *   hybridctl [options] [--] command [args...]
 *                               run command hybrid (needs the preload layer)
 *
 * Every long option comes from the library's option table (config.h): the
 * launcher, the environment and the API share one parser.  The environment's
 * HYBRID_* variables are read first and the command line overrides them.
 * Any bad option or value: one line on stderr and exit 2, before anything
 * is started.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hybrid.h"
#include "config.h"
#include "kfeat.h"
#include "log.h"
#include "topology.h"

#define EXIT_USAGE 2

/* The launcher does not link libhybrid.so, so it carries its own copy of the
 * version, from the same header. */
#define STR_(x) #x
#define STR(x)	STR_(x)
#define VERSION STR(HYBRID_VERSION_MAJOR) "." STR(HYBRID_VERSION_MINOR) "." STR(HYBRID_VERSION_PATCH)

/* getopt values: our own options from 0x100, table options at OPT_TABLE + id
 * (so that 0, which getopt uses for "unknown long option", is no option). */
enum { OPT_HARDWARE = 0x100, OPT_SHOW, OPT_VERSION, OPT_HELP, OPT_ROOT, OPT_TABLE = 0x200 };

static void usage(FILE *f)
{
	char l[64], acc[256];

	fprintf(f, "usage: hybridctl [options] [--] command [args...]\n"
		   "       hybridctl [options] --show\n"
		   "       hybridctl --hardware\n"
		   "\n"
		   "  -H, --hardware        show tiers, nodes and kernel features\n"
		   "  -s, --show            show the effective options and their sources\n"
		   "  -V, --version         print the version\n"
		   "  -h, --help            this help\n"
		   "      --root=DIR        read sysfs and proc below DIR (for testing)\n"
		   "\n"
		   "options (each also as environment variable HYBRID_<NAME>):\n");
	for (int id = 0; id < HY_OPT_COUNT; id++) {
		const struct hy_opt_desc *o = &hy_options[id];
		char sh[8] = "    ";

		if (o->shortopt)
			snprintf(sh, sizeof(sh), "-%c, ", o->shortopt);
		fprintf(f, "  %s--%s=%s\n        %s\n        (%s)\n", sh,
			hy_config_long_name(id, l, sizeof(l)), hy_type_name(o->type), o->help,
			hy_config_accepts(id, acc, sizeof(acc)));
	}
}

/* "23.4 GiB": for people, not for parsing. */
static const char *human(unsigned long long b, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

static void print_hardware(const struct hy_topo *t)
{
	struct hy_kfeat kf;
	char a[128], b[32], c[32];
	const char *why;

	printf("libhybrid %s: hardware\n", VERSION);
	printf("memory nodes: %d\n", t->nnodes);
	for (int i = 0; i < t->nnodes; i++) {
		const struct hy_node *n = &t->node[i];

		printf("node %d: %s, %s total, %s free", n->id, n->has_cpu ? "cpus" : "no cpus",
		       human(n->mem_total, b, sizeof(b)), human(n->mem_free, c, sizeof(c)));
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
		       human(t->tier[k].mem_total, b, sizeof(b)),
		       human(t->tier[k].mem_free, c, sizeof(c)));
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
	printf("tracking backend (auto): %s", hy_kfeat_backend(&kf, &why));
	if (why)
		printf(" (%s)", why);
	printf("\n");
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

int main(int argc, char **argv)
{
	struct option longopts[HY_OPT_COUNT + 8];
	char names[HY_OPT_COUNT][64], shortopts[3 * HY_OPT_COUNT + 16] = "+HsVh";
	struct hy_config cfg;
	struct hy_topo *topo;
	struct hy_err err;
	const char *root = "/";
	bool hardware = false, show = false;
	int n = 0, c;

	hy_log_set_prefix("hybridctl");
	hy_config_defaults(&cfg);
	if (hy_config_load_env(&cfg, &err)) {
		hy_error("%s", err.msg);
		return EXIT_USAGE;
	}

	for (int id = 0; id < HY_OPT_COUNT; id++) {
		const struct hy_opt_desc *o = &hy_options[id];

		longopts[n++] = (struct option){hy_config_long_name(id, names[id], sizeof(names[id])),
						required_argument, NULL, OPT_TABLE + id};
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

	opterr = 0; /* our own messages: one line, exit 2 */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int id = -1;

		switch (c) {
		case 'H':
		case OPT_HARDWARE:
			hardware = true;
			continue;
		case 's':
		case OPT_SHOW:
			show = true;
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
			root = optarg;
			continue;
		case '?':
			if (optopt >= OPT_TABLE && optopt < OPT_TABLE + HY_OPT_COUNT)
				hy_error("--%s needs a value; see hybridctl --help",
					 names[optopt - OPT_TABLE]);
			else if (optopt == OPT_ROOT)
				hy_error("--root needs a value; see hybridctl --help");
			else if (optopt && strchr(shortopts, optopt))
				hy_error("-%c needs a value; see hybridctl --help", optopt);
			else if (optopt)
				hy_error("unknown option -%c; see hybridctl --help", optopt);
			else
				hy_error("unknown option %s; see hybridctl --help", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			break;
		}
		if (c >= OPT_TABLE && c < OPT_TABLE + HY_OPT_COUNT)
			id = c - OPT_TABLE;
		for (int i = 0; i < HY_OPT_COUNT && id < 0; i++)
			if (hy_options[i].shortopt == c)
				id = i;
		if (id < 0) {
			hy_error("unexpected option; see hybridctl --help");
			return EXIT_USAGE;
		}
		if (hy_config_set(&cfg, id, optarg, HY_SRC_CMDLINE, &err)) {
			hy_error("--%s: %s", names[id], err.msg);
			return EXIT_USAGE;
		}
	}
	if (hy_config_check(&cfg, &err)) {
		hy_error("%s", err.msg);
		return EXIT_USAGE;
	}

	/* Explicit nodes are checked against the machine before anything runs. */
	topo = malloc(sizeof(*topo));
	if (!topo) {
		hy_error("out of memory");
		return 1;
	}
	if (hy_topo_discover(topo, root, &cfg, &err)) {
		hy_error("%s", err.msg);
		free(topo);
		return EXIT_USAGE;
	}
	if (show)
		print_show(&cfg);
	if (hardware)
		print_hardware(topo);
	free(topo);
	if (optind < argc) {
		hy_error("running a command needs libhybrid's preload layer, which is not built "
			 "yet; --hardware and --show work");
		return EXIT_USAGE;
	}
	if (!show && !hardware) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}
