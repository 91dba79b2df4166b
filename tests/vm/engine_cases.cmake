# test_engine_cases: the engine's rules in the tiered VM, one case per test (see the
# comment at the top of test_engine_cases.c).  Included from CMakeLists.txt after
# TIERED_VM and VM_COMMON are set.  Linked with the hybrid_core objects like
# test_engine_vm (the hy_engine_* functions are hidden in libhybrid.so).
add_executable(test_engine_cases test_engine_cases.c $<TARGET_OBJECTS:hybrid_core>)
target_include_directories(test_engine_cases PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(test_engine_cases PRIVATE PkgConfig::NUMA)
set_target_properties(test_engine_cases PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})

# kernel/topology/backend/case: async needs 6.7+ (6.12, 7.3); 6.1 has the sync backend only;
# rwp needs 7.3 and runs with a feed that only reads (what only it can see).
# Sync runs use smaller sizes (a fault round trip costs milliseconds under TCG).
foreach(run 6.12/2tier/async/limit 6.1/2tier/sync/limit
            6.12/2tier/async/pin 6.1/2tier/sync/pin
            6.12/2tier/async/shared 6.1/2tier/sync/shared
            6.12/3tier/async/chain
            6.12/2tier/async/balloon 6.1/2tier/sync/balloon
            6.12/2tier/async/thp
            7.3/2tier/rwp/limit 7.3/2tier/rwp/pin 7.3/2tier/rwp/shared
            7.3/3tier/rwp/chain 7.3/2tier/rwp/balloon 7.3/2tier/rwp/thp)
  string(REPLACE "/" ";" run ${run})
  list(GET run 0 kernel)
  list(GET run 1 topology)
  list(GET run 2 backend)
  list(GET run 3 case)
  # pin: the pinned range has the default policy, so the kernel's NUMA balancing (on by
  # default on both kernels) would migrate its pages itself; the case needs it off.
  set(extra)
  if(case STREQUAL "pin")
    set(extra --sysctl kernel.numa_balancing=0)
  endif()
  set(feed)
  if(backend STREQUAL "rwp")
    set(feed reads)
  endif()
  set(name vm.engine_cases.${case}.${kernel}.${topology}.${backend})
  add_test(NAME ${name}
           COMMAND ${TIERED_VM} --kernel ${kernel} --topology ${topology} ${extra} ${VM_COMMON}
                   -- $<TARGET_FILE:test_engine_cases> ${case} ${backend} ${feed})
  set_tests_properties(${name} PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 660 PROCESSORS 2)
endforeach()
