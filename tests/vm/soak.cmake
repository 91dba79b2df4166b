# soak: a bounded soak on real tiers (issue 9) — one long managed process sampled
# for RSS, mappings and live counters while the preload's stress programs run
# beside it (see the comment at the top of soak.sh).  One boot, 6.12 2tier,
# about 100 s of work.  Included from CMakeLists.txt after TIERED_VM is set.
if(TARGET hybridctl AND TARGET hot_workload AND TARGET stress_mmap)
  add_test(NAME vm.soak.6.12.2tier
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/soak.sh host ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR} 100)
  set_tests_properties(vm.soak.6.12.2tier PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 760 PROCESSORS 2)
endif()
