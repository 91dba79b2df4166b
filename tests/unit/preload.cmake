# The preload layer seen from a program: test_preload runs with libhybrid.so
# preloaded and the loopback tier pair (the engine manages memory for real on
# a one-node host); test_linked links -lhybrid and checks that the program's
# own heap stays glibc's.  In a sanitized build the sanitizer owns malloc and
# must come first in the library list (a preloaded libhybrid.so would stop the
# program in the loader, before main): there test_preload runs without the
# preload and every case skips, and test_linked's heap case skips, each
# saying why (the programs know SANITIZED from tests/support.h).
if(HYBRID_ASAN OR HYBRID_TSAN)
  set(preload "")
else()
  set(preload LD_PRELOAD=$<TARGET_FILE:hybrid>)
endif()

add_executable(test_preload test_preload.c)
# hybrid.h only (support.h reads the preloaded library's counters through dlsym): not linked
target_include_directories(test_preload PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(test_preload PRIVATE PkgConfig::CUNIT PkgConfig::NUMA)
add_dependencies(test_preload hybrid)
hybrid_cunit_tests(test_preload
  ENVIRONMENT ${preload} HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 HYBRID_EPOCH=50ms)

add_executable(test_linked test_linked.c)
target_link_libraries(test_linked PRIVATE PkgConfig::CUNIT hybrid)
target_link_options(test_linked PRIVATE -Wl,--no-as-needed)
hybrid_cunit_tests(test_linked TIMEOUT 60
  ENVIRONMENT HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 HYBRID_EPOCH=50ms)
