/* SPDX-License-Identifier: MIT */
/*
 * where — how much of a range lives on each memory tier and node: the
 * building block of a placement dashboard.
 *
 *   cc where.c $(pkg-config --cflags --libs hybrid) -o where
 *   ./where [MiB]                             (default 16 MiB per range)
 *
 * Prints the tiers the library uses (hybrid_get_tiers), then, for ranges of
 * each kind (hybrid, hot, cold, the hybrid heap, plain malloc), one line per
 * range from hybrid_where(): bytes per tier, per node, not yet present,
 * managed.  print_where() is the part to copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hybrid.h>

#define MIB (1024.0 * 1024.0)

/* One line for [p, p+len): "name  tier0 ... | node N ... | absent | managed". */
static int print_where(const char *name, const void *p, size_t len)
{
	struct hybrid_where w = {.size = sizeof(w)};
	int rc = hybrid_where(p, len, &w);

	if (rc) {
		printf("%-8s %s\n", name, hybrid_strerror(rc));
		return rc;
	}
	printf("%-8s", name);
	for (int t = 0; t < w.ntiers; t++)
		printf("  tier %d %7.2f MiB", t, w.tier_bytes[t] / MIB);
	if (w.untiered_bytes)
		printf("  untiered %7.2f MiB", w.untiered_bytes / MIB);
	printf("  |");
	for (int n = 0; n < w.nnodes; n++)
		printf("  node %d %7.2f MiB", w.node[n].node, w.node[n].bytes / MIB);
	printf("  | absent %7.2f MiB, managed %7.2f MiB\n", w.absent_bytes / MIB,
	       w.managed_bytes / MIB);
	return 0;
}

static void print_tiers(void)
{
	static struct hybrid_tiers t = {.size = sizeof(t)};

	if (hybrid_get_tiers(&t) || !t.ntiers) {
		printf("no tier list: libhybrid is switched off or misconfigured\n");
		return;
	}
	for (int i = 0; i < t.ntiers; i++) {
		printf("tier %d: nodes", i);
		for (int n = 0; n < t.nnodes; n++)
			if (HYBRID_NODE_ISSET(t.tier[i].nodes, t.node[n].id))
				printf(" %d", t.node[n].id);
		printf(", %.0f MiB, %.0f MiB free\n", t.tier[i].mem_total / MIB,
		       t.tier[i].mem_free / MIB);
	}
	if (t.ntiers < 2)
		printf("one memory tier: libhybrid manages nothing here, every range stays "
		       "where the kernel puts it\n");
	if (t.loopback)
		printf("loopback pair: the same nodes play both tiers; managed pages count "
		       "where the library keeps them\n");
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 16) << 20;
	static const struct {
		const char *name;
		int hint;
	} kinds[] = {{"hybrid", HYBRID_HINT_HYBRID},
		     {"hot", HYBRID_HINT_HOT},
		     {"cold", HYBRID_HINT_COLD},
		     {"pinned", HYBRID_HINT_PIN}};
	void *p[4], *heap, *plain;
	int rc, bad = 0;

	if (!len) {
		fprintf(stderr, "usage: where [MiB (>= 1)]\n");
		return 2;
	}
	for (int i = 0; i < 4; i++) {
		rc = hybrid_mmap(&p[i], len, kinds[i].hint, 0);
		if (rc) {
			fprintf(stderr, "where: hybrid_mmap: %s\n", hybrid_strerror(rc));
			return 1;
		}
		memset(p[i], 1, len / 2); /* half present, half never touched */
	}
	heap = hybrid_malloc(len);
	plain = malloc(len);
	if (!heap || !plain) {
		fprintf(stderr, "where: out of memory\n");
		return 1;
	}
	memset(heap, 1, len);
	memset(plain, 1, len);

	print_tiers();
	for (int i = 0; i < 4; i++)
		bad |= print_where(kinds[i].name, p[i], len);
	bad |= print_where("heap", heap, len);
	bad |= print_where("malloc", plain, len);

	for (int i = 0; i < 4; i++)
		hybrid_munmap(p[i], len);
	hybrid_free(heap);
	free(plain);
	return bad ? 1 : 0;
}
