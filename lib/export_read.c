/* SPDX-License-Identifier: MIT */
/*
 * export_read — the reading side of the live statistics (see
 * export_read.h).  The reader's half of the sequence counter is snapshot()
 * below; the writer's is hy_export_epoch (export.c).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "export_chan.h"
#include "export_read.h"

/*
 * Copy the entry open as fd into out, consistently, and check that it is
 * the live entry of the process whose own pid (hy_chan_own_pid) is `own`.
 * 0; -ENOENT (not made yet, ended, or not its: a forked child holds its
 * parent's until it lets go of it), -EPROTO (not ours to understand),
 * -EAGAIN (writer stuck mid-copy), -ENOMEM.
 */
static int snapshot(int fd, int own, struct hy_export_page *out)
{
	const struct hy_export_page *p;
	uint64_t magic;
	int rc = -EAGAIN;

	p = hy_chan_map(NULL, PROT_READ, MAP_SHARED, fd);
	if (!p)
		return -ENOMEM;
	/* the writer stores the magic last (export.c: publish) */
	magic = __atomic_load_n(&p->magic, __ATOMIC_ACQUIRE);
	if (magic != HY_EXPORT_MAGIC || p->version != HY_EXPORT_VERSION || p->size != sizeof(*p)) {
		hy_sys_munmap((void *)p, HY_CHAN_LEN);
		return magic ? -EPROTO : -ENOENT;
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
	if (!rc && (out->pid != own || out->state != HY_EXPORT_LIVE))
		rc = -ENOENT;
	return rc;
}

struct find {
	int own; /* the process's pid as it sees it */
	struct hy_export_page *out;
	int rc; /* 0 found; else the most telling error so far */
};

/* One entry of pid's descriptor table: the first that is pid's own wins. */
static bool try_entry(int fd, void *arg)
{
	struct find *f = arg;
	int rc = snapshot(fd, f->own, f->out);

	if (rc != -ENOENT || f->rc == -ENOENT)
		f->rc = rc;
	return rc == 0;
}

int hy_export_read(int pid, struct hy_export_page *out)
{
	struct find f = {hy_chan_own_pid(pid), out, -ENOENT};
	int rc = hy_chan_each(pid, try_entry, &f);

	/* a copy made before the process ended is still a copy; shown with
	 * the pid it has here, not in its own namespace */
	if (f.rc == 0)
		out->pid = pid;
	return f.rc == 0 ? 0 : rc ? rc : f.rc;
}

struct listing {
	void (*fn)(const struct hy_export_page *p, void *arg);
	void *arg;
	int found;
	struct hy_export_page page;
};

/* One process: its live view handed on, if it has one we may read. */
static bool list_one(int pid, void *arg)
{
	struct listing *l = arg;

	if (!hy_export_read(pid, &l->page)) {
		l->found++;
		if (l->fn)
			l->fn(&l->page, l->arg);
	}
	return false;
}

int hy_export_list(void (*fn)(const struct hy_export_page *p, void *arg), void *arg)
{
	static struct listing l;
	int rc;

	l.fn = fn;
	l.arg = arg;
	l.found = 0;
	rc = hy_chan_procs(list_one, &l);
	return rc < 0 ? rc : l.found;
}
