# test_migrate: the migrator (lib/migrate.c) on real kernels and nodes, in the tiered VM.
# Included from CMakeLists.txt after TIERED_VM and VM_COMMON are set.  Linked with the
# hybrid_core objects like the unit tests, since hy_mig_* are hidden in libhybrid.so.
add_executable(test_migrate test_migrate.c $<TARGET_OBJECTS:hybrid_core>)
target_include_directories(test_migrate PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/include)
target_link_libraries(test_migrate PRIVATE PkgConfig::CUNIT PkgConfig::NUMA)
set_target_properties(test_migrate PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})

foreach(pair 6.1/2tier 6.12/2tier 6.12/3tier 7.3/2tier)
  string(REPLACE "/" ";" pair ${pair})
  list(GET pair 0 kernel)
  list(GET pair 1 topology)
  set(name vm.test_migrate.${kernel}.${topology})
  add_test(NAME ${name}
           COMMAND ${TIERED_VM} --kernel ${kernel} --topology ${topology} ${VM_COMMON}
                   -- $<TARGET_FILE:test_migrate>)
  set_tests_properties(${name} PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 660 PROCESSORS 2)
endforeach()
