/* SPDX-License-Identifier: MIT */
/*
 * The region registry against a page-by-page reference model: random adds,
 * removes and moves must leave exactly the model's pages managed, with the
 * model's hints and per-page state.  Plus the page-state bit helpers, the
 * 2-bytes-per-page budget, bad arguments and a threaded stress run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../support.h"
#include "region.h"

#define BASE   ((uintptr_t)1 << 40) /* never dereferenced: the registry doesn't touch pages */
#define NPAGES 96
#define PG     HY_PAGE_SIZE

struct mpage {
	bool managed;
	unsigned id;
	enum hy_hint hint;
	hy_pstate state;
};

static struct mpage model[NPAGES];
static unsigned model_next_id = 1;
static unsigned seed = 12345;

static unsigned rnd(unsigned n)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) % n;
}

static uintptr_t addr_of(unsigned p)
{
	return BASE + (uintptr_t)p * PG;
}

static hy_pstate fresh(enum hy_hint hint)
{
	return hint == HY_HINT_PIN ? HY_PS_PIN : 0;
}

static void model_clear(unsigned p, unsigned n)
{
	for (unsigned k = p; k < p + n && k < NPAGES; k++)
		model[k].managed = false;
}

static void model_add(unsigned p, unsigned n, enum hy_hint hint)
{
	unsigned id = model_next_id++;
	for (unsigned k = p; k < p + n; k++)
		model[k] = (struct mpage){true, id, hint, fresh(hint)};
}

static void model_move(unsigned o, unsigned on, unsigned nw, unsigned nn)
{
	struct mpage tmp[NPAGES];
	unsigned keep = 0, id;
	enum hy_hint hint;

	if (!model[o].managed) {
		model_clear(nw, nn);
		return;
	}
	id = model[o].id;
	hint = model[o].hint;
	while (keep < on && keep < nn && o + keep < NPAGES && model[o + keep].managed &&
	       model[o + keep].id == id)
		keep++;
	for (unsigned k = 0; k < nn; k++)
		tmp[k] = k < keep ? model[o + k] : (struct mpage){true, 0, hint, fresh(hint)};
	model_clear(o, on);
	id = model_next_id++;
	for (unsigned k = 0; k < nn; k++) {
		model[nw + k] = tmp[k];
		model[nw + k].id = id;
	}
}

/* Give every managed page a distinct state, in both registry and model. */
static void scribble(struct hy_registry *r)
{
	for (unsigned p = 0; p < NPAGES; p++) {
		struct hy_region *g = hy_reg_find(r, addr_of(p));
		if (!g || !model[p].managed)
			continue;
		hy_pstate v = (hy_pstate)(rnd(0x10000) & ~HY_PS_PIN) |
			      (model[p].hint == HY_HINT_PIN ? HY_PS_PIN : 0);
		hy_pstate *st = hy_reg_at(r, g, addr_of(p));

		CU_ASSERT_PTR_NOT_NULL_FATAL(st);
		*st = v;
		model[p].state = v;
	}
}

static int compare(struct hy_registry *r)
{
	int bad = 0;

	if (hy_reg_check(r))
		bad++;
	for (unsigned p = 0; p < NPAGES; p++) {
		struct hy_region *g = hy_reg_find(r, addr_of(p));
		if (!!g != model[p].managed) {
			bad++;
			continue;
		}
		if (g && (g->hint != model[p].hint ||
			  hy_reg_get(g, addr_of(p)) != model[p].state))
			bad++;
	}
	return bad;
}

static void test_pstate_bits(void)
{
	hy_pstate s = 0;

	CU_ASSERT_EQUAL(hy_ps_tier(s), -1);
	for (int t = 0; t < HY_PS_MAX_TIERS; t++)
		CU_ASSERT_EQUAL(hy_ps_tier(hy_ps_set_tier(s, t)), t);
	CU_ASSERT_EQUAL(hy_ps_tier(hy_ps_set_tier(s, 7)), -1); /* does not fit: unknown */
	s = hy_ps_set_tier(s, 3);
	s = hy_ps_set_backoff(s, 2);
	s |= HY_PS_PIN;
	CU_ASSERT_EQUAL(hy_ps_tier(s), 3);
	CU_ASSERT_EQUAL(hy_ps_backoff(s), 2);
	CU_ASSERT_EQUAL(hy_ps_hold(s), 0);
	CU_ASSERT(hy_ps_pinned(s));
	CU_ASSERT_EQUAL(hy_ps_backoff(hy_ps_set_backoff(s, 9)), HY_PS_MAX_BACKOFF);
	/* a move: hold-off with its direction, back-off gone */
	s = hy_ps_set_moved(s, HY_DIR_DOWN, 3);
	CU_ASSERT_EQUAL(hy_ps_hold(s), 3);
	CU_ASSERT_EQUAL(hy_ps_moved_dir(s), HY_DIR_DOWN);
	CU_ASSERT_EQUAL(hy_ps_backoff(s), 0);
	CU_ASSERT_EQUAL(hy_ps_tier(s), 3);
	CU_ASSERT_EQUAL(hy_ps_moved_dir(hy_ps_set_moved(s, HY_DIR_UP, 1)), HY_DIR_UP);
	CU_ASSERT_EQUAL(hy_ps_hold(hy_ps_set_moved(s, HY_DIR_UP, 0)), 0);
	/* a failure ends the hold-off */
	CU_ASSERT_EQUAL(hy_ps_hold(hy_ps_set_backoff(s, 1)), 0);
	CU_ASSERT_EQUAL(hy_ps_backoff(hy_ps_set_backoff(s, 1)), 1);

	/* history: written, not, written, written -> 0b1011 */
	s = hy_ps_age(s, true);
	s = hy_ps_age(s, false);
	s = hy_ps_age(s, true);
	s = hy_ps_age(s, true);
	CU_ASSERT_EQUAL(hy_ps_hist(s), 0xb);
	CU_ASSERT_EQUAL(hy_ps_seen(s, 1), 1);
	CU_ASSERT_EQUAL(hy_ps_seen(s, 2), 2);
	CU_ASSERT_EQUAL(hy_ps_seen(s, 4), 3);
	CU_ASSERT_EQUAL(hy_ps_hold(s), 0); /* counted down over 3 epochs */
	CU_ASSERT_EQUAL(hy_ps_moved_dir(s), HY_DIR_NONE);
	CU_ASSERT_EQUAL(hy_ps_backoff(s), 0); /* direction bits cleared, not back-off */
	CU_ASSERT_EQUAL(hy_ps_tier(s), 3);  /* ageing leaves the rest alone */
	CU_ASSERT(hy_ps_pinned(s));
	for (int k = 0; k < 8; k++)
		s = hy_ps_age(s, false);
	CU_ASSERT_EQUAL(hy_ps_hist(s), 0); /* history holds 8 epochs */
}

static void test_bad_arguments(void)
{
	struct hy_registry r;

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&r), 0);
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE + 1, PG, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE, PG + 1, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE, 0, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_reg_add(&r, UINTPTR_MAX - PG + 1, 2 * PG, HY_HINT_HYBRID), -EINVAL);
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE, PG, (enum hy_hint)99), -EINVAL);
	CU_ASSERT_EQUAL(hy_reg_remove(&r, BASE, 3), -EINVAL);
	CU_ASSERT_EQUAL(hy_reg_move(&r, BASE, PG, BASE + 1, PG), -EINVAL);
	CU_ASSERT_EQUAL(r.n, 0);
	CU_ASSERT_EQUAL(hy_reg_remove(&r, BASE, PG), 0); /* nothing there: fine */
	CU_ASSERT_PTR_NULL(hy_reg_find(&r, BASE));
	hy_reg_destroy(&r);
}

static void test_split_keeps_state(void)
{
	struct hy_registry r;
	struct hy_region *g;

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&r), 0);
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE, 10 * PG, HY_HINT_HYBRID), 0);
	g = hy_reg_find(&r, BASE);
	for (int k = 0; k < 10; k++)
		*hy_reg_at(&r, g, BASE + k * PG) = (hy_pstate)(k + 1);
	CU_ASSERT_EQUAL(hy_reg_remove(&r, BASE + 3 * PG, 2 * PG), 0); /* punch a hole */
	CU_ASSERT_EQUAL(r.n, 2);
	CU_ASSERT_EQUAL(r.pages, 8);
	CU_ASSERT_PTR_NULL(hy_reg_find(&r, BASE + 4 * PG));
	g = hy_reg_find(&r, BASE + 5 * PG);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(g->start, BASE + 5 * PG);
	CU_ASSERT_EQUAL(hy_reg_get(g, BASE + 5 * PG), 6);
	CU_ASSERT_EQUAL(hy_reg_get(g, BASE + 9 * PG), 10);
	CU_ASSERT_NOT_EQUAL(g->id, hy_reg_find(&r, BASE)->id);
	CU_ASSERT_EQUAL(hy_reg_get(hy_reg_find(&r, BASE + 2 * PG), BASE + 2 * PG), 3);
	/* both halves hold the chunk they share: pages of the other half fresh */
	CU_ASSERT_EQUAL(r.chunks, 2);
	CU_ASSERT_EQUAL(hy_reg_check(&r), 0);
	hy_reg_destroy(&r);
}

/*
 * mremap of the middle of one region into the middle of another splits
 * both and adds the moved part: three more entries.  With the table two
 * short of full, the third once went past its end (36 entries of 112
 * bytes in one page: 48 bytes into whatever mapping came next).
 */
static void test_move_splits_two(void)
{
	struct hy_registry r;
	uintptr_t a = BASE, b = BASE + 64 * PG, far = BASE + 1024 * PG;
	size_t i = 0;

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&r), 0);
	CU_ASSERT_EQUAL(hy_reg_add(&r, a, 16 * PG, HY_HINT_HYBRID), 0);
	CU_ASSERT_EQUAL(hy_reg_add(&r, b, 16 * PG, HY_HINT_HOT), 0);
	/* one-page regions, a page apart (never merged), until two entries
	 * are left; cap is known after the first growth */
	do {
		CU_ASSERT_EQUAL_FATAL(hy_reg_add(&r, far + 2 * i * PG, PG, HY_HINT_HYBRID), 0);
		i++;
	} while (r.n < r.cap - 2);
	CU_ASSERT_EQUAL_FATAL(r.n, r.cap - 2);
	CU_ASSERT_EQUAL(hy_reg_move(&r, a + 4 * PG, 4 * PG, b + 4 * PG, 4 * PG), 0);
	CU_ASSERT(r.n <= r.cap);
	CU_ASSERT_EQUAL(hy_reg_check(&r), 0);
	CU_ASSERT_EQUAL(r.n, 2 + i + 3); /* a head, a tail, b head, b tail, moved */
	CU_ASSERT_PTR_NULL(hy_reg_find(&r, a + 5 * PG));
	CU_ASSERT_EQUAL(hy_reg_find(&r, b + 5 * PG)->hint, HY_HINT_HYBRID);
	CU_ASSERT_EQUAL(hy_reg_find(&r, b + 9 * PG)->hint, HY_HINT_HOT);
	hy_reg_destroy(&r);
}

static void test_model_random(void)
{
	struct hy_registry r;
	int mismatches = 0;

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&r), 0);
	memset(model, 0, sizeof(model));
	for (int step = 0; step < 20000 && !mismatches; step++) {
		unsigned op = rnd(10), p = rnd(NPAGES), n = 1 + rnd(NPAGES - p);
		enum hy_hint hint = (enum hy_hint)(1 + rnd(4));

		if (op < 4) {
			CU_ASSERT_EQUAL(hy_reg_add(&r, addr_of(p), n * PG, hint), 0);
			model_add(p, n, hint);
		} else if (op < 7) {
			CU_ASSERT_EQUAL(hy_reg_remove(&r, addr_of(p), n * PG), 0);
			model_clear(p, n);
		} else {
			/* mremap: a new place that does not overlap the old range */
			unsigned on = 1 + rnd(8), nn = 1 + rnd(12), nw = rnd(NPAGES);
			if (p + on > NPAGES || nw + nn > NPAGES || (nw < p + on && p < nw + nn))
				continue;
			CU_ASSERT_EQUAL(hy_reg_move(&r, addr_of(p), on * PG, addr_of(nw), nn * PG), 0);
			model_move(p, on, nw, nn);
		}
		/* compare what the operation did, then give every page a new
		 * state for the next operation to carry (or lose) */
		mismatches = compare(&r);
		if (mismatches)
			fprintf(stderr, "  step %d op %u: %d mismatches\n", step, op, mismatches);
		scribble(&r);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	hy_reg_destroy(&r);
}

/*
 * State follows populated memory, not address space: a terabyte managed
 * holds nothing until chunks are added; 64 populated chunks take about
 * 2 bytes per page of them; given back, nothing again.
 */
static void test_state_budget(void)
{
	struct hy_registry r;
	size_t gib = (size_t)1 << 30, tib = gib << 10, table;
	uint32_t nos[64];
	uint64_t keep[64] = {0};
	struct hy_region *g;

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&r), 0);
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE, tib, HY_HINT_HYBRID), 0);
	table = hy_reg_state_bytes(&r);
	CU_ASSERT(table <= PG); /* the table only */
	g = hy_reg_find(&r, BASE);
	for (unsigned i = 0; i < 64; i++)
		nos[i] = i * 65536; /* one every 16 GiB */
	CU_ASSERT_EQUAL(hy_reg_add_chunks(&r, g, nos, 64, NULL), 0);
	CU_ASSERT_EQUAL(r.chunks, 64);
	/* 64 x 132 bytes for 64 x 64 pages: 2.06 bytes per populated page */
	CU_ASSERT(hy_reg_state_bytes(&r) - table <= 3 * PG);
	printf("\n  state: %zu bytes for 1 TiB managed, %zu with 16 MiB populated\n", table,
	       hy_reg_state_bytes(&r));
	CU_ASSERT_EQUAL(hy_reg_drop_chunks(&r, g, keep), 64);
	CU_ASSERT_EQUAL(hy_reg_state_bytes(&r), table);
	CU_ASSERT_EQUAL(hy_reg_check(&r), 0);
	for (unsigned i = 0; i < 2000; i++) /* many regions: the table grows */
		CU_ASSERT_EQUAL(hy_reg_add(&r, BASE + tib + 2 * i * PG, PG, HY_HINT_HOT), 0);
	CU_ASSERT_EQUAL(r.n, 2001);
	CU_ASSERT_EQUAL(hy_reg_check(&r), 0);
	hy_reg_destroy(&r);
}

/* Chunks are merged in order (duplicates and known ones skipped), given
 * back on request, and trimming a region clips its end chunks. */
static void test_chunks(void)
{
	struct hy_registry r;
	struct hy_region *g;
	uint32_t a[] = {1, 3, 5}, b[] = {0, 1, 1, 2, 4, 6};
	uint64_t keep[7] = {1, 0, 1, 0, 1, 0, 1};

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&r), 0);
	/* from the middle of chunk 0 to the middle of chunk 6 */
	CU_ASSERT_EQUAL(hy_reg_add(&r, BASE + 32 * PG, (6 * 64) * PG, HY_HINT_HYBRID), 0);
	g = hy_reg_find(&r, BASE + 32 * PG);
	CU_ASSERT_EQUAL(g->cbase, BASE);
	CU_ASSERT_EQUAL(hy_chunk_mask(g, &(struct hy_chunk){.no = 0}), ~0ULL << 32);
	CU_ASSERT_EQUAL(hy_chunk_mask(g, &(struct hy_chunk){.no = 6}), ~0ULL >> 32);
	uint64_t carry[16] = {0x11, 0x33, 0x55};

	CU_ASSERT_EQUAL(hy_reg_add_chunks(&r, g, a, 3, NULL), 0);
	*hy_reg_at(&r, g, BASE + 5 * 64 * PG + 7 * PG) = 0x1234 & ~HY_PS_PIN;
	CU_ASSERT_EQUAL(hy_reg_add_chunks(&r, g, b, 6, carry), 0);
	CU_ASSERT_EQUAL_FATAL(g->nch, 7);
	/* each word went with its chunk (1, 3, 5), the new ones got 0 */
	CU_ASSERT_EQUAL(carry[0], 0);
	CU_ASSERT_EQUAL(carry[1], 0x11);
	CU_ASSERT_EQUAL(carry[2], 0);
	CU_ASSERT_EQUAL(carry[3], 0x33);
	CU_ASSERT_EQUAL(carry[5], 0x55);
	CU_ASSERT_EQUAL(carry[6], 0);
	for (uint32_t k = 0; k < 7; k++)
		CU_ASSERT_EQUAL(g->ch[k].no, k);
	CU_ASSERT_EQUAL(r.chunks, 7);
	CU_ASSERT_EQUAL(hy_reg_get(g, BASE + 5 * 64 * PG + 7 * PG), 0x1234 & ~HY_PS_PIN);
	CU_ASSERT_EQUAL(hy_reg_check(&r), 0);
	CU_ASSERT_EQUAL(hy_reg_drop_chunks(&r, g, keep), 3);
	CU_ASSERT_EQUAL(g->nch, 4);
	CU_ASSERT_PTR_NULL(hy_reg_chunk(g, BASE + 64 * PG + 40 * PG));
	CU_ASSERT_PTR_NOT_NULL(hy_reg_chunk(g, BASE + 2 * 64 * PG));
	/* trim the head into chunk 2: chunk 0 goes, chunk 2's first pages turn fresh */
	*hy_reg_at(&r, g, BASE + 2 * 64 * PG + 3 * PG) = 5;
	*hy_reg_at(&r, g, BASE + 2 * 64 * PG + 20 * PG) = 6;
	CU_ASSERT_EQUAL(hy_reg_remove(&r, BASE, (2 * 64 + 10) * PG), 0);
	g = hy_reg_find(&r, BASE + 2 * 64 * PG + 20 * PG);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	CU_ASSERT_EQUAL(g->ch[0].no, 2);
	CU_ASSERT_EQUAL(g->ch[0].st[3], 0);
	CU_ASSERT_EQUAL(hy_reg_get(g, BASE + 2 * 64 * PG + 20 * PG), 6);
	CU_ASSERT_EQUAL(r.chunks, 3);
	CU_ASSERT_EQUAL(hy_reg_check(&r), 0);
	hy_reg_destroy(&r);
}

/* Threads mapping and unmapping while another walks the table (for TSan). */
static struct hy_registry shared_reg;
static int stop; /* atomic: set by the main thread, read by walker() */

static void *churn(void *arg)
{
	uintptr_t base = BASE + (uintptr_t)arg * 1024 * PG;
	unsigned s = (unsigned)(uintptr_t)arg + 1;

	for (int i = 0; i < 3000; i++) {
		s = s * 1103515245u + 12345u;
		unsigned p = (s >> 8) % 512, n = 1 + (s >> 20) % 64;
		hy_reg_lock(&shared_reg);
		if (i & 1)
			hy_reg_add(&shared_reg, base + p * PG, n * PG, HY_HINT_HYBRID);
		else
			hy_reg_remove(&shared_reg, base + p * PG, n * PG);
		hy_reg_unlock(&shared_reg);
	}
	return NULL;
}

static void *walker(void *arg)
{
	long *bad = arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		hy_reg_lock(&shared_reg);
		for (size_t i = 0; i < shared_reg.n; i++) {
			struct hy_region *g = &shared_reg.reg[i];

			for (uintptr_t a = g->start; a < g->end; a += PG) {
				hy_pstate *st = hy_reg_at(&shared_reg, g, a);
				if (st)
					*st = hy_ps_age(*st, true);
			}
		}
		*bad += hy_reg_check(&shared_reg) != 0;
		hy_reg_unlock(&shared_reg);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[4], w;
	long bad = 0;

	CU_ASSERT_EQUAL_FATAL(hy_reg_init(&shared_reg), 0);
	__atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
	pthread_create(&w, NULL, walker, &bad);
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(w, NULL);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(hy_reg_check(&shared_reg), 0);
	hy_reg_destroy(&shared_reg);
}

static const struct hy_test tests[] = {
	HY_TEST(test_pstate_bits),	 HY_TEST(test_bad_arguments), HY_TEST(test_split_keeps_state),
	HY_TEST(test_move_splits_two),
	HY_TEST(test_model_random), HY_TEST(test_state_budget), HY_TEST(test_chunks),  HY_TEST(test_threads),
};

HY_CUNIT_MAIN("region", tests)
