/* SPDX-License-Identifier: MIT */
/*
 * clock — the library's one monotonic clock, in nanoseconds, and the CPU
 * time clocks its costs are measured with.
 *
 * CLOCK_MONOTONIC through the vDSO: no system call, safe on the policy
 * thread and in atfork handlers, never jumps with the wall clock.
 *
 * Costs (a tracked fault, arming a page, an epoch's work) are CPU time, not
 * wall time: on a busy machine a thread waits for a CPU, and the wait is
 * not ours -- a cost measured in wall time there would make the governor
 * track a fraction of what it should.  These are system calls.
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

/* CPU time of clock c (CLOCK_THREAD_CPUTIME_ID, or a thread's,
 * pthread_getcpuclockid). */
static inline uint64_t hy_cpu_ns(clockid_t c)
{
	struct timespec t;

	if (clock_gettime(c, &t))
		return 0;
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#endif
