// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// The core: include this one header to embed parley. Optional pieces (the
// websocketpp transport, the SQLite store, the Redis bus) have their own headers.
#pragma once

#include <parley/version.hpp>
#include <parley/fwd.hpp>
#include <parley/frame.hpp>
#include <parley/transport.hpp>
#include <parley/limits.hpp>
#include <parley/error_code.hpp>
#include <parley/metrics.hpp>
#include <parley/message.hpp>
#include <parley/store.hpp>
#include <parley/memory_store.hpp>
#include <parley/bus.hpp>
#include <parley/local_bus.hpp>
#include <parley/lobby_options.hpp>
#include <parley/hub.hpp>
#include <parley/client.hpp>
#include <parley/lobby.hpp>
