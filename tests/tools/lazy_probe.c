/* SPDX-License-Identifier: MIT */
/*
 * lazy_probe — what a process under the preload has started, seen from
 * inside (test_lazy_start.sh).  It never calls malloc (nor stdio) until told
 * to: a malloc is itself a use of managed memory, which starts the library.
 *
 *   lazy_probe idle         report, wait for a line on stdin, exit
 *   lazy_probe map MIB      mmap MIB MiB of anonymous memory and write it,
 *                           report, wait, exit
 *   lazy_probe fork MIB     map as above, report; fork: the child reports,
 *                           waits for a line, calls malloc, reports again,
 *                           waits, _exits (the parent waits for it)
 *
 * A report is one line "PID uffd=N threads=T": N descriptors of this
 * process are userfaultfds, T threads.  Nothing here allocates: readlink on
 * /proc/self/fd/K and one read of /proc/self/status.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int uffds(void)
{
	char path[64], link[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		k = readlink(path, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = 0;
		n += !strcmp(link, "anon_inode:[userfaultfd]");
	}
	return n;
}

static int threads(void)
{
	static char buf[8192];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t k = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *t;

	if (fd >= 0)
		close(fd);
	if (k <= 0)
		return -1;
	buf[k] = 0;
	t = strstr(buf, "\nThreads:");
	return t ? atoi(t + 9) : -1;
}

static void report(const char *what)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s %d uffd=%d threads=%d\n", what, (int)getpid(),
			 uffds(), threads());

	if (write(1, line, (size_t)n) != n)
		_exit(2);
}

/* a line on stdin (or its end) */
static void wait_line(void)
{
	char c;

	while (read(0, &c, 1) == 1 && c != '\n')
		;
}

static void map(size_t mib)
{
	size_t len = mib << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(2);
	memset(p, 1, len);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "idle")) {
		report("idle");
		wait_line();
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "map")) {
		map(strtoul(argv[2], NULL, 0));
		report("map");
		wait_line();
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "fork")) {
		pid_t pid;
		int st;

		map(strtoul(argv[2], NULL, 0));
		report("parent");
		pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			void *volatile q;

			report("child");
			wait_line();
			q = malloc(100);
			report("child-malloc");
			free(q);
			wait_line();
			_exit(0);
		}
		waitpid(pid, &st, 0);
		return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
	}
	fprintf(stderr, "usage: lazy_probe idle | map MIB | fork MIB\n");
	return 2;
}
