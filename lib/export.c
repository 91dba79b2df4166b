/* SPDX-License-Identifier: MIT */
/*
 * export — the writing side of the live statistics (see export.h).
 *
 * Who touches what.  ex (below) is written by the thread that starts, stops
 * or forks the instance, under runtime's lock; the policy thread reads only
 * ex.page, with an acquire load, and writes only the mapped page's seq, cur
 * and prev.  The page pointer is published last, after the entry is
 * complete, and withdrawn first; a mapping that was once published is never
 * unmapped, only replaced in place (MAP_FIXED) by an anonymous page, so a
 * policy thread that loaded the pointer just before it was withdrawn writes
 * into harmless memory instead of faulting.
 *
 * The entry's descriptor (a memfd: export_chan.h) may be closed by the
 * program itself, and its number reused for one of the program's files:
 * it is closed by us only while it is still the memfd we made (ex.dev,
 * ex.ino).  Until then, or if it never is, the page is written all the
 * same, only nobody can find it.
 *
 * No heap, no stdio streams, no stdout: files are written with open/write
 * from fixed buffers, snprintf formats into them (plain integer and %f
 * conversions, which glibc does without allocating), and the page is
 * mapped by the raw system call (export_chan.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "export.h"
#include "export_chan.h"
#include "export_fmt.h"
#include "hybrid.h"
#include "log.h"


/* The copy of stderr for the exit report is made at or above this number,
 * out of the way of programs that expect their next descriptor to be low. */
#define REPORT_FD_MIN 512

static struct {
	struct hy_export_page *page;	/* mapped entry, or NULL; atomic */
	struct hy_export_page tmpl;	/* fixed fields, filled at start */
	int fd;				/* the entry's memfd, or -1 */
	dev_t dev;			/* what it is (the program may close it) */
	ino_t ino;
	int err_fd;			/* copy of stderr for the report, or -1 */
	dev_t err_dev;			/* what it was a copy of */
	ino_t err_ino;
} ex = {.fd = -1, .err_fd = -1};

/* Replace a once-published mapping with private zeroes (see the top). */
static void retire(void *p)
{
	if (p)
		hy_chan_map(p, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * This process's command and start time (field 22 of /proc/self/stat, in
 * clock ticks since boot: with the pid, it names the process for good).
 * The command is field 2, in parentheses that it may itself contain: the
 * fields after it start after the last ')'.  Either stays as it is when
 * the file cannot be read.
 */
static void self_stat(char *comm, size_t clen, uint64_t *start)
{
	char buf[1024];
	const char *open_, *close_;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	/* a /proc file is made whole by the first read that has room for it */
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	open_ = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	if (!open_ || !close_ || close_ < open_)
		return;
	snprintf(comm, clen, "%.*s", (int)(close_ - open_ - 1), open_ + 1);
	/* the space after the ')' comes before field 3, the 20th before 22 */
	for (int f = 0; f < 20; f++)
		if (!(close_ = strchr(close_ + 1, ' ')))
			return;
	*start = strtoull(close_ + 1, NULL, 10);
}

static void fill_template(const struct hy_stats *st, const char *backend)
{
	struct hy_export_page *t = &ex.tmpl;
	uint64_t start = 0;

	t->magic = HY_EXPORT_MAGIC;
	t->version = HY_EXPORT_VERSION;
	t->size = sizeof(*t);
	t->pid = (int32_t)getpid();
	t->uid = (uint32_t)geteuid();
	self_stat(t->comm, sizeof(t->comm), &start);
	t->starttime = start;
	t->start_ns = hy_mono_ns();
	snprintf(t->lib_version, sizeof(t->lib_version), "%s", HY_VERSION_TEXT);
	snprintf(t->backend, sizeof(t->backend), "%s", backend ? backend : "?");
	t->state = HY_EXPORT_LIVE;
	t->seq = 0;
	memset(&t->cur, 0, sizeof(t->cur));
	memset(&t->prev, 0, sizeof(t->prev));
	t->cur.mono_ns = t->start_ns;
	if (st)
		t->cur.st = *st;
}

void hy_export_describe(const struct hy_config *cfg, const struct hy_topo *topo)
{
	struct hy_export_page *t = &ex.tmpl;

	if (cfg)
		t->epoch_us = cfg->epoch_us;
	/*
	 * A report to stderr must survive the program closing it: GNU tools
	 * close stderr in an atexit handler, before the library's destructor
	 * runs.  Keep a copy, close-on-exec, high up.
	 */
	if (cfg && !strcmp(cfg->stats, "stderr") && ex.err_fd < 0) {
		struct stat st;
		int fd;

		if (!fstat(STDERR_FILENO, &st) &&
		    (fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, REPORT_FD_MIN)) >= 0) {
			ex.err_fd = fd;
			ex.err_dev = st.st_dev;
			ex.err_ino = st.st_ino;
		}
	}
	if (topo) {
		t->ntiers = topo->ntiers < HY_MAX_TIERS ? topo->ntiers : HY_MAX_TIERS;
		t->loopback = topo->loopback;
		for (int k = 0; k < t->ntiers; k++)
			hy_nm_format(&topo->tier[k].nodes, t->tier_nodes[k], sizeof(t->tier_nodes[k]));
	}
}

/*
 * Create this process's entry (export_chan.h) and fill it from ex.tmpl.
 * The magic goes in last: a reader that finds the memfd before then sees a
 * page of zeroes, an entry not made yet, never half of one.
 */
static int publish(struct hy_export_page **out)
{
	struct hy_export_page *p;
	struct stat st;
	int fd = hy_chan_create(), rc;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	p = hy_chan_map(NULL, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	/* everything after the magic (the first field), then the magic */
	memcpy(&p->version, &ex.tmpl.version, sizeof(*p) - offsetof(struct hy_export_page, version));
	__atomic_store_n(&p->magic, ex.tmpl.magic, __ATOMIC_RELEASE);
	ex.fd = fd;
	ex.dev = st.st_dev;
	ex.ino = st.st_ino;
	*out = p;
	return 0;
}

int hy_export_start(const struct hy_stats *st, const char *backend)
{
	struct hy_export_page *p = NULL;
	int rc;

	if (__atomic_load_n(&ex.page, __ATOMIC_ACQUIRE))
		return -EALREADY;
	fill_template(st, backend);
	rc = publish(&p);
	if (!rc)
		__atomic_store_n(&ex.page, p, __ATOMIC_RELEASE);
	return rc;
}

/*
 * The writer's half of the sequence counter: odd while copying.  Only the
 * policy thread calls this (the single writer), so a plain read of seq is
 * enough; the fences order the data stores between the two seq stores.
 */
void hy_export_epoch(const struct hy_stats *st)
{
	struct hy_export_page *p = __atomic_load_n(&ex.page, __ATOMIC_ACQUIRE);
	struct hy_export_snap now;
	uint64_t s;

	if (!p)
		return;
	now.st = *st;
	now.mono_ns = hy_mono_ns();
	s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&p->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	p->prev = p->cur;
	p->cur = now;
	__atomic_store_n(&p->seq, s + 2, __ATOMIC_RELEASE);
}

/* Close the entry's descriptor if it is still the memfd we made (see the
 * top), and forget it either way. */
static void drop_fd(void)
{
	struct stat st;

	if (ex.fd >= 0 && !fstat(ex.fd, &st) && st.st_dev == ex.dev && st.st_ino == ex.ino)
		close(ex.fd);
	ex.fd = -1;
}

void hy_export_stop(void)
{
	struct hy_export_page *p = __atomic_exchange_n(&ex.page, NULL, __ATOMIC_ACQ_REL);

	if (p)
		__atomic_store_n(&p->state, HY_EXPORT_ENDED, __ATOMIC_RELEASE);
	retire(p);
	drop_fd();
}

void hy_export_fork_detach(void)
{
	struct hy_export_page *old = __atomic_exchange_n(&ex.page, NULL, __ATOMIC_ACQ_REL);

	retire(old); /* the child's copy of the parent's mapping writes nowhere */
	drop_fd();   /* and its copy of the descriptor shows the parent's page no more */
}

/* ---- the final report -------------------------------------------------- */

static char report_buf[8192], report_out[12288]; /* exit path, one caller */

void hy_export_exit_report(const struct hy_stats *counters, const char *backend, const char *dest)
{
	static struct hy_export_page rep;
	struct hy_export_snap since;
	struct stat st;
	size_t n, o = 0;
	int fd, flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
	bool to_stderr = !strcmp(dest, "stderr");

	if (!ex.tmpl.magic)
		fill_template(counters, backend);
	rep = ex.tmpl;
	rep.cur.mono_ns = hy_mono_ns();
	if (counters)
		rep.cur.st = *counters;
	memset(&since, 0, sizeof(since));
	since.mono_ns = rep.start_ns; /* rates: averages over the whole run */
	n = hy_export_format(&rep, &since, 0, HY_EXPORT_TEXT, report_buf, sizeof(report_buf));

	/* on stderr every line carries the library's prefix */
	for (size_t i = 0; i < n && o + 16 < sizeof(report_out); i++) {
		if (to_stderr && (i == 0 || report_buf[i - 1] == '\n')) {
			memcpy(report_out + o, "libhybrid: ", 11);
			o += 11;
		}
		report_out[o++] = report_buf[i];
	}
	if (to_stderr) {
		/* our copy if it is still ours (the program may have closed it
		 * and opened something else there), else fd 2 as it is now */
		fd = STDERR_FILENO;
		if (ex.err_fd >= 0 && !fstat(ex.err_fd, &st) && st.st_dev == ex.err_dev &&
		    st.st_ino == ex.err_ino)
			fd = ex.err_fd;
		write_all(fd, report_out, o);
		return;
	}
	if (dest[0] == '+')
		fd = open(++dest, flags | O_APPEND | O_CREAT, 0600);
	else
		fd = open(dest, flags | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			hy_warn("HYBRID_STATS: %s exists; not overwritten (HYBRID_STATS=+%s appends)",
				dest, dest);
		else if (errno == ELOOP)
			hy_warn("HYBRID_STATS: %s is a symbolic link; not followed", dest);
		else if (errno == ENXIO) /* a FIFO without a reader, a socket */
			hy_warn("HYBRID_STATS: %s is not a regular file; nothing written", dest);
		else
			hy_warn("HYBRID_STATS: cannot write %s: %s", dest, strerror(errno));
		return;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		hy_warn("HYBRID_STATS: %s is not a regular file; nothing written", dest);
	else if (write_all(fd, report_out, o))
		hy_warn("HYBRID_STATS: cannot write %s: %s", dest, strerror(errno));
	close(fd);
}
