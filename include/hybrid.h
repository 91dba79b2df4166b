/* SPDX-License-Identifier: MIT */
/*
 * libhybrid — tiered memory (DRAM + slower CXL/PMEM NUMA nodes) for ordinary
 * Linux programs.  This is the whole public interface.
 *
 * Conventions: functions return 0 or a negative errno value (-EINVAL, ...);
 * hybrid_strerror() turns one into a message.  Nothing here sets errno
 * except where a function says it behaves like its libc namesake.
 *
 * Link with `pkg-config --cflags --libs hybrid`, or from CMake with
 * find_package(hybrid) and the target hybrid::hybrid.
 */
#ifndef HYBRID_H
#define HYBRID_H

#ifdef __cplusplus
extern "C" {
#endif

#define HYBRID_VERSION_MAJOR 0
#define HYBRID_VERSION_MINOR 1
#define HYBRID_VERSION_PATCH 0

/*
 * The version of the library actually loaded, "MAJOR.MINOR.PATCH".  Compare
 * with the HYBRID_VERSION_* macros to tell the headers from the library.
 */
const char *hybrid_version(void);

/*
 * A message for an error code returned by a hybrid_* function (a negative
 * errno value; the sign is ignored).  The string is static: never free it,
 * and it stays valid for the life of the process.
 */
const char *hybrid_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
