/* SPDX-License-Identifier: MIT */
/*
 * stat_plot — `hybridctl stat PID --plot FILE.png`: one process's tiers and
 * moves over time.  Every interval a sample of its live view (export_read.h)
 * goes to FILE.csv (the data, kept: plots are made from the CSV) and a row
 * to stdout as `stat -i` prints it; when the process ends, --count samples
 * were taken or SIGINT/SIGTERM arrives, gnuplot draws FILE.png from the CSV:
 * bytes on each tier (and absent) above, pages promoted and demoted per
 * second below.
 */
#ifndef HY_STAT_PLOT_H
#define HY_STAT_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export_page.h"

/* The CSV's path for png: FILE.png -> FILE.csv, anything else -> png.csv. */
void hy_plot_csv_path(const char *png, char *buf, size_t len);

/* Whether gnuplot can be run (found in PATH). */
bool hy_plot_have_gnuplot(void);

/* One report of stat -i (vmstat style) on stdout: the process's title
 * before the first (k == 0), the header every per_screen rows, the row. */
void hy_stat_row(const struct hy_export_page *cur, const struct hy_export_snap *since,
		 uint64_t now, unsigned long k, unsigned long per_screen, char *buf, size_t len);

/*
 * Sample pid (whose view the caller has just read: first) every interval_us,
 * count samples (0: until it ends or a signal), the rows' header again every
 * per_screen rows; then plot.  The exit status: 0, or 1 if a file cannot
 * be written or gnuplot fails (said on stderr in one line).
 */
int hy_stat_plot(int pid, const struct hy_export_page *first, const char *png,
		 uint64_t interval_us, long count, long per_screen);

#endif
