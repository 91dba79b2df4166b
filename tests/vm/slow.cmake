# A slow tier you can feel (issue 21).  Included from CMakeLists.txt after TIERED_VM
# is set and slowmem/memlat are defined.
#   vm.slow.args            host only: tiered-vm --slow's argument errors, one line each,
#                           and a skip (77) when the plugin is not built
#   vm.slow.6.12.2tier      boots with the plugin (node 1: 800 ns per missed line) and
#                           --calibrate: memlat's node1/node0 chase latency is within 15%
#                           of (base + 800) / base, the stream on node 1 finishes
#                           (test_slow.sh; the plugin adds about a minute to the boot)
add_test(NAME vm.slow.args COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_slow.sh args ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(vm.slow.args PROPERTIES LABELS tools SKIP_RETURN_CODE 77 TIMEOUT 60)
add_test(NAME vm.slow.6.12.2tier COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_slow.sh vm ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(vm.slow.6.12.2tier PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 1560 PROCESSORS 2)
