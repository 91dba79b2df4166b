/* SPDX-License-Identifier: MIT */
/*
 * track_impl — what track.c shares with its backends (track_async.c: async
 * and rwp, track_sync.c: sync); nothing outside lib/track*.c includes this.
 *
 * struct hy_track holds the range table: every tracked range with a bitmap
 * of the pages armed in it (and, for sync, a bitmap of the pages the handler
 * saw written).  track.c owns the table, argument checks, arming and the
 * cost calibration; a backend supplies the few operations that differ.
 *
 * Locking: t->lock serialises every call but the sync handler thread's
 * work: add/remove (program threads, registry lock held) and arm/harvest
 * (policy thread).  The handler never takes it; it reads t->snap, a
 * snapshot of the table republished on every add/remove, under a
 * grace-period counter (t->hseq, see track_sync.c), and touches only the
 * written bitmaps, with atomics.
 *
 * Memory: t, the table, the bitmaps and the snapshots come from os.h
 * (never the heap); a bitmap lives as long as its range, and a removed
 * range's bitmap is freed only after the handler has left any batch that
 * may still use it.
 */
#ifndef HY_TRACK_IMPL_H
#define HY_TRACK_IMPL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "kernel_compat.h"
#include "kfeat.h"
#include "os.h"
#include "track.h"
#include "fault.h"

#define TRK_PG HY_PAGE_SIZE

struct trk_range {
	uintptr_t start, end;
	size_t off;	   /* bit of page `start` in the bitmaps (a trimmed head moves it) */
	uint64_t *armed;   /* bit per page; under t->lock only */
	uint64_t *written; /* sync: set by the handler, atomics; else NULL */
	void *mem;	   /* the os allocation holding both bitmaps */
	size_t mem_len;
	bool dead; /* removed; freed once no handler batch can see it */
};

/* The sync handler's view of the table: sorted, immutable once published. */
struct trk_snap_ent {
	uintptr_t start, end;
	size_t off;
	uint64_t *written;
};
struct trk_snap {
	size_t n, bytes;
	struct trk_snap_ent e[];
};

struct trk_ops {
	const char *name;
	/* Open the backend's userfaultfd (t->uffd) and whatever else it needs. */
	int (*open)(struct hy_track *t, struct hy_err *err);
	/* Stop threads (may be NULL); fds are closed by track.c. */
	void (*stop)(struct hy_track *t);
	/*
	 * End of epoch on pages [first, first+n) of r's bitmaps (absolute bit
	 * numbers): set bit (page - first) of out[] (zeroed by the caller) for
	 * every armed page written (rwp: accessed), re-arm it, return the
	 * count or -errno.
	 */
	long (*harvest)(struct hy_track *t, struct trk_range *r, size_t first, size_t n,
			uint64_t *out);
	/* The table changed (called with t->lock held): republish for a handler. */
	void (*publish)(struct hy_track *t);
	/* A new fault budget is set: wait for a handler's batch in progress,
	 * which may still spend the old one (may be NULL). */
	void (*quiesce)(struct hy_track *t);
	bool rwp;	  /* read-write protection (MODE_RWP, UFFDIO_RWPROTECT), not WP */
	bool written_map; /* needs a written bitmap per range */
	bool rearm_all;	  /* arm() re-protects every armed page, not only new ones */
};

extern const struct trk_ops hy_trk_async_ops, hy_trk_rwp_ops, hy_trk_sync_ops;

struct hy_track {
	const struct trk_ops *ops;
	struct hy_stats *st; /* the caller's, or own_st */
	struct hy_stats own_st;
	/* where calibration's faults are counted: the sync handler may add a
	 * batch's faults after calibrate() has handed t->st back, so this
	 * lives as long as t (never on calibrate's stack) */
	struct hy_stats calib_st;
	struct hy_kfeat kf;
	pid_t pid; /* the owner: after fork the child must not use t */
	pthread_mutex_t lock;
	struct trk_range *r; /* sorted by start, non-overlapping */
	size_t n, cap;
	uint64_t *scratch; /* arm(): two window bitmaps */
	size_t scratch_len;
	int uffd;
	uint64_t features; /* UFFDIO_API features asked for and granted */
	struct hy_track_cost cost;

	/* async */
	int pagemap;		 /* /proc/self/pagemap */
	struct page_region *vec; /* PAGEMAP_SCAN output, TRK_VEC entries */

	/* sync */
	int stopfd; /* eventfd: the handler leaves when readable */
	pthread_t thread;
	bool thread_up;
	int stopping; /* atomic: the handler leaves at its next wake-up */
	struct trk_snap *snap; /* published for the handler */
	uint64_t hseq;	       /* odd while the handler works on a batch */
	int handler_errno;     /* last unexpected error in the handler */
	int64_t fault_left;    /* atomic: faults the handler may still take
				* (hy_track_set_fault_budget); <= 0 with
				* fault_budget set: spent */
	uint64_t fault_budget; /* 0: no limit */
};

#define TRK_VEC 512

/* The address of the page whose bit is `bit` in r's bitmaps. */
static inline uintptr_t trk_page(const struct trk_range *r, size_t bit)
{
	return r->start + (bit - r->off) * TRK_PG;
}

/* ---- bitmaps: bit i of word i/64, absolute bit numbers ---- */

static inline bool trk_bit(const uint64_t *b, size_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static inline void trk_set(uint64_t *b, size_t i)
{
	b[i / 64] |= (uint64_t)1 << (i % 64);
}

/* The low n bits (0..64) set. */
static inline uint64_t trk_mask_upto(size_t n)
{
	return n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

/* The first i in [from, to) whose bit equals `set`, or to. */
static inline size_t trk_next(const uint64_t *b, size_t from, size_t to, bool set)
{
	size_t i = from;

	while (i < to) {
		uint64_t w = set ? b[i / 64] : ~b[i / 64];

		w &= ~(uint64_t)0 << (i % 64);
		if (w) {
			i = (i & ~(size_t)63) + (size_t)__builtin_ctzll(w);
			return i < to ? i : to;
		}
		i = (i & ~(size_t)63) + 64;
	}
	return to;
}

/* The last set bit in [from, to), or to when there is none. */
static inline size_t trk_last_set(const uint64_t *b, size_t from, size_t to)
{
	size_t i = to;

	while (i > from) {
		size_t w = (i - 1) / 64, lo = w * 64 > from ? w * 64 : from;
		uint64_t v = b[w] & trk_mask_upto(i - w * 64) & ~trk_mask_upto(lo - w * 64);

		if (v)
			return w * 64 + 63 - (size_t)__builtin_clzll(v);
		i = lo;
	}
	return to;
}

static inline size_t trk_words(size_t bits)
{
	return (bits + 63) / 64;
}

static inline uint64_t trk_mask(size_t nbits)
{
	return nbits >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << nbits) - 1;
}

/* Set bits [from, to). */
static inline void trk_set_range(uint64_t *b, size_t from, size_t to)
{
	while (from < to) {
		size_t n = 64 - from % 64 < to - from ? 64 - from % 64 : to - from;
		b[from / 64] |= trk_mask(n) << (from % 64);
		from += n;
	}
}

/* nbits (1..64) bits from bit `bit`, at any alignment; reads no word past
 * the last bit. */
static inline uint64_t trk_get64(const uint64_t *b, size_t bit, size_t nbits)
{
	size_t w = bit / 64, s = bit % 64;
	uint64_t v = b[w] >> s;

	if (s && s + nbits > 64)
		v |= b[w + 1] << (64 - s);
	return v & trk_mask(nbits);
}

static inline void trk_put64(uint64_t *b, size_t bit, size_t nbits, uint64_t v)
{
	size_t w = bit / 64, s = bit % 64;
	uint64_t m = trk_mask(nbits);

	v &= m;
	b[w] = (b[w] & ~(m << s)) | v << s;
	if (s && s + nbits > 64)
		b[w + 1] = (b[w + 1] & ~(m >> (64 - s))) | v >> (64 - s);
}

/* Atomically clear the bits of `which` (relative to `bit`, nbits of them)
 * and return which of them were set: the sync handler sets bits meanwhile. */
static inline uint64_t trk_take64(uint64_t *b, size_t bit, size_t nbits, uint64_t which)
{
	size_t w = bit / 64, s = bit % 64;
	uint64_t m = which & trk_mask(nbits), v;

	v = __atomic_fetch_and(&b[w], ~(m << s), __ATOMIC_ACQ_REL) >> s;
	if (s && s + nbits > 64)
		v |= __atomic_fetch_and(&b[w + 1], ~(m >> (64 - s)), __ATOMIC_ACQ_REL) << (64 - s);
	return v & m;
}

/* ---- userfaultfd helpers ---- */

/* Protect (on) or release (off) [start, end) the backend's way:
 * UFFDIO_RWPROTECT for rwp, else UFFDIO_WRITEPROTECT; 0 or -errno.  EAGAIN
 * (the mm is changing under a non-cooperative event) is retried a few
 * times.  Releasing wakes any thread waiting on the range. */
static inline int trk_prot(const struct hy_track *t, uintptr_t start, uintptr_t end, bool on)
{
	struct uffdio_range range = {.start = start, .len = end - start};
	struct uffdio_writeprotect w = {.range = range, .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
	struct uffdio_rwprotect rw = {.range = range, .mode = on ? UFFDIO_RWPROTECT_MODE_RWP : 0};
	int err = hy_fault(HY_FAULT_UFFD_IOCTL);

	if (err)
		return -err;
	for (int tries = 0;; tries++) {
		if ((t->ops->rwp ? hy_sys_ioctl(t->uffd, UFFDIO_RWPROTECT, &rw)
				 : hy_sys_ioctl(t->uffd, UFFDIO_WRITEPROTECT, &w)) == 0)
			return 0;
		if (errno != EAGAIN || tries == 100)
			return -errno;
	}
}

/* A userfaultfd with these features (0 or -errno, reason in err);
 * kernel_faults: one that also takes faults raised in system calls. */
int hy_trk_uffd_open(struct hy_track *t, bool kernel_faults, uint64_t features, struct hy_err *err);

/* Protect (on) or release (off), as trk_prot, every run of set bits of b in
 * [from, to), where bit `base` is page `addr`.  Returns pages changed or
 * -errno (the first error; the other runs are still done). */
long hy_trk_wp_runs(struct hy_track *t, const uint64_t *b, size_t base, uintptr_t addr, size_t from,
		    size_t to, bool on);

#endif
