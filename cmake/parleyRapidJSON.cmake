# Provides the imported target parley::rapidjson, the one dependency of parley's core.
#
# Used twice: by parley's own build and, installed next to parleyConfig.cmake, by
# find_package(parley). RapidJSON is header-only and its packages differ: upstream
# and vcpkg/Conan export a target (RapidJSON::RapidJSON, RapidJSON or rapidjson),
# Debian's RapidJSONConfig.cmake only sets RAPIDJSON_INCLUDE_DIRS, and some systems
# have the headers alone. Whatever is found ends up behind this one name, so the
# exported parley::parley never hard-codes a path.
#
# Sets PARLEY_RAPIDJSON_FOUND. Set PARLEY_RAPIDJSON_GLOBAL to make the target global
# (parley's own build does, so add_subdirectory() consumers see it too).

set(PARLEY_RAPIDJSON_FOUND TRUE)
if(TARGET parley::rapidjson)
    return()
endif()

find_package(RapidJSON CONFIG QUIET)

set(_parley_rapidjson_link "")
set(_parley_rapidjson_include "")
foreach(_parley_candidate IN ITEMS RapidJSON::RapidJSON RapidJSON rapidjson)
    if(TARGET ${_parley_candidate})
        set(_parley_rapidjson_link ${_parley_candidate})
        break()
    endif()
endforeach()
if(NOT _parley_rapidjson_link)
    find_path(PARLEY_RAPIDJSON_INCLUDE_DIR rapidjson/document.h
        HINTS ${RapidJSON_INCLUDE_DIRS} ${RAPIDJSON_INCLUDE_DIRS} ${RapidJSON_INCLUDE_DIR} ${RAPIDJSON_INCLUDE_DIR}
        DOC "Directory holding rapidjson/document.h")
    mark_as_advanced(PARLEY_RAPIDJSON_INCLUDE_DIR)
    if(PARLEY_RAPIDJSON_INCLUDE_DIR)
        set(_parley_rapidjson_include "${PARLEY_RAPIDJSON_INCLUDE_DIR}")
    else()
        set(PARLEY_RAPIDJSON_FOUND FALSE)
    endif()
endif()

if(PARLEY_RAPIDJSON_FOUND)
    if(PARLEY_RAPIDJSON_GLOBAL)
        add_library(parley::rapidjson INTERFACE IMPORTED GLOBAL)
    else()
        add_library(parley::rapidjson INTERFACE IMPORTED)
    endif()
    if(_parley_rapidjson_link)
        set_property(TARGET parley::rapidjson PROPERTY INTERFACE_LINK_LIBRARIES ${_parley_rapidjson_link})
    else()
        set_property(TARGET parley::rapidjson PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_parley_rapidjson_include}")
    endif()
endif()

unset(_parley_candidate)
unset(_parley_rapidjson_link)
unset(_parley_rapidjson_include)
