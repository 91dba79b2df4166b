/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum hy_log_level log_level = HY_LOG_WARN;
static const char *log_prefix = "libhybrid";

void hy_log_set_level(enum hy_log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

enum hy_log_level hy_log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void hy_log_set_prefix(const char *prefix)
{
	log_prefix = prefix;
}

void hy_vlog(enum hy_log_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	int saved = errno; /* logging must not disturb the program's errno */
	int n, m;

	if (level > hy_log_get_level())
		return;
	n = snprintf(buf, sizeof(buf), "%s: ", log_prefix);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2; /* truncated: still one whole line */
	buf[n++] = '\n';
	/* One write keeps the line whole among other threads' output. */
	for (char *p = buf; n > 0;) {
		ssize_t w = write(STDERR_FILENO, p, (size_t)n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		p += w;
		n -= (int)w;
	}
	errno = saved;
}

void hy_log(enum hy_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hy_vlog(level, fmt, ap);
	va_end(ap);
}

void hy_err_set(struct hy_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}
