/* SPDX-License-Identifier: MIT */
/*
 * The test harness: what every test program, and the benchmarks, share.
 * Header only, every part static, so that a program takes what it uses:
 *
 *   CHECK(cond, fmt, ...)  a check that counts and goes on (checks_done()
 *   CHECK_FAIL(fmt, ...)   gives the exit status); with HY_CHECK_ABORT
 *                          defined before the include (the fuzz targets) it
 *                          aborts instead, so that libFuzzer keeps the input
 *   now_ns(), now_s()      the monotonic clock
 *   hy_wait_for(), ...     waiting for the library: a counter polled up
 *                          to a value under a wall-clock ceiling
 *                          (HY_WAIT_CEILING), never a fixed sleep;
 *                          hy_lib_wait_epochs() for the library in this
 *                          process, linked or preloaded (hybrid.h on the
 *                          include path), fixture_wait_epochs() for an
 *                          engine's own thread
 *   hy_skip(fmt, ...)      "this cannot run here, because ...": inside a
 *   HY_SKIP(fmt, ...)      CUnit case the case is recorded as skipped (and
 *                          HY_SKIP returns from it); anywhere else the
 *                          program prints the reason and exits 77
 *   SANITIZED, thp_probe() what the machine or the build allows
 *   the CUnit runner       (when CUnit's headers are there) one ctest test
 *                          per case: see hy_cunit_main below
 *   the engine fixture     (when the library's internals are on the include
 *                          path: engine.h) a configuration, this machine's
 *                          topology, an engine, a managed mapping
 *
 * Exit statuses everywhere: 0 passed, 1 failed, 77 skipped (CTest's
 * SKIP_RETURN_CODE); a test that cannot run says why and skips, it never
 * passes silently (CONVENTIONS.md, "Tests").
 */
#ifndef HY_TEST_SUPPORT_H
#define HY_TEST_SUPPORT_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HY_UNUSED __attribute__((unused))

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* the sanitizer's runtime owns malloc and must load first */
#else
#define SANITIZED 0
#endif

/*
 * The case that runs (set by the CUnit runner; NULL outside one, and in
 * programs without the runner), whether it skipped and why (hy_skip), and
 * how a failure is recorded in it.  Single-threaded, like CUnit itself.
 */
static struct hy_harness {
	const char *case_id;
	bool skipped;
	char why[240];
	void (*fail)(const char *msg, const char *file, int line);
} hy_harness HY_UNUSED;

/* ---- the clock ------------------------------------------------------------------- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double now_s(void)
{
	return (double)now_ns() / 1e9;
}

/* ---- waiting for the library ----------------------------------------------------- */

/*
 * A check about the library waits for the library -- its epochs, a counter
 * reaching a value -- and never for a fixed time: on a busy machine an
 * epoch of 20 ms may take a second, and a sleep sized for an idle one
 * fails the suite (CONVENTIONS.md, "Tests").  The wall-clock ceiling only
 * turns a hang into a failure: HY_WAIT_CEILING, unless a test has reason to
 * wait longer.
 */
#define HY_WAIT_CEILING 60.0

/* Polls get(arg) every 2 ms until it is at least target, or ceiling
 * seconds have passed; returns the last value read. */
static inline uint64_t hy_wait_for(uint64_t (*get)(void *), void *arg, uint64_t target,
				   double ceiling)
{
	const struct timespec nap = {0, 2 * 1000 * 1000};
	double end = now_s() + ceiling;
	uint64_t v;

	while ((v = get(arg)) < target && now_s() < end)
		nanosleep(&nap, NULL);
	return v;
}

#if __has_include(<hybrid.h>)
#include <dlfcn.h>
#include <hybrid.h>

/*
 * The library's counters in this process, however it got here: linked,
 * preloaded, or not at all (the plain run of a program that the tests also
 * run preloaded).  hybrid_get_stats is found at run time, so a program not
 * linked with libhybrid waits for it too (its build only needs hybrid.h on
 * the include path).  False, *s zeroed, when the library is not loaded or
 * is not managing memory (state not HYBRID_STATE_RUNNING): nothing to wait
 * for then.
 */
static inline bool hy_lib_stats(struct hybrid_stats *s)
{
	static int (*get)(struct hybrid_stats *);

	if (!get)
		get = (int (*)(struct hybrid_stats *))dlsym(RTLD_DEFAULT, "hybrid_get_stats");
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	if (get && get(s) == 0 && s->state == HYBRID_STATE_RUNNING)
		return true;
	memset(s, 0, sizeof(*s));
	return false;
}

/* The library's epochs so far (0 where hy_lib_stats says it is not there). */
static inline uint64_t hy_lib_epochs(void)
{
	struct hybrid_stats s;

	hy_lib_stats(&s);
	return s.epochs;
}

static inline uint64_t hy_lib_epochs_get(void *arg)
{
	(void)arg;
	return hy_lib_epochs();
}

/*
 * Until the library has run n epochs more than when called, at most
 * ceiling seconds.  True at once where the library does not run (there is
 * nothing to wait for); false if the ceiling came first.
 */
static inline bool hy_lib_wait_epochs(unsigned n, double ceiling)
{
	struct hybrid_stats s;

	if (!hy_lib_stats(&s))
		return true;
	return hy_wait_for(hy_lib_epochs_get, NULL, s.epochs + n, ceiling) >= s.epochs + n;
}
#endif /* hybrid.h */

/* ---- checks ---------------------------------------------------------------------- */

static atomic_int check_failures HY_UNUSED;

/*
 * One failed check: "FAIL: message (file:line: condition)" on stderr, in
 * one write(2): usable from any thread and in a forked child of a threaded
 * parent (stdio is not: a child flushing stdout would print its parent's
 * buffered output again).  At most 20 are printed, all are counted.  In a
 * CUnit case it is one of the case's failures instead.
 */
#ifdef HY_CHECK_ABORT
#define HY_CHECK_SAYS "invariant broken: " /* what tests/fuzz/fuzz-test looks for */
#else
#define HY_CHECK_SAYS "FAIL: "
#endif

__attribute__((format(printf, 4, 5), unused)) static void
check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
	char buf[600];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), HY_CHECK_SAYS);

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof(buf))
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, " (%s:%d: %s)", file, line, cond);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	if (hy_harness.case_id && hy_harness.fail) /* a CUnit case: one of its failures */
		hy_harness.fail(buf + strlen(HY_CHECK_SAYS), file, line);
	buf[n++] = '\n';
	if (atomic_fetch_add(&check_failures, 1) < 20 && !hy_harness.case_id &&
	    write(2, buf, (size_t)n) < 0)
		n = 0;
#ifdef HY_CHECK_ABORT
	abort();
#endif
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                      \
	} while (0)

/* A check that failed outright (an operation the test needs went wrong). */
#define CHECK_FAIL(...) check_failed(__FILE__, __LINE__, "failed", __VA_ARGS__)

/* The end of a program made of CHECKs: "NAME: ok" or "NAME: FAILED (n
 * checks)" on stdout, and the exit status. */
static inline int checks_done(const char *name)
{
	int f = atomic_load(&check_failures);

	if (f) {
		printf("%s: FAILED (%d checks)\n", name, f);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

/* ---- skips ----------------------------------------------------------------------- */

/*
 * This cannot run here, because ...  Inside a CUnit case: "SKIP <case>:
 * why" and the case counts as skipped (the caller then returns from it;
 * HY_SKIP does).  Anywhere else the whole program skips: "SKIP: why",
 * exit 77.
 */
__attribute__((format(printf, 1, 2), unused)) static void hy_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hy_harness.why, sizeof(hy_harness.why), fmt, ap);
	va_end(ap);
	if (!hy_harness.case_id) {
		printf("SKIP: %s\n", hy_harness.why);
		exit(77);
	}
	hy_harness.skipped = true;
	printf("\n  SKIP %s: %s\n", hy_harness.case_id, hy_harness.why);
}

#define HY_SKIP(...)                                                                               \
	do {                                                                                       \
		hy_skip(__VA_ARGS__);                                                              \
		return;                                                                            \
	} while (0)

/* A failure found by the support code itself (a fixture that could not be
 * built): recorded in the running case, else the program fails (exit 1). */
__attribute__((format(printf, 3, 4), unused)) static void hy_fail(const char *file, int line,
								   const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!hy_harness.case_id) {
		printf("FAIL: %s\n", msg);
		exit(1);
	}
	printf("\n  FAIL: %s\n", msg);
	if (hy_harness.fail)
		hy_harness.fail(msg, file, line);
}

/* ---- the machine ----------------------------------------------------------------- */

/*
 * Is the page at addr part of a transparent huge page?  1, 0, or -1 when
 * that cannot be read here: the page's frame comes from /proc/self/pagemap
 * and its KPF_THP flag from /proc/kpageflags, both root's.
 */
static inline int thp_probe(const void *addr)
{
	const uint64_t pfn_mask = (1ULL << 55) - 1;
	uint64_t ent = 0, flags = 0;
	int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
	int r = -1;

	if (pm >= 0 && kf >= 0 && pread(pm, &ent, 8, (off_t)((uintptr_t)addr / 4096 * 8)) == 8 &&
	    (ent >> 63) && (ent & pfn_mask) &&
	    pread(kf, &flags, 8, (off_t)((ent & pfn_mask) * 8)) == 8)
		r = (int)(flags >> 22 & 1); /* KPF_THP */
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return r;
}

/* ---- the CUnit runner ------------------------------------------------------------ */

#if __has_include(<CUnit/CUnit.h>)
#include <CUnit/CUnit.h>
#include <CUnit/TestRun.h>

struct hy_test {
	const char *name;
	void (*fn)(void);
};

#define HY_TEST(fn) {#fn, fn}

/*
 * A suite: cases whose ids are PREFIX.NAME (NAME when prefix is NULL).
 * setup, if any, runs once before the first of its cases that runs (so a
 * case run alone finds what the cases before it would have set up); it
 * returns NULL, or why none of them can run here (each is then skipped
 * with that reason, without running; setup itself does not call hy_skip).
 * Suites run in their order.
 */
struct hy_suite {
	const char *prefix;
	const struct hy_test *tests;
	size_t n;
	const char *(*setup)(void);
};

#define HY_SUITE(prefix, tests, setup) {prefix, tests, sizeof(tests) / sizeof(tests[0]), setup}

#define HY_MAX_CASES 128

static struct hy_run {
	char id[HY_MAX_CASES][96];
	char skip[HY_MAX_CASES][96 + 2 + 240]; /* "id: why" of each skipped case */
	unsigned passed, failed, skipped;
} hy_run HY_UNUSED;

static inline void hy_record_failure(const char *msg, const char *file, int line)
{
	CU_assertImplementation(CU_FALSE, (unsigned)line, msg, file, "", CU_FALSE);
}

static inline void hy_note_skip(const char *id, const char *why)
{
	if (hy_run.skipped < HY_MAX_CASES)
		snprintf(hy_run.skip[hy_run.skipped], sizeof(hy_run.skip[0]), "%s: %s", id, why);
	hy_run.skipped++;
}

static inline void hy_case_start(const CU_pTest t, const CU_pSuite s)
{
	(void)s;
	hy_harness.case_id = t->pName;
	hy_harness.skipped = false;
	printf("  %s ...", t->pName);
	fflush(stdout);
}

static inline void hy_case_done(const CU_pTest t, const CU_pSuite s, const CU_pFailureRecord f)
{
	(void)s;
	if (f) {
		printf(" FAILED\n");
		for (CU_pFailureRecord r = f; r && r->pTest == t; r = r->pNext)
			printf("    %s:%u: %s\n", r->strFileName, r->uiLineNumber, r->strCondition);
		hy_run.failed++;
	} else if (hy_harness.skipped) { /* hy_skip said so */
		hy_note_skip(t->pName, hy_harness.why);
	} else {
		printf(" passed\n");
		hy_run.passed++;
	}
	fflush(stdout);
	hy_harness.case_id = NULL;
}

static inline bool hy_selected(const char *id, const char *prefix, int argc, char **argv)
{
	if (argc == 0)
		return true;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], id) || (prefix && !strcmp(argv[i], prefix)))
			return true;
	return false;
}

/*
 * main() of a CUnit test program, after the program's own arguments:
 *
 *   PROG ... --list        the case ids, one a line (the build makes one
 *                          ctest test of each: tests/unit/discover.cmake)
 *   PROG ... [ID|PREFIX]...  those cases (all of them without one), in
 *                          their suites' order; a summary counts passed,
 *                          skipped and failed apart
 *
 * Exit: 1 if any case failed (or nothing ran), 77 if every case that ran
 * skipped, 0 otherwise; 2 for an unknown case.
 */
static inline int hy_cunit_main(int argc, char **argv, const char *title,
				const struct hy_suite *suites, size_t nsuites)
{
	size_t ncases = 0;
	char name[128];

	for (size_t k = 0; k < nsuites; k++)
		for (size_t i = 0; i < suites[k].n; i++) {
			if (ncases == HY_MAX_CASES) {
				fprintf(stderr, "%s: more than %d cases\n", title, HY_MAX_CASES);
				return 1;
			}
			snprintf(hy_run.id[ncases++], sizeof(hy_run.id[0]), "%s%s%s",
				 suites[k].prefix ? suites[k].prefix : "", suites[k].prefix ? "." : "",
				 suites[k].tests[i].name);
		}
	if (argc > 0 && !strcmp(argv[0], "--list")) {
		for (size_t c = 0; c < ncases; c++)
			printf("%s\n", hy_run.id[c]);
		return 0;
	}
	for (int a = 0; a < argc; a++) {
		bool known = false;

		for (size_t k = 0; k < nsuites; k++)
			known |= suites[k].prefix && !strcmp(argv[a], suites[k].prefix);
		for (size_t c = 0; c < ncases; c++)
			known |= !strcmp(argv[a], hy_run.id[c]);
		if (!known) {
			fprintf(stderr, "%s: no case or suite \"%s\" (--list lists them)\n", title,
				argv[a]);
			return 2;
		}
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_set_test_start_handler(hy_case_start);
	CU_set_test_complete_handler(hy_case_done);
	hy_harness.fail = hy_record_failure;
	printf("%s\n", title);
	for (size_t k = 0, c = 0; k < nsuites; c += suites[k++].n) {
		const struct hy_suite *su = &suites[k];
		const char *why = NULL;
		bool any = false, setup_done = false;
		CU_pSuite s;

		snprintf(name, sizeof(name), "%s.%zu", title, k); /* CUnit wants them distinct */
		s = CU_add_suite(name, NULL, NULL);
		for (size_t i = 0; s && i < su->n; i++) {
			if (!hy_selected(hy_run.id[c + i], su->prefix, argc, argv))
				continue;
			if (!setup_done && su->setup) /* before its first case */
				why = su->setup();
			setup_done = true;
			if (why) {
				printf("  %s ...\n  SKIP %s: %s\n", hy_run.id[c + i],
				       hy_run.id[c + i], why);
				hy_note_skip(hy_run.id[c + i], why);
				continue;
			}
			CU_add_test(s, hy_run.id[c + i], su->tests[i].fn);
			any = true;
		}
		if (any)
			CU_run_suite(s);
	}
	CU_cleanup_registry();
	printf("\n%s: %u passed, %u skipped, %u failed\n", title, hy_run.passed, hy_run.skipped,
	       hy_run.failed);
	for (unsigned i = 0; i < hy_run.skipped && i < HY_MAX_CASES; i++)
		printf("  skipped %s\n", hy_run.skip[i]);
	if (hy_run.failed || !(hy_run.passed + hy_run.skipped))
		return 1;
	return hy_run.passed ? 0 : 77;
}

/* One suite of cases whose ids are their names. */
static inline int hy_cunit_run(int argc, char **argv, const char *title,
			       const struct hy_test *tests, size_t n)
{
	const struct hy_suite s = {NULL, tests, n, NULL};

	return hy_cunit_main(argc, argv, title, &s, 1);
}

#define HY_CUNIT_MAIN(title, tests)                                                                \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return hy_cunit_run(argc - 1, argv + 1, title, tests,                              \
				    sizeof(tests) / sizeof(tests[0]));                             \
	}

#endif /* CUnit */

/* ---- the engine fixture ---------------------------------------------------------- */

#if __has_include("engine.h")
#include <sys/mman.h>

#include "engine.h"
#include "track.h"

/*
 * An engine as the tests build it: options "name=value ..." over the
 * defaults ("tiers=0/0" is the loopback pair, node 0 as fast and slow tier,
 * which lets the engine run on a one-node machine), this machine's topology
 * under them, the engine, and a managed anonymous mapping if asked for.
 *
 * Each step returns true, or false after it has skipped (it cannot run
 * here: fewer than two tiers, the backend asked for not available, no
 * engine) or failed (a bad option, no memory) through hy_skip()/hy_fail(),
 * with what it had built taken down again.  Inside a CUnit case the caller
 * then returns; elsewhere the program has exited 77 or 1.
 */
struct fixture {
	struct hy_config cfg;
	struct hy_topo *topo;
	struct hy_engine *e;
	unsigned char *mem; /* fixture_map: managed, len bytes */
	size_t len;
};

static inline void fixture_down(struct fixture *f)
{
	hy_engine_destroy(f->e);
	if (f->mem)
		munmap(f->mem, f->len);
	free(f->topo);
	memset(f, 0, sizeof(*f));
}

/* More options, printf-style: "name=value name=value ...". */
__attribute__((format(printf, 2, 3), unused)) static bool fixture_set(struct fixture *f,
								      const char *fmt, ...)
{
	char opts[512], *save = NULL;
	struct hy_err err = {""};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(opts, sizeof(opts), fmt, ap);
	va_end(ap);
	for (char *o = strtok_r(opts, " ", &save); o; o = strtok_r(NULL, " ", &save)) {
		char *v = strchr(o, '=');
		int id;

		if (v)
			*v++ = 0;
		id = hy_config_lookup(o);
		if (!v || id < 0 || hy_config_set(&f->cfg, id, v, HY_SRC_API, &err)) {
			hy_fail(__FILE__, __LINE__, "fixture option %s: %s", o,
				err.msg[0] ? err.msg : "not name=value, or no such option");
			fixture_down(f);
			return false;
		}
	}
	return true;
}

/* The configuration (defaults, then the options) and the topology under it. */
__attribute__((format(printf, 2, 3), unused)) static bool fixture_config(struct fixture *f,
									 const char *fmt, ...)
{
	char opts[512];
	struct hy_err err = {""};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(opts, sizeof(opts), fmt, ap);
	va_end(ap);
	memset(f, 0, sizeof(*f));
	hy_config_defaults(&f->cfg);
	if (!fixture_set(f, "%s", opts))
		return false;
	f->topo = calloc(1, sizeof(*f->topo)); /* large: not on the stack */
	if (!f->topo) {
		hy_fail(__FILE__, __LINE__, "fixture: no memory");
		return false;
	}
	if (hy_topo_discover(f->topo, "/", &f->cfg, &err) || f->topo->ntiers < 2) {
		fixture_down(f);
		hy_skip("needs two memory tiers (%s)", err.msg[0] ? err.msg : "one tier here");
		return false;
	}
	return true;
}

/* The engine on the fixture's configuration and topology, with the backend
 * the options asked for if they named one (not auto).  No engine because
 * that backend's tracker cannot open here: a skip; for any other reason: a
 * failure. */
static inline bool fixture_engine(struct fixture *f)
{
	struct hy_err err = {""}, why = {""};
	struct hy_track *t = NULL;
	char want[16];

	hy_config_format(&f->cfg, HY_OPT_BACKEND, want, sizeof(want));
	if (hy_engine_create(&f->e, &f->cfg, f->topo, &err)) {
		bool tracker = hy_track_open(&t, f->cfg.backend, NULL, &why) != 0;

		hy_track_close(t);
		f->e = NULL;
		fixture_down(f);
		if (tracker)
			hy_skip("backend %s cannot run here: %s", want, why.msg);
		else
			hy_fail(__FILE__, __LINE__, "fixture: no engine: %s", err.msg);
		return false;
	}
	if (strcmp(want, "auto") && strcmp(hy_engine_backend(f->e), want)) {
		hy_skip("backend %s not available here (got %s)", want, hy_engine_backend(f->e));
		fixture_down(f);
		return false;
	}
	return true;
}

static inline bool fixture_engine_if(bool configured, struct fixture *f)
{
	return configured && fixture_engine(f);
}

/* fixture_config(f, fmt, ...), then fixture_engine(f). */
#define fixture_up(f, ...) fixture_engine_if(fixture_config(f, __VA_ARGS__), f)

/* f->mem: len bytes of private anonymous memory, madvise(advice)
 * (MADV_NOHUGEPAGE: base pages; MADV_NORMAL: as the system does), then
 * managed with hint.  Not touched. */
static inline bool fixture_map(struct fixture *f, size_t len, enum hy_hint hint, int advice)
{
	int rc;

	f->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->mem == MAP_FAILED) {
		f->mem = NULL;
		hy_fail(__FILE__, __LINE__, "fixture: cannot map %zu bytes", len);
		fixture_down(f);
		return false;
	}
	f->len = len;
	madvise(f->mem, len, advice);
	if ((rc = hy_engine_manage(f->e, f->mem, len, hint))) {
		hy_fail(__FILE__, __LINE__, "fixture: manage %zu bytes: %s", len, strerror(-rc));
		fixture_down(f);
		return false;
	}
	return true;
}

static inline uint64_t fixture_epochs_get(void *e)
{
	struct hy_stats st;

	hy_engine_stats(e, &st);
	return st.epochs;
}

/* With the engine's own thread running (hy_engine_start_thread): until its
 * epoch counter reaches target, at most ceiling seconds (hy_wait_for);
 * returns the count then. */
static inline uint64_t fixture_wait_epochs(struct fixture *f, uint64_t target, double ceiling)
{
	return hy_wait_for(fixture_epochs_get, f->e, target, ceiling);
}
#endif /* engine.h */

#endif
