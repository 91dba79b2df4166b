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
		hy_os_free(r->reg[i].state, r->reg[i].state_cap);
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

/* Room for `more` entries; the table is unchanged on failure. */
static int reserve(struct hy_registry *r, size_t more)
{
	return hy_os_grow((void **)&r->reg, &r->cap, sizeof(*r->reg), r->n + more);
}

static hy_pstate *state_alloc(size_t pages, size_t *cap)
{
	*cap = hy_page_round_up(pages * sizeof(hy_pstate));
	return hy_os_alloc(*cap);
}

static void insert_at(struct hy_registry *r, size_t i, const struct hy_region *reg)
{
	memmove(&r->reg[i + 1], &r->reg[i], (r->n - i) * sizeof(*r->reg));
	r->reg[i] = *reg;
	r->n++;
	r->pages += npages(reg->start, reg->end);
}

static void erase_at(struct hy_registry *r, size_t i)
{
	r->pages -= npages(r->reg[i].start, r->reg[i].end);
	hy_os_free(r->reg[i].state, r->reg[i].state_cap);
	memmove(&r->reg[i], &r->reg[i + 1], (r->n - i - 1) * sizeof(*r->reg));
	r->n--;
}

static bool bad_range(uintptr_t start, size_t len)
{
	return !len || (start | len) & (HY_PAGE_SIZE - 1) || start + len < start;
}

/*
 * Cut [start, end) out of every region.  A region straddling both ends is
 * split, which needs one new table entry and a new state array: both are
 * obtained before anything changes, so failure leaves the registry intact.
 */
static int cut(struct hy_registry *r, uintptr_t start, uintptr_t end)
{
	size_t i = first_after(r, start);

	if (i < r->n && r->reg[i].start < start && r->reg[i].end > end) {
		struct hy_region *reg = &r->reg[i], right = *reg;
		size_t off = npages(reg->start, end), n = npages(end, reg->end);

		if (reserve(r, 1))
			return -ENOMEM;
		reg = &r->reg[i];
		right.state = state_alloc(n, &right.state_cap);
		if (!right.state)
			return -ENOMEM;
		memcpy(right.state, reg->state + off, n * sizeof(hy_pstate));
		right.start = end;
		right.id = r->next_id++;
		r->pages -= npages(reg->start, reg->end);
		reg->end = start;
		r->pages += npages(reg->start, reg->end);
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
		if (reg->start < start) {
			reg->end = start; /* keep the head */
		} else {
			size_t drop = npages(reg->start, end); /* keep the tail */
			memmove(reg->state, reg->state + drop,
				npages(end, reg->end) * sizeof(hy_pstate));
			reg->start = end;
		}
		r->pages += npages(reg->start, reg->end);
		i++;
	}
	return 0;
}

/* A fresh region's state: nothing seen, pinned if the hint says so. */
static void init_state(hy_pstate *s, size_t n, enum hy_hint hint)
{
	hy_pstate v = hint == HY_HINT_PIN ? HY_PS_PIN : 0;
	for (size_t k = 0; k < n; k++)
		s[k] = v;
}

int hy_reg_add(struct hy_registry *r, uintptr_t start, size_t len, enum hy_hint hint)
{
	struct hy_region reg = {.start = start, .end = start + len, .hint = hint};

	if (bad_range(start, len) || hint < HY_HINT_HYBRID || hint > HY_HINT_PIN)
		return -EINVAL;
	/* everything that can fail comes first: a split and our own entry */
	if (reserve(r, 2))
		return -ENOMEM;
	reg.state = state_alloc(npages(reg.start, reg.end), &reg.state_cap);
	if (!reg.state)
		return -ENOMEM;
	if (cut(r, reg.start, reg.end)) {
		hy_os_free(reg.state, reg.state_cap);
		return -ENOMEM;
	}
	init_state(reg.state, npages(reg.start, reg.end), hint);
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
	size_t keep, n;
	int rc;

	if (bad_range(old, oldlen) || bad_range(new, newlen))
		return -EINVAL;
	if (!src)
		return cut(r, new, new + newlen); /* unmanaged moved over managed */
	/* Only the region at old is carried: mremap refuses ranges spanning
	 * several mappings, and our regions follow mappings. */
	keep = npages(old, src->end < old + oldlen ? src->end : old + oldlen);
	if (keep > newlen >> HY_PAGE_SHIFT)
		keep = newlen >> HY_PAGE_SHIFT;
	n = newlen >> HY_PAGE_SHIFT;
	moved = (struct hy_region){.start = new, .end = new + newlen, .hint = src->hint};
	if (reserve(r, 2))
		return -ENOMEM;
	moved.state = state_alloc(n, &moved.state_cap);
	if (!moved.state)
		return -ENOMEM;
	src = hy_reg_find(r, old); /* reserve may have moved the table */
	init_state(moved.state, n, moved.hint);
	memcpy(moved.state, src->state + npages(src->start, old), keep * sizeof(hy_pstate));
	if ((rc = cut(r, old, old + oldlen)) || (rc = cut(r, new, new + newlen))) {
		hy_os_free(moved.state, moved.state_cap);
		return rc;
	}
	moved.id = r->next_id++;
	insert_at(r, first_after(r, moved.start), &moved);
	return 0;
}

size_t hy_reg_state_bytes(const struct hy_registry *r)
{
	size_t b = r->cap * sizeof(*r->reg);
	for (size_t i = 0; i < r->n; i++)
		b += r->reg[i].state_cap;
	return b;
}

int hy_reg_check(const struct hy_registry *r)
{
	size_t pages = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct hy_region *g = &r->reg[i];

		if (g->start >= g->end || (g->start | g->end) & (HY_PAGE_SIZE - 1) || !g->state ||
		    g->state_cap < npages(g->start, g->end) * sizeof(hy_pstate))
			return -EFAULT;
		if (i && r->reg[i - 1].end > g->start)
			return -EFAULT;
		pages += npages(g->start, g->end);
	}
	return pages == r->pages ? 0 : -EFAULT;
}
