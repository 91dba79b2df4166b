/* SPDX-License-Identifier: MIT */
#include "placement.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_compat.h"
#include "fault.h"

/* numaif.h values, spelled here so the core needs no libnuma (whose
 * initialisation allocates from the heap). */
#define HY_MPOL_DEFAULT	  0
#define HY_MPOL_PREFERRED 1
#define HY_MPOL_F_ADDR	  (1 << 1)

void hy_place_nodes(const struct hy_topo *t, int tier, struct hy_nodemask *out)
{
	int best = 256;

	hy_nm_zero(out);
	if (tier < 0 || tier >= t->ntiers)
		return;
	/* distance of each node of the tier to the nearest usable CPU node */
	for (int pass = 0; pass < 2; pass++) {
		hy_nm_for_each(id, &t->tier[tier].nodes)
		{
			int d = 256;
			for (int j = 0; j < t->nnodes; j++) {
				const struct hy_node *c = &t->node[j];
				int dist = hy_topo_distance(t, c->id, id);
				if (c->has_cpu && c->allowed && dist && dist < d)
					d = dist;
			}
			if (pass == 0 && d < best)
				best = d;
			else if (pass == 1 && d == best)
				hy_nm_set(out, id);
		}
	}
}

int hy_place_range(void *addr, size_t len, const struct hy_nodemask *nodes, bool preferred_many)
{
	struct hy_nodemask m;
	int mode = preferred_many ? MPOL_PREFERRED_MANY : HY_MPOL_PREFERRED;

	if (hy_nm_empty(nodes))
		return -EINVAL;
	if (preferred_many) {
		m = *nodes;
	} else {
		hy_nm_zero(&m);
		hy_nm_set(&m, hy_nm_next(nodes, -1));
	}
	/* maxnode counts bits, plus one for the kernel's historic off-by-one */
	if ((errno = hy_fault(HY_FAULT_MBIND)) ||
	    syscall(SYS_mbind, addr, len, mode, m.bits, (unsigned long)HY_MAX_NODES + 1, 0) < 0)
		return -errno;
	return 0;
}

int hy_place_reset(void *addr, size_t len)
{
	return syscall(SYS_mbind, addr, len, HY_MPOL_DEFAULT, NULL, 0, 0) < 0 ? -errno : 0;
}

bool hy_place_foreign_policy(void *addr, const struct hy_nodemask *ours_nodes)
{
	struct hy_nodemask m;
	int mode = HY_MPOL_DEFAULT;

	hy_nm_zero(&m);
	if (syscall(SYS_get_mempolicy, &mode, m.bits, (unsigned long)HY_MAX_NODES + 1, addr,
		    HY_MPOL_F_ADDR) < 0)
		return false;
	/* MPOL_F_ADDR gives the VMA's policy, or the process's when the VMA
	 * has none; mode flags ride in the high bits */
	mode &= 0xff;
	if (mode == HY_MPOL_DEFAULT)
		return false;
	if (ours_nodes && (mode == MPOL_PREFERRED_MANY || mode == HY_MPOL_PREFERRED) &&
	    hy_nm_subset(&m, ours_nodes))
		return false;
	return true;
}
