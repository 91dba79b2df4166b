/* SPDX-License-Identifier: MIT */
/*
 * kernel_compat — kernel ABI newer than the build machine's headers.
 *
 * Debian 12 ships 6.1 uapi headers; memfd's MFD_NOEXEC_SEAL (6.3),
 * userfaultfd's WP_UNPOPULATED (6.4), WP_ASYNC (6.7), the pagemap
 * PAGEMAP_SCAN ioctl (6.7) and read-write protection (RWP, 7.3:
 * Documentation/admin-guide/mm/userfaultfd.rst, "Read-Write Protection", and
 * pagemap.rst's PAGE_IS_ACCESSED) are newer.  The values are ABI and cannot
 * change; features are still detected at run time, never assumed from these
 * definitions.
 */
#ifndef HY_KERNEL_COMPAT_H
#define HY_KERNEL_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* Read-write protection (7.3).  UFFDIO_API with RWP asked for on a kernel
 * without it fails with EINVAL and a zeroed reply: probe with features 0. */
#ifndef UFFD_FEATURE_RWP
#define UFFD_FEATURE_RWP       ((__u64)1 << 17)
#define UFFD_FEATURE_RWP_ASYNC ((__u64)1 << 18)
#endif
#ifndef UFFDIO_REGISTER_MODE_RWP
#define UFFDIO_REGISTER_MODE_RWP ((__u64)1 << 3)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_RWP
#define UFFD_PAGEFAULT_FLAG_RWP (1 << 3)
#endif
#ifndef UFFDIO_RWPROTECT
#define _UFFDIO_RWPROTECT 0x09
struct uffdio_rwprotect {
	struct uffdio_range range;
	__u64 mode;
};
#define UFFDIO_RWPROTECT_MODE_RWP      ((__u64)1 << 0) /* protect; clear: release */
#define UFFDIO_RWPROTECT_MODE_DONTWAKE ((__u64)1 << 1)
#define UFFDIO_RWPROTECT	       _IOWR(UFFDIO, _UFFDIO_RWPROTECT, struct uffdio_rwprotect)
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN	  (1 << 1)
#define PAGE_IS_FILE	  (1 << 2)
#define PAGE_IS_PRESENT	  (1 << 3)
#define PAGE_IS_SWAPPED	  (1 << 4)
#define PAGE_IS_PFNZERO	  (1 << 5)
#define PAGE_IS_HUGE	  (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef PAGE_IS_ACCESSED
/* 7.3: in a VMA registered with MODE_RWP, a page whose protection an
 * access has cleared (present or swapped since); never set elsewhere. */
#define PAGE_IS_ACCESSED (1 << 9)
#endif

#ifndef MPOL_PREFERRED_MANY
#define MPOL_PREFERRED_MANY 5
#endif

/* memfd_create's "never executable" (6.3): the memfd is made mode 0666 and
 * sealed against exec; a kernel before 6.3 refuses the flag (EINVAL). */
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#endif
