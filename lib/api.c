/* SPDX-License-Identifier: MIT */
/*
 * api — the public hybrid_* functions and the library's start.
 *
 * Start-up runs as a constructor, before main in a preloaded process: it
 * reads the options and the tier topology, and decides whether the library
 * manages anything.  Bad configuration is one line on stderr and the program
 * runs unmanaged; the library never stops a program from starting.
 */
#include <errno.h>
#include <string.h>

#include "hybrid.h"
#include "config.h"
#include "log.h"
#include "topology.h"

#define HY_EXPORT __attribute__((visibility("default")))
#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * Process-wide state, written once by the constructor before any other
 * thread of ours exists, read-only afterwards.
 */
static struct hy_config hy_cfg;
static struct hy_topo hy_topology;

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

__attribute__((constructor)) static void hy_start(void)
{
	struct hy_err err;
	char nodes[128];

	hy_config_defaults(&hy_cfg);
	if (hy_config_load_env(&hy_cfg, &err)) {
		hy_warn("%s; running unmanaged", err.msg);
		return;
	}
	if (hy_cfg.mode == HY_MODE_OFF)
		return;
	if (hy_topo_discover(&hy_topology, "/", &hy_cfg, &err)) {
		hy_warn("%s; running unmanaged", err.msg);
		return;
	}
	if (hy_topology.ntiers < 2) {
		/* Said once, at info level unless hybrid placement was asked for. */
		hy_log(hy_cfg.mode == HY_MODE_HYBRID ? HY_LOG_WARN : HY_LOG_INFO,
		       "one memory tier (nodes %s): running the program unchanged",
		       hy_nm_format(&hy_topology.tier[0].nodes, nodes, sizeof(nodes)));
		return;
	}
	/* The engine starts here once the preload layer or the API hands it
	 * memory (issues #5, #6). */
	hy_debug("%d tiers from %s", hy_topology.ntiers, hy_topo_source_name(hy_topology.source));
}
