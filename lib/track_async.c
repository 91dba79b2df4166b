/* SPDX-License-Identifier: MIT */
/*
 * track_async — tracking that never leaves the kernel: writes (async, Linux
 * ≥ 6.7) or reads and writes (rwp, Linux ≥ 7.3).
 *
 * The userfaultfd asks for UFFD_FEATURE_WP_ASYNC: a write to a protected
 * page is resolved by the kernel itself (the page loses its uffd-wp bit),
 * with no message and no thread.  WP_UNPOPULATED is asked for too, so that
 * protecting a never-touched page leaves a marker and its first write is
 * seen; the kernel turns it on with WP_ASYNC anyway ("WP_ASYNC relies on
 * WP_UNPOPULATED", fs/userfaultfd.c), and PAGEMAP_SCAN's write-protect
 * matching works only on VMAs that have both.  There is therefore no async
 * mode in which unpopulated pages escape.
 *
 * Harvest is PAGEMAP_SCAN with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC
 * and PAGE_IS_WRITTEN as the only category: the kernel returns the pages
 * without the uffd-wp bit and re-protects them under the page-table lock,
 * so no write can fall between the report and the re-arm.
 *
 * PAGE_IS_WRITTEN means "not write-protected", nothing more.  Measured on
 * 6.18: a page never armed reads as written whatever happened to it --
 * written, only read (zero page), never touched (even a whole VMA with no
 * page tables), or discarded by MADV_DONTNEED after it was armed (the
 * marker goes with the PTE; the harvest reports the page and re-arms it).
 * With WP_MATCHING the scan would also protect every such page, arming
 * pages nobody chose.  So harvest scans only runs of armed pages, or, for
 * a scattered armed set, scans report-only and keeps the armed pages (see
 * async_harvest).  arm() costs one ioctl per run either way: arm in
 * clusters where you can.
 *
 * rwp (Linux 7.3) is the same loop with read-write protection: registered
 * with MODE_RWP, armed with UFFDIO_RWPROTECT (PROT_NONE hinting PTEs, as
 * NUMA balancing uses), RWP_ASYNC lets the kernel resolve the first access,
 * read or write, on its own, and PAGEMAP_SCAN reports PAGE_IS_ACCESSED for
 * a page whose protection an access cleared.  So reads count too.  What
 * differs (userfaultfd.rst, "Read-Write Protection"):
 *  - only present PTEs can be protected: arming a never-touched page does
 *    nothing, and its first touch populates it unprotected.  It then reads
 *    as accessed, which it was.  A page never armed reads as accessed too,
 *    and a zap (MADV_DONTNEED, munmap) drops the protection: the next touch
 *    repopulates it unprotected, so it reads as accessed and the harvest
 *    re-arms it, as it should.  An armed page zapped and never touched
 *    again reads as not accessed.  So, as for async, harvest keeps only
 *    reported pages that are armed.
 *  - PM_SCAN_WP_MATCHING re-protects write protection only: the harvest
 *    is a report-only scan followed by UFFDIO_RWPROTECT, one call per armed
 *    run with pages found (rwp_reprotect), always.
 *  - a PMD-mapped THP armed whole stays huge when accessed: the kernel
 *    reports all 512 pages (with PAGE_IS_HUGE) after one 4 KiB read, and
 *    says nothing of which part is hot.  Protecting part of a THP splits
 *    its PMD mapping (change_protection on part of a PMD; the THP itself
 *    stays whole), and from then on its pages are seen one by one.  So the
 *    harvest, when it finds a huge mapping accessed, re-protects its first
 *    page alone, which splits the mapping: a THP is judged whole in the
 *    epoch its first access is seen (its 512 pages count one access each)
 *    and page by page after that, as with async (whose first write splits
 *    the PMD).  Without this a THP holding a few hot pages would look hot
 *    whole and be promoted whole (measured in the 7.3 VM: a scattered hot
 *    set over huge pages filled a DRAM limit with whole THPs, 2480 cold
 *    pages for 80 hot, and the contiguous hot part got no room).  What
 *    then moves: the migrator moves a THP whole when at least half of its
 *    pages are to move, and splits it first when fewer are (migrate.c).
 *  - a kernel access (read(2) into the heap, O_DIRECT, process_vm_readv)
 *    to a protected page is an ordinary hinting fault, resolved by the
 *    kernel in async mode: a user-mode-only userfaultfd is enough.
 *
 * Huge pages (anonymous THP): a PMD-mapped THP armed whole stays huge
 * until written; the first write to it makes the kernel split the PMD
 * (wp_huge_pmd() goes to "split" in async mode) and only the 4 KiB page
 * written is reported.  khugepaged does not collapse a range holding
 * uffd-wp PTEs, so an armed THP that is written stays PTE-mapped.  A THP
 * that is not armed reports its whole 2 MiB (with PAGE_IS_HUGE), another
 * reason to scan armed runs only.  Arming or scanning part of a THP splits
 * its PMD too.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "track_impl.h"
#include "fault.h"

static int async_open(struct hy_track *t, struct hy_err *err)
{
	uint64_t f = t->ops->rwp ? UFFD_FEATURE_RWP | UFFD_FEATURE_RWP_ASYNC
				 : UFFD_FEATURE_WP_ASYNC |
				       (t->kf.wp_unpopulated ? UFFD_FEATURE_WP_UNPOPULATED : 0);
	int rc = hy_trk_uffd_open(t, false, f, err);

	if (rc)
		return rc;
	t->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (t->pagemap < 0) {
		hy_err_set(err, "cannot open /proc/self/pagemap: %s", strerror(errno));
		return -ENOTSUP;
	}
	t->vec = hy_os_alloc(TRK_VEC * sizeof(*t->vec));
	if (!t->vec) {
		hy_err_set(err, "out of memory for the scan buffer");
		return -ENOMEM;
	}
	return 0;
}

/* rwp: the huge mappings in [s, f) were accessed; protect the first page
 * of each alone, which splits the mapping (see the top of the file).  The
 * caller re-protects the rest. */
static void split_huge(struct hy_track *t, uintptr_t s, uintptr_t f)
{
	const uintptr_t huge = (uintptr_t)2 << 20;

	for (uintptr_t b = s & ~(huge - 1); b < f; b += huge)
		if (b >= s)
			trk_prot(t, b, b + TRK_PG, true);
}

/*
 * One PAGEMAP_SCAN pass over [a, e) for the pages no longer protected
 * (async: written, rwp: accessed).
 * wp: re-protect what is reported (all of [a, e) must be armed then; async
 * only).
 * Each reported page of [a, e) that is armed in r goes into out (bit 0 =
 * page `base`).  Returns pages reported-and-armed, or -errno.
 */
static long scan(struct hy_track *t, struct trk_range *r, uintptr_t a, uintptr_t e, uintptr_t base,
		 bool wp, uint64_t *out)
{
	long found = 0;

	while (a < e) {
		uint64_t cat = t->ops->rwp ? PAGE_IS_ACCESSED : PAGE_IS_WRITTEN;
		struct pm_scan_arg arg = {
		    .size = sizeof(arg),
		    .flags = t->ops->rwp ? 0 : PM_SCAN_CHECK_WPASYNC | (wp ? PM_SCAN_WP_MATCHING : 0),
		    .start = a,
		    .end = e,
		    .vec = (uintptr_t)t->vec,
		    .vec_len = TRK_VEC,
		    .category_mask = cat,
		    .return_mask = cat | (t->ops->rwp ? PAGE_IS_HUGE : 0),
		};
		int err = hy_fault(HY_FAULT_PAGEMAP_SCAN);
		long k = err ? -1 : hy_sys_ioctl(t->pagemap, PAGEMAP_SCAN, &arg);

		if (k < 0)
			return err ? -err : -errno;
		for (long i = 0; i < k; i++) {
			uintptr_t s = t->vec[i].start < a ? a : t->vec[i].start;
			uintptr_t f = t->vec[i].end > e ? e : t->vec[i].end;
			size_t from = (s - base) / TRK_PG, to = (f - base) / TRK_PG;
			size_t bit = r->off + (s - r->start) / TRK_PG;

			if (s >= f)
				continue;
			if (t->vec[i].categories & PAGE_IS_HUGE)
				split_huge(t, s, f);
			if (wp) {
				trk_set_range(out, from, to);
				found += (long)(to - from);
				continue;
			}
			/* report only: keep the armed pages of the region */
			while (from < to) {
				size_t nb = 64 - from % 64 < to - from ? 64 - from % 64 : to - from;
				uint64_t v = trk_get64(r->armed, bit, nb);

				out[from / 64] |= v << (from % 64);
				found += __builtin_popcountll(v);
				from += nb;
				bit += nb;
			}
		}
		/* walk_end: where the kernel stopped (the buffer filled up) */
		if (arg.walk_end <= a)
			break;
		a = arg.walk_end;
	}
	return found;
}

/*
 * rwp: re-protect what the scan found in the armed run [i, j) (indices of
 * r->armed; bit 0 of out is page `first`): one call from its first page
 * found to its last.  The armed pages between are still protected, or
 * zapped (nothing to protect), and protecting a protected PTE again costs
 * the kernel a visit, not a change: measured in the 7.3 VM, 256 MiB with
 * ~10% of its pages read at random (~5,700 runs), one call per run found
 * 66 ms/GiB, one call over the whole 10.8 ms/GiB, re-protecting it with
 * nothing read 4.3 ms/GiB (arming it the first time 61 ms/GiB).  The price:
 * a page of the span first accessed between its scan and this call has
 * that access cleared unseen (microseconds; a hot page is accessed again).
 */
static int rwp_reprotect(struct hy_track *t, struct trk_range *r, size_t first, size_t i, size_t j,
			 const uint64_t *out)
{
	size_t a = trk_next(out, i - first, j - first, true), z;

	if (a >= j - first)
		return 0;
	z = trk_last_set(out, a, j - first) + 1;
	return trk_prot(t, trk_page(r, first + a), trk_page(r, first + z), true);
}

/*
 * Two ways, by the shape of the armed set in the window:
 *  - few runs of armed pages: one PAGEMAP_SCAN with WP_MATCHING per run;
 *    report and re-protect are one atomic step per page;
 *  - scattered (more than one run per 1024 pages, more than 64, and runs
 *    shorter than 16 pages on average -- the engine arms whole chunks of
 *    64 pages, which stay on the first way): every
 *    ioctl costs ~1 us, so a run each would cost ~100x a dense harvest
 *    (measured: every other page armed, 163 ms/GiB).  Then one report-only
 *    scan of the window, kept where armed, and UFFDIO_WRITEPROTECT on the
 *    runs found written.  The only difference: a page written again between
 *    the scan and its re-protect (microseconds) has that write counted in
 *    this epoch instead of the next; a page protected at the scan and
 *    written after it is not touched and shows up next time.
 * rwp always re-protects after the scan (no WP_MATCHING for RWP), one
 * span per armed run that had pages found (rwp_reprotect), right after the
 * run's scan; it scans run by run when the runs are few: a window scan would
 * also report, and walk past, every unarmed populated page between them.
 */
static long async_harvest(struct hy_track *t, struct trk_range *r, size_t first, size_t n,
			  uint64_t *out)
{
	size_t end = first + n, runs = 0, lo = end, hi = first;
	uintptr_t base = trk_page(r, first);
	uint64_t scanned = 0;
	long found = 0, rc;

	for (size_t i = trk_next(r->armed, first, end, true); i < end;
	     i = trk_next(r->armed, i, end, true)) {
		size_t j = trk_next(r->armed, i, end, false);

		lo = runs++ ? lo : i;
		hi = j;
		scanned += j - i;
		i = j;
	}
	bool window = runs > 64 && runs > n / 1024 && scanned < runs * 16;

	if (window) {
		found = scan(t, r, trk_page(r, lo), trk_page(r, hi), base, false, out);
		scanned = hi - lo;
		for (size_t i = trk_next(r->armed, lo, hi, true); t->ops->rwp && found > 0 && i < hi;
		     i = trk_next(r->armed, i, hi, true)) {
			size_t j = trk_next(r->armed, i, hi, false);

			if ((rc = rwp_reprotect(t, r, first, i, j, out)) < 0)
				found = rc;
			i = j;
		}
	} else {
		for (size_t i = trk_next(r->armed, first, end, true); i < end;
		     i = trk_next(r->armed, i, end, true)) {
			size_t j = trk_next(r->armed, i, end, false);
			long k = scan(t, r, trk_page(r, i), trk_page(r, j), base, !t->ops->rwp, out);

			if (k > 0 && t->ops->rwp && (rc = rwp_reprotect(t, r, first, i, j, out)) < 0)
				k = rc;
			if (k < 0) {
				found = k;
				break;
			}
			found += k;
			i = j;
		}
	}
	/* async's run-by-run scans re-protected what they reported, rwp's
	 * spans are done */
	if (window && !t->ops->rwp && found > 0) {
		rc = hy_trk_wp_runs(t, out, 0, base, lo - first, hi - first, true);
		if (rc < 0)
			found = rc;
	}
	hy_stat_add(t->st, pages_scanned, scanned);
	if (found > 0)
		hy_stat_add(t->st, pages_armed, found);
	return found;
}

const struct trk_ops hy_trk_async_ops = {
    .name = "async",
    .open = async_open,
    .harvest = async_harvest,
};

const struct trk_ops hy_trk_rwp_ops = {
    .name = "rwp",
    .open = async_open,
    .harvest = async_harvest,
    .rwp = true,
};
