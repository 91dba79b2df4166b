/* SPDX-License-Identifier: MIT */
#include "kfeat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_compat.h"
#include "os.h"

static int uffd_open(int flags)
{
	return (int)syscall(SYS_userfaultfd, flags | O_CLOEXEC | O_NONBLOCK);
}

static int dev_uffd_open(struct hy_kfeat *k)
{
	int dev, fd;

	k->dev_userfaultfd = access("/dev/userfaultfd", F_OK) == 0;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	k->dev_userfaultfd_ok = true;
	fd = hy_sys_ioctl(dev, USERFAULTFD_IOC_NEW, (void *)(long)(O_CLOEXEC | O_NONBLOCK));
	close(dev);
	return fd;
}

static void probe_uffd(struct hy_kfeat *k)
{
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	int fd, e;

	/*
	 * Full userfaultfd (faults from kernel mode too) comes from the
	 * syscall when privileged or allowed by the sysctl, else from
	 * /dev/userfaultfd; user-mode-only is the unprivileged last resort.
	 */
	fd = uffd_open(0);
	e = errno;
	k->uffd_how = "userfaultfd(2)";
	if (fd < 0) {
		fd = dev_uffd_open(k);
		k->uffd_how = "/dev/userfaultfd";
	} else {
		k->dev_userfaultfd = access("/dev/userfaultfd", F_OK) == 0;
		k->dev_userfaultfd_ok = access("/dev/userfaultfd", R_OK | W_OK) == 0;
	}
	k->uffd_kernel_faults = fd >= 0;
	if (fd < 0) {
		fd = uffd_open(UFFD_USER_MODE_ONLY);
		k->uffd_how = "userfaultfd(2), user-mode only";
	}
	if (fd < 0) {
		k->uffd_errno = e;
		k->uffd_how = "unavailable";
		return;
	}
	/* UFFDIO_API with no features requested reports all it supports. */
	if (hy_sys_ioctl(fd, UFFDIO_API, &api) == 0) {
		k->uffd = true;
		k->uffd_features = api.features;
		k->wp = api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP;
		k->wp_shmem = api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
		k->wp_unpopulated = api.features & UFFD_FEATURE_WP_UNPOPULATED;
		k->wp_async = api.features & UFFD_FEATURE_WP_ASYNC;
		k->rwp = api.features & UFFD_FEATURE_RWP;
		k->rwp_async = api.features & UFFD_FEATURE_RWP_ASYNC;
	} else {
		k->uffd_errno = errno;
	}
	close(fd);
}

/* A page to try things on, mapped with the raw system call: in a
 * preloaded process libc's mmap is our own wrapper (preload.c). */
static void *probe_page(size_t len)
{
	return hy_sys_map(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void probe_pagemap_scan(struct hy_kfeat *k)
{
	long psz = sysconf(_SC_PAGESIZE);
	struct page_region vec[1];
	void *p;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	p = probe_page((size_t)psz);
	if (p) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = (uintptr_t)p,
			.end = (uintptr_t)p + (uintptr_t)psz,
			.vec = (uintptr_t)vec,
			.vec_len = 1,
			.category_anyof_mask = PAGE_IS_PRESENT,
			.return_mask = PAGE_IS_PRESENT,
		};
		/* Kernels without the ioctl answer ENOTTY; anything else means
		 * the ioctl exists. */
		k->pagemap_scan = hy_sys_ioctl(fd, PAGEMAP_SCAN, &arg) >= 0 || errno != ENOTTY;
		/* A category the kernel does not know is EINVAL (7.3 added
		 * PAGE_IS_ACCESSED). */
		arg.category_anyof_mask = PAGE_IS_ACCESSED;
		arg.return_mask = PAGE_IS_ACCESSED;
		k->pagemap_accessed = k->pagemap_scan && hy_sys_ioctl(fd, PAGEMAP_SCAN, &arg) >= 0;
		hy_sys_munmap(p, (size_t)psz);
	}
	close(fd);
}

static void probe_preferred_many(struct hy_kfeat *k)
{
	unsigned long allowed[16] = {0}, mask[16] = {0};
	long psz = sysconf(_SC_PAGESIZE);
	int node = -1;
	void *p;

	/* get_mempolicy(MPOL_F_MEMS_ALLOWED) */
	if (syscall(SYS_get_mempolicy, NULL, allowed, 1024, NULL, 4) < 0)
		return;
	for (int i = 0; i < 1024 && node < 0; i++)
		if (allowed[i / 64] >> (i % 64) & 1)
			node = i;
	if (node < 0)
		return;
	mask[node / 64] = 1UL << (node % 64);
	p = probe_page((size_t)psz);
	if (!p)
		return;
	k->preferred_many = syscall(SYS_mbind, p, psz, MPOL_PREFERRED_MANY, mask, 1024, 0) == 0;
	hy_sys_munmap(p, (size_t)psz);
}

void hy_kfeat_probe(struct hy_kfeat *k)
{
	char buf[16] = "";
	int fd;

	memset(k, 0, sizeof(*k));
	k->unpriv_sysctl = -1;
	fd = open("/proc/sys/vm/unprivileged_userfaultfd", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) > 0)
			k->unpriv_sysctl = buf[0] - '0';
		close(fd);
	}
	probe_uffd(k);
	probe_pagemap_scan(k);
	probe_preferred_many(k);
	/* move_pages of no page checks MPOL_MF_MOVE_ALL's CAP_SYS_NICE and
	 * nothing else (kernel_move_pages: EPERM before any page) */
	k->move_all = syscall(SYS_move_pages, 0, 0UL, NULL, NULL, NULL, 1 << 2) == 0;
	k->memory_tiers = access("/sys/devices/virtual/memory_tiering", F_OK) == 0;
	k->probed = true;
}

const char *hy_kfeat_backend(const struct hy_kfeat *k, const char **why)
{
	*why = NULL;
	if (!k->uffd) {
		*why = "userfaultfd is unavailable to this process";
		return "off";
	}
	if (hy_kfeat_rwp(k))
		return "rwp";
	if (!k->wp) {
		*why = "the kernel has no userfaultfd write protection (needs 5.7)";
		return "off";
	}
	if (k->wp_async && k->pagemap_scan)
		return "async";
	if (k->uffd_kernel_faults)
		return "sync";
	*why = "no WP_ASYNC/PAGEMAP_SCAN (6.7), and the sync backend needs a userfaultfd that "
	       "takes faults inside system calls (root, vm.unprivileged_userfaultfd=1 or "
	       "/dev/userfaultfd)";
	return "off";
}
