// parley: real-time chat inside your server. MIT licence, see LICENSE.
#pragma once

#include <parley/version.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

PARLEY_NAMESPACE_BEGIN

/// Every bound parley enforces, in one place. Each default carries its reason.
struct Limits {
    // --- inbound frames ---------------------------------------------------------
    /// Largest inbound text frame in bytes; bigger closes with 1009. Requests are
    /// small JSON objects: 16 KiB fits the longest message with room for escapes.
    std::size_t max_frame_bytes = 16 * 1024;
    /// Deepest JSON nesting accepted; requests are flat, so anything deeper is abuse.
    std::size_t max_json_depth = 8;

    // --- names and text ---------------------------------------------------------
    /// Message text length in Unicode code points (not bytes, so Hangul counts fairly).
    std::size_t max_text_chars = 2000;
    /// Nickname length in code points.
    std::size_t min_nick_chars = 1;
    std::size_t max_nick_chars = 24;
    /// Room name length in code points.
    std::size_t max_room_name_chars = 64;
    /// A client-chosen id echoed on messages (for matching optimistic sends).
    std::size_t max_client_id_bytes = 64;
    /// A request `ref` string, echoed on replies.
    std::size_t max_ref_bytes = 64;

    // --- sizes ----------------------------------------------------------------------
    /// Rooms in one lobby; bounds memory and the lobby list a watcher receives.
    std::size_t max_rooms = 1000;
    /// Members of one room; a broadcast costs one send per member.
    std::size_t max_members_per_room = 10000;
    /// Rooms one connection may be in at once.
    std::size_t max_rooms_per_client = 20;
    /// Connections one lobby accepts; beyond it new connections are closed with 1013.
    std::size_t max_connections = 100000;

    // --- history --------------------------------------------------------------------
    /// Recent messages each room keeps in memory for join replay and resume.
    std::size_t history_window = 500;
    /// Messages replayed on `join` when the client does not say how many.
    std::size_t join_history_default = 50;
    /// Largest page a `history` request (or `join` with `history`) returns.
    std::size_t max_history_page = 200;
    /// Clustered: when a live delivery skips seqs (a pub/sub message lost across a
    /// reconnect) the missing ones are read from the shared history; a failed read
    /// is tried again after `gap_read_backoff`, doubling up to `gap_read_backoff_max`,
    /// `gap_read_attempts` reads in all (about 7 s with these: a Redis failover or
    /// restart). Meanwhile newer messages wait, so members never see them out of
    /// order; after the last attempt the missing ones are skipped for good.
    std::chrono::milliseconds gap_read_backoff{100};
    std::chrono::milliseconds gap_read_backoff_max{2000};
    std::size_t gap_read_attempts = 8;
    /// How long after sending its author may edit a message: long enough to fix a
    /// typo noticed later, short enough that a conversation is not rewritten.
    std::chrono::milliseconds edit_window{15 * 60 * 1000};
    /// Distinct emojis on one message: enough for any conversation, few enough
    /// that a message's reactions stay a short line.
    std::size_t max_reactions_per_message = 20;
    /// Bytes of one reaction's emoji: the longest emoji sequences (families,
    /// flags with tags) fit, a sentence does not.
    std::size_t max_emoji_bytes = 32;

    // --- search -----------------------------------------------------------------------
    /// Results a `search` returns when the client does not say how many; at most
    /// `max_history_page`. A screenful: people refine the words rather than page far.
    std::size_t search_page_default = 20;
    /// Longest search text in code points: a few words, not a document.
    std::size_t max_search_chars = 200;
    /// Words a search uses (more are ignored): each is one index lookup.
    std::size_t max_search_terms = 16;

    // --- rate limiting ------------------------------------------------------------------
    /// Token bucket per connection: burst size and refill rate (requests/second).
    /// 20 lets a person paste a few lines at once; 10/s is far above typing speed.
    double rate_burst = 20;
    double rate_per_second = 10;
    /// Rejected requests tolerated (bucket refilled at `abuse_forgiveness_per_second`)
    /// before the connection is closed with 1008: a buggy client gets errors first,
    /// a flood gets cut off.
    double abuse_strikes = 50;
    double abuse_forgiveness_per_second = 1;

    // --- outbound ---------------------------------------------------------------------
    /// Bytes and frames a connection may have queued and unwritten; past either the
    /// client is a slow consumer and is closed with 1013 so the room never waits.
    std::size_t max_outbound_bytes = 1024 * 1024;
    std::size_t max_outbound_frames = 4096;

    // --- timers -------------------------------------------------------------------------
    /// An `active:true` typing state ends on its own after this long without a refresh.
    std::chrono::milliseconds typing_expiry{5000};
    /// Repeated `active:true` from one member are broadcast at most this often.
    std::chrono::milliseconds typing_throttle{2000};
    /// Keepalive: ping after this much silence from the peer...
    std::chrono::milliseconds ping_interval{25000};
    /// ...and close it when nothing (frame or pong) arrived for this long.
    std::chrono::milliseconds idle_timeout{60000};
    /// A connection must send `hello` within this time.
    std::chrono::milliseconds identify_timeout{30000};
    /// After a dropped connection its nickname stays reserved for the resume token
    /// this long, so a reconnecting client gets its own name back.
    std::chrono::milliseconds nick_reclaim_grace{15000};
    /// A room created by users is removed after it has been empty this long.
    std::chrono::milliseconds empty_room_ttl{10 * 60 * 1000};
};

PARLEY_NAMESPACE_END
