# test_api_vm: the public API's hints on real tiers (see test_api_vm.c).  Linked
# against libhybrid.so like a program; three boots: 6.12 (async tracking), 7.3 (rwp)
# and 6.1 (sync).  NUMA balancing off: PIN and DEFAULT ranges have the default policy, and
# the kernel would move their pages itself.
add_executable(test_api_vm test_api_vm.c)
target_link_libraries(test_api_vm PRIVATE hybrid)
set_target_properties(test_api_vm PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
foreach(run 6.12/async 6.1/sync 7.3/rwp)
  string(REPLACE "/" ";" run ${run})
  list(GET run 0 kernel)
  list(GET run 1 backend)
  set(name vm.api.${kernel}.2tier.${backend})
  add_test(NAME ${name}
           COMMAND ${TIERED_VM} --kernel ${kernel} --topology 2tier
                   --sysctl kernel.numa_balancing=0 ${VM_COMMON}
                   -- $<TARGET_FILE:test_api_vm> ${backend})
  set_tests_properties(${name} PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 660 PROCESSORS 2)
endforeach()
