/* SPDX-License-Identifier: MIT */
/*
 * export_chan — the live-statistics channel (see export_chan.h).
 *
 * No heap, no stdio streams, no stdout: the writer calls this from inside
 * the managed process (its stale sweep on the policy thread), so files are
 * read with open/read into fixed buffers, directories with getdents64 into
 * one on the stack, snprintf only formats numbers and paths (which glibc
 * does without allocating), and entries are mapped by the raw system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "export_chan.h"

/* ---- small system helpers ---------------------------------------------- */

void *hy_chan_map(void *addr, int prot, int flags, int fd)
{
	long p = hy_sys_mmap(addr, HY_CHAN_LEN, prot, flags, fd, 0);
	return p < 0 && p > -4096 ? NULL : (void *)p;
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

/* ---- processes --------------------------------------------------------- */

/*
 * The command is field 2 of /proc/PID/stat, in parentheses and possibly
 * containing them: the fields after it start after the last ')'.
 */
int hy_chan_proc_start(int pid, uint64_t *start, char *comm, size_t clen)
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

int hy_chan_proc_uids(int pid, uid_t *ruid, uid_t *euid)
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

bool hy_chan_proc_gone(int pid, uint64_t start)
{
	uint64_t now_start;

	return hy_chan_proc_start(pid, &now_start, NULL, 0) || now_start != start;
}

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

bool hy_chan_live(const struct hy_export_page *p, int pid, uint64_t start, uid_t uid, dev_t dev,
		  ino_t ino)
{
	return p->pid == pid && p->starttime == start && p->uid == uid &&
	       p->state == HY_EXPORT_LIVE && !hy_chan_proc_gone(pid, start) &&
	       maps_file(pid, dev, ino) != 0;
}

/* ---- names ------------------------------------------------------------- */

void hy_chan_name(int pid, uint64_t start, char *buf, size_t len)
{
	snprintf(buf, len, "%d-%llu", pid, (unsigned long long)start);
}

void hy_chan_tmp_name(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, ".%s.tmp", name);
}

bool hy_chan_parse_name(const char *s, int *pid, uint64_t *start)
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

bool hy_chan_tmp_stale(const char *name)
{
	const char *q = name + 1;
	uint64_t tpid, tstart;

	return name[0] == '.' && take_num(&q, 10, &tpid) && *q++ == '-' &&
	       take_num(&q, 10, &tstart) && !strcmp(q, ".tmp") && tpid && tpid < INT_MAX &&
	       hy_chan_proc_gone((int)tpid, tstart);
}

/* ---- the directory ----------------------------------------------------- */

/* A directory fit to hold uid's entries: a real directory, uid's, closed
 * to group and others. */
static bool dir_ok(const struct stat *st, uid_t uid)
{
	return S_ISDIR(st->st_mode) && st->st_uid == uid && !(st->st_mode & 077);
}

const char *hy_chan_dir(int which, uid_t uid, char *buf, size_t len)
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
 * The checks are made on the opened descriptor, which is what is used
 * afterwards, so a directory swapped in between is never trusted.
 */
int hy_chan_dir_open(int which, uid_t uid, bool create)
{
	char path[128];
	struct stat st;
	bool made = false;
	int fd;

	if (!hy_chan_dir(which, uid, path, sizeof(path)))
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

/* getdents64's record (glibc's readdir would allocate its DIR). */
struct linux_dirent64_ {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int hy_chan_walk(uid_t uid, bool (*fn)(int dfd, const char *name, void *arg), void *arg)
{
	int opened = 0, rc = -ENOENT;
	bool stop = false;

	for (int which = 0; which < 2 && !stop; which++) {
		char buf[4096] __attribute__((aligned(8)));
		int dfd = hy_chan_dir_open(which, uid, false);
		long n;

		if (dfd < 0) {
			if (dfd != -ENOENT)
				rc = dfd;
			continue;
		}
		opened++;
		while (!stop && (n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
			for (long off = 0; off < n && !stop;) {
				struct linux_dirent64_ *d = (void *)(buf + off);

				off += d->d_reclen;
				stop = fn(dfd, d->d_name, arg);
			}
		close(dfd);
	}
	return opened ? opened : rc;
}
