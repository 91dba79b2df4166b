/* SPDX-License-Identifier: MIT */
/*
 * export_read — the reading side of the live statistics (see
 * export_read.h).  The reader's half of the sequence counter is snapshot()
 * below; the writer's is hy_export_epoch (export.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export_chan.h"
#include "export_read.h"

/*
 * Copy the entry file open as fd into out, consistently, and check it.
 * 0, -EPROTO (not ours to understand), -EAGAIN (writer stuck mid-copy).
 */
static int snapshot(int fd, struct hy_export_page *out)
{
	const struct hy_export_page *p;
	int rc = -EAGAIN;

	p = hy_chan_map(NULL, PROT_READ, MAP_SHARED, fd);
	if (!p)
		return -ENOMEM;
	if (__atomic_load_n(&p->magic, __ATOMIC_RELAXED) != HY_EXPORT_MAGIC ||
	    p->version != HY_EXPORT_VERSION || p->size != sizeof(*p)) {
		hy_sys_munmap((void *)p, HY_CHAN_LEN);
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
	hy_sys_munmap((void *)p, HY_CHAN_LEN);
	return rc;
}

/*
 * Open, read and check the entry name of directory dfd (uid's).  0 with
 * *out filled when it is live; -ENOENT when stale (removed if remove);
 * other errors as hy_export_read.
 */
static int read_entry(int dfd, const char *name, uid_t uid, bool remove, struct hy_export_page *out)
{
	uint64_t start;
	struct stat st;
	int pid, fd, rc;

	if (!hy_chan_parse_name(name, &pid, &start))
		return -ENOENT;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -ENOENT : -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != uid ||
	    st.st_size < (off_t)HY_CHAN_LEN) {
		close(fd);
		return -ENOENT; /* not something we made: ignored, never removed */
	}
	rc = snapshot(fd, out);
	close(fd);
	if (rc)
		return rc;
	if (!hy_chan_live(out, pid, start, uid, st.st_dev, st.st_ino)) {
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
	if (hy_chan_proc_start(pid, &start, NULL, 0))
		return -ESRCH;
	hy_chan_name(pid, start, name, sizeof(name));
	uids[n++] = geteuid();
	/* root looks where the process's user keeps its entries */
	if (uids[0] == 0 && !hy_chan_proc_uids(pid, &ruid, &euid)) {
		if (euid != 0)
			uids[n++] = euid;
		if (ruid != 0 && ruid != euid)
			uids[n++] = ruid;
	}
	for (int u = 0; u < n; u++)
		for (int which = 0; which < 2; which++) {
			int dfd = hy_chan_dir_open(which, uids[u], false), r;

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
	if (rc == -ENOENT && uids[0] != 0 && !hy_chan_proc_uids(pid, &ruid, &euid) &&
	    euid != uids[0])
		rc = -EACCES;
	return rc;
}

struct listing {
	void (*fn)(const struct hy_export_page *p, void *arg);
	void *arg;
	uid_t uid;
	int found;
};

/* One name of the user's directory: a live entry is handed on, a stale one
 * removed, and so is a temporary whose maker died while making it. */
static bool list_one(int dfd, const char *name, void *arg)
{
	static struct hy_export_page page;
	struct listing *l = arg;

	if (name[0] == '.') {
		if (hy_chan_tmp_stale(name))
			unlinkat(dfd, name, 0);
		return false;
	}
	if (!read_entry(dfd, name, l->uid, true, &page)) {
		l->found++;
		if (l->fn)
			l->fn(&page, l->arg);
	}
	return false;
}

int hy_export_list(void (*fn)(const struct hy_export_page *p, void *arg), void *arg)
{
	struct listing l = {fn, arg, geteuid(), 0};
	int rc = hy_chan_walk(l.uid, list_one, &l);

	return rc < 0 ? rc : l.found;
}
