/* SPDX-License-Identifier: MIT */
/*
 * The test harness: what every test program shares.  Header only, every
 * part static, so that a program takes what it uses:
 *
 *   hy_skip(fmt, ...)      "this cannot run here, because ...": inside a
 *   HY_SKIP(fmt, ...)      CUnit case the case is recorded as skipped (and
 *                          HY_SKIP returns from it); anywhere else the
 *                          program prints the reason and exits 77
 *   SANITIZED              what the build allows
 *   the CUnit runner       (when CUnit's headers are there) one ctest test
 *                          per case: see hy_cunit_main below
 *
 * Exit statuses everywhere: 0 passed, 1 failed, 77 skipped (CTest's
 * SKIP_RETURN_CODE); a test that cannot run says why and skips, it never
 * passes silently (CONVENTIONS.md, "Tests").
 */
#ifndef HY_TEST_SUPPORT_H
#define HY_TEST_SUPPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HY_UNUSED __attribute__((unused))

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* the sanitizer's runtime owns malloc and must load first */
#else
#define SANITIZED 0
#endif

/*
 * The case that runs (set by the CUnit runner; NULL outside one, and in
 * programs without the runner), and whether it skipped and why (hy_skip).
 * Single-threaded, like CUnit itself.
 */
static struct hy_harness {
	const char *case_id;
	bool skipped;
	char why[240];
} hy_harness HY_UNUSED;

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

#endif
