// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

// The optional Redis backend for running several server processes as one chat:
// RedisBus (fan-out, cluster-wide seq, nicknames, room directory) and
// RedisStore (history from the per-room streams). Needs hiredis (0.14 or later)
// and standalone Asio (define ASIO_STANDALONE). See docs/scaling.md.

#include <parley/bus/redis/asio_adapter.hpp>
#include <parley/bus/redis/connection.hpp>
#include <parley/bus/redis/endpoint.hpp>
#include <parley/bus/redis/keys.hpp>
#include <parley/bus/redis/redis_bus.hpp>
#include <parley/bus/redis/redis_store.hpp>
#include <parley/bus/redis/reply.hpp>
#include <parley/bus/redis/scripts.hpp>
