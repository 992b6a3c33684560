# The test harness's CMake half (the C half is tests/test.h and
# tests/runner.c). Every suite (the core's, each adapter's, the adapters
# together) is a test program built from tests/runner.c, its test files and
# a list, NAME-list.h, of one line per test:
#
#   X(name)                          a test
#   X(name, stress)                  heavy or scale: 300 s, run alone
#                                    (RUN_SERIAL, its valgrind_ twin
#                                    too), label "stress" too
#   X(name, no_valgrind)             no valgrind_ twin
#   X(name, needs("PROGRAM"))        registered only where PROGRAM is
#                                    (a name on PATH or an absolute path)
#   X(name, runs_valgrind)           starts Valgrind on its own binary:
#                                    registered only where Valgrind can run
#                                    this tree's programs (installed, a
#                                    native build, no sanitizers); no twin
#
# The tags combine in any order: X(name, stress, no_valgrind). C reads the
# same file (runner.c ignores the tags). A line
#
#   #include "OTHER-list.h"          every test of that list, here
#
# shares a list between suites (tests/file-list.h: the core's file tests,
# which aioc_uring's suite runs again); it is found as the compiler finds
# it: beside the including list, else in tests/.
#
# aioc_test_suite(TARGET LIST file LABEL label [PREFIX prefix]
#                 [SUPPRESSIONS file...] [VALGRIND_ENV VAR=value])
# adds the runner and the list to the executable TARGET, and one ctest
# entry per listed test: PREFIX<name>, running `TARGET name`, 120 s, label
# LABEL. With AIOC_VALGRIND_TESTS each also runs under Valgrind as
# valgrind_PREFIX<name> (300 s, labels LABEL and "valgrind"; an error or a
# definite leak fails it, tests/valgrind.supp and SUPPRESSIONS apply,
# VALGRIND_ENV is set for it).
option(AIOC_VALGRIND_TESTS "Also run the tests under Valgrind (valgrind_<name>)" OFF)
find_program(VALGRIND valgrind)

function(aioc_test_suite target)
  cmake_parse_arguments(arg "" "LIST;LABEL;PREFIX;VALGRIND_ENV" "SUPPRESSIONS" ${ARGN})
  get_filename_component(list ${arg_LIST} ABSOLUTE)
  target_sources(${target} PRIVATE ${aioc_SOURCE_DIR}/tests/runner.c)
  target_compile_definitions(${target} PRIVATE AIOC_TEST_LIST="${list}")
  target_include_directories(${target} PRIVATE ${aioc_SOURCE_DIR}/tests)
  aioc_test_list_lines(lines files ${list})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${files})
  set(valgrind "")
  if(AIOC_VALGRIND_TESTS AND VALGRIND AND NOT CMAKE_CROSSCOMPILING)
    set(valgrind ${VALGRIND} -q --error-exitcode=99 --leak-check=full
      --errors-for-leak-kinds=definite --suppressions=${aioc_SOURCE_DIR}/tests/valgrind.supp)
    foreach(file ${arg_SUPPRESSIONS})
      list(APPEND valgrind --suppressions=${file})
    endforeach()
  endif()

  foreach(line ${lines})
    if(NOT line MATCHES "^X\\(([a-z0-9_]+)((, *[a-z_]+(\\([^)]*\\))?)*)\\)")
      message(FATAL_ERROR "${list}: cannot read '${line}'")
    endif()
    set(name ${CMAKE_MATCH_1})
    set(test ${arg_PREFIX}${name})
    string(REGEX MATCHALL "[a-z_]+(\\([^)]*\\))?" tags "${CMAKE_MATCH_2}")
    set(stress OFF)
    set(twin ON)
    set(missing "")
    foreach(tag ${tags})
      if(tag STREQUAL "stress")
        set(stress ON)
      elseif(tag STREQUAL "no_valgrind")
        set(twin OFF)
      elseif(tag STREQUAL "runs_valgrind")
        set(twin OFF)
        if(NOT VALGRIND OR CMAKE_CROSSCOMPILING OR AIOC_SANITIZE)
          set(missing valgrind)
        endif()
      elseif(tag MATCHES "^needs\\(\"(.+)\"\\)$")
        aioc_test_find(found ${CMAKE_MATCH_1})
        if(NOT found)
          set(missing ${CMAKE_MATCH_1})
        endif()
      else()
        message(FATAL_ERROR "${list}: unknown tag '${tag}' of ${name}")
      endif()
    endforeach()
    if(missing)
      continue() # the outside program the test runs is not there
    endif()
    add_test(NAME ${test} COMMAND ${target} ${name})
    if(stress)
      set_tests_properties(${test} PROPERTIES TIMEOUT 300 RUN_SERIAL TRUE
        LABELS "${arg_LABEL};stress")
    else()
      set_tests_properties(${test} PROPERTIES TIMEOUT 120 LABELS ${arg_LABEL})
    endif()
    if(valgrind AND twin)
      add_test(NAME valgrind_${test} COMMAND ${valgrind} $<TARGET_FILE:${target}> ${name})
      set_tests_properties(valgrind_${test} PROPERTIES TIMEOUT 300
        LABELS "${arg_LABEL};valgrind")
      if(arg_VALGRIND_ENV)
        set_tests_properties(valgrind_${test} PROPERTIES ENVIRONMENT ${arg_VALGRIND_ENV})
      endif()
      if(stress) # alone, like its release twin: it may restart a shared server
        set_tests_properties(valgrind_${test} PROPERTIES RUN_SERIAL TRUE)
      endif()
    endif()
  endforeach()
endfunction()

# Sets `lines_var` to the X(...) lines of `list` and of the lists it
# includes, in order, and `files_var` to every list file read.
function(aioc_test_list_lines lines_var files_var list)
  file(STRINGS ${list} raw REGEX "^(X\\(|#include \")")
  get_filename_component(here ${list} DIRECTORY)
  set(lines "")
  set(files ${list})
  foreach(line ${raw})
    if(line MATCHES "^#include \"([^\"]+)\"")
      set(included ${here}/${CMAKE_MATCH_1})
      if(NOT EXISTS ${included})
        set(included ${aioc_SOURCE_DIR}/tests/${CMAKE_MATCH_1})
      endif()
      if(NOT EXISTS ${included})
        message(FATAL_ERROR "${list}: cannot find '${CMAKE_MATCH_1}'")
      endif()
      aioc_test_list_lines(more more_files ${included})
      list(APPEND lines ${more})
      list(APPEND files ${more_files})
    else()
      list(APPEND lines "${line}")
    endif()
  endforeach()
  set(${lines_var} ${lines} PARENT_SCOPE)
  set(${files_var} ${files} PARENT_SCOPE)
endfunction()

# Sets `var` true if `program` (an absolute path, or a name on PATH) is there.
function(aioc_test_find var program)
  if(IS_ABSOLUTE ${program})
    if(EXISTS ${program})
      set(${var} TRUE PARENT_SCOPE)
    else()
      set(${var} FALSE PARENT_SCOPE)
    endif()
    return()
  endif()
  string(MAKE_C_IDENTIFIER "AIOC_PROGRAM_${program}" cache)
  find_program(${cache} ${program})
  if(${cache})
    set(${var} TRUE PARENT_SCOPE)
  else()
    set(${var} FALSE PARENT_SCOPE)
  endif()
endfunction()
