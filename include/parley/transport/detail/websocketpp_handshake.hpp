// parley: real-time chat inside your server. MIT licence, see LICENSE.
//
// Internal to <parley/transport/websocketpp.hpp>: websocketpp's HTTP request
// and response types, kept on the heap so they can be freed once the
// WebSocket is open.
#pragma once

#include <parley/version.hpp>

#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>

#include <cstddef>
#include <memory>
#include <string>

PARLEY_NAMESPACE_BEGIN
namespace detail {

/// websocketpp keeps the handshake's request and response inside every
/// connection object for the connection's whole life: the parsed header map,
/// method, URI, version and body strings, the parse buffer. After the opening
/// handshake nothing in websocketpp reads them again (its log lines at close
/// read a header or the status, and get "" or the kept status). This holder has
/// websocketpp's parser interface (the config's `request_type` and
/// `response_type`) but keeps the parser on the heap, so `release()` gives all
/// of it back: a pointer stays in the connection instead of some 1.5 KiB.
///
/// After `release()`, reads answer as an empty message would (`get_header`
/// returns ""); a write (none happens after the handshake) starts a fresh one.
/// Not thread-safe, like the parser itself: websocketpp touches it on the
/// connection's strand, and so must `release()`.
template <class Parser>
class WsppHandshakeStore {
public:
    using header_list = websocketpp::http::parser::header_list;
    using parameter_list = websocketpp::http::parameter_list;

    WsppHandshakeStore() : parser_(std::make_unique<Parser>()) {}
    WsppHandshakeStore(const WsppHandshakeStore& other)
        : parser_(other.parser_ ? std::make_unique<Parser>(*other.parser_) : nullptr) {}
    WsppHandshakeStore& operator=(const WsppHandshakeStore& other) {
        if (this != &other) parser_ = other.parser_ ? std::make_unique<Parser>(*other.parser_) : nullptr;
        return *this;
    }

    /// Frees the parsed message.
    void release() noexcept { parser_.reset(); }
    bool released() const noexcept { return !parser_; }

    // --- websocketpp::http::parser::parser's interface -----------------------------

    const std::string& get_version() const { return get().get_version(); }
    void set_version(const std::string& version) { mut().set_version(version); }
    const std::string& get_header(const std::string& key) const { return get().get_header(key); }
    bool get_header_as_plist(const std::string& key, parameter_list& out) const {
        return get().get_header_as_plist(key, out);
    }
    const header_list& get_headers() const { return get().get_headers(); }
    void append_header(const std::string& key, const std::string& val) { mut().append_header(key, val); }
    void replace_header(const std::string& key, const std::string& val) { mut().replace_header(key, val); }
    void remove_header(const std::string& key) { mut().remove_header(key); }
    const std::string& get_body() const { return get().get_body(); }
    void set_body(const std::string& value) { mut().set_body(value); }
    std::size_t get_max_body_size() const { return get().get_max_body_size(); }
    void set_max_body_size(std::size_t value) { mut().set_max_body_size(value); }
    bool body_ready() const { return get().body_ready(); }
    std::string raw_headers() const { return get().raw_headers(); }

    // --- shared by request and response ---------------------------------------------

    std::size_t consume(const char* buf, std::size_t len) { return mut().consume(buf, len); }
    bool ready() const { return get().ready(); }
    std::string raw() const { return get().raw(); }

protected:
    const Parser& get() const { return parser_ ? *parser_ : blank(); }
    Parser& mut() {
        if (!parser_) parser_ = std::make_unique<Parser>();
        return *parser_;
    }

private:
    /// What a released message answers with: an empty one, never written to.
    static const Parser& blank() {
        static const Parser empty;
        return empty;
    }

    std::unique_ptr<Parser> parser_;
};

/// The config's `request_type`: websocketpp::http::parser::request on the heap.
class WsppHandshakeRequest : public WsppHandshakeStore<websocketpp::http::parser::request> {
public:
    std::string raw_head() const { return get().raw_head(); }
    const std::string& get_method() const { return get().get_method(); }
    void set_method(const std::string& method) { mut().set_method(method); }
    const std::string& get_uri() const { return get().get_uri(); }
    void set_uri(const std::string& uri) { mut().set_uri(uri); }
};

/// The config's `response_type`: websocketpp::http::parser::response on the
/// heap. The status code outlives `release()` (websocketpp's
/// `connection::get_response_code()` still answers it).
class WsppHandshakeResponse : public WsppHandshakeStore<websocketpp::http::parser::response> {
public:
    using status_code = websocketpp::http::status_code::value;

    void release() noexcept {
        if (!released()) kept_status_ = get().get_status_code();
        WsppHandshakeStore::release();
    }

    std::size_t consume(std::istream& s) { return mut().consume(s); }
    using WsppHandshakeStore::consume;
    bool headers_ready() const { return get().headers_ready(); }
    void set_status(status_code code) { mut().set_status(code); }
    void set_status(status_code code, const std::string& msg) { mut().set_status(code, msg); }
    status_code get_status_code() const { return released() ? kept_status_ : get().get_status_code(); }
    const std::string& get_status_msg() const { return get().get_status_msg(); }

private:
    status_code kept_status_ = websocketpp::http::status_code::uninitialized;
};

}  // namespace detail
PARLEY_NAMESPACE_END
