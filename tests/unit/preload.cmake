# The preload layer seen from a program: test_preload runs with libhybrid.so
# preloaded and the loopback tier pair (the engine manages memory for real on
# a one-node host); test_linked links -lhybrid and checks that the program's
# own heap stays glibc's.  Neither can run in a sanitized build: the
# sanitizer owns malloc and must come first in the library list (the loader
# stops a preloaded test before main), so there they skip, saying why.
if(HYBRID_ASAN OR HYBRID_TSAN)
  foreach(t test_preload test_linked)
    add_test(NAME unit.${t} COMMAND sh -c "echo 'skip: a sanitizer build owns malloc; ${t} needs libhybrid to'; exit 77")
    set_tests_properties(unit.${t} PROPERTIES LABELS unit SKIP_RETURN_CODE 77)
  endforeach()
  return()
endif()

add_executable(test_preload test_preload.c)
target_link_libraries(test_preload PRIVATE PkgConfig::CUNIT PkgConfig::NUMA)
add_test(NAME unit.test_preload COMMAND test_preload)
set_tests_properties(unit.test_preload PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 120
  ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:hybrid>;HYBRID_FAST_NODES=0;HYBRID_SLOW_NODES=0;HYBRID_EPOCH=50ms")

add_executable(test_linked test_linked.c)
target_link_libraries(test_linked PRIVATE PkgConfig::CUNIT hybrid)
target_link_options(test_linked PRIVATE -Wl,--no-as-needed)
add_test(NAME unit.test_linked COMMAND test_linked)
set_tests_properties(unit.test_linked PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 60
  ENVIRONMENT "HYBRID_FAST_NODES=0;HYBRID_SLOW_NODES=0;HYBRID_EPOCH=50ms")
