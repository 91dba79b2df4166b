/* SPDX-License-Identifier: MIT */
/*
 * stat_plot — a process's tiers and moves over time (see stat_plot.h).
 *
 * The CSV has one row per sample, taken by the reader's clock, with the
 * counters as of the process's last epoch:
 *   time_s        the process's age at the sample (as `stat` shows it)
 *   epochs
 *   tierN_bytes   bytes on tier N (one column per tier), absent_bytes
 *   promote_pages, demote_pages      totals so far
 *   promote_per_s, demote_per_s      pages per second between the epochs
 *                 of this sample and the one before (0 if no epoch ended
 *                 in between; the first sample: over the last epoch)
 * gnuplot reads it by the column names, so the plot and the data cannot
 * disagree; the script goes to gnuplot's standard input.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "export_fmt.h"
#include "export_read.h"
#include "log.h"
#include "stat_plot.h"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

void hy_plot_csv_path(const char *png, char *buf, size_t len)
{
	size_t n = strlen(png);

	if (n > 4 && !strcmp(png + n - 4, ".png"))
		snprintf(buf, len, "%.*s.csv", (int)(n - 4), png);
	else
		snprintf(buf, len, "%s.csv", png);
}

bool hy_plot_have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char cand[PATH_MAX];

	if (!path)
		path = "/usr/bin:/bin";
	for (const char *s = path; *s;) {
		size_t n = strcspn(s, ":");

		snprintf(cand, sizeof(cand), "%.*s/gnuplot", (int)n ? (int)n : 1, n ? s : ".");
		if (!access(cand, X_OK))
			return true;
		s += n;
		s += *s == ':';
	}
	return false;
}

/* Sleep us, or less if told to stop. */
static void nap(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

	while (!stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int ntiers_of(const struct hy_export_page *p)
{
	int n = p->ntiers > 0 && p->ntiers <= HY_MAX_TIERS ? p->ntiers : 0;

	if (!n)
		for (int t = 0; t < HY_MAX_TIERS; t++)
			if (p->cur.st.tier_bytes[t])
				n = t + 1;
	return n < 2 ? 2 : n;
}

/* Pages per second of a counter between two snapshots (0 if none passed). */
static double per_s(uint64_t x, uint64_t x0, uint64_t t, uint64_t t0)
{
	return t > t0 && x >= x0 ? (double)(x - x0) / ((double)(t - t0) / 1e9) : 0.0;
}

static void csv_row(FILE *f, const struct hy_export_page *p, const struct hy_export_snap *since,
		    int ntiers, uint64_t now)
{
	const struct hy_stats *st = &p->cur.st;
	uint64_t sum = 0, up = now > p->start_ns ? now - p->start_ns : 0;

	fprintf(f, "%.3f,%llu", (double)up / 1e9, (unsigned long long)st->epochs);
	for (int t = 0; t < ntiers; t++) {
		fprintf(f, ",%llu", (unsigned long long)st->tier_bytes[t]);
		sum += st->tier_bytes[t];
	}
	fprintf(f, ",%llu,%llu,%llu,%.3f,%.3f\n",
		(unsigned long long)(st->managed_bytes > sum ? st->managed_bytes - sum : 0),
		(unsigned long long)st->promote_pages, (unsigned long long)st->demote_pages,
		since ? per_s(st->promote_pages, since->st.promote_pages, p->cur.mono_ns,
			      since->mono_ns)
		      : 0.0,
		since ? per_s(st->demote_pages, since->st.demote_pages, p->cur.mono_ns,
			      since->mono_ns)
		      : 0.0);
}

/* A gnuplot string: single quotes, in which '' is a quote. */
static void gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('\'', f);
}

/* The script: bytes per tier and absent above, moves per second below. */
static void script(FILE *f, const struct hy_export_page *p, int ntiers, const char *csv,
		   const char *png)
{
	char comm[sizeof(p->comm) + 1], title[96], nodes[40];

	snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
	for (char *c = comm; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	/* noenhanced: names are text, not markup (export_probe has no subscript);
	 * fixed margins: the two panels' time axes line up */
	fprintf(f, "set terminal pngcairo noenhanced size 1200,800 font ',10'\n"
		   "set lmargin at screen 0.07\nset rmargin at screen 0.78\nset output ");
	gp_str(f, png);
	fprintf(f, "\nset datafile separator ','\nset datafile columnheaders\n"
		   "set key outside right top\nset grid\nset xlabel 'seconds since start'\n");
	snprintf(title, sizeof(title), "libhybrid: pid %d (%s)", (int)p->pid, comm);
	fprintf(f, "set multiplot layout 2,1 title ");
	gp_str(f, title);
	fprintf(f, "\nset ylabel 'MiB'\nset yrange [0:*]\nplot ");
	for (int t = 0; t < ntiers; t++) {
		snprintf(nodes, sizeof(nodes), "%.*s", (int)sizeof(p->tier_nodes[t]),
			 p->tier_nodes[t]);
		snprintf(title, sizeof(title), "tier %d (%s%s%s)", t,
			 t == 0 ? "DRAM" : t == ntiers - 1 ? "slow" : "middle",
			 nodes[0] ? ", nodes " : "", nodes);
		fprintf(f, "%s", t ? ", '' " : "");
		if (!t)
			gp_str(f, csv);
		fprintf(f, " using 'time_s':(column('tier%d_bytes')/1048576) with linespoints "
			   "pt 7 ps 0.5 lw 2 title ",
			t);
		gp_str(f, title);
	}
	fprintf(f, ", '' using 'time_s':(column('absent_bytes')/1048576) with linespoints "
		   "pt 7 ps 0.5 lw 1 dt 2 title 'absent'\n");
	fprintf(f, "set ylabel 'pages per second'\nplot ");
	gp_str(f, csv);
	fprintf(f, " using 'time_s':'promote_per_s' with linespoints pt 7 ps 0.5 lw 2 "
		   "title 'promoted', '' using 'time_s':'demote_per_s' with linespoints pt 7 "
		   "ps 0.5 lw 2 title 'demoted'\nunset multiplot\n");
}

/* gnuplot with the script on its standard input; 0 or -1 (said). */
static int run_gnuplot(const struct hy_export_page *p, int ntiers, const char *csv,
		       const char *png)
{
	int fds[2], st;
	pid_t child;
	FILE *f;

	if (pipe(fds)) {
		hy_error("--plot: pipe: %s", strerror(errno));
		return -1;
	}
	child = fork();
	if (child < 0) {
		hy_error("--plot: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (!child) {
		dup2(fds[0], STDIN_FILENO);
		close(fds[0]);
		close(fds[1]);
		dup2(STDERR_FILENO, STDOUT_FILENO); /* stdout is the rows' */
		execlp("gnuplot", "gnuplot", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	f = fdopen(fds[1], "w");
	if (!f) {
		close(fds[1]);
	} else {
		script(f, p, ntiers, csv, png);
		fclose(f);
	}
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		hy_error("--plot: gnuplot failed (%s %d); the samples are in %s",
			 WIFEXITED(st) ? "status" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), csv);
		return -1;
	}
	return 0;
}

void hy_stat_row(const struct hy_export_page *cur, const struct hy_export_snap *since,
		 uint64_t now, unsigned long k, unsigned long per_screen, char *buf, size_t len)
{
	if (!k) {
		hy_export_format(cur, NULL, now, HY_EXPORT_TITLE, buf, len);
		fputs(buf, stdout);
	}
	if (k % per_screen == 0) {
		hy_export_format(cur, NULL, now, HY_EXPORT_IHEAD, buf, len);
		fputs(buf, stdout);
	}
	hy_export_format(cur, since, now, HY_EXPORT_IROW, buf, len);
	fputs(buf, stdout);
}

int hy_stat_plot(int pid, const struct hy_export_page *first, const char *png,
		 uint64_t interval_us, long count, long per_screen)
{
	struct sigaction sa = {.sa_handler = on_stop};
	struct hy_export_page cur = *first, prev, last;
	char csv[PATH_MAX + 8], buf[4096];
	int ntiers = ntiers_of(first);
	long k = 0;
	FILE *f;

	hy_plot_csv_path(png, csv, sizeof(csv));
	f = fopen(csv, "w");
	if (!f) {
		hy_error("--plot: cannot write %s: %s", csv, strerror(errno));
		return 1;
	}
	fprintf(f, "time_s,epochs");
	for (int t = 0; t < ntiers; t++)
		fprintf(f, ",tier%d_bytes", t);
	fprintf(f, ",absent_bytes,promote_pages,demote_pages,promote_per_s,demote_per_s\n");
	/* Ctrl-C ends the sampling, not the plot */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (;;) {
		/* rates between this sample's epoch and the last one's; the
		 * first: over the process's last epoch */
		const struct hy_export_snap *since =
		    k ? (prev.cur.mono_ns < cur.cur.mono_ns ? &prev.cur : NULL)
		      : (cur.prev.mono_ns ? &cur.prev : NULL);
		uint64_t now = hy_mono_ns();

		csv_row(f, &cur, since, ntiers, now);
		hy_stat_row(&cur, k ? since : NULL, now, k, per_screen, buf, sizeof(buf));
		fflush(stdout);
		last = cur;
		if (++k == count || stop)
			break;
		nap(interval_us);
		if (stop)
			break;
		prev = cur;
		if (hy_export_read(pid, &cur)) {
			fprintf(stderr, "hybridctl: pid %d ended\n", pid);
			break;
		}
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (fclose(f)) {
		hy_error("--plot: cannot write %s: %s", csv, strerror(errno));
		return 1;
	}
	if (run_gnuplot(&last, ntiers, csv, png))
		return 1;
	fprintf(stderr, "hybridctl: %ld sample%s in %s, plotted in %s\n", k, k == 1 ? "" : "s", csv,
		png);
	return 0;
}
