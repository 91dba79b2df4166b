/* SPDX-License-Identifier: MIT */
/*
 * The option table and its parser: every type with good and bad values,
 * the environment loader, cross-option checks, names and formatting.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "../support.h"

extern char **environ;

/* Remove every HYBRID_* variable so each test starts from a known env. */
static void clear_env(void)
{
	for (;;) {
		char name[128] = "";
		for (char **e = environ; *e; e++)
			if (!strncmp(*e, "HYBRID_", 7)) {
				size_t n = strcspn(*e, "=");
				memcpy(name, *e, n < 127 ? n : 127);
				name[n < 127 ? n : 127] = 0;
				break;
			}
		if (!*name)
			return;
		unsetenv(name);
	}
}

static void test_table_shape(void)
{
	char a[64], b[64];

	for (int id = 0; id < HY_OPT_COUNT; id++) {
		const struct hy_opt_desc *o = &hy_options[id];

		CU_ASSERT_PTR_NOT_NULL_FATAL(o->name);
		CU_ASSERT_PTR_NOT_NULL(o->help);
		CU_ASSERT(strlen(o->help) > 10);
		CU_ASSERT_EQUAL(hy_config_lookup(o->name), id);
		CU_ASSERT_EQUAL(hy_config_lookup(hy_config_long_name(id, a, sizeof(a))), id);
		CU_ASSERT_EQUAL(hy_config_lookup(hy_config_env_name(id, b, sizeof(b))), id);
		if (o->type == HY_T_ENUM)
			CU_ASSERT_PTR_NOT_NULL(o->choices);
		for (int j = 0; j < id; j++) {
			CU_ASSERT(strcmp(o->name, hy_options[j].name) != 0);
			if (o->shortopt)
				CU_ASSERT(o->shortopt != hy_options[j].shortopt);
		}
	}
	CU_ASSERT_EQUAL(hy_config_lookup("nope"), -1);
	CU_ASSERT_EQUAL(hy_config_lookup(NULL), -1);
	CU_ASSERT_STRING_EQUAL(hy_config_env_name(HY_OPT_DRAM_LIMIT, a, sizeof(a)),
			       "HYBRID_DRAM_LIMIT");
	CU_ASSERT_STRING_EQUAL(hy_config_long_name(HY_OPT_DRAM_LIMIT, a, sizeof(a)), "dram-limit");
}

/* Every default is user text and parses; the documented defaults hold. */
static void test_defaults(void)
{
	struct hy_config c;
	struct hy_err err;

	hy_config_defaults(&c);
	for (int id = 0; id < HY_OPT_COUNT; id++) {
		struct hy_config d = c;
		if (!hy_options[id].defval)
			continue;
		CU_ASSERT_EQUAL(hy_config_set(&d, id, hy_options[id].defval, HY_SRC_DEFAULT, &err),
				0);
		CU_ASSERT_EQUAL(c.src[id], HY_SRC_DEFAULT);
	}
	CU_ASSERT_EQUAL(c.mode, HY_MODE_AUTO);
	CU_ASSERT_EQUAL(c.promote_threshold, 2);
	CU_ASSERT_EQUAL(c.promote_window, 4);
	CU_ASSERT_EQUAL(c.epoch_us, 1000000);
	CU_ASSERT_EQUAL(c.backend, HY_BACKEND_AUTO);
	CU_ASSERT_EQUAL(c.dram_limit, 0);
	CU_ASSERT_EQUAL(c.min_size, 64 * 1024);
	CU_ASSERT_EQUAL(c.log_level, HY_LOG_WARN);
	CU_ASSERT(hy_nm_empty(&c.fast_nodes) && hy_nm_empty(&c.slow_nodes));
	CU_ASSERT_EQUAL(c.tiers.ntiers, 0);
	CU_ASSERT_EQUAL(c.stats[0], 0);
	CU_ASSERT_EQUAL(hy_config_check(&c, &err), 0);
}

static void test_bool(void)
{
	const char *good_yes[] = {"1", "yes", "TRUE", "On"};
	const char *good_no[] = {"0", "no", "false", "OFF"};
	const char *bad[] = {"", "2", "yess", " yes", "y", "-1"};
	bool v;

	for (unsigned i = 0; i < 4; i++) {
		CU_ASSERT(hy_parse_bool(good_yes[i], &v) == 0 && v);
		CU_ASSERT(hy_parse_bool(good_no[i], &v) == 0 && !v);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CU_ASSERT_EQUAL(hy_parse_bool(bad[i], &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_bool(NULL, &v), -EINVAL);
}

static void test_int(void)
{
	int64_t v = 42;

	CU_ASSERT(hy_parse_int("7", 0, 10, &v) == 0 && v == 7);
	CU_ASSERT(hy_parse_int("+3", 0, 10, &v) == 0 && v == 3);
	CU_ASSERT(hy_parse_int("-5", -10, 10, &v) == 0 && v == -5);
	CU_ASSERT(hy_parse_int("-9223372036854775808", INT64_MIN, INT64_MAX, &v) == 0 &&
		  v == INT64_MIN);
	CU_ASSERT(hy_parse_int("9223372036854775807", INT64_MIN, INT64_MAX, &v) == 0 &&
		  v == INT64_MAX);
	CU_ASSERT_EQUAL(hy_parse_int("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_int("99999999999999999999999", 0, 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_int("11", 0, 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_int("-1", 0, 10, &v), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_int("", 0, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_int("-", 0, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_int("1x", 0, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_int("1.5", 0, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_int(" 1", 0, 10, &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_int("0x10", 0, 100, &v), -EINVAL);
	CU_ASSERT_EQUAL(v, INT64_MAX); /* failures leave the last good value alone */
}

static void test_size(void)
{
	uint64_t v = 0;

	CU_ASSERT(hy_parse_size("0", UINT64_MAX, &v) == 0 && v == 0);
	CU_ASSERT(hy_parse_size("4096", UINT64_MAX, &v) == 0 && v == 4096);
	CU_ASSERT(hy_parse_size("64K", UINT64_MAX, &v) == 0 && v == 65536);
	CU_ASSERT(hy_parse_size("64k", UINT64_MAX, &v) == 0 && v == 65536);
	CU_ASSERT(hy_parse_size("1KiB", UINT64_MAX, &v) == 0 && v == 1024);
	CU_ASSERT(hy_parse_size("2mb", UINT64_MAX, &v) == 0 && v == 2 << 20);
	CU_ASSERT(hy_parse_size("1.5G", UINT64_MAX, &v) == 0 && v == 1610612736ULL);
	CU_ASSERT(hy_parse_size("3T", UINT64_MAX, &v) == 0 && v == 3ULL << 40);
	CU_ASSERT(hy_parse_size("1P", UINT64_MAX, &v) == 0 && v == 1ULL << 50);
	CU_ASSERT(hy_parse_size("15.999P", UINT64_MAX, &v) == 0);
	CU_ASSERT_EQUAL(hy_parse_size("16384P", UINT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_size("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_size("2G", 1ULL << 30, &v), -ERANGE);
	const char *bad[] = {"", "K", "1X", "1.K", ".5K", "-1", "1 G", "1G ", "1GG", "1e3", "0x10",
			     "1.0000000001G"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CU_ASSERT_EQUAL(hy_parse_size(bad[i], UINT64_MAX, &v), -EINVAL);
}

static void test_duration(void)
{
	uint64_t v = 0;

	CU_ASSERT(hy_parse_duration("1s", &v) == 0 && v == 1000000);
	CU_ASSERT(hy_parse_duration("250ms", &v) == 0 && v == 250000);
	CU_ASSERT(hy_parse_duration("1.5s", &v) == 0 && v == 1500000);
	CU_ASSERT(hy_parse_duration("100us", &v) == 0 && v == 100);
	CU_ASSERT(hy_parse_duration("2min", &v) == 0 && v == 120000000);
	CU_ASSERT(hy_parse_duration("1h", &v) == 0 && v == 3600000000ULL);
	const char *bad[] = {"500", "", "5x", "1S", "-1s", "ms", "1 s", "1.s", "s1", "1sec"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CU_ASSERT_EQUAL(hy_parse_duration(bad[i], &v), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_duration("99999999999999999h", &v), -ERANGE);
}

static void test_nodelist(void)
{
	struct hy_nodemask m;
	char buf[64];

	CU_ASSERT(hy_parse_nodelist("0", &m) == 0 && hy_nm_weight(&m) == 1 && hy_nm_isset(&m, 0));
	CU_ASSERT_EQUAL(hy_parse_nodelist("0-3,5", &m), 0);
	CU_ASSERT_STRING_EQUAL(hy_nm_format(&m, buf, sizeof(buf)), "0-3,5");
	CU_ASSERT_EQUAL(hy_parse_nodelist("5,0-3,2", &m), 0);
	CU_ASSERT_STRING_EQUAL(hy_nm_format(&m, buf, sizeof(buf)), "0-3,5");
	CU_ASSERT(hy_parse_nodelist("1023", &m) == 0 && hy_nm_isset(&m, 1023));
	CU_ASSERT(hy_parse_nodelist("all", &m) == 0 && hy_nm_weight(&m) == HY_MAX_NODES);
	CU_ASSERT_STRING_EQUAL(hy_nm_format(&m, buf, sizeof(buf)), "all");
	CU_ASSERT_EQUAL(hy_parse_nodelist("1024", &m), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_nodelist("99999999999", &m), -ERANGE);
	const char *bad[] = {"", "3-1", "0,", ",0", "0-", "a", "0 1", "all,1", "-1", "0--2", "0,,1",
			     "1-2-3", "all1"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		CU_ASSERT_EQUAL(hy_parse_nodelist(bad[i], &m), -EINVAL);
	hy_nm_zero(&m);
	CU_ASSERT_STRING_EQUAL(hy_nm_format(&m, buf, sizeof(buf)), "none");
}

/* numactl's forms, against a made-up cpuset: nodes 1, 3, 4 and 7 allowed. */
static void test_nodes_numactl(void)
{
	struct hy_nodemask allowed, m, before;
	char buf[64];

	CU_ASSERT_EQUAL_FATAL(hy_parse_nodelist("1,3-4,7", &allowed), 0);
	struct {
		const char *text, *want;
	} good[] = {
		{"3", "3"},	      {"0-2", "0-2"}, /* plain: as written, topology checks it */
		{"all", "all"},	      {"+0", "1"},    {"+1-2", "3-4"},	 {"+0,3", "1,7"},
		{"+3", "7"},	      {"!3", "1,4,7"}, {"!1,7", "3-4"},	 {"!3-4", "1,7"},
		{"!+0", "3-4,7"},     {"!+1-2", "1,7"}, {"!+0-2", "7"},
	};
	for (unsigned i = 0; i < sizeof(good) / sizeof(*good); i++) {
		int rc = hy_parse_nodes(good[i].text, &allowed, &m);
		CU_ASSERT_EQUAL(rc, 0);
		if (!rc)
			CU_ASSERT_STRING_EQUAL(hy_nm_format(&m, buf, sizeof(buf)), good[i].want);
	}
	struct {
		const char *text;
		int rc;
	} bad[] = {
		{"+4", -ERANGE},   /* four allowed nodes: +0 to +3 */
		{"+2-4", -ERANGE}, {"!0", -ERANGE}, /* numactl: a "!" node must be allowed */
		{"!1,3-4,7", -EINVAL},		   /* leaves no node */
		{"!+0-3", -EINVAL}, {"!all", -EINVAL}, {"+all", -EINVAL}, {"!", -EINVAL},
		{"+", -EINVAL},	   {"!!0", -EINVAL}, {"++0", -EINVAL},	{"+!0", -EINVAL},
		{"+-1", -EINVAL},  {"!+", -EINVAL},  {"! 0", -EINVAL},	{"0,!1", -EINVAL},
		{"0,+1", -EINVAL}, {"+1,", -EINVAL}, {"+1024", -ERANGE},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&m, 0x5a, sizeof(m));
		before = m;
		CU_ASSERT_EQUAL(hy_parse_nodes(bad[i].text, &allowed, &m), bad[i].rc);
		CU_ASSERT(hy_nm_equal(&m, &before)); /* untouched on failure */
	}
	/* nothing to count in: refused, the plain forms still fine */
	CU_ASSERT_EQUAL(hy_parse_nodes("+0", NULL, &m), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_nodes("!0", NULL, &m), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_nodes("0-1", NULL, &m), 0);
	/* the kernel's format stays strict: sysfs never holds these */
	CU_ASSERT_EQUAL(hy_parse_nodelist("+0", &m), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_nodelist("!0", &m), -EINVAL);

	/* tiers: each list of its own, then checked as a whole */
	struct hy_tierlist tl;
	CU_ASSERT(hy_parse_tiers("+0/!+0", &allowed, &tl) == 0 && tl.ntiers == 2);
	CU_ASSERT_STRING_EQUAL(hy_nm_format(&tl.tier[0], buf, sizeof(buf)), "1");
	CU_ASSERT_STRING_EQUAL(hy_nm_format(&tl.tier[1], buf, sizeof(buf)), "3-4,7");
	CU_ASSERT(hy_parse_tiers("+0/+0", &allowed, &tl) == 0 && tl.ntiers == 2); /* loopback */
	CU_ASSERT(hy_parse_tiers("+0/1", &allowed, &tl) == 0); /* +0 is 1: loopback */
	CU_ASSERT_EQUAL(hy_parse_tiers("+0/1,3", &allowed, &tl), -EINVAL); /* overlap */
	CU_ASSERT_EQUAL(hy_parse_tiers("+0/+4", &allowed, &tl), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_tiers("!+0/", &allowed, &tl), -EINVAL);
}

/* Through the table on this machine: counted in this process's cpuset. */
static void test_nodes_here(void)
{
	struct hy_nodemask allowed;
	struct hy_config c;
	struct hy_err err = {""};
	char want[64], buf[64], last[16];
	int first, n = 0;

	CU_ASSERT_EQUAL_FATAL(hy_allowed_nodes(&allowed), 0);
	CU_ASSERT_FATAL(!hy_nm_empty(&allowed));
	first = hy_nm_next(&allowed, -1);
	hy_nm_for_each(node, &allowed)
		n++;
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_FAST_NODES, "+0", HY_SRC_ENV, &err), 0);
	snprintf(want, sizeof(want), "%d", first);
	CU_ASSERT_STRING_EQUAL(hy_config_format(&c, HY_OPT_FAST_NODES, buf, sizeof(buf)), want);
	/* one past the last allowed node: one line naming them */
	snprintf(last, sizeof(last), "+%d", n);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_SLOW_NODES, last, HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out-of-range node list"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "this process's allowed nodes are "));
	CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
	/* every allowed node inverted: nothing left */
	snprintf(last, sizeof(last), "!+0-%d", n - 1);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_SLOW_NODES, last, HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "invalid node list"));
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_TIERS, "+0/+0", HY_SRC_ENV, &err), 0);
	CU_ASSERT_EQUAL(c.tiers.ntiers, 2);
	CU_ASSERT(hy_nm_equal(&c.tiers.tier[0], &c.fast_nodes));
}

static void test_tiers(void)
{
	struct hy_tierlist tl;

	CU_ASSERT(hy_parse_tiers("0/1", NULL, &tl) == 0 && tl.ntiers == 2);
	CU_ASSERT(hy_nm_isset(&tl.tier[0], 0) && hy_nm_isset(&tl.tier[1], 1));
	CU_ASSERT(hy_parse_tiers("0-1/2/3,4", NULL, &tl) == 0 && tl.ntiers == 3);
	CU_ASSERT_EQUAL(hy_nm_weight(&tl.tier[2]), 2);
	CU_ASSERT(hy_parse_tiers("0/0", NULL, &tl) == 0 && tl.ntiers == 2); /* loopback */
	CU_ASSERT(hy_parse_tiers("0/0/0", NULL, &tl) == 0 && tl.ntiers == 3);
	CU_ASSERT(hy_parse_tiers("2", NULL, &tl) == 0 && tl.ntiers == 1);
	CU_ASSERT_EQUAL(hy_parse_tiers("0/1,0", NULL, &tl), -EINVAL); /* partial overlap */
	CU_ASSERT_EQUAL(hy_parse_tiers("0//1", NULL, &tl), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_tiers("/0", NULL, &tl), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_tiers("0/", NULL, &tl), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_tiers("", NULL, &tl), -EINVAL);
	CU_ASSERT_EQUAL(hy_parse_tiers("0/1/2/3/4/5/6/7", NULL, &tl), -ERANGE);
	CU_ASSERT_EQUAL(hy_parse_tiers("0/1/2/3/4/5/6", NULL, &tl), 0);
}

/* hy_config_set: each type through the table, errors leave cfg unchanged. */
static void test_set_through_table(void)
{
	struct {
		int id;
		const char *text;
		int ok;
	} cases[] = {
		{HY_OPT_MODE, "hybrid", 1},	  {HY_OPT_MODE, "DRAM", 1},
		{HY_OPT_MODE, "fast", 0},	  {HY_OPT_BACKEND, "sync", 1},
		{HY_OPT_BACKEND, "async ", 0},	  {HY_OPT_PROMOTE_THRESHOLD, "3", 1},
		{HY_OPT_PROMOTE_THRESHOLD, "0", 0}, {HY_OPT_PROMOTE_THRESHOLD, "9", 0},
		{HY_OPT_PROMOTE_WINDOW, "8", 1},	  {HY_OPT_PROMOTE_WINDOW, "-4", 0},
		{HY_OPT_EPOCH, "10ms", 1},	  {HY_OPT_EPOCH, "9ms", 0},
		{HY_OPT_EPOCH, "1h", 1},	  {HY_OPT_EPOCH, "61min", 0},
		{HY_OPT_EPOCH, "1000", 0},	  {HY_OPT_DRAM_LIMIT, "1P", 1},
		{HY_OPT_DRAM_LIMIT, "2P", 0},	  {HY_OPT_DRAM_LIMIT, "12Q", 0},
		{HY_OPT_FREE_LOW, "100", 1},	  {HY_OPT_FREE_LOW, "101", 0},
		{HY_OPT_FAST_NODES, "0-1", 1},	  {HY_OPT_FAST_NODES, "x", 0},
		{HY_OPT_TIERS, "0/1/2", 1},	  {HY_OPT_TIERS, "0/0,1", 0},
		{HY_OPT_STATS, "stderr", 1},	  {HY_OPT_STATS, "/tmp/stats.txt", 1},
		{HY_OPT_STATS, "a\nb", 0},	  {HY_OPT_LOG_LEVEL, "debug", 1},
		{HY_OPT_LOG_LEVEL, "loud", 0},	  {HY_OPT_SYNC_FAULT_BUDGET, "1000001", 0},
		{HY_OPT_MIN_SIZE, "4K", 1},	  {HY_OPT_PROMOTE_RATE, "1.5G", 1},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct hy_config c, before;
		struct hy_err err = {""};
		int rc;

		hy_config_defaults(&c);
		before = c;
		rc = hy_config_set(&c, cases[i].id, cases[i].text, HY_SRC_ENV, &err);
		if (cases[i].ok) {
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_EQUAL(c.src[cases[i].id], HY_SRC_ENV);
		} else {
			CU_ASSERT_EQUAL(rc, -EINVAL);
			CU_ASSERT(memcmp(&c, &before, sizeof(c)) == 0);
			CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "expected"));
		}
	}
	/* empty and over-long values */
	struct hy_config c;
	struct hy_err err;
	static char longpath[PATH_MAX + 10];
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_FAST_NODES, "", HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "empty value"));
	memset(longpath, 'a', sizeof(longpath) - 1);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_STATS, longpath, HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out-of-range"));
	CU_ASSERT(strlen(err.msg) < 400); /* the value is shown cut, not whole */
	CU_ASSERT_EQUAL(hy_config_set(&c, -1, "1", HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_COUNT, "1", HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_MODE, NULL, HY_SRC_ENV, &err), -EINVAL);
	/* the message names the value and the accepted range */
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_EPOCH, "9ms", HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "\"9ms\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "from 10ms to 1h"));
}

/* format(set(x)) parses back to the same value, for every option. */
static void test_format_roundtrip(void)
{
	const char *vals[HY_OPT_COUNT] = {
		[HY_OPT_MODE] = "dram",	     [HY_OPT_FAST_NODES] = "0-2,7",
		[HY_OPT_SLOW_NODES] = "8",    [HY_OPT_TIERS] = "0/1-2/3",
		[HY_OPT_PROMOTE_THRESHOLD] = "3", [HY_OPT_PROMOTE_WINDOW] = "6",
		[HY_OPT_EPOCH] = "1500ms",    [HY_OPT_BACKEND] = "sync",
		[HY_OPT_SYNC_FAULT_BUDGET] = "77", [HY_OPT_DRAM_LIMIT] = "1.5G",
		[HY_OPT_TRACK_OVERHEAD] = "5", [HY_OPT_TRACK_WINDOW] = "10", [HY_OPT_TRACK_SAMPLE] = "64M",
		[HY_OPT_FREE_LOW] = "3",      [HY_OPT_FREE_HIGH] = "50",
		[HY_OPT_PROMOTE_RATE] = "1000", [HY_OPT_MIN_SIZE] = "2M", [HY_OPT_SHARED] = "no",
		[HY_OPT_STATS] = "/tmp/s",     [HY_OPT_LOG_LEVEL] = "info",
		[HY_OPT_IGNORE_NAMES] = "HYBRID_HOME,HYBRID_ROOT",
	};
	for (int id = 0; id < HY_OPT_COUNT; id++) {
		struct hy_config a, b;
		struct hy_err err;
		char buf[512];

		CU_ASSERT_PTR_NOT_NULL_FATAL(vals[id]);
		hy_config_defaults(&a);
		hy_config_defaults(&b);
		CU_ASSERT_EQUAL_FATAL(hy_config_set(&a, id, vals[id], HY_SRC_API, &err), 0);
		hy_config_format(&a, id, buf, sizeof(buf));
		CU_ASSERT_EQUAL(hy_config_set(&b, id, buf, HY_SRC_API, &err), 0);
		CU_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
	}
	char buf[32];
	CU_ASSERT_STRING_EQUAL(hy_format_size(1610612736ULL, buf, sizeof(buf)), "1536M");
	CU_ASSERT_STRING_EQUAL(hy_format_size(1000, buf, sizeof(buf)), "1000");
	CU_ASSERT_STRING_EQUAL(hy_format_duration(1500000, buf, sizeof(buf)), "1500ms");
	CU_ASSERT_STRING_EQUAL(hy_format_duration(120000000, buf, sizeof(buf)), "2min");
	CU_ASSERT_STRING_EQUAL(hy_format_duration(7, buf, sizeof(buf)), "7us");
}

static void test_env_good(void)
{
	struct hy_config c;
	struct hy_err err;

	clear_env();
	setenv("HYBRID_EPOCH", "250ms", 1);
	setenv("HYBRID_SLOW_NODES", "1", 1);
	setenv("HYBRID_DRAM_LIMIT", "2G", 1);
	setenv("NOT_HYBRID_EPOCH", "garbage", 1); /* other names are not ours */
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_load_env(&c, &err), 0);
	CU_ASSERT_EQUAL(c.epoch_us, 250000);
	CU_ASSERT_EQUAL(c.src[HY_OPT_EPOCH], HY_SRC_ENV);
	CU_ASSERT(hy_nm_isset(&c.slow_nodes, 1));
	CU_ASSERT_EQUAL(c.dram_limit, 2ULL << 30);
	CU_ASSERT_EQUAL(c.src[HY_OPT_MODE], HY_SRC_DEFAULT);
	unsetenv("NOT_HYBRID_EPOCH");
	clear_env();
}

static void expect_env_error(const char *name, const char *value, const char *want1,
			     const char *want2)
{
	struct hy_config c;
	struct hy_err err = {""};

	clear_env();
	setenv(name, value, 1);
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_load_env(&c, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want1));
	if (want2)
		CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want2));
	CU_ASSERT_PTR_NULL(strchr(err.msg, '\n')); /* one line */
	clear_env();
}

/* Lines written to stderr by hy_config_load_env(c) (fd 2 into a file). */
static int load_env_lines(struct hy_config *c, int *rc, char *text, size_t len)
{
	char path[] = "/tmp/test_config.XXXXXX";
	struct hy_err err = {""};
	int fd = mkstemp(path), saved = dup(2), lines = 0;
	ssize_t n;

	CU_ASSERT_FATAL(fd >= 0 && saved >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, 2);
	*rc = hy_config_load_env(c, &err);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, len - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = 0;
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	return lines;
}

/*
 * A HYBRID_ name that is no option: ignored, said once per process in one
 * line naming it and the nearest option; the values of real options still
 * count.  (Runs before any other test loads such a name: the "once" is the
 * process's.)
 */
static void test_env_unknown(void)
{
	struct hy_config c, want, c0;
	struct hy_err msg = {""};
	char text[1024];
	int rc;

	hy_config_defaults(&c0);
	clear_env();
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c0, &msg, NULL, 0), 0);
	setenv("HYBRID_HOME", "/opt/x", 1);
	setenv("HYBRID_EPOCH", "250ms", 1);
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c0, &msg, NULL, 0), 1);
	CU_ASSERT_STRING_EQUAL(msg.msg,
			       "not an option: HYBRID_HOME (nearest: HYBRID_MODE); ignored");

	hy_config_defaults(&want);
	CU_ASSERT_EQUAL(hy_config_set(&want, HY_OPT_EPOCH, "250ms", HY_SRC_ENV, NULL), 0);
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(load_env_lines(&c, &rc, text, sizeof(text)), 1);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(text,
			       "libhybrid: not an option: HYBRID_HOME (nearest: HYBRID_MODE); "
			       "ignored\n");
	CU_ASSERT(!memcmp(&c, &want, sizeof(c))); /* the real option still set */
	/* once per process: a second load (hybrid_init, a later start) is quiet */
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(load_env_lines(&c, &rc, text, sizeof(text)), 0);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(!memcmp(&c, &want, sizeof(c)));

	/* several: one line, each with its nearest option */
	setenv("HYBRID_EPOK", "1s", 1);
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c0, &msg, NULL, 0), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(msg.msg, "not options: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg.msg, "HYBRID_HOME (nearest: HYBRID_MODE)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(msg.msg, "HYBRID_EPOK (nearest: HYBRID_EPOCH)"));
	CU_ASSERT_PTR_NULL(strchr(msg.msg, '\n'));
	/* ... but a bad value of a real option still stops, unknown names or not */
	setenv("HYBRID_EPOCH", "5x", 1);
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(load_env_lines(&c, &rc, text, sizeof(text)), 0);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	clear_env();

	char buf[64];
	CU_ASSERT_STRING_EQUAL(hy_config_nearest("HYBRID_DRAM_LIMT", buf, sizeof(buf)),
			       "HYBRID_DRAM_LIMIT");
	/* however far, some option is nearest */
	CU_ASSERT_EQUAL(
	    hy_config_lookup(hy_config_nearest("HYBRID_ZZZZZZZZZZZZ", buf, sizeof(buf))) >= 0,
	    true);
}

/* ignore_names: which unknown names are not said, and what it accepts. */
static void test_ignore_names(void)
{
	struct hy_config c;
	struct hy_err msg = {""}, err;
	char names[64];

	clear_env();
	setenv("HYBRID_HOME", "/opt/x", 1);
	setenv("HYBRID_ROOT", "/", 1);
	setenv("HYBRID_BAD\tNAME", "1", 1); /* unknown, but no list can hold it */
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c, &msg, names, sizeof(names)), 3);
	CU_ASSERT_STRING_EQUAL(names, "HYBRID_HOME,HYBRID_ROOT");
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_IGNORE_NAMES, names, HY_SRC_ENV, &err), 0);
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c, &msg, names, sizeof(names)), 1);
	CU_ASSERT_STRING_EQUAL(names, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(msg.msg, "HYBRID_BAD?NAME"));
	CU_ASSERT_PTR_NULL(strstr(msg.msg, "HYBRID_HOME"));
	/* only whole names count: HYBRID_HOM does not cover HYBRID_HOME */
	CU_ASSERT_EQUAL(
	    hy_config_set(&c, HY_OPT_IGNORE_NAMES, "HYBRID_HOM,HYBRID_ROOTS", HY_SRC_ENV, &err), 0);
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c, &msg, NULL, 0), 3);
	/* from the environment too, quiet about what it lists */
	setenv("HYBRID_IGNORE_NAMES", "HYBRID_HOME,HYBRID_ROOT", 1);
	unsetenv("HYBRID_BAD\tNAME");
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_load_env(&c, &err), 0);
	CU_ASSERT_STRING_EQUAL(c.ignore_names, "HYBRID_HOME,HYBRID_ROOT");
	CU_ASSERT_EQUAL(hy_config_unknown_env(&c, &msg, NULL, 0), 0);
	clear_env();

	/* what a list may hold: HYBRID_ names that are no option, without '='
	 * or control characters, separated by single commas */
	static const char *const bad[] = {
	    "HYBRID",	     "HOME",	       "HYBRID_HOME,",	      ",HYBRID_HOME",
	    "HYBRID_HOME,,HYBRID_ROOT", "HYBRID_HOME,HOME", "HYBRID_EPOCH", "HYBRID_HOME,HYBRID_MODE",
	    "HYBRID_A=B",    "HYBRID_A\nB",    "HYBRID_IGNORE_NAMES"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hy_config_defaults(&c);
		CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_IGNORE_NAMES, bad[i], HY_SRC_ENV, &err),
				-EINVAL);
		CU_ASSERT_STRING_EQUAL(c.ignore_names, "");
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "invalid name list"));
	/* names the environment carries, odd or not, are held */
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_IGNORE_NAMES,
				      "HYBRID_,HYBRID_ mode,HYBRID_fast-nodes", HY_SRC_ENV, &err),
			0);
	char big[HY_NAMES_MAX + 16];
	memset(big, 'A', sizeof(big) - 1);
	memcpy(big, "HYBRID_", 7);
	big[sizeof(big) - 1] = 0;
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_IGNORE_NAMES, big, HY_SRC_ENV, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "out-of-range name list"));
}

static void test_env_bad(void)
{
	expect_env_error("HYBRID_EPOCH", "5x", "HYBRID_EPOCH: invalid duration \"5x\"",
			 "unit us, ms, s");
	expect_env_error("HYBRID_FAST_NODES", "", "HYBRID_FAST_NODES: empty value", NULL);
	expect_env_error("HYBRID_DRAM_LIMIT", "-1G", "HYBRID_DRAM_LIMIT: invalid size", NULL);
	expect_env_error("HYBRID_DRAM_LIMIT", "99999999999999999999999", "out-of-range size", NULL);
	expect_env_error("HYBRID_PROMOTE_THRESHOLD", "99", "out-of-range integer", "from 1 to 8");
	expect_env_error("HYBRID_MODE", "fast", "one of auto, hybrid, dram, off", NULL);
	expect_env_error("HYBRID_STATS", "x\001y", "\"x?y\"", NULL);
}

static void test_cross_checks(void)
{
	struct hy_config c;
	struct hy_err err = {""};

	clear_env();
	setenv("HYBRID_PROMOTE_THRESHOLD", "5", 1);
	setenv("HYBRID_PROMOTE_WINDOW", "4", 1);
	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_load_env(&c, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HYBRID_PROMOTE_THRESHOLD=5 is larger than"));
	clear_env();

	hy_config_defaults(&c);
	CU_ASSERT_EQUAL(hy_config_set(&c, HY_OPT_FREE_LOW, "20", HY_SRC_CMDLINE, &err), 0);
	CU_ASSERT_EQUAL(hy_config_check(&c, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "--free-low=20 is larger than HYBRID_FREE_HIGH=10"));

	hy_config_defaults(&c);
	hy_config_set(&c, HY_OPT_TIERS, "0/1", HY_SRC_ENV, &err);
	hy_config_set(&c, HY_OPT_SLOW_NODES, "1", HY_SRC_ENV, &err);
	CU_ASSERT_EQUAL(hy_config_check(&c, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "HYBRID_TIERS and HYBRID_SLOW_NODES"));

	hy_config_defaults(&c);
	hy_config_set(&c, HY_OPT_FAST_NODES, "0-1", HY_SRC_ENV, &err);
	hy_config_set(&c, HY_OPT_SLOW_NODES, "1-2", HY_SRC_ENV, &err);
	CU_ASSERT_EQUAL(hy_config_check(&c, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "overlap"));

	/* equal sets are the loopback pair, and fine */
	hy_config_defaults(&c);
	hy_config_set(&c, HY_OPT_FAST_NODES, "0", HY_SRC_ENV, &err);
	hy_config_set(&c, HY_OPT_SLOW_NODES, "0", HY_SRC_ENV, &err);
	CU_ASSERT_EQUAL(hy_config_check(&c, &err), 0);
}

static const struct hy_test tests[] = {
    HY_TEST(test_table_shape),
    HY_TEST(test_defaults),
    HY_TEST(test_bool),
    HY_TEST(test_int),
    HY_TEST(test_size),
    HY_TEST(test_duration),
    HY_TEST(test_nodelist), HY_TEST(test_nodes_numactl), HY_TEST(test_nodes_here),
    HY_TEST(test_tiers),
    HY_TEST(test_set_through_table),
    HY_TEST(test_format_roundtrip),
    HY_TEST(test_env_good),
    HY_TEST(test_env_unknown),
    HY_TEST(test_ignore_names),
    HY_TEST(test_env_bad),
    HY_TEST(test_cross_checks),
};

HY_CUNIT_MAIN("config", tests)
