/* SPDX-License-Identifier: MIT */
/*
 * log — the library's only voice.
 *
 * Everything libhybrid says goes to stderr (fd 2), one line per message,
 * prefixed "libhybrid: ".  It never writes to stdout: the library lives in
 * programs it did not write, and their stdout is their output.
 *
 * Messages are formatted into a stack buffer and written with one write(2),
 * so logging allocates nothing and is safe before main, in the policy thread
 * and after the heap is gone.  hy_warn_once() prints a message the first time
 * a call site is reached and never again (numactl's warn-once).
 */
#ifndef HY_LOG_H
#define HY_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum hy_log_level {
	HY_LOG_ERROR = 0,
	HY_LOG_WARN = 1,
	HY_LOG_INFO = 2,
	HY_LOG_DEBUG = 3,
};

/* Messages above this level are dropped; set from the log_level option. */
void hy_log_set_level(enum hy_log_level level);
enum hy_log_level hy_log_get_level(void);

/* Prefix of every line ("libhybrid" in the library, "hybridctl" in the tool). */
void hy_log_set_prefix(const char *prefix);

void hy_log(enum hy_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hy_vlog(enum hy_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define hy_error(...) hy_log(HY_LOG_ERROR, __VA_ARGS__)
#define hy_warn(...)  hy_log(HY_LOG_WARN, __VA_ARGS__)
#define hy_info(...)  hy_log(HY_LOG_INFO, __VA_ARGS__)
#define hy_debug(...) hy_log(HY_LOG_DEBUG, __VA_ARGS__)

/* Print once per call site for the life of the process. */
#define hy_warn_once(...)                                                                          \
	do {                                                                                       \
		static bool hy_said_;                                                              \
		if (!__atomic_exchange_n(&hy_said_, true, __ATOMIC_RELAXED))                       \
			hy_log(HY_LOG_WARN, __VA_ARGS__);                                          \
	} while (0)

/*
 * A message carried back to a caller who decides how to say it: the library
 * warns and runs unmanaged, the launcher prints it and exits 2.  Fixed size
 * so that producing one never allocates.
 */
struct hy_err {
	char msg[512];
};

void hy_err_set(struct hy_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
