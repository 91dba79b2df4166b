/* SPDX-License-Identifier: MIT */
/*
 * api — the public hybrid_* functions.  The instance they act on (options,
 * tiers, engine, start and stop) is runtime's.
 */
#include <errno.h>
#include <string.h>

#include "hybrid.h"
#include "runtime.h"

#define HY_EXPORT __attribute__((visibility("default")))
#define STR_(x) #x
#define STR(x) STR_(x)

HY_EXPORT const char *hybrid_version(void)
{
	return STR(HYBRID_VERSION_MAJOR) "." STR(HYBRID_VERSION_MINOR) "." STR(
		HYBRID_VERSION_PATCH);
}

HY_EXPORT const char *hybrid_strerror(int err)
{
	const char *s;

	if (err == 0)
		return "Success";
	if (err < 0)
		err = -err;
	/* strerrordesc_np: static, untranslated, thread-safe (glibc 2.32) */
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}
