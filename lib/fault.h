/* SPDX-License-Identifier: MIT */
/*
 * fault — the test seam: chosen system calls fail with a chosen errno at a
 * chosen rate, for the failures that cannot be caused for real on demand
 * (issue #9).  Compiled in only with HYBRID_FAULT_INJECTION, which the test
 * builds of the core (hybrid_core_fi) and of the library (build/lib/fi/)
 * define; in the shipped library hy_fault() is a constant 0 and every call
 * site folds away.
 *
 * Sites, each one place in the code:
 *   move_pages     a migration call fails as a whole, and so does the
 *                  query that would find out what moved (migrate.c; the
 *                  engine's own location queries are left alone)
 *   move_status    a page the migrator found moved is reported failed
 *                  with -errno (it may really have moved: the engine then
 *                  believes it did not, as with a racing migration)
 *   uffd_open      creating a userfaultfd (track.c)
 *   uffd_ioctl     UFFDIO_API, UFFDIO_REGISTER, UFFDIO_WRITEPROTECT (never
 *                  WAKE or UNREGISTER: the kernel does not fail those, and
 *                  failing them would only hang the test)
 *   pagemap_scan   the PAGEMAP_SCAN ioctl (track_async.c)
 *   mbind          placement's mbind (placement.c)
 *   mmap           fresh memory for the heap's arenas and hybrid_mmap
 *   os_alloc       the library's own bookkeeping memory (os.h)
 *   memfd          the live-statistics entry's memfd (export_chan.c)
 *
 * Set from a test with hy_fault_set(), or from the environment with
 * LIBHYBRID_TEST_FAULTS="site=ERRNO[:PERMILLE],..." (e.g.
 * "move_pages=ENOMEM,move_status=EBUSY:500"); the rate defaults to always.
 * Draws are a fixed-seed xorshift per site, so a run is reproducible.
 */
#ifndef HY_FAULT_H
#define HY_FAULT_H

enum hy_fault_site {
	HY_FAULT_MOVE_PAGES,
	HY_FAULT_MOVE_STATUS,
	HY_FAULT_UFFD_OPEN,
	HY_FAULT_UFFD_IOCTL,
	HY_FAULT_PAGEMAP_SCAN,
	HY_FAULT_MBIND,
	HY_FAULT_MMAP,
	HY_FAULT_OS_ALLOC,
	HY_FAULT_MEMFD,
	HY_FAULT_NSITES
};

#ifdef HYBRID_FAULT_INJECTION
/* errno to fail this call with, or 0 to let it through. */
int hy_fault(enum hy_fault_site site);
/* Fail site with err in permille of the calls (0 = never, 1000 = always). */
void hy_fault_set(enum hy_fault_site site, int err, unsigned permille);
void hy_fault_clear(void);
/* Calls failed at site so far. */
unsigned long hy_fault_count(enum hy_fault_site site);
/* LIBHYBRID_TEST_FAULTS; -EINVAL on a malformed value (nothing set). */
int hy_fault_load_env(void);
#else
static inline int hy_fault(enum hy_fault_site site)
{
	(void)site;
	return 0;
}
#endif

#endif
