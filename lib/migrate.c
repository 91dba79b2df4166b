/* SPDX-License-Identifier: MIT */
/*
 * migrate — moving pages between nodes with move_pages(2) (DESIGN.md §3
 * "Migration failures and pins", §4 "migrator").
 *
 * hy_mig_move() sorts moves[] by (target node, address), cuts each node's
 * run into batches of at most MIG_BATCH pages and gives each batch to one
 * move_pages(0, k, pages, nodes, status, MPOL_MF_MOVE) call, all of whose
 * nodes are the same.  MPOL_MF_MOVE_ALL only for moves marked `all` (memory
 * the process tree shares, moved by its lead, which has CAP_SYS_NICE): a
 * page another process maps is otherwise not ours to move.  What move_pages says is then checked
 * against where the pages really are (a NULL-nodes query) wherever the
 * per-page status cannot be trusted, which is in the cases below.
 *
 * What the kernels do — observed in tests/vm (tiered VM, 2tier, node 1 <->
 * node 0), Debian 6.1.0 and 6.12.117, identical unless said otherwise:
 *
 *  1. One base page of a transparent huge page listed (head or any tail):
 *     the whole 2 MiB THP moves and stays huge (smaps AnonHugePages
 *     unchanged); that page's status is the target.  Nothing is split.
 *  2. Several base pages of one THP listed (sorted): the first queues the
 *     THP; the second finds it already isolated and gets -EBUSY, and that
 *     error makes the kernel migrate what it has queued, so the THP moves;
 *     the later ones find it on the target and report the target.  So every
 *     THP moved with all its pages listed shows one -EBUSY, for a page that
 *     did move.  Handled: every -EBUSY is re-queried (one query call for
 *     the batch's busy pages), and a page found on its target succeeded.
 *  3. Target without a free 2 MiB block (node 0 filled with mlocked 4 KiB
 *     pages, those at odd frame numbers freed, compaction off): the THP
 *     allocation fails and the kernel itself splits the THP
 *     (thp_migration_split in /proc/vmstat) and moves its 512 base pages in
 *     the same call; statuses as in 2; afterwards the range is no longer
 *     huge.  So "THP whole first, base pages if that fails" (DESIGN §3) is
 *     what move_pages already does; user space has no unprivileged way to
 *     split a THP anyway.  The migrator adds nothing but the re-query of 2.
 *  4. Target node full: 4 KiB pages are moved until the node reaches its
 *     watermark, then the call fails as a whole with ENOMEM, writing no
 *     status for the pages of the chunk it was moving nor for any later
 *     page.  A THP to a full node: split, then no room — 6.1 fails with
 *     ENOMEM, 6.12 instead returns a positive count (below).  Handled: the
 *     unset pages are looked up (moved -> target, else -ENOMEM) and the
 *     rest of the moves to that node get -ENOMEM without another call, as
 *     the kernel itself gives up on the rest of its list.
 *  5. A page with an extra reference (pinned: vmsplice, RDMA, O_DIRECT in
 *     flight): isolation succeeds, migration fails after the kernel's
 *     retries, and move_pages returns the number of pages not moved (> 0)
 *     WITHOUT writing the status of any page of the chunk it was moving
 *     (those that did move included) nor of any page after the first page
 *     with an error of its own.  A pinned THP is not split: one listed page
 *     fails, the next gets -EBUSY (as in 2) and everything after it is not
 *     even tried.  Handled: statuses are preset to MIG_UNSET; the unset
 *     ones are queried; moved -> target, not moved -> -EBUSY (-ENOMEM if
 *     the target is below its high watermark, for case 4 on 6.12); the
 *     untried rest is given to another call (at most MIG_MAX_CONT per
 *     batch, then -EAGAIN: not tried), except the rest of a failed THP's
 *     2 MiB block, which would only fail again, one call per two pages
 *     (-EBUSY/-ENOMEM like the THP).
 *  6. Page shared with a forked child: -EACCES, not moved.  mlock()ed page:
 *     moved like any other (status = target), still locked.
 *  7. Never touched: -EFAULT on 6.1, -ENOENT on 6.12; the shared zero page
 *     (read but never written) and unmapped addresses: -EFAULT.
 *  8. A node that does not exist or has no memory (7, 63, 1000, 5000, -1):
 *     the call fails as a whole with ENODEV; with one node per call that
 *     happens before any page is touched.  Those moves get -ENODEV (so
 *     would -EACCES, a node outside the cpuset, and -EINVAL), the other
 *     nodes' moves go on; if every call was refused, the return is -errno.
 *
 * THP detection.  The migrator needs none: 1-3 make the kernel's own
 * THP-first-then-split the cheapest correct behaviour, and the only THP
 * trace in the results (the -EBUSY of 2, the stop of 5) is resolved by
 * asking where the pages are, not by guessing.  A THP counts as the pages
 * the caller listed: list all 512 (the registry judges huge pages whole),
 * and a THP moved whole counts 512 pages and 2 MiB.  (Listing fewer still
 * moves the whole THP — 1 — but counts only what was listed.)  Where
 * huge-ness must be seen (the tests), /proc/self/smaps AnonHugePages is
 * used: it works on 6.1 and 6.12 without privileges; PAGEMAP_SCAN's
 * PAGE_IS_HUGE exists only from 6.7, and pagemap PFNs + /proc/kpageflags
 * need CAP_SYS_ADMIN.
 *
 * Rules: nothing from the heap (scratch from hy_os_alloc, or a small stack
 * buffer), no retry of a page that failed (a continuation call only covers
 * pages the kernel never tried), no abort, nothing on stdout, errno as the
 * caller left it.  A page already on its target reports the target and is
 * counted as moved: move_pages cannot tell the two apart without a second
 * query of every page, which would cost more than the 10% we may spend
 * (DESIGN §7: >= 90% of raw move_pages throughput).
 */
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "os.h"
#include "fault.h"

#ifndef MPOL_MF_MOVE_ALL
#define MPOL_MF_MOVE_ALL (1 << 2)
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#endif

/*
 * Pages per move_pages call.  Each call pays a fixed toll (the kernel
 * disables the LRU caches: an expedited RCU grace period and a drain on
 * every CPU; 14 us in the VM on 6.1, 0.1-8 ms on 6.12 with a loaded host),
 * so fewer, bigger calls keep us near raw throughput; the bound keeps one
 * call's isolated set (8 MiB) and duration modest.
 */
#ifndef HY_MIG_BATCH
#define HY_MIG_BATCH 2048
#endif
#define MIG_BATCH	((size_t)HY_MIG_BATCH)
#define MIG_STACK_BATCH ((size_t)64) /* when hy_os_alloc fails, or n is small */
#define MIG_MAX_CONT	8	     /* continuation calls per batch (case 5) */
#define MIG_UNSET	INT_MIN	     /* a status the kernel did not write */
#define MIG_THP_SIZE	((uintptr_t)2 << 20)

_Static_assert(sizeof(uintptr_t) == sizeof(void *), "addresses are passed as pointer arrays");

/* Scratch of one hy_mig_move call: the arrays move_pages wants, per batch. */
struct mig_buf {
	size_t cap;
	void **pg;
	int *nd;
	int *st;
	void **qpg;  /* query: addresses */
	int *qst;    /* query: nodes */
	size_t *qix; /* query: index in the batch */
};

#define MIG_BYTES_PER_ENTRY (2 * sizeof(void *) + 3 * sizeof(int) + sizeof(size_t))

static void mig_buf_carve(struct mig_buf *b, void *mem, size_t cap)
{
	char *p = mem;

	b->cap = cap;
	b->pg = (void **)p, p += cap * sizeof(void *);
	b->qpg = (void **)p, p += cap * sizeof(void *);
	b->qix = (size_t *)p, p += cap * sizeof(size_t);
	b->nd = (int *)p, p += cap * sizeof(int);
	b->st = (int *)p, p += cap * sizeof(int);
	b->qst = (int *)p;
}

/*
 * One full-size scratch, mapped on first use and kept for the life of the
 * process, so that the policy thread's calls cost no mmap/munmap.  Whoever
 * takes the flag owns it; a concurrent caller (or a child forked while the
 * flag was held) maps its own for the call, or uses the stack.
 */
static void *mig_cache;
static bool mig_cache_busy;

static void *mig_cache_get(void)
{
	void *p;

	if (__atomic_exchange_n(&mig_cache_busy, true, __ATOMIC_ACQUIRE))
		return NULL;
	p = __atomic_load_n(&mig_cache, __ATOMIC_RELAXED);
	if (!p) {
		p = hy_os_alloc(MIG_BATCH * MIG_BYTES_PER_ENTRY);
		__atomic_store_n(&mig_cache, p, __ATOMIC_RELAXED);
	}
	if (!p)
		__atomic_store_n(&mig_cache_busy, false, __ATOMIC_RELEASE);
	return p;
}

static void mig_cache_put(void)
{
	__atomic_store_n(&mig_cache_busy, false, __ATOMIC_RELEASE);
}

static long sys_move_pages(size_t n, void **pages, const int *nodes, int *status, int flags)
{
	return syscall(SYS_move_pages, 0, (unsigned long)n, pages, nodes, status, flags);
}

/* ---- sorting moves[] by (to_node, addr), in place, without the heap ---- */

static inline bool mv_less(const struct hy_move *a, const struct hy_move *b)
{
	if (a->to_node != b->to_node)
		return a->to_node < b->to_node;
	return a->all != b->all ? a->all < b->all : a->addr < b->addr;
}

static void mv_sift(struct hy_move *m, size_t root, size_t n)
{
	for (;;) {
		size_t c = 2 * root + 1;
		struct hy_move t;

		if (c >= n)
			return;
		if (c + 1 < n && mv_less(&m[c], &m[c + 1]))
			c++;
		if (!mv_less(&m[root], &m[c]))
			return;
		t = m[root], m[root] = m[c], m[c] = t;
		root = c;
	}
}

/* Heapsort (qsort may allocate); the usual input is sorted already. */
static void mv_sort(struct hy_move *m, size_t n)
{
	size_t i;

	for (i = 1; i < n && !mv_less(&m[i], &m[i - 1]); i++)
		;
	if (i >= n)
		return;
	for (i = n / 2; i-- > 0;)
		mv_sift(m, i, n);
	for (i = n; i-- > 1;) {
		struct hy_move t = m[0];
		m[0] = m[i], m[i] = t;
		mv_sift(m, 0, i);
	}
}

/* ---- is a node out of memory? (case 4 on 6.12: no errno to say so) ---- */

static unsigned long parse_ulong(const char **s)
{
	unsigned long v = 0;

	while (**s == ' ' || **s == '(' || **s == ',')
		(*s)++;
	while (**s >= '0' && **s <= '9')
		v = v * 10 + (unsigned long)(*(*s)++ - '0');
	return v;
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * 1 if the node's free pages are below the sum over its zones of the high
 * watermark plus the largest lowmem protection (the part of a low zone an
 * allocation for a higher zone may not take), 0 if not, -1 if unknown.
 * Read from /proc/zoneinfo line by line through a stack buffer; only on
 * the failure path.
 */
static int mig_node_full(int node)
{
	char buf[2048], line[160];
	size_t ll = 0;
	unsigned long free_pages = 0, reserve = 0;
	int cur = -1, fd, seen = 0;
	ssize_t r;

	fd = open("/proc/zoneinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((r = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			const char *s = line;

			if (buf[i] != '\n') {
				if (ll < sizeof line - 1)
					line[ll++] = buf[i];
				continue;
			}
			line[ll] = '\0';
			ll = 0;
			while (*s == ' ')
				s++;
			if (starts(s, "Node ")) {
				s += 5;
				cur = (int)parse_ulong(&s);
			} else if (cur != node) {
				continue;
			} else if (starts(s, "pages free")) {
				s += 10;
				free_pages += parse_ulong(&s);
				seen = 1;
			} else if (starts(s, "high ")) { /* not the per-cpu "high:" */
				s += 5;
				reserve += parse_ulong(&s);
			} else if (starts(s, "protection:")) {
				unsigned long max = 0;

				s += 11;
				while (*s && *s != ')') {
					const char *before = s;
					unsigned long v = parse_ulong(&s);

					max = v > max ? v : max;
					if (s == before)
						s++;
				}
				reserve += max;
			}
		}
	}
	close(fd);
	return seen ? free_pages < reserve : -1;
}

/* ---- one batch ---- */

struct mig_ctx {
	struct mig_buf *b;
	int node_full;	/* of the current node: -2 not asked yet */
	int flags;	/* of the current run: MPOL_MF_MOVE, or _MOVE_ALL */
	bool called_ok; /* some call got as far as trying pages */
};

static int node_fail_code(struct mig_ctx *c, int node)
{
	if (c->node_full == -2)
		c->node_full = mig_node_full(node);
	return c->node_full == 1 ? -ENOMEM : -EBUSY;
}

static void set_status(struct hy_move *m, size_t n, int status)
{
	for (size_t i = 0; i < n; i++)
		m[i].status = status;
}

/*
 * Errors move_pages returns before it looks at any page when all nodes are
 * the same: the process (EPERM, ESRCH), the call (ENOSYS, EINVAL flags) or
 * the node (ENODEV, EACCES: outside the cpuset, EINVAL).  Any other error
 * (ENOMEM) may come after some pages moved: those are looked up.
 */
static bool refused(int err)
{
	return err == ENODEV || err == EACCES || err == EINVAL || err == EPERM || err == ESRCH ||
	       err == ENOSYS;
}

/*
 * One move_pages call over m[0..cnt), all to node, every status preset to
 * MIG_UNSET.  Returns the call's result; *err its errno, *set how many
 * statuses from the first on the kernel wrote, *inj the injected error.
 */
static long mig_call(struct mig_buf *b, const struct hy_move *m, size_t cnt, int node, int flags,
		     int *err, size_t *set, int *inj)
{
	long rc;
	size_t s;

	for (size_t i = 0; i < cnt; i++) {
		b->pg[i] = (void *)m[i].addr;
		b->nd[i] = node;
		b->st[i] = MIG_UNSET;
	}
	/* fault seam: the call fails, and the look that follows agrees
	 * (on the loopback pair the truth would say "already there") */
	*inj = hy_fault(HY_FAULT_MOVE_PAGES);
	rc = *inj ? (errno = *inj, -1) : sys_move_pages(cnt, b->pg, b->nd, b->st, flags);
	*err = rc < 0 ? errno : 0;
	for (s = 0; s < cnt && b->st[s] != MIG_UNSET; s++)
		;
	*set = s;
	return rc;
}

/*
 * The pages whose status needs a second look, asked where they are now (one
 * query; b->qst[q] for b->pg[b->qix[q]], MIG_UNSET if the query failed):
 * every -EBUSY (case 2), and after an incomplete call (cases 4 and 5) every
 * unset status too.  Returns how many.
 */
static size_t mig_requery(struct mig_buf *b, size_t cnt, bool complete, int inj)
{
	size_t nq = 0;

	for (size_t i = 0; i < cnt; i++)
		if (b->st[i] == -EBUSY || (!complete && b->st[i] == MIG_UNSET)) {
			b->qpg[nq] = b->pg[i];
			b->qix[nq++] = i;
		}
	if (nq && (inj || sys_move_pages(nq, b->qpg, NULL, b->qst, 0) < 0))
		for (size_t q = 0; q < nq; q++)
			b->qst[q] = MIG_UNSET;
	return nq;
}

/*
 * A THP that failed (case 5, or 4 on a full node): the chunk's last page did
 * not move and the break page brk is its -EBUSY sibling: the rest of that
 * 2 MiB block is the same THP, failed for the same reason, and would only
 * fail again.  Its block, or 1 (never 2 MiB aligned) for none.
 */
static uintptr_t failed_thp_block(const struct mig_buf *b, size_t cnt, size_t s, size_t brk)
{
	if (brk < cnt && b->st[brk] == -EBUSY && brk > s) {
		uintptr_t blk = (uintptr_t)b->pg[brk] & ~(MIG_THP_SIZE - 1);
		if (((uintptr_t)b->pg[brk - 1] & ~(MIG_THP_SIZE - 1)) == blk)
			return blk;
	}
	return 1;
}

/*
 * After an incomplete call: each re-queried page's status (moved, failed
 * for `fail`, or never tried).  Returns the index in the chunk of the first
 * page never tried that another call should try, or cnt for none.
 */
static size_t mig_settle(struct mig_buf *b, size_t cnt, size_t nq, int node, size_t brk,
			 uintptr_t skip_block, int fail, bool call_failed)
{
	size_t next = cnt;

	for (size_t q = 0; q < nq; q++) {
		size_t i = b->qix[q];

		if (b->qst[q] == node)
			b->st[i] = node;
		else if (i < brk && b->st[i] == MIG_UNSET)
			b->st[i] = fail; /* tried, not moved */
		else if (((uintptr_t)b->pg[i] & ~(MIG_THP_SIZE - 1)) == skip_block)
			b->st[i] = fail; /* the failed THP, brk included */
		else if (b->st[i] == MIG_UNSET && call_failed)
			b->st[i] = fail; /* never tried, but the node is full */
		else if (b->st[i] == MIG_UNSET && next == cnt)
			next = i; /* never tried: next call */
	}
	return next;
}

/*
 * Move m[0..k) (all to node, k <= b->cap) and set every m[i].status.
 * Returns 0, or a negative errno that stops further moves: to this node
 * (-ENOMEM, -ENODEV, -EACCES, -EINVAL) or altogether (anything else).
 */
static int mig_batch(struct mig_ctx *c, struct hy_move *m, size_t k, int node)
{
	struct mig_buf *b = c->b;
	size_t off = 0;

	for (int cont = 0; off < k; cont++) {
		size_t cnt = k - off, s, brk, nq, next;
		int fail, err, inj;
		bool complete;
		long rc;

		if (cont > MIG_MAX_CONT) {
			/* pages the kernel never tried; the caller backs off */
			set_status(m + off, cnt, -EAGAIN);
			return 0;
		}
		rc = mig_call(b, m + off, cnt, node, c->flags, &err, &s, &inj);
		if (rc < 0 && s == 0 && refused(err)) {
			/* refused before touching a page (case 8, no syscall, ...) */
			set_status(m + off, cnt, -err);
			return -err;
		}
		c->called_ok = true; /* the kernel tried: ENOMEM moves some first */
		complete = rc == 0 && s == cnt;
		nq = mig_requery(b, cnt, complete, inj);
		if (complete) {
			/* the usual case: only -EBUSY needed a second look */
			for (size_t q = 0; q < nq; q++)
				if (b->qst[q] == node)
					b->st[b->qix[q]] = node;
			for (size_t i = 0; i < cnt; i++)
				m[off + i].status = b->st[i];
			return 0;
		}

		/* cases 4 and 5: unset statuses [s, cnt) but for brk */
		for (brk = s; brk < cnt && b->st[brk] == MIG_UNSET; brk++)
			;
		/* why the pages that did not move did not */
		fail = rc < 0 ? -err /* ENOMEM: full (case 4) */ : node_fail_code(c, node);
		next = off + mig_settle(b, cnt, nq, node, brk, failed_thp_block(b, cnt, s, brk), fail,
					rc < 0);
		for (size_t i = 0; i < cnt && off + i < next; i++)
			m[off + i].status = b->st[i] == MIG_UNSET ? fail : b->st[i];
		if (rc < 0) {
			if (next < k)
				set_status(m + next, k - next, fail);
			return -err;
		}
		if (fail == -ENOMEM && next < k) {
			set_status(m + next, k - next, -ENOMEM);
			return -ENOMEM;
		}
		off = next;
	}
	return 0;
}

static bool node_specific(int err)
{
	return err == -ENOMEM || err == -ENODEV || err == -EACCES || err == -EINVAL;
}

static void count(const struct hy_move *m, size_t n, enum hy_move_kind kind, struct hy_stats *st,
		  long *moved)
{
	uint64_t ok = 0, busy = 0, access = 0, nomem = 0, absent = 0, other = 0;

	for (size_t i = 0; i < n; i++) {
		int s = m[i].status;

		if (s >= 0 && s == m[i].to_node)
			ok++;
		else if (s == -EBUSY)
			busy++;
		else if (s == -EACCES)
			access++;
		else if (s == -ENOMEM)
			nomem++;
		else if (s == -EFAULT || s == -ENOENT)
			absent++;
		else
			other++;
	}
	*moved = (long)ok;
	if (!st)
		return;
	if (ok && kind == HY_MOVE_PROMOTE) {
		hy_stat_add(st, promote_pages, ok);
		hy_stat_add(st, promote_bytes, ok * HY_PAGE_SIZE);
	} else if (ok) {
		hy_stat_add(st, demote_pages, ok);
		hy_stat_add(st, demote_bytes, ok * HY_PAGE_SIZE);
	}
	if (busy)
		hy_stat_add(st, fail_busy, busy);
	if (access)
		hy_stat_add(st, fail_access, access);
	if (nomem)
		hy_stat_add(st, fail_nomem, nomem);
	if (absent)
		hy_stat_add(st, fail_absent, absent);
	if (other)
		hy_stat_add(st, fail_other, other);
}

long hy_mig_move(struct hy_move *moves, size_t n, enum hy_move_kind kind, struct hy_stats *st)
{
	unsigned char stack[MIG_STACK_BATCH * MIG_BYTES_PER_ENTRY] __attribute__((aligned(16)));
	struct mig_buf buf;
	struct mig_ctx c = {.b = &buf};
	void *mem = NULL, *cached = NULL;
	size_t cap = n < MIG_BATCH ? n : MIG_BATCH, mem_len = 0;
	int saved_errno = errno, fatal = 0, first_err = 0;
	long moved;

	if (n == 0)
		return 0;
	if (!moves)
		return -EINVAL;
	mv_sort(moves, n);

	if (cap > MIG_STACK_BATCH) {
		cached = mem = mig_cache_get();
		if (!mem) {
			mem_len = cap * MIG_BYTES_PER_ENTRY;
			mem = hy_os_alloc(mem_len);
		}
	}
	if (mem)
		mig_buf_carve(&buf, mem, cap);
	else
		mig_buf_carve(&buf, stack, cap < MIG_STACK_BATCH ? cap : MIG_STACK_BATCH);

	for (size_t i = 0, end; i < n; i = end) {
		int node = moves[i].to_node, stop = 0;
		bool all = moves[i].all;

		for (end = i; end < n && moves[end].to_node == node && moves[end].all == all; end++)
			;
		c.node_full = -2;
		c.flags = all ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE;
		for (size_t at = i; at < end; at += buf.cap) {
			size_t k = end - at < buf.cap ? end - at : buf.cap;

			if (fatal || stop) {
				set_status(moves + at, k, fatal ? fatal : stop);
				continue;
			}
			stop = mig_batch(&c, moves + at, k, node);
			if (stop && !first_err)
				first_err = stop;
			if (stop && !node_specific(stop)) {
				const char *why = strerrordesc_np(-stop);

				fatal = stop;
				hy_warn_once("move_pages: %s; pages stay where they are",
					     why ? why : "unknown error");
			}
		}
	}
	if (cached)
		mig_cache_put();
	else
		hy_os_free(mem, mem_len);
	/* fault seam: a page reported failed after all (it may have moved) */
	for (size_t i = 0, err; i < n; i++)
		if (moves[i].status == moves[i].to_node && (err = hy_fault(HY_FAULT_MOVE_STATUS)))
			moves[i].status = -(int)err;
	count(moves, n, kind, st, &moved);
	errno = saved_errno;
	if (fatal)
		return fatal;
	if (!moved && !c.called_ok && first_err)
		return first_err; /* every call refused: nothing was even tried */
	return moved;
}

int hy_mig_query(const uintptr_t *addrs, size_t n, int *nodes)
{
	int saved_errno = errno;

	if (n == 0)
		return 0;
	if (!addrs || !nodes)
		return -EINVAL;
	for (size_t i = 0; i < n; i += MIG_BATCH) {
		size_t k = n - i < MIG_BATCH ? n - i : MIG_BATCH;

		/* uintptr_t[] is the kernel's array of pointers: no copy needed */
		if (sys_move_pages(k, (void **)(uintptr_t)(addrs + i), NULL, nodes + i, 0) < 0) {
			int err = errno;

			for (size_t j = i; j < n; j++)
				nodes[j] = -err;
			errno = saved_errno;
			return -err;
		}
	}
	errno = saved_errno;
	return 0;
}

/* ---- carrying out a list: huge pages first, then batches ---------------- */

#define MIG_THP_PAGES (MIG_THP_SIZE / HY_PAGE_SIZE)

/*
 * Transparent huge pages, before anything moves.  move_pages() of one base
 * page of a huge page moves all of it (2 MiB): right when most of the block
 * is to move the same way (a contiguous hot part goes up as a huge page),
 * wrong when a few scattered pages are (mostly cold data would come up to
 * DRAM, or hot data go down with a cold page).  So a block where fewer than
 * half the pages are listed is split first: MADV_COLD on one page of it
 * splits a huge page that the range does not cover whole (the kernel's
 * madvise_cold_or_pageout), after which only the listed pages move.  The
 * page chosen is one that is cold anyway: a page to demote, or, for
 * promotions, a neighbour not listed.  On a block that is no huge page the
 * call only marks one cold page inactive.
 *
 * a[]: the list's pages sorted by address (to_node 0), status 1 = demote.
 */
static uintptr_t split_victim(const struct hy_move *a, size_t i, size_t j, uintptr_t blk)
{
	uintptr_t victim;

	for (size_t k = i; k < j; k++)
		if (a[k].status)
			return a[k].addr;
	/* promotions only: the first page of the block not listed, inside
	 * the managed region (a listed page's neighbour) */
	victim = a[i].addr > blk ? a[i].addr - HY_PAGE_SIZE : a[i].addr + HY_PAGE_SIZE;
	for (size_t k = i + 1; k < j && victim == a[k].addr; k++)
		victim += HY_PAGE_SIZE;
	return (victim & ~(MIG_THP_SIZE - 1)) == blk ? victim : 0;
}

static void split_scattered(const struct hy_mig_list *l, struct hy_move *a, struct hy_stats *st)
{
	for (size_t i = 0; i < l->n; i++) {
		enum hy_move_kind kind;
		int node;

		l->get(l->arg, i, &a[i].addr, &node, &kind);
		a[i].to_node = 0;
		a[i].status = kind == HY_MOVE_DEMOTE;
	}
	mv_sort(a, l->n);
	for (size_t i = 0, j; i < l->n; i = j) {
		uintptr_t blk = a[i].addr & ~(MIG_THP_SIZE - 1), victim;

		for (j = i; j < l->n && (a[j].addr & ~(MIG_THP_SIZE - 1)) == blk; j++)
			;
		if (j - i >= MIG_THP_PAGES / 2)
			continue; /* mostly moving: whole */
		victim = split_victim(a, i, j, blk);
		if (victim && !madvise((void *)victim, HY_PAGE_SIZE, MADV_COLD) && st)
			hy_stat_add(st, thp_splits, 1);
	}
}

/* One batch of one kind from *at on, under the list's lock; pages no
 * longer wanted (unmapped since the list was made) are left out. */
static void run_batch(const struct hy_mig_list *l, size_t *at, struct hy_stats *st)
{
	struct hy_move mv[HY_MIG_RUN_BATCH];
	enum hy_move_kind kind, k1;
	uintptr_t addr;
	size_t k = 0;
	int node;

	l->get(l->arg, *at, &addr, &node, &kind);
	l->lock(l->arg);
	for (; *at < l->n && k < HY_MIG_RUN_BATCH; ++*at) {
		l->get(l->arg, *at, &addr, &node, &k1);
		if (k1 != kind)
			break;
		if (l->still(l->arg, *at))
			mv[k++] = (struct hy_move){addr, node, 0, *at,
						   l->all && l->all(l->arg, *at)};
	}
	if (k) {
		/* per-page statuses carry the outcome, whatever the return */
		(void)hy_mig_move(mv, k, kind, st);
		for (size_t j = 0; j < k; j++)
			l->done(l->arg, mv[j].tag, mv[j].status);
	}
	l->unlock(l->arg);
}

void hy_mig_run(const struct hy_mig_list *l, struct hy_move *scratch, struct hy_stats *st)
{
	if (scratch)
		split_scattered(l, scratch, st);
	for (size_t at = 0; at < l->n && !(l->stop && l->stop(l->arg));)
		run_batch(l, &at, st);
}
