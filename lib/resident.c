/* SPDX-License-Identifier: MIT */
/*
 * resident — see resident.h.
 */
#include "resident.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernel_compat.h"
#include "os.h"

#define RES_VEC	  512	/* runs per PAGEMAP_SCAN call */
#define RES_SLICE 65536 /* pages per mincore call (64 KiB of answers) */

void hy_res_init(struct hy_resident *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

void hy_res_close(struct hy_resident *r)
{
	/* after fork the fd is the parent's file, but ours to close -- if the
	 * program has not closed it and taken the number for a file of its own */
	if (r->fd >= 0 && hy_fd_is(r->fd, NULL, "/pagemap"))
		close(r->fd);
	hy_os_free(r->buf, r->buf_len);
	hy_res_init(r);
}

void hy_res_check(struct hy_resident *r)
{
	if (r->fd >= 0 && !hy_fd_is(r->fd, NULL, "/pagemap"))
		r->fd = -1; /* the program's number now: forgotten, opened anew */
}

/* The buffer, and the pagemap file of this process (again after fork). */
static int prepare(struct hy_resident *r)
{
	size_t want = RES_VEC * sizeof(struct page_region);

	if (want < RES_SLICE)
		want = RES_SLICE;
	if (!r->buf) {
		r->buf = hy_os_alloc(want);
		if (!r->buf)
			return -ENOMEM;
		r->buf_len = want;
	}
	if (r->scan >= 0 && (r->fd < 0 || r->pid != getpid())) {
		if (r->fd >= 0)
			close(r->fd);
		r->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		r->pid = getpid();
		if (r->fd < 0)
			r->scan = -1;
	}
	return 0;
}

/* PAGEMAP_SCAN; -ENOTTY/-EINVAL: the kernel has none (the caller falls back). */
static int by_scan(struct hy_resident *r, uintptr_t a, uintptr_t end, hy_res_fn fn, void *arg)
{
	struct page_region *vec = r->buf;

	while (a < end) {
		struct pm_scan_arg sa = {
		    .size = sizeof(sa),
		    .start = a,
		    .end = end,
		    .vec = (uintptr_t)vec,
		    .vec_len = RES_VEC,
		    .category_mask = PAGE_IS_PRESENT,
		    .return_mask = PAGE_IS_PRESENT | PAGE_IS_HUGE,
		};
		long k = hy_sys_ioctl(r->fd, PAGEMAP_SCAN, &sa);

		if (k < 0)
			return -errno;
		for (long i = 0; i < k; i++) {
			int rc = fn(arg, vec[i].start, vec[i].end, vec[i].categories & PAGE_IS_HUGE);
			if (rc)
				return rc;
		}
		if (sa.walk_end <= a)
			return -EIO; /* no progress: never loop */
		a = sa.walk_end;
	}
	return 0;
}

/* mincore, a slice at a time: one byte per page (kernels before 6.7). */
static int by_mincore(struct hy_resident *r, uintptr_t a, uintptr_t end, hy_res_fn fn, void *arg)
{
	unsigned char *v = r->buf;
	uintptr_t run = 0;
	bool in = false;

	while (a < end) {
		size_t n = (end - a) >> HY_PAGE_SHIFT;

		if (n > RES_SLICE)
			n = RES_SLICE;
		if (mincore((void *)a, n << HY_PAGE_SHIFT, v))
			return -errno;
		for (size_t i = 0; i < n; i++, a += HY_PAGE_SIZE) {
			bool p = v[i] & 1;
			int rc;

			if (p && !in)
				run = a;
			else if (!p && in && (rc = fn(arg, run, a, false)))
				return rc;
			in = p;
		}
	}
	return in ? fn(arg, run, end, false) : 0;
}

int hy_res_scan(struct hy_resident *r, uintptr_t start, uintptr_t end, hy_res_fn fn, void *arg)
{
	int rc = prepare(r);

	if (rc)
		return rc;
	if (r->scan >= 0) {
		rc = by_scan(r, start, end, fn, arg);
		if (rc != -ENOTTY && rc != -EINVAL) {
			r->scan = 1;
			return rc;
		}
		if (r->scan == 1)
			return rc; /* it worked before: a real error */
		r->scan = -1; /* no PAGEMAP_SCAN here */
		close(r->fd);
		r->fd = -1;
	}
	return by_mincore(r, start, end, fn, arg);
}
