/* SPDX-License-Identifier: MIT */
/*
 * track_sync — write tracking with a fault-handler thread (any kernel with
 * uffd-wp, 5.7+; the only backend on 6.1).
 *
 * A write to an armed page blocks the writer and queues a message on the
 * userfaultfd; the handler thread reads it, un-protects the page (which
 * wakes the writer) and records the page in its range's written bitmap.
 * Harvest takes the bits (atomically), keeps those of armed pages and
 * re-protects them.  The userfaultfd must take faults raised inside system
 * calls: with UFFD_USER_MODE_ONLY a read(2) into an armed page would fail
 * with EFAULT instead of reaching us, so track.c refuses that case.
 *
 * The handler path: poll(2), read(2) of up to 64 messages into its stack,
 * then per message one UFFDIO_WRITEPROTECT (mode 0: un-protect and wake)
 * and one atomic OR into a bitmap.  It allocates nothing, takes no lock,
 * touches no tracked memory, runs with every signal blocked (so no handler
 * of the program's can run on it and touch tracked memory), and blocks only
 * in poll and read.
 *
 * It records before it un-protects, so a write the program has completed
 * is always in the bitmap by the time the writer runs again.  A harvest
 * that takes a bit may then be ahead of that un-protect: it waits for the
 * handler's batch to end (the grace period below) before re-protecting,
 * or the late un-protect would leave an armed page unprotected.
 *
 * The handler finds a page's range in t->snap, an immutable sorted copy of
 * the table that add/remove republish.  Grace period: the handler makes
 * t->hseq odd (seq_cst) before it loads t->snap and even when it is done
 * with the batch; the publisher swaps t->snap (seq_cst), then if hseq is
 * odd waits for it to change before freeing the old copy or dead bitmaps.
 * One of the two always sees the other's store, so a batch that loaded the
 * old copy has finished before it is freed.  The publisher waits only on a
 * batch in progress, which never waits on the publisher.  If a snapshot
 * cannot be allocated the handler gets none: it still releases every
 * fault, and records nothing until the next successful publish.
 *
 * Unpopulated pages: with UFFD_FEATURE_WP_UNPOPULATED (Linux 6.4) arming a
 * never-touched page leaves a marker and its first write faults.  Without
 * it (6.1-6.3) protecting a page that has no PTE does nothing: its first
 * write is not seen.  arm() re-protects every chosen page each epoch
 * (rearm_all), so such a page is armed from the first epoch after it was
 * populated.
 *
 * The fault budget (sync_fault_budget): the handler counts the faults it
 * takes against what the epoch allowed at arming, and the one that spends
 * it releases every tracked range (budget_spent, release_all), so the limit
 * holds whatever the governor armed.  A new budget waits for the batch in
 * progress (quiesce: the grace period below), so a release that spent the
 * last epoch's budget never undoes the next epoch's arming.
 *
 * Huge pages: the handler releases the 4 KiB page written; for a PMD-mapped
 * THP the kernel splits the PMD to do so (measured on 6.18), like async.
 */
#include <poll.h>
#include <signal.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "track_impl.h"

#define MSGS 64

/* Record page addr as written, if a range of the snapshot holds it. */
static void record(const struct trk_snap *s, uintptr_t addr)
{
	size_t lo = 0, hi = s ? s->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct trk_snap_ent *e = &s->e[mid];

		if (e->end <= addr) {
			lo = mid + 1;
		} else if (e->start > addr) {
			hi = mid;
		} else {
			size_t bit = e->off + (addr - e->start) / TRK_PG;
			__atomic_fetch_or(&e->written[bit / 64], (uint64_t)1 << (bit % 64),
					  __ATOMIC_RELEASE);
			return;
		}
	}
}

/*
 * The fault budget (hy_track_set_fault_budget): true when this fault spent
 * it.  The handler then releases every range of the snapshot: no armed page
 * is left to fault until the next arming, so the program never takes more
 * faults than the budget allows, however much was armed or written.
 */
static bool budget_spent(struct hy_track *t)
{
	return __atomic_load_n(&t->fault_budget, __ATOMIC_RELAXED) &&
	       __atomic_sub_fetch(&t->fault_left, 1, __ATOMIC_SEQ_CST) == 0;
}

static void release_all(struct hy_track *t, const struct trk_snap *s)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (trk_prot(t, s->e[i].start, s->e[i].end, false) && errno != ENOENT)
			__atomic_store_n(&t->handler_errno, errno, __ATOMIC_RELAXED);
}

static void *handler(void *arg)
{
	struct hy_track *t = arg;
	struct uffd_msg msg[MSGS];
	struct pollfd pf[2] = {{.fd = t->uffd, .events = POLLIN},
			       {.fd = t->stopfd, .events = POLLIN}};

	prctl(PR_SET_NAME, "hybrid-uffd", 0, 0, 0);
	for (;;) {
		const struct trk_snap *s;
		uint64_t faults = 0;
		ssize_t got;

		/* a timeout too: the stop may come as a flag alone, when the
		 * program closed our eventfd */
		int ready = poll(pf, 2, 1000);

		if (__atomic_load_n(&t->stopping, __ATOMIC_ACQUIRE))
			break;
		if (ready < 0) {
			if (errno != EINTR)
				__atomic_store_n(&t->handler_errno, errno, __ATOMIC_RELAXED);
			continue;
		}
		if (pf[1].revents & POLLNVAL)
			pf[1].fd = -1; /* our eventfd is gone: serve faults on */
		else if (pf[1].revents)
			break;
		/* the program closed our userfaultfd (its release woke every
		 * blocked thread and dropped the registrations): nothing more to
		 * serve, and the number may soon be one of its own files */
		if (pf[0].revents & (POLLNVAL | POLLHUP | POLLERR) ||
		    __atomic_load_n(&t->uffd, __ATOMIC_ACQUIRE) != pf[0].fd)
			break;
		if (!(pf[0].revents & POLLIN))
			continue;
		got = read(pf[0].fd, msg, sizeof(msg));
		if (got < 0) {
			if (errno != EAGAIN && errno != EINTR)
				__atomic_store_n(&t->handler_errno, errno, __ATOMIC_RELAXED);
			continue;
		}
		__atomic_add_fetch(&t->hseq, 1, __ATOMIC_SEQ_CST);
		s = __atomic_load_n(&t->snap, __ATOMIC_SEQ_CST);
		for (size_t k = 0; k < (size_t)got / sizeof(msg[0]); k++) {
			uintptr_t a = (uintptr_t)msg[k].arg.pagefault.address & ~(TRK_PG - 1);
			struct uffdio_range rg = {.start = a, .len = TRK_PG};

			if (msg[k].event != UFFD_EVENT_PAGEFAULT)
				continue;
			if (msg[k].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
				record(s, a);
				faults++;
				if (budget_spent(t))
					release_all(t, s);
				if (!trk_prot(t, a, a + TRK_PG, false))
					continue;
			}
			/* never leave a thread blocked: at worst it faults again */
			if (hy_sys_ioctl(t->uffd, UFFDIO_WAKE, &rg) && errno != ENOENT)
				__atomic_store_n(&t->handler_errno, errno, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&t->hseq, 1, __ATOMIC_RELEASE);
		if (faults)
			hy_stat_add(__atomic_load_n(&t->st, __ATOMIC_ACQUIRE), wp_faults, faults);
	}
	return NULL;
}

static int sync_open(struct hy_track *t, struct hy_err *err)
{
	uint64_t f = t->kf.wp_unpopulated ? UFFD_FEATURE_WP_UNPOPULATED : 0;
	sigset_t all, old;
	pthread_attr_t at;
	int rc = hy_trk_uffd_open(t, true, f, err);

	if (rc)
		return rc;
	t->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stopfd < 0) {
		hy_err_set(err, "eventfd: %s", strerror(errno));
		return -errno;
	}
	/* A small stack (the handler needs ~3 KiB) and no signals, ever. */
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->thread, &at, handler, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (rc) {
		hy_err_set(err, "cannot start the fault-handler thread: %s", strerror(rc));
		return -rc;
	}
	t->thread_up = true;
	return 0;
}

static void sync_stop(struct hy_track *t)
{
	uint64_t one = 1;

	if (!t->thread_up)
		return;
	__atomic_store_n(&t->stopping, 1, __ATOMIC_RELEASE);
	while (t->stopfd >= 0 && write(t->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	pthread_join(t->thread, NULL);
	t->thread_up = false;
}

static void grace(struct hy_track *t)
{
	uint64_t s = __atomic_load_n(&t->hseq, __ATOMIC_SEQ_CST);

	if (!t->thread_up || !(s & 1))
		return;
	while (__atomic_load_n(&t->hseq, __ATOMIC_ACQUIRE) == s)
		sched_yield();
}

static void sync_publish(struct hy_track *t)
{
	struct trk_snap *s = NULL, *old;
	size_t live = 0, bytes;

	for (size_t i = 0; i < t->n; i++)
		live += !t->r[i].dead;
	bytes = sizeof(*s) + live * sizeof(s->e[0]);
	if (live && !(s = hy_os_alloc(bytes)))
		hy_warn_once("out of memory for the fault handler's range table: "
			     "writes are not recorded until the next change");
	if (s) {
		s->bytes = bytes;
		for (size_t i = 0; i < t->n; i++) {
			const struct trk_range *r = &t->r[i];
			if (!r->dead)
				s->e[s->n++] =
				    (struct trk_snap_ent){r->start, r->end, r->off, r->written};
		}
	}
	old = __atomic_exchange_n(&t->snap, s, __ATOMIC_SEQ_CST);
	grace(t);
	if (old)
		hy_os_free(old, old->bytes);
}

static long sync_harvest(struct hy_track *t, struct trk_range *r, size_t first, size_t n,
			 uint64_t *out)
{
	int e = __atomic_exchange_n(&t->handler_errno, 0, __ATOMIC_RELAXED);
	long found = 0, rc;

	if (e)
		hy_warn_once("the write-fault handler met an error: %s", strerror(e));
	for (size_t w = 0; w < trk_words(n); w++) {
		size_t nb = n - w * 64 < 64 ? n - w * 64 : 64;
		uint64_t got = trk_take64(r->written, first + w * 64, nb, ~(uint64_t)0);

		out[w] = got & trk_get64(r->armed, first + w * 64, nb);
		found += __builtin_popcountll(out[w]);
	}
	if (found)
		grace(t); /* every un-protect of the faults taken is done */
	rc = hy_trk_wp_runs(t, out, 0, trk_page(r, first), 0, n, true);
	if (found)
		hy_stat_add(t->st, pages_armed, found);
	return rc < 0 ? rc : found;
}

const struct trk_ops hy_trk_sync_ops = {
    .name = "sync",
    .open = sync_open,
    .stop = sync_stop,
    .harvest = sync_harvest,
    .publish = sync_publish,
    .quiesce = grace,
    .written_map = true,
    .rearm_all = true,
};
