/* SPDX-License-Identifier: MIT */
/*
 * churn_probe — many managed processes that end without exit handlers, for
 * test_stat_churn.sh.  Run under the preload with the engine configured
 * (the loopback pair): the parent goes live at once (a malloc), and so does
 * each forked child at its first malloc, publishing a live entry of its own.
 *
 *   churn_probe exit N RECORD   N children, two at a time; each fills a
 *                               managed block of 2 MiB, checks that it holds
 *                               a live entry (its memfd in /proc/self/fd)
 *                               and calls _exit: 0 if it held one, 3 if not.
 *                               Prints "exited N: A with an entry, B without,
 *                               C otherwise".
 *   churn_probe hold N RECORD   N children that go live the same way and
 *                               wait; "child PID" for each once it is live,
 *                               then "ready N".  A line on stdin (or its
 *                               end) has them reaped, however they ended
 *                               (the test kills them: they stay zombies
 *                               until then), and "reaped N, K by SIGKILL".
 *
 * RECORD gets "PID START" for every child (START: field 22 of its
 * /proc/PID/stat, read before it is reaped), so that the test can name any
 * file the former channel would have left for it (PID-START).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCK (2UL << 20)
#define JOBS  2

/* Go live (the first malloc of this process or of this forked child) and
 * make the block the library's to manage: resident, written. */
static void go_live(void)
{
	char *volatile p = malloc(BLOCK);

	if (!p)
		_exit(2);
	memset(p, 1, BLOCK);
}

/* Does this process hold a live entry (lib/export_chan.h)? */
static int has_entry(void)
{
	char link[128];
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int found = 0;

	while (dir && !found && (d = readdir(dir))) {
		ssize_t n = readlinkat(dirfd(dir), d->d_name, link, sizeof(link) - 1);

		if (n > 0) {
			link[n] = 0;
			found = !strcmp(link, "/memfd:libhybrid-live (deleted)");
		}
	}
	if (dir)
		closedir(dir);
	return found;
}

/* Field 22 of /proc/PID/stat: after the command's ')', the 20th field. */
static unsigned long long start_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	for (int k = 0; p && k < 20; k++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* Wait for any child to end, record it, reap it; its wait status, or -1. */
static int reap_one(FILE *rec, pid_t *who)
{
	siginfo_t si;
	int st;

	memset(&si, 0, sizeof(si));
	while (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) && errno == EINTR)
		;
	if (!si.si_pid)
		return -1;
	fprintf(rec, "%d %llu\n", (int)si.si_pid, start_of(si.si_pid));
	if (waitpid(si.si_pid, &st, 0) != si.si_pid)
		return -1;
	*who = si.si_pid;
	return st;
}

static int churn_exit(long n, FILE *rec)
{
	long forked = 0, ended = 0, with = 0, without = 0, other = 0;

	while (ended < n) {
		pid_t who;
		int st;

		if (forked < n && forked - ended < JOBS) {
			pid_t c = fork();

			if (c == 0) {
				go_live();
				_exit(has_entry() ? 0 : 3);
			}
			if (c < 0) {
				perror("fork");
				return 1;
			}
			forked++;
			continue;
		}
		st = reap_one(rec, &who);
		if (st < 0) {
			perror("wait");
			return 1;
		}
		ended++;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			with++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
			without++;
		else
			other++;
	}
	printf("exited %ld: %ld with an entry, %ld without, %ld otherwise\n", ended, with, without,
	       other);
	return 0;
}

static int churn_hold(long n, FILE *rec)
{
	long killed = 0, reaped = 0;
	int pfd[2];
	char c, line[64];

	if (pipe(pfd))
		return 1;
	for (long k = 0; k < n; k++) {
		pid_t pid = fork();

		if (pid == 0) {
			close(pfd[0]);
			go_live();
			if (write(pfd[1], "x", 1) != 1)
				_exit(2);
			for (;;)
				pause();
		}
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		/* one at a time: "child PID" means that one is live */
		if (read(pfd[0], &c, 1) != 1)
			return 1;
		fprintf(rec, "%d %llu\n", (int)pid, start_of(pid));
		printf("child %d\n", (int)pid);
	}
	fflush(rec);
	printf("ready %ld\n", n);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	while (reaped < n) {
		int st;

		if (wait(&st) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		reaped++;
		killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
	}
	printf("reaped %ld, %ld by SIGKILL\n", reaped, killed);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc == 4 ? atol(argv[2]) : 0;
	FILE *rec = argc == 4 ? fopen(argv[3], "w") : NULL;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n < 1 || !rec || (strcmp(argv[1], "exit") && strcmp(argv[1], "hold"))) {
		fprintf(stderr, "usage: churn_probe exit|hold N RECORD\n");
		return 2;
	}
	go_live(); /* the parent too: every fork lets go of its entry */
	rc = !strcmp(argv[1], "exit") ? churn_exit(n, rec) : churn_hold(n, rec);
	fclose(rec);
	return rc;
}
