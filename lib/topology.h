/* SPDX-License-Identifier: MIT */
/*
 * topology — the memory tiers of this machine, as this process may use them.
 *
 * Tiers are ordered fastest first; each is a set of NUMA nodes with memory.
 * The first source that answers wins (DESIGN.md §3):
 *   1. explicit configuration (tiers, or fast_nodes/slow_nodes);
 *   2. the kernel's memory tiers (sys/devices/virtual/memory_tiering), when
 *      they show more than one tier among our nodes;
 *   3. HMAT performance (nodeN/access0/initiators/{read,write}_{latency,
 *      bandwidth}), grouped with the kernel's own abstract-distance rule;
 *   4. CPU-less memory nodes as slower tiers, ordered by numa distance;
 *   5. one tier.
 * Only nodes with memory that the process's cpuset allows (Mems_allowed)
 * take part.  Every node but those of the slowest tier gets a demotion
 * target: its nearest node one tier down.
 *
 * Everything is read below a root directory given by the caller ("/" on a
 * live system, a fixture tree in tests): <root>/sys/devices/system/node,
 * <root>/sys/devices/virtual/memory_tiering and <root>/proc/self/status.
 * Reading uses open/read/getdents64 into stack buffers, never the heap, so
 * discovery can run before main in a preloaded process.
 */
#ifndef HY_TOPOLOGY_H
#define HY_TOPOLOGY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "nodemask.h"

/* Memory nodes handled; a machine with more gets a clear error. */
#define HY_TOPO_MAX_NODES 128

enum hy_topo_source {
	HY_TOPO_EXPLICIT,
	HY_TOPO_KERNEL_TIERS,
	HY_TOPO_HMAT,
	HY_TOPO_CPULESS,
	HY_TOPO_SINGLE,
};

struct hy_node {
	int id;
	bool has_cpu;
	bool allowed;		 /* in Mems_allowed */
	uint64_t mem_total;	 /* bytes */
	uint64_t mem_free;	 /* bytes, at the last refresh */
	uint32_t read_latency;	 /* ns, HMAT; 0 = unknown */
	uint32_t write_latency;
	uint32_t read_bandwidth; /* MB/s, HMAT; 0 = unknown */
	uint32_t write_bandwidth;
	int kernel_tier;	 /* N of memory_tierN, -1 = not shown */
	int tier;		 /* index into hy_topo.tier, -1 = not used */
	int demote_to;		 /* node id, -1 = none (slowest tier) */
};

struct hy_tier {
	struct hy_nodemask nodes;
	uint64_t mem_total, mem_free;
};

struct hy_topo {
	int nnodes; /* memory nodes, ascending id */
	struct hy_node node[HY_TOPO_MAX_NODES];
	uint8_t dist[HY_TOPO_MAX_NODES][HY_TOPO_MAX_NODES]; /* by index into node[] */
	struct hy_nodemask mems_allowed;
	int ntiers;
	struct hy_tier tier[HY_MAX_TIERS];
	enum hy_topo_source source;
	bool loopback;	   /* the same nodes named as more than one tier */
	int kernel_ntiers; /* kernel memory tiers holding memory nodes; 0 = none shown */
	bool has_hmat;	   /* some node has HMAT attributes */
	char root[PATH_MAX];
};

/*
 * Discover the tiers below root ("/" or NULL for the live system), honouring
 * the explicit tier options of cfg (may be NULL).  Returns 0, or -EINVAL /
 * -ENOENT / -E2BIG with one line in err: a malformed or truncated sysfs file
 * (named), an explicit node that does not exist or is outside the cpuset,
 * too many nodes.
 */
int hy_topo_discover(struct hy_topo *t, const char *root, const struct hy_config *cfg,
		     struct hy_err *err);

/* Re-read free memory of every node (cheap: one small file per node). */
int hy_topo_refresh_free(struct hy_topo *t);

/* The node record of node id, or NULL. */
const struct hy_node *hy_topo_node(const struct hy_topo *t, int id);

/* Numa distance between two node ids (10 = local), 0 if unknown. */
int hy_topo_distance(const struct hy_topo *t, int from, int to);

const char *hy_topo_source_name(enum hy_topo_source src);

#endif
