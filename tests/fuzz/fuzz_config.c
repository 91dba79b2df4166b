/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config — libFuzzer target for the option parser (lib/config.c).
 *
 * Input: one selector byte, then the value text (cut at the first NUL).
 * Bits 0-4 of the selector pick the option (id = bits % HY_OPT_COUNT, so
 * the seeds keep their meaning while options are appended), bits 5-6 the
 * mode, chosen so that the seeds are mostly printable:
 *   '@'+id  (0x40-0x5f)  hy_config_set only
 *   '`'+id  (0x60-0x7f)  also HYBRID_<NAME>=text through hy_config_load_env
 *   ' '     (0x20-0x3f)  text is "NAME=value": HYBRID_NAME=value is loaded,
 *                        NAME known or not (id unused)
 *   0x00+id (0x00-0x1f)  the bytes are a value, not text (see
 *                        check_format_value): formatted and set back
 * tests/fuzz/make-corpus writes seeds in this form.
 *
 * Every input also goes to each hy_parse_* directly.  Invariants (abort()
 * when broken, so libFuzzer saves the input):
 *   parsers   return 0, -EINVAL or -ERANGE; leave *out alone on failure;
 *             what they accept formats back to text that parses to the same
 *             value; hy_parse_int agrees with strtoll; a bounded parse
 *             agrees with the unbounded one; node lists and tiers are never
 *             empty; tiers are pairwise disjoint or equal.
 *   set       returns 0 or -EINVAL; on failure cfg is byte-for-byte unchanged
 *             and err.msg is one non-empty line; on success only the
 *             option's own field and src[id] changed, the value is in range,
 *             and hy_config_format() gives text that sets an identical
 *             struct hy_config.
 *   env       hy_config_load_env succeeds exactly when set + check would; an
 *             unknown HYBRID_ name is never an error (it is said and
 *             ignored); messages are one line.
 *   format    any value in range (selector 0x00+id: node sets of up to 1024
 *             nodes, tier lists, integers) formats to text that sets it again.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* CHECK: an invariant broken aborts, so that libFuzzer keeps the input */
#define HY_CHECK_ABORT
#include "../support.h"

#define FMT_LEN 16384 /* larger than any value's text: 1024 nodes, PATH_MAX */

extern char **environ;

static bool rc_ok(int rc)
{
	return rc == 0 || rc == -EINVAL || rc == -ERANGE;
}

/* A message for a human: non-empty, terminated inside the buffer, one line. */
static void check_msg(const struct hy_err *err, const char *what)
{
	size_t n = strnlen(err->msg, sizeof(err->msg));

	CHECK(n > 0, "%s: empty error message", what);
	CHECK(n < sizeof(err->msg), "%s: error message not terminated", what);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)err->msg[i] >= 0x20 || err->msg[i] == '\t',
		      "%s: control character 0x%02x at %zu in message: %s", what,
		      (unsigned char)err->msg[i], i, err->msg);
}

static void check_tierlist(const struct hy_tierlist *tl, const char *what)
{
	CHECK(tl->ntiers >= 1 && tl->ntiers <= HY_MAX_TIERS, "%s: %d tiers", what, tl->ntiers);
	for (int i = 0; i < tl->ntiers; i++) {
		CHECK(!hy_nm_empty(&tl->tier[i]), "%s: tier %d empty", what, i);
		for (int j = i + 1; j < tl->ntiers; j++)
			CHECK(!hy_nm_intersects(&tl->tier[i], &tl->tier[j]) ||
				  hy_nm_equal(&tl->tier[i], &tl->tier[j]),
			      "%s: tiers %d and %d overlap without being equal", what, i, j);
	}
	for (int i = tl->ntiers; i < HY_MAX_TIERS; i++)
		CHECK(hy_nm_empty(&tl->tier[i]), "%s: unused tier %d not empty", what, i);
}

/* Reference for hy_parse_int: [+-]?[0-9]+ and strtoll. */
static void check_int(const char *s)
{
	const char *p = s;
	int64_t v = 12345, w = 12345;
	int rc = hy_parse_int(s, INT64_MIN, INT64_MAX, &v);
	bool shape;

	CHECK(rc_ok(rc), "hy_parse_int(\"%s\") = %d", s, rc);
	if (rc)
		CHECK(v == 12345, "hy_parse_int wrote *out on failure");
	if (*p == '+' || *p == '-')
		p++;
	shape = *p >= '0' && *p <= '9';
	for (; *p >= '0' && *p <= '9'; p++)
		;
	shape = shape && !*p;
	if (!rc)
		CHECK(shape, "hy_parse_int accepted \"%s\"", s);
	if (shape) {
		errno = 0;
		long long ref = strtoll(s, NULL, 10);
		if (errno == ERANGE)
			CHECK(rc == -ERANGE, "hy_parse_int(\"%s\") = %d, strtoll overflows", s, rc);
		else
			CHECK(rc == 0 && v == ref, "hy_parse_int(\"%s\") = %d/%lld, strtoll %lld",
			      s, rc, (long long)v, ref);
	}
	/* a bounded parse agrees with the unbounded one */
	int rcb = hy_parse_int(s, -7, 100, &w);
	if (rc)
		CHECK(rcb == rc && w == 12345, "bounded hy_parse_int(\"%s\") = %d, unbounded %d", s,
		      rcb, rc);
	else if (v >= -7 && v <= 100)
		CHECK(rcb == 0 && w == v, "bounded hy_parse_int(\"%s\") = %d", s, rcb);
	else
		CHECK(rcb == -ERANGE && w == 12345, "bounded hy_parse_int(\"%s\") = %d", s, rcb);
}

static void check_parsers(const char *s)
{
	char buf[FMT_LEN];
	bool b = false;
	uint64_t u = 777, u2 = 777;
	struct hy_nodemask m, m2;
	struct hy_tierlist tl;
	int rc;

	rc = hy_parse_bool(s, &b);
	CHECK(rc == 0 || rc == -EINVAL, "hy_parse_bool(\"%s\") = %d", s, rc);

	check_int(s);

	rc = hy_parse_size(s, UINT64_MAX, &u);
	CHECK(rc_ok(rc), "hy_parse_size(\"%s\") = %d", s, rc);
	if (!rc) {
		hy_format_size(u, buf, sizeof(buf));
		CHECK(!hy_parse_size(buf, UINT64_MAX, &u2) && u2 == u,
		      "size \"%s\" = %llu formats as \"%s\", parses back to %llu", s,
		      (unsigned long long)u, buf, (unsigned long long)u2);
		u2 = 777;
		rc = hy_parse_size(s, UINT64_C(1) << 40, &u2);
		CHECK(u <= UINT64_C(1) << 40 ? !rc && u2 == u : rc == -ERANGE && u2 == 777,
		      "bounded hy_parse_size(\"%s\") = %d", s, rc);
	} else {
		CHECK(u == 777, "hy_parse_size wrote *out on failure");
	}

	u = u2 = 777;
	rc = hy_parse_duration(s, &u);
	CHECK(rc_ok(rc), "hy_parse_duration(\"%s\") = %d", s, rc);
	if (!rc) {
		hy_format_duration(u, buf, sizeof(buf));
		CHECK(!hy_parse_duration(buf, &u2) && u2 == u,
		      "duration \"%s\" = %lluus formats as \"%s\", parses back to %llu", s,
		      (unsigned long long)u, buf, (unsigned long long)u2);
	} else {
		CHECK(u == 777, "hy_parse_duration wrote *out on failure");
	}

	memset(&m, 0x5a, sizeof(m));
	rc = hy_parse_nodelist(s, &m);
	CHECK(rc_ok(rc), "hy_parse_nodelist(\"%s\") = %d", s, rc);
	if (!rc) {
		CHECK(!hy_nm_empty(&m), "node list \"%s\" parsed empty", s);
		hy_nm_format(&m, buf, sizeof(buf));
		CHECK(!hy_parse_nodelist(buf, &m2) && hy_nm_equal(&m, &m2),
		      "node list \"%s\" formats as \"%s\", which does not parse back", s, buf);
	} else {
		for (size_t i = 0; i < sizeof(m); i++)
			CHECK(((unsigned char *)&m)[i] == 0x5a,
			      "hy_parse_nodelist wrote on failure");
	}

	/* numactl's forms, in a made-up cpuset (nodes 1, 3-4, 7, 1000) */
	struct hy_nodemask allowed;
	if (hy_parse_nodelist("1,3-4,7,1000", &allowed))
		abort();
	memset(&m, 0x5a, sizeof(m));
	rc = hy_parse_nodes(s, &allowed, &m);
	CHECK(rc_ok(rc), "hy_parse_nodes(\"%s\") = %d", s, rc);
	if (!rc) {
		CHECK(!hy_nm_empty(&m), "node list \"%s\" parsed empty", s);
		CHECK(!strpbrk(s, "!+") || hy_nm_subset(&m, &allowed),
		      "\"%s\" counted in the allowed nodes gave others", s);
		CHECK(strpbrk(s, "!+") || (!hy_parse_nodelist(s, &m2) && hy_nm_equal(&m, &m2)),
		      "plain \"%s\" differs from the kernel's list", s);
		hy_nm_format(&m, buf, sizeof(buf));
		CHECK(!hy_parse_nodes(buf, &allowed, &m2) && hy_nm_equal(&m, &m2),
		      "node list \"%s\" formats as \"%s\", which does not parse back", s, buf);
	} else {
		for (size_t i = 0; i < sizeof(m); i++)
			CHECK(((unsigned char *)&m)[i] == 0x5a, "hy_parse_nodes wrote on failure");
	}

	memset(&tl, 0x5a, sizeof(tl));
	rc = hy_parse_tiers(s, &allowed, &tl);
	CHECK(rc_ok(rc), "hy_parse_tiers(\"%s\") = %d", s, rc);
	if (!rc) {
		check_tierlist(&tl, "hy_parse_tiers");
		/* the tiers of a list are its '/'-separated node lists */
		char *copy = strdup(s), *save = NULL;
		int k = 0;
		for (char *part = strtok_r(copy, "/", &save); part;
		     part = strtok_r(NULL, "/", &save)) {
			CHECK(k < tl.ntiers && !hy_parse_nodes(part, &allowed, &m2) &&
				  hy_nm_equal(&m2, &tl.tier[k]),
			      "tier %d of \"%s\" is not its node list \"%s\"", k, s, part);
			k++;
		}
		CHECK(k == tl.ntiers, "\"%s\": %d tiers, %d parts", s, tl.ntiers, k);
		free(copy);
	} else {
		for (size_t i = 0; i < sizeof(tl); i++)
			CHECK(((unsigned char *)&tl)[i] == 0x5a, "hy_parse_tiers wrote on failure");
	}
}

/* Where option id lives in struct hy_config, and how big it is. */
static size_t field_size(int id)
{
	switch (hy_options[id].type) {
	case HY_T_BOOL:
		return sizeof(bool);
	case HY_T_INT:
		return sizeof(int64_t);
	case HY_T_SIZE:
	case HY_T_DURATION:
		return sizeof(uint64_t);
	case HY_T_NODES:
		return sizeof(struct hy_nodemask);
	case HY_T_TIERS:
		return sizeof(struct hy_tierlist);
	case HY_T_ENUM:
		return sizeof(int);
	case HY_T_PATH:
		return PATH_MAX;
	case HY_T_NAMES:
		return HY_NAMES_MAX;
	}
	abort();
}

/* Only option id's field and src[id] may differ between a and b. */
static void check_only_field_changed(const struct hy_config *a, const struct hy_config *b, int id)
{
	size_t lo = hy_options[id].offset, hi = lo + field_size(id);
	size_t slo = offsetof(struct hy_config, src) + (size_t)id * sizeof(a->src[0]);
	size_t shi = slo + sizeof(a->src[0]);

	for (size_t i = 0; i < sizeof(*a); i++) {
		if ((i >= lo && i < hi) || (i >= slo && i < shi))
			continue;
		CHECK(((const unsigned char *)a)[i] == ((const unsigned char *)b)[i],
		      "setting %s changed byte %zu of struct hy_config", hy_options[id].name, i);
	}
}

static void check_value(const struct hy_config *c, int id, const char *text)
{
	const struct hy_opt_desc *o = &hy_options[id];
	const void *f = (const char *)c + o->offset;

	switch (o->type) {
	case HY_T_BOOL:
		break;
	case HY_T_INT: {
		int64_t v = *(const int64_t *)f;
		CHECK(v >= o->min && v <= o->max, "%s=\"%s\" gave %lld, outside [%lld, %lld]",
		      o->name, text, (long long)v, (long long)o->min, (long long)o->max);
		break;
	}
	case HY_T_SIZE:
	case HY_T_DURATION: {
		uint64_t v = *(const uint64_t *)f;
		CHECK(v >= (uint64_t)o->min && v <= (uint64_t)o->max,
		      "%s=\"%s\" gave %llu, outside [%lld, %lld]", o->name, text,
		      (unsigned long long)v, (long long)o->min, (long long)o->max);
		break;
	}
	case HY_T_NODES:
		CHECK(!hy_nm_empty(f), "%s=\"%s\" gave an empty node mask", o->name, text);
		break;
	case HY_T_TIERS:
		check_tierlist(f, o->name);
		break;
	case HY_T_ENUM: {
		int v = *(const int *)f, n = 0;
		while (o->choices[n])
			n++;
		CHECK(v >= 0 && v < n, "%s=\"%s\" gave choice %d of %d", o->name, text, v, n);
		break;
	}
	case HY_T_PATH:
		CHECK(strnlen(f, PATH_MAX) < PATH_MAX && !strcmp(f, text),
		      "%s=\"%s\" stored a different path", o->name, text);
		break;
	case HY_T_NAMES:
		CHECK(strnlen(f, HY_NAMES_MAX) < HY_NAMES_MAX && !strcmp(f, text),
		      "%s=\"%s\" stored a different list", o->name, text);
		break;
	}
}

static void check_set(int id, const char *text, struct hy_config *out, int *out_rc)
{
	static struct hy_config a, before, b;
	static char buf[FMT_LEN], buf2[FMT_LEN];
	struct hy_err err;
	int rc;

	hy_config_defaults(&a);
	before = a;
	memset(&err, 0, sizeof(err));
	rc = hy_config_set(&a, id, text, HY_SRC_ENV, &err);
	CHECK(rc == 0 || rc == -EINVAL, "hy_config_set(%s, \"%s\") = %d", hy_options[id].name, text,
	      rc);
	*out = a;
	*out_rc = rc;
	if (rc) {
		CHECK(!memcmp(&a, &before, sizeof(a)),
		      "failed hy_config_set(%s, \"%s\") changed cfg", hy_options[id].name, text);
		check_msg(&err, "hy_config_set");
		return;
	}
	CHECK(a.src[id] == HY_SRC_ENV, "src not recorded");
	check_only_field_changed(&a, &before, id);
	check_value(&a, id, text);

	/* format, then set again: the same struct, byte for byte */
	memset(buf, 0x5a, sizeof(buf));
	hy_config_format(&a, id, buf, sizeof(buf));
	CHECK(memchr(buf, 0, sizeof(buf)) != NULL, "hy_config_format left no NUL");
	CHECK(!strchr(buf, '\n'), "%s formats with a newline", hy_options[id].name);
	hy_config_defaults(&b);
	rc = hy_config_set(&b, id, buf, HY_SRC_ENV, &err);
	CHECK(rc == 0, "%s=\"%s\" formats as \"%s\", which does not parse: %s", hy_options[id].name,
	      text, buf, err.msg);
	if (memcmp(&a, &b, sizeof(a))) {
		hy_config_format(&b, id, buf2, sizeof(buf2));
		CHECK(0, "%s=\"%s\" formats as \"%s\", which sets a different value (\"%s\")",
		      hy_options[id].name, text, buf, buf2);
	}
	hy_config_format(&b, id, buf2, sizeof(buf2));
	CHECK(!strcmp(buf, buf2), "format not stable: \"%s\" then \"%s\"", buf, buf2);

	/* cross-option checks: 0 or one line */
	memset(&err, 0, sizeof(err));
	rc = hy_config_check(&a, &err);
	CHECK(rc == 0 || rc == -EINVAL, "hy_config_check = %d", rc);
	if (rc)
		check_msg(&err, "hy_config_check");
}

/*
 * Mode 0x00: build a value of option id from raw bytes, format it, set the text
 * back: the same struct.  Reaches values that text inputs seldom spell out,
 * such as hundreds of scattered nodes.  Bytes, by type:
 *   NODES  a bitmap, node 8*i+b = bit b of byte i (empty: node 0)
 *   TIERS  byte 0 % 8 + 1 tiers, then byte 1+i % (tiers+1) is the tier of
 *          node i, 0 = none; an empty tier is dropped
 *   INT, SIZE, DURATION  8 bytes, little endian, folded into [min, max]
 *   ENUM   byte 0 % the number of choices; BOOL byte 0 & 1
 *   PATH   nothing: the text modes cover it
 */
static void check_format_value(int id, const uint8_t *p, size_t n)
{
	static struct hy_config a, b;
	static char buf[FMT_LEN], buf2[FMT_LEN];
	const struct hy_opt_desc *o = &hy_options[id];
	void *f;
	struct hy_err err;
	int rc;

	hy_config_defaults(&a);
	f = (char *)&a + o->offset;
	switch (o->type) {
	case HY_T_BOOL:
		*(bool *)f = n && (p[0] & 1);
		break;
	case HY_T_INT:
	case HY_T_SIZE:
	case HY_T_DURATION: {
		uint64_t v = 0, span = (uint64_t)o->max - (uint64_t)o->min;
		for (size_t i = 0; i < n && i < 8; i++)
			v |= (uint64_t)p[i] << (8 * i);
		v = span == UINT64_MAX ? v : v % (span + 1);
		if (o->type == HY_T_INT)
			*(int64_t *)f = (int64_t)((uint64_t)o->min + v);
		else
			*(uint64_t *)f = (uint64_t)o->min + v;
		break;
	}
	case HY_T_NODES: {
		struct hy_nodemask *m = f;
		hy_nm_zero(m);
		for (size_t i = 0; i < n && i < HY_MAX_NODES / 8; i++)
			for (int bit = 0; bit < 8; bit++)
				if (p[i] >> bit & 1)
					hy_nm_set(m, (int)(8 * i) + bit);
		if (hy_nm_empty(m))
			hy_nm_set(m, 0);
		break;
	}
	case HY_T_TIERS: {
		struct hy_tierlist *tl = f, raw;
		int want = n ? p[0] % HY_MAX_TIERS + 1 : 1;

		memset(&raw, 0, sizeof(raw));
		for (size_t i = 1; i < n && i <= HY_MAX_NODES; i++) {
			int k = p[i] % (want + 1);
			if (k)
				hy_nm_set(&raw.tier[k - 1], (int)i - 1);
		}
		memset(tl, 0, sizeof(*tl));
		for (int k = 0; k < want; k++)
			if (!hy_nm_empty(&raw.tier[k]))
				tl->tier[tl->ntiers++] = raw.tier[k];
		if (!tl->ntiers) {
			tl->ntiers = 1;
			hy_nm_set(&tl->tier[0], 0);
		}
		break;
	}
	case HY_T_ENUM: {
		int nch = 0;
		while (o->choices[nch])
			nch++;
		*(int *)f = n ? p[0] % nch : 0;
		break;
	}
	case HY_T_PATH:
	case HY_T_NAMES:
		return; /* text already */
	}
	a.src[id] = HY_SRC_ENV;

	hy_config_format(&a, id, buf, sizeof(buf));
	hy_config_defaults(&b);
	memset(&err, 0, sizeof(err));
	rc = hy_config_set(&b, id, buf, HY_SRC_ENV, &err);
	CHECK(rc == 0, "%s: a value in range formats as \"%s\", which does not parse: %s", o->name,
	      buf, err.msg);
	if (memcmp(&a, &b, sizeof(a))) {
		hy_config_format(&b, id, buf2, sizeof(buf2));
		CHECK(0, "%s: a value formats as \"%s\", which sets a different value (\"%s\")",
		      o->name, buf, buf2);
	}
}

/* putenv() keeps our pointer: no allocation per run, unlike setenv(). */
static char envbuf[PATH_MAX + 256];

static void clear_hybrid_env(void)
{
	for (bool again = true; again;) {
		again = false;
		for (char **e = environ; e && *e; e++)
			if (!strncmp(*e, "HYBRID_", 7)) {
				char name[PATH_MAX + 256];
				size_t n = strcspn(*e, "=");
				if (n >= sizeof(name))
					n = sizeof(name) - 1;
				memcpy(name, *e, n);
				name[n] = 0;
				if (unsetenv(name))
					abort();
				again = true;
				break;
			}
	}
}

/* HYBRID_<NAME>=text through hy_config_load_env: agrees with hy_config_set. */
static void check_env_value(int id, const char *text, const struct hy_config *set_cfg, int set_rc)
{
	static struct hy_config c, chk;
	struct hy_err err;
	char name[64];
	int rc, want;

	hy_config_env_name(id, name, sizeof(name));
	if (strlen(name) + 1 + strlen(text) + 1 > sizeof(envbuf))
		return;
	snprintf(envbuf, sizeof(envbuf), "%s=%s", name, text);
	if (putenv(envbuf))
		return;
	hy_config_defaults(&c);
	memset(&err, 0, sizeof(err));
	rc = hy_config_load_env(&c, &err);
	clear_hybrid_env();
	hy_log_set_level(HY_LOG_WARN);

	chk = *set_cfg;
	want = set_rc ? -EINVAL : hy_config_check(&chk, NULL);
	CHECK(rc == want, "%s=\"%s\": hy_config_load_env = %d, hy_config_set+check = %d", name,
	      text, rc, want);
	if (rc)
		check_msg(&err, "hy_config_load_env");
	else
		CHECK(!memcmp(&c, set_cfg, sizeof(c)), "%s=\"%s\": environment and set differ",
		      name, text);
}

/* HYBRID_<text>: any name, known or not. */
static void check_env_name(const char *text)
{
	static struct hy_config c;
	struct hy_err err;
	char name[PATH_MAX + 256];
	const char *eq = strchr(text, '=');
	size_t n = eq ? (size_t)(eq - text) : strlen(text);
	bool present;
	int rc;

	snprintf(envbuf, sizeof(envbuf), "HYBRID_%s%s", text, eq ? "" : "=1");
	snprintf(name, sizeof(name), "HYBRID_%.*s", (int)n, text);
	if (strlen(text) + 16 > sizeof(envbuf) || putenv(envbuf))
		return;
	present = getenv(name) != NULL;
	hy_config_defaults(&c);
	memset(&err, 0, sizeof(err));
	rc = hy_config_load_env(&c, &err);
	clear_hybrid_env();
	hy_log_set_level(HY_LOG_WARN);

	CHECK(rc == 0 || rc == -EINVAL, "hy_config_load_env = %d", rc);
	if (rc)
		check_msg(&err, "hy_config_load_env");
	/* An unknown HYBRID_ name is said and ignored (config.c): alone in the
	 * environment, it never stops the library. */
	if (present && hy_config_lookup(name) < 0)
		CHECK(rc == 0, "unknown variable %s made hy_config_load_env fail", name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	clear_hybrid_env();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hy_config set_cfg;
	char *text;
	int id, mode, set_rc;

	if (size < 1)
		return 0;
	id = (data[0] & 0x1f) % HY_OPT_COUNT;
	mode = data[0] >> 5 & 3;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;

	check_parsers(text);
	(void)hy_config_lookup(text);
	check_set(id, text, &set_cfg, &set_rc);
	if (mode == 3)
		check_env_value(id, text, &set_cfg, set_rc);
	else if (mode == 1)
		check_env_name(text);
	else if (mode == 0)
		check_format_value(id, data + 1, size - 1);

	free(text);
	return 0;
}
