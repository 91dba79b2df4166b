/* SPDX-License-Identifier: MIT */
/*
 * shared_tree — a process tree sharing one table, under the preload (issue
 * 20): the hot set found whichever process touches it, one member leads,
 * a killed lead is replaced, no byte lost.
 *
 *   shared_tree [-p WORKERS] [-m MIB] [-h HOT_PCT] [-s] [-k] [-c] [-H] [-F NODE] [-E EPOCHS]
 *
 * Three roles.  The supervisor (this process) makes a small control page
 * (shared, below min_size: not managed) and forks the creator.  The
 * creator maps the table (MAP_SHARED|MAP_ANONYMOUS: the tree's, managed
 * with a slot on the board), writes every page's header (its index) and
 * forks the workers.  Workers write the hot set over and over: each its
 * own counter in every hot page; the creator never touches the table
 * again.  Every member reports its library counters (hybrid_get_stats,
 * found with dlsym) into the control page, 100 times a second.
 *
 * Phase 1: until the hot set is on NODE (-F, default 0: the VM's DRAM; the
 * supervisor asks where the creator's pages are, move_pages on its pid) or
 * EPOCHS of the tree have passed (-E, default 60: the default 1% tracking
 * budget samples little of the table per epoch in the emulated VM).  With -F -1 (the host's
 * loopback pair: pages never move) placement is not checked, only that one
 * member leads and that every member counts the table as shared.
 * With -k: the lead is killed (SIGKILL) and phase 2 checks another member
 * takes the lead and, with -F, finds a new hot set (another part of the
 * table) on its own; before that, with -F, that the new lead knows where
 * the pages are (in its first 8 epochs, the old hot set still written, it
 * promotes no more than what of it is not on NODE, plus 64 pages).  At the
 * end every surviving member verifies every page's header, each worker
 * its counters in every hot page it wrote, and each exits 1 on a mismatch.  With -H, after phase 1 a worker that does
 * not lead hints 1 MiB of cold table HOT (hybrid_madvise): the tree's
 * hint, so the lead moves it (with -F: checked on NODE).  With -c, members come and go all along
 * (fork, malloc, read, write, exit; some exec): see churner().
 *
 * Prints what it measured (epochs to the target, hot and cold pages on
 * NODE); exit 0 pass, 1 fail, 77 when libhybrid is not loaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support.h"

#define PG	    4096u
#define MAX_MEMBERS 17 /* the creator and up to 16 workers */

enum phase { RUN = 0, STOP = 1 };

struct member {
	int pid;
	int dead; /* killed by the supervisor */
	uint64_t epochs0; /* its epochs when it started (a child's counters
			   * start as its parent's) */
	uint64_t epochs, shared_bytes, lead_bytes, promote_pages;
	uint64_t beat; /* reports made */
};

struct ctl {
	int phase;
	int nmembers; /* the creator is member 0 */
	uintptr_t table;
	size_t pages;
	size_t hot_start, hot_pages, hot_step; /* hot page i: hot_start + i * hot_step */
	uint64_t gen;			       /* a new hot set: workers start over */
	uint64_t churned, churn_bad;	       /* -c: short-lived members, and what they saw wrong */
	int hint_by;			       /* -H: the member (not the lead) that hints, or 0 */
	int hint_rc;			       /* its hybrid_madvise's return + 1000 (0: not yet) */
	size_t hint_start, hint_pages;	       /* the range it hints HOT, cold otherwise */
	struct member m[MAX_MEMBERS];
};

static struct ctl *ctl;
static unsigned char *was_hot; /* the supervisor's: pages of an earlier hot set */
static int opt_workers = 4, opt_node = 0, opt_epochs = 60;
static size_t opt_mib = 64;
static unsigned opt_hot_pct = 10;
static bool opt_scattered, opt_kill, opt_churn, opt_hint;

static void nap_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&t, NULL);
}

static void report(int me)
{
	struct hybrid_stats s;
	struct member *m = &ctl->m[me];

	if (!hy_lib_stats(&s))
		return;
	__atomic_store_n(&m->epochs, s.epochs, __ATOMIC_RELAXED);
	__atomic_store_n(&m->shared_bytes, s.shared_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&m->lead_bytes, s.lead_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&m->promote_pages, s.promote_pages, __ATOMIC_RELAXED);
	__atomic_fetch_add(&m->beat, 1, __ATOMIC_RELEASE);
}

static uint64_t *page(size_t i)
{
	return (uint64_t *)(ctl->table + i * PG);
}

static size_t hot_page(size_t i)
{
	return ctl->hot_start + i * ctl->hot_step;
}

/* Worker w: its counter is word 8 + w of each hot page. */
static int worker(int me, int w)
{
	uint64_t gen = UINT64_MAX, rounds = 0;
	size_t start = 0, step = 1, n = 0;
	int bad = 0;
	struct hybrid_stats s;

	/* a program's first malloc: where a forked child's library goes live
	 * (volatile: a malloc freed at once is otherwise optimised away) */
	void *volatile first = malloc(64);
	free(first);
	hy_lib_stats(&s);
	ctl->m[me].epochs0 = s.epochs;

	while (__atomic_load_n(&ctl->phase, __ATOMIC_ACQUIRE) == RUN) {
		uint64_t g = __atomic_load_n(&ctl->gen, __ATOMIC_ACQUIRE);

		if (g != gen) { /* a new hot set: check the old one, start over */
			for (size_t i = 0; i < n; i++)
				bad += page(start + i * step)[8 + w] != rounds;
			gen = g, start = ctl->hot_start, step = ctl->hot_step, n = ctl->hot_pages;
			rounds = 0;
			for (size_t i = 0; i < n; i++)
				page(start + i * step)[8 + w] = 0;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t *p = page(start + i * step);

			bad += p[0] != start + i * step;
			p[8 + w] = rounds + 1;
		}
		if (__atomic_load_n(&ctl->hint_by, __ATOMIC_ACQUIRE) == me && !ctl->hint_rc) {
			int (*madv)(void *, size_t, int) =
				(int (*)(void *, size_t, int))dlsym(RTLD_DEFAULT, "hybrid_madvise");
			int rc = madv ? madv(page(ctl->hint_start), ctl->hint_pages * PG, HYBRID_HINT_HOT)
				      : -ENOSYS;

			__atomic_store_n(&ctl->hint_rc, rc + 1000, __ATOMIC_RELEASE);
		}
		rounds++;
		report(me);
		nap_ms(2);
	}
	for (size_t i = 0; i < n; i++)
		bad += page(start + i * step)[8 + w] != rounds;
	for (size_t i = 0; i < ctl->pages; i++)
		bad += page(i)[0] != i;
	if (bad)
		fprintf(stderr, "FAIL: worker %d: %d words not what it wrote\n", w, bad);
	return bad ? 1 : 0;
}

/*
 * -c: members that come and go while the tree works.  Each child of the
 * churner mallocs (so its library goes live: a userfaultfd, a policy
 * thread, its shared range registered and its own entry), reads the
 * headers of 64 pages here and there and writes its serial into word 500
 * of one (no other role reads that word), then _exits; every 8th execs
 * `true` instead (the new program starts a tree of its own).  Until the
 * tree stops.
 */
static int churner(void)
{
	for (uint64_t n = 0; __atomic_load_n(&ctl->phase, __ATOMIC_ACQUIRE) == RUN; n++) {
		pid_t pid = fork();

		if (pid == 0) {
			void *volatile p = malloc(1 << 20);
			uint64_t bad = 0;

			if (n % 8 == 7)
				execlp("true", "true", (char *)NULL);
			for (size_t i = 0; i < 64; i++) {
				size_t at = (n * 7919 + i * 104729) % ctl->pages;
				bad += page(at)[0] != at;
			}
			page(n % ctl->pages)[500] = n;
			free(p);
			__atomic_fetch_add(&ctl->churn_bad, bad, __ATOMIC_RELAXED);
			_exit(0);
		}
		if (pid < 0) {
			nap_ms(10);
			continue;
		}
		waitpid(pid, NULL, 0);
		__atomic_fetch_add(&ctl->churned, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

/* The creator: the table, its workers; reaps them, then checks the table. */
static int creator(void)
{
	int bad = 0, failed = 0;
	struct hybrid_stats s;
	void *t = mmap(NULL, ctl->pages * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (t == MAP_FAILED) {
		perror("shared_tree: mmap");
		return 1;
	}
	ctl->table = (uintptr_t)t;
	for (size_t i = 0; i < ctl->pages; i++)
		page(i)[0] = i;
	ctl->m[0].pid = getpid();
	hy_lib_stats(&s);
	ctl->m[0].epochs0 = s.epochs;
	for (int w = 0; w < opt_workers; w++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(worker(1 + w, w));
		if (pid < 0) {
			perror("shared_tree: fork");
			return 1;
		}
		ctl->m[1 + w].pid = pid;
	}
	__atomic_store_n(&ctl->nmembers, 1 + opt_workers, __ATOMIC_RELEASE);
	if (opt_churn && fork() == 0) /* not a member the supervisor watches */
		_exit(churner());
	while (__atomic_load_n(&ctl->phase, __ATOMIC_ACQUIRE) == RUN) {
		report(0);
		while (waitpid(-1, NULL, WNOHANG) > 0) /* a killed worker */
			;
		nap_ms(10);
	}
	for (int status; wait(&status) > 0;)
		failed += !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) &&
			  !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (size_t i = 0; i < ctl->pages; i++)
		bad += page(i)[0] != i;
	if (bad)
		fprintf(stderr, "FAIL: creator: %d page headers changed\n", bad);
	return bad || failed ? 1 : 0;
}

/* ---- the supervisor ---- */

static uint64_t get(int i, size_t off)
{
	uint64_t v;

	__atomic_load((uint64_t *)((char *)&ctl->m[i] + off), &v, __ATOMIC_RELAXED);
	return v;
}
#define M(i, field) get(i, offsetof(struct member, field))

/* The member leading the table now, or -1. */
static int lead(void)
{
	for (int i = 0; i < ctl->nmembers; i++)
		if (!ctl->m[i].dead && M(i, lead_bytes))
			return i;
	return -1;
}

static int alive_member(void)
{
	for (int i = 0; i < ctl->nmembers; i++)
		if (!ctl->m[i].dead)
			return ctl->m[i].pid;
	return 0;
}

static uint64_t most_epochs(void)
{
	uint64_t e = 0;

	for (int i = 0; i < ctl->nmembers; i++)
		if (!ctl->m[i].dead && M(i, epochs) > e)
			e = M(i, epochs);
	return e;
}

/* Pages of the hot set on node, and of the never hot (cold) on node: a
 * page of the first phase's hot set may stay on node after it cooled (no
 * shortage of DRAM: nothing demotes it). */
static void where(size_t *hot_on, size_t *cold_on, size_t *cold_all)
{
	size_t n = ctl->pages;
	void **pg = malloc(n * sizeof(*pg));
	int *st = malloc(n * sizeof(*st));
	unsigned char *hot = calloc(n, 1);

	*hot_on = *cold_on = *cold_all = 0;
	if (!pg || !st || !hot)
		goto out;
	for (size_t i = 0; i < ctl->hot_pages; i++)
		hot[hot_page(i)] = 1;
	for (size_t i = 0; i < n; i++) {
		hot[i] |= was_hot[i] << 1;
		*cold_all += !hot[i];
	}
	for (size_t i = 0; i < n; i++)
		pg[i] = (void *)(ctl->table + i * PG);
	/* where the creator's pages are (it wrote every one); if it was
	 * killed, a worker's (the hot set, which it writes) */
	if (syscall(SYS_move_pages, alive_member(), n, pg, NULL, st, 0) < 0) {
		perror("shared_tree: move_pages (query)");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (st[i] == opt_node && hot[i] != 2)
			*(hot[i] ? hot_on : cold_on) += 1;
out:
	free(pg), free(st), free(hot);
}

/*
 * One phase: until the hot set is 95% on the node (or, without placement,
 * until a member leads and `epochs` epochs passed), at most opt_epochs
 * epochs of the tree and 600 s.  Returns the epochs it took, or -1.
 */
static long phase(const char *name)
{
	uint64_t e0 = most_epochs();
	double end = now_s() + 600;
	size_t hot_on = 0, cold_on = 0, cold_all = 1;

	for (;;) {
		uint64_t e = most_epochs() - e0;
		bool done = false;

		if (opt_node >= 0) {
			where(&hot_on, &cold_on, &cold_all);
			done = hot_on * 100 >= ctl->hot_pages * 95;
		} else {
			done = lead() >= 0 && e >= 4;
		}
		if (done || e >= (uint64_t)opt_epochs || now_s() > end) {
			printf("shared_tree: %s: %llu epochs", name, (unsigned long long)e);
			if (opt_node >= 0)
				printf(", hot set %.1f%% on node %d, cold pages there %.2f%%",
				       100.0 * (double)hot_on / (double)ctl->hot_pages, opt_node,
				       100.0 * (double)cold_on / (double)(cold_all ? cold_all : 1));
			printf(", lead: member %d\n", lead());
			CHECK(done, "%s: not done within %d epochs", name, opt_epochs);
			CHECK(opt_node < 0 || cold_on * 50 <= cold_all,
			      "%s: more than 2%% of the cold pages on node %d", name, opt_node);
			return done ? (long)e : -1;
		}
		nap_ms(20);
	}
}

/*
 * -k with -F: the new lead (member l) knows where the table's pages are now.
 * It first saw the hot set on the slow node; the killed lead has moved it
 * to NODE since.  For 8 of its epochs, the old hot set still written, it
 * may promote at most what of the hot set is not on NODE, plus some of its
 * own private memory: a lead planning from what it saw before would count
 * the hot set's no-op moves as promotions (issue 20's counters that did
 * not add up).
 */
static void new_lead_knows(int l)
{
	size_t hot_on, cold_on, cold_all, slack;
	uint64_t p0 = M(l, promote_pages), e0 = M(l, epochs), got;
	double end = now_s() + 600;

	where(&hot_on, &cold_on, &cold_all);
	while (M(l, epochs) < e0 + 8 && now_s() < end)
		nap_ms(20);
	CHECK(M(l, epochs) >= e0 + 8, "the new lead ran %llu epochs, not 8, before the ceiling",
	      (unsigned long long)(M(l, epochs) - e0));
	got = M(l, promote_pages) - p0;
	slack = ctl->hot_pages - hot_on + 64;
	printf("shared_tree: new lead: %llu pages promoted in %llu epochs, %zu of the hot set "
	       "were not on node %d\n",
	       (unsigned long long)got, (unsigned long long)(M(l, epochs) - e0),
	       ctl->hot_pages - hot_on, opt_node);
	CHECK(got <= slack, "the new lead promoted %llu pages in 8 epochs; at most %zu were not "
	      "on node %d", (unsigned long long)got, slack, opt_node);
}

/*
 * -H: member `by` (not the lead) hints a cold range HOT; until 95% of it is
 * on the node (with -F), at most opt_epochs epochs of the tree.
 */
static void hint_phase(int by)
{
	uint64_t e0 = most_epochs();
	double end = now_s() + 600;
	size_t on = 0;

	__atomic_store_n(&ctl->hint_by, by, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&ctl->hint_rc, __ATOMIC_ACQUIRE) && now_s() < end)
		nap_ms(10);
	CHECK(ctl->hint_rc == 1000, "member %d: hybrid_madvise returned %d", by, ctl->hint_rc - 1000);
	if (opt_node < 0)
		return;
	for (;;) {
		void *pg[256];
		int st[256];

		on = 0;
		for (size_t i = 0; i < ctl->hint_pages; i++)
			pg[i] = (void *)(ctl->table + (ctl->hint_start + i) * PG);
		if (syscall(SYS_move_pages, alive_member(), ctl->hint_pages, pg, NULL, st, 0) == 0)
			for (size_t i = 0; i < ctl->hint_pages; i++)
				on += st[i] == opt_node;
		if (on * 100 >= ctl->hint_pages * 95 || most_epochs() - e0 >= (uint64_t)opt_epochs ||
		    now_s() > end)
			break;
		nap_ms(20);
	}
	printf("shared_tree: hinted HOT by member %d (not the lead): %.1f%% on node %d after %llu "
	       "epochs\n", by, 100.0 * (double)on / (double)ctl->hint_pages, opt_node,
	       (unsigned long long)(most_epochs() - e0));
	CHECK(on * 100 >= ctl->hint_pages * 95, "the range a member hinted HOT is not on node %d",
	      opt_node);
	for (size_t i = ctl->hint_start; i < ctl->hint_start + ctl->hint_pages; i++)
		was_hot[i] = 1; /* not cold any more: it was asked for */
}

static void set_hot(size_t first)
{
	size_t n = ctl->pages * opt_hot_pct / 100;

	for (size_t i = 0; i < ctl->hot_pages; i++)
		was_hot[hot_page(i)] = 1;
	ctl->hot_pages = n ? n : 1;
	ctl->hot_step = opt_scattered ? 100 / opt_hot_pct : 1;
	ctl->hot_start = opt_scattered ? first % ctl->hot_step : first;
	__atomic_fetch_add(&ctl->gen, 1, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
	struct hybrid_stats s;
	pid_t creator_pid;
	int c, status;

	while ((c = getopt(argc, argv, "p:m:h:skcHF:E:")) != -1) {
		switch (c) {
		case 'p': opt_workers = atoi(optarg); break;
		case 'm': opt_mib = strtoul(optarg, NULL, 10); break;
		case 'h': opt_hot_pct = (unsigned)atoi(optarg); break;
		case 's': opt_scattered = true; break;
		case 'k': opt_kill = true; break;
		case 'c': opt_churn = true; break;
		case 'H': opt_hint = true; break;
		case 'F': opt_node = atoi(optarg); break;
		case 'E': opt_epochs = atoi(optarg); break;
		default: fprintf(stderr, "usage: shared_tree [-p N] [-m MIB] [-h PCT] [-s] [-k] [-c] [-H] [-F NODE] [-E EPOCHS]\n"); return 2;
		}
	}
	if (opt_workers < 1 || opt_workers >= MAX_MEMBERS || !opt_mib || !opt_hot_pct ||
	    opt_hot_pct > 50) {
		fprintf(stderr, "shared_tree: 1-16 workers, a table, a hot set of 1-50%%\n");
		return 2;
	}
	if (!hy_lib_stats(&s)) {
		printf("SKIP: libhybrid is not loaded (run under hybridctl or LD_PRELOAD)\n");
		return 77;
	}
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		return 1;
	ctl->pages = opt_mib << 20 >> 12;
	was_hot = calloc(ctl->pages, 1);
	set_hot(ctl->pages / 3); /* phase 1: a third of the way in */
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* the creator's workers, if it dies */
	creator_pid = fork();
	if (creator_pid == 0)
		_exit(creator());
	/* every member running, reporting, counting the table as shared */
	for (double end = now_s() + 300;; nap_ms(20)) {
		int n = __atomic_load_n(&ctl->nmembers, __ATOMIC_ACQUIRE), ready = 0;

		for (int i = 0; i < n; i++)
			ready += M(i, beat) > 0 && M(i, epochs) > M(i, epochs0);
		if ((n && ready == n) || now_s() > end)
			break;
	}
	for (int i = 0; i < ctl->nmembers; i++)
		CHECK(M(i, shared_bytes) >= opt_mib << 20,
		      "member %d counts %llu bytes as shared, the table is %zu MiB", i,
		      (unsigned long long)M(i, shared_bytes), opt_mib);
	phase("phase 1");
	{
		int leads = 0;
		for (int i = 0; i < ctl->nmembers; i++)
			leads += M(i, lead_bytes) > 0;
		CHECK(leads == 1, "%d members lead the table, not one", leads);
	}
	if (opt_hint) {
		int by = 0;

		for (int i = 1; i < ctl->nmembers && !by; i++)
			if (!M(i, lead_bytes))
				by = i;
		ctl->hint_pages = 256;
		ctl->hint_start = ctl->pages - 2 * ctl->hint_pages; /* never hot */
		CHECK(by > 0, "every worker leads");
		if (by > 0)
			hint_phase(by);
	}
	if (opt_kill) {
		int l = lead(), l2 = -1;
		uint64_t e0;

		if (l < 0) {
			CHECK_FAIL("no member leads: nothing to kill");
		} else {
			printf("shared_tree: killing the lead, member %d\n", l);
			ctl->m[l].dead = 1;
			e0 = most_epochs(); /* of the survivors */
			kill(ctl->m[l].pid, SIGKILL);
			if (l == 0)
				waitpid(creator_pid, &status, 0);
			/* another takes over: within 20 epochs of the tree */
			for (double end = now_s() + 600; now_s() < end && most_epochs() < e0 + 20; nap_ms(20))
				if ((l2 = lead()) >= 0)
					break;
			printf("shared_tree: new lead: member %d after %llu epochs\n", l2,
			       (unsigned long long)(most_epochs() - e0));
			CHECK(l2 >= 0, "no member took the lead within 20 epochs of the kill");
			if (l2 >= 0 && opt_node >= 0)
				new_lead_knows(l2);
			set_hot(ctl->pages * 2 / 3); /* phase 2: somewhere else */
			phase("phase 2");
		}
	}
	if (opt_churn) {
		/* at least 8 came and went: a wait, whatever the machine's speed */
		for (double end = now_s() + 600; ctl->churned < 8 && now_s() < end;)
			nap_ms(20);
		printf("shared_tree: %llu short-lived members came and went\n",
		       (unsigned long long)ctl->churned);
		CHECK(ctl->churned >= 8, "only %llu short-lived members", (unsigned long long)ctl->churned);
		CHECK(!ctl->churn_bad, "short-lived members saw %llu page headers changed",
		      (unsigned long long)ctl->churn_bad);
	}
	__atomic_store_n(&ctl->phase, STOP, __ATOMIC_RELEASE);
	for (pid_t p; (p = wait(&status)) > 0;) {
		bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
		bool ours = false;

		for (int i = 0; i < ctl->nmembers; i++)
			ours |= ctl->m[i].dead && ctl->m[i].pid == p;
		CHECK((killed && ours) || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
		      "process %d ended with status %#x", (int)p, status);
	}
	return checks_done("shared_tree");
}
