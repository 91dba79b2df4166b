# Smoke tests of the benchmarks (issue 8): each runs `bench/run --smoke NAME` — tiny
# sizes, one repetition — into its own folder under the build tree and checks that the
# programs run and write well-formed CSV (bench/mkresults summarise fails otherwise).
# Never timings: a benchmark is not a test.  Label "bench"; the ones that boot the
# tiered VM also "vm" (cost73 and capture73 boot the 7.3 kernel).  Exit 77 (skipped):
# what a benchmark needs is missing here (the VM's kernels, redis, a tracking backend).
# About 10 s each on the host, 10-30 s in the VM; the limits (600 s; 1260 s, above
# bench/run's own VM limits of 900 and 1200 s) only
# catch hangs, a busy machine takes several times as long.
set(BENCH_RUN ${CMAKE_CURRENT_SOURCE_DIR}/run)
foreach(name overhead roundtrip malloc startup redis scale capture tradeoff migrate cost73 capture73 speed
             speedredis)
  add_test(NAME bench.smoke.${name}
           COMMAND ${BENCH_RUN} -B ${CMAKE_BINARY_DIR} --smoke --no-build
                   -o ${CMAKE_CURRENT_BINARY_DIR}/smoke/${name} ${name})
  if(name MATCHES "^(capture|tradeoff|migrate|cost73|capture73|speed|speedredis)$")
    set_tests_properties(bench.smoke.${name} PROPERTIES LABELS "bench;vm" SKIP_RETURN_CODE 77
                         TIMEOUT 1260 PROCESSORS 2)
  else()
    set_tests_properties(bench.smoke.${name} PROPERTIES LABELS bench SKIP_RETURN_CODE 77 TIMEOUT 600)
  endif()
endforeach()
