# test_faults: the engine against failing system calls, through the fault
# seam (lib/fault.h), so it links the core built with HYBRID_FAULT_INJECTION.
add_executable(test_faults test_faults.c $<TARGET_OBJECTS:hybrid_core_fi>)
target_include_directories(test_faults PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/include)
target_compile_definitions(test_faults PRIVATE HYBRID_FAULT_INJECTION)
target_link_libraries(test_faults PRIVATE PkgConfig::CUNIT PkgConfig::NUMA)
hybrid_cunit_tests(test_faults)
