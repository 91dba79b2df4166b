/* SPDX-License-Identifier: MIT */
/*
 * stress_uffd — a program that uses userfaultfd itself, as lazy loaders do
 * (CRIU's lazy pages, QEMU's postcopy, some garbage collectors): it maps
 * ranges and serves their missing pages from a handler thread.
 *
 *   stress_uffd [SCALE]      the rounds below (SCALE: fewer of them below 1)
 *   stress_uffd --probe      exit 0 if a userfaultfd can be had here, else say
 *                            why and exit 77
 *
 * Each round, for a 4 MiB private anonymous mapping (large enough for
 * libhybrid to manage it, so that under the preload the library has already
 * registered it with its own userfaultfd when the program comes):
 *   1. the program registers it with its own userfaultfd, MODE_MISSING;
 *   2. two threads read every page in a random order of their own; each
 *      first access faults, and the handler thread fills the page with
 *      UFFDIO_COPY (a pattern tagged with the round and the page);
 *   3. a quarter of the pages are written, everything is checked against the
 *      model, the range unregistered and unmapped.
 * One range can be registered with one userfaultfd only (the kernel answers
 * EBUSY otherwise): the library lets go of a range the program registers
 * (preload.c's ioctl), and the program must not notice it is there.
 *
 * stdout: one line per round (pages served, checksum), then the summary.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "stress.h"

#define PG	((size_t)4096)
#define NPAGES	1024 /* 4 MiB */
#define READERS 2

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

struct round {
	char *p;
	int uffd, stopfd[2];
	uint64_t tag;
	atomic_size_t served;
	int handler_err;
};

/* A userfaultfd: full if allowed, else user-mode-only (the program's own
 * faults are all this program needs). */
static int uffd_open(int *err)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API};

	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 || ioctl(fd, UFFDIO_API, &api)) {
		*err = errno;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void *handler(void *arg)
{
	struct round *r = arg;
	static __thread char page[PG] __attribute__((aligned(4096)));

	for (;;) {
		struct pollfd pf[2] = {{.fd = r->uffd, .events = POLLIN}, {.fd = r->stopfd[0], .events = POLLIN}};
		struct uffd_msg msg;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			r->handler_err = errno;
			return NULL;
		}
		if (pf[1].revents)
			return NULL;
		if (read(r->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			r->handler_err = errno;
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uintptr_t a = (uintptr_t)msg.arg.pagefault.address & ~(PG - 1);
		size_t i = (a - (uintptr_t)r->p) / PG;
		struct uffdio_copy c = {.dst = a, .src = (uintptr_t)page, .len = PG};

		pat_fill(page, PG, r->tag + i);
		if (ioctl(r->uffd, UFFDIO_COPY, &c) == 0)
			atomic_fetch_add(&r->served, 1);
		else if (errno != EEXIST) /* two readers faulted on the same page */
			r->handler_err = errno;
	}
}

struct reader {
	struct round *r;
	int idx;
	uint64_t sum;
};

static void *reader(void *arg)
{
	struct reader *rd = arg;
	uint64_t seed = (uint64_t)rd->idx * 7919 + rd->r->tag, order[NPAGES];

	for (size_t i = 0; i < NPAGES; i++)
		order[i] = i;
	for (size_t i = NPAGES - 1; i > 0; i--) {
		size_t j = (size_t)rnd_below(&seed, i + 1);
		uint64_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t k = 0; k < NPAGES; k++) {
		const volatile uint8_t *b = (const uint8_t *)rd->r->p + order[k] * PG;

		rd->sum += b[order[k] % PG];
	}
	return NULL;
}

static uint64_t one_round(int n)
{
	struct round r = {.tag = (uint64_t)n * 100003};
	struct reader rd[READERS];
	pthread_t th, rt[READERS];
	uint64_t sum = 0;
	int err = 0;

	r.p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r.p != MAP_FAILED, "round %d: mmap: %s", n, strerror(errno));
	r.uffd = uffd_open(&err);
	CHECK(r.uffd >= 0, "round %d: userfaultfd: %s", n, strerror(err));
	CHECK(pipe(r.stopfd) == 0, "pipe");
	if (r.p == MAP_FAILED || r.uffd < 0)
		return 0;
	struct uffdio_register reg = {
	    .range = {.start = (uintptr_t)r.p, .len = NPAGES * PG},
	    .mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(r.uffd, UFFDIO_REGISTER, &reg)) {
		CHECK_FAIL("round %d: UFFDIO_REGISTER of the program's own range: %s", n,
			   strerror(errno));
		return 0; /* reading the range would wait for a handler that is not there */
	}
	CHECK(pthread_create(&th, NULL, handler, &r) == 0, "handler thread");
	for (int i = 0; i < READERS; i++) {
		rd[i] = (struct reader){.r = &r, .idx = i};
		CHECK(pthread_create(&rt[i], NULL, reader, &rd[i]) == 0, "reader thread");
	}
	for (int i = 0; i < READERS; i++) {
		pthread_join(rt[i], NULL);
		sum += rd[i].sum;
	}
	/* Every page is present now, so no more faults come: stop the handler
	 * before counting (UFFDIO_COPY wakes the reader before the handler
	 * counts the page). Every page was served once, by the program's handler. */
	CHECK(write(r.stopfd[1], "x", 1) == 1, "stop");
	pthread_join(th, NULL);
	CHECK(atomic_load(&r.served) == NPAGES, "round %d: %zu of %d pages served", n,
	      atomic_load(&r.served), NPAGES);
	CHECK(r.handler_err == 0, "round %d: handler: %s", n, strerror(r.handler_err));
	for (size_t i = 0; i < NPAGES; i += 4)
		pat_fill(r.p + i * PG, 64, r.tag + i + 7);
	for (size_t i = 0; i < NPAGES; i++) {
		uint64_t tag = i % 4 ? r.tag + i : r.tag + i + 7;
		size_t n_ok = i % 4 ? PG : 64;

		CHECK(pat_check(r.p + i * PG, n_ok, tag) == n_ok, "round %d: page %zu differs", n, i);
		sum = sum * 31 + (uint8_t)r.p[i * PG + 100];
	}
	CHECK(ioctl(r.uffd, UFFDIO_UNREGISTER, &reg.range) == 0, "UFFDIO_UNREGISTER: %s",
	      strerror(errno));
	close(r.uffd);
	close(r.stopfd[0]);
	close(r.stopfd[1]);
	munmap(r.p, NPAGES * PG);
	printf("round %d: %zu pages served by the program's handler, checksum %016llx\n", n,
	       atomic_load(&r.served), (unsigned long long)sum);
	return sum;
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1;
	int rounds = scale >= 1 ? 8 : 2, err = 0, fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = uffd_open(&err);
	if (fd < 0) {
		printf("stress_uffd: no userfaultfd for this program here (%s): cannot test\n",
		       strerror(err));
		return 77;
	}
	close(fd);
	if (argc > 1 && !strcmp(argv[1], "--probe"))
		return 0;
	for (int n = 0; n < rounds; n++)
		one_round(n);
	return checks_done("stress_uffd");
}
