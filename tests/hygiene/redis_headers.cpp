// The optional Redis bus compiles with hiredis and standalone Asio (Meson's check;
// CMake compiles every header alone in parley_hygiene_redis_headers).
#include <parley/bus/redis.hpp>
#include <parley/parley.hpp>

namespace {
[[maybe_unused]] void check_redis_bus_is_a_bus() {
    static_assert(std::is_base_of_v<parley::Bus, parley::RedisBus>);
    static_assert(std::is_base_of_v<parley::Store, parley::RedisStore>);
}
}  // namespace
