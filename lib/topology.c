/* SPDX-License-Identifier: MIT */
/*
 * topology — tier discovery.  See topology.h for the rules; this file only
 * reads sysfs and groups nodes.
 */
#include "topology.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NODE_DIR "/sys/devices/system/node"
#define TIER_DIR "/sys/devices/virtual/memory_tiering"

/* The kernel's abstract distance of DRAM and its tier chunk (memory-tiers.h):
 * we group HMAT nodes exactly as the kernel would. */
#define MEMTIER_CHUNK_BITS    7
#define MEMTIER_ADISTANCE_DRAM ((4 << MEMTIER_CHUNK_BITS) + (1 << (MEMTIER_CHUNK_BITS - 1)))

const char *hy_topo_source_name(enum hy_topo_source src)
{
	switch (src) {
	case HY_TOPO_EXPLICIT:
		return "configuration";
	case HY_TOPO_KERNEL_TIERS:
		return "kernel memory tiers";
	case HY_TOPO_HMAT:
		return "HMAT performance";
	case HY_TOPO_CPULESS:
		return "CPU-less nodes by distance";
	case HY_TOPO_SINGLE:
		return "single tier";
	}
	return "?";
}

/*
 * Read root+path into buf (NUL-terminated, trailing newline removed).
 * Returns the length, -ENOENT if absent, -E2BIG if the file does not fit
 * (a sysfs file we cannot read whole is one we must not half-parse).
 */
static int read_text(const struct hy_topo *t, const char *path, char *buf, size_t len)
{
	char full[PATH_MAX + 256];
	size_t used = 0;
	int fd;

	snprintf(full, sizeof(full), "%s%s", t->root, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf + used, len - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == len - 1) {
			close(fd);
			return -E2BIG;
		}
	}
	close(fd);
	buf[used] = 0;
	while (used && (buf[used - 1] == '\n' || buf[used - 1] == ' '))
		buf[--used] = 0;
	return (int)used;
}

static int bad_file(const struct hy_topo *t, struct hy_err *err, const char *path, const char *buf,
		    const char *what)
{
	char shown[48];
	size_t i;

	for (i = 0; buf && buf[i] && i < sizeof(shown) - 1; i++)
		shown[i] = isprint((unsigned char)buf[i]) ? buf[i] : '?';
	shown[i] = 0;
	hy_err_set(err, "cannot parse %s%s: %s (read \"%s\")", t->root, path, what, shown);
	return -EINVAL;
}

/* A node list file; empty means no node. */
/*
 * read_text() for a small sysfs file, with the failure said in err: too
 * long is malformed (-EINVAL), absent is -ENOENT (callers decide whether
 * that matters), anything else is named.
 */
static int read_small(const struct hy_topo *t, const char *path, char *buf, size_t len,
		      struct hy_err *err)
{
	int n = read_text(t, path, buf, len);

	if (n == -E2BIG)
		return bad_file(t, err, path, NULL, "longer than the reader's buffer");
	if (n < 0 && n != -ENOENT)
		hy_err_set(err, "cannot read %s%s: %s", t->root, path, strerror(-n));
	return n;
}

static int read_nodelist(const struct hy_topo *t, const char *path, struct hy_nodemask *m,
			 struct hy_err *err)
{
	char buf[4096];
	int n = read_small(t, path, buf, sizeof(buf), err);

	if (n < 0)
		return n;
	if (!n) {
		hy_nm_zero(m);
		return 0;
	}
	if (hy_parse_nodelist(buf, m))
		return bad_file(t, err, path, buf, "not a node list");
	return 0;
}

/* An unsigned number file ("123"); -ENOENT passes through. */
static int read_u32(const struct hy_topo *t, const char *path, uint32_t *out, struct hy_err *err)
{
	char buf[64];
	int64_t v;
	int n = read_small(t, path, buf, sizeof(buf), err);

	if (n < 0)
		return n;
	if (hy_parse_int(buf, 0, UINT32_MAX, &v))
		return bad_file(t, err, path, buf, "not a number");
	*out = (uint32_t)v;
	return 0;
}

static int node_index(const struct hy_topo *t, int id)
{
	for (int i = 0; i < t->nnodes; i++)
		if (t->node[i].id == id)
			return i;
	return -1;
}

const struct hy_node *hy_topo_node(const struct hy_topo *t, int id)
{
	int i = node_index(t, id);
	return i < 0 ? NULL : &t->node[i];
}

int hy_topo_distance(const struct hy_topo *t, int from, int to)
{
	int a = node_index(t, from), b = node_index(t, to);
	return a < 0 || b < 0 ? 0 : t->dist[a][b];
}

/* "Node 0 MemTotal:  123 kB" lines. */
static int read_meminfo(struct hy_topo *t, struct hy_node *n, struct hy_err *err)
{
	char path[128], buf[4096];
	bool got_total = false, got_free = false;
	int rc;

	snprintf(path, sizeof(path), NODE_DIR "/node%d/meminfo", n->id);
	rc = read_text(t, path, buf, sizeof(buf));
	if (rc < 0) {
		hy_err_set(err, "cannot read %s%s: %s", t->root, path, strerror(-rc));
		return rc == -E2BIG ? -EINVAL : rc;
	}
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		char key[32];
		int node;
		unsigned long long kb;

		if (nl)
			*nl = 0;
		if (sscanf(line, "Node %d %31[A-Za-z_()]: %llu kB", &node, key, &kb) == 3 &&
		    node == n->id) {
			if (!strcmp(key, "MemTotal")) {
				n->mem_total = kb * 1024;
				got_total = true;
			} else if (!strcmp(key, "MemFree")) {
				n->mem_free = kb * 1024;
				got_free = true;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!got_total || !got_free)
		return bad_file(t, err, path, buf, "no MemTotal/MemFree line for this node");
	return 0;
}

int hy_topo_refresh_free(struct hy_topo *t)
{
	struct hy_err err;
	int rc = 0;

	for (int i = 0; i < t->nnodes; i++)
		if (read_meminfo(t, &t->node[i], &err))
			rc = -EIO;
	for (int k = 0; k < t->ntiers; k++) {
		t->tier[k].mem_free = 0;
		hy_nm_for_each(id, &t->tier[k].nodes)
		{
			const struct hy_node *n = hy_topo_node(t, id);
			if (n)
				t->tier[k].mem_free += n->mem_free;
		}
	}
	return rc;
}

/* nodeN/distance lists distances to every online node, in online order. */
static int read_distances(struct hy_topo *t, const struct hy_nodemask *online, struct hy_err *err)
{
	for (int i = 0; i < t->nnodes; i++) {
		char path[128], buf[4096];
		const char *p = buf;
		int col = -1, rc;

		snprintf(path, sizeof(path), NODE_DIR "/node%d/distance", t->node[i].id);
		rc = read_text(t, path, buf, sizeof(buf));
		if (rc < 0) {
			hy_err_set(err, "cannot read %s%s: %s", t->root, path, strerror(-rc));
			return rc == -E2BIG ? -EINVAL : rc;
		}
		hy_nm_for_each(id, online)
		{
			char *end;
			unsigned long d;

			while (*p == ' ')
				p++;
			if (!isdigit((unsigned char)*p))
				return bad_file(t, err, path, buf, "fewer distances than online nodes");
			d = strtoul(p, &end, 10);
			if (d < 10 || d > 255)
				return bad_file(t, err, path, buf, "distance outside 10..255");
			p = end;
			col = node_index(t, id);
			if (col >= 0)
				t->dist[i][col] = (uint8_t)d;
		}
		while (*p == ' ')
			p++;
		if (*p)
			return bad_file(t, err, path, buf, "more distances than online nodes");
	}
	return 0;
}

/* HMAT attributes are optional; a present but malformed one is an error. */
static int read_hmat(struct hy_topo *t, struct hy_node *n, struct hy_err *err)
{
	static const char *const attr[] = {"read_latency", "write_latency", "read_bandwidth",
					   "write_bandwidth"};
	uint32_t *dst[] = {&n->read_latency, &n->write_latency, &n->read_bandwidth,
			   &n->write_bandwidth};

	for (int a = 0; a < 4; a++) {
		char path[160];
		int rc;

		snprintf(path, sizeof(path), NODE_DIR "/node%d/access0/initiators/%s", n->id,
			 attr[a]);
		rc = read_u32(t, path, dst[a], err);
		if (rc == -EINVAL)
			return rc;
		if (!rc && *dst[a])
			t->has_hmat = true;
	}
	return 0;
}

/* Entries of a directory, by getdents64 (opendir would malloc). */
typedef int (*dirent_fn)(struct hy_topo *t, const char *name, struct hy_err *err);

static int for_each_dirent(struct hy_topo *t, const char *path, dirent_fn fn, struct hy_err *err)
{
	char full[PATH_MAX + 64];
	char buf[4096] __attribute__((aligned(8)));
	int fd, rc = 0;

	snprintf(full, sizeof(full), "%s%s", t->root, path);
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0)
				rc = -errno;
			break;
		}
		for (long off = 0; off < n && !rc;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			const char *name = buf + off + 19;
			if (name[0] != '.')
				rc = fn(t, name, err);
			off += reclen;
		}
		if (rc)
			break;
	}
	close(fd);
	return rc;
}

static int kernel_tier_entry(struct hy_topo *t, const char *name, struct hy_err *err)
{
	struct hy_nodemask m;
	char path[PATH_MAX];
	int64_t id;
	int rc;

	if (strncmp(name, "memory_tier", 11) || hy_parse_int(name + 11, 0, INT32_MAX, &id))
		return 0; /* "power", "uevent", ... */
	snprintf(path, sizeof(path), TIER_DIR "/%s/nodelist", name);
	rc = read_nodelist(t, path, &m, err);
	if (rc == -EINVAL)
		return rc;
	if (rc < 0)
		return 0; /* a tier directory without nodelist: nothing to learn */
	hy_nm_for_each(nid, &m)
	{
		int i = node_index(t, nid);
		if (i >= 0)
			t->node[i].kernel_tier = (int)id;
	}
	return 0;
}

/* Mems_allowed_list of <root>/proc/self/status; absent means all nodes. */
static int read_mems_allowed(struct hy_topo *t, struct hy_err *err)
{
	char buf[8192];
	const char *key = "Mems_allowed_list:";
	char *p;
	int rc = read_text(t, "/proc/self/status", buf, sizeof(buf));

	memset(&t->mems_allowed, 0xff, sizeof(t->mems_allowed));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		hy_err_set(err, "cannot read %s/proc/self/status: %s", t->root, strerror(-rc));
		return rc;
	}
	p = strstr(buf, key);
	if (!p)
		return 0;
	p += strlen(key);
	while (*p == ' ' || *p == '\t')
		p++;
	char *nl = strchr(p, '\n');
	if (nl)
		*nl = 0;
	if (hy_parse_nodelist(p, &t->mems_allowed))
		return bad_file(t, err, "/proc/self/status", p, "Mems_allowed_list is not a node list");
	return 0;
}

/* ---- grouping -------------------------------------------------------------- */

/*
 * Group the usable nodes into tiers by a key per node (smaller key = faster):
 * equal keys share a tier.  Beyond HY_MAX_TIERS the slowest groups merge.
 * Returns the number of tiers written to out[].
 */
static int tiers_from_keys(const struct hy_topo *t, const int64_t *key,
			   const struct hy_nodemask *usable, struct hy_tier *out)
{
	int64_t last = INT64_MIN;
	int ntiers = 0;

	memset(out, 0, sizeof(*out) * HY_MAX_TIERS);
	for (;;) {
		int64_t next = INT64_MAX;
		bool found = false;

		for (int i = 0; i < t->nnodes; i++)
			if (hy_nm_isset(usable, t->node[i].id) && key[i] > last && key[i] <= next) {
				next = key[i];
				found = true;
			}
		if (!found)
			break;
		if (ntiers < HY_MAX_TIERS)
			ntiers++;
		for (int i = 0; i < t->nnodes; i++)
			if (hy_nm_isset(usable, t->node[i].id) && key[i] == next)
				hy_nm_set(&out[ntiers - 1].nodes, t->node[i].id);
		last = next;
	}
	return ntiers;
}

static void clear_tiers(struct hy_topo *t)
{
	memset(t->tier, 0, sizeof(t->tier));
	t->ntiers = 0;
}

/* Check an explicitly named node set against the machine and the cpuset. */
static int check_explicit(const struct hy_topo *t, const struct hy_config *cfg, int opt,
			  const struct hy_nodemask *named, const struct hy_nodemask *usable,
			  struct hy_nodemask *out, struct hy_err *err)
{
	char name[64], list[256];

	/* "all" means every usable node, not a claim that 1024 nodes exist */
	if (hy_nm_weight(named) == HY_MAX_NODES) {
		*out = *usable;
		return 0;
	}
	hy_nm_for_each(id, named)
	{
		const struct hy_node *n = hy_topo_node(t, id);
		if (!n) {
			hy_err_set(err, "%s: node %d does not exist or has no memory (memory nodes: %s)",
				   hy_config_spelling(cfg, opt, name, sizeof(name)), id,
				   hy_nm_format(usable, list, sizeof(list)));
			return -EINVAL;
		}
		if (!n->allowed) {
			hy_err_set(err, "%s: node %d is outside this process's cpuset (Mems_allowed %s)",
				   hy_config_spelling(cfg, opt, name, sizeof(name)), id,
				   hy_nm_format(&t->mems_allowed, list, sizeof(list)));
			return -EINVAL;
		}
	}
	*out = *named;
	return 0;
}

static int tiers_explicit(struct hy_topo *t, const struct hy_config *cfg,
			  const struct hy_nodemask *usable, struct hy_err *err)
{
	const struct hy_nodemask *fast = &cfg->fast_nodes, *slow = &cfg->slow_nodes;
	int rc;

	clear_tiers(t);
	if (cfg->tiers.ntiers) {
		for (int k = 0; k < cfg->tiers.ntiers; k++)
			if ((rc = check_explicit(t, cfg, HY_OPT_TIERS, &cfg->tiers.tier[k], usable,
						 &t->tier[k].nodes, err)))
				return rc;
		t->ntiers = cfg->tiers.ntiers;
	} else {
		struct hy_nodemask f, s;

		if ((rc = !hy_nm_empty(fast) ? check_explicit(t, cfg, HY_OPT_FAST_NODES, fast,
							      usable, &f, err)
					     : 0))
			return rc;
		if ((rc = !hy_nm_empty(slow) ? check_explicit(t, cfg, HY_OPT_SLOW_NODES, slow,
							      usable, &s, err)
					     : 0))
			return rc;
		/* One side named: the other is every other usable node. */
		if (hy_nm_empty(fast) || hy_nm_empty(slow)) {
			struct hy_nodemask *named = hy_nm_empty(fast) ? &s : &f;
			struct hy_nodemask *other = hy_nm_empty(fast) ? &f : &s;
			hy_nm_zero(other);
			hy_nm_for_each(id, usable)
			{
				if (!hy_nm_isset(named, id))
					hy_nm_set(other, id);
			}
		}
		if (!hy_nm_empty(&f))
			t->tier[t->ntiers++].nodes = f;
		if (!hy_nm_empty(&s))
			t->tier[t->ntiers++].nodes = s;
	}
	for (int k = 1; k < t->ntiers; k++)
		if (hy_nm_equal(&t->tier[k].nodes, &t->tier[k - 1].nodes))
			t->loopback = true;
	t->source = HY_TOPO_EXPLICIT;
	return 0;
}

static bool tiers_kernel(struct hy_topo *t, const struct hy_nodemask *usable)
{
	int64_t key[HY_TOPO_MAX_NODES];
	struct hy_nodemask shown;

	hy_nm_zero(&shown);
	for (int i = 0; i < t->nnodes; i++) {
		key[i] = t->node[i].kernel_tier;
		if (key[i] >= 0 && hy_nm_isset(usable, t->node[i].id))
			hy_nm_set(&shown, t->node[i].id);
	}
	/* every usable node must be placed by the kernel, or we cannot trust it */
	if (!hy_nm_equal(&shown, usable))
		return false;
	t->ntiers = tiers_from_keys(t, key, usable, t->tier);
	t->source = HY_TOPO_KERNEL_TIERS;
	return t->ntiers > 1;
}

static bool tiers_hmat(struct hy_topo *t, const struct hy_nodemask *usable)
{
	int64_t key[HY_TOPO_MAX_NODES];
	uint64_t ref_lat = 0, ref_bw = 0;

	/*
	 * Every usable node needs data, or nodes cannot be compared.  The
	 * reference is the fastest node with CPUs (the kernel's
	 * default_dram_perf), or the fastest node if none has CPUs.
	 */
	for (int pass = 0; pass < 2 && !ref_lat && !ref_bw; pass++)
		for (int i = 0; i < t->nnodes; i++) {
			const struct hy_node *n = &t->node[i];
			uint64_t lat = (uint64_t)n->read_latency + n->write_latency;
			uint64_t bw = (uint64_t)n->read_bandwidth + n->write_bandwidth;

			if (!hy_nm_isset(usable, n->id))
				continue;
			if (!lat && !bw)
				return false;
			if (pass == 0 && !n->has_cpu)
				continue;
			if ((!ref_lat && !ref_bw) || (lat && ref_lat && lat < ref_lat) ||
			    (!lat && bw > ref_bw)) {
				ref_lat = lat;
				ref_bw = bw;
			}
		}
	for (int i = 0; i < t->nnodes; i++) {
		const struct hy_node *n = &t->node[i];
		uint64_t lat = (uint64_t)n->read_latency + n->write_latency;
		uint64_t bw = (uint64_t)n->read_bandwidth + n->write_bandwidth;
		uint64_t adist = MEMTIER_ADISTANCE_DRAM;

		if (!hy_nm_isset(usable, n->id)) {
			key[i] = -1;
			continue;
		}
		/* mt_perf_to_adistance(): adist scales with latency and inversely
		 * with bandwidth, relative to DRAM. */
		/* 128-bit: an extreme latency or bandwidth ratio must not wrap */
		unsigned __int128 ad = adist;
		if (lat && ref_lat)
			ad = ad * lat / ref_lat;
		if (bw && ref_bw)
			ad = ad * ref_bw / bw;
		ad >>= MEMTIER_CHUNK_BITS;
		key[i] = ad > INT64_MAX ? INT64_MAX : (int64_t)ad;
	}
	t->ntiers = tiers_from_keys(t, key, usable, t->tier);
	t->source = HY_TOPO_HMAT;
	return t->ntiers > 1;
}

static bool tiers_cpuless(struct hy_topo *t, const struct hy_nodemask *usable)
{
	int64_t key[HY_TOPO_MAX_NODES];
	bool any_cpu = false, any_cpuless = false;

	for (int i = 0; i < t->nnodes; i++) {
		if (!hy_nm_isset(usable, t->node[i].id))
			continue;
		any_cpu |= t->node[i].has_cpu;
		any_cpuless |= !t->node[i].has_cpu;
	}
	if (!any_cpu || !any_cpuless)
		return false;
	for (int i = 0; i < t->nnodes; i++) {
		int best = 256;

		key[i] = 0;
		if (t->node[i].has_cpu)
			continue;
		/* slower = farther from the nearest node with CPUs */
		for (int j = 0; j < t->nnodes; j++)
			if (t->node[j].has_cpu && t->dist[j][i] && t->dist[j][i] < best)
				best = t->dist[j][i];
		key[i] = best;
	}
	t->ntiers = tiers_from_keys(t, key, usable, t->tier);
	t->source = HY_TOPO_CPULESS;
	return t->ntiers > 1;
}

static void assign_demotion(struct hy_topo *t)
{
	for (int i = 0; i < t->nnodes; i++) {
		t->node[i].tier = -1;
		t->node[i].demote_to = -1;
	}
	for (int k = 0; k < t->ntiers; k++) {
		t->tier[k].mem_total = t->tier[k].mem_free = 0;
		hy_nm_for_each(id, &t->tier[k].nodes)
		{
			int i = node_index(t, id);
			if (t->node[i].tier < 0)
				t->node[i].tier = k; /* loopback: the fastest role */
			t->tier[k].mem_total += t->node[i].mem_total;
			t->tier[k].mem_free += t->node[i].mem_free;
		}
	}
	for (int k = 0; k + 1 < t->ntiers; k++) {
		hy_nm_for_each(id, &t->tier[k].nodes)
		{
			int i = node_index(t, id), best = -1, bestd = 256;

			hy_nm_for_each(to, &t->tier[k + 1].nodes)
			{
				int d = to == id ? 0 : t->dist[i][node_index(t, to)];
				if (d < bestd) { /* ties: lowest id, by iteration order */
					bestd = d;
					best = to;
				}
			}
			t->node[i].demote_to = best;
		}
	}
}

/* The node lists of the node directory: online nodes, those with memory,
 * those with CPUs (older kernels lack the last two: then every online one). */
static int read_node_lists(struct hy_topo *t, struct hy_nodemask *online,
			   struct hy_nodemask *memory, struct hy_nodemask *cpus, struct hy_err *err)
{
	int rc = read_nodelist(t, NODE_DIR "/online", online, err);

	if (rc == -ENOENT) {
		hy_err_set(err, "%s" NODE_DIR "/online is missing: kernel without NUMA support?",
			   t->root);
		return rc;
	}
	if (rc)
		return rc;
	rc = read_nodelist(t, NODE_DIR "/has_memory", memory, err);
	if (rc == -ENOENT)
		*memory = *online; /* kernels before 2.6.36 */
	else if (rc)
		return rc;
	rc = read_nodelist(t, NODE_DIR "/has_cpu", cpus, err);
	if (rc == -ENOENT)
		*cpus = *online;
	else if (rc)
		return rc;
	return 0;
}

/* One entry per online memory node, with its memory and HMAT figures;
 * *usable: those the process's cpuset allows. */
static int add_nodes(struct hy_topo *t, const struct hy_nodemask *online,
		     const struct hy_nodemask *memory, const struct hy_nodemask *cpus,
		     struct hy_nodemask *usable, struct hy_err *err)
{
	int rc;

	hy_nm_zero(usable);
	hy_nm_for_each(id, memory)
	{
		struct hy_node *n;

		if (!hy_nm_isset(online, id))
			continue;
		if (t->nnodes == HY_TOPO_MAX_NODES) {
			hy_err_set(err, "more than %d memory nodes; libhybrid handles at most %d",
				   HY_TOPO_MAX_NODES, HY_TOPO_MAX_NODES);
			return -E2BIG;
		}
		n = &t->node[t->nnodes++];
		n->id = id;
		n->has_cpu = hy_nm_isset(cpus, id);
		n->allowed = hy_nm_isset(&t->mems_allowed, id);
		n->kernel_tier = -1;
		n->tier = n->demote_to = -1;
		if ((rc = read_meminfo(t, n, err)) || (rc = read_hmat(t, n, err)))
			return rc;
		if (n->allowed)
			hy_nm_set(usable, id);
	}
	if (!t->nnodes) {
		hy_err_set(err, "%s" NODE_DIR ": no online node with memory", t->root);
		return -EINVAL;
	}
	if (hy_nm_empty(usable)) {
		char a[128];
		hy_err_set(err, "no memory node is in this process's cpuset (Mems_allowed %s)",
			   hy_nm_format(&t->mems_allowed, a, sizeof(a)));
		return -EINVAL;
	}
	return 0;
}

/* How many tiers the kernel shows for our nodes, for --hardware. */
static void count_kernel_tiers(struct hy_topo *t)
{
	int64_t key[HY_TOPO_MAX_NODES] = {0};
	struct hy_tier scratch[HY_MAX_TIERS];
	struct hy_nodemask shown;

	hy_nm_zero(&shown);
	for (int i = 0; i < t->nnodes; i++) {
		key[i] = t->node[i].kernel_tier;
		if (key[i] >= 0)
			hy_nm_set(&shown, t->node[i].id);
	}
	t->kernel_ntiers = tiers_from_keys(t, key, &shown, scratch);
}

/* The tiers, from the first source that answers (topology.h). */
static int choose_tiers(struct hy_topo *t, const struct hy_config *cfg,
			const struct hy_nodemask *usable, struct hy_err *err)
{
	if (cfg && (cfg->tiers.ntiers || !hy_nm_empty(&cfg->fast_nodes) ||
		    !hy_nm_empty(&cfg->slow_nodes)))
		return tiers_explicit(t, cfg, usable, err);
	if (!tiers_kernel(t, usable) && !tiers_hmat(t, usable) && !tiers_cpuless(t, usable)) {
		clear_tiers(t);
		t->tier[0].nodes = *usable;
		t->ntiers = 1;
		t->source = HY_TOPO_SINGLE;
	}
	return 0;
}

int hy_topo_discover(struct hy_topo *t, const char *root, const struct hy_config *cfg,
		     struct hy_err *err)
{
	struct hy_nodemask online, memory, cpus, usable;
	int rc;

	memset(t, 0, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "%s", root && strcmp(root, "/") ? root : "");
	if ((rc = read_node_lists(t, &online, &memory, &cpus, err)) ||
	    (rc = read_mems_allowed(t, err)) ||
	    (rc = add_nodes(t, &online, &memory, &cpus, &usable, err)) ||
	    (rc = read_distances(t, &online, err)))
		return rc;
	rc = for_each_dirent(t, TIER_DIR, kernel_tier_entry, err);
	if (rc == -EINVAL)
		return rc;
	count_kernel_tiers(t);
	if ((rc = choose_tiers(t, cfg, &usable, err)))
		return rc;
	assign_demotion(t);
	return 0;
}
