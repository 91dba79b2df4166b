/* SPDX-License-Identifier: MIT */
/*
 * hotcold — a hybrid range whose first 10% is written all the time: watch
 * the hot part move to the fast tier, epoch by epoch.
 *
 *   cc hotcold.c $(pkg-config --cflags --libs hybrid) -o hotcold
 *   ./hotcold [MiB [ROUNDS]]                  (default 64 MiB, 8 rounds)
 *
 * The range starts on the slow tier (HYBRID_HINT_HYBRID); pages written in
 * two epochs are promoted.  Each round writes the hot part until the
 * library has finished an epoch, then asks hybrid_where() how much of it is
 * on the fast tier.  On a machine with one memory tier the library manages
 * nothing and says so; the program runs all the same.  To see the engine
 * work on such a machine, name node 0 as both tiers:
 *
 *   HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 HYBRID_EPOCH=200ms ./hotcold
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hybrid.h>

#define MIB (1024.0 * 1024.0)

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static struct hybrid_stats stats(void)
{
	struct hybrid_stats s = {.size = sizeof(s)};

	hybrid_get_stats(&s);
	return s;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 64) << 20;
	int rounds = argc > 2 ? atoi(argv[2]) : 8;
	size_t hot = len / 10 & ~(size_t)4095;
	struct hybrid_stats s;
	unsigned char *p;
	int rc;

	if (!hot || rounds < 1) {
		fprintf(stderr, "usage: hotcold [MiB (>= 1) [ROUNDS (>= 1)]]\n");
		return 2;
	}
	rc = hybrid_mmap((void **)&p, len, HYBRID_HINT_HYBRID, 0);
	if (rc) {
		fprintf(stderr, "hotcold: hybrid_mmap: %s\n", hybrid_strerror(rc));
		return 1;
	}
	memset(p, 1, len); /* placed now: on the slow tier */
	s = stats();
	if (s.state != HYBRID_STATE_RUNNING)
		printf("libhybrid manages nothing here (one memory tier, or switched off): "
		       "the program runs unchanged\n");
	else
		printf("libhybrid running, access tracking: %s\n", s.backend);
	printf("%.0f MiB hybrid, hot part %.1f MiB\n", len / MIB, hot / MIB);

	for (int r = 1; r <= rounds; r++) {
		struct hybrid_where w = {.size = sizeof(w)};
		uint64_t epochs = stats().epochs;
		/* an epoch of the library's, or a moment when there is none */
		double until = now() + (s.state == HYBRID_STATE_RUNNING ? 5.0 : 0.05);

		do {
			for (size_t off = 0; off < hot; off += 4096)
				p[off]++;
		} while (stats().epochs == epochs && now() < until);
		rc = hybrid_where(p, hot, &w);
		if (rc) {
			fprintf(stderr, "hotcold: hybrid_where: %s\n", hybrid_strerror(rc));
			return 1;
		}
		s = stats();
		printf("round %d (epoch %llu): hot part %5.1f%% on the fast tier, "
		       "%llu pages promoted, %llu demoted\n",
		       r, (unsigned long long)s.epochs,
		       w.ntiers > 1 ? 100.0 * w.tier_bytes[0] / hot : 0.0,
		       (unsigned long long)s.promote_pages, (unsigned long long)s.demote_pages);
	}
	hybrid_munmap(p, len);
	return 0;
}
