/* SPDX-License-Identifier: MIT */
/*
 * region — see region.h.  The table is a sorted array in os-mapped memory;
 * binary search finds a region, insertion and removal shift entries.  The
 * number of regions is small next to the number of pages they hold, so
 * simplicity wins over a tree here.
 */
#include "region.h"

#include <errno.h>
#include <string.h>

#include "range.h"

static size_t npages(uintptr_t start, uintptr_t end)
{
	return (end - start) >> HY_PAGE_SHIFT;
}

int hy_reg_init(struct hy_registry *r)
{
	memset(r, 0, sizeof(*r));
	r->next_id = 1;
	return -pthread_mutex_init(&r->lock, NULL);
}

void hy_reg_destroy(struct hy_registry *r)
{
	for (size_t i = 0; i < r->n; i++)
		hy_os_free(r->reg[i].ch, r->reg[i].ch_cap * sizeof(struct hy_chunk));
	hy_os_free(r->reg, r->cap * sizeof(*r->reg));
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

/* Registry locks this thread holds (any registry): see hy_reg_held(). */
static __thread int held __attribute__((tls_model("initial-exec")));

void hy_reg_lock(struct hy_registry *r)
{
	pthread_mutex_lock(&r->lock);
	held++;
}

void hy_reg_unlock(struct hy_registry *r)
{
	held--;
	pthread_mutex_unlock(&r->lock);
}

bool hy_reg_held(void)
{
	return held > 0;
}

/* Index of the first region whose end is above addr (may be r->n). */
static size_t first_after(const struct hy_registry *r, uintptr_t addr)
{
	return HY_RANGE_FIRST_AFTER(r->reg, r->n, addr);
}

struct hy_region *hy_reg_find(struct hy_registry *r, uintptr_t addr)
{
	size_t i = first_after(r, addr);
	return i < r->n && r->reg[i].start <= addr ? &r->reg[i] : NULL;
}

struct hy_region *hy_reg_next(struct hy_registry *r, uintptr_t addr)
{
	size_t i = first_after(r, addr);
	return i < r->n ? &r->reg[i] : NULL;
}

/* Room for `more` entries; the table is unchanged on failure. */
static int reserve(struct hy_registry *r, size_t more)
{
	return hy_os_grow((void **)&r->reg, &r->cap, sizeof(*r->reg), r->n + more);
}

/* ---- chunks ---- */

static uint32_t chunk_no(const struct hy_region *g, uintptr_t addr)
{
	return (uint32_t)((addr - g->cbase) >> HY_CHUNK_SHIFT);
}

/* Index of the first chunk of g numbered no or more (may be g->nch). */
static size_t chunk_index(const struct hy_region *g, uint32_t no)
{
	size_t lo = 0, hi = g->nch;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->ch[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void chunk_fresh(const struct hy_region *g, struct hy_chunk *c, uint32_t no)
{
	hy_pstate v = hy_reg_fresh(g);

	c->no = no;
	c->touched = 0;
	for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
		c->st[j] = v;
}

/* Pages of c outside g back to fresh (a trimmed or split region's ends). */
static void chunk_clip(const struct hy_region *g, struct hy_chunk *c)
{
	uint64_t out = ~hy_chunk_mask(g, c);
	hy_pstate v = hy_reg_fresh(g);

	for (size_t j = 0; out; j++, out >>= 1)
		if (out & 1)
			c->st[j] = v;
}

/*
 * g's start or end moved inward: chunks now wholly outside are given back,
 * the pages outside it in its end chunks made fresh.  No memory is needed.
 */
static void clip(struct hy_registry *r, struct hy_region *g)
{
	size_t lo = chunk_index(g, chunk_no(g, g->start));
	size_t hi = chunk_index(g, chunk_no(g, g->end - 1) + 1);

	r->chunks -= g->nch - (hi - lo);
	if (lo && hi > lo) /* (a region with no chunk has no array at all) */
		memmove(g->ch, g->ch + lo, (hi - lo) * sizeof(*g->ch));
	g->nch = hi - lo;
	if (g->nch) {
		chunk_clip(g, &g->ch[0]);
		chunk_clip(g, &g->ch[g->nch - 1]);
	}
}

/*
 * Room for `want` chunks in g: a page more at a time, an eighth more at
 * most (mremap grows it without a copy), so that the slack stays small
 * next to 2 bytes a page.  0, or -ENOMEM with g unchanged.
 */
static int chunks_reserve(struct hy_region *g, size_t want)
{
	size_t bytes, cap;
	void *p;

	if (want <= g->ch_cap)
		return 0;
	bytes = hy_page_round_up((want + want / 8) * sizeof(*g->ch));
	cap = bytes / sizeof(*g->ch);
	p = hy_os_realloc(g->ch, g->ch_cap * sizeof(*g->ch), bytes);
	if (!p)
		return -ENOMEM;
	g->ch = p;
	g->ch_cap = cap;
	return 0;
}

static void chunks_free(struct hy_region *g)
{
	hy_os_free(g->ch, g->ch_cap * sizeof(*g->ch));
	g->ch = NULL;
	g->nch = g->ch_cap = 0;
}

/* Chunk `no` of g, created fresh if `create` and missing; NULL if missing
 * and not created, or out of memory. */
static struct hy_chunk *chunk_get(struct hy_region *g, uint32_t no, bool create)
{
	size_t i = chunk_index(g, no);

	if (i < g->nch && g->ch[i].no == no)
		return &g->ch[i];
	if (!create || chunks_reserve(g, g->nch + 1))
		return NULL;
	memmove(&g->ch[i + 1], &g->ch[i], (g->nch - i) * sizeof(*g->ch));
	g->nch++;
	chunk_fresh(g, &g->ch[i], no);
	return &g->ch[i];
}

size_t hy_reg_chunk_index(const struct hy_region *g, uintptr_t addr)
{
	return addr <= g->cbase ? 0 : chunk_index(g, chunk_no(g, addr));
}

struct hy_chunk *hy_reg_chunk(struct hy_region *g, uintptr_t addr)
{
	return chunk_get(g, chunk_no(g, addr), false);
}

hy_pstate hy_reg_get(struct hy_region *g, uintptr_t addr)
{
	struct hy_chunk *c = hy_reg_chunk(g, addr);

	return c ? c->st[(addr >> HY_PAGE_SHIFT) % HY_CHUNK_PAGES] : hy_reg_fresh(g);
}

hy_pstate *hy_reg_at(struct hy_registry *r, struct hy_region *g, uintptr_t addr)
{
	size_t before = g->nch;
	struct hy_chunk *c = chunk_get(g, chunk_no(g, addr), true);

	r->chunks += g->nch - before;
	return c ? &c->st[(addr >> HY_PAGE_SHIFT) % HY_CHUNK_PAGES] : NULL;
}

/* The merge's step: chunk i goes to slot out (out >= i), its word along. */
static void move_down(struct hy_region *g, uint64_t *carry, size_t out, size_t i)
{
	g->ch[out] = g->ch[i];
	if (carry)
		carry[out] = carry[i];
}

int hy_reg_add_chunks(struct hy_registry *r, struct hy_region *g, const uint32_t *nos, size_t k,
		      uint64_t *carry)
{
	size_t add = 0, i = 0, j, out;

	/* how many are new: one pass over both sorted lists */
	for (j = 0; j < k; j++) {
		if (j && nos[j] == nos[j - 1])
			continue;
		while (i < g->nch && g->ch[i].no < nos[j])
			i++;
		add += !(i < g->nch && g->ch[i].no == nos[j]);
	}
	if (!add)
		return 0;
	if (chunks_reserve(g, g->nch + add))
		return -ENOMEM;
	/* merge from the end, in place */
	i = g->nch;
	j = k;
	out = g->nch + add;
	while (j > 0) {
		uint32_t no = nos[j - 1];

		if (j > 1 && nos[j - 2] == no) {
			j--;
			continue;
		}
		while (i > 0 && g->ch[i - 1].no > no)
			move_down(g, carry, --out, --i);
		if (i > 0 && g->ch[i - 1].no == no) {
			move_down(g, carry, --out, --i);
		} else {
			chunk_fresh(g, &g->ch[--out], no);
			if (carry)
				carry[out] = 0;
		}
		j--;
	}
	g->nch += add;
	r->chunks += add;
	return 0;
}

size_t hy_reg_drop_chunks(struct hy_registry *r, struct hy_region *g, const uint64_t *keep)
{
	size_t out = 0, n = g->nch;

	for (size_t i = 0; i < n; i++)
		if (keep[i]) {
			if (out != i)
				g->ch[out] = g->ch[i];
			out++;
		}
	g->nch = out;
	r->chunks -= n - out;
	if (!out)
		chunks_free(g); /* an idle region holds nothing */
	return n - out;
}

/* ---- the table ---- */

static void insert_at(struct hy_registry *r, size_t i, const struct hy_region *reg)
{
	memmove(&r->reg[i + 1], &r->reg[i], (r->n - i) * sizeof(*r->reg));
	r->reg[i] = *reg;
	r->n++;
	r->pages += npages(reg->start, reg->end);
	r->chunks += reg->nch;
}

static void erase_at(struct hy_registry *r, size_t i)
{
	r->pages -= npages(r->reg[i].start, r->reg[i].end);
	r->chunks -= r->reg[i].nch;
	chunks_free(&r->reg[i]);
	memmove(&r->reg[i], &r->reg[i + 1], (r->n - i - 1) * sizeof(*r->reg));
	r->n--;
}

/* Regions span at most 2^32 chunks (1 PiB), so that a chunk number fits. */
static bool bad_range(uintptr_t start, size_t len)
{
	return !len || (start | len) & (HY_PAGE_SIZE - 1) || start + len < start ||
	       ((start + len - 1 - (start & ~(HY_CHUNK_BYTES - 1))) >> HY_CHUNK_SHIFT) > UINT32_MAX;
}

/*
 * Cut [start, end) out of every region.  A region straddling both ends is
 * split, which needs one new table entry and, when the right part has
 * chunks, a copy of them: both are obtained before anything changes, so
 * failure leaves the registry intact.
 */
static int cut(struct hy_registry *r, uintptr_t start, uintptr_t end)
{
	size_t i = first_after(r, start);

	if (i < r->n && r->reg[i].start < start && r->reg[i].end > end) {
		struct hy_region *reg = &r->reg[i], right = *reg;
		size_t from;

		if (reserve(r, 1))
			return -ENOMEM;
		reg = &r->reg[i];
		right.start = end;
		from = chunk_index(reg, chunk_no(reg, end));
		right.nch = reg->nch - from;
		right.ch = NULL;
		right.ch_cap = 0;
		if (right.nch) {
			right.ch_cap = right.nch;
			right.ch = hy_os_alloc(right.ch_cap * sizeof(*right.ch));
			if (!right.ch)
				return -ENOMEM;
			memcpy(right.ch, reg->ch + from, right.nch * sizeof(*right.ch));
		}
		right.id = r->next_id++;
		r->pages -= npages(reg->start, reg->end);
		reg->end = start;
		r->pages += npages(reg->start, reg->end);
		clip(r, reg);
		r->chunks += right.nch;
		clip(r, &right);
		r->chunks -= right.nch; /* insert_at counts them */
		insert_at(r, i + 1, &right);
		return 0;
	}
	while (i < r->n && r->reg[i].start < end) {
		struct hy_region *reg = &r->reg[i];

		if (reg->start >= start && reg->end <= end) {
			erase_at(r, i); /* wholly inside */
			continue;
		}
		r->pages -= npages(reg->start, reg->end);
		if (reg->start < start)
			reg->end = start; /* keep the head */
		else
			reg->start = end; /* keep the tail: chunk numbers stay */
		r->pages += npages(reg->start, reg->end);
		clip(r, reg);
		i++;
	}
	return 0;
}

int hy_reg_add(struct hy_registry *r, uintptr_t start, size_t len, enum hy_hint hint)
{
	struct hy_region reg = {.start = start,
				.end = start + len,
				.hint = hint,
				.cbase = start & ~(HY_CHUNK_BYTES - 1)};

	if (bad_range(start, len) || hint < HY_HINT_HYBRID || hint > HY_HINT_PIN)
		return -EINVAL;
	/* everything that can fail comes first: a split and our own entry */
	if (reserve(r, 2) || cut(r, reg.start, reg.end))
		return -ENOMEM;
	reg.id = r->next_id++;
	insert_at(r, first_after(r, reg.start), &reg);
	return 0;
}

int hy_reg_remove(struct hy_registry *r, uintptr_t start, size_t len)
{
	if (bad_range(start, len))
		return -EINVAL;
	return cut(r, start, start + len);
}

int hy_reg_move(struct hy_registry *r, uintptr_t old, size_t oldlen, uintptr_t new, size_t newlen)
{
	struct hy_region *src = hy_reg_find(r, old);
	struct hy_region moved;
	uintptr_t keep_end;
	int rc;

	if (bad_range(old, oldlen) || bad_range(new, newlen))
		return -EINVAL;
	if (!src)
		return cut(r, new, new + newlen); /* unmanaged moved over managed */
	/* Only the region at old is carried: mremap refuses ranges spanning
	 * several mappings, and our regions follow mappings. */
	keep_end = src->end < old + oldlen ? src->end : old + oldlen;
	if (keep_end - old > newlen)
		keep_end = old + newlen;
	moved = (struct hy_region){.start = new,
				   .end = new + newlen,
				   .hint = src->hint,
				   .cbase = new & ~(HY_CHUNK_BYTES - 1)};
	/* three entries at most: cut(old) and cut(new) may each split a
	 * region, then the moved one goes in (cut's own reserve of one is
	 * then already met, so it must be counted here) */
	if (reserve(r, 3))
		return -ENOMEM;
	src = hy_reg_find(r, old); /* reserve may have moved the table */
	/* the populated pages that move keep their state, chunk by chunk */
	for (size_t k = chunk_index(src, chunk_no(src, old)); k < src->nch; k++) {
		const struct hy_chunk *c = &src->ch[k];
		uintptr_t a = hy_chunk_addr(src, c);

		if (a >= keep_end)
			break;
		for (size_t j = 0; j < HY_CHUNK_PAGES; j++, a += HY_PAGE_SIZE) {
			uintptr_t to = new + (a - old);
			struct hy_chunk *d;

			if (a < old || a >= keep_end || c->st[j] == hy_reg_fresh(src))
				continue;
			d = chunk_get(&moved, chunk_no(&moved, to), true);
			if (!d) {
				chunks_free(&moved);
				return -ENOMEM;
			}
			d->st[(to >> HY_PAGE_SHIFT) % HY_CHUNK_PAGES] = c->st[j];
		}
	}
	if ((rc = cut(r, old, old + oldlen)) || (rc = cut(r, new, new + newlen))) {
		chunks_free(&moved);
		return rc;
	}
	moved.id = r->next_id++;
	insert_at(r, first_after(r, moved.start), &moved);
	return 0;
}

size_t hy_reg_state_bytes(const struct hy_registry *r)
{
	size_t b = hy_page_round_up(r->cap * sizeof(*r->reg));
	for (size_t i = 0; i < r->n; i++)
		b += r->reg[i].ch ? hy_page_round_up(r->reg[i].ch_cap * sizeof(struct hy_chunk)) : 0;
	return b;
}

static bool chunks_ok(const struct hy_region *g)
{
	uint32_t lo = chunk_no(g, g->start), hi = chunk_no(g, g->end - 1);

	if (g->cbase & (HY_CHUNK_BYTES - 1) || g->cbase > g->start || g->nch > g->ch_cap)
		return false;
	for (size_t k = 0; k < g->nch; k++) {
		const struct hy_chunk *c = &g->ch[k];
		uint64_t out = ~hy_chunk_mask(g, c);

		if (c->no < lo || c->no > hi || (k && g->ch[k - 1].no >= c->no))
			return false;
		for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
			if (out >> j & 1 && c->st[j] != hy_reg_fresh(g))
				return false;
	}
	return true;
}

int hy_reg_check(const struct hy_registry *r)
{
	size_t pages = 0, chunks = 0;

	if (r->n > r->cap)
		return -EFAULT; /* entries were written past the table */
	for (size_t i = 0; i < r->n; i++) {
		const struct hy_region *g = &r->reg[i];

		if (g->start >= g->end || (g->start | g->end) & (HY_PAGE_SIZE - 1) || !chunks_ok(g))
			return -EFAULT;
		if (i && r->reg[i - 1].end > g->start)
			return -EFAULT;
		pages += npages(g->start, g->end);
		chunks += g->nch;
	}
	return pages == r->pages && chunks == r->chunks ? 0 : -EFAULT;
}
