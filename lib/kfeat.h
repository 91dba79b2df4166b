/* SPDX-License-Identifier: MIT */
/*
 * kfeat — which kernel features this process can use, found by trying them
 * (a throwaway userfaultfd, a one-page PAGEMAP_SCAN, a one-page mbind),
 * never by reading the kernel version.  DESIGN.md §5 lists what each
 * feature gates and the fallback when it is missing.
 */
#ifndef HY_KFEAT_H
#define HY_KFEAT_H

#include <stdbool.h>
#include <stdint.h>

struct hy_kfeat {
	bool probed;		/* hy_kfeat_probe has filled this in */
	bool uffd;		/* a userfaultfd could be created */
	bool uffd_kernel_faults; /* ... that also takes faults raised in system calls */
	const char *uffd_how;	/* "userfaultfd(2)", "/dev/userfaultfd", "user-mode-only" */
	int uffd_errno;		/* why not, when !uffd */
	uint64_t uffd_features; /* UFFDIO_API answer */
	bool wp;		/* UFFD_FEATURE_PAGEFAULT_FLAG_WP */
	bool wp_shmem;		/* WP_HUGETLBFS_SHMEM */
	bool wp_unpopulated;
	bool wp_async;
	bool pagemap_scan;
	bool rwp;		/* UFFD_FEATURE_RWP: read-write protection (7.3) */
	bool rwp_async;		/* UFFD_FEATURE_RWP_ASYNC */
	bool pagemap_accessed;	/* PAGEMAP_SCAN knows PAGE_IS_ACCESSED */
	int unpriv_sysctl;	/* vm.unprivileged_userfaultfd, -1 unknown */
	bool dev_userfaultfd;	/* /dev/userfaultfd exists */
	bool dev_userfaultfd_ok; /* ... and we may open it */
	bool memory_tiers;	/* /sys/devices/virtual/memory_tiering */
	bool preferred_many;	/* MPOL_PREFERRED_MANY accepted by mbind */
	bool move_all;		/* move_pages may move pages other processes map
				 * (MPOL_MF_MOVE_ALL: CAP_SYS_NICE) */
};

void hy_kfeat_probe(struct hy_kfeat *k);

/*
 * The tracking backend auto would pick, with the reason when it is "off".
 * Returns "rwp", "async", "sync" or "off".
 */
const char *hy_kfeat_backend(const struct hy_kfeat *k, const char **why);

/* The rwp backend's needs: RWP, RWP_ASYNC and PAGE_IS_ACCESSED. */
static inline bool hy_kfeat_rwp(const struct hy_kfeat *k)
{
	return k->uffd && k->rwp && k->rwp_async && k->pagemap_scan && k->pagemap_accessed;
}

#endif
