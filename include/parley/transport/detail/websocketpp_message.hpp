// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Internal to <parley/transport/websocketpp.hpp>: the websocketpp message type
// that lets one encoded frame be shared by every recipient while each
// connection still counts exactly what it has queued.
#pragma once

#include <parley/frame.hpp>
#include <parley/version.hpp>

#include <websocketpp/common/memory.hpp>
#include <websocketpp/frame.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// What one connection has handed to websocketpp and websocketpp has not yet
/// written to the socket. Updated from any thread, hence atomics.
struct WsppBacklog {
    std::atomic<std::size_t> bytes{0};
    std::atomic<std::size_t> frames{0};
};

/// The wire header of an unmasked (server-to-client) final text frame of
/// `length` payload bytes: 0x81, then the RFC 6455 length encoding.
inline std::string websocket_text_header(std::size_t length) {
    std::string header;
    header.push_back(static_cast<char>(0x81));
    if (length < 126) {
        header.push_back(static_cast<char>(length));
    } else if (length <= 0xFFFF) {
        header.push_back(static_cast<char>(126));
        header.push_back(static_cast<char>((length >> 8) & 0xFF));
        header.push_back(static_cast<char>(length & 0xFF));
    } else {
        header.push_back(static_cast<char>(127));
        const auto wide = static_cast<std::uint64_t>(length);
        for (int shift = 56; shift >= 0; shift -= 8)
            header.push_back(static_cast<char>((wide >> shift) & 0xFF));
    }
    return header;
}

/// A drop-in replacement for websocketpp::message_buffer::message (same
/// interface, so websocketpp's processors and connection use it unchanged) with
/// two extra roles:
///
/// - a *prepared* message built once per parley Frame: header and payload
///   encoded, `get_prepared()` true, so websocketpp's `connection::send` queues
///   it as it is (see connection_impl.hpp: a prepared message skips
///   `prepare_data_frame` and goes straight to `write_push`);
/// - a per-recipient *envelope* that points at that shared prepared message
///   (no copy of the payload) and holds the recipient's backlog counters: it
///   adds its size when created and subtracts it when websocketpp lets go of
///   it, which happens once the socket write completed (`handle_write_frame`
///   clears the in-flight batch) or the connection was destroyed. That is the
///   per-message write notification websocketpp does not otherwise offer.
template <template <class> class ConMsgManager>
class WsppMessage {
public:
    using ptr = websocketpp::lib::shared_ptr<WsppMessage>;
    using con_msg_man_type = ConMsgManager<WsppMessage>;
    using con_msg_man_ptr = typename con_msg_man_type::ptr;
    using con_msg_man_weak_ptr = typename con_msg_man_type::weak_ptr;
    using opcode = websocketpp::frame::opcode::value;

    explicit WsppMessage(const con_msg_man_ptr manager) : manager_(manager) {}
    WsppMessage(const con_msg_man_ptr manager, opcode op, std::size_t size = 128)
        : manager_(manager), opcode_(op) {
        payload_.reserve(size);
    }

    WsppMessage(const WsppMessage&) = delete;
    WsppMessage& operator=(const WsppMessage&) = delete;

    ~WsppMessage() {
        if (backlog_) {
            backlog_->bytes.fetch_sub(counted_bytes_, std::memory_order_relaxed);
            backlog_->frames.fetch_sub(1, std::memory_order_relaxed);
        }
    }

    /// The prepared text frame for `text`, built once per Frame.
    static ptr prepared_text(std::string_view text) {
        auto msg = std::make_shared<WsppMessage>(con_msg_man_ptr{}, websocketpp::frame::opcode::text, 0);
        msg->header_ = websocket_text_header(text.size());
        msg->payload_.assign(text.data(), text.size());
        msg->prepared_ = true;
        return msg;
    }

    /// An envelope around `wire` (a prepared message) for one recipient. `frame`
    /// owns `wire` (see Frame::prepared) and is kept alive with it.
    static ptr envelope(SharedFrame frame, const WsppMessage& wire,
                        std::shared_ptr<WsppBacklog> backlog) {
        auto msg = std::make_shared<WsppMessage>(con_msg_man_ptr{}, wire.opcode_, 0);
        msg->prepared_ = true;
        msg->frame_ = std::move(frame);
        msg->wire_ = &wire;
        msg->counted_bytes_ = wire.header_.size() + wire.payload_.size();
        msg->backlog_ = std::move(backlog);
        msg->backlog_->bytes.fetch_add(msg->counted_bytes_, std::memory_order_relaxed);
        msg->backlog_->frames.fetch_add(1, std::memory_order_relaxed);
        return msg;
    }

    // --- websocketpp::message_buffer::message's interface ----------------------

    bool get_prepared() const { return prepared_; }
    void set_prepared(bool value) { prepared_ = value; }
    bool get_compressed() const { return compressed_; }
    void set_compressed(bool value) { compressed_ = value; }
    bool get_terminal() const { return terminal_; }
    void set_terminal(bool value) { terminal_ = value; }
    bool get_fin() const { return fin_; }
    void set_fin(bool value) { fin_ = value; }
    opcode get_opcode() const { return opcode_; }
    void set_opcode(opcode op) { opcode_ = op; }

    const std::string& get_header() const { return wire_ ? wire_->header_ : header_; }
    void set_header(const std::string& header) { header_ = header; }
    const std::string& get_extension_data() const { return extension_data_; }
    const std::string& get_payload() const { return wire_ ? wire_->payload_ : payload_; }
    /// Only for messages websocketpp builds itself (inbound and control frames).
    std::string& get_raw_payload() { return payload_; }
    void set_payload(const std::string& payload) { payload_ = payload; }
    void set_payload(const void* payload, std::size_t len) {
        const char* p = static_cast<const char*>(payload);
        payload_.assign(p, p + len);
    }
    void append_payload(const std::string& payload) { payload_.append(payload); }
    void append_payload(const void* payload, std::size_t len) {
        payload_.append(static_cast<const char*>(payload), len);
    }

    bool recycle() {
        auto manager = manager_.lock();
        return manager ? manager->recycle(this) : false;
    }

private:
    con_msg_man_weak_ptr manager_;
    std::string header_;
    std::string extension_data_;
    std::string payload_;
    opcode opcode_ = websocketpp::frame::opcode::text;
    bool prepared_ = false;
    bool fin_ = true;
    bool terminal_ = false;
    bool compressed_ = false;

    // Envelope only.
    SharedFrame frame_;
    const WsppMessage* wire_ = nullptr;
    std::shared_ptr<WsppBacklog> backlog_;
    std::size_t counted_bytes_ = 0;
};

}  // namespace detail
PARLEY_NAMESPACE_END
