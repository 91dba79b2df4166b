/* SPDX-License-Identifier: MIT */
/*
 * region — the registry of managed address ranges and their per-page state.
 *
 * A region is a page-aligned range [start, end) that libhybrid manages,
 * with a hint (hybrid, hot, cold, pin) and two bytes of state per 4 KiB
 * page (hy_pstate below) -- kept only where memory is populated.  State
 * lives in chunks of HY_CHUNK_PAGES pages (256 KiB, aligned to the address,
 * not to the region), each created when the epoch first finds one of its
 * pages present and given back when it finds none: a region nobody touched
 * holds no state and costs an epoch nothing, however large (issue 17).  A
 * page without a chunk has the state a fresh page of its hint has
 * (hy_reg_get).  Regions never overlap; the table is sorted by start.
 * Adding a range that overlaps managed ones replaces the overlap; removing
 * part of a region trims or splits it; a move (mremap) carries the state of
 * the pages that move.
 *
 * Locking: one mutex per registry.  Every function here but init/destroy
 * expects the caller to hold it (hy_reg_lock), so that a caller can look up
 * and act on a region atomically with respect to unmap/remap.  Who takes
 * it: program threads in the mmap-family wrappers (briefly), and the policy
 * thread, per batch.  Never the sync fault handler: a thread blocked on a
 * write-protect fault may hold it.
 *
 * The registry never touches the managed pages themselves, and its own
 * memory comes from os.h, never from the heap.
 */
#ifndef HY_REGION_H
#define HY_REGION_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "os.h"

enum hy_hint {
	HY_HINT_NONE = 0,   /* not managed (hy_engine_rehint: stop managing) */
	HY_HINT_HYBRID = 1, /* start slow, promote when hot */
	HY_HINT_HOT,	    /* keep on the fastest tier */
	HY_HINT_COLD,	    /* keep on a slow tier */
	HY_HINT_PIN,	    /* never migrate */
};

/*
 * hy_pstate — 16 bits per page:
 *   0-7   access history: bit i set = seen accessed in the epoch i epochs ago
 *         (the tracker's signal: written for async and sync, read or
 *         written for rwp; "written" in the policy and the sampler means
 *         this signal, whichever backend gives it)
 *   8-10  tier the page was last seen on, plus one (0 = not known yet)
 *   11    pinned: never migrate
 *   12-13 back-off level after failed migrations (retry every 4^level epochs);
 *         while hold-off runs, the direction of the move that started it
 *         instead (a page that just moved has no back-off)
 *   14-15 hold-off epochs left after a move (no move back meanwhile)
 */
typedef uint16_t hy_pstate;

#define HY_PS_HIST_MASK	    0x00ffu
#define HY_PS_TIER_SHIFT    8
#define HY_PS_TIER_MASK	    0x0700u
#define HY_PS_PIN	    0x0800u
#define HY_PS_BACKOFF_SHIFT 12
#define HY_PS_BACKOFF_MASK  0x3000u
#define HY_PS_HOLD_SHIFT    14
#define HY_PS_HOLD_MASK	    0xc000u
#define HY_PS_MAX_TIERS	    7 /* tier+1 must fit 3 bits */
#define HY_PS_MAX_BACKOFF   3
#define HY_PS_MAX_HOLD	    3

static inline unsigned hy_ps_hist(hy_pstate s)
{
	return s & HY_PS_HIST_MASK;
}

/* Tier index, or -1 if not known. */
static inline int hy_ps_tier(hy_pstate s)
{
	return (int)((s & HY_PS_TIER_MASK) >> HY_PS_TIER_SHIFT) - 1;
}

static inline hy_pstate hy_ps_set_tier(hy_pstate s, int tier)
{
	unsigned v = tier < 0 || tier >= HY_PS_MAX_TIERS ? 0 : (unsigned)tier + 1;
	return (hy_pstate)((s & ~HY_PS_TIER_MASK) | (v << HY_PS_TIER_SHIFT));
}

static inline bool hy_ps_pinned(hy_pstate s)
{
	return s & HY_PS_PIN;
}

static inline unsigned hy_ps_hold(hy_pstate s)
{
	return (s & HY_PS_HOLD_MASK) >> HY_PS_HOLD_SHIFT;
}

static inline unsigned hy_ps_backoff(hy_pstate s)
{
	return hy_ps_hold(s) ? 0 : (s & HY_PS_BACKOFF_MASK) >> HY_PS_BACKOFF_SHIFT;
}

/* A failed move: back-off at `level`, and no hold-off. */
static inline hy_pstate hy_ps_set_backoff(hy_pstate s, unsigned level)
{
	if (level > HY_PS_MAX_BACKOFF)
		level = HY_PS_MAX_BACKOFF;
	s = (hy_pstate)(s & ~HY_PS_HOLD_MASK);
	return (hy_pstate)((s & ~HY_PS_BACKOFF_MASK) | (level << HY_PS_BACKOFF_SHIFT));
}

enum hy_move_dir { HY_DIR_NONE = 0, HY_DIR_UP = 1, HY_DIR_DOWN = 2 };

/* A successful move in direction dir: hold-off for `epochs`, no back-off. */
static inline hy_pstate hy_ps_set_moved(hy_pstate s, enum hy_move_dir dir, unsigned epochs)
{
	if (epochs > HY_PS_MAX_HOLD)
		epochs = HY_PS_MAX_HOLD;
	s = (hy_pstate)(s & ~(HY_PS_HOLD_MASK | HY_PS_BACKOFF_MASK));
	if (!epochs)
		return s;
	return (hy_pstate)(s | (epochs << HY_PS_HOLD_SHIFT) | ((unsigned)dir << HY_PS_BACKOFF_SHIFT));
}

/* The direction of the move whose hold-off still runs, or HY_DIR_NONE. */
static inline enum hy_move_dir hy_ps_moved_dir(hy_pstate s)
{
	return hy_ps_hold(s) ? (enum hy_move_dir)((s & HY_PS_BACKOFF_MASK) >> HY_PS_BACKOFF_SHIFT)
			     : HY_DIR_NONE;
}

/* End of an epoch: shift the history, record this epoch, count hold-off down. */
static inline hy_pstate hy_ps_age(hy_pstate s, bool written)
{
	unsigned hist = ((hy_ps_hist(s) << 1) | (written ? 1u : 0u)) & HY_PS_HIST_MASK;
	unsigned hold = hy_ps_hold(s);

	s = (hy_pstate)((s & ~HY_PS_HIST_MASK) | hist);
	if (hold == 1) /* over: the direction bits go back to meaning back-off 0 */
		return (hy_pstate)(s & ~(HY_PS_HOLD_MASK | HY_PS_BACKOFF_MASK));
	return hold ? (hy_pstate)((s & ~HY_PS_HOLD_MASK) | ((hold - 1) << HY_PS_HOLD_SHIFT)) : s;
}

/* Bits set in an 8-bit value, inline (without -mpopcnt __builtin_popcount
 * is a libgcc call, and the policy asks this of every page every epoch). */
static inline unsigned hy_popcount8(unsigned x)
{
	x = x - ((x >> 1) & 0x55u);
	x = (x & 0x33u) + ((x >> 2) & 0x33u);
	return (x + (x >> 4)) & 0x0fu;
}

/* Bits set in a 64-bit word, inline for the same reason. */
static inline unsigned hy_popcount64(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555u);
	x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
	return (unsigned)((x * 0x0101010101010101u) >> 56);
}

/* Distinct epochs with a write among the last `window` (1-8). */
static inline unsigned hy_ps_seen(hy_pstate s, unsigned window)
{
	unsigned mask = window >= 8 ? 0xffu : (1u << window) - 1;
	return hy_popcount8(hy_ps_hist(s) & mask);
}

/*
 * A chunk of state: HY_CHUNK_PAGES pages from an address aligned to
 * HY_CHUNK_BYTES.  `no` counts chunks from the region's chunk base (cbase,
 * which trimming or splitting never changes), so a region may span 2^32
 * chunks (1 PiB).  A region's first and last chunks may hold pages outside
 * it: their state stays that of a fresh page and nothing uses it
 * (hy_chunk_mask says which pages are the region's).
 */
#define HY_CHUNK_PAGES 64
#define HY_CHUNK_SHIFT (HY_PAGE_SHIFT + 6)
#define HY_CHUNK_BYTES ((uintptr_t)1 << HY_CHUNK_SHIFT)

struct hy_chunk {
	uint32_t no;
	/* bit i: some page of the chunk was first seen (populated, or refilled)
	 * in the epoch i epochs ago -- its history bit there is that first
	 * touch, not a tracked access (aged with the history: hy_policy_age);
	 * the sampler's measure of the bulk of memory counts such pages as
	 * fresh (hy_sampler_catch) */
	uint8_t touched;
	hy_pstate st[HY_CHUNK_PAGES];
};

struct hy_region {
	uintptr_t start, end;	/* page-aligned, start < end */
	enum hy_hint hint;
	uint64_t id;		/* unique per registry; a split or moved part gets a new one */
	uintptr_t cbase;	/* address of chunk 0 (HY_CHUNK_BYTES-aligned, <= start) */
	struct hy_chunk *ch;	/* the populated chunks, sorted by no */
	size_t nch, ch_cap;	/* used and mapped entries */
	size_t arm_cursor;	/* sampler: the sweep's next step (hy_sampler_choose) */
	size_t sweep_from, sweep_n; /* the last sweep: its first step, chunks gone over */
	int slot;		/* shared memory: its slot on the tree's board (board.h),
				 * kept by splits and across fork; 0: private */
	uint64_t sno0;		/* shared: the slot's number of this region's chunk 0
				 * (a part re-hinted alone has a chunk base of its own) */
	bool lead;		/* shared: this process leads the slot this epoch (the
				 * epoch sets it; only a lead's shared pages are planned) */
};

struct hy_registry {
	pthread_mutex_t lock;
	struct hy_region *reg;	/* sorted by start, non-overlapping */
	size_t n, cap;		/* used and mapped entries */
	uint64_t next_id;
	size_t pages;		/* managed pages, all regions */
	size_t chunks;		/* chunks of state, all regions */
};

/* The address of chunk c's first page (which may lie before g->start). */
static inline uintptr_t hy_chunk_addr(const struct hy_region *g, const struct hy_chunk *c)
{
	return g->cbase + ((uintptr_t)c->no << HY_CHUNK_SHIFT);
}

/* The pages of chunk c inside g: bit j = page j. */
static inline uint64_t hy_chunk_mask(const struct hy_region *g, const struct hy_chunk *c)
{
	uintptr_t a = hy_chunk_addr(g, c);
	uint64_t m = ~(uint64_t)0;

	if (g->start > a)
		m &= ~(uint64_t)0 << ((g->start - a) >> HY_PAGE_SHIFT);
	if (g->end < a + HY_CHUNK_BYTES)
		m &= ~(uint64_t)0 >> (HY_CHUNK_PAGES - ((g->end - a) >> HY_PAGE_SHIFT));
	return m;
}

int hy_reg_init(struct hy_registry *r);
/* Frees all bookkeeping; the managed memory itself is untouched. */
void hy_reg_destroy(struct hy_registry *r);

void hy_reg_lock(struct hy_registry *r);
void hy_reg_unlock(struct hy_registry *r);
/*
 * Does this thread hold a registry lock?  The preload layer's mmap family
 * asks before calling into the engine: something reached while the lock is
 * held (a sanitizer's symbolizer, a libc function that unmaps through the
 * interposed symbol) must not take it again and deadlock.
 */
bool hy_reg_held(void);

/*
 * Manage [start, start+len) with hint; managed parts it overlaps are
 * replaced (their state forgotten).  start and len must be page-aligned and
 * the range must not wrap: -EINVAL.  -ENOMEM if bookkeeping memory runs out
 * (the registry is then unchanged).
 */
int hy_reg_add(struct hy_registry *r, uintptr_t start, size_t len, enum hy_hint hint);

/* Stop managing [start, start+len): regions are removed, trimmed or split. */
int hy_reg_remove(struct hy_registry *r, uintptr_t start, size_t len);

/*
 * The range moved (mremap): pages of [old, old+oldlen) that now live at
 * [new, new+newlen) keep their state; pages beyond oldlen start fresh with
 * the hint of the region at old.  Only managed parts move.
 */
int hy_reg_move(struct hy_registry *r, uintptr_t old, size_t oldlen, uintptr_t new,
		size_t newlen);

/* The region holding addr, or NULL. */
struct hy_region *hy_reg_find(struct hy_registry *r, uintptr_t addr);

/* The first region ending above addr (holding it, or after it), or NULL:
 * a walk that lets go of the lock between regions goes on from there. */
struct hy_region *hy_reg_next(struct hy_registry *r, uintptr_t addr);

/* The state of a fresh page of g (nothing seen; pinned with the PIN hint). */
static inline hy_pstate hy_reg_fresh(const struct hy_region *g)
{
	return g->hint == HY_HINT_PIN ? HY_PS_PIN : 0;
}

/* Index in g->ch of the first chunk at or after the one holding addr
 * (g->nch if none). */
size_t hy_reg_chunk_index(const struct hy_region *g, uintptr_t addr);

/* The chunk of g holding addr (inside g), or NULL when it has none. */
struct hy_chunk *hy_reg_chunk(struct hy_region *g, uintptr_t addr);

/* The state of the page at addr (inside g): its chunk's, or a fresh one. */
hy_pstate hy_reg_get(struct hy_region *g, uintptr_t addr);

/* The state of the page at addr (inside g), its chunk created if needed;
 * NULL if bookkeeping memory runs out. */
hy_pstate *hy_reg_at(struct hy_registry *r, struct hy_region *g, uintptr_t addr);

/*
 * Chunks for the chunk numbers nos[0..k) (sorted, ascending; numbers g
 * has already are skipped), fresh.  One merge, O(nch + k).  carry, if not
 * NULL, holds one word per chunk of g and room for nch + k: each word
 * moves with its chunk, new chunks get 0.  0, or -ENOMEM with g unchanged.
 */
int hy_reg_add_chunks(struct hy_registry *r, struct hy_region *g, const uint32_t *nos, size_t k,
		      uint64_t *carry);

/* Give back the chunks of g whose keep[] entry (one per chunk, in order)
 * is 0; the others keep their order.  Returns the chunks given back. */
size_t hy_reg_drop_chunks(struct hy_registry *r, struct hy_region *g, const uint64_t *keep);

/* Bytes of bookkeeping (the table and the chunks), for the counters. */
size_t hy_reg_state_bytes(const struct hy_registry *r);

/* Internal consistency (sorted, disjoint, aligned, page and chunk counts,
 * chunks sorted and inside their region); 0 or -EFAULT. */
int hy_reg_check(const struct hy_registry *r);

#endif
