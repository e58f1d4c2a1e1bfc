// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Internal to <parley/transport/websocketpp.hpp>: the websocketpp message type
// that carries a batch of already-encoded frames to one connection and counts
// exactly what that connection has queued.
#pragma once

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

/// What one connection has queued and not yet written to the socket: frames
/// waiting in its outbox plus batches handed to websocketpp. Updated from any
/// thread, hence atomics. It lives as long as the connection object (see
/// WsppConnectionBase), so the batches queued inside that connection can point
/// at it without owning it.
struct WsppBacklog {
    std::atomic<std::size_t> bytes{0};
    std::atomic<std::size_t> frames{0};
    /// Batches alive (handed to websocketpp and not yet released): while any
    /// is, the socket is websocketpp's and nothing may be written beside it.
    std::atomic<std::size_t> batches{0};
    /// Set when the connection closes without its backlog: batches not yet
    /// being written are written empty (see WsppMessage::get_payload).
    std::atomic<bool> cancelled{false};
};

/// The wire header of an unmasked (server-to-client) final text frame of
/// `length` payload bytes: 0x81, then the RFC 6455 length encoding.
/// Server-to-client frames are never masked, so one encoding serves every
/// recipient.
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

/// An unmasked control frame (`opcode` 0x9 ping or 0xA pong) carrying
/// `payload`, cut to the 125 bytes a control frame may hold.
inline std::string websocket_control_frame(unsigned opcode, std::string_view payload) {
    if (payload.size() > 125) payload = payload.substr(0, 125);
    std::string wire;
    wire.push_back(static_cast<char>(0x80 | (opcode & 0x0F)));
    wire.push_back(static_cast<char>(payload.size()));
    wire.append(payload.data(), payload.size());
    return wire;
}

/// `text` as one whole unmasked text frame: header and payload in one buffer.
inline std::string websocket_text_frame(std::string_view text) {
    std::string wire = websocket_text_header(text.size());
    wire.append(text.data(), text.size());
    return wire;
}

/// A drop-in replacement for websocketpp::message_buffer::message (same
/// interface, so websocketpp's processors and connection use it unchanged) that
/// can also be a *batch*: several complete, already-framed WebSocket frames for
/// one connection in one buffer, `get_prepared()` true so websocketpp's
/// `connection::send` queues it as it is (a prepared message skips
/// `prepare_data_frame` and goes straight to `write_push`, see
/// connection_impl.hpp), with an empty header so the socket write carries it as
/// one buffer. A batch counts itself in its connection's backlog: it adds its
/// bytes and frames when made and subtracts them when websocketpp lets go of
/// it, which happens once the socket write completed (`handle_write_frame`
/// clears the in-flight batch) or the connection was destroyed. That is the
/// write notification websocketpp does not otherwise offer.
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
        if (size != 0) payload_.reserve(size);
    }

    WsppMessage(const WsppMessage&) = delete;
    WsppMessage& operator=(const WsppMessage&) = delete;

    ~WsppMessage() {
        if (backlog_) {
            backlog_->bytes.fetch_sub(counted_bytes_, std::memory_order_relaxed);
            backlog_->frames.fetch_sub(counted_frames_, std::memory_order_relaxed);
            backlog_->batches.fetch_sub(1, std::memory_order_release);
        }
    }

    /// A batch of wire bytes (`wire`: `frames` frames, the first possibly the
    /// rest of one already partly written) for one connection, whose `backlog`
    /// already counts them as `counted_bytes` (see WsppOutbox: a frame counts
    /// whole until its last byte is written) and must outlive the batch (it
    /// does: both belong to the connection).
    static ptr batch(std::string wire, std::size_t frames, WsppBacklog& backlog,
                     std::size_t counted_bytes) {
        auto msg = std::make_shared<WsppMessage>(con_msg_man_ptr{}, websocketpp::frame::opcode::text, 0);
        msg->prepared_ = true;
        msg->payload_ = std::move(wire);
        msg->counted_bytes_ = counted_bytes;
        msg->counted_frames_ = frames;
        msg->backlog_ = &backlog;
        backlog.batches.fetch_add(1, std::memory_order_relaxed);
        return msg;
    }
    static ptr batch(std::string wire, std::size_t frames, WsppBacklog& backlog) {
        const std::size_t bytes = wire.size();
        return batch(std::move(wire), frames, backlog, bytes);
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

    /// websocketpp reads a message's header only when it puts the message into
    /// a socket write (connection::write_frame, on the strand): from then on a
    /// batch's bytes are on their way and must go whole.
    const std::string& get_header() const {
        if (backlog_ && !backlog_->cancelled.load(std::memory_order_acquire))
            writing_.store(true, std::memory_order_relaxed);
        return header_;
    }
    void set_header(const std::string& header) { header_ = header; }
    const std::string& get_extension_data() const { return extension_data_; }
    /// A batch of a connection that closed without its backlog reads as empty,
    /// unless its write had begun (see get_header).
    const std::string& get_payload() const {
        if (backlog_ && !writing_.load(std::memory_order_relaxed) &&
            backlog_->cancelled.load(std::memory_order_acquire))
            return empty_payload();
        return payload_;
    }
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
    static const std::string& empty_payload() {
        static const std::string empty;
        return empty;
    }

    con_msg_man_weak_ptr manager_;
    std::string header_;
    std::string extension_data_;
    std::string payload_;
    opcode opcode_ = websocketpp::frame::opcode::text;
    bool prepared_ = false;
    bool fin_ = true;
    bool terminal_ = false;
    bool compressed_ = false;

    // Batch only.
    WsppBacklog* backlog_ = nullptr;
    std::size_t counted_bytes_ = 0;
    std::size_t counted_frames_ = 0;
    mutable std::atomic<bool> writing_{false};
};

}  // namespace detail
PARLEY_NAMESPACE_END
