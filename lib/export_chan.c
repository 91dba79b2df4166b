/* SPDX-License-Identifier: MIT */
/*
 * export_chan — the live-statistics channel (see export_chan.h).
 *
 * No heap, no stdio streams, no stdout: the writer calls this from inside
 * the managed process, so the memfd is made by the raw system call,
 * directories are read with getdents64 into a buffer on the stack,
 * snprintf only formats numbers into paths (which glibc does without
 * allocating), and entries are mapped by the raw system call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export_chan.h"
#include "kernel_compat.h"

void *hy_chan_map(void *addr, int prot, int flags, int fd)
{
	return hy_sys_map(addr, HY_CHAN_LEN, prot, flags, fd, 0);
}

/* ---- the writer's side ------------------------------------------------- */

/*
 * MFD_NOEXEC_SEAL first: from Linux 6.3 on, vm.memfd_noexec=2 refuses a
 * memfd without it (and a kernel may log a line for one made without
 * either exec flag); before 6.3 the flag is unknown (EINVAL), and the
 * memfd is made without it.  The seals make the size final, so a reader's
 * mapping can never be cut short under it; F_SEAL_SEAL closes the list.
 */
int hy_chan_create(void)
{
	int fd, hi, rc;

	if ((rc = hy_fault(HY_FAULT_MEMFD)))
		return -rc;
	fd = (int)syscall(SYS_memfd_create, HY_CHAN_NAME,
			  MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_memfd_create, HY_CHAN_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, HY_CHAN_LEN) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	/* out of the way, if the descriptor limit leaves room up there */
	hi = fcntl(fd, F_DUPFD_CLOEXEC, HY_CHAN_FD_MIN);
	if (hi >= 0) {
		close(fd);
		fd = hi;
	}
	return fd;
}

/* ---- the reader's side ------------------------------------------------- */

/* getdents64's record (glibc's readdir would allocate its DIR). */
struct linux_dirent64_ {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/*
 * Call fn for each name of the directory open as dfd, until it returns
 * true.  0, or -errno of getdents64 (/proc/PID/fd: ENOENT once PID is
 * gone).
 */
static int each_name(int dfd, bool (*fn)(int dfd, const char *name, void *arg), void *arg)
{
	char buf[4096] __attribute__((aligned(8)));
	long n;

	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n;) {
			struct linux_dirent64_ *d = (void *)(buf + off);

			off += d->d_reclen;
			if (d->d_name[0] != '.' && fn(dfd, d->d_name, arg))
				return 0;
		}
	return n < 0 ? -errno : 0;
}

/* A decimal number that is the whole of s, and fits an int > 0; else 0. */
static int whole_number(const char *s)
{
	long v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 99999999)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return (int)v;
}

struct fd_walk {
	bool (*fn)(int fd, void *arg);
	void *arg;
};

/*
 * Open what descriptor N of /proc/PID/fd (dfd) refers to, read-only, if it
 * is a regular file of one page: looked at through an O_PATH descriptor
 * first, so that nothing else (a FIFO, a device: a path named like our
 * link inside some chroot) is ever really opened.  The descriptor, or -1.
 */
static int open_page_file(int dfd, const char *name)
{
	char self[40];
	struct stat st;
	int pfd = openat(dfd, name, O_PATH | O_CLOEXEC), fd = -1;

	if (pfd < 0)
		return -1;
	if (!fstat(pfd, &st) && S_ISREG(st.st_mode) && st.st_size == (off_t)HY_CHAN_LEN) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
		fd = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	}
	close(pfd);
	return fd;
}

/*
 * One descriptor N of /proc/PID/fd (dfd): an entry if its link is ours and
 * what it opens to is a regular file of one page with its size sealed.
 * Anything that fails on the way (the descriptor closed meanwhile, the
 * process gone) is simply not an entry.
 */
static bool one_fd(int dfd, const char *name, void *arg)
{
	struct fd_walk *w = arg;
	char link[sizeof(HY_CHAN_LINK) + 1];
	struct stat st;
	ssize_t n;
	bool stop;
	int fd, seals;

	n = readlinkat(dfd, name, link, sizeof(link));
	if (n != (ssize_t)strlen(HY_CHAN_LINK) || memcmp(link, HY_CHAN_LINK, (size_t)n))
		return false;
	fd = open_page_file(dfd, name);
	if (fd < 0)
		return false;
	/* the size checked again, now that it is sealed: it stays so */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) ||
	    st.st_size != (off_t)HY_CHAN_LEN) {
		close(fd);
		return false;
	}
	stop = w->fn(fd, w->arg);
	close(fd);
	return stop;
}

int hy_chan_each(int pid, bool (*fn)(int fd, void *arg), void *arg)
{
	struct fd_walk w = {fn, arg};
	char path[40];
	int dfd, rc;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH
		       : errno == EPERM			 ? -EACCES
							 : -errno;
	rc = each_name(dfd, one_fd, &w);
	close(dfd);
	return rc == -ENOENT ? -ESRCH : rc;
}

int hy_chan_own_pid(int pid)
{
	char path[40], buf[2048], *l, *end;
	long own = pid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pid;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return pid;
	buf[n] = 0;
	l = strstr(buf, "\nNSpid:");
	if (!l)
		return pid;
	/* its pid in each namespace, outermost first: the last is its own */
	for (l += 7; *l && *l != '\n'; l = end) {
		long v = strtol(l, &end, 10);

		if (end == l)
			break;
		own = v;
	}
	return own > 0 && own <= 0x7fffffff ? (int)own : pid;
}

struct proc_walk {
	bool (*fn)(int pid, void *arg);
	void *arg;
};

static bool one_proc(int dfd, const char *name, void *arg)
{
	struct proc_walk *w = arg;
	int pid = whole_number(name);

	(void)dfd;
	return pid > 0 && w->fn(pid, w->arg);
}

int hy_chan_procs(bool (*fn)(int pid, void *arg), void *arg)
{
	struct proc_walk w = {fn, arg};
	int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (dfd < 0)
		return -errno;
	rc = each_name(dfd, one_proc, &w);
	close(dfd);
	return rc;
}
