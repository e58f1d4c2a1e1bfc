// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/detail/request.hpp>
#include <parley/protocol/requests.hpp>
#include <parley/version.hpp>

#include <cstddef>
#include <string_view>

PARLEY_NAMESPACE_BEGIN
namespace protocol {

/// When a request may come, relative to `hello`.
enum class Gate : unsigned char {
    anytime,       ///< ping
    before_hello,  ///< hello itself: after it, `already_identified`
    after_hello,   ///< every other request: before hello, `not_identified`
};

/// One row of the request table.
template <class Session>
struct RequestEntry {
    std::string_view type;  ///< the request's `type`
    Gate gate;
    /// Reads and validates the fields, answers the first problem, else runs the handler.
    void (*run)(Session&, detail::Request&);
};

/// The requests of protocol v1 (docs/protocol.md), as `Session` (the Client)
/// serves them. The table is the list of known types: a `type` not in it is
/// `unknown_type`.
///
/// A row names the type, its gate, its validation (a `*Fields` type of
/// requests.hpp, whose `read` checks the fields) and its handler, a member of
/// the Session taking the request and the validated fields. Adding a request,
/// say `{"type":"pin","room":..,"seq":..}`, is one row
///
///     {"pin", Gate::after_hello, validated<PinFields, &Session::on_pin>},
///
/// plus the handler `void on_pin(detail::Request&, const PinFields&)` and,
/// unless an existing `*Fields` fits, its `PinFields` in requests.hpp; then
/// docs/protocol.md and the dispatch test's list of types (tests/protocol_dispatch.cpp).
///
/// The Session befriends this table (its handlers are private) and provides
/// `limits_` and `rejected(Request&)`, which answers a recorded problem.
template <class Session>
struct RequestTable {
    using Entry = RequestEntry<Session>;

    /// Validation, then the handler: `Handle` runs only when `Fields::read` found no problem.
    template <class Fields, void (Session::*Handle)(detail::Request&, const Fields&)>
    static void validated(Session& session, detail::Request& rq) {
        const Fields fields = Fields::read(rq, session.limits_);
        if (session.rejected(rq)) return;
        (session.*Handle)(rq, fields);
    }

    // The most frequent first: lookup is a scan, and a send ends it at once.
    static constexpr Entry entries[] = {
        // type          gate               validation        handler
        {"send",         Gate::after_hello,  validated<SendFields,       &Session::on_send>},
        {"typing",       Gate::after_hello,  validated<TypingFields,     &Session::on_typing>},
        {"ping",         Gate::anytime,      validated<NoFields,         &Session::on_ping>},
        {"hello",        Gate::before_hello, validated<HelloFields,      &Session::on_hello>},
        {"join",         Gate::after_hello,  validated<JoinFields,       &Session::on_join>},
        {"leave",        Gate::after_hello,  validated<LeaveFields,      &Session::on_leave>},
        {"history",      Gate::after_hello,  validated<HistoryFields,    &Session::on_history>},
        {"delete",       Gate::after_hello,  validated<DeleteFields,     &Session::on_delete>},
        {"edit",         Gate::after_hello,  validated<EditFields,       &Session::on_edit>},
        {"react",        Gate::after_hello,  validated<ReactFields,      &Session::on_react>},
        {"rooms",        Gate::after_hello,  validated<NoFields,         &Session::on_rooms>},
        {"watch_lobby",  Gate::after_hello,  validated<NoFields,         &Session::on_watch_lobby>},
        {"create_room",  Gate::after_hello,  validated<CreateRoomFields, &Session::on_create_room>},
        {"nick",         Gate::after_hello,  validated<NickFields,       &Session::on_nick>},
        {"dm",           Gate::after_hello,  validated<DmFields,         &Session::on_dm>},
        {"search",       Gate::after_hello,  validated<SearchFields,     &Session::on_search>},
    };

    /// The row of `type`, or null for an unknown type.
    static const Entry* find(std::string_view type) noexcept {
        for (const Entry& entry : entries)
            if (entry.type == type) return &entry;
        return nullptr;
    }
};

}  // namespace protocol
PARLEY_NAMESPACE_END
