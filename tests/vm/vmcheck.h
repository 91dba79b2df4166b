/* SPDX-License-Identifier: MIT */
/*
 * CHECK() for the VM test programs: a failed check prints one "FAIL:" line
 * (flushed, so it survives a crash that follows) and counts; the program
 * exits 1 if any failed.
 */
#ifndef HY_VMCHECK_H
#define HY_VMCHECK_H

#include <stdio.h>

static int fails;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
			fflush(stdout);                                                            \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

#endif
