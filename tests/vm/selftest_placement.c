/* selftest_placement — first test of the tiered-memory VM (tests/vm/tiered-vm).
 *
 *   selftest_placement [NODE]
 *
 * Checks that the VM really gives a program memory on its slow node and that the
 * kernel's placement interfaces agree with each other:
 *   1. mmap 64 MiB anonymous, mbind(MPOL_BIND) to NODE (default: the highest-numbered
 *      node without CPUs, else the highest-numbered node with memory), fault it in by
 *      filling it with a pattern;
 *   2. move_pages(pid, n, pages, NULL, status, 0) reports NODE for every page,
 *      get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR) agrees, and /proc/self/numa_maps
 *      counts all pages of the mapping on NODE;
 *   3. move_pages moves every page to node 0 (or, if NODE is 0, to another node) and
 *      back, with the same checks each time and an unchanged checksum of the data.
 * Exit status: 0 pass, 1 fail (the failed check is printed), 77 skip (fewer than two
 * NUMA nodes with memory, or no NUMA support).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <numa.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../support.h"

#define MAP_BYTES (64UL << 20)

static void *xmalloc(size_t n)
{
    void *p = calloc(n, 1);
    if (!p) {
        fprintf(stderr, "FAIL: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static uint64_t checksum(const uint64_t *w, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over 64-bit words */
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int node_has_memory(int n)
{
    long long free_b;
    return numa_bitmask_isbitset(numa_all_nodes_ptr, n) && numa_node_size64(n, &free_b) > 0;
}

static int node_cpu_count(int n)
{
    struct bitmask *cpus = numa_allocate_cpumask();
    int c = numa_node_to_cpus(n, cpus) == 0 ? (int)numa_bitmask_weight(cpus) : -1;
    numa_free_cpumask(cpus);
    return c;
}

/* Pages of the mapping starting at addr that /proc/self/numa_maps counts per node
 * (counts[] has max_node + 1 entries); returns 0 if the mapping was found. */
static int numa_maps_counts(void *addr, long *counts, int max_node, char *policy, size_t plen)
{
    FILE *f = fopen("/proc/self/numa_maps", "r");
    char line[4096];
    int found = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        char *end, *tok, *save;
        unsigned long start = strtoul(line, &end, 16);
        if ((void *)start != addr)
            continue;
        found = 0;
        memset(counts, 0, sizeof(long) * (max_node + 1));
        tok = strtok_r(end, " \n", &save);
        if (tok)
            snprintf(policy, plen, "%s", tok);
        while ((tok = strtok_r(NULL, " \n", &save))) {
            int node;
            long pages;
            if (sscanf(tok, "N%d=%ld", &node, &pages) == 2 && node >= 0 && node <= max_node)
                counts[node] += pages;
        }
        break;
    }
    fclose(f);
    return found;
}

/* All placement checks for "every page is on node want". */
static void verify_placement(const char *when, char *buf, size_t npages, long psz, int want,
                             int max_node)
{
    void **pages = xmalloc(npages * sizeof *pages);
    int *status = xmalloc(npages * sizeof *status);
    long *counts = xmalloc((max_node + 1) * sizeof *counts);
    size_t wrong = 0, policy_wrong = 0, first_wrong = 0;
    char policy[64] = "";

    for (size_t i = 0; i < npages; i++)
        pages[i] = buf + i * psz;
    long rc = move_pages(0, npages, pages, NULL, status, 0);
    CHECK(rc == 0, "%s: move_pages query failed: %s", when, strerror(errno));
    for (size_t i = 0; rc == 0 && i < npages; i++)
        if (status[i] != want && wrong++ == 0)
            first_wrong = i;
    CHECK(wrong == 0, "%s: move_pages: %zu of %zu pages not on node %d (page %zu: status %d)",
          when, wrong, npages, want, first_wrong, status[first_wrong]);

    for (size_t i = 0; i < npages; i++) {
        int node = -1;
        if (get_mempolicy(&node, NULL, 0, pages[i], MPOL_F_NODE | MPOL_F_ADDR) != 0 || node != want)
            policy_wrong++;
    }
    CHECK(policy_wrong == 0, "%s: get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR): %zu pages not on node %d",
          when, policy_wrong, want);

    if (numa_maps_counts(buf, counts, max_node, policy, sizeof policy) != 0) {
        CHECK(0, "%s: mapping %p not found in /proc/self/numa_maps", when, (void *)buf);
    } else {
        long elsewhere = 0;
        for (int n = 0; n <= max_node; n++)
            if (n != want)
                elsewhere += counts[n];
        CHECK(counts[want] == (long)npages && elsewhere == 0,
              "%s: numa_maps (policy %s): N%d=%ld, %ld pages on other nodes, expected %zu on node %d",
              when, policy, want, counts[want], elsewhere, npages, want);
    }
    if (wrong == 0 && policy_wrong == 0)
        printf("ok: %s: all %zu pages on node %d (move_pages, get_mempolicy, numa_maps N%d=%ld)\n",
               when, npages, want, want, counts[want]);
    free(pages);
    free(status);
    free(counts);
}

static void move_all(const char *when, char *buf, size_t npages, long psz, int dest)
{
    void **pages = xmalloc(npages * sizeof *pages);
    int *nodes = xmalloc(npages * sizeof *nodes);
    int *status = xmalloc(npages * sizeof *status);
    size_t bad = 0, first_bad = 0;

    for (size_t i = 0; i < npages; i++) {
        pages[i] = buf + i * psz;
        nodes[i] = dest;
        status[i] = -12345;
    }
    long rc = move_pages(0, npages, pages, nodes, status, MPOL_MF_MOVE);
    CHECK(rc >= 0, "%s: move_pages to node %d failed: %s", when, dest, strerror(errno));
    /* -EBUSY is "try again": both 6.1 and 6.12 report it for the second base page of
     * each transparent huge page (its head was already isolated for migration, and the
     * whole THP moves). Retry those pages; anything else is a failure. */
    size_t busy = 0, retried = 0;
    for (int round = 0; round < 5; round++) {
        busy = 0;
        for (size_t i = 0; i < npages; i++)
            if (status[i] == -EBUSY) {
                pages[busy] = buf + i * psz;
                busy++;
            }
        if (busy == 0)
            break;
        retried += busy;
        int *st = xmalloc(busy * sizeof *st);
        rc = move_pages(0, busy, pages, nodes, st, MPOL_MF_MOVE);
        CHECK(rc >= 0, "%s: move_pages retry failed: %s", when, strerror(errno));
        for (size_t i = 0, j = 0; i < npages; i++)
            if (status[i] == -EBUSY)
                status[i] = st[j++];
        free(st);
    }
    for (size_t i = 0; i < npages; i++)
        if (status[i] != dest && bad++ == 0)
            first_bad = i;
    CHECK(bad == 0, "%s: move_pages status: %zu pages not reported on node %d (page %zu: %d)",
          when, bad, dest, first_bad, status[first_bad]);
    if (retried)
        printf("note: %s: %zu page(s) reported -EBUSY and were retried\n", when, retried);
    free(pages);
    free(nodes);
    free(status);
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [NODE]\n", argv[0]);
        return 2;
    }
    if (numa_available() < 0)
        hy_skip("no NUMA support in this kernel");
    int max_node = numa_max_node(), mem_nodes = 0, target = -1, other = -1;
    for (int n = 0; n <= max_node; n++) {
        if (!node_has_memory(n))
            continue;
        int cpus = node_cpu_count(n);
        mem_nodes++;
        printf("node %d: %d CPUs, %lld MiB\n", n, cpus, numa_node_size64(n, NULL) >> 20);
        if (cpus == 0)
            target = n; /* highest-numbered CPU-less node wins */
    }
    if (mem_nodes < 2)
        hy_skip("%d NUMA node(s) with memory; this test needs at least 2", mem_nodes);
    if (argc == 2) {
        char *end;
        target = (int)strtol(argv[1], &end, 10);
        if (*end || target < 0 || target > max_node || !node_has_memory(target)) {
            fprintf(stderr, "FAIL: '%s' is not a node with memory\n", argv[1]);
            return 1;
        }
    }
    if (target < 0) /* no CPU-less node (e.g. two sockets): the last node with memory */
        for (int n = 0; n <= max_node; n++)
            if (node_has_memory(n))
                target = n;
    for (int n = 0; n <= max_node && other < 0; n++)
        if (n != target && node_has_memory(n))
            other = n; /* node 0 unless the target is node 0 */
    printf("target node %d, round trip through node %d\n", target, other);

    long psz = sysconf(_SC_PAGESIZE);
    size_t npages = MAP_BYTES / psz, nwords = MAP_BYTES / sizeof(uint64_t);
    char *buf = mmap(NULL, MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) {
        fprintf(stderr, "FAIL: mmap %lu bytes: %s\n", MAP_BYTES, strerror(errno));
        return 1;
    }
    struct bitmask *mask = numa_allocate_nodemask();
    numa_bitmask_setbit(mask, target);
    if (mbind(buf, MAP_BYTES, MPOL_BIND, mask->maskp, mask->size + 1, 0) != 0) {
        fprintf(stderr, "FAIL: mbind(MPOL_BIND, node %d): %s\n", target, strerror(errno));
        return 1;
    }
    numa_free_nodemask(mask);

    uint64_t *w = (uint64_t *)buf;
    for (size_t i = 0; i < nwords; i++) /* faults every page in on the bound node */
        w[i] = (i * 0x9e3779b97f4a7c15ULL) ^ 0x5a5a5a5a5a5a5a5aULL;
    uint64_t sum0 = checksum(w, nwords);
    printf("filled %lu MiB, checksum %016" PRIx64 "\n", MAP_BYTES >> 20, sum0);

    char when[64];
    verify_placement("after fault-in", buf, npages, psz, target, max_node);

    snprintf(when, sizeof when, "after move to node %d", other);
    move_all(when, buf, npages, psz, other);
    verify_placement(when, buf, npages, psz, other, max_node);
    uint64_t sum1 = checksum(w, nwords);
    CHECK(sum1 == sum0, "%s: checksum %016" PRIx64 " != %016" PRIx64, when, sum1, sum0);

    snprintf(when, sizeof when, "after move back to node %d", target);
    move_all(when, buf, npages, psz, target);
    verify_placement(when, buf, npages, psz, target, max_node);
    uint64_t sum2 = checksum(w, nwords);
    CHECK(sum2 == sum0, "%s: checksum %016" PRIx64 " != %016" PRIx64, when, sum2, sum0);

    munmap(buf, MAP_BYTES);
    if (check_failures)
        return checks_done("selftest_placement");
    printf("selftest_placement: PASS (node %d <-> node %d, 64 MiB, checksum unchanged)\n", target, other);
    return 0;
}
