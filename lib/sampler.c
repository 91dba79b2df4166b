/* SPDX-License-Identifier: MIT */
/*
 * sampler — see sampler.h.
 */
#include "sampler.h"

#include <string.h>

#include "hist.h"

#define PAGE HY_PAGE_SIZE

/* ---- the overhead governor ---- */

void hy_gov_init(struct hy_governor *g, const struct hy_config *cfg, uint64_t fault_ns,
		 bool sync_backend)
{
	memset(g, 0, sizeof(*g));
	g->fault_ns = fault_ns ? fault_ns : 1000;
	g->epoch_ns = cfg->epoch_us * 1000;
	g->overhead_pct = (unsigned)cfg->track_overhead_pct;
	if (sync_backend)
		g->fault_budget = (uint64_t)cfg->sync_fault_budget * cfg->epoch_us / 1000000;
	g->write_permille = 1000;
	g->sample_pages = cfg->track_sample / PAGE;
	if (cfg->track_sample && !g->sample_pages)
		g->sample_pages = 1;
}

void hy_gov_set_fault_cost(struct hy_governor *g, uint64_t fault_ns)
{
	if (fault_ns)
		g->fault_ns = fault_ns;
}

size_t hy_gov_budget(const struct hy_governor *g, size_t total)
{
	uint64_t permille = g->write_permille ? g->write_permille : 1, per_page, pages;

	if (g->sample_pages) {
		pages = g->sample_pages;
	} else if (g->overhead_pct >= 100) {
		pages = total;
	} else {
		/* an armed page costs its arming, and a fault if written: expected
		 * faults = armed x share written, so arm more where few are written */
		per_page = g->arm_ns + g->fault_ns * permille / 1000;
		pages = g->epoch_ns / 100 * g->overhead_pct / (per_page ? per_page : 1);
	}
	/* the sync backend's fault budget, whatever else is set (the handler
	 * enforces it too: track.h, hy_track_set_fault_budget) */
	if (g->fault_budget && pages * permille / 1000 > g->fault_budget)
		pages = g->fault_budget * 1000 / permille;
	return pages < total ? (size_t)pages : total;
}

void hy_gov_learn_arm(struct hy_governor *g, size_t pages, uint64_t ns)
{
	uint64_t now;

	if (pages < 1024)
		return; /* too few: the calls' fixed costs would pass for per-page ones */
	now = ns / pages;
	g->arm_ns = g->arm_ns ? (g->arm_ns * 3 + now) / 4 : now;
}

void hy_gov_learn(struct hy_governor *g, size_t armed, size_t written)
{
	unsigned now;

	if (!armed)
		return;
	now = (unsigned)((uint64_t)(written > armed ? armed : written) * 1000 / armed);
	if (now < 16)
		now = 16; /* never assume fewer than 1.6% written: bounded surprise */
	g->write_permille = (g->write_permille * 3 + now) / 4;
}

/* ---- the tracking window ---- */

#define WIN_TARGET    31 /* permille caught in the bulk of memory: above, shrink */
#define WIN_LOW	      16 /* below, grow */
#define WIN_MIN_CHUNK 8	 /* sampled chunks, at least, to judge */

void hy_win_init(struct hy_window *w, const struct hy_config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->epoch_us = (uint64_t)cfg->epoch_us;
	w->adaptive = cfg->track_window_pct == 0;
	/* adaptive: from the whole epoch -- the twice rule as it is meant --
	 * shrinking only when the bulk of memory says so (by 4 an epoch at most:
	 * a program writing everything about once a second is at 1/64 of the
	 * epoch after three) */
	w->us = w->adaptive ? w->epoch_us
			    : w->epoch_us * (uint64_t)cfg->track_window_pct / 100;
	if (!w->us)
		w->us = 1;
}

/* Natural logarithm, x > 0: enough for a controller, and no libm in the
 * preloaded library.  x = m 2^e, m in [1, 2); ln m = 2 atanh((m-1)/(m+1)). */
static double ln(double x)
{
	double z, z2, sum = 0;
	int e = 0;

	while (x >= 2) {
		x /= 2;
		e++;
	}
	while (x < 1) {
		x *= 2;
		e--;
	}
	z = (x - 1) / (x + 1);
	z2 = z * z;
	for (int k = 9; k >= 1; k -= 2)
		sum = sum * z2 + 1.0 / k;
	return e * 0.69314718055994531 + 2 * z * sum;
}

/* sqrt(x) for x in [1/16, 1], by Newton's method (no libm) */
static double sqrt_ratio(double x)
{
	double r = (1 + x) / 2;

	for (int i = 0; i < 6; i++)
		r = (r + x / r) / 2;
	return r;
}

static uint64_t win_clamp(const struct hy_window *w, double us)
{
	double lo = (double)w->epoch_us / 200;

	if (lo < 1000)
		lo = 1000;
	if (us < lo)
		us = lo;
	if (us > (double)w->epoch_us)
		us = (double)w->epoch_us;
	return (uint64_t)us;
}

/* The window is as short as it may be: it cannot shrink further. */
static bool win_at_floor(const struct hy_window *w)
{
	return w->us <= win_clamp(w, 0);
}

bool hy_win_learn(struct hy_window *w, const struct hy_catch *c)
{
	uint64_t n = 0, seen = 0;
	unsigned q = 0, f;
	bool trusted;

	for (int b = 0; b < HY_CATCH_BUCKETS; b++)
		n += c->chunks[b];
	if (n < WIN_MIN_CHUNK)
		return true;
	/* the lower quartile: the chunk at n/4 in order of pages caught */
	for (int b = 0; b < HY_CATCH_BUCKETS; b++) {
		seen += c->chunks[b];
		if (seen * 4 > n) {
			q = (unsigned)b;
			break;
		}
	}
	f = q * 1000 / 64;
	w->caught_permille = f;
	if (!w->adaptive)
		return true; /* measured all the same: the sample's choice uses it */
	/* a window that caught this much of the bulk and can still shrink was
	 * too long to tell anything (start-up: it starts at the whole epoch) */
	trusted = f <= HY_BULK_TRUST || win_at_floor(w);
	if (f > WIN_TARGET) {
		/* as if writes came at one rate: caught = 1 - exp(-rate x window);
		 * half the way there (in ratio), as one epoch's measure is noisy --
		 * all the way (by 16 at most) from a window that told nothing */
		double k = f >= 999 ? 0.0625 : ln(1 - WIN_TARGET / 1000.0) / ln(1 - f / 1000.0);
		double step = k > 1 ? 1 : !trusted ? (k < 0.0625 ? 0.0625 : k)
				  : k < 0.0625 ? 0.25 : sqrt_ratio(k);
		w->us = win_clamp(w, (double)w->us * step);
	} else if (f < WIN_LOW) {
		w->us = win_clamp(w, (double)w->us * (f ? 1.4142135623730951 : 2));
	}
	return trusted;
}

unsigned hy_win_bulk(const struct hy_window *w)
{
	if (w->adaptive && win_at_floor(w) && w->caught_permille > WIN_TARGET)
		return WIN_TARGET;
	return w->caught_permille;
}

/* ---- the sweep and the choice of what to arm ---- */

/*
 * The sweep's order: groups of HY_SWEEP_GROUP chunks (2 MiB: one huge page
 * where the region is so aligned), the groups in bit-reversed order of
 * their index, the chunks of a group in order.  A step s names the chunk
 * bitrev(s / G) * G + s % G; steps naming no chunk (past the region's end)
 * are skipped.  Each epoch's stretch of steps is spread evenly over the
 * whole region, so a hot region anywhere in it is found in the first
 * epochs, not when a sequential window gets there -- and what it measures
 * of "the bulk" is a sample of all of memory, not of one hot stretch.
 */
#define HY_SWEEP_GROUP 8

static unsigned sweep_bits(size_t nch)
{
	size_t ng = (nch + HY_SWEEP_GROUP - 1) / HY_SWEEP_GROUP;
	unsigned b = 0;

	while (((size_t)1 << b) < ng)
		b++;
	return b;
}

/* The chunk of step s, or SIZE_MAX when s names none. */
static size_t sweep_chunk(size_t s, unsigned b, size_t nch)
{
	size_t grp = s / HY_SWEEP_GROUP, r = 0, c;

	for (unsigned i = 0; i < b; i++)
		r |= (grp >> i & 1) << (b - 1 - i);
	c = r * HY_SWEEP_GROUP + s % HY_SWEEP_GROUP;
	return c < nch ? c : SIZE_MAX;
}

/* The first step from s on (wrapping) that names a chunk; *c gets it. */
static size_t sweep_next(size_t s, unsigned b, size_t nch, size_t *c)
{
	size_t steps = ((size_t)HY_SWEEP_GROUP << b);

	for (s %= steps;; s = (s + 1) % steps) {
		*c = sweep_chunk(s, b, nch);
		if (*c != SIZE_MAX)
			return s;
	}
}

/* g's pages in its chunk c (an end chunk may hold fewer). */
static uint64_t chunk_mask(const struct hy_region *g, size_t c)
{
	return hy_chunk_mask(g, &g->ch[c]);
}

static size_t chunk_pages(const struct hy_region *g, size_t c)
{
	return (size_t)hy_popcount64(chunk_mask(g, c));
}

void hy_sampler_catch(const struct hy_region *g, const uint64_t *written, struct hy_catch *c)
{
	size_t nch = g->nch;
	unsigned b = sweep_bits(nch);
	size_t s = g->sweep_from, ch;

	for (size_t k = 0; k < g->sweep_n && k < nch; k++, s++) {
		size_t fresh = 0, caught = 0;
		uint64_t m;

		s = sweep_next(s, b, nch, &ch);
		m = chunk_mask(g, ch);
		for (size_t j = 0; j < HY_CHUNK_PAGES; j++) {
			hy_pstate st = g->ch[ch].st[j];

			/* history only in epochs of first touches is no sign of heat */
			if (!(m >> j & 1) || (hy_ps_hist(st) & ~g->ch[ch].touched) ||
			    hy_ps_pinned(st))
				continue;
			fresh++;
			caught += written[ch] >> j & 1;
		}
		if (fresh >= 32)
			c->chunks[caught * 64 / fresh]++;
	}
}

/* Recently written, could still go up: the pages the twice rule must see again. */
static bool wants_watching(hy_pstate s)
{
	return hy_ps_hist(s) && !hy_ps_pinned(s) && hy_ps_tier(s) != 0;
}

/* Arm g's pages of its chunk c, pinned pages left out; returns the pages
 * armed. */
static size_t arm_chunk(const struct hy_region *g, size_t c, uint64_t *bits)
{
	uint64_t m = chunk_mask(g, c);

	for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
		if (hy_ps_pinned(g->ch[c].st[j]))
			m &= ~(UINT64_C(1) << j);
	bits[c] = m;
	return (size_t)hy_popcount64(m);
}

/*
 * How much a chunk is worth watching again: the epochs with a write of its
 * watched pages, summed (a dense hot chunk scores high).  0 -- left to the
 * sampling window -- unless at least `min_recent` of its pages were caught
 * in the last epoch: a chunk of the bulk of memory has a few caught by
 * chance (the window's share of it), and re-watching it would crowd out the
 * sweep that finds hot pages elsewhere.
 */
static unsigned chunk_score(unsigned window, const struct hy_region *g, size_t c,
			    unsigned min_recent)
{
	const hy_pstate *st = g->ch[c].st;
	unsigned sum = 0, recent = 0;

	/* pages outside g are fresh: never wanted (region.h) */
	for (size_t j = 0; j < HY_CHUNK_PAGES; j++)
		if (wants_watching(st[j])) {
			sum += hy_ps_seen(st[j], window);
			recent += hy_ps_hist(st[j]) & 1;
		}
	if (recent < min_recent)
		return 0;
	return sum > 255 ? 255 : sum;
}

/* Chunk codes in bits[] before the choice: DENSE -- half its pages or more
 * were caught last epoch, whatever their tier; SLOW -- it has pages not on
 * the fastest tier; NEAR -- next to a dense run, within reach. */
enum { CH_DENSE = 1, CH_SLOW = 2, CH_NEAR = 4 };
#define HY_NEAR_MAX 64     /* chunks: how far a dense run reaches at most (16 MiB) */
#define NEAR_MAX_BULK 250 /* permille the bulk yields by chance: above, no exploring */

static uint64_t chunk_code(const struct hy_region *g, size_t c)
{
	uint64_t m = chunk_mask(g, c), code = 0;
	unsigned caught = 0;

	for (size_t j = 0; j < HY_CHUNK_PAGES; j++) {
		hy_pstate st = g->ch[c].st[j];

		if (!(m >> j & 1) || hy_ps_pinned(st))
			continue;
		caught += hy_ps_hist(st) & 1;
		if (hy_ps_tier(st) != 0)
			code |= CH_SLOW;
	}
	return code | (caught * 2 >= chunk_pages(g, c) ? CH_DENSE : 0);
}

/*
 * Mark CH_NEAR the chunks beside each run of dense chunks, as far on
 * each side as the run is long (HY_NEAR_MAX at most): a hot region found
 * in a few places is explored from there, and the explored part doubles
 * each epoch while it stays hot -- a contiguous hot set is found in a few
 * epochs, where the sweep alone would need a whole pass.  One pass each
 * way over the codes.
 */
static void mark_near(uint64_t *code, size_t nch)
{
	for (int back = 0; back < 2; back++) {
		size_t run = 0, reach = 0;

		for (size_t k = 0; k < nch; k++) {
			size_t c = back ? nch - 1 - k : k;

			if (code[c] & CH_DENSE) {
				run++;
				reach = 0;
				continue;
			}
			if (run)
				reach = run < HY_NEAR_MAX ? run : HY_NEAR_MAX;
			run = 0;
			if (reach) {
				code[c] |= CH_NEAR;
				reach--;
			}
		}
	}
}

/* The chunk's rank in the choice: watched chunks by score (2-255), then
 * chunks near a dense run with pages to promote (1); 0: left to the sweep. */
static unsigned chunk_rank(unsigned window, const struct hy_region *g, size_t c,
			   unsigned min_recent, uint64_t code)
{
	unsigned sc = chunk_score(window, g, c, min_recent);

	if (sc)
		return sc < 254 ? sc + 1 : 255;
	return (code & (CH_NEAR | CH_SLOW)) == (CH_NEAR | CH_SLOW) ? 1 : 0;
}

size_t hy_sampler_choose(unsigned window, struct hy_region *g, size_t budget, uint64_t *bits,
			 unsigned bulk_permille)
{
	size_t nch = g->nch, chosen = 0, first, k, s, c;
	uint64_t hist[256] = {0}, left;
	unsigned b = sweep_bits(nch);
	/* twice what the bulk of memory has caught by chance, two at least --
	 * and 3/4 of a chunk at most: a chunk caught (nearly) whole is looked
	 * at again however long the window (the sweep is spread over the
	 * region, so its "bulk" is one; a quarter of a chunk, as when the
	 * sweep went in order and could measure a hot region as the bulk, had
	 * windows still too long at start-up promote cold pages by the
	 * percent) */
	unsigned min_recent = 2 * HY_ARM_CHUNK * bulk_permille / 1000;
	int cut;

	if (min_recent < 2)
		min_recent = 2;
	if (min_recent > HY_ARM_CHUNK * 3 / 4)
		min_recent = HY_ARM_CHUNK * 3 / 4;
	_Static_assert(HY_ARM_CHUNK == HY_CHUNK_PAGES && HY_ARM_CHUNK == 64,
		       "one bitmap word per chunk of state");
	memset(bits, 0, nch * sizeof(uint64_t));
	g->sweep_n = 0;
	if (g->hint == HY_HINT_PIN || !budget)
		return 0;
	/*
	 * Whole chunks, never single pages: each armed run costs a call and a
	 * TLB flush, which for scattered pages costs far more than the pages
	 * (on the development host 1-5 us per page armed alone, 0.1 us within
	 * a run).
	 *
	 * 1. Chunks holding recently written pages not yet on the fastest tier,
	 * densest and hottest first; then chunks near a dense run (mark_near)
	 * -- but at most 3/4 of the budget: the sweep must keep moving, or
	 * pages that became hot elsewhere would never be seen.  bits[] holds
	 * each chunk's code, then its rank, until its turn comes (one word per
	 * chunk).
	 */
	for (c = 0; c < nch; c++)
		bits[c] = chunk_code(g, c);
	/* only while the window tells hot from the bulk: with over 1/4 of the
	 * bulk caught (a window still too long), half a chunk caught is no
	 * sign, and exploring from there would promote cold pages */
	if (bulk_permille <= NEAR_MAX_BULK)
		mark_near(bits, nch);
	first = budget - budget / 4;
	for (c = 0; c < nch; c++) {
		unsigned r = chunk_rank(window, g, c, min_recent, bits[c]);
		if (r)
			hist[r] += chunk_pages(g, c);
		bits[c] = r; /* the rank, from here on: computed once */
	}
	cut = hy_hist_cut(hist, first, &left);
	for (c = 0; c < nch; c++) {
		unsigned r = (unsigned)bits[c];

		bits[c] = 0;
		if (cut >= 256 || chosen >= first) /* the rest only clears its rank */
			continue;
		if (!r || (int)r < cut || ((int)r == cut && !left))
			continue;
		if ((int)r == cut)
			left = left > HY_ARM_CHUNK ? left - HY_ARM_CHUNK : 0;
		chosen += arm_chunk(g, c, bits);
	}
	/* 2. the sweep over the rest, in the spread order of sweep_chunk(),
	 * moving on every epoch; what it goes over is kept for hy_sampler_catch */
	s = g->sweep_from = sweep_next(g->arm_cursor, b, nch, &c);
	for (k = 0; k < nch && chosen < budget; k++) {
		s = sweep_next(s, b, nch, &c) + 1;
		if (bits[c]) /* chosen above */
			continue;
		chosen += arm_chunk(g, c, bits);
	}
	g->sweep_n = k;
	g->arm_cursor = sweep_next(s, b, nch, &c);
	return chosen;
}

void hy_sampler_took_all(struct hy_region *g)
{
	g->sweep_from = 0;
	g->sweep_n = g->nch;
}

void hy_sampler_rewind(struct hy_region *g)
{
	g->arm_cursor = g->sweep_from;
}
