/* SPDX-License-Identifier: MIT */
/*
 * The main() of every CUnit test executable: register the suites given by
 * the file, run them verbosely, exit 0 if all passed, 1 otherwise (CTest and
 * CONVENTIONS.md: 77 is reserved for "cannot run here").
 */
#ifndef HY_CUNIT_MAIN_H
#define HY_CUNIT_MAIN_H

#include <CUnit/Basic.h>
#include <stdio.h>

struct hy_test {
	const char *name;
	void (*fn)(void);
};

#define HY_TEST(fn) {#fn, fn}

static inline int hy_cunit_run(const char *suite, const struct hy_test *tests, size_t n)
{
	CU_pSuite s;
	unsigned fails;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite(suite, NULL, NULL);
	for (size_t i = 0; s && i < n; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	fails = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (!CU_get_number_of_tests_run())
		fails++; /* a suite that ran nothing did not pass */
	CU_cleanup_registry();
	printf("\n");
	return fails ? 1 : 0;
}

#define HY_CUNIT_MAIN(suite, tests)                                                                \
	int main(void)                                                                             \
	{                                                                                          \
		return hy_cunit_run(suite, tests, sizeof(tests) / sizeof(tests[0]));               \
	}

#endif
