/* SPDX-License-Identifier: MIT */
/*
 * config — option table, parsers, environment loading.  See config.h.
 *
 * Nothing in this file allocates: it runs before main, possibly before the
 * interposed heap exists.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define OFF(field) offsetof(struct hy_config, field)

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define PiB (INT64_C(1) << 50)
#define MS  INT64_C(1000)
#define SEC INT64_C(1000000)

static const char *const mode_choices[] = {"auto", "hybrid", "dram", "off", NULL};
static const char *const backend_choices[] = {"auto", "async", "sync", "off", "rwp", NULL};
static const char *const loglevel_choices[] = {"error", "warn", "info", "debug", NULL};

/*
 * THE option table.  Keep rows in enum hy_opt_id order (checked by the unit
 * tests) and keep help to one line: it is printed by --show and --help.
 */
const struct hy_opt_desc hy_options[HY_OPT_COUNT] = {
	[HY_OPT_MODE] = {"mode", HY_T_ENUM, OFF(mode), "auto", 0, 0, mode_choices, 'M',
			 "hybrid: new memory starts on the slow tier; dram: DRAM-first, only hinted "
			 "ranges managed; off; auto: hybrid when preloaded, dram when linked"},
	[HY_OPT_FAST_NODES] = {"fast_nodes", HY_T_NODES, OFF(fast_nodes), NULL, 0, 0, NULL, 'F',
			       "nodes of the fast tier (default: discovered)"},
	[HY_OPT_SLOW_NODES] = {"slow_nodes", HY_T_NODES, OFF(slow_nodes), NULL, 0, 0, NULL, 'S',
			       "nodes of the slow tier; may equal fast_nodes (loopback pair, "
			       "for testing on one node)"},
	[HY_OPT_TIERS] = {"tiers", HY_T_TIERS, OFF(tiers), NULL, 0, 0, NULL, 'T',
			  "full tier list, fastest first, e.g. 0/2/1,3 (instead of "
			  "fast_nodes/slow_nodes)"},
	[HY_OPT_PROMOTE_THRESHOLD] = {"promote_threshold", HY_T_INT, OFF(promote_threshold), "2",
				      1, 8, NULL, 0,
				      "promote a page seen written in this many distinct epochs"},
	[HY_OPT_PROMOTE_WINDOW] = {"promote_window", HY_T_INT, OFF(promote_window), "4", 1, 8,
				   NULL, 0, "how many recent epochs promote_threshold counts over"},
	[HY_OPT_EPOCH] = {"epoch", HY_T_DURATION, OFF(epoch_us), "1s", 10 * MS, 3600 * SEC, NULL,
			  'e', "length of one tracking epoch"},
	[HY_OPT_BACKEND] = {"backend", HY_T_ENUM, OFF(backend), "auto", 0, 0, backend_choices, 'b',
			    "access tracking: rwp (reads and writes, RWP_ASYNC, Linux 7.3), async "
			    "(writes, WP_ASYNC + PAGEMAP_SCAN), sync (sampled write faults), off, "
			    "or auto (best available)"},
	[HY_OPT_SYNC_FAULT_BUDGET] = {"sync_fault_budget", HY_T_INT, OFF(sync_fault_budget),
				      "2000", 1, 1000000, NULL, 0,
				      "sync backend: most write faults taken per second"},
	[HY_OPT_TRACK_OVERHEAD] = {"track_overhead", HY_T_INT, OFF(track_overhead_pct), "1", 1,
				   100, NULL, 0,
				   "% of run time tracking may cost (sampling); 100 = track every page"},
	[HY_OPT_TRACK_WINDOW] = {"track_window", HY_T_INT, OFF(track_window_pct), "0", 0, 100,
				 NULL, 0,
				 "% of each epoch in which writes are recorded (shorter "
				 "windows tell often-written pages from seldom-written ones); 0: adaptive"},
	[HY_OPT_TRACK_SAMPLE] = {"track_sample", HY_T_SIZE, OFF(track_sample), "0", 0, PiB, NULL, 0,
				 "memory armed for tracking each epoch, instead of what "
				 "track_overhead allows; 0 = the governor decides"},
	[HY_OPT_DRAM_LIMIT] = {"dram_limit", HY_T_SIZE, OFF(dram_limit), "0", 0, PiB, NULL, 'L',
			       "most fast-tier memory this process may use; 0 = no limit"},
	[HY_OPT_FREE_LOW] = {"free_low", HY_T_INT, OFF(free_low_pct), "5", 0, 100, NULL, 0,
			     "demote when a fast node's free memory falls below this % of it"},
	[HY_OPT_FREE_HIGH] = {"free_high", HY_T_INT, OFF(free_high_pct), "10", 0, 100, NULL, 0,
			      "demotion stops, and promotion may run, above this % free"},
	[HY_OPT_PROMOTE_RATE] = {"promote_rate", HY_T_SIZE, OFF(promote_rate), "256M", 0, PiB,
				 NULL, 0, "most bytes promoted per second; 0 = unlimited"},
	[HY_OPT_MIN_SIZE] = {"min_size", HY_T_SIZE, OFF(min_size), "64K", 0, PiB, NULL, 0,
			     "smallest allocation or mapping that is managed"},
	[HY_OPT_SHARED] = {"shared", HY_T_BOOL, OFF(shared), "1", 0, 0, NULL, 0,
			   "shared anonymous mappings (MAP_SHARED|MAP_ANONYMOUS, kept across fork) "
			   "are hybrid too, tiered as one by the process tree"},
	[HY_OPT_STATS] = {"stats", HY_T_PATH, OFF(stats), NULL, 0, 0, NULL, 0,
			  "print counters at exit: 'stderr' or a file path"},
	[HY_OPT_LOG_LEVEL] = {"log_level", HY_T_ENUM, OFF(log_level), "warn", 0, 0,
			      loglevel_choices, 0, "error, warn, info or debug"},
	[HY_OPT_IGNORE_NAMES] = {"ignore_names", HY_T_NAMES, OFF(ignore_names), NULL, 0, 0, NULL,
				 0,
				 "HYBRID_ names that are no option, not to be warned about "
				 "(hybridctl adds those it warned about, for the programs it starts)"},
};

const char *hy_source_name(enum hy_opt_source src)
{
	switch (src) {
	case HY_SRC_DEFAULT:
		return "default";
	case HY_SRC_ENV:
		return "environment";
	case HY_SRC_CMDLINE:
		return "command line";
	case HY_SRC_API:
		return "hybrid_init";
	}
	return "?";
}

const char *hy_type_name(enum hy_opt_type type)
{
	static const char *const names[] = {
		[HY_T_BOOL] = "boolean",    [HY_T_INT] = "integer",	 [HY_T_SIZE] = "size",
		[HY_T_DURATION] = "duration", [HY_T_NODES] = "node list", [HY_T_TIERS] = "tier list",
		[HY_T_ENUM] = "choice",	    [HY_T_PATH] = "path",	 [HY_T_NAMES] = "name list",
	};
	return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

/* ---- parsers ---------------------------------------------------------- */

static int ascii_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
		if (ca != cb)
			return ca - cb;
		if (!ca)
			return 0;
	}
}

int hy_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	if (!s)
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++) {
		if (!ascii_casecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!ascii_casecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int hy_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0;

	if (!s)
		return -EINVAL;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s)
		return -EINVAL;
	if (v > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
	if (r < min || r > max)
		return -ERANGE;
	*out = r;
	return 0;
}

struct unit {
	const char *name;
	uint64_t mult;
};

/*
 * digits[.digits]unit, the shared shape of sizes and durations.  The
 * fraction is exact to the base unit and truncated below it ("1.5K" is 1536
 * bytes, "0.0001ms" is 0us).
 */
static int parse_scaled(const char *s, const struct unit *units, bool unit_required,
			bool case_fold, uint64_t *out)
{
	uint64_t ip = 0, frac = 0, fscale = 1, mult = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (ip > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (fscale >= UINT64_C(1000000000))
				return -EINVAL; /* more precision than anyone means */
			frac = frac * 10 + (uint64_t)(*p - '0');
			fscale *= 10;
		}
	}
	if (!*p) {
		if (unit_required)
			return -EINVAL;
		mult = 1;
	} else {
		for (const struct unit *u = units; u->name; u++)
			if (case_fold ? !ascii_casecmp(p, u->name) : !strcmp(p, u->name)) {
				mult = u->mult;
				break;
			}
		if (!mult)
			return -EINVAL;
	}
	if (ip > UINT64_MAX / mult)
		return -ERANGE;
	uint64_t v = ip * mult;
	/* frac < fscale <= 1e9 and mult <= 2^50: split to avoid overflow */
	uint64_t fv = (mult / fscale) * frac + ((mult % fscale) * frac) / fscale;
	if (v > UINT64_MAX - fv)
		return -ERANGE;
	*out = v + fv;
	return 0;
}

static const struct unit size_units[] = {
	{"k", 1ULL << 10},   {"kb", 1ULL << 10}, {"kib", 1ULL << 10}, {"m", 1ULL << 20},
	{"mb", 1ULL << 20},  {"mib", 1ULL << 20}, {"g", 1ULL << 30},  {"gb", 1ULL << 30},
	{"gib", 1ULL << 30}, {"t", 1ULL << 40},   {"tb", 1ULL << 40}, {"tib", 1ULL << 40},
	{"p", 1ULL << 50},   {"pb", 1ULL << 50},  {"pib", 1ULL << 50}, {NULL, 0},
};

int hy_parse_size(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc = parse_scaled(s, size_units, false, true, &v);

	if (rc)
		return rc;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static const struct unit duration_units[] = {
	{"us", 1}, {"ms", 1000}, {"s", 1000000}, {"min", 60000000}, {"h", 3600000000ULL}, {NULL, 0},
};

int hy_parse_duration(const char *s, uint64_t *out_us)
{
	/* A bare number is refused: "500" could mean ms or s, and guessing
	 * wrong by 1000x is worse than asking. */
	return parse_scaled(s, duration_units, true, false, out_us);
}

static int parse_node_number(const char **pp, int *out)
{
	const char *p = *pp;
	int v = 0;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v >= HY_MAX_NODES)
			return -ERANGE;
	}
	*pp = p;
	*out = v;
	return 0;
}

/* Parses up to the end of s or the first character in stop (not consumed). */
static int parse_nodelist_until(const char *s, const char *stop, struct hy_nodemask *out,
				const char **endp)
{
	struct hy_nodemask m;
	const char *p = s;
	int rc;

	hy_nm_zero(&m);
	if (!strncmp(p, "all", 3) && (!p[3] || strchr(stop, p[3]))) {
		memset(&m, 0xff, sizeof(m));
		p += 3;
	} else {
		for (;;) {
			int lo, hi;

			if ((rc = parse_node_number(&p, &lo)))
				return rc;
			hi = lo;
			if (*p == '-') {
				p++;
				if ((rc = parse_node_number(&p, &hi)))
					return rc;
				if (hi < lo)
					return -EINVAL;
			}
			for (int n = lo; n <= hi; n++)
				hy_nm_set(&m, n);
			if (*p != ',')
				break;
			p++;
		}
	}
	if (*p && !strchr(stop, *p))
		return -EINVAL;
	*out = m;
	if (endp)
		*endp = p;
	return 0;
}

int hy_parse_nodelist(const char *s, struct hy_nodemask *out)
{
	if (!s)
		return -EINVAL;
	return parse_nodelist_until(s, "", out, NULL);
}

/*
 * numactl(8)'s node forms over the kernel's list: "+LIST" counts LIST's
 * numbers within the allowed nodes ("+0" is the first allowed node), "!LIST"
 * is every allowed node but LIST's, "!+LIST" both.  As numactl: a node
 * named after "!" must be allowed, a "+" number must have an allowed node;
 * unlike numactl, a list that leaves no node is refused here rather than by
 * the kernel.  "all" takes neither ("!all" leaves nothing, "+all" is "all").
 */
static int parse_nodes_until(const char *s, const char *stop, const struct hy_nodemask *allowed,
			     struct hy_nodemask *out, const char **endp)
{
	struct hy_nodemask m, r;
	bool invert = false, relative = false;
	const char *p = s;
	int rc;

	if (*p == '!') {
		invert = true;
		p++;
	}
	if (*p == '+') {
		relative = true;
		p++;
	}
	if (!invert && !relative)
		return parse_nodelist_until(s, stop, out, endp);
	if (!allowed || hy_nm_empty(allowed))
		return -EINVAL;
	if ((rc = parse_nodelist_until(p, stop, &m, &p)))
		return rc;
	if (hy_nm_weight(&m) == HY_MAX_NODES)
		return -EINVAL; /* "all" */
	if (relative) {
		int nth[HY_MAX_NODES], n = 0;

		hy_nm_for_each(node, allowed)
			nth[n++] = node;
		hy_nm_zero(&r);
		hy_nm_for_each(i, &m)
		{
			if (i >= n)
				return -ERANGE;
			hy_nm_set(&r, nth[i]);
		}
		m = r;
	}
	if (invert) {
		if (!hy_nm_subset(&m, allowed))
			return -ERANGE;
		for (unsigned i = 0; i < HY_MAX_NODES / 64; i++)
			r.bits[i] = allowed->bits[i] & ~m.bits[i];
		if (hy_nm_empty(&r))
			return -EINVAL;
		m = r;
	}
	*out = m;
	if (endp)
		*endp = p;
	return 0;
}

int hy_parse_nodes(const char *s, const struct hy_nodemask *allowed, struct hy_nodemask *out)
{
	if (!s)
		return -EINVAL;
	return parse_nodes_until(s, "", allowed, out, NULL);
}

int hy_allowed_nodes(struct hy_nodemask *out)
{
	static const char key[] = "\nMems_allowed_list:";
	char buf[8192];
	ssize_t n, got = 0;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	char *p = strstr(buf, key), *nl;
	if (!p)
		return -ENOENT;
	p += sizeof(key) - 1;
	p += strspn(p, " \t");
	if ((nl = strchr(p, '\n')))
		*nl = 0;
	return hy_parse_nodelist(p, out) ? -EINVAL : 0;
}

int hy_parse_tiers(const char *s, const struct hy_nodemask *allowed, struct hy_tierlist *out)
{
	struct hy_tierlist tl;
	const char *p = s;
	int rc;

	if (!s)
		return -EINVAL;
	memset(&tl, 0, sizeof(tl));
	for (;;) {
		if (tl.ntiers == HY_MAX_TIERS)
			return -ERANGE;
		if ((rc = parse_nodes_until(p, "/", allowed, &tl.tier[tl.ntiers], &p)))
			return rc;
		tl.ntiers++;
		if (!*p)
			break;
		p++; /* the '/' */
	}
	/* A node belongs to one tier, except in a loopback chain: every tier
	 * the same nodes ("0/0", "0/0/0"), to exercise the mechanisms.  A
	 * partial repeat ("0/1/0", "0/0/1") is neither. */
	bool chain = true;
	for (int i = 1; i < tl.ntiers; i++)
		chain = chain && hy_nm_equal(&tl.tier[0], &tl.tier[i]);
	for (int i = 0; i < tl.ntiers && !chain; i++)
		for (int j = i + 1; j < tl.ntiers; j++)
			if (hy_nm_intersects(&tl.tier[i], &tl.tier[j]))
				return -EINVAL;
	*out = tl;
	return 0;
}

/* ---- formatting -------------------------------------------------------- */

char *hy_nm_format(const struct hy_nodemask *m, char *buf, size_t len)
{
	size_t used = 0;
	int n = -1;

	if (!len)
		return buf;
	buf[0] = 0;
	if (hy_nm_weight(m) == HY_MAX_NODES) {
		snprintf(buf, len, "all");
		return buf;
	}
	while ((n = hy_nm_next(m, n)) >= 0) {
		int hi = n;

		while (hy_nm_isset(m, hi + 1))
			hi++;
		int w = hi == n ? snprintf(buf + used, len - used, "%s%d", used ? "," : "", n)
				: snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", n, hi);
		if (w < 0 || (size_t)w >= len - used) {
			/* Does not fit: end after a whole element with "...", never
			 * with a shorter list that parses as a different set. */
			size_t cut = used;
			while (cut && cut + 4 > len)
				while (cut && buf[--cut] != ',')
					;
			if (cut + 4 <= len)
				memcpy(buf + cut, "...", 4);
			else
				buf[0] = 0;
			return buf;
		}
		used += (size_t)w;
		n = hi;
	}
	if (!used)
		snprintf(buf, len, "none");
	return buf;
}

char *hy_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char sfx[] = "KMGTP";
	int i = -1;

	while (i < 4 && bytes && !(bytes & 1023)) {
		bytes >>= 10;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)bytes, sfx[i]);
	return buf;
}

char *hy_format_duration(uint64_t us, char *buf, size_t len)
{
	if (us && us % 3600000000ULL == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(us / 3600000000ULL));
	else if (us && us % 60000000ULL == 0)
		snprintf(buf, len, "%llumin", (unsigned long long)(us / 60000000ULL));
	else if (us && us % 1000000 == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(us / 1000000));
	else if (us % 1000 == 0)
		snprintf(buf, len, "%llums", (unsigned long long)(us / 1000));
	else
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	return buf;
}

static void *field(struct hy_config *cfg, int id)
{
	return (char *)cfg + hy_options[id].offset;
}

static const void *cfield(const struct hy_config *cfg, int id)
{
	return (const char *)cfg + hy_options[id].offset;
}

const char *hy_config_format(const struct hy_config *cfg, int id, char *buf, size_t len)
{
	const struct hy_opt_desc *o = &hy_options[id];
	const void *f = cfield(cfg, id);

	switch (o->type) {
	case HY_T_BOOL:
		snprintf(buf, len, "%s", *(const bool *)f ? "yes" : "no");
		break;
	case HY_T_INT:
		snprintf(buf, len, "%lld", (long long)*(const int64_t *)f);
		break;
	case HY_T_SIZE:
		hy_format_size(*(const uint64_t *)f, buf, len);
		break;
	case HY_T_DURATION:
		hy_format_duration(*(const uint64_t *)f, buf, len);
		break;
	case HY_T_NODES: {
		const struct hy_nodemask *m = f;
		if (hy_nm_empty(m))
			snprintf(buf, len, "(discover)");
		else
			hy_nm_format(m, buf, len);
		break;
	}
	case HY_T_TIERS: {
		const struct hy_tierlist *tl = f;
		size_t used = 0;

		buf[0] = 0;
		if (!tl->ntiers)
			snprintf(buf, len, "(discover)");
		/* each tier straight into buf: no intermediate buffer to cut it */
		for (int i = 0; i < tl->ntiers && used + 1 < len; i++) {
			if (i) {
				buf[used++] = '/';
				buf[used] = 0;
			}
			hy_nm_format(&tl->tier[i], buf + used, len - used);
			used += strlen(buf + used);
		}
		break;
	}
	case HY_T_ENUM:
		snprintf(buf, len, "%s", o->choices[*(const int *)f]);
		break;
	case HY_T_PATH:
	case HY_T_NAMES:
		snprintf(buf, len, "%s", *(const char *)f ? (const char *)f : "(none)");
		break;
	}
	return buf;
}

const char *hy_config_accepts(int id, char *buf, size_t len)
{
	const struct hy_opt_desc *o = &hy_options[id];
	char a[32], b[32];

	switch (o->type) {
	case HY_T_BOOL:
		snprintf(buf, len, "1/0, yes/no, true/false or on/off");
		break;
	case HY_T_INT:
		snprintf(buf, len, "an integer from %lld to %lld", (long long)o->min,
			 (long long)o->max);
		break;
	case HY_T_SIZE:
		snprintf(buf, len, "a size in bytes with optional suffix K, M, G, T or P (powers of "
				   "1024), from %s to %s",
			 hy_format_size((uint64_t)o->min, a, sizeof(a)),
			 hy_format_size((uint64_t)o->max, b, sizeof(b)));
		break;
	case HY_T_DURATION:
		snprintf(buf, len, "a duration with unit us, ms, s, min or h, from %s to %s",
			 hy_format_duration((uint64_t)o->min, a, sizeof(a)),
			 hy_format_duration((uint64_t)o->max, b, sizeof(b)));
		break;
	case HY_T_NODES:
		snprintf(buf, len, "a node list such as 0-3,5 or all (nodes 0 to %d), or numactl's "
				   "!LIST (the allowed nodes but LIST), +LIST (LIST counted within "
				   "the allowed nodes: +0 is the first) or !+LIST",
			 HY_MAX_NODES - 1);
		break;
	case HY_T_TIERS:
		snprintf(buf, len, "node lists fastest first, separated by '/', such as 0/1, 0-1/2/3 "
				   "or +0/+1, at most %d tiers, each node in one tier",
			 HY_MAX_TIERS);
		break;
	case HY_T_ENUM: {
		size_t used = (size_t)snprintf(buf, len, "one of");
		for (int i = 0; o->choices[i] && used < len; i++)
			used += (size_t)snprintf(buf + used, len - used, "%s %s", i ? "," : "",
						 o->choices[i]);
		break;
	}
	case HY_T_PATH:
		snprintf(buf, len, "'stderr' or a file path");
		break;
	case HY_T_NAMES:
		snprintf(buf, len,
			 "HYBRID_ names that are no option, separated by ',' (no '=' or control "
			 "characters), such as HYBRID_HOME,HYBRID_ROOT");
		break;
	}
	return buf;
}

/* ---- setting ----------------------------------------------------------- */

/* Quote user text for a message: bounded, control characters shown as '?'. */
static const char *quoted(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	buf[o++] = '"';
	for (; *s && o + 5 < len; s++)
		buf[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	if (*s) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = 0;
	return buf;
}

/*
 * Is the HYBRID_ name s (n bytes) one an ignore_names list can hold?  Any
 * name the environment can carry, but for the list's separator and control
 * characters (a message shows those as '?'), and never an option's.
 */
static bool ignorable_name(const char *s, size_t n)
{
	char name[64];

	if (n < 7 || n >= HY_NAMES_MAX || strncmp(s, "HYBRID_", 7))
		return false;
	for (size_t i = 7; i < n; i++)
		if (s[i] == ',' || s[i] == '=' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	if (n >= sizeof(name))
		return true; /* longer than any option's name */
	memcpy(name, s, n);
	name[n] = 0;
	return hy_config_lookup(name) < 0; /* an option is never ignored */
}

/* An ignore_names list: ignorable names separated by single commas. */
static int check_names(const char *s)
{
	for (;;) {
		size_t n = strcspn(s, ",");

		if (!ignorable_name(s, n))
			return -EINVAL;
		if (!s[n])
			return 0;
		s += n + 1;
	}
}

/* Is name (n bytes) in the ignore_names list? */
static bool names_has(const char *list, const char *name, size_t n)
{
	while (*list) {
		size_t m = strcspn(list, ",");

		if (m == n && !strncmp(list, name, n))
			return true;
		list += m + !!list[m];
	}
	return false;
}

/*
 * The allowed nodes, read only for text that counts in them ('!', '+'):
 * the process's cpuset now, as numactl resolves them when it parses.  NULL
 * if none can be read (then such text is refused).
 */
static const struct hy_nodemask *allowed_for(const char *text, struct hy_nodemask *buf)
{
	if (!strpbrk(text, "!+"))
		return NULL;
	return hy_allowed_nodes(buf) ? NULL : buf;
}

int hy_config_set(struct hy_config *cfg, int id, const char *text, enum hy_opt_source src,
		  struct hy_err *err)
{
	const struct hy_opt_desc *o;
	struct hy_nodemask allowed;
	char acc[256], q[80];
	int rc = -EINVAL;

	hy_nm_zero(&allowed);

	if (id < 0 || id >= HY_OPT_COUNT || !text) {
		hy_err_set(err, "no such option");
		return -EINVAL;
	}
	o = &hy_options[id];
	if (!*text) {
		hy_err_set(err, "empty value; expected %s", hy_config_accepts(id, acc, sizeof(acc)));
		return -EINVAL;
	}

	switch (o->type) {
	case HY_T_BOOL: {
		bool v;
		if (!(rc = hy_parse_bool(text, &v)))
			*(bool *)field(cfg, id) = v;
		break;
	}
	case HY_T_INT: {
		int64_t v;
		if (!(rc = hy_parse_int(text, o->min, o->max, &v)))
			*(int64_t *)field(cfg, id) = v;
		break;
	}
	case HY_T_SIZE:
	case HY_T_DURATION: {
		uint64_t v;
		rc = o->type == HY_T_SIZE ? hy_parse_size(text, UINT64_MAX, &v)
					  : hy_parse_duration(text, &v);
		if (!rc && (v < (uint64_t)o->min || v > (uint64_t)o->max))
			rc = -ERANGE;
		if (!rc)
			*(uint64_t *)field(cfg, id) = v;
		break;
	}
	case HY_T_NODES: {
		struct hy_nodemask m;
		if (!(rc = hy_parse_nodes(text, allowed_for(text, &allowed), &m)))
			*(struct hy_nodemask *)field(cfg, id) = m;
		break;
	}
	case HY_T_TIERS: {
		struct hy_tierlist tl;
		if (!(rc = hy_parse_tiers(text, allowed_for(text, &allowed), &tl)))
			*(struct hy_tierlist *)field(cfg, id) = tl;
		break;
	}
	case HY_T_ENUM:
		for (int i = 0; o->choices[i]; i++)
			if (!ascii_casecmp(text, o->choices[i])) {
				*(int *)field(cfg, id) = i;
				rc = 0;
				break;
			}
		break;
	case HY_T_PATH: {
		size_t n = strlen(text);
		rc = n < PATH_MAX ? 0 : -ERANGE;
		for (const char *p = text; !rc && *p; p++)
			if ((unsigned char)*p < 0x20)
				rc = -EINVAL;
		if (!rc)
			memcpy(field(cfg, id), text, n + 1);
		break;
	}
	case HY_T_NAMES: {
		size_t n = strlen(text);
		rc = n < HY_NAMES_MAX ? check_names(text) : -ERANGE;
		if (!rc)
			memcpy(field(cfg, id), text, n + 1);
		break;
	}
	}

	if (rc) {
		char here[160] = "";
		/* "+1", "!0": what they were counted in */
		if (strpbrk(text, "!+") && (o->type == HY_T_NODES || o->type == HY_T_TIERS) &&
		    !hy_nm_empty(&allowed)) {
			snprintf(here, sizeof(here), "; this process's allowed nodes are ");
			hy_nm_format(&allowed, here + strlen(here), sizeof(here) - strlen(here));
		}
		hy_err_set(err, "%s %s %s; expected %s%s",
			   rc == -ERANGE ? "out-of-range" : "invalid", hy_type_name(o->type),
			   quoted(text, q, sizeof(q)), hy_config_accepts(id, acc, sizeof(acc)), here);
		return -EINVAL;
	}
	cfg->src[id] = src;
	return 0;
}

void hy_config_defaults(struct hy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (int id = 0; id < HY_OPT_COUNT; id++)
		if (hy_options[id].defval)
			/* Defaults are user text too: one parser, and a unit test
			 * checks that every default parses. */
			(void)hy_config_set(cfg, id, hy_options[id].defval, HY_SRC_DEFAULT, NULL);
	hy_log_set_level((enum hy_log_level)cfg->log_level);
}

/* ---- names -------------------------------------------------------------- */

const char *hy_config_env_name(int id, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "HYBRID_");
	for (const char *p = hy_options[id].name; *p && o + 1 < len; p++)
		buf[o++] = (char)toupper((unsigned char)*p);
	buf[o < len ? o : len - 1] = 0;
	return buf;
}

const char *hy_config_long_name(int id, char *buf, size_t len)
{
	size_t o = 0;
	for (const char *p = hy_options[id].name; *p && o + 1 < len; p++)
		buf[o++] = *p == '_' ? '-' : *p;
	buf[o] = 0;
	return buf;
}

const char *hy_config_spelling(const struct hy_config *cfg, int id, char *buf, size_t len)
{
	if (cfg && cfg->src[id] == HY_SRC_CMDLINE) {
		char l[64];
		snprintf(buf, len, "--%s", hy_config_long_name(id, l, sizeof(l)));
		return buf;
	}
	return hy_config_env_name(id, buf, len);
}

int hy_config_lookup(const char *name)
{
	char buf[64];

	if (!name)
		return -1;
	for (int id = 0; id < HY_OPT_COUNT; id++)
		if (!strcmp(name, hy_options[id].name) ||
		    !strcmp(name, hy_config_long_name(id, buf, sizeof(buf))) ||
		    !strcmp(name, hy_config_env_name(id, buf, sizeof(buf))))
			return id;
	return -1;
}

/* Levenshtein distance, bounded: for the nearest option to an unknown name. */
static int edit_distance(const char *a, const char *b)
{
	int row[64], la = (int)strlen(a), lb = (int)strlen(b);

	if (la >= 63 || lb >= 63)
		return 99;
	for (int j = 0; j <= lb; j++)
		row[j] = j;
	for (int i = 1; i <= la; i++) {
		int prev = row[0];
		row[0] = i;
		for (int j = 1; j <= lb; j++) {
			int cur = row[j];
			int sub = prev + (a[i - 1] != b[j - 1]);
			int best = row[j] + 1 < row[j - 1] + 1 ? row[j] + 1 : row[j - 1] + 1;
			row[j] = sub < best ? sub : best;
			prev = cur;
		}
	}
	return row[lb];
}

/* ---- environment ------------------------------------------------------- */

/* n bytes of s for a message: control characters as '?', "..." if cut. */
static void printable(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	for (; o < n && o + 4 < len; o++)
		buf[o] = (unsigned char)s[o] < 0x20 || s[o] == 0x7f ? '?' : s[o];
	snprintf(buf + o, len - o, "%s", o < n ? "..." : "");
}

extern char **environ;

const char *hy_config_nearest(const char *name, char *buf, size_t len)
{
	char cand[64];
	int bestd = INT_MAX;

	buf[0] = 0;
	for (int id = 0; id < HY_OPT_COUNT; id++) {
		int d = edit_distance(name, hy_config_env_name(id, cand, sizeof(cand)));
		if (d < bestd) {
			bestd = d;
			snprintf(buf, len, "%s", cand);
		}
	}
	return buf;
}

int hy_config_unknown_env(const struct hy_config *cfg, struct hy_err *msg, char *names, size_t len)
{
	char name[64], near[64], line[sizeof(msg->msg)];
	size_t used = 0, nused = 0;
	int count = 0;

	line[0] = 0;
	if (names && len)
		names[0] = 0;
	if (getauxval(AT_SECURE))
		return 0; /* setuid: HYBRID_* ignored, as secure_getenv() does */
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t n = eq ? (size_t)(eq - *e) : strlen(*e);

		if (strncmp(*e, "HYBRID_", 7))
			continue;
		if (n < sizeof(name)) {
			memcpy(name, *e, n);
			name[n] = 0;
			if (hy_config_lookup(name) >= 0)
				continue;
		}
		if (names_has(cfg->ignore_names, *e, n))
			continue;
		if (names && ignorable_name(*e, n) && nused + n + 2 <= len) {
			nused += (size_t)snprintf(names + nused, len - nused, "%s%.*s",
						  nused ? "," : "", (int)n, *e);
		}
		/* Unknown, however long; named as the user can read it. */
		printable(*e, n, name, sizeof(name));
		hy_config_nearest(name, near, sizeof(near));
		if (used < sizeof(line)) {
			int w = snprintf(line + used, sizeof(line) - used, "%s%s (nearest: %s)",
					 count ? ", " : "", name, near);
			used += w > 0 ? (size_t)w : 0;
		}
		count++;
	}
	if (count && msg)
		hy_err_set(msg, "not %s: %s; ignored", count > 1 ? "options" : "an option", line);
	return count;
}

/*
 * A HYBRID_ name that is no option is said and ignored: the prefix is not
 * ours alone (HYBRID_HOME set by something unrelated must not turn the
 * library off), yet a misspelt option silently ignored is a bug report
 * waiting.  Said once per process, after the log level is known
 * (HYBRID_LOG_LEVEL=error silences it); a forked child shares the parent's
 * "said".  Names in ignore_names are not said: hybridctl puts there those it
 * said, so that the programs it starts, and theirs, are quiet (the library
 * itself never changes a program's environment).
 */
void hy_config_warn_unknown(const struct hy_config *cfg)
{
	static int warned;
	struct hy_err msg;

	if (hy_config_unknown_env(cfg, &msg, NULL, 0) &&
	    !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		hy_warn("%s", msg.msg);
}

int hy_config_load_env_quiet(struct hy_config *cfg, struct hy_err *err)
{
	struct hy_err why;
	char name[64];

	for (int id = 0; id < HY_OPT_COUNT; id++) {
		const char *v = secure_getenv(hy_config_env_name(id, name, sizeof(name)));

		if (!v)
			continue;
		if (hy_config_set(cfg, id, v, HY_SRC_ENV, &why)) {
			hy_err_set(err, "%s: %s", name, why.msg);
			return -EINVAL;
		}
	}
	if (hy_config_check(cfg, err))
		return -EINVAL;
	hy_log_set_level((enum hy_log_level)cfg->log_level);
	return 0;
}

int hy_config_load_env(struct hy_config *cfg, struct hy_err *err)
{
	if (hy_config_load_env_quiet(cfg, err))
		return -EINVAL;
	hy_config_warn_unknown(cfg);
	return 0;
}

/* Integer option lo must not exceed integer option hi. */
static int check_order(const struct hy_config *cfg, int lo, int hi, const char *why,
		       struct hy_err *err)
{
	int64_t vlo = *(const int64_t *)cfield(cfg, lo), vhi = *(const int64_t *)cfield(cfg, hi);
	char a[64], b[64];

	if (vlo <= vhi)
		return 0;
	hy_err_set(err, "%s=%lld is larger than %s=%lld: %s", hy_config_spelling(cfg, lo, a, sizeof(a)),
		   (long long)vlo, hy_config_spelling(cfg, hi, b, sizeof(b)), (long long)vhi, why);
	return -EINVAL;
}

int hy_config_check(const struct hy_config *cfg, struct hy_err *err)
{
	char a[64], b[64];

	if (check_order(cfg, HY_OPT_PROMOTE_THRESHOLD, HY_OPT_PROMOTE_WINDOW,
			"a page can be seen in at most window epochs", err) ||
	    check_order(cfg, HY_OPT_FREE_LOW, HY_OPT_FREE_HIGH,
			"the low watermark must not exceed the high one", err))
		return -EINVAL;
	if (cfg->tiers.ntiers &&
	    (!hy_nm_empty(&cfg->fast_nodes) || !hy_nm_empty(&cfg->slow_nodes))) {
		int other = hy_nm_empty(&cfg->fast_nodes) ? HY_OPT_SLOW_NODES : HY_OPT_FAST_NODES;
		hy_err_set(err, "%s and %s are both set; name either the whole tier list or the "
				"fast/slow nodes",
			   hy_config_spelling(cfg, HY_OPT_TIERS, a, sizeof(a)),
			   hy_config_spelling(cfg, other, b, sizeof(b)));
		return -EINVAL;
	}
	if (hy_nm_intersects(&cfg->fast_nodes, &cfg->slow_nodes) &&
	    !hy_nm_equal(&cfg->fast_nodes, &cfg->slow_nodes)) {
		char f[128], s[128];
		hy_err_set(err, "%s=%s and %s=%s overlap; they must be disjoint, or equal for a "
				"loopback pair",
			   hy_config_spelling(cfg, HY_OPT_FAST_NODES, a, sizeof(a)),
			   hy_nm_format(&cfg->fast_nodes, f, sizeof(f)),
			   hy_config_spelling(cfg, HY_OPT_SLOW_NODES, b, sizeof(b)),
			   hy_nm_format(&cfg->slow_nodes, s, sizeof(s)));
		return -EINVAL;
	}
	return 0;
}

bool hy_preload_entry_is_libhybrid(const char *entry, size_t n)
{
	const char *base = entry;

	for (size_t i = 0; i < n; i++)
		if (entry[i] == '/')
			base = entry + i + 1;
	return (size_t)(entry + n - base) >= 12 && !strncmp(base, "libhybrid.so", 12);
}

bool hy_preload_has_libhybrid(const char *s)
{
	while (s && *s) {
		size_t n = strcspn(s, ": ");

		if (n && hy_preload_entry_is_libhybrid(s, n))
			return true;
		s += n;
		s += strspn(s, ": ");
	}
	return false;
}
