/* SPDX-License-Identifier: MIT */
/*
 * setuid_probe — a small program for test_setuid.sh to install setuid-root
 * and run as an unprivileged user, plain, under LD_PRELOAD=libhybrid.so and
 * under hybridctl.
 *
 *   setuid_probe          prints (stdout, the same in every run of one binary):
 *                           ids: ruid R euid E secure S   (AT_SECURE, the loader's secure mode)
 *                           work: <checksum>              (heap and mmap, written and summed)
 *                           libhybrid mapped: yes|no      (any libhybrid.so* in /proc/self/maps)
 *
 * Built a second time as setuid_probe_linked (-DPROBE_LINKED, linked with
 * -lhybrid): then libhybrid is always loaded, and the probe also prints
 *                           hybrid: state N               (hybrid_init(NULL), hybrid_get_stats)
 * which shows whether HYBRID_* in the environment reached the library: in
 * secure mode (setuid) it must not (secure_getenv).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef PROBE_LINKED
#include "hybrid.h"
#endif

static int libhybrid_mapped(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libhybrid.so"))
			found = 1;
	fclose(f);
	return found;
}

int main(void)
{
	size_t n = 1 << 20, m = 4 << 20;
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned char *p = malloc(n), *q;
	int mapped;

	q = mmap(NULL, m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p || q == MAP_FAILED) {
		perror("setuid_probe: memory");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + 7);
	for (size_t i = 0; i < m; i += 64)
		q[i] = (unsigned char)(i >> 6);
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	for (size_t i = 0; i < m; i += 64)
		h = (h ^ q[i]) * 0x100000001b3ull;
	printf("ids: ruid %d euid %d secure %lu\n", (int)getuid(), (int)geteuid(),
	       getauxval(AT_SECURE));
	printf("work: %016llx\n", (unsigned long long)h);
	mapped = libhybrid_mapped();
	printf("libhybrid mapped: %s\n", mapped < 0 ? "unknown" : mapped ? "yes" : "no");
#ifdef PROBE_LINKED
	{
		struct hybrid_stats st = {.size = sizeof(st)};
		int rc = hybrid_init(NULL);

		if (hybrid_get_stats(&st))
			st.state = 99;
		printf("hybrid: init %d state %u\n", rc, st.state);
	}
#endif
	free(p);
	munmap(q, m);
	return 0;
}
