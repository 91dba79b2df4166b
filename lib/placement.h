/* SPDX-License-Identifier: MIT */
/*
 * placement — where new memory of a managed range goes (MPOL_HYBRID, done
 * with the kernel's existing policies).
 *
 * A hybrid range prefers the slowest tier's nodes nearest the process; a
 * HOT range the fastest tier's.  "Preferred", not "bind": when those nodes
 * are full the kernel falls back to others instead of failing or swapping.
 * MPOL_PREFERRED_MANY takes the whole set where the kernel has it (5.15);
 * elsewhere MPOL_PREFERRED takes its first node.  The policy applies to
 * pages faulted in after it is set; pages already present stay where they
 * are (the migrator moves them).
 *
 * A range where the program set a policy of its own (mbind, set_mempolicy,
 * numactl) is the program's: placement leaves it alone.
 */
#ifndef HY_PLACEMENT_H
#define HY_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "nodemask.h"
#include "topology.h"

/*
 * The nodes of tier `tier` nearest the process: those at the smallest
 * distance from a node with CPUs the process may use.  Empty if the tier
 * does not exist.
 */
void hy_place_nodes(const struct hy_topo *t, int tier, struct hy_nodemask *out);

/*
 * Make [addr, addr+len) prefer `nodes`.  preferred_many: the kernel has
 * MPOL_PREFERRED_MANY (kfeat).  Returns 0 or -errno from mbind.
 */
int hy_place_range(void *addr, size_t len, const struct hy_nodemask *nodes, bool preferred_many);

/* Give [addr, addr+len) the default policy back (a range we stop managing,
 * or failed to).  0 or -errno from mbind. */
int hy_place_reset(void *addr, size_t len);

/*
 * Does the program have its own policy for the page at addr (or, failing a
 * VMA policy, for the process)?  Our own placements are recognised and do
 * not count: ours_nodes is what we would have set (may be NULL).
 */
bool hy_place_foreign_policy(void *addr, const struct hy_nodemask *ours_nodes);

#endif
