/* SPDX-License-Identifier: MIT */
/*
 * clock — the library's one monotonic clock, in nanoseconds.
 *
 * CLOCK_MONOTONIC through the vDSO: no system call, safe on the policy
 * thread and in atfork handlers, never jumps with the wall clock.
 */
#ifndef HY_CLOCK_H
#define HY_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t hy_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#endif
