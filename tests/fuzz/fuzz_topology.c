/* SPDX-License-Identifier: MIT */
/*
 * fuzz_topology — libFuzzer target for the sysfs reader (lib/topology.c).
 *
 * Input: records separated by '|'.  A record is [+]KEY CONTENT: KEY picks
 * one file of a small sysfs tree (table files[] below), CONTENT is written
 * to it (a later record for the same file wins); '+' repeats CONTENT up to
 * 9000 bytes, larger than any buffer of the reader.  Files without a record
 * do not exist.  KEY '=' is not a file but configuration: "name=value" lines
 * set through hy_config_set (bad lines are skipped).  A KEY not in the table
 * is taken modulo its size.  Example (a two-node machine, node 1 CPU-less):
 *
 *   o0-1|m0-1|c0|0Node 0 MemTotal: 8388608 kB
 *   Node 0 MemFree: 6291456 kB|1Node 1 MemTotal: ...|410 20|520 10|x0|z1
 *
 * The tree lives in one directory per process, hybrid-fuzz-topology.<pid>
 * on /dev/shm (else $TMPDIR or /tmp), and is rewritten for every input.  hy_topo_discover runs
 * over it with no configuration, with the defaults (must give the same
 * result), with fast_nodes=0 slow_nodes=1, with the loopback pair 0/0, and
 * with the input's own '=' configuration when hy_config_check accepts it.
 *
 * Invariants (abort() when broken): the return is 0 or a negative errno of
 * the documented set; on error err.msg is one non-empty line; on success
 * 1 <= ntiers <= HY_MAX_TIERS, every tier is non-empty and made of usable
 * nodes, tiers are disjoint unless loopback (and then equal or disjoint),
 * discovered tiers cover the usable nodes exactly, node.tier is the first
 * tier holding the node, demote_to of a node of tier k < last is a node of
 * tier k+1 and -1 in the last tier, tier totals add up, tiers are ordered
 * by the source's key (kernel tier, HMAT performance), and a refresh of free
 * memory from unchanged files changes nothing.
 *
 * FUZZ_VERBOSE=1 in the environment prints each discovery's result.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "topology.h"

/* CHECK: an invariant broken aborts, so that libFuzzer keeps the input */
#define HY_CHECK_ABORT
#include "../support.h"

#define NODE	    "sys/devices/system/node/"
#define TIER	    "sys/devices/virtual/memory_tiering/"
#define HMAT(n, a)  NODE "node" #n "/access0/initiators/" a
#define TREE_PREFIX "hybrid-fuzz-topology."
#define BIG	    9000 /* > 8192, the largest buffer of topology.c */

static const struct file {
	char key;
	const char *path;
} files[] = {
    {'o', NODE "online"},
    {'m', NODE "has_memory"},
    {'c', NODE "has_cpu"},
    {'0', NODE "node0/meminfo"},
    {'1', NODE "node1/meminfo"},
    {'2', NODE "node2/meminfo"},
    {'3', NODE "node3/meminfo"},
    {'4', NODE "node0/distance"},
    {'5', NODE "node1/distance"},
    {'6', NODE "node2/distance"},
    {'7', NODE "node3/distance"},
    {'A', HMAT(0, "read_latency")},
    {'B', HMAT(1, "read_latency")},
    {'C', HMAT(2, "read_latency")},
    {'D', HMAT(3, "read_latency")},
    {'E', HMAT(0, "write_latency")},
    {'F', HMAT(1, "write_latency")},
    {'G', HMAT(2, "write_latency")},
    {'H', HMAT(3, "write_latency")},
    {'I', HMAT(0, "read_bandwidth")},
    {'J', HMAT(1, "read_bandwidth")},
    {'K', HMAT(2, "read_bandwidth")},
    {'L', HMAT(3, "read_bandwidth")},
    {'M', HMAT(0, "write_bandwidth")},
    {'N', HMAT(1, "write_bandwidth")},
    {'O', HMAT(2, "write_bandwidth")},
    {'P', HMAT(3, "write_bandwidth")},
    {'x', TIER "memory_tier4/nodelist"},
    {'y', TIER "memory_tier8/nodelist"},
    {'z', TIER "memory_tier22/nodelist"},
    {'s', "proc/self/status"},
    {'=', NULL}, /* configuration */
};
#define NFILES (sizeof(files) / sizeof(files[0]))

/* Entries that are always there, for the directory scan to skip. */
static const char *const fixed_dirs[] = {TIER "memory_tier", TIER "memory_tierX", TIER "power"};

static char root[PATH_MAX];
static int rootfd = -1;
static bool verbose; /* FUZZ_VERBOSE=1: one line per discovery, to see what an input does */

static int mkdirs(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s", rel);
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdirat(rootfd, p, 0700) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void remove_tree(void)
{
	if (root[0])
		nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * The tree is <base>/hybrid-fuzz-topology.<pid>.  A crash (abort) skips
 * atexit, so each start removes the trees of processes that are gone.
 */
static void remove_stale_trees(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char *end;
		long pid;

		if (strncmp(e->d_name, TREE_PREFIX, strlen(TREE_PREFIX)))
			continue;
		pid = strtol(e->d_name + strlen(TREE_PREFIX), &end, 10);
		if (*end || pid <= 0)
			continue;
		if (pid != getpid() && !(kill((pid_t)pid, 0) && errno == ESRCH))
			continue; /* its process is alive */
		snprintf(root, sizeof(root), "%s/%s", base, e->d_name);
		remove_tree();
	}
	if (d)
		closedir(d);
	root[0] = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") && *getenv("FUZZ_VERBOSE") == '1';
	base = base ? base : "/tmp";
	remove_stale_trees(base);
	snprintf(root, sizeof(root), "%s/" TREE_PREFIX "%ld", base, (long)getpid());
	if (mkdir(root, 0700)) {
		perror("fuzz_topology: mkdir");
		exit(1);
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		perror("fuzz_topology: open");
		exit(1);
	}
	for (size_t i = 0; i < NFILES; i++)
		if (files[i].path && mkdirs(files[i].path)) {
			perror("fuzz_topology: mkdir");
			exit(1);
		}
	for (size_t i = 0; i < sizeof(fixed_dirs) / sizeof(fixed_dirs[0]); i++)
		mkdirat(rootfd, fixed_dirs[i], 0700);
	close(openat(rootfd, TIER "uevent", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	atexit(remove_tree);
	return 0;
}

static int file_index(uint8_t key)
{
	for (size_t i = 0; i < NFILES; i++)
		if (files[i].key == (char)key)
			return (int)i;
	return key % NFILES;
}

static void write_file(const char *path, const uint8_t *p, size_t n, bool big)
{
	static uint8_t bigbuf[BIG + 4096];
	int fd = openat(rootfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		abort();
	if (big) {
		size_t used = 0;
		do {
			for (size_t i = 0; i < n && used < sizeof(bigbuf); i++)
				bigbuf[used++] = p[i];
			if (!n)
				bigbuf[used++] = '0';
		} while (used < BIG);
		p = bigbuf;
		n = used;
	}
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

/*
 * Write the tree; returns the configuration text (NUL-terminated, malloc'd)
 * or NULL when the input has none.
 */
static char *write_tree(const uint8_t *data, size_t size)
{
	const uint8_t *rec[NFILES] = {0};
	size_t len[NFILES] = {0};
	bool big[NFILES] = {0};
	char *cfg = NULL;

	for (size_t pos = 0; pos < size;) {
		const uint8_t *end = memchr(data + pos, '|', size - pos);
		size_t stop = end ? (size_t)(end - data) : size, p = pos;
		bool b = false;

		if (p < stop && data[p] == '+') {
			b = true;
			p++;
		}
		if (p < stop) {
			int i = file_index(data[p]);
			rec[i] = data + p + 1;
			len[i] = stop - p - 1;
			big[i] = b;
		}
		pos = stop + 1;
	}
	for (size_t i = 0; i < NFILES; i++) {
		if (!files[i].path) {
			if (rec[i] && (cfg = malloc(len[i] + 1))) {
				memcpy(cfg, rec[i], len[i]);
				cfg[len[i]] = 0;
			}
			continue;
		}
		if (rec[i])
			write_file(files[i].path, rec[i], len[i], big[i]);
		else if (unlinkat(rootfd, files[i].path, 0) && errno != ENOENT)
			abort();
	}
	return cfg;
}

/* ---- invariants --------------------------------------------------------- */

static int node_index(const struct hy_topo *t, int id)
{
	for (int i = 0; i < t->nnodes; i++)
		if (t->node[i].id == id)
			return i;
	return -1;
}

static void check_error(int rc, const struct hy_err *err, const char *what)
{
	size_t n = strnlen(err->msg, sizeof(err->msg));

	CHECK(rc == -EINVAL || rc == -ENOENT || rc == -E2BIG,
	      "%s: hy_topo_discover returned %d (%s), not -EINVAL/-ENOENT/-E2BIG", what, rc,
	      strerror(-rc));
	CHECK(n > 0, "%s: error %d (%s) with an empty message", what, rc, strerror(-rc));
	CHECK(n < sizeof(err->msg), "%s: message not terminated", what);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)err->msg[i] >= 0x20 || err->msg[i] == '\t',
		      "%s: control character 0x%02x in message: %s", what,
		      (unsigned char)err->msg[i], err->msg);
}

/* HMAT latency and bandwidth of a node, or false if either is unknown. */
static bool perf(const struct hy_node *n, uint64_t *lat, uint64_t *bw)
{
	*lat = (uint64_t)n->read_latency + n->write_latency;
	*bw = (uint64_t)n->read_bandwidth + n->write_bandwidth;
	return *lat && *bw;
}

static void check_topo(const struct hy_topo *t, const struct hy_config *cfg, const char *what)
{
	struct hy_nodemask usable, all;
	bool in[HY_TOPO_MAX_NODES][HY_MAX_TIERS];

	CHECK(t->nnodes >= 1 && t->nnodes <= HY_TOPO_MAX_NODES, "%s: nnodes %d", what, t->nnodes);
	CHECK(t->ntiers >= 1 && t->ntiers <= HY_MAX_TIERS, "%s: ntiers %d", what, t->ntiers);
	hy_nm_zero(&usable);
	for (int i = 0; i < t->nnodes; i++) {
		const struct hy_node *n = &t->node[i];
		CHECK(n->id >= 0 && n->id < HY_MAX_NODES, "%s: node id %d", what, n->id);
		CHECK(i == 0 || n->id > t->node[i - 1].id, "%s: node ids not ascending", what);
		CHECK(n->allowed == hy_nm_isset(&t->mems_allowed, n->id), "%s: node %d allowed",
		      what, n->id);
		if (n->allowed)
			hy_nm_set(&usable, n->id);
		for (int j = 0; j < t->nnodes; j++)
			CHECK(t->dist[i][j] == 0 || t->dist[i][j] >= 10, "%s: distance %d", what,
			      t->dist[i][j]);
	}
	CHECK(!hy_nm_empty(&usable), "%s: success without a usable node", what);

	/* tiers: non-empty, usable nodes, disjoint unless loopback */
	hy_nm_zero(&all);
	for (int k = 0; k < t->ntiers; k++) {
		const struct hy_nodemask *tk = &t->tier[k].nodes;
		uint64_t total = 0, free_ = 0;

		CHECK(!hy_nm_empty(tk), "%s: tier %d of %d is empty", what, k, t->ntiers);
		CHECK(hy_nm_subset(tk, &usable), "%s: tier %d holds a node that is not usable",
		      what, k);
		for (int j = 0; j < k; j++) {
			const struct hy_nodemask *tj = &t->tier[j].nodes;
			if (!t->loopback)
				CHECK(!hy_nm_intersects(tj, tk),
				      "%s: tiers %d and %d overlap, loopback not set", what, j, k);
			else
				CHECK(!hy_nm_intersects(tj, tk) || hy_nm_equal(tj, tk),
				      "%s: loopback tiers %d and %d overlap without being equal",
				      what, j, k);
		}
		hy_nm_for_each(id, tk)
		{
			const struct hy_node *n = &t->node[node_index(t, id)];
			total += n->mem_total;
			free_ += n->mem_free;
		}
		CHECK(total == t->tier[k].mem_total && free_ == t->tier[k].mem_free,
		      "%s: tier %d totals do not add up", what, k);
		for (int i = 0; i < HY_MAX_NODES / 64; i++)
			all.bits[i] |= tk->bits[i];
	}
	for (int k = t->ntiers; k < HY_MAX_TIERS; k++)
		CHECK(hy_nm_empty(&t->tier[k].nodes), "%s: unused tier %d not empty", what, k);
	CHECK(!t->loopback || t->source == HY_TOPO_EXPLICIT, "%s: loopback from %s", what,
	      hy_topo_source_name(t->source));
	if (t->source != HY_TOPO_EXPLICIT) {
		CHECK(hy_nm_equal(&all, &usable), "%s: %s tiers do not cover the usable nodes",
		      what, hy_topo_source_name(t->source));
		CHECK((t->source == HY_TOPO_SINGLE) == (t->ntiers == 1), "%s: %d tiers from %s",
		      what, t->ntiers, hy_topo_source_name(t->source));
	} else {
		CHECK(cfg != NULL, "%s: explicit tiers without configuration", what);
		if (cfg->tiers.ntiers)
			CHECK(t->ntiers == cfg->tiers.ntiers, "%s: %d tiers configured, %d made",
			      what, cfg->tiers.ntiers, t->ntiers);
	}

	/* node.tier and demote_to */
	for (int i = 0; i < t->nnodes; i++) {
		const struct hy_node *n = &t->node[i];
		int first = -1, last_in = -1;

		for (int k = 0; k < t->ntiers; k++) {
			in[i][k] = hy_nm_isset(&t->tier[k].nodes, n->id);
			if (in[i][k]) {
				if (first < 0)
					first = k;
				last_in = k;
			}
		}
		CHECK(n->tier == first, "%s: node %d has tier %d, first tier holding it is %d",
		      what, n->id, n->tier, first);
		if (first < 0) {
			CHECK(n->demote_to == -1, "%s: unused node %d demotes to %d", what, n->id,
			      n->demote_to);
			continue;
		}
		if (!t->loopback) {
			if (first == t->ntiers - 1)
				CHECK(n->demote_to == -1,
				      "%s: node %d of the last tier demotes to %d", what, n->id,
				      n->demote_to);
			else
				CHECK(hy_nm_isset(&t->tier[first + 1].nodes, n->demote_to),
				      "%s: node %d of tier %d demotes to %d, not in tier %d", what,
				      n->id, first, n->demote_to, first + 1);
		} else {
			/* one node, several roles: it demotes into the tier after one of them */
			bool ok = false;
			for (int k = 0; k + 1 < t->ntiers; k++)
				ok |= in[i][k] && hy_nm_isset(&t->tier[k + 1].nodes, n->demote_to);
			if (last_in == t->ntiers - 1 && first == last_in)
				ok = n->demote_to == -1;
			CHECK(ok, "%s: loopback node %d (tiers %d..%d) demotes to %d", what, n->id,
			      first, last_in, n->demote_to);
		}
	}

	/* tiers follow the source's key */
	for (int i = 0; i < t->nnodes; i++)
		for (int j = 0; j < t->nnodes; j++) {
			const struct hy_node *a = &t->node[i], *b = &t->node[j];
			uint64_t la, ba, lb, bb;

			if (a->tier < 0 || b->tier < 0)
				continue;
			if (t->source == HY_TOPO_KERNEL_TIERS && a->kernel_tier < b->kernel_tier)
				CHECK(a->tier <= b->tier,
				      "%s: node %d (memory_tier%d) is in tier %d, slower than node "
				      "%d "
				      "(memory_tier%d) in tier %d",
				      what, a->id, a->kernel_tier, a->tier, b->id, b->kernel_tier,
				      b->tier);
			if (t->source == HY_TOPO_HMAT && perf(a, &la, &ba) && perf(b, &lb, &bb) &&
			    la <= lb && ba >= bb)
				CHECK(
				    a->tier <= b->tier,
				    "%s: node %d (latency %llu, bandwidth %llu) is in tier %d, "
				    "slower than node %d (latency %llu, bandwidth %llu) in tier %d",
				    what, a->id, (unsigned long long)la, (unsigned long long)ba,
				    a->tier, b->id, (unsigned long long)lb, (unsigned long long)bb,
				    b->tier);
		}
}

static struct hy_topo topo, topo2, refreshed;

/* Discover with cfg; check; returns rc (result in *t). */
static int discover(struct hy_topo *t, const struct hy_config *cfg, const char *what)
{
	struct hy_err err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = hy_topo_discover(t, root, cfg, &err);
	if (verbose) {
		char b[256];
		fprintf(stderr, "%s: ", what);
		if (rc)
			fprintf(stderr, "%d: %s\n", rc, err.msg);
		else
			for (int k = 0; k < t->ntiers; k++)
				fprintf(stderr, "%s%s%s", k ? " / " : "",
					hy_nm_format(&t->tier[k].nodes, b, sizeof(b)),
					k + 1 < t->ntiers ? "" : "\n");
	}
	if (rc) {
		check_error(rc, &err, what);
		return rc;
	}
	check_topo(t, cfg, what);
	return 0;
}

static void set_opt(struct hy_config *c, int id, const char *v)
{
	struct hy_err err;

	if (hy_config_set(c, id, v, HY_SRC_ENV, &err))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hy_config cfg;
	char *text = write_tree(data, size);
	int rc, rc2;

	/* no configuration, and the defaults: the same */
	rc = discover(&topo, NULL, "no configuration");
	hy_config_defaults(&cfg);
	rc2 = discover(&topo2, &cfg, "default configuration");
	CHECK(rc == rc2, "discover: %d without configuration, %d with the defaults", rc, rc2);
	if (!rc) {
		CHECK(!memcmp(&topo, &topo2, sizeof(topo)),
		      "the defaults discover differently from no configuration");
		refreshed = topo;
		CHECK(hy_topo_refresh_free(&refreshed) == 0, "refresh failed on unchanged files");
		CHECK(!memcmp(&refreshed, &topo, sizeof(topo)),
		      "refresh changed the topology though no file changed");
	}

	/* fixed explicit configurations */
	hy_config_defaults(&cfg);
	set_opt(&cfg, HY_OPT_FAST_NODES, "0");
	set_opt(&cfg, HY_OPT_SLOW_NODES, "1");
	discover(&topo, &cfg, "fast_nodes=0 slow_nodes=1");
	set_opt(&cfg, HY_OPT_SLOW_NODES, "0");
	discover(&topo, &cfg, "fast_nodes=0 slow_nodes=0");

	/* the input's configuration */
	if (text) {
		char *save = NULL;
		hy_config_defaults(&cfg);
		for (char *line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(line, '=');
			struct hy_err err;
			int id;

			if (!eq)
				continue;
			*eq = 0;
			id = hy_config_lookup(line);
			if (id >= 0)
				(void)hy_config_set(&cfg, id, eq + 1, HY_SRC_ENV, &err);
		}
		if (!hy_config_check(&cfg, NULL))
			discover(&topo, &cfg, "configuration from the input");
		free(text);
	}
	return 0;
}
