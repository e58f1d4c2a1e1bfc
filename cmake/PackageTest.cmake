# ctest helper: builds and runs tests/package/consumer against parley in one of three
# ways, each in a fresh WORK_DIR:
#
#   MODE=find_package      cmake --install PARLEY_BUILD_DIR into WORK_DIR/prefix, then
#                          find_package(parley CONFIG REQUIRED) with CMAKE_PREFIX_PATH
#   MODE=add_subdirectory  add_subdirectory(SOURCE_DIR)
#   MODE=fetchcontent      FetchContent_Declare(parley SOURCE_DIR ...) + MakeAvailable
#
# SINGLE_HEADER=ON sets PARLEY_SINGLE_HEADER=ON in the consumer (ignored by find_package).

cmake_minimum_required(VERSION 3.25)

foreach(_var IN ITEMS MODE SOURCE_DIR WORK_DIR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "PackageTest: ${_var} is not set")
    endif()
endforeach()
if(NOT DEFINED SINGLE_HEADER)
    set(SINGLE_HEADER OFF)
endif()

function(run)
    string(REPLACE ";" " " _pretty "${ARGN}")
    message(STATUS "PackageTest: ${_pretty}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE _result)
    if(NOT _result EQUAL 0)
        message(FATAL_ERROR "PackageTest (${MODE}): command failed (${_result}): ${_pretty}")
    endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(_config_args "")
set(_build_type_args "")
if(DEFINED CONFIG AND NOT CONFIG STREQUAL "")
    set(_config_args --config "${CONFIG}")
    set(_build_type_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
set(_configure_args -S "${SOURCE_DIR}/tests/package/consumer" -B "${WORK_DIR}/build"
    "-DPARLEY_CONSUME=${MODE}" ${_build_type_args})
if(DEFINED GENERATOR AND NOT GENERATOR STREQUAL "")
    list(APPEND _configure_args -G "${GENERATOR}")
endif()
if(DEFINED CXX_COMPILER AND NOT CXX_COMPILER STREQUAL "")
    list(APPEND _configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

if(MODE STREQUAL "find_package")
    if(NOT DEFINED PARLEY_BUILD_DIR)
        message(FATAL_ERROR "PackageTest: PARLEY_BUILD_DIR is not set")
    endif()
    set(_prefix "${WORK_DIR}/prefix")
    run("${CMAKE_COMMAND}" --install "${PARLEY_BUILD_DIR}" --prefix "${_prefix}" ${_config_args})
    foreach(_file IN ITEMS include/parley/parley.hpp share/cmake/parley/parleyConfig.cmake
                           share/cmake/parley/parleyConfigVersion.cmake share/pkgconfig/parley.pc)
        if(NOT EXISTS "${_prefix}/${_file}")
            message(FATAL_ERROR "PackageTest: ${_file} was not installed")
        endif()
    endforeach()
    # The consumer must not see the source tree, only the installed copy.
    list(APPEND _configure_args "-DCMAKE_PREFIX_PATH=${_prefix}" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)

    # The pkg-config file must be relocatable: it points into this prefix.
    find_program(_pkg_config pkg-config)
    if(_pkg_config)
        set(ENV{PKG_CONFIG_PATH} "${_prefix}/share/pkgconfig")
        execute_process(COMMAND "${_pkg_config}" --cflags parley
            RESULT_VARIABLE _pc_result OUTPUT_VARIABLE _pc_cflags OUTPUT_STRIP_TRAILING_WHITESPACE)
        if(NOT _pc_result EQUAL 0 OR NOT _pc_cflags MATCHES "/prefix/share/pkgconfig/\\.\\./\\.\\./include|/prefix/include")
            message(FATAL_ERROR "PackageTest: pkg-config --cflags parley gave '${_pc_cflags}' (${_pc_result})")
        endif()
        message(STATUS "PackageTest: pkg-config --cflags parley: ${_pc_cflags}")
    endif()
else()
    list(APPEND _configure_args "-DPARLEY_SOURCE_DIR=${SOURCE_DIR}" "-DPARLEY_SINGLE_HEADER=${SINGLE_HEADER}")
endif()

run("${CMAKE_COMMAND}" ${_configure_args})
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" ${_config_args})

# Find the executable whatever the generator's layout.
file(GLOB_RECURSE _exe LIST_DIRECTORIES false
     "${WORK_DIR}/build/bin/parley_consumer" "${WORK_DIR}/build/bin/parley_consumer.exe")
if(NOT _exe)
    message(FATAL_ERROR "PackageTest: parley_consumer was not built")
endif()
list(GET _exe 0 _exe)
run("${_exe}")
message(STATUS "PackageTest (${MODE}): consumer built and ran")
