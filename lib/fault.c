/* SPDX-License-Identifier: MIT */
/* fault — see fault.h.  Only in builds with HYBRID_FAULT_INJECTION. */
#ifdef HYBRID_FAULT_INJECTION
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

static const char *const site_name[HY_FAULT_NSITES] = {
	"move_pages", "move_status", "uffd_open", "uffd_ioctl",
	"pagemap_scan", "mbind", "mmap", "os_alloc", "memfd",
};

static const struct {
	const char *name;
	int err;
} errnos[] = {
	{"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EIO", EIO},	  {"EBADF", EBADF},
	{"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES}, {"EFAULT", EFAULT},
	{"EBUSY", EBUSY},   {"EEXIST", EEXIST}, {"EINVAL", EINVAL}, {"ENOSPC", ENOSPC},
	{"ENOSYS", ENOSYS}, {"ENOTTY", ENOTTY},
};

static struct {
	int err;
	unsigned permille;
	uint64_t rng;
	unsigned long hits;
} sites[HY_FAULT_NSITES];

int hy_fault(enum hy_fault_site s)
{
	uint64_t x, old;
	unsigned p = __atomic_load_n(&sites[s].permille, __ATOMIC_RELAXED);

	if (!p)
		return 0;
	if (p < 1000) {
		old = __atomic_load_n(&sites[s].rng, __ATOMIC_RELAXED);
		do {
			x = old ? old : 0x9e3779b97f4a7c15ull + s;
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		} while (!__atomic_compare_exchange_n(&sites[s].rng, &old, x, false,
						      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
		if (x % 1000 >= p)
			return 0;
	}
	__atomic_fetch_add(&sites[s].hits, 1, __ATOMIC_RELAXED);
	return sites[s].err;
}

void hy_fault_set(enum hy_fault_site s, int err, unsigned permille)
{
	sites[s].err = err;
	sites[s].rng = 0;
	__atomic_store_n(&sites[s].permille, err ? (permille > 1000 ? 1000 : permille) : 0,
			 __ATOMIC_RELEASE);
}

void hy_fault_clear(void)
{
	for (int s = 0; s < HY_FAULT_NSITES; s++) {
		hy_fault_set(s, 0, 0);
		sites[s].hits = 0;
	}
}

unsigned long hy_fault_count(enum hy_fault_site s)
{
	return __atomic_load_n(&sites[s].hits, __ATOMIC_RELAXED);
}

/* "site=ERRNO[:PERMILLE],..." — parsed without allocating (runs before main). */
int hy_fault_load_env(void)
{
	const char *v = getenv("LIBHYBRID_TEST_FAULTS");
	int err[HY_FAULT_NSITES] = {0};
	unsigned rate[HY_FAULT_NSITES] = {0};

	while (v && *v) {
		size_t n = strcspn(v, "="), en;
		int s = -1, e = 0;
		unsigned long r = 1000;
		char *end;

		for (int i = 0; i < HY_FAULT_NSITES; i++)
			if (strlen(site_name[i]) == n && !strncmp(v, site_name[i], n))
				s = i;
		if (s < 0 || v[n] != '=')
			return -EINVAL;
		v += n + 1;
		en = strcspn(v, ":,");
		for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
			if (strlen(errnos[i].name) == en && !strncmp(v, errnos[i].name, en))
				e = errnos[i].err;
		if (!e)
			return -EINVAL;
		v += en;
		if (*v == ':') {
			r = strtoul(v + 1, &end, 10);
			if (end == v + 1 || r > 1000)
				return -EINVAL;
			v = end;
		}
		err[s] = e;
		rate[s] = (unsigned)r;
		if (*v == ',')
			v++;
		else if (*v)
			return -EINVAL;
	}
	for (int s = 0; s < HY_FAULT_NSITES; s++)
		if (err[s])
			hy_fault_set(s, err[s], rate[s]);
	return 0;
}
#endif
