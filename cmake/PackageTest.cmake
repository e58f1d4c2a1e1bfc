# ctest helper: builds and runs tests/package/consumer against parley in one of these
# ways, each in a fresh WORK_DIR:
#
#   MODE=find_package      cmake --install PARLEY_BUILD_DIR into WORK_DIR/prefix, then
#                          find_package(parley CONFIG REQUIRED) with CMAKE_PREFIX_PATH
#   MODE=install_unbuilt   configure parley with its default options in WORK_DIR, install
#                          it without building anything, then as find_package
#   MODE=add_subdirectory  add_subdirectory(SOURCE_DIR)
#   MODE=fetchcontent      FetchContent_Declare(parley SOURCE_DIR ...) + MakeAvailable
#
# SINGLE_HEADER=ON sets PARLEY_SINGLE_HEADER=ON in the consumer (ignored by find_package).
# WEBSOCKETPP=ON (subproject modes) asks for parley::websocketpp and runs the game loop.
# In the subproject modes parley must configure quietly: none of its messages.

cmake_minimum_required(VERSION 3.14...3.31)

foreach(_var IN ITEMS MODE SOURCE_DIR WORK_DIR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "PackageTest: ${_var} is not set")
    endif()
endforeach()
if(NOT DEFINED SINGLE_HEADER)
    set(SINGLE_HEADER OFF)
endif()
if(NOT DEFINED WEBSOCKETPP)
    set(WEBSOCKETPP OFF)
endif()

function(run)
    string(REPLACE ";" " " _pretty "${ARGN}")
    message(STATUS "PackageTest: ${_pretty}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE _result)
    if(NOT _result EQUAL 0)
        message(FATAL_ERROR "PackageTest (${MODE}): command failed (${_result}): ${_pretty}")
    endif()
endfunction()

# run_captured(<output variable> <command...>): as run(), and hands back what the
# command printed (stdout and stderr together), after echoing it to the test log.
function(run_captured out)
    string(REPLACE ";" " " _pretty "${ARGN}")
    message(STATUS "PackageTest: ${_pretty}")
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE _result OUTPUT_VARIABLE _output ERROR_VARIABLE _output)
    message("${_output}")
    if(NOT _result EQUAL 0)
        message(FATAL_ERROR "PackageTest (${MODE}): command failed (${_result}): ${_pretty}")
    endif()
    set(${out} "${_output}" PARENT_SCOPE)
endfunction()

# install_into(<build dir> <prefix>): `cmake --install` (CMake 3.15) or, on 3.14, the
# install script it runs.
function(install_into build_dir prefix)
    if(CMAKE_VERSION VERSION_LESS 3.15)
        set(_install_config "")
        if(DEFINED CONFIG AND NOT CONFIG STREQUAL "")
            set(_install_config "-DCMAKE_INSTALL_CONFIG_NAME=${CONFIG}")
        endif()
        run("${CMAKE_COMMAND}" "-DCMAKE_INSTALL_PREFIX=${prefix}" ${_install_config}
            -P "${build_dir}/cmake_install.cmake")
    else()
        run("${CMAKE_COMMAND}" --install "${build_dir}" --prefix "${prefix}" ${_config_args})
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
# install_unbuilt consumes the installed package as find_package does.
set(_consume "${MODE}")
if(MODE STREQUAL "install_unbuilt")
    set(_consume find_package)
endif()
set(_configure_args -S "${SOURCE_DIR}/tests/package/consumer" -B "${WORK_DIR}/build"
    "-DPARLEY_CONSUME=${_consume}" ${_build_type_args})
if(DEFINED GENERATOR AND NOT GENERATOR STREQUAL "")
    list(APPEND _configure_args -G "${GENERATOR}")
endif()
if(DEFINED CXX_COMPILER AND NOT CXX_COMPILER STREQUAL "")
    list(APPEND _configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()

if(MODE STREQUAL "install_unbuilt")
    # A header-only library is installed straight after configuring: nothing may
    # depend on parley-server (or anything else) having been built.
    set(_parley_configure_args -S "${SOURCE_DIR}" -B "${WORK_DIR}/parley-build" ${_build_type_args})
    if(DEFINED GENERATOR AND NOT GENERATOR STREQUAL "")
        list(APPEND _parley_configure_args -G "${GENERATOR}")
    endif()
    if(DEFINED CXX_COMPILER AND NOT CXX_COMPILER STREQUAL "")
        list(APPEND _parley_configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
    endif()
    run("${CMAKE_COMMAND}" ${_parley_configure_args})
    set(PARLEY_BUILD_DIR "${WORK_DIR}/parley-build")
endif()

if(MODE STREQUAL "find_package" OR MODE STREQUAL "install_unbuilt")
    if(NOT DEFINED PARLEY_BUILD_DIR)
        message(FATAL_ERROR "PackageTest: PARLEY_BUILD_DIR is not set")
    endif()
    set(_prefix "${WORK_DIR}/prefix")
    install_into("${PARLEY_BUILD_DIR}" "${_prefix}")
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
    list(APPEND _configure_args "-DPARLEY_SOURCE_DIR=${SOURCE_DIR}" "-DPARLEY_SINGLE_HEADER=${SINGLE_HEADER}"
         "-DCONSUMER_WEBSOCKETPP=${WEBSOCKETPP}")
endif()

run_captured(_configure_output "${CMAKE_COMMAND}" ${_configure_args})
if(NOT MODE STREQUAL "find_package" AND NOT MODE STREQUAL "install_unbuilt")
    # Vendored, parley says nothing: every message of its own starts with "parley:",
    # and it does not look for threads or pkg-config unless a requested target needs them.
    set(_chatty "")
    foreach(_pattern IN ITEMS "parley:" "Looking for pthread" "Found PkgConfig")
        string(FIND "${_configure_output}" "${_pattern}" _at)
        if(NOT _at EQUAL -1)
            list(APPEND _chatty "${_pattern}")
        endif()
    endforeach()
    if(WEBSOCKETPP)
        list(REMOVE_ITEM _chatty "Looking for pthread")  # websocketpp's Asio needs threads
    endif()
    if(_chatty)
        message(FATAL_ERROR "PackageTest (${MODE}): parley was not quiet as a subproject; its output has: ${_chatty}")
    endif()
endif()
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" ${_config_args})

# Find the executable whatever the generator's layout.
file(GLOB_RECURSE _exe LIST_DIRECTORIES false
     "${WORK_DIR}/build/bin/parley_consumer" "${WORK_DIR}/build/bin/parley_consumer.exe")
if(NOT _exe)
    message(FATAL_ERROR "PackageTest: parley_consumer was not built")
endif()
list(GET _exe 0 _exe)
run("${_exe}")
if(WEBSOCKETPP)
    file(GLOB_RECURSE _game LIST_DIRECTORIES false
         "${WORK_DIR}/build/bin/parley_game_loop" "${WORK_DIR}/build/bin/parley_game_loop.exe")
    if(NOT _game)
        message(FATAL_ERROR "PackageTest: parley_game_loop was not built")
    endif()
    list(GET _game 0 _game)
    run("${_game}")
endif()
message(STATUS "PackageTest (${MODE}): consumer built and ran")
