/* SPDX-License-Identifier: MIT */
/*
 * export — see export.h for the channel.
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
 * No heap, no stdio streams, no stdout: files are read and written with
 * open/read/write into fixed buffers, snprintf formats into them (plain
 * integer and %f conversions, which glibc does without allocating), and the
 * page is mapped by the raw system call.  The reading side (for hybridctl)
 * keeps to the same rules, so the whole file can live in libhybrid.so.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "export.h"
#include "hybrid.h"
#include "log.h"
#include "os.h"

#define STR_(x) #x
#define STR(x)	STR_(x)
#define VERSION STR(HYBRID_VERSION_MAJOR) "." STR(HYBRID_VERSION_MINOR) "." STR(HYBRID_VERSION_PATCH)

#define PAGE_LEN HY_PAGE_SIZE /* the entry file: one page */

_Static_assert(sizeof(struct hy_export_page) <= PAGE_LEN, "the live view fits one page");

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

/* ---- small system helpers ---------------------------------------------- */

static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd)
{
	long p = hy_sys_mmap(addr, len, prot, flags, fd, 0);
	return p < 0 && p > -4096 ? NULL : (void *)p;
}

/* Replace a once-published mapping with private zeroes (see the top). */
static void retire(void *p)
{
	if (p)
		raw_mmap(p, PAGE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1);
}

/* Up to len-1 bytes of a small file, terminated; length or -errno. */
static ssize_t read_file(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, len - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	return (ssize_t)n;
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

/* A number in base at *s (at least one digit); *s moves past it. */
static bool take_num(const char **s, unsigned base, uint64_t *v)
{
	const char *p = *s;

	*v = 0;
	for (;; p++) {
		unsigned d = *p >= '0' && *p <= '9' ? (unsigned)(*p - '0')
			     : base == 16 && *p >= 'a' && *p <= 'f' ? (unsigned)(*p - 'a' + 10)
								     : base;
		if (d >= base)
			break;
		*v = *v * base + d;
	}
	if (p == *s)
		return false;
	*s = p;
	return true;
}

/* Past the next n fields separated by spaces (and the spaces after them). */
static const char *skip_fields(const char *s, int n)
{
	while (n-- > 0) {
		while (*s && *s != ' ')
			s++;
		while (*s == ' ')
			s++;
	}
	return s;
}

/*
 * Start time (field 22 of /proc/PID/stat) and command of pid (0: this
 * process).  The command is field 2, in parentheses and possibly containing
 * them: the fields after it start after the last ')'.
 */
static int proc_start(int pid, uint64_t *start, char *comm, size_t clen)
{
	char path[64], buf[1024];
	const char *open_, *close_, *p;
	ssize_t n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	n = read_file(AT_FDCWD, path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	open_ = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	if (!open_ || !close_ || close_ < open_)
		return -EPROTO;
	if (comm && clen) {
		size_t c = (size_t)(close_ - open_ - 1);
		if (c >= clen)
			c = clen - 1;
		memcpy(comm, open_ + 1, c);
		comm[c] = 0;
	}
	/* field 3 starts two characters after the command's ')' */
	p = skip_fields(close_ + 2, 19);
	return take_num(&p, 10, start) ? 0 : -EPROTO;
}

/* The real and effective uid of pid, from /proc/PID/status. */
static int proc_uids(int pid, uid_t *ruid, uid_t *euid)
{
	char path[64], buf[4096];
	uint64_t r, e;
	const char *u;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_file(AT_FDCWD, path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	u = strstr(buf, "\nUid:");
	if (!u)
		return -EPROTO;
	u += 5;
	u += strspn(u, " \t");
	if (!take_num(&u, 10, &r))
		return -EPROTO;
	u += strspn(u, " \t");
	if (!take_num(&u, 10, &e))
		return -EPROTO;
	*ruid = (uid_t)r;
	*euid = (uid_t)e;
	return 0;
}

/* ---- the directory ----------------------------------------------------- */

/* A directory fit to hold uid's entries: a real directory, uid's, closed
 * to group and others. */
static bool dir_ok(const struct stat *st, uid_t uid)
{
	return S_ISDIR(st->st_mode) && st->st_uid == uid && !(st->st_mode & 077);
}

const char *hy_export_dir(int which, uid_t uid, char *buf, size_t len)
{
	struct stat st;
	char base[64];

	switch (which) {
	case 0:
		/* systemd's per-user runtime directory, if it is really uid's */
		snprintf(base, sizeof(base), "/run/user/%u", (unsigned)uid);
		if (lstat(base, &st) || !dir_ok(&st, uid))
			return NULL;
		snprintf(buf, len, "%s/libhybrid", base);
		return buf;
	case 1:
		snprintf(buf, len, "/dev/shm/libhybrid-%u", (unsigned)uid);
		return buf;
	}
	return NULL;
}

/*
 * Open candidate directory which of uid, creating it (mode 0700) if asked.
 * The checks are made on the opened descriptor, which is what is used
 * afterwards, so a directory swapped in between is never trusted.
 */
static int dir_open(int which, uid_t uid, bool create)
{
	char path[128];
	struct stat st;
	bool made = false;
	int fd;

	if (!hy_export_dir(which, uid, path, sizeof(path)))
		return -ENOENT;
	if (create) {
		if (!mkdir(path, 0700))
			made = true;
		else if (errno != EEXIST)
			return -errno;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (made && !fstat(fd, &st) && st.st_uid == uid && (st.st_mode & 0777) != 0700)
		fchmod(fd, 0700); /* a umask took bits we need, or left some */
	if (fstat(fd, &st) || !dir_ok(&st, uid)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* ---- the process side -------------------------------------------------- */

static void fill_template(const struct hy_stats *st, const char *backend)
{
	struct hy_export_page *t = &ex.tmpl;
	uint64_t start = 0;

	t->magic = HY_EXPORT_MAGIC;
	t->version = HY_EXPORT_VERSION;
	t->size = sizeof(*t);
	t->pid = (int32_t)getpid();
	t->uid = (uint32_t)geteuid();
	proc_start(0, &start, t->comm, sizeof(t->comm));
	t->starttime = start;
	t->start_ns = hy_mono_ns();
	snprintf(t->lib_version, sizeof(t->lib_version), "%s", VERSION);
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

	snprintf(name, sizeof(name), "%d-%llu", (int)t->pid, (unsigned long long)t->starttime);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	for (int which = 0; which < 2; which++) {
		struct hy_export_page *p;
		struct stat st;
		int dfd = dir_open(which, uid, true), fd;

		if (dfd < 0) {
			rc = dfd;
			continue;
		}
		hy_export_dir(which, uid, dir, sizeof(dir));
		unlinkat(dfd, tmp, 0); /* left by an earlier image of this very process */
		fd = openat(dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = -errno;
			close(dfd);
			continue;
		}
		fchmod(fd, 0600);
		p = NULL;
		if (ftruncate(fd, PAGE_LEN) || fstat(fd, &st))
			rc = -errno;
		else if (!(p = raw_mmap(fixed, PAGE_LEN, PROT_READ | PROT_WRITE,
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
				hy_sys_munmap(p, PAGE_LEN);
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
 * The writer's half of the sequence counter: odd while copying.  Only the
 * policy thread calls this (the single writer), so a plain read of seq is
 * enough; the fences order the data stores between the two seq stores.
 */
static void sweep_stale(void); /* with the directory readers, below */

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

void hy_export_fork_child(const struct hy_stats *st, const char *backend)
{
	struct hy_export_page *old = __atomic_exchange_n(&ex.page, NULL, __ATOMIC_ACQ_REL), *p;
	struct hy_export_page keep = ex.tmpl;

	ex.path[0] = 0; /* the parent's entry: the parent removes it */
	fill_template(st, backend);
	/* what describe() said stays true in the child */
	ex.tmpl.epoch_us = keep.epoch_us;
	ex.tmpl.ntiers = keep.ntiers;
	ex.tmpl.loopback = keep.loopback;
	memcpy(ex.tmpl.tier_nodes, keep.tier_nodes, sizeof(keep.tier_nodes));
	if (!publish(old, &p))
		__atomic_store_n(&ex.page, p, __ATOMIC_RELEASE);
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

/* ---- the reading side -------------------------------------------------- */

/* Does pid still map the file (dev, ino)?  1 yes, 0 no, -1 cannot tell. */
static int maps_file(int pid, dev_t dev, ino_t ino)
{
	char path[64], buf[8192], tail[512];
	size_t keep = 0;
	int fd, found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* lines: "start-end perms offset MAJ:MIN inode path" */
	for (;;) {
		ssize_t r;
		char *line, *nl;

		memcpy(buf, tail, keep);
		r = read(fd, buf + keep, sizeof(buf) - 1 - keep);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0 && keep == 0)
				found = -1; /* unreadable: not ours to see */
			break;
		}
		buf[keep + (size_t)r] = 0;
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			const char *f;
			uint64_t maj, min, i;

			*nl = 0;
			f = skip_fields(line, 3);
			if (take_num(&f, 16, &maj) && *f++ == ':' && take_num(&f, 16, &min) &&
			    *f++ == ' ' && take_num(&f, 10, &i) && i == (uint64_t)ino &&
			    makedev(maj, min) == dev)
				found = 1;
			line = nl + 1;
		}
		keep = strlen(line);
		if (keep >= sizeof(tail))
			keep = 0; /* an absurd line: its start is not needed */
		memcpy(tail, line, keep);
		if (found == 1)
			break;
	}
	close(fd);
	return found;
}

/*
 * Copy the entry file open as fd into out, consistently, and check it.
 * 0, -EPROTO (not ours to understand), -EAGAIN (writer stuck mid-copy).
 */
static int snapshot(int fd, struct hy_export_page *out)
{
	const struct hy_export_page *p;
	int rc = -EAGAIN;

	p = raw_mmap(NULL, PAGE_LEN, PROT_READ, MAP_SHARED, fd);
	if (!p)
		return -ENOMEM;
	if (__atomic_load_n(&p->magic, __ATOMIC_RELAXED) != HY_EXPORT_MAGIC ||
	    p->version != HY_EXPORT_VERSION || p->size != sizeof(*p)) {
		hy_sys_munmap((void *)p, PAGE_LEN);
		return -EPROTO;
	}
	for (int tries = 0; tries < 2000; tries++) {
		uint64_t s1 = __atomic_load_n(&p->seq, __ATOMIC_ACQUIRE), s2;

		if (!(s1 & 1)) {
			memcpy(out, p, sizeof(*out));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			s2 = __atomic_load_n(&p->seq, __ATOMIC_RELAXED);
			if (s1 == s2) {
				out->seq = s1;
				out->state = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
				rc = 0;
				break;
			}
		}
		if (tries > 20) {
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
		} else {
			sched_yield();
		}
	}
	hy_sys_munmap((void *)p, PAGE_LEN);
	return rc;
}

/* "PID-START" → pid, start; false for any other name. */
static bool parse_name(const char *s, int *pid, uint64_t *start)
{
	unsigned long long v = 0;
	int digits = 0;

	*pid = 0;
	for (; *s >= '0' && *s <= '9' && digits < 9; s++, digits++)
		*pid = *pid * 10 + (*s - '0');
	if (!digits || *s++ != '-' || !*s)
		return false;
	for (; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (unsigned long long)(*s - '0');
	*start = v;
	return !*s && *pid > 0;
}

/*
 * Open, read and check the entry name of directory dfd (uid's).  0 with
 * *out filled when it is live; -ENOENT when stale (removed if remove);
 * other errors as hy_export_read.
 */
static int read_entry(int dfd, const char *name, uid_t uid, bool remove,
		      struct hy_export_page *out)
{
	uint64_t start, now_start;
	struct stat st;
	int pid, fd, rc;

	if (!parse_name(name, &pid, &start))
		return -ENOENT;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != uid ||
	    st.st_size < (off_t)PAGE_LEN) {
		close(fd);
		return -ENOENT; /* not something we made: ignored, never removed */
	}
	rc = snapshot(fd, out);
	close(fd);
	if (rc)
		return rc;
	/* the entry must describe itself, and its process must still be it */
	if (out->pid != pid || out->starttime != start || out->uid != uid ||
	    out->state != HY_EXPORT_LIVE || proc_start(pid, &now_start, NULL, 0) ||
	    now_start != start || maps_file(pid, st.st_dev, st.st_ino) == 0) {
		if (remove)
			unlinkat(dfd, name, 0);
		return -ENOENT;
	}
	return 0;
}

int hy_export_read(int pid, struct hy_export_page *out)
{
	uid_t uids[3], ruid, euid;
	char name[64];
	uint64_t start;
	int n = 0, rc = -ENOENT;

	if (pid <= 0)
		return -ESRCH;
	if (proc_start(pid, &start, NULL, 0))
		return -ESRCH;
	snprintf(name, sizeof(name), "%d-%llu", pid, (unsigned long long)start);
	uids[n++] = geteuid();
	/* root looks where the process's user keeps its entries */
	if (uids[0] == 0 && !proc_uids(pid, &ruid, &euid)) {
		if (euid != 0)
			uids[n++] = euid;
		if (ruid != 0 && ruid != euid)
			uids[n++] = ruid;
	}
	for (int u = 0; u < n; u++)
		for (int which = 0; which < 2; which++) {
			int dfd = dir_open(which, uids[u], false), r;

			if (dfd < 0) {
				if (dfd == -EACCES && rc == -ENOENT)
					rc = -EACCES;
				continue;
			}
			r = read_entry(dfd, name, uids[u], uids[u] == geteuid(), out);
			close(dfd);
			if (!r)
				return 0;
			if (r != -ENOENT)
				rc = r;
		}
	/* not found in ours: is it another user's process? */
	if (rc == -ENOENT && uids[0] != 0 && !proc_uids(pid, &ruid, &euid) && euid != uids[0])
		rc = -EACCES;
	return rc;
}

struct linux_dirent64_ {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int hy_export_list(void (*fn)(const struct hy_export_page *p, void *arg), void *arg)
{
	static struct hy_export_page page;
	uid_t uid = geteuid();
	int found = 0, opened = 0, rc = -ENOENT;

	for (int which = 0; which < 2; which++) {
		char buf[4096] __attribute__((aligned(8)));
		int dfd = dir_open(which, uid, false);
		long n;

		if (dfd < 0) {
			if (dfd != -ENOENT)
				rc = dfd;
			continue;
		}
		opened++;
		while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				struct linux_dirent64_ *d = (void *)(buf + off);
				int pid;
				uint64_t start, now_start;

				off += d->d_reclen;
				if (d->d_name[0] == '.') {
					/* a temporary whose maker died while making it */
					const char *q = d->d_name + 1;
					uint64_t tpid, tstart;

					if (take_num(&q, 10, &tpid) && *q++ == '-' &&
					    take_num(&q, 10, &tstart) && !strcmp(q, ".tmp") && tpid &&
					    tpid < INT_MAX &&
					    (proc_start((int)tpid, &now_start, NULL, 0) || now_start != tstart))
						unlinkat(dfd, d->d_name, 0);
					continue;
				}
				if (!parse_name(d->d_name, &pid, &start))
					continue;
				if (!read_entry(dfd, d->d_name, uid, true, &page)) {
					found++;
					if (fn)
						fn(&page, arg);
				}
			}
		}
		close(dfd);
	}
	return opened ? found : rc;
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

static void sweep_stale(void)
{
	uid_t uid = geteuid();
	int removed = 0;

	for (int which = 0; which < 2 && removed < SWEEP_MAX; which++) {
		char buf[4096] __attribute__((aligned(8)));
		int dfd = dir_open(which, uid, false);
		long n;

		if (dfd < 0)
			continue;
		while (removed < SWEEP_MAX && (n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
			for (long off = 0; off < n && removed < SWEEP_MAX;) {
				struct linux_dirent64_ *d = (void *)(buf + off);
				uint64_t start, now_start;
				int pid;

				off += d->d_reclen;
				if (!parse_name(d->d_name, &pid, &start))
					continue;
				if ((proc_start(pid, &now_start, NULL, 0) || now_start != start) &&
				    !unlinkat(dfd, d->d_name, 0))
					removed++;
			}
		close(dfd);
	}
}

/* ---- formatting -------------------------------------------------------- */

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

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_json_str(struct out *o, const char *s, size_t max)
{
	put(o, "\"");
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
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

size_t hy_export_format(const struct hy_export_page *p, const struct hy_export_snap *since,
			enum hy_export_fmt fmt, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	const struct hy_stats *st, *st0;
	struct hy_stats zero;
	char comm[20], backend[20], nodes[40], a[32], b[32];
	double up = 0, dt = 0;
	bool rates;
	int ntiers;

	if (!len)
		return 0;
	buf[0] = 0;
	if (fmt == HY_EXPORT_HEAD || !p) {
		put(&o, "%-8s %-16s %-7s %5s %11s %11s %10s %10s %7s %9s\n", "PID", "COMMAND",
		    "BACKEND", "TIERS", "MANAGED", "FAST TIER", "PROMOTED", "DEMOTED", "EPOCHS",
		    "UPTIME");
		return o.n;
	}
	st = &p->cur.st;
	ntiers = tiers_of(p);
	memset(&zero, 0, sizeof(zero));
	if (!since)
		since = p->prev.mono_ns ? &p->prev : NULL;
	st0 = since ? &since->st : &zero;
	if (p->cur.mono_ns > p->start_ns)
		up = (double)(p->cur.mono_ns - p->start_ns) / 1e9;
	if (since && p->cur.mono_ns > since->mono_ns)
		dt = (double)(p->cur.mono_ns - since->mono_ns) / 1e9;
	else if (!since)
		dt = up;
	rates = dt >= 0.05; /* over less, a per-second figure is noise */
	clean(p->comm, sizeof(p->comm), comm, sizeof(comm));
	clean(p->backend, sizeof(p->backend), backend, sizeof(backend));

	if (fmt == HY_EXPORT_ROW) {
		put(&o, "%-8d %-16s %-7s %5d %11s %11s %10llu %10llu %7llu %8.1fs\n", (int)p->pid, comm,
		    backend, ntiers, hy_human_bytes((double)st->tracked_bytes, a, sizeof(a)),
		    hy_human_bytes((double)st->tier_bytes[0], b, sizeof(b)),
		    (unsigned long long)st->promote_pages, (unsigned long long)st->demote_pages,
		    (unsigned long long)st->epochs, up);
		return o.n;
	}

	if (fmt == HY_EXPORT_JSON) {
		put(&o, "{\"pid\": %d, \"command\": ", (int)p->pid);
		put_json_str(&o, p->comm, sizeof(p->comm));
		put(&o, ", \"uid\": %u, \"libhybrid\": ", (unsigned)p->uid);
		put_json_str(&o, p->lib_version, sizeof(p->lib_version));
		put(&o, ", \"backend\": ");
		put_json_str(&o, p->backend, sizeof(p->backend));
		put(&o, ", \"state\": \"%s\", \"epoch_us\": %llu, \"uptime_s\": %.3f, "
			"\"loopback\": %s, \"tracked_bytes\": %llu, \"tiers\": [",
		    p->state == HY_EXPORT_ENDED ? "ended" : "live", (unsigned long long)p->epoch_us,
		    up, p->loopback ? "true" : "false", (unsigned long long)st->tracked_bytes);
		for (int t = 0; t < ntiers; t++) {
			put(&o, "%s{\"tier\": %d, \"nodes\": ", t ? ", " : "", t);
			put_json_str(&o, p->tier_nodes[t], sizeof(p->tier_nodes[t]));
			put(&o, ", \"bytes\": %llu}", (unsigned long long)st->tier_bytes[t]);
		}
		put(&o, "], \"counters\": {");
		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			put(&o, "%s\"%s\": %llu", i ? ", " : "", counters[i].name,
			    (unsigned long long)get(st, counters[i].off));
		put(&o, "}, \"rate_interval_s\": %.3f, \"per_second\": {", dt);
		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
			uint64_t v = get(st, counters[i].off), v0 = get(st0, counters[i].off);

			put(&o, "%s\"%s\": ", i ? ", " : "", counters[i].name);
			if (rates)
				put(&o, "%.3f", v >= v0 ? (double)(v - v0) / dt : 0.0);
			else
				put(&o, "null");
		}
		put(&o, "}}\n");
		return o.n;
	}

	/* text: a header, bytes per tier, then counters with their rates */
	put(&o, "pid %d (%s), libhybrid %s, backend %s, %d tiers%s", (int)p->pid, comm,
	    clean(p->lib_version, sizeof(p->lib_version), a, sizeof(a)), backend, ntiers,
	    p->loopback ? " (loopback)" : "");
	if (p->epoch_us)
		put(&o, ", epoch %s", hy_format_duration(p->epoch_us, b, sizeof(b)));
	put(&o, "%s\n", p->state == HY_EXPORT_ENDED ? ", ended" : "");
	put(&o, "up %.1f s, %llu epochs, policy thread CPU %.1f ms", up,
	    (unsigned long long)st->epochs, (double)st->policy_ns / 1e6);
	if (up >= 0.05)
		put(&o, " (%.2f%%)", (double)st->policy_ns / 1e9 / up * 100);
	put(&o, "\n");
	put(&o, "%-24s", "");
	for (int t = 0; t < ntiers; t++) {
		snprintf(a, sizeof(a), "tier %d", t);
		put(&o, " %12s", a);
	}
	put(&o, " %12s\n", "total");
	if (p->tier_nodes[0][0]) {
		put(&o, "%-24s", "nodes");
		for (int t = 0; t < ntiers; t++)
			put(&o, " %12s",
			    clean(p->tier_nodes[t], sizeof(p->tier_nodes[t]), nodes, sizeof(nodes)));
		put(&o, "\n");
	}
	put(&o, "%-24s", "managed");
	for (int t = 0; t < ntiers; t++)
		put(&o, " %12s", hy_human_bytes((double)st->tier_bytes[t], a, sizeof(a)));
	put(&o, " %12s\n", hy_human_bytes((double)st->tracked_bytes, a, sizeof(a)));
	put(&o, "%-24s %12s %12s", "", "total", "per second");
	if (rates)
		put(&o, " (over %.1f s)", dt);
	put(&o, "\n");
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		const struct counter *c = &counters[i];
		uint64_t v = get(st, c->off), v0 = get(st0, c->off);
		double r = rates && v >= v0 ? (double)(v - v0) / dt : 0.0;

		if (c->off == F(epochs) || c->off == F(policy_ns))
			continue; /* in the header */
		if (c->bytes)
			put(&o, "%-24s %12s", c->label, hy_human_bytes((double)v, a, sizeof(a)));
		else
			put(&o, "%-24s %12llu", c->label, (unsigned long long)v);
		if (!rates)
			put(&o, " %12s\n", "-");
		else if (c->bytes)
			put(&o, " %12s\n", hy_human_bytes(r, b, sizeof(b)));
		else
			put(&o, " %12.1f\n", r);
	}
	return o.n;
}
