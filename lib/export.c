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
 * No heap, no stdio streams, no stdout: files are written with open/write
 * from fixed buffers, snprintf formats into them (plain integer and %f
 * conversions, which glibc does without allocating), and the page is
 * mapped by the raw system call (export_chan.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
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
	char path[PATH_MAX];		/* the published entry, "" = none */
	dev_t dev;
	ino_t ino;
	int err_fd;			/* copy of stderr for the report, or -1 */
	dev_t err_dev;			/* what it was a copy of */
	ino_t err_ino;
	bool swept;			/* stale entries looked for (policy thread, once) */
} ex = {.err_fd = -1};

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

static void fill_template(const struct hy_stats *st, const char *backend)
{
	struct hy_export_page *t = &ex.tmpl;
	uint64_t start = 0;

	t->magic = HY_EXPORT_MAGIC;
	t->version = HY_EXPORT_VERSION;
	t->size = sizeof(*t);
	t->pid = (int32_t)getpid();
	t->uid = (uint32_t)geteuid();
	hy_chan_proc_start(0, &start, t->comm, sizeof(t->comm));
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
 * Create this process's entry from ex.tmpl and map it (at fixed, replacing
 * what is there, if not NULL).  The first usable candidate directory wins.
 */
static int publish(void *fixed, struct hy_export_page **out)
{
	const struct hy_export_page *t = &ex.tmpl;
	uid_t uid = geteuid();
	char name[64], tmp[80], dir[128];
	int rc = -ENOENT;

	hy_chan_name((int)t->pid, t->starttime, name, sizeof(name));
	hy_chan_tmp_name(name, tmp, sizeof(tmp));
	for (int which = 0; which < 2; which++) {
		struct hy_export_page *p;
		struct stat st;
		int dfd = hy_chan_dir_open(which, uid, true), fd;

		if (dfd < 0) {
			rc = dfd;
			continue;
		}
		hy_chan_dir(which, uid, dir, sizeof(dir));
		unlinkat(dfd, tmp, 0); /* left by an earlier image of this very process */
		fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			close(dfd);
			continue;
		}
		fchmod(fd, 0600);
		p = NULL;
		if (ftruncate(fd, HY_CHAN_LEN) || fstat(fd, &st))
			rc = -errno;
		else if (!(p = hy_chan_map(fixed, PROT_READ | PROT_WRITE,
					   MAP_SHARED | (fixed ? MAP_FIXED : 0), fd)))
			rc = -ENOMEM;
		close(fd);
		if (p) {
			memcpy(p, t, sizeof(*t));
			if (!renameat(dfd, tmp, dfd, name)) {
				snprintf(ex.path, sizeof(ex.path), "%s/%s", dir, name);
				ex.dev = st.st_dev;
				ex.ino = st.st_ino;
				close(dfd);
				*out = p;
				return 0;
			}
			rc = -errno;
			if (fixed)
				retire(p);
			else
				hy_sys_munmap(p, HY_CHAN_LEN);
		}
		unlinkat(dfd, tmp, 0);
		close(dfd);
	}
	if (fixed)
		retire(fixed); /* no entry of our own: at least stop writing the parent's */
	return rc;
}

int hy_export_start(const struct hy_stats *st, const char *backend)
{
	struct hy_export_page *p;
	int rc;

	if (__atomic_load_n(&ex.page, __ATOMIC_ACQUIRE))
		return -EALREADY;
	fill_template(st, backend);
	rc = publish(NULL, &p);
	if (!rc)
		__atomic_store_n(&ex.page, p, __ATOMIC_RELEASE);
	return rc;
}

/*
 * Entries left by processes that died without removing theirs (killed,
 * _exit, a crash) would pile up, one page of tmpfs each, until the user ran
 * `hybridctl stat`.  So every process, once, at its first epoch (on the
 * policy thread: off the program's start), removes up to SWEEP_MAX of them
 * from its user's directories -- those whose process is gone or is another
 * one now (start time).  That bounds the pile: each process leaves at most
 * one and takes away up to SWEEP_MAX.  No file is opened: the name says
 * which process made it.
 */
#define SWEEP_MAX 64

/* One name of the user's directory: removed if its process is gone; true
 * once SWEEP_MAX are. */
static bool sweep_one(int dfd, const char *name, void *arg)
{
	int *removed = arg, pid;
	uint64_t start;

	if (hy_chan_parse_name(name, &pid, &start) && hy_chan_proc_gone(pid, start) &&
	    !unlinkat(dfd, name, 0))
		++*removed;
	return *removed >= SWEEP_MAX;
}

static void sweep_stale(void)
{
	int removed = 0;

	hy_chan_walk(geteuid(), sweep_one, &removed);
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
	if (!ex.swept) {
		ex.swept = true;
		sweep_stale();
	}
	now.st = *st;
	now.mono_ns = hy_mono_ns();
	s = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
	__atomic_store_n(&p->seq, s + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	p->prev = p->cur;
	p->cur = now;
	__atomic_store_n(&p->seq, s + 2, __ATOMIC_RELEASE);
}

/* Remove our entry if it is still the file we made. */
static void unpublish(void)
{
	struct stat st;

	if (ex.path[0] && !lstat(ex.path, &st) && st.st_dev == ex.dev && st.st_ino == ex.ino)
		unlink(ex.path);
	ex.path[0] = 0;
}

void hy_export_stop(void)
{
	struct hy_export_page *p = __atomic_exchange_n(&ex.page, NULL, __ATOMIC_ACQ_REL);

	if (p)
		__atomic_store_n(&p->state, HY_EXPORT_ENDED, __ATOMIC_RELEASE);
	unpublish();
	retire(p);
}

void hy_export_fork_detach(void)
{
	struct hy_export_page *old = __atomic_exchange_n(&ex.page, NULL, __ATOMIC_ACQ_REL);

	ex.path[0] = 0; /* the parent's entry: the parent removes it */
	retire(old);	/* and the child's copy of its mapping writes nowhere */
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
	n = hy_export_format(&rep, &since, HY_EXPORT_TEXT, report_buf, sizeof(report_buf));

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
