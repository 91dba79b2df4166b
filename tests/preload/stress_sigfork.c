/* SPDX-License-Identifier: MIT */
/*
 * stress_sigfork — fork from a signal handler while the main thread computes
 * without allocating.
 *
 *   stress_sigfork [SCALE]
 *
 * Before the timer starts, the program fills a 4 KiB heap block, a 2 MiB heap
 * block and a 1 MiB private mapping with known patterns.  SIGALRM arrives
 * every 5 ms (ITIMER_REAL) while the main thread runs an arithmetic loop
 * over a 256 KiB heap array (reads and writes, no calls).  The handler
 * forks; the child, still inside the handler, checks the three patterned
 * buffers, writes its own pattern over them, checks that, and _exit()s with
 * 0 or 1 (only async-signal-safe calls).  After 100 forks the timer stops;
 * the parent reaps the children (each must have exited 0), checks its
 * buffers still hold the original patterns, and prints a checksum of a fixed
 * computation.  The program has one thread, so the handler must always run on
 * it (a library thread that does not block signals would receive them too).
 * First, once the buffers are allocated (under the preload the library is
 * live then, its policy thread running), a SIGUSR1 sent to the process while
 * the program blocks it must stay pending while the library runs two epochs
 * -- its thread has then been back in user space, where it would have taken
 * the signal were it not blocking it; no wait in the plain run, which has
 * no other thread -- and then be handled once, on the program's thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

#include "stress.h"

#define MAXFORKS 1000
#define SMALL 4096
#define BIG (2 << 20)
#define MAP (1 << 20)
#define WORK (256 * 1024 / 8)

static uint8_t *small, *big, *map;
static uint64_t *work;
static volatile sig_atomic_t forks, failed_forks, foreign_tid;
static long nforks;
static pid_t main_tid;
static pid_t pids[MAXFORKS];

static int buffers_hold(uint64_t tag)
{
	return pat_check(small, SMALL, tag) == SMALL && pat_check_pages(big, BIG, tag + 1) == BIG &&
	       pat_check_pages(map, MAP, tag + 2) == MAP;
}

static void on_alarm(int sig)
{
	int saved = errno;
	(void)sig;

	/* The program has one thread: its handler runs there, nowhere else. */
	if (gettid() != main_tid)
		foreign_tid = gettid();
	if (forks >= nforks)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		/* the child: async-signal-safe work only */
		int bad = !buffers_hold(1);

		pat_fill(small, SMALL, 50);
		pat_fill_pages(big, BIG, 51);
		pat_fill_pages(map, MAP, 52);
		bad |= !buffers_hold(50);
		_exit(bad);
	}
	if (pid < 0)
		failed_forks++;
	else
		pids[forks++] = pid;
	if (forks >= nforks) {
		struct itimerval off = {{0, 0}, {0, 0}};

		setitimer(ITIMER_REAL, &off, NULL);
	}
	errno = saved;
}

/* SIGUSR1 is sent while blocked: it must stay pending until unblocked, the
 * library's thread (where preloaded) having run meanwhile. */
static volatile sig_atomic_t usr1_runs, usr1_tid;
static void on_usr1(int sig)
{
	(void)sig;
	usr1_runs++;
	usr1_tid = gettid();
}

static void blocked_signal_stays_pending(void)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGUSR1); /* process-directed, like most signals */
	CHECK(hy_lib_wait_epochs(2, HY_WAIT_CEILING), "the library ran no 2 epochs in %.0f s",
	      HY_WAIT_CEILING);
	CHECK(usr1_runs == 0,
	      "SIGUSR1, blocked by this single-threaded program, was handled anyway (on thread %d)",
	      (int)usr1_tid);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	CHECK(usr1_runs == 1 && usr1_tid == main_tid,
	      "SIGUSR1 after unblocking: handled %d times, on thread %d", (int)usr1_runs,
	      (int)usr1_tid);
}

/* The main thread's computation: no calls, no allocation. */
static uint64_t compute(long rounds)
{
	uint64_t h = 1;

	for (long r = 0; r < rounds; r++)
		for (long i = 0; i < WORK; i++) {
			h = h * 6364136223846793005ull + (uint64_t)work[i];
			work[i] = h >> 7;
		}
	return h;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	struct itimerval tick = {{0, 5000}, {0, 5000}};
	long reaped = 0;

	main_tid = gettid();
	nforks = scaled(100, stress_scale(argc, argv));
	if (nforks > MAXFORKS)
		nforks = MAXFORKS;
	small = malloc(SMALL);
	big = malloc(BIG);
	work = calloc(WORK, sizeof(*work));
	map = mmap(NULL, MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!small || !big || !work || map == MAP_FAILED) {
		perror("allocating the buffers");
		return 1;
	}
	pat_fill(small, SMALL, 1);
	pat_fill_pages(big, BIG, 2);
	pat_fill_pages(map, MAP, 3);
	blocked_signal_stays_pending(); /* the library is live now, where preloaded */
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) || setitimer(ITIMER_REAL, &tick, NULL)) {
		perror("timer");
		return 1;
	}
	while (forks < nforks && failed_forks < 10)
		compute(1);
	CHECK(failed_forks == 0, "fork failed %d times in the handler", (int)failed_forks);
	CHECK(foreign_tid == 0,
	      "the SIGALRM handler ran on thread %d, which this single-threaded program never created",
	      (int)foreign_tid);

	for (long i = 0; i < forks; i++) {
		int st;
		pid_t p;

		while ((p = waitpid(pids[i], &st, 0)) < 0 && errno == EINTR)
			;
		if (p != pids[i]) {
			CHECK_FAIL("waitpid(%d): %s", (int)pids[i], strerror(errno));
			continue;
		}
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %ld (forked in the handler): status %#x",
		      i, st);
		reaped++;
	}
	CHECK(buffers_hold(1), "the parent's buffers changed");
	memset(work, 0, WORK * sizeof(*work));
	uint64_t h = compute(4);
	printf("stress_sigfork: %ld children forked from SIGALRM, %ld reaped; checksum %016llx\n",
	       nforks, reaped, (unsigned long long)h);
	free(small);
	free(big);
	free(work);
	munmap(map, MAP);
	return checks_done("stress_sigfork");
}
