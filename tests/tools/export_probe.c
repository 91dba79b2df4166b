/* SPDX-License-Identifier: MIT */
/*
 * export_probe — lib/export.c driven directly, without the preload layer:
 * an engine on the loopback tier pair (node 0 as both tiers) whose policy
 * thread publishes the live view every epoch, as in a managed process.
 * test_stat.sh runs it in the ways a managed process can live and die.
 *
 *   export_probe live SECONDS    publish, write a hot range, withdraw, exit 0
 *   export_probe hang            publish, then wait to be killed
 *   export_probe exec PROG ARGS  publish, then exec PROG (no withdrawal)
 *   export_probe fork SECONDS    publish, fork: the child publishes its own
 *                                view for SECONDS/2, the parent for SECONDS
 *   export_probe forkhold SECONDS  publish, fork a child that keeps the
 *                                parent's entry (as one would before its
 *                                atfork handler ran, or one cloned without
 *                                them) for SECONDS/2, the parent for SECONDS
 *   export_probe closefd SECONDS publish, then close the entry's descriptor
 *                                and reuse its number for a file of the
 *                                program's ("closed N"), work for SECONDS,
 *                                withdraw: the program's file must still be
 *                                open at N after ("kept N"), else exit 1
 *   export_probe nodump SECONDS  as live, not dumpable (prctl) from the start
 *   export_probe report DEST     run a few epochs, then the exit report to DEST
 *   export_probe report-closed   the report to stderr after closing fd 2
 *   export_probe start           only try to publish; exit 0 or say why, 1
 *   export_probe noalloc         the process side never calls malloc & co.
 *   export_probe nosyscall       an epoch's publication makes no system call
 *
 * "ready PID" on stdout once the view is published.  Exit 77: no engine here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include "engine.h"
#include "export.h"

#include "../malloc_count.h" /* and ../support.h */

#define MiB (1UL << 20)


static struct fixture fx; /* the loopback pair, the engine, mem */
static struct hy_engine *eng; /* for the fork handlers */

static void fork_prepare(void)
{
	hy_engine_fork_prepare(eng);
}
static void fork_parent(void)
{
	hy_engine_fork_parent(eng);
}
static void fork_child(void)
{
	hy_engine_fork_child_locks(eng);
}
static char *mem;
static size_t mem_len = 16 * MiB;

/* The engine and mem, or the program ends: 77 no engine here, 1 failed. */
static struct hy_engine *make(void)
{
	fixture_up(&fx, "tiers=0/0 epoch=50ms track_overhead=100 stats=stderr");
	fixture_map(&fx, mem_len, HY_HINT_HYBRID, MADV_NORMAL);
	mem = (char *)fx.mem;
	memset(mem, 1, mem_len);
	return fx.e;
}

/* What runtime does: the engine hands its counters to the export side,
 * which never sees the engine itself. */
static void publish_epoch(const struct hy_stats *st, void *arg)
{
	(void)arg;
	hy_export_epoch(st);
}

static struct hy_stats *snap(struct hy_engine *e)
{
	static struct hy_stats st;

	hy_engine_stats(e, &st);
	return &st;
}

static void start(struct hy_engine *e, bool thread)
{
	int rc;

	hy_export_describe(&fx.cfg, fx.topo);
	hy_engine_set_epoch_hook(e, publish_epoch, NULL);
	rc = hy_export_start(snap(e), hy_engine_backend(e));
	if (rc) {
		printf("start: %s\n", strerror(-rc));
		exit(1);
	}
	if (thread && hy_engine_start_thread(e)) {
		fprintf(stderr, "export_probe: no policy thread\n");
		exit(1);
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
}

/* The number of this process's entry descriptor (lib/export_chan.h), or -1. */
static int entry_fd(void)
{
	char path[64], link[128];

	for (int fd = 0; fd < 4096; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, "/memfd:libhybrid-live (deleted)"))
			return fd;
	}
	return -1;
}

/* Write the first quarter of the range for seconds: a hot set. */
/* SIGUSR1 ends the work early: the test says when it is done looking, so a
 * slow (loaded) machine never sees the probe end in the middle. */
static volatile sig_atomic_t done;

static void on_usr1(int sig)
{
	(void)sig;
	done = 1;
}

static void work(double seconds)
{
	double end = now_s() + seconds;

	signal(SIGUSR1, on_usr1);
	while (now_s() < end && !done) {
		for (size_t i = 0; i < mem_len / 4; i += 4096)
			mem[i]++;
		usleep(10000);
	}
}

static int noalloc(void)
{
	struct hy_engine *e;
	int rc;

	if (SANITIZED) {
		printf("sanitizer build: malloc belongs to the sanitizer, not checked\n");
		return 77;
	}
	e = make();
	armed = 1;
	hy_export_describe(&fx.cfg, fx.topo);
	rc = hy_export_start(snap(e), hy_engine_backend(e));
	for (int i = 0; i < 100; i++)
		hy_export_epoch(snap(e));
	hy_export_exit_report(snap(e), hy_engine_backend(e), "/dev/null");     /* exists: refused, warned */
	hy_export_exit_report(snap(e), hy_engine_backend(e), "+/dev/null");    /* not a regular file */
	hy_export_exit_report(snap(e), hy_engine_backend(e), "stderr");
	hy_export_stop();
	armed = 0;
	if (rc) {
		printf("start: %s\n", strerror(-rc));
		return 1;
	}
	printf("%d calls of the malloc family\n", calls);
	return calls ? 1 : 0;
}

/*
 * In a child whose seccomp filter lets through only write and exit (any
 * other system call kills it with SIGSYS): 1000 publications.  Strict mode
 * would do, but it disables RDTSC on x86, which the vDSO's clock needs.
 * CLOCK_MONOTONIC comes from the vDSO, not a system call, where the clock
 * source allows it.
 */
static int nosyscall(void)
{
	struct sock_filter only_write_exit[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(only_write_exit) / sizeof(only_write_exit[0]),
				  only_write_exit};
	struct hy_engine *e = make();
	int status;
	pid_t pid;

	start(e, false);
	pid = fork();
	if (pid == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO pages touched before */
		hy_export_epoch(snap(e));		     /* the page already faulted in */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(3);
		for (int i = 0; i < 1000; i++)
			hy_export_epoch(snap(e));
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	hy_export_stop();
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("1000 publications without a system call\n");
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		printf("seccomp filters not available here: not checked\n");
		return 77;
	}
	printf("publication made a system call (child %s %d)\n",
	       WIFSIGNALED(status) ? "killed by signal" : "exited",
	       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	return 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct hy_engine *e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "noalloc"))
		return noalloc();
	if (!strcmp(mode, "nosyscall"))
		return nosyscall();
	if (!strcmp(mode, "start")) {
		e = make();
		start(e, false);
		hy_export_stop();
		return 0;
	}
	if ((!strcmp(mode, "live") || !strcmp(mode, "nodump")) && argc == 3) {
		if (!strcmp(mode, "nodump"))
			prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		e = make();
		start(e, true);
		work(atof(argv[2]));
		hy_export_stop();
		return 0;
	}
	if (!strcmp(mode, "closefd") && argc == 3) {
		int fd, file;

		e = make();
		start(e, true);
		fd = entry_fd();
		file = open("/dev/null", O_RDONLY);
		if (fd < 0 || file < 0 || close(fd) || dup2(file, fd) != fd) {
			printf("closefd: no entry descriptor to close (%d)\n", fd);
			return 1;
		}
		close(file);
		printf("closed %d\n", fd);
		work(atof(argv[2]));
		hy_export_stop();
		if (fcntl(fd, F_GETFD) < 0) {
			printf("the library closed the program's descriptor %d\n", fd);
			return 1;
		}
		printf("kept %d\n", fd);
		return 0;
	}
	if (!strcmp(mode, "hang")) {
		e = make();
		start(e, true);
		for (;;)
			work(3600);
	}
	if (!strcmp(mode, "exec") && argc >= 3) {
		e = make();
		start(e, true);
		usleep(200000);
		execvp(argv[2], argv + 2);
		perror("exec");
		return 1;
	}
	if (!strcmp(mode, "fork") && argc == 3) {
		double s = atof(argv[2]);
		pid_t child;

		e = eng = make();
		start(e, true);
		pthread_atfork(fork_prepare, fork_parent, fork_child);
		child = fork();
		if (child == 0) {
			/* what runtime's late atfork child handler does */
			hy_engine_fork_child(e);
			hy_export_fork_detach();
			if (hy_engine_go_live(e) || hy_export_start(snap(e), hy_engine_backend(e)))
				_exit(1);
			printf("child %d\n", (int)getpid());
			work(s / 2);
			hy_export_stop();
			_exit(0);
		}
		work(s);
		waitpid(child, NULL, 0);
		hy_export_stop();
		return 0;
	}
	if (!strcmp(mode, "forkhold") && argc == 3) {
		double s = atof(argv[2]);
		pid_t child;

		e = make();
		start(e, true);
		child = fork();
		if (child == 0) {
			/* no hy_export_fork_detach: the parent's entry stays open here */
			printf("child %d\n", (int)getpid());
			work(s / 2);
			_exit(0);
		}
		work(s);
		waitpid(child, NULL, 0);
		hy_export_stop();
		return 0;
	}
	if (!strcmp(mode, "report-closed")) {
		/* describe() keeps a copy of stderr: GNU tools close fd 2 at exit */
		e = make();
		hy_export_describe(&fx.cfg, fx.topo);
		close(STDERR_FILENO);
		hy_export_exit_report(snap(e), hy_engine_backend(e), "stderr");
		return 0;
	}
	if (!strcmp(mode, "report") && argc == 3) {
		e = make();
		for (int i = 0; i < 3; i++) {
			for (size_t j = 0; j < mem_len; j += 4096)
				mem[j]++;
			hy_engine_epoch(e);
		}
		hy_export_describe(&fx.cfg, fx.topo);
		hy_export_exit_report(snap(e), hy_engine_backend(e), argv[2]);
		return 0;
	}
	fprintf(stderr, "usage: export_probe live SECONDS | hang | exec PROG [ARGS] | fork SECONDS "
			"| forkhold SECONDS | closefd SECONDS | nodump SECONDS | report DEST "
			"| report-closed | start | noalloc | nosyscall\n");
	return 2;
}
