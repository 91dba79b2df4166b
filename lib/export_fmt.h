/* SPDX-License-Identifier: MIT */
/*
 * export_fmt — a live-statistics page (export_page.h) made readable: the
 * report of `hybridctl stat`, its JSON, the process list, and the exit
 * report the writer prints (export.c).  It knows the page's layout and
 * nothing else of the channel.
 *
 * The exit report is formatted inside the managed process, so nothing here
 * allocates or touches a stdio stream: it formats into the caller's buffer
 * with snprintf (plain integer and %f conversions, which glibc does
 * without allocating).
 */
#ifndef HY_EXPORT_FMT_H
#define HY_EXPORT_FMT_H

#include <stddef.h>

#include "export_page.h"

/* The formats of hy_export_format. */
enum hy_export_fmt {
	HY_EXPORT_TEXT, /* numastat-like table, several lines */
	HY_EXPORT_JSON, /* one JSON object on one line */
	HY_EXPORT_ROW,	/* one line of the process list */
	HY_EXPORT_HEAD, /* the header line of the process list (p unused) */
	HY_EXPORT_TITLE, /* -i: the process, its library and tiers, one line */
	HY_EXPORT_IHEAD, /* -i: the column header of the rows (vmstat's) */
	HY_EXPORT_IROW,	 /* -i: one row of key figures: age, epochs, bytes per
			  * tier, absent, pages promoted and demoted per second */
};

/*
 * Format p into buf (always terminated; truncated if len is too small).
 * Rates per second are taken between since and p->cur; since NULL: between
 * p->prev and p->cur (the last epoch), or from the start if there is no
 * prev.  now_ns: when p was read (CLOCK_MONOTONIC), for a live process's
 * age; 0: as of its last epoch.  Returns the length written.  Allocates
 * nothing.
 */
size_t hy_export_format(const struct hy_export_page *p, const struct hy_export_snap *since,
			uint64_t now_ns, enum hy_export_fmt fmt, char *buf, size_t len);

/* "23.4 MiB", for people (the report, hybridctl); not for parsing. */
const char *hy_human_bytes(double bytes, char *buf, size_t len);

#endif
