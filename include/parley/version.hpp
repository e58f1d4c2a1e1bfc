// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

/// Library version, also used by the CMake package version file.
#define PARLEY_VERSION_MAJOR 0
#define PARLEY_VERSION_MINOR 1
#define PARLEY_VERSION_PATCH 0

#define PARLEY_DETAIL_CONCAT_(a, b, c) v##a##_##b##_##c
#define PARLEY_DETAIL_ABI_TAG_(a, b, c) PARLEY_DETAIL_CONCAT_(a, b, c)

// Every declaration lives in a versioned inline namespace so that two copies of
// different parley versions linked into one program fail to link instead of
// silently mixing layouts.
#define PARLEY_NAMESPACE_BEGIN                                                        \
    namespace parley {                                                                \
    inline namespace PARLEY_DETAIL_ABI_TAG_(PARLEY_VERSION_MAJOR, PARLEY_VERSION_MINOR, \
                                            PARLEY_VERSION_PATCH) {
#define PARLEY_NAMESPACE_END \
    }                        \
    }
