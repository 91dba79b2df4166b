/* SPDX-License-Identifier: MIT */
/*
 * track — the front end of access tracking (track.h): which backend, the
 * range table, arming, the "off" backend and the cost calibration.  The
 * backends (track_async.c: rwp and async, track_sync.c: sync) supply
 * opening, harvesting and, for sync, the handler thread; locking and memory rules are in
 * track_impl.h.
 *
 * Arming is a difference: arm() protects the pages newly chosen and
 * releases the pages no longer chosen.  Pages that stay chosen keep their
 * state, so a write since they were armed is still reported at the next
 * harvest.  The sync backend re-protects every chosen page instead (its
 * written state lives in a bitmap, not in the page tables), which also
 * arms pages that were unpopulated, and so unprotectable, last time.
 *
 * After fork the child inherits t, but its userfaultfd and pagemap fd
 * still act on the parent's memory: every call but close refuses with
 * -ECHILD in the child, and close there only releases the memory.
 */
#include "track.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kfeat.h"
#include "range.h"
#include "track_impl.h"
#include "fault.h"

static const struct trk_ops off_ops = {.name = "off"};

static bool is_off(const struct hy_track *t)
{
	return t->ops == &off_ops;
}

static bool forked(const struct hy_track *t)
{
	return t->pid != getpid();
}

static bool bad_range(uintptr_t start, size_t len)
{
	return !len || (start | len) & (TRK_PG - 1) || start + len < start;
}

/* ---- shared helpers for the backends ---- */

int hy_trk_uffd_open(struct hy_track *t, bool kernel_faults, uint64_t features, struct hy_err *err)
{
	struct uffdio_api api = {.api = UFFD_API, .features = features};
	int fd = -1, e = hy_fault(HY_FAULT_UFFD_OPEN), dev;

	if (e) {
		hy_err_set(err, "cannot create a userfaultfd: %s", strerror(e));
		return -e;
	}
	/* Least privilege first: the async backend never needs the kernel's
	 * faults (the kernel resolves them itself). */
	if (!kernel_faults)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = hy_sys_ioctl(dev, USERFAULTFD_IOC_NEW, (void *)(long)(O_CLOEXEC | O_NONBLOCK));
			e = fd < 0 ? errno : 0;
			close(dev);
		}
	}
	if (fd < 0) {
		hy_err_set(err, "cannot create a userfaultfd: %s", strerror(e));
		return -(e ? e : EPERM);
	}
	if ((e = hy_fault(HY_FAULT_UFFD_IOCTL)) || hy_sys_ioctl(fd, UFFDIO_API, &api) < 0) {
		e = e ? e : errno;
		close(fd);
		hy_err_set(err, "UFFDIO_API with features %#llx refused: %s",
			   (unsigned long long)features, strerror(e));
		return -ENOTSUP;
	}
	t->uffd = fd;
	t->features = features;
	return 0;
}

long hy_trk_wp_runs(struct hy_track *t, const uint64_t *b, size_t base, uintptr_t addr, size_t from,
		    size_t to, bool on)
{
	long done = 0;
	int err = 0;

	for (size_t i = trk_next(b, from, to, true); i < to; i = trk_next(b, i, to, true)) {
		size_t j = trk_next(b, i, to, false);
		int rc =
		    trk_prot(t, addr + (i - base) * TRK_PG, addr + (j - base) * TRK_PG, on);

		if (rc && !err)
			err = rc;
		else if (!rc)
			done += (long)(j - i);
		i = j;
	}
	return err ? err : done;
}

/* ---- the range table (t->lock held) ---- */

/* Index of the first range whose end is above addr (may be t->n). */
static size_t first_after(const struct hy_track *t, uintptr_t addr)
{
	return HY_RANGE_FIRST_AFTER(t->r, t->n, addr);
}

/* The range holding all of [start, end), or NULL. */
static struct trk_range *find(struct hy_track *t, uintptr_t start, uintptr_t end)
{
	size_t i = first_after(t, start);

	if (i < t->n && t->r[i].start <= start && end <= t->r[i].end)
		return &t->r[i];
	return NULL;
}

static int reserve(struct hy_track *t, size_t more)
{
	return hy_os_grow((void **)&t->r, &t->cap, sizeof(*t->r), t->n + more);
}

/* Bitmaps for a range of `pages` pages, bit 0 = first page, all clear. */
static int bitmaps(struct hy_track *t, struct trk_range *r, size_t pages)
{
	size_t words = trk_words(pages);

	r->mem_len = words * sizeof(uint64_t) * (t->ops->written_map ? 2 : 1);
	r->mem = hy_os_alloc(r->mem_len);
	if (!r->mem)
		return -ENOMEM;
	r->off = 0;
	r->armed = r->mem;
	r->written = t->ops->written_map ? r->armed + words : NULL;
	return 0;
}

/*
 * Stop tracking [start, end) of r: release its armed pages (one ioctl over
 * the part, only if something is armed there) and unregister the part.
 * Errors are ignored: the memory may already be unmapped or replaced.
 */
static void release(struct hy_track *t, struct trk_range *r, uintptr_t start, uintptr_t end)
{
	size_t a = r->off + (start - r->start) / TRK_PG, b = a + (end - start) / TRK_PG;
	struct uffdio_range rg = {.start = start, .len = end - start};

	if (trk_next(r->armed, a, b, true) < b)
		trk_prot(t, start, end, false);
	hy_sys_ioctl(t->uffd, UFFDIO_UNREGISTER, &rg);
}

/* Free the bitmaps of dead ranges and close the gaps (after publish). */
static void sweep(struct hy_track *t)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++) {
		if (t->r[i].dead)
			hy_os_free(t->r[i].mem, t->r[i].mem_len);
		else
			t->r[k++] = t->r[i];
	}
	t->n = k;
}

static void publish(struct hy_track *t)
{
	if (t->ops->publish)
		t->ops->publish(t);
}

/*
 * Cut [start, end) out of the table: ranges inside it die, ranges across
 * an end are trimmed, a range across both ends is split (needs a table
 * entry and bitmaps, obtained before anything changes).  The dead ranges
 * stay in the table, marked, until the caller has published and swept.
 */
static int cut(struct hy_track *t, uintptr_t start, uintptr_t end)
{
	size_t i = first_after(t, start);
	struct trk_range *r;

	if (i < t->n && t->r[i].start < start && t->r[i].end > end) {
		struct trk_range right = {.start = end};
		size_t skip, pages;

		if (reserve(t, 1))
			return -ENOMEM;
		r = &t->r[i];
		right.end = r->end;
		pages = (right.end - right.start) / TRK_PG;
		if (bitmaps(t, &right, pages))
			return -ENOMEM;
		skip = r->off + (end - r->start) / TRK_PG;
		for (size_t k = 0; k < pages; k++) {
			if (trk_bit(r->armed, skip + k))
				trk_set(right.armed, k);
			if (r->written &&
			    __atomic_load_n(&r->written[(skip + k) / 64], __ATOMIC_RELAXED) >>
				    ((skip + k) % 64) &
				1)
				trk_set(right.written, k); /* the handler may be setting bits */
		}
		release(t, r, start, end);
		r->end = start;
		memmove(&t->r[i + 2], &t->r[i + 1], (t->n - i - 1) * sizeof(*t->r));
		t->r[i + 1] = right;
		t->n++;
		return 0;
	}
	for (; i < t->n && t->r[i].start < end; i++) {
		r = &t->r[i];
		if (r->dead)
			continue;
		if (r->start >= start && r->end <= end) {
			release(t, r, r->start, r->end);
			r->dead = true;
		} else if (r->start < start) {
			release(t, r, start, r->end);
			r->end = start;
		} else {
			release(t, r, r->start, end);
			r->off += (end - r->start) / TRK_PG;
			r->start = end;
		}
	}
	return 0;
}

static int remove_locked(struct hy_track *t, uintptr_t start, uintptr_t end)
{
	size_t i = first_after(t, start);
	int rc;

	if (i == t->n || t->r[i].start >= end)
		return 0; /* nothing there: no snapshot, no grace period */
	rc = cut(t, start, end);
	publish(t);
	sweep(t);
	return rc;
}

static int add_locked(struct hy_track *t, uintptr_t start, uintptr_t end)
{
	struct uffdio_register reg = {
	    .range = {.start = start, .len = end - start},
	    .mode = t->ops->rwp ? UFFDIO_REGISTER_MODE_RWP : UFFDIO_REGISTER_MODE_WP,
	};
	uint64_t prot_ioctl = (uint64_t)1 << (t->ops->rwp ? _UFFDIO_RWPROTECT : _UFFDIO_WRITEPROTECT);
	struct trk_range nr = {.start = start, .end = end};
	size_t at;
	int rc;

	if (reserve(t, 2) || bitmaps(t, &nr, (end - start) / TRK_PG))
		return -ENOMEM;
	rc = remove_locked(t, start, end); /* a new mapping replaces what was there */
	if (rc)
		goto fail;
	if (!hy_fd_is(t->uffd, "anon_inode:[userfaultfd]", NULL)) {
		rc = -EBADF; /* the engine's next epoch notices and says so */
		goto fail;
	}
	if ((errno = hy_fault(HY_FAULT_UFFD_IOCTL)) || hy_sys_ioctl(t->uffd, UFFDIO_REGISTER, &reg) < 0) {
		/* the kernel's EPERM here: a shared mapping without write access
		 * (VM_MAYWRITE), said as -EACCES (-EPERM is the engine's, for
		 * a memory policy the program set) */
		rc = errno == EPERM ? -EACCES : -errno;
		goto fail;
	}
	if (!(reg.ioctls & prot_ioctl)) {
		/* e.g. a file mapping the kernel cannot protect */
		hy_sys_ioctl(t->uffd, UFFDIO_UNREGISTER, &reg.range);
		rc = -ENOTSUP;
		goto fail;
	}
	at = first_after(t, start);
	memmove(&t->r[at + 1], &t->r[at], (t->n - at) * sizeof(*t->r));
	t->r[at] = nr;
	t->n++;
	publish(t);
	return 0;
fail:
	hy_os_free(nr.mem, nr.mem_len);
	return rc;
}

/* ---- the interface ---- */

/*
 * The checks every range call makes: 1 = go on (t->lock not yet taken),
 * anything else is the call's return value (an off tracker accepts all).
 */
static int precheck(const struct hy_track *t, uintptr_t start, size_t len)
{
	if (!t || bad_range(start, len))
		return -EINVAL;
	if (is_off(t))
		return 0;
	if (forked(t))
		return -ECHILD;
	return 1;
}

/* add and remove: the checks, then the table operation under t->lock */
static int table_op(struct hy_track *t, uintptr_t start, size_t len,
		    int (*op)(struct hy_track *, uintptr_t, uintptr_t))
{
	int rc = precheck(t, start, len);

	if (rc != 1)
		return rc;
	pthread_mutex_lock(&t->lock);
	rc = op(t, start, start + len);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int hy_track_add(struct hy_track *t, uintptr_t start, size_t len)
{
	return table_op(t, start, len, add_locked);
}

int hy_track_remove(struct hy_track *t, uintptr_t start, size_t len)
{
	return table_op(t, start, len, remove_locked);
}

static int scratch(struct hy_track *t, size_t words)
{
	size_t want = words * sizeof(uint64_t);
	void *p;

	if (want <= t->scratch_len)
		return 0;
	want = hy_page_round_up(want);
	p = hy_os_realloc(t->scratch, t->scratch_len, want);
	if (!p)
		return -ENOMEM;
	t->scratch = p;
	t->scratch_len = want;
	return 0;
}

static int arm_locked(struct hy_track *t, uintptr_t start, uintptr_t end, const uint64_t *arm)
{
	struct trk_range *r = find(t, start, end);
	size_t n = (end - start) / TRK_PG, words = trk_words(n), first;
	uint64_t *on, *off, newly = 0;
	long a, b;

	if (!r)
		return -EINVAL;
	if (scratch(t, 2 * words))
		return -ENOMEM;
	on = t->scratch;
	off = t->scratch + words;
	first = r->off + (start - r->start) / TRK_PG;
	for (size_t w = 0; w < words; w++) {
		size_t nb = n - w * 64 < 64 ? n - w * 64 : 64;
		uint64_t mask = trk_mask(nb), nw = (arm ? arm[w] : ~(uint64_t)0) & mask;
		uint64_t ow = trk_get64(r->armed, first + w * 64, nb);

		on[w] = t->ops->rearm_all ? nw : nw & ~ow;
		off[w] = ow & ~nw;
		newly += (uint64_t)__builtin_popcountll(nw & ~ow);
		trk_put64(r->armed, first + w * 64, nb, nw);
		/* a fault recorded while the page was not armed is not news */
		if (r->written && nw & ~ow)
			trk_take64(r->written, first + w * 64, nb, nw & ~ow);
	}
	b = hy_trk_wp_runs(t, off, 0, start, 0, n, false);
	a = hy_trk_wp_runs(t, on, 0, start, 0, n, true);
	if (a < 0 || b < 0) {
		/* Leave nothing half-armed: a page marked armed but not
		 * protected would read as written forever (async). */
		for (size_t w = 0; w < words; w++) {
			size_t nb = n - w * 64 < 64 ? n - w * 64 : 64;
			trk_put64(r->armed, first + w * 64, nb, 0);
		}
		trk_prot(t, start, end, false);
		return (int)(a < 0 ? a : b);
	}
	hy_stat_add(t->st, pages_armed, newly);
	return 0;
}

int hy_track_arm(struct hy_track *t, uintptr_t start, size_t len, const uint64_t *arm)
{
	int rc = precheck(t, start, len);

	if (rc != 1)
		return rc;
	pthread_mutex_lock(&t->lock);
	rc = arm_locked(t, start, start + len, arm);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void hy_track_set_fault_budget(struct hy_track *t, uint64_t faults)
{
	if (!t)
		return;
	__atomic_store_n(&t->fault_budget, faults, __ATOMIC_RELAXED);
	/* seq_cst, like the handler's decrement and its batch counter: a batch
	 * begun after this sees the new budget, one begun before is waited for */
	__atomic_store_n(&t->fault_left, (int64_t)faults, __ATOMIC_SEQ_CST);
	if (t->ops->quiesce)
		t->ops->quiesce(t);
}

long hy_track_harvest(struct hy_track *t, uintptr_t start, size_t len, uint64_t *written)
{
	struct trk_range *r;
	size_t n;
	long rc;

	rc = written ? precheck(t, start, len) : -EINVAL;
	if (rc == -EINVAL)
		return rc;
	n = len / TRK_PG;
	memset(written, 0, trk_words(n) * sizeof(uint64_t));
	if (rc != 1)
		return rc;
	pthread_mutex_lock(&t->lock);
	r = find(t, start, start + len);
	rc = r ? t->ops->harvest(t, r, r->off + (start - r->start) / TRK_PG, n, written) : -EINVAL;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

const char *hy_track_name(const struct hy_track *t)
{
	return t ? t->ops->name : "off";
}

/*
 * The part of an os allocation that is in memory: a range's bitmaps have a
 * bit per page of the range, but only the words of what was ever armed are
 * touched -- a terabyte reserved and never armed costs no memory, and is
 * not counted as if it did.  The one cost of an epoch that follows address
 * space (the counters are refreshed every epoch): a mincore call per
 * 512 GiB registered.
 */
static size_t resident_bytes(void *mem, size_t len)
{
	unsigned char v[4096]; /* a call per 16 MiB of bitmap: 512 GiB of range */
	size_t in = 0;

	len = hy_page_round_up(len);
	for (size_t off = 0; off < len; off += sizeof(v) * TRK_PG) {
		size_t n = (len - off) / TRK_PG < sizeof(v) ? (len - off) / TRK_PG : sizeof(v);

		if (mincore((char *)mem + off, n * TRK_PG, v))
			return len; /* cannot say: count it all */
		for (size_t i = 0; i < n; i++)
			in += v[i] & 1;
	}
	return in * TRK_PG;
}

size_t hy_track_bytes(const struct hy_track *t)
{
	/* the lock only keeps the table still while it is summed: const to the
	 * caller, who changes nothing */
	pthread_mutex_t *lock;
	size_t b;

	if (!t)
		return 0;
	lock = (pthread_mutex_t *)&t->lock;
	pthread_mutex_lock(lock);
	b = sizeof(*t) + t->cap * sizeof(*t->r) + t->scratch_len;
	for (size_t i = 0; i < t->n; i++) /* removed ones too, until the handler lets them go */
		b += resident_bytes(t->r[i].mem, t->r[i].mem_len);
	if (t->vec)
		b += TRK_VEC * sizeof(*t->vec);
	if (t->snap)
		b += t->snap->bytes;
	pthread_mutex_unlock(lock);
	return b;
}

void hy_track_cost(const struct hy_track *t, struct hy_track_cost *c)
{
	if (t)
		*c = t->cost;
	else
		memset(c, 0, sizeof(*c));
}

/* ---- calibration ---- */

static uint64_t median3(uint64_t a, uint64_t b, uint64_t c)
{
	if (a > b) {
		uint64_t x = a;
		a = b;
		b = x;
	}
	return c < a ? a : c > b ? b : c;
}

/*
 * The CPU time spent so far on a tracked write: this thread's, and for
 * sync the handler thread's too (clock.h: a wait for a CPU on a busy
 * machine is no cost of ours).
 */
static uint64_t cost_now(const struct hy_track *t)
{
	clockid_t h;
	uint64_t ns = hy_cpu_ns(CLOCK_THREAD_CPUTIME_ID);

	if (t->thread_up && !pthread_getcpuclockid(t->thread, &h))
		ns += hy_cpu_ns(h);
	return ns;
}

/*
 * What one observation costs here, on a scratch mapping of our own (256
 * populated base pages, never a huge page), with the backend just opened:
 * the mean CPU time of a first write to an armed page (for sync, the whole
 * round trip through the handler thread, both threads' time), and the
 * harvest time divided by the pages harvested with one page in 8 written.
 * Median of 3 rounds; about 0.1 ms async, a few ms sync.  The counters are
 * not touched.
 */
static void calibrate(struct hy_track *t)
{
	enum { NPG = 256, STEP = 8, ROUNDS = 3 };
	struct hy_stats *st = t->st;
	uint64_t w[NPG / 64], fault[ROUNDS] = {0}, harvest[ROUNDS] = {0};
	size_t len = NPG * TRK_PG;
	char *p = hy_os_alloc(len);
	int rc;

	if (!p)
		return;
	madvise(p, len, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < NPG; i++)
		((volatile char *)p)[i * TRK_PG] = 1;
	__atomic_store_n(&t->st, &t->calib_st, __ATOMIC_RELEASE);
	rc = hy_track_add(t, (uintptr_t)p, len);
	if (!rc)
		rc = hy_track_arm(t, (uintptr_t)p, len, NULL);
	for (int k = 0; !rc && k < ROUNDS; k++) {
		uint64_t t0 = cost_now(t), t1, t2;

		for (size_t i = 0; i < NPG; i += STEP)
			((volatile char *)p)[i * TRK_PG] = (char)k;
		t1 = cost_now(t);
		if (hy_track_harvest(t, (uintptr_t)p, len, w) < 0)
			break;
		t2 = cost_now(t);
		fault[k] = (t1 - t0) / (NPG / STEP);
		harvest[k] = (t2 - t1) / NPG;
	}
	hy_track_remove(t, (uintptr_t)p, len);
	__atomic_store_n(&t->st, st, __ATOMIC_RELEASE);
	hy_os_free(p, len);
	t->cost.fault_ns = median3(fault[0], fault[1], fault[2]);
	t->cost.harvest_ns_per_page = median3(harvest[0], harvest[1], harvest[2]);
	if (!t->cost.harvest_ns_per_page && harvest[0] | harvest[1] | harvest[2])
		t->cost.harvest_ns_per_page = 1;
}

/* ---- open / close ---- */

static int backend_ready(const struct hy_kfeat *k, int backend, const char **why)
{
	if (!k->uffd) {
		*why = "userfaultfd is unavailable to this process";
		return 0;
	}
	if (backend == HY_BACKEND_RWP) {
		*why = !k->rwp ? "the kernel has no userfaultfd read-write protection (needs 7.3)"
		       : !k->rwp_async ? "no UFFD_FEATURE_RWP_ASYNC"
				       : "PAGEMAP_SCAN without PAGE_IS_ACCESSED";
		return hy_kfeat_rwp(k);
	}
	if (!k->wp) {
		*why = "the kernel has no userfaultfd write protection (needs 5.7)";
		return 0;
	}
	if (backend == HY_BACKEND_ASYNC && !(k->wp_async && k->pagemap_scan)) {
		*why = !k->wp_async && !k->pagemap_scan
			   ? "no UFFD_FEATURE_WP_ASYNC and no PAGEMAP_SCAN"
		       : !k->wp_async ? "no UFFD_FEATURE_WP_ASYNC"
				      : "no PAGEMAP_SCAN";
		return 0;
	}
	if (backend == HY_BACKEND_SYNC && !k->uffd_kernel_faults) {
		*why = "the only userfaultfd available is user-mode-only, so a read(2) into a "
		       "protected page would fail with EFAULT";
		return 0;
	}
	return 1;
}

/* The tracker's descriptors closed, and forgotten. */
static void close_fds(struct hy_track *t)
{
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->pagemap >= 0)
		close(t->pagemap);
	if (t->stopfd >= 0)
		close(t->stopfd);
	t->uffd = t->pagemap = t->stopfd = -1;
}


static void free_all(struct hy_track *t)
{
	for (size_t i = 0; i < t->n; i++)
		hy_os_free(t->r[i].mem, t->r[i].mem_len);
	hy_os_free(t->r, t->cap * sizeof(*t->r));
	hy_os_free(t->scratch, t->scratch_len);
	hy_os_free(t->vec, TRK_VEC * sizeof(*t->vec));
	if (t->snap)
		hy_os_free(t->snap, t->snap->bytes);
	close_fds(t);
	pthread_mutex_destroy(&t->lock);
	hy_os_free(t, sizeof(*t));
}

/* Costs to be measured later (hy_track_calibrate), not at open. */
static const struct hy_track_cost cost_later;

static int open_ops(struct hy_track **tp, const struct trk_ops *ops, const struct hy_kfeat *k,
		    struct hy_stats *st, const struct hy_track_cost *known, struct hy_err *err)
{
	struct hy_track *t = hy_os_alloc(sizeof(*t));
	int rc;

	if (!t) {
		hy_err_set(err, "out of memory for the tracker");
		return -ENOMEM;
	}
	t->ops = ops;
	t->st = st ? st : &t->own_st;
	t->kf = *k;
	t->pid = getpid();
	t->uffd = t->pagemap = t->stopfd = -1;
	pthread_mutex_init(&t->lock, NULL);
	rc = ops->open ? ops->open(t, err) : 0;
	if (rc) {
		if (ops->stop)
			ops->stop(t);
		free_all(t);
		return rc;
	}
	/* the sync backend measures now even when asked to wait: measuring later
	 * means a throwaway handler thread started from the policy thread, and
	 * that thread must not allocate through the interposed heap */
	if (known && known != &cost_later)
		t->cost = *known;
	else if (ops != &off_ops && (!known || ops == &hy_trk_sync_ops))
		calibrate(t);
	*tp = t;
	return 0;
}

static int open_with(struct hy_track **tp, int backend, const struct hy_kfeat *k,
		     struct hy_stats *st, const struct hy_track_cost *known, struct hy_err *err)
{
	const struct trk_ops *ops;
	struct hy_err why1, why2;
	const char *why = NULL;
	int rc;

	*tp = NULL;
	if (err)
		err->msg[0] = '\0';
	switch (backend) {
	case HY_BACKEND_OFF:
		return open_ops(tp, &off_ops, k, st, known, err);
	case HY_BACKEND_RWP:
	case HY_BACKEND_ASYNC:
	case HY_BACKEND_SYNC:
		ops = backend == HY_BACKEND_RWP	    ? &hy_trk_rwp_ops
		      : backend == HY_BACKEND_ASYNC ? &hy_trk_async_ops
						    : &hy_trk_sync_ops;
		if (!backend_ready(k, backend, &why)) {
			hy_err_set(err, "the %s tracking backend cannot work here: %s", ops->name,
				   why);
			return -ENOTSUP;
		}
		rc = open_ops(tp, ops, k, st, known, &why2);
		if (rc)
			hy_err_set(err, "the %s tracking backend failed to start: %s", ops->name,
				   why2.msg);
		return rc;
	case HY_BACKEND_AUTO:
		break;
	default:
		hy_err_set(err, "unknown tracking backend %d", backend);
		return -EINVAL;
	}
	/*
	 * auto: rwp (reads and writes), else async, else sync, else off, each
	 * only if the probe says it can work; a backend that fails to start
	 * passes on to the next one.  A kernel without RWP is the common case
	 * and says nothing; an RWP kernel whose rwp backend fails says why
	 * (info).  On success err stays empty (the caller warns when it is not).
	 */
	if (hy_kfeat_rwp(k)) {
		if (open_ops(tp, &hy_trk_rwp_ops, k, st, known, &why2) == 0)
			return 0;
		hy_info("read-write tracking failed, tracking writes only: %s", why2.msg);
	}
	if (!backend_ready(k, HY_BACKEND_ASYNC, &why)) {
		snprintf(why1.msg, sizeof(why1.msg), "%s",
			 k->uffd && k->wp ? "no WP_ASYNC/PAGEMAP_SCAN (Linux 6.7)" : why);
	} else if (open_ops(tp, &hy_trk_async_ops, k, st, known, &why2) == 0) {
		return 0;
	} else {
		snprintf(why1.msg, sizeof(why1.msg), "the async backend failed: %.400s", why2.msg);
	}
	if (k->uffd && k->wp && !backend_ready(k, HY_BACKEND_SYNC, &why)) {
		hy_err_set(err, "%s, and for the sync backend %s", why1.msg, why);
	} else if (k->uffd && k->wp && open_ops(tp, &hy_trk_sync_ops, k, st, known, &why2) == 0) {
		hy_info("tracking with the sync backend: %s", why1.msg);
		return 0;
	} else if (k->uffd && k->wp) {
		hy_err_set(err, "%s; the sync backend failed: %s", why1.msg, why2.msg);
	} else {
		hy_err_set(err, "%s", why1.msg);
	}
	return open_ops(tp, &off_ops, k, st, known, &why2);
}

int hy_track_open_with(struct hy_track **tp, int backend, const struct hy_kfeat *k,
		       struct hy_stats *st, struct hy_err *err)
{
	return open_with(tp, backend, k, st, NULL, err);
}

int hy_track_open(struct hy_track **tp, int backend, struct hy_stats *st, struct hy_err *err)
{
	struct hy_kfeat k;

	hy_kfeat_probe(&k);
	return open_with(tp, backend, &k, st, NULL, err);
}

int hy_track_open_lazy(struct hy_track **tp, int backend, const struct hy_kfeat *k,
		       struct hy_stats *st, struct hy_err *err)
{
	return open_with(tp, backend, k, st, &cost_later, err);
}

/*
 * Measured on a throwaway tracker of the same backend (its own userfaultfd
 * and, for sync, its own handler), never on t itself: t is live, program
 * threads arm and register through it and its handler counts into t->st,
 * and calibrate() redirects the counters of the tracker it runs on.
 */
void hy_track_calibrate(struct hy_track *t)
{
	struct hy_track *tmp;
	struct hy_err err;

	if (is_off(t) || forked(t) || t->cost.fault_ns)
		return; /* nothing to measure, or measured already (sync: at open) */
	if (open_ops(&tmp, t->ops, &t->kf, NULL, NULL, &err) == 0) {
		t->cost = tmp->cost;
		hy_track_close(tmp);
	}
}

int hy_track_check(struct hy_track *t)
{
	int stop;

	if (is_off(t) || forked(t))
		return 0;
	if (hy_fd_is(t->uffd, "anon_inode:[userfaultfd]", NULL) && hy_fd_is(t->pagemap, NULL, "/pagemap") &&
	    hy_fd_is(t->stopfd, "anon_inode:[eventfd]", NULL))
		return 0;
	/* Abandon: forget the numbers without closing them (they may be the
	 * program's now), let the handler go, and track nothing from here on.
	 * A userfaultfd the program closed took its registrations with it. */
	pthread_mutex_lock(&t->lock);
	__atomic_store_n(&t->uffd, -1, __ATOMIC_RELEASE);
	t->pagemap = -1;
	if (!hy_fd_is(t->stopfd, "anon_inode:[eventfd]", NULL))
		t->stopfd = -1;
	stop = t->ops->stop != NULL;
	pthread_mutex_unlock(&t->lock);
	if (stop)
		t->ops->stop(t);
	t->ops = &off_ops;
	return -EBADF;
}

int hy_track_reopen(struct hy_track **tp, struct hy_err *err)
{
	struct hy_track *old = *tp, *t;
	int rc;

	rc = open_ops(&t, old->ops, &old->kf, old->st == &old->own_st ? NULL : old->st,
		      &old->cost, err);
	if (rc)
		return rc;
	hy_track_close(old); /* forked: frees, never touches the parent's uffd */
	*tp = t;
	return 0;
}

void hy_track_fork_child(struct hy_track *t)
{
	if (!t || !forked(t))
		return;
	/* the sync handler thread was not copied: nothing reads these */
	close_fds(t);
}

void hy_track_close(struct hy_track *t)
{
	if (!t)
		return;
	if (!is_off(t) && !forked(t)) {
		/* Release every page first, so that no write can block once the
		 * handler is gone; unregistering wakes any thread still waiting. */
		pthread_mutex_lock(&t->lock);
		for (size_t i = 0; i < t->n; i++) {
			release(t, &t->r[i], t->r[i].start, t->r[i].end);
			t->r[i].dead = true;
		}
		publish(t);
		sweep(t);
		pthread_mutex_unlock(&t->lock);
		if (t->ops->stop)
			t->ops->stop(t);
	}
	free_all(t);
}
