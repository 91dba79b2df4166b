# One ctest test per CUnit case, found the way gtest_discover_tests finds
# them: run after each build of a test program (POST_BUILD, see
# hybrid_cunit_tests in CMakeLists.txt), it asks the program for its cases
# (`PROG ARGS... --list`, tests/support.h) and writes OUT, a file of add_test()
# calls that the directory's TEST_INCLUDE_FILES brings into ctest:
#
#   PREFIX.<case>  =  PROG ARGS... <case>,  with the properties in PROPS
#
# cmake -D EXE=... [-D ARGS=a;b] -D PREFIX=unit.x -D PROPS=file -D OUT=file
#       [-D LAUNCHER=cmd;arg] -P discover.cmake
# A program that cannot list its cases fails the build: a test that is not
# registered would never fail.
foreach(v EXE PREFIX PROPS OUT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "discover.cmake: ${v} not set")
  endif()
endforeach()

execute_process(COMMAND ${LAUNCHER} ${EXE} ${ARGS} --list
                OUTPUT_VARIABLE listed ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${EXE} ${ARGS} --list: exit ${rc}\n${listed}${err}")
endif()
file(READ ${PROPS} props)
string(REPLACE "\n" ";" cases "${listed}")
set(script "# ${EXE} ${ARGS} --list, written by tests/unit/discover.cmake\n")
set(args "")
foreach(a IN LISTS ARGS)
  string(APPEND args " [==[${a}]==]")
endforeach()
set(n 0)
foreach(c IN LISTS cases)
  if(c STREQUAL "")
    continue()
  endif()
  if(NOT c MATCHES "^[A-Za-z0-9_.-]+$")
    message(FATAL_ERROR "${EXE} ${ARGS} --list: \"${c}\" is no case name")
  endif()
  string(APPEND script "add_test([==[${PREFIX}.${c}]==] [==[${EXE}]==]${args} [==[${c}]==])\n"
                       "set_tests_properties([==[${PREFIX}.${c}]==] PROPERTIES ${props})\n")
  math(EXPR n "${n} + 1")
endforeach()
if(n EQUAL 0)
  message(FATAL_ERROR "${EXE} ${ARGS} --list: no cases")
endif()
# Rewritten only when it changes, so that ctest's view is stable across builds.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT "${old}" STREQUAL "${script}")
  file(WRITE ${OUT} "${script}")
endif()
