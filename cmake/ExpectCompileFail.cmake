# ctest helper: builds TARGET in BUILD_DIR and passes only if that build FAILS with a
# static_assert whose message contains EXPECTED. A failure for any other reason (a
# typo, a missing header) fails the test, so does a successful build.
#
#   cmake -DBUILD_DIR=... -DTARGET=... -DEXPECTED=... [-DCONFIG=...] -P ExpectCompileFail.cmake

cmake_minimum_required(VERSION 3.14...3.31)

foreach(_var IN ITEMS BUILD_DIR TARGET EXPECTED)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "ExpectCompileFail: ${_var} is not set")
    endif()
endforeach()

set(_config_args "")
if(DEFINED CONFIG AND NOT CONFIG STREQUAL "")
    set(_config_args --config "${CONFIG}")
endif()

execute_process(
    COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${_config_args}
    RESULT_VARIABLE _result
    OUTPUT_VARIABLE _output
    ERROR_VARIABLE _output)

if(_result EQUAL 0)
    message(FATAL_ERROR "ExpectCompileFail: ${TARGET} compiled, but it must not:\n${_output}")
endif()

string(REGEX REPLACE "([][+.*()^$?|\\\\])" "\\\\\\1" _expected_regex "${EXPECTED}")
# GCC: "static assertion failed: <msg>"; Clang: "static_assert failed ... \"<msg>\"" or
# "static assertion failed ...: <msg>"; MSVC: "error C2338: ... <msg>".
if(NOT _output MATCHES "(static.assert|static assertion|C2338)[^\n]*${_expected_regex}")
    message(FATAL_ERROR "ExpectCompileFail: ${TARGET} failed to compile, but not with a static_assert "
                        "saying \"${EXPECTED}\":\n${_output}")
endif()

message(STATUS "ExpectCompileFail: ${TARGET} was rejected as expected:")
string(REGEX MATCHALL "[^\n]*${_expected_regex}[^\n]*" _lines "${_output}")
list(GET _lines 0 _first)
message(STATUS "  ${_first}")
