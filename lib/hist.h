/* SPDX-License-Identifier: MIT */
/*
 * hist — the cut of a score histogram: the best `want` units by an 8-bit
 * score without sorting everything, in two passes (count per score, then
 * take what is at or above the cut).
 *
 * Shared by the policy (pages to move, by heat or chill) and the sampler
 * (chunks to watch again, by rank), which otherwise know nothing of each
 * other: it lives here so that neither includes the other.
 */
#ifndef HY_HIST_H
#define HY_HIST_H

#include <stdint.h>

/*
 * The cut of a score histogram (units per score 1..255, higher first) for
 * `want` units: the lowest score taken, with *left set to how many units
 * of that score still fit.  256 if nothing is taken.
 */
static inline int hy_hist_cut(const uint64_t *hist, uint64_t want, uint64_t *left)
{
	uint64_t sum = 0;
	int cut = 256;

	*left = 0;
	for (int s = 255; s >= 1 && sum < want; s--) {
		if (!hist[s])
			continue;
		cut = s;
		*left = want - sum;
		sum += hist[s];
	}
	return cut;
}

#endif
