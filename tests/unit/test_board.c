/* SPDX-License-Identifier: MIT */
/*
 * test_board — the process tree's board (lib/board.h): what members
 * publish and the lead takes, across fork; the lead's election, beat and
 * replacement when it dies or falls silent; a full table.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support.h"
#include "board.h"

#define S 1000000000ull /* ns */

struct got {
	uint64_t bits[256];
	uint64_t keep; /* returned for every chunk: given back to the board */
	int calls;
};

static uint64_t take_fn(void *arg, uint64_t no, uint64_t bits)
{
	struct got *g = arg;

	if (no < 256)
		g->bits[no] |= bits;
	g->calls++;
	return bits & g->keep;
}

static struct hy_board *board(void)
{
	int err = 0;
	struct hy_board *b = hy_board_get(&err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	return b;
}

/* What is published is taken once; only the chunks asked for; what the
 * taker gives back is there next time. */
static void test_publish_take(void)
{
	struct hy_board *b = board();
	int s = hy_board_attach(b, 0x40000000, 200);
	struct got g = {{0}};

	CU_ASSERT_FATAL(s >= 1);
	hy_board_publish(b, s, 3, 0x5);
	hy_board_publish(b, s, 3, 0x10);
	hy_board_publish(b, s, 70, UINT64_C(1) << 63);
	hy_board_publish(b, s, 500, 1); /* outside the slot: ignored */
	hy_board_take(b, s, 64, 200, take_fn, &g); /* another part's chunks only */
	CU_ASSERT_EQUAL(g.bits[70], UINT64_C(1) << 63);
	CU_ASSERT_EQUAL(g.bits[3], 0);
	CU_ASSERT_EQUAL(g.calls, 1);
	hy_board_take(b, s, 0, 64, take_fn, &g); /* chunk 3 was left for it */
	CU_ASSERT_EQUAL(g.bits[3], 0x15);
	CU_ASSERT_EQUAL(g.calls, 2);
	memset(&g, 0, sizeof(g));
	hy_board_take(b, s, 0, 200, take_fn, &g); /* all taken before */
	CU_ASSERT_EQUAL(g.calls, 0);
	/* given back */
	hy_board_publish(b, s, 130, 0xff);
	g.keep = 0x0f;
	hy_board_take(b, s, 0, 200, take_fn, &g);
	CU_ASSERT_EQUAL(g.bits[130], 0xff);
	memset(&g, 0, sizeof(g));
	hy_board_take(b, s, 0, 200, take_fn, &g);
	CU_ASSERT_EQUAL(g.bits[130], 0x0f);
	CU_ASSERT(hy_board_bytes(b) > 0);
}

/* A forked child publishes, the parent takes: one board for the tree. */
static void test_across_fork(void)
{
	struct hy_board *b = board();
	int s = hy_board_attach(b, 0x80000000, 64), status;
	struct got g = {{0}};
	pid_t pid;

	CU_ASSERT_FATAL(s >= 1);
	pid = fork();
	if (pid == 0) {
		int err;
		struct hy_board *cb = hy_board_get(&err);

		for (uint64_t no = 0; no < 64; no++)
			hy_board_publish(cb, s, no, no + 1);
		_exit(cb == b ? 0 : 3);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	hy_board_take(b, s, 0, 64, take_fn, &g);
	CU_ASSERT_EQUAL(g.calls, 64);
	for (uint64_t no = 0; no < 64; no++)
		CU_ASSERT_EQUAL(g.bits[no], no + 1);
}

/* A pid that no longer exists: a child's, reaped. */
static pid_t gone_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

/* One lead; it beats; another member takes over when it is gone or
 * silent, and the old lead learns it lost; a release frees it. */
static void test_lead(void)
{
	struct hy_board *b = board();
	int s = hy_board_attach(b, 0xc0000000, 8);
	pid_t me = getpid(), other = getppid(), dead = gone_pid();
	uint64_t t = 100 * S;

	CU_ASSERT_FATAL(s >= 1);
	CU_ASSERT_TRUE(hy_board_lead(b, s, me, t, 2 * S));	      /* none: me */
	CU_ASSERT_FALSE(hy_board_lead(b, s, other, t + S, 2 * S));   /* alive, beating */
	CU_ASSERT_TRUE(hy_board_lead(b, s, me, t + 2 * S, 2 * S));   /* the beat */
	CU_ASSERT_FALSE(hy_board_lead(b, s, other, t + 4 * S, 2 * S)); /* 2 s: not yet silent */
	CU_ASSERT_TRUE(hy_board_lead(b, s, other, t + 5 * S, 2 * S));  /* silent: replaced */
	CU_ASSERT_FALSE(hy_board_lead(b, s, me, t + 5 * S, 2 * S));    /* and knows it */
	hy_board_release(b, s, me); /* not mine: nothing */
	CU_ASSERT_FALSE(hy_board_lead(b, s, me, t + 5 * S, 2 * S));
	hy_board_release(b, s, other);
	CU_ASSERT_TRUE(hy_board_lead(b, s, me, t + 5 * S, 2 * S)); /* released: free */
	/* a lead whose process is gone is replaced at once, beat or not */
	hy_board_release(b, s, me);
	CU_ASSERT_TRUE(hy_board_lead(b, s, dead, t + 6 * S, 2 * S));
	CU_ASSERT_TRUE(hy_board_lead(b, s, me, t + 6 * S, 2 * S));
	/* no such slot */
	CU_ASSERT_FALSE(hy_board_lead(b, 0, me, t, 2 * S));
	CU_ASSERT_FALSE(hy_board_lead(b, HY_BOARD_SLOTS + 1, me, t, 2 * S));
}

/* A lead killed with SIGKILL (no release) is replaced by the next member
 * that asks, and what was published before is still there to take. */
static void test_lead_killed(void)
{
	struct hy_board *b = board();
	int s = hy_board_attach(b, 0x100000000, 8), status;
	int go[2];
	pid_t pid;
	char c;
	struct got g = {{0}};

	CU_ASSERT_FATAL(s >= 1 && pipe(go) == 0);
	pid = fork();
	if (pid == 0) {
		bool led = hy_board_lead(b, s, getpid(), 7 * S, 2 * S);

		hy_board_publish(b, s, 5, 0xabc);
		if (write(go[1], led ? "y" : "n", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(read(go[0], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'y');
	CU_ASSERT_FALSE(hy_board_lead(b, s, getpid(), 7 * S, 2 * S)); /* alive */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CU_ASSERT_TRUE(hy_board_lead(b, s, getpid(), 7 * S, 2 * S)); /* gone: mine */
	hy_board_take(b, s, 0, 8, take_fn, &g);
	CU_ASSERT_EQUAL(g.bits[5], 0xabc);
	close(go[0]);
	close(go[1]);
}

struct hints {
	uint64_t lo[32];
	int n;
};

static void hint_fn(void *arg, uint64_t lo, uint64_t hi, int hint, pid_t pid)
{
	struct hints *h = arg;

	if (h->n < 32 && hi == lo + 1 && hint == (int)(lo % 5) && pid == 42)
		h->lo[h->n] = lo;
	h->n++;
}

/* Hints come in order, once each; a reader that fell more than
 * HY_BOARD_HINTS behind gets the last ones. */
static void test_hints(void)
{
	struct hy_board *b = board();
	int s = hy_board_attach(b, 0x200000000, 4);
	uint32_t seen = 0, late = 0;
	struct hints h = {{0}, 0};

	CU_ASSERT_FATAL(s >= 1);
	hy_board_hints(b, s, &seen, hint_fn, &h);
	CU_ASSERT_EQUAL(h.n, 0);
	for (uint64_t i = 0; i < 3; i++)
		hy_board_hint(b, s, i, i + 1, (int)(i % 5), 42);
	hy_board_hints(b, s, &seen, hint_fn, &h);
	CU_ASSERT_EQUAL(h.n, 3);
	CU_ASSERT(h.lo[0] == 0 && h.lo[1] == 1 && h.lo[2] == 2);
	hy_board_hints(b, s, &seen, hint_fn, &h);
	CU_ASSERT_EQUAL(h.n, 3); /* nothing new */
	for (uint64_t i = 3; i < 3 + 2 * HY_BOARD_HINTS; i++)
		hy_board_hint(b, s, i, i + 1, (int)(i % 5), 42);
	memset(&h, 0, sizeof(h));
	hy_board_hints(b, s, &seen, hint_fn, &h);
	CU_ASSERT_EQUAL(h.n, HY_BOARD_HINTS); /* the last ones */
	CU_ASSERT_EQUAL(h.lo[0], 3 + HY_BOARD_HINTS);
	CU_ASSERT_EQUAL(h.lo[HY_BOARD_HINTS - 1], 2 + 2 * HY_BOARD_HINTS);
	memset(&h, 0, sizeof(h));
	hy_board_hints(b, s, &late, hint_fn, &h); /* a reader from the start */
	CU_ASSERT_EQUAL(h.n, HY_BOARD_HINTS);
	memset(&h, 0, sizeof(h));
	hy_board_hints(b, s, &seen, hint_fn, &h);
	CU_ASSERT_EQUAL(h.n, 0);
}

/* A slot too big, and a full table: -ENOSPC, and the slots given out
 * before still work (in a child: the table is the process's). */
static void test_full(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct hy_board *b = board();
		int s, first = hy_board_attach(b, 0, 1), last = first;

		if (hy_board_attach(b, 0, UINT64_C(1) << 40) != -ENOSPC)
			_exit(2);
		while ((s = hy_board_attach(b, 0, 1)) > 0)
			last = s;
		if (s != -ENOSPC || last < first)
			_exit(3);
		hy_board_publish(b, last, 0, 1);
		struct got g = {{0}};
		hy_board_take(b, last, 0, 1, take_fn, &g);
		_exit(g.bits[0] == 1 ? 0 : 4);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status));
	CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
}

static const struct hy_test tests[] = {
	HY_TEST(test_publish_take), HY_TEST(test_across_fork), HY_TEST(test_lead),
	HY_TEST(test_lead_killed), HY_TEST(test_hints), HY_TEST(test_full),
};

HY_CUNIT_MAIN("board", tests)
