# PostgreSQL under the preload in the tiered VM (issue 20).  Included from
# CMakeLists.txt after TIERED_VM is set.
#   vm.pgbench.6.12.2tier  initdb, the server under hybridctl (shared_buffers
#                          64MB) as uid 65534, pgbench -i -s 2 and 1000
#                          transactions; no failed transaction, the balances'
#                          sums equal the history's, hybridctl stat read while
#                          pgbench runs (test_pgbench.sh), shared_buffers
#                          counted as the tree's shared memory (shared_bytes).
#   vm.pgbench.7.3.2tier   the same on Linux 7.3, where the library tracks reads
#                          too (rwp).
# The VM boots an initramfs with PostgreSQL 15 in it (TIERED_VM_POSTGRESQL=1,
# tests/vm/mkinitramfs); without PostgreSQL on the host the test skips.
if(TARGET hybridctl)
  foreach(kver 6.12 7.3) # async write tracking; rwp (reads and writes)
    add_test(NAME vm.pgbench.${kver}.2tier
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_pgbench.sh host ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${kver})
    set_tests_properties(vm.pgbench.${kver}.2tier PROPERTIES LABELS vm SKIP_RETURN_CODE 77 TIMEOUT 1860 PROCESSORS 2)
  endforeach()
endif()
