# test_hybridctl_vm: hybridctl end to end on real tiers (issue 7) — launch with
# --stats=FILE, `hybridctl stat PID` while it runs, the report at exit.  One boot
# (6.12, 2tier); the script boots the VM itself and checks the JSON on the host
# (the guest has no python).  Included from CMakeLists.txt after TIERED_VM is set.
if(TARGET hybridctl AND TARGET hot_workload)
  add_test(NAME vm.hybridctl.6.12.2tier
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_hybridctl_vm.sh host ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(vm.hybridctl.6.12.2tier PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 660 PROCESSORS 2)
endif()
