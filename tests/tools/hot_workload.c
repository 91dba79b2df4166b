/* SPDX-License-Identifier: MIT */
/*
 * hot_workload — a plain program for hybridctl to launch: TOTAL MiB from
 * malloc, written once, then the first HOT MiB of it written again and again
 * for SECONDS (a write-hot set that libhybrid should promote).
 *
 *   hot_workload TOTAL_MIB HOT_MIB SECONDS
 *
 * Prints "ready PID" once the memory is written, and at the end "data intact"
 * if every byte still holds what was written (else "data changed", exit 1).
 * Exit 2 on bad arguments.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../support.h"

/* SIGUSR1 ends the hot loop early (then the data is checked as usual): a
 * test stops it when it is done looking, whatever the machine's load. */
static volatile sig_atomic_t done;

static void on_usr1(int sig)
{
	(void)sig;
	done = 1;
}

int main(int argc, char **argv)
{
	size_t total, hot;
	unsigned long rounds = 0;
	int bad = 0;
	double end;
	char *p;

	if (argc != 4 || atoi(argv[1]) <= 0 || atoi(argv[2]) < 0 || atoi(argv[2]) > atoi(argv[1])) {
		fprintf(stderr, "usage: hot_workload TOTAL_MIB HOT_MIB SECONDS\n");
		return 2;
	}
	total = (size_t)atoi(argv[1]) << 20;
	hot = (size_t)atoi(argv[2]) << 20;
	p = malloc(total);
	if (!p) {
		perror("malloc");
		return 1;
	}
	memset(p, 1, total);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	end = now_s() + atof(argv[3]);
	signal(SIGUSR1, on_usr1);
	while (now_s() < end && !done) {
		for (size_t i = 0; i < hot; i += 4096)
			p[i]++;
		rounds++;
		usleep(20000);
	}
	for (size_t i = 0; i < total; i++)
		bad |= (unsigned char)p[i] != (i < hot && i % 4096 == 0 ? (1 + rounds) & 0xff : 1);
	printf("data %s\n", bad ? "changed" : "intact");
	free(p);
	return bad;
}
