/* SPDX-License-Identifier: MIT */
/*
 * export_fmt — a live-statistics page made readable (see export_fmt.h).
 *
 * Every format appends to one buffer through put(), which stops at the end
 * of it: a report cut short is still terminated, and what was written
 * before the cut is exactly what a longer buffer would hold.  So a report
 * can be written section by section without changing a byte of it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "export_fmt.h"

struct out {
	char *buf;
	size_t len, n;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (o->n + 1 >= o->len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(o->buf + o->n, o->len - o->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		o->n = o->n + (size_t)w < o->len ? o->n + (size_t)w : o->len - 1;
}

/* "23.4 MiB" */
const char *hy_human_bytes(double v, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

/*
 * The length of the well-formed UTF-8 sequence at s (at most max bytes), or
 * 0: a stray continuation byte, a sequence cut short (a name truncated to
 * its field), an overlong form, a surrogate, or beyond U+10FFFF (RFC 3629).
 */
static size_t utf8_len(const unsigned char *s, size_t max)
{
	unsigned c = s[0], n, lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* beyond U+10FFFF */
	if (n > max || s[1] < lo || s[1] > hi)
		return 0;
	for (unsigned i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * A JSON string (RFC 8259) from bytes that may be anything (a command name
 * is whatever the program's file or prctl said): quotes, backslashes and
 * control characters escaped, well-formed UTF-8 kept as it is, and every
 * other byte as the character of the same number (\u00XX, its Latin-1
 * reading): the output is always valid UTF-8, whatever the name held.
 */
static void put_json_str(struct out *o, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strnlen(str, max);

	put(o, "\"");
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		size_t n = utf8_len(s + i, len - i);

		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f || !n)
			put(o, "\\u%04x", c);
		else
			put(o, "%.*s", (int)n, (const char *)s + i);
		i += n ? n : 1;
	}
	put(o, "\"");
}

/* Printable copy of a fixed-size name from the page (never trusted to be
 * terminated or clean). */
static const char *clean(const char *s, size_t max, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < max && i + 1 < len && s[i]; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = 0;
	return buf;
}

#define F(field) offsetof(struct hy_stats, field)

/* The counters, in the order shown; gauges have no rate. */
static const struct counter {
	const char *name;  /* JSON key: the struct hy_stats field */
	const char *label; /* text */
	size_t off;
	bool bytes;
} counters[] = {
	{"promote_pages", "promoted pages", F(promote_pages), false},
	{"promote_bytes", "promoted bytes", F(promote_bytes), true},
	{"demote_pages", "demoted pages", F(demote_pages), false},
	{"demote_bytes", "demoted bytes", F(demote_bytes), true},
	{"fail_busy", "failed: busy or pinned", F(fail_busy), false},
	{"fail_access", "failed: shared", F(fail_access), false},
	{"fail_nomem", "failed: no memory", F(fail_nomem), false},
	{"fail_absent", "failed: not present", F(fail_absent), false},
	{"fail_other", "failed: other", F(fail_other), false},
	{"thrash_pages", "thrash pages", F(thrash_pages), false},
	{"wp_faults", "write faults (sync)", F(wp_faults), false},
	{"pages_scanned", "pages scanned (async)", F(pages_scanned), false},
	{"pages_armed", "pages armed", F(pages_armed), false},
	{"epochs", "epochs", F(epochs), false},
	{"policy_ns", "policy CPU ns", F(policy_ns), false},
	{"thp_splits", "huge pages split", F(thp_splits), false},
};

#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t get(const struct hy_stats *st, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)st + off, sizeof(v));
	return v;
}

static int tiers_of(const struct hy_export_page *p)
{
	int n = p->ntiers > 0 && p->ntiers <= HY_MAX_TIERS ? p->ntiers : 0;

	if (!n) /* unknown: as many as hold bytes, at least two */
		for (int t = 0; t < HY_MAX_TIERS; t++)
			if (p->cur.st.tier_bytes[t])
				n = t + 1;
	return n < 2 ? 2 : n;
}

/* What every format of one page shows, worked out once.  st0 may point at
 * zero: a view is used where it was made, never copied. */
struct view {
	const struct hy_export_page *p;
	const struct hy_stats *st;  /* the counters now (p->cur) */
	const struct hy_stats *st0; /* ... and where rates start */
	struct hy_stats zero;
	double up;  /* seconds since publication, until now (or the last epoch) */
	double dt;  /* seconds the rates are taken over */
	bool rates; /* dt long enough for per-second figures */
	int ntiers;
	/* numastat's rule: the columns add up to the total.  absent is what
	 * is managed but on no tier as of the last epoch (never touched,
	 * swapped out, or touched since); total = absent + the tiers, which
	 * is managed_bytes but for the moment between an unmapping and the
	 * next epoch, when the tiers still count pages no longer managed */
	uint64_t tiers_sum, absent, total;
	char comm[20], backend[20]; /* printable */
};

static void view_init(struct view *v, const struct hy_export_page *p,
		      const struct hy_export_snap *since, uint64_t now_ns)
{
	uint64_t now = p->cur.mono_ns;

	v->p = p;
	v->st = &p->cur.st;
	v->ntiers = tiers_of(p);
	v->tiers_sum = 0;
	for (int t = 0; t < v->ntiers; t++) /* the columns shown */
		v->tiers_sum += v->st->tier_bytes[t];
	v->absent = v->st->managed_bytes > v->tiers_sum ? v->st->managed_bytes - v->tiers_sum : 0;
	v->total = v->tiers_sum + v->absent;
	memset(&v->zero, 0, sizeof(v->zero));
	if (!since)
		since = p->prev.mono_ns ? &p->prev : NULL;
	v->st0 = since ? &since->st : &v->zero;
	v->up = 0;
	v->dt = 0;
	/* a live process's age is the reader's clock's, not its last epoch's:
	 * a new one has not ended any yet (a reader in another time
	 * namespace, whose clock is behind, falls back to the last epoch) */
	if (p->state == HY_EXPORT_LIVE && now_ns > now)
		now = now_ns;
	if (now > p->start_ns)
		v->up = (double)(now - p->start_ns) / 1e9;
	if (since && p->cur.mono_ns > since->mono_ns)
		v->dt = (double)(p->cur.mono_ns - since->mono_ns) / 1e9;
	else if (!since)
		v->dt = v->up;
	v->rates = v->dt >= 0.05; /* over less, a per-second figure is noise */
	clean(p->comm, sizeof(p->comm), v->comm, sizeof(v->comm));
	clean(p->backend, sizeof(p->backend), v->backend, sizeof(v->backend));
}

/* A counter's rate over the view's interval (0 if it went backwards). */
static double rate(const struct view *v, const struct counter *c)
{
	uint64_t x = get(v->st, c->off), x0 = get(v->st0, c->off);

	return x >= x0 ? (double)(x - x0) / v->dt : 0.0;
}

/* ---- the process list -------------------------------------------------- */

static void list_head(struct out *o)
{
	put(o, "%-8s %-16s %-7s %5s %11s %11s %10s %10s %7s %9s\n", "PID", "COMMAND", "BACKEND",
	    "TIERS", "MANAGED", "FAST TIER", "PROMOTED", "DEMOTED", "EPOCHS", "UPTIME");
}

static void list_row(struct out *o, const struct view *v)
{
	const struct hy_stats *st = v->st;
	char a[32], b[32];

	put(o, "%-8d %-16s %-7s %5d %11s %11s %10llu %10llu %7llu %8.1fs\n", (int)v->p->pid,
	    v->comm, v->backend, v->ntiers, hy_human_bytes((double)v->total, a, sizeof(a)),
	    hy_human_bytes((double)st->tier_bytes[0], b, sizeof(b)),
	    (unsigned long long)st->promote_pages, (unsigned long long)st->demote_pages,
	    (unsigned long long)st->epochs, v->up);
}

/* ---- JSON: one object ---------------------------------------------------- */

/* The process: who, which library, how long, how much managed. */
static void json_process(struct out *o, const struct view *v)
{
	const struct hy_export_page *p = v->p;

	put(o, "{\"pid\": %d, \"command\": ", (int)p->pid);
	put_json_str(o, p->comm, sizeof(p->comm));
	put(o, ", \"uid\": %u, \"libhybrid\": ", (unsigned)p->uid);
	put_json_str(o, p->lib_version, sizeof(p->lib_version));
	put(o, ", \"backend\": ");
	put_json_str(o, p->backend, sizeof(p->backend));
	put(o,
	    ", \"state\": \"%s\", \"epoch_us\": %llu, \"uptime_s\": %.3f, "
	    "\"loopback\": %s, \"managed_bytes\": %llu, \"absent_bytes\": %llu, "
	    "\"shared_bytes\": %llu, \"lead_bytes\": %llu, \"self_bytes\": %llu",
	    p->state == HY_EXPORT_ENDED ? "ended" : "live", (unsigned long long)p->epoch_us, v->up,
	    p->loopback ? "true" : "false", (unsigned long long)v->total,
	    (unsigned long long)v->absent, (unsigned long long)v->st->shared_bytes,
	    (unsigned long long)v->st->lead_bytes,
	    (unsigned long long)v->st->self_bytes);
	if (v->st->tree_id)
		put(o, ", \"tree\": \"%016llx\"", (unsigned long long)v->st->tree_id);
	else
		put(o, ", \"tree\": null");
}

/* "tiers": each tier's nodes and bytes. */
static void json_tiers(struct out *o, const struct view *v)
{
	put(o, ", \"tiers\": [");
	for (int t = 0; t < v->ntiers; t++) {
		put(o, "%s{\"tier\": %d, \"nodes\": ", t ? ", " : "", t);
		put_json_str(o, v->p->tier_nodes[t], sizeof(v->p->tier_nodes[t]));
		put(o, ", \"bytes\": %llu}", (unsigned long long)v->st->tier_bytes[t]);
	}
	put(o, "]");
}

/* "counters": every counter's total. */
static void json_counters(struct out *o, const struct view *v)
{
	put(o, ", \"counters\": {");
	for (size_t i = 0; i < NCOUNTERS; i++)
		put(o, "%s\"%s\": %llu", i ? ", " : "", counters[i].name,
		    (unsigned long long)get(v->st, counters[i].off));
	put(o, "}");
}

/* "per_second": every counter's rate, null when the interval is too short. */
static void json_rates(struct out *o, const struct view *v)
{
	put(o, ", \"rate_interval_s\": %.3f, \"per_second\": {", v->dt);
	for (size_t i = 0; i < NCOUNTERS; i++) {
		put(o, "%s\"%s\": ", i ? ", " : "", counters[i].name);
		if (v->rates)
			put(o, "%.3f", rate(v, &counters[i]));
		else
			put(o, "null");
	}
	put(o, "}");
}

/* ---- text: a header, bytes per tier, then counters with their rates ------ */

/* The process, its library, backend, tiers and epoch: one line. */
static void text_title(struct out *o, const struct view *v)
{
	const struct hy_export_page *p = v->p;
	char a[32], b[32];

	put(o, "pid %d (%s), libhybrid %s, backend %s, %d tiers%s", (int)p->pid, v->comm,
	    clean(p->lib_version, sizeof(p->lib_version), a, sizeof(a)), v->backend, v->ntiers,
	    p->loopback ? " (loopback)" : "");
	if (p->epoch_us)
		put(o, ", epoch %s", hy_format_duration(p->epoch_us, b, sizeof(b)));
	put(o, "%s\n", p->state == HY_EXPORT_ENDED ? ", ended" : "");
}

/* Two lines: the process and its library, then what the library costs it:
 * the policy thread's CPU and the library's own memory (self_bytes). */
static void text_process(struct out *o, const struct view *v)
{
	char b[32];

	text_title(o, v);
	put(o, "up %.1f s, ", v->up);
	if (v->st->epochs)
		put(o, "%llu epochs", (unsigned long long)v->st->epochs);
	else
		put(o, "first epoch not ended yet");
	put(o, ", policy thread CPU %.1f ms", (double)v->st->policy_ns / 1e6);
	if (v->up >= 0.05)
		put(o, " (%.2f%%)", (double)v->st->policy_ns / 1e9 / v->up * 100);
	put(o, ", library memory %s\n", hy_human_bytes((double)v->st->self_bytes, b, sizeof(b)));
}

/* A column per tier, absent, and their total (numastat's rule: the columns
 * add up): the tiers' nodes (if known), their bytes. */
static void text_tiers(struct out *o, const struct view *v)
{
	const struct hy_export_page *p = v->p;
	char a[32], nodes[40];

	put(o, "%-24s", "");
	for (int t = 0; t < v->ntiers; t++) {
		snprintf(a, sizeof(a), "tier %d", t);
		put(o, " %12s", a);
	}
	put(o, " %12s %12s\n", "absent", "total");
	if (p->tier_nodes[0][0]) {
		put(o, "%-24s", "nodes");
		for (int t = 0; t < v->ntiers; t++)
			put(o, " %12s",
			    clean(p->tier_nodes[t], sizeof(p->tier_nodes[t]), nodes,
				  sizeof(nodes)));
		put(o, "\n");
	}
	put(o, "%-24s", "managed bytes");
	for (int t = 0; t < v->ntiers; t++)
		put(o, " %12s", hy_human_bytes((double)v->st->tier_bytes[t], a, sizeof(a)));
	put(o, " %12s", hy_human_bytes((double)v->absent, a, sizeof(a)));
	put(o, " %12s\n", hy_human_bytes((double)v->total, a, sizeof(a)));
	if (v->st->shared_bytes) { /* part of the total: memory the process tree shares */
		put(o, "%-24s %s", "  shared with its tree",
		    hy_human_bytes((double)v->st->shared_bytes, a, sizeof(a)));
		put(o, " (tree %016llx)", (unsigned long long)v->st->tree_id);
		put(o, ", this process decides for %s of it\n",
		    hy_human_bytes((double)v->st->lead_bytes, a, sizeof(a)));
	}
}

/* A line per counter (but those in the header): total and rate. */
static void text_counters(struct out *o, const struct view *v)
{
	char a[32], b[32];

	put(o, "%-24s %12s %12s", "", "total", "per second");
	if (v->rates)
		put(o, " (over %.1f s)", v->dt);
	put(o, "\n");
	for (size_t i = 0; i < NCOUNTERS; i++) {
		const struct counter *c = &counters[i];
		uint64_t x = get(v->st, c->off);
		double r = v->rates ? rate(v, c) : 0.0;

		if (c->off == F(epochs) || c->off == F(policy_ns))
			continue; /* in the header */
		if (c->bytes)
			put(o, "%-24s %12s", c->label, hy_human_bytes((double)x, a, sizeof(a)));
		else
			put(o, "%-24s %12llu", c->label, (unsigned long long)x);
		if (!v->rates)
			put(o, " %12s\n", "-");
		else if (c->bytes)
			put(o, " %12s\n", hy_human_bytes(r, b, sizeof(b)));
		else
			put(o, " %12.1f\n", r);
	}
}

/* ---- -i: vmstat's one row per interval ------------------------------------ */

/* The column header; the columns are the tiers, absent and the rates. */
static void irow_head(struct out *o, const struct view *v)
{
	char a[32];

	put(o, "%9s %7s", "uptime", "epochs");
	for (int t = 0; t < v->ntiers; t++) {
		snprintf(a, sizeof(a), "tier %d", t);
		put(o, " %10s", a);
	}
	put(o, " %10s %11s %11s %9s\n", "absent", "promoted/s", "demoted/s", "failed/s");
}

/* The failed moves of every reason (one column: which reason is stat PID's). */
static uint64_t failed(const struct hy_stats *st)
{
	return st->fail_busy + st->fail_access + st->fail_nomem + st->fail_absent + st->fail_other;
}

static void irow(struct out *o, const struct view *v)
{
	char a[32];

	put(o, "%8.1fs %7llu", v->up, (unsigned long long)v->st->epochs);
	for (int t = 0; t < v->ntiers; t++)
		put(o, " %10s", hy_human_bytes((double)v->st->tier_bytes[t], a, sizeof(a)));
	put(o, " %10s", hy_human_bytes((double)v->absent, a, sizeof(a)));
	if (!v->rates) {
		put(o, " %11s %11s %9s\n", "-", "-", "-");
		return;
	}
	uint64_t f = failed(v->st), f0 = failed(v->st0);
	put(o, " %11.1f %11.1f %9.1f\n", rate(v, &counters[0]), rate(v, &counters[2]),
	    f >= f0 ? (double)(f - f0) / v->dt : 0.0);
}

size_t hy_export_format(const struct hy_export_page *p, const struct hy_export_snap *since,
			uint64_t now_ns, enum hy_export_fmt fmt, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	struct view v;

	if (!len)
		return 0;
	buf[0] = 0;
	if (fmt == HY_EXPORT_HEAD || !p) {
		list_head(&o);
		return o.n;
	}
	view_init(&v, p, since, now_ns);
	switch (fmt) {
	case HY_EXPORT_ROW:
		list_row(&o, &v);
		break;
	case HY_EXPORT_TITLE:
		text_title(&o, &v);
		break;
	case HY_EXPORT_IHEAD:
		irow_head(&o, &v);
		break;
	case HY_EXPORT_IROW:
		irow(&o, &v);
		break;
	case HY_EXPORT_JSON:
		json_process(&o, &v);
		json_tiers(&o, &v);
		json_counters(&o, &v);
		json_rates(&o, &v);
		put(&o, "}\n");
		break;
	default:
		text_process(&o, &v);
		text_tiers(&o, &v);
		text_counters(&o, &v);
	}
	return o.n;
}
