# test_api: the public API (include/hybrid.h) through the shared library, as a
# program sees it: linked against the `hybrid` target, never the core objects.
# The process has one libhybrid instance whose start is final, so each way the
# library can be running is its own run of the executable:
#   off       hybrid_init(mode=off): unmanaged (what a one-tier machine gives)
#   loopback  hybrid_init with the loopback tier pair: the engine runs
#   lazy      no hybrid_init: started from HYBRID_* on the first call
add_executable(test_api test_api.c)
target_link_libraries(test_api PRIVATE hybrid PkgConfig::CUNIT)
target_include_directories(test_api PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
hybrid_cunit_tests(test_api VARIANT off ARGS off)
hybrid_cunit_tests(test_api VARIANT loopback ARGS loopback)
hybrid_cunit_tests(test_api VARIANT lazy ARGS lazy
  ENVIRONMENT HYBRID_FAST_NODES=0 HYBRID_SLOW_NODES=0 HYBRID_EPOCH=20ms)

# test_api_hostile: the API with hostile arguments (already freed, overlapping,
# overflowing, not user memory, lying sizes) and from several threads at once.
find_package(Threads REQUIRED)
add_executable(test_api_hostile test_api_hostile.c)
target_link_libraries(test_api_hostile PRIVATE hybrid PkgConfig::CUNIT Threads::Threads)
target_include_directories(test_api_hostile PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
foreach(mode off loopback)
  hybrid_cunit_tests(test_api_hostile VARIANT ${mode} ARGS ${mode})
endforeach()
