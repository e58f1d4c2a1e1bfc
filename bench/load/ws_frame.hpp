// parley-load: the few pieces of RFC 6455 framing a client needs. Client frames
// are always masked (section 5.3); server frames must not be.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace parley_bench::ws {

enum Opcode : std::uint8_t { cont = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

/// Appends one final, masked client frame carrying `payload` to `out`.
inline void append_client_frame(std::string& out, Opcode op, std::string_view payload, std::uint32_t mask) {
    const std::size_t n = payload.size();
    std::size_t header = 2 + 4;
    if (n >= 126) header += n > 0xFFFF ? 8 : 2;
    const std::size_t at = out.size();
    out.resize(at + header + n);
    auto* p = reinterpret_cast<unsigned char*>(&out[at]);
    p[0] = static_cast<unsigned char>(0x80 | op);
    std::size_t i = 2;
    if (n < 126) {
        p[1] = static_cast<unsigned char>(0x80 | n);
    } else if (n <= 0xFFFF) {
        p[1] = 0x80 | 126;
        p[2] = static_cast<unsigned char>(n >> 8);
        p[3] = static_cast<unsigned char>(n);
        i = 4;
    } else {
        p[1] = 0x80 | 127;
        for (int b = 0; b < 8; ++b) p[2 + b] = static_cast<unsigned char>(static_cast<std::uint64_t>(n) >> (56 - 8 * b));
        i = 10;
    }
    unsigned char key[4];
    std::memcpy(key, &mask, 4);
    std::memcpy(p + i, key, 4);
    i += 4;
    unsigned char* dst = p + i;
    const auto* src = reinterpret_cast<const unsigned char*>(payload.data());
    // Eight bytes at a time: the key repeats every 4, so a doubled key masks a word.
    std::uint64_t key8;
    std::memcpy(&key8, key, 4);
    std::memcpy(reinterpret_cast<unsigned char*>(&key8) + 4, key, 4);
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + k, 8);
        w ^= key8;
        std::memcpy(dst + k, &w, 8);
    }
    for (; k < n; ++k) dst[k] = src[k] ^ key[k & 3];
}

/// One parsed server frame; `payload` points into the caller's buffer.
struct Frame {
    Opcode opcode = cont;
    bool fin = true;
    std::string_view payload;
};

enum class Parse { ok, incomplete, error };

/// Parses the frame at the start of `data`; on `ok`, `used` is its size.
inline Parse parse_server_frame(const char* data, std::size_t size, Frame& f, std::size_t& used) {
    if (size < 2) return Parse::incomplete;
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    f.fin = (p[0] & 0x80) != 0;
    f.opcode = static_cast<Opcode>(p[0] & 0x0F);
    if (p[1] & 0x80) return Parse::error;  // a server must not mask
    std::uint64_t n = p[1] & 0x7F;
    std::size_t i = 2;
    if (n == 126) {
        if (size < 4) return Parse::incomplete;
        n = (std::uint64_t{p[2]} << 8) | p[3];
        i = 4;
    } else if (n == 127) {
        if (size < 10) return Parse::incomplete;
        n = 0;
        for (int b = 0; b < 8; ++b) n = (n << 8) | p[2 + b];
        i = 10;
        if (n > (std::uint64_t{1} << 32)) return Parse::error;
    }
    if (size - i < n) return Parse::incomplete;
    f.payload = std::string_view(data + i, static_cast<std::size_t>(n));
    used = i + static_cast<std::size_t>(n);
    return Parse::ok;
}

}  // namespace parley_bench::ws
