# Hardening in the tiered VM (issue 9).  Included from CMakeLists.txt after TIERED_VM
# is set.
#   vm.unpriv_uffd.KERNEL.2tier  an unprivileged user with vm.unprivileged_userfaultfd=0
#                                (test_unpriv_uffd.sh, unpriv_probe.c): placement works,
#                                tracking is what the kernel permits (7.3 rwp, 6.12 async,
#                                6.1 off),
#                                never the sync backend on a user-mode-only userfaultfd
#   vm.shm_kill.6.12.2tier       a MAP_SHARED memfd migrated while another process reads
#                                it, the migrating process killed inside move_pages
#                                (test_shm_kill.sh, shm_migrate.c)
add_executable(unpriv_probe unpriv_probe.c)
# hybrid.h only: it reads the preloaded library's epochs through dlsym (tests/support.h)
target_include_directories(unpriv_probe PRIVATE ${PROJECT_SOURCE_DIR}/include)
set_target_properties(unpriv_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_executable(shm_migrate shm_migrate.c)
target_link_libraries(shm_migrate PRIVATE hybrid)
set_target_properties(shm_migrate PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
if(TARGET hybridctl)
  foreach(kernel 6.12 6.1 7.3)
    add_test(NAME vm.unpriv_uffd.${kernel}.2tier
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_unpriv_uffd.sh host ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${kernel})
    set_tests_properties(vm.unpriv_uffd.${kernel}.2tier PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 960 PROCESSORS 2)
  endforeach()
  add_test(NAME vm.shm_kill.6.12.2tier
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_shm_kill.sh host ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(vm.shm_kill.6.12.2tier PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 1260 PROCESSORS 2)
endif()
