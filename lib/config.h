/* SPDX-License-Identifier: MIT */
/*
 * config — the option table and the one parser behind it.
 *
 * Every tunable of libhybrid is one row of hy_options[]: its name, type,
 * default (as text, parsed by the same code as user input), allowed range and
 * one line of help.  From that row come the environment variable
 * HYBRID_<NAME>, the launcher's long option --<name-with-dashes>, the lines
 * of `hybridctl --show` and the options table of the docs.  Adding an option
 * means adding a row and a field of struct hy_config, nothing else.
 *
 * The parser runs before main in a preloaded process, so it allocates
 * nothing: values land in fixed-size fields of a caller-owned hy_config,
 * errors in a caller-owned hy_err.  Environment is read with secure_getenv,
 * so a setuid program ignores HYBRID_* entirely.
 */
#ifndef HY_CONFIG_H
#define HY_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "nodemask.h"

#define HY_MAX_TIERS 7 /* the per-page state holds a tier in 3 bits (region.h) */
#define HY_NAMES_MAX 1024 /* bytes of an ignore_names list, with its NUL */

enum hy_opt_type {
	HY_T_BOOL,
	HY_T_INT,	/* decimal integer */
	HY_T_SIZE,	/* bytes, with K/M/G/T/P suffixes (binary) */
	HY_T_DURATION,	/* microseconds, written with a unit: us, ms, s, min, h */
	HY_T_NODES,	/* numactl node list: "0-3,5", "all", "!0", "+0-1", "!+0" */
	HY_T_TIERS,	/* node lists fastest first, separated by '/': "0/2/1,3" */
	HY_T_ENUM,
	HY_T_PATH,
	HY_T_NAMES,	/* HYBRID_ names that are no option, ','-separated */
};

enum hy_opt_source {
	HY_SRC_DEFAULT,
	HY_SRC_ENV,
	HY_SRC_CMDLINE,
	HY_SRC_API,
};

enum hy_mode { HY_MODE_AUTO, HY_MODE_HYBRID, HY_MODE_DRAM, HY_MODE_OFF };
/* The order of config.c's backend_choices (rwp came last, in 7.3). */
enum hy_backend { HY_BACKEND_AUTO, HY_BACKEND_ASYNC, HY_BACKEND_SYNC, HY_BACKEND_OFF, HY_BACKEND_RWP };

struct hy_tierlist {
	int ntiers; /* 0: not set */
	struct hy_nodemask tier[HY_MAX_TIERS];
};

/* The option ids, in table order. */
enum hy_opt_id {
	HY_OPT_MODE,
	HY_OPT_FAST_NODES,
	HY_OPT_SLOW_NODES,
	HY_OPT_TIERS,
	HY_OPT_PROMOTE_THRESHOLD,
	HY_OPT_PROMOTE_WINDOW,
	HY_OPT_EPOCH,
	HY_OPT_BACKEND,
	HY_OPT_SYNC_FAULT_BUDGET,
	HY_OPT_TRACK_OVERHEAD,
	HY_OPT_TRACK_WINDOW,
	HY_OPT_TRACK_SAMPLE,
	HY_OPT_DRAM_LIMIT,
	HY_OPT_FREE_LOW,
	HY_OPT_FREE_HIGH,
	HY_OPT_PROMOTE_RATE,
	HY_OPT_MIN_SIZE,
	HY_OPT_SHARED,
	HY_OPT_STATS,
	HY_OPT_LOG_LEVEL,
	HY_OPT_IGNORE_NAMES,
	HY_OPT_COUNT
};

/*
 * The effective options.  An empty node mask or tier list means "not set:
 * discover".  src[] records where each value came from, for --show.
 */
struct hy_config {
	int mode;			/* enum hy_mode */
	struct hy_nodemask fast_nodes;
	struct hy_nodemask slow_nodes;
	struct hy_tierlist tiers;
	int64_t promote_threshold;	/* distinct epochs with an access */
	int64_t promote_window;		/* epochs */
	uint64_t epoch_us;
	int backend;			/* enum hy_backend */
	int64_t sync_fault_budget;	/* faults per second */
	int64_t track_overhead_pct;	/* share of run time tracking may cost; 100 = all */
	int64_t track_window_pct;	/* share of each epoch, at its end, that is tracked */
	uint64_t track_sample;		/* bytes armed per epoch; 0 = the governor decides */
	uint64_t dram_limit;		/* bytes, 0 = none */
	int64_t free_low_pct;		/* % of a fast node's capacity */
	int64_t free_high_pct;
	uint64_t promote_rate;		/* bytes per second, 0 = unlimited */
	uint64_t min_size;		/* bytes */
	bool shared;			/* shared anonymous mappings are hybrid too */
	char stats[PATH_MAX];		/* "", "stderr" or a file path */
	int log_level;			/* enum hy_log_level */
	char ignore_names[HY_NAMES_MAX]; /* "" or "HYBRID_HOME,HYBRID_ROOT" */
	enum hy_opt_source src[HY_OPT_COUNT];
};

struct hy_opt_desc {
	const char *name;		/* lower case, '_' separated */
	enum hy_opt_type type;
	size_t offset;			/* of the value in struct hy_config */
	const char *defval;		/* default, as user text; NULL = unset */
	int64_t min, max;		/* for INT, SIZE, DURATION (bytes, µs) */
	const char *const *choices;	/* for ENUM, NULL-terminated */
	char shortopt;			/* launcher short form, or 0 */
	const char *help;
};

extern const struct hy_opt_desc hy_options[HY_OPT_COUNT];

/* All options at their defaults. */
void hy_config_defaults(struct hy_config *cfg);

/* Option id by name ("dram_limit"), launcher spelling ("dram-limit") or env
 * name ("HYBRID_DRAM_LIMIT"); -1 if unknown. */
int hy_config_lookup(const char *name);

/* "HYBRID_DRAM_LIMIT" into buf. */
const char *hy_config_env_name(int id, char *buf, size_t len);
/* "dram-limit" into buf. */
const char *hy_config_long_name(int id, char *buf, size_t len);
/* How the user set option id, for messages: "--dram-limit" if it came from
 * the command line, else "HYBRID_DRAM_LIMIT". */
const char *hy_config_spelling(const struct hy_config *cfg, int id, char *buf, size_t len);

/*
 * Parse text into option id.  On error returns -EINVAL, leaves cfg unchanged
 * and puts into err the reason and what is accepted (without the option's
 * name: the caller knows how the user spelled it).
 */
int hy_config_set(struct hy_config *cfg, int id, const char *text, enum hy_opt_source src,
		  struct hy_err *err);

/* Checks that involve more than one option (threshold <= window, ...). */
int hy_config_check(const struct hy_config *cfg, struct hy_err *err);

/*
 * Read every HYBRID_* variable of the environment.  A bad value of an option
 * is an error: returns -EINVAL with one complete line in err, naming the
 * variable, the value and what is accepted.  A HYBRID_ name that is no
 * option is not: it is ignored, and unless in ignore_names said once per
 * process, one line on stderr (hy_config_unknown_env's).
 */
int hy_config_load_env(struct hy_config *cfg, struct hy_err *err);
/* The same without the warning, and the warning alone (once per process):
 * for hybridctl, whose command line may set ignore_names. */
int hy_config_load_env_quiet(struct hy_config *cfg, struct hy_err *err);
void hy_config_warn_unknown(const struct hy_config *cfg);

/*
 * The HYBRID_ names of the environment that are no option and not in
 * cfg's ignore_names: their number, and if any, one line in msg naming each
 * with its nearest option ("not an option: HYBRID_HOME (nearest:
 * HYBRID_MODE); ignored").  None for a setuid program, which ignores
 * HYBRID_* entirely.  names (may be NULL) gets those of them that an
 * ignore_names list can hold, ','-separated, as far as len allows.
 */
int hy_config_unknown_env(const struct hy_config *cfg, struct hy_err *msg, char *names, size_t len);

/* The option's environment name nearest to name (edit distance) into buf. */
const char *hy_config_nearest(const char *name, char *buf, size_t len);

/* The value of option id as text, in the syntax the parser accepts. */
const char *hy_config_format(const struct hy_config *cfg, int id, char *buf, size_t len);

/* Describe what option id accepts ("a size with K, M, G ... from 0 to 1P"). */
const char *hy_config_accepts(int id, char *buf, size_t len);

/*
 * LD_PRELOAD: does one entry (n bytes; ld.so(8) separates entries by spaces
 * or colons) name some libhybrid, its last path component starting with
 * "libhybrid.so" (the build tree's and the installed names alike)?  And
 * does a whole LD_PRELOAD value (may be NULL) hold one?  Shared by the
 * library (am I preloaded?) and the launcher (never twice).
 */
bool hy_preload_entry_is_libhybrid(const char *entry, size_t n);
bool hy_preload_has_libhybrid(const char *ld_preload);

/* The library's version as text ("0.1.0"), from include/hybrid.h's
 * numbers (include it first). */
#define HY_STR_(x)	  #x
#define HY_STR(x)	  HY_STR_(x)
#define HY_VERSION_TEXT                                                                            \
	HY_STR(HYBRID_VERSION_MAJOR) "." HY_STR(HYBRID_VERSION_MINOR) "." HY_STR(HYBRID_VERSION_PATCH)

const char *hy_source_name(enum hy_opt_source src);
const char *hy_type_name(enum hy_opt_type type);

/*
 * The parsers themselves, shared with topology (sysfs node lists) and the
 * fuzz targets.  Each returns 0 or -EINVAL (garbage, empty) / -ERANGE
 * (overflow, out of [min, max]).
 */
int hy_parse_bool(const char *s, bool *out);
int hy_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
int hy_parse_size(const char *s, uint64_t max, uint64_t *out);
int hy_parse_duration(const char *s, uint64_t *out_us);
/* The kernel's list ("0-3,5", and "all"): sysfs, Mems_allowed_list. */
int hy_parse_nodelist(const char *s, struct hy_nodemask *out);
/* The user's: numactl's forms on top, "!LIST" (every allowed node but
 * LIST's), "+LIST" (LIST's numbers counted within allowed: "+0" is its first
 * node) and "!+LIST", resolved against allowed (NULL: those refused).  A
 * result with no node is -EINVAL; a "!" node not allowed or a "+" number
 * past the allowed nodes is -ERANGE. */
int hy_parse_nodes(const char *s, const struct hy_nodemask *allowed, struct hy_nodemask *out);
/* Node lists ('/'-separated) of hy_parse_nodes, fastest first. */
int hy_parse_tiers(const char *s, const struct hy_nodemask *allowed, struct hy_tierlist *out);
/* This process's allowed memory nodes (/proc/self/status
 * Mems_allowed_list, the cpuset's); 0 or -errno.  Allocates nothing. */
int hy_allowed_nodes(struct hy_nodemask *out);

/* Pretty forms for messages and --show: "64M", "1500ms". */
char *hy_format_size(uint64_t bytes, char *buf, size_t len);
char *hy_format_duration(uint64_t us, char *buf, size_t len);

#endif
