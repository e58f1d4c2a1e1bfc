// parley-server: where rooms and history live. A SqliteStore at PARLEY_DB when
// the server was built with SQLite, else (or with PARLEY_DB=:memory:) a
// MemoryStore; the store's health for /metrics and /healthz.
#pragma once

#include "config.hpp"

#include <parley/limits.hpp>
#include <parley/memory_store.hpp>
#include <parley/store.hpp>
#ifndef PARLEY_SERVER_WITH_SQLITE
#define PARLEY_SERVER_WITH_SQLITE 0
#endif
#if PARLEY_SERVER_WITH_SQLITE
#include <parley/store/sqlite.hpp>
#endif

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace parley_server {

/// The store's counters as /metrics shows them; all zero for a MemoryStore.
struct StoreGauges {
    bool persistent = false;
    std::uint64_t commits = 0;
    std::uint64_t writes = 0;
    std::uint64_t write_errors = 0;
    std::uint64_t read_errors = 0;
    std::uint64_t dropped = 0;
    std::uint64_t trimmed = 0;
    std::uint64_t pending = 0;
    bool failing = false;
    bool unclean_start = false;
    std::string last_error;
};

/// Owns the server's Store. Construct before the Lobby, destroy after it.
class Persistence {
public:
    using Log = std::function<void(const std::string&)>;

    /// Opens the store `config` names; throws parley::StoreError (or
    /// std::invalid_argument for a bad option) when the file cannot be used.
    Persistence(const Config& config, Log log) {
#if !PARLEY_SERVER_WITH_SQLITE
        if (config.persistent() && config.db_path_chosen)
            throw parley::StoreError(config.db_path,
                                     "this parley-server was built without SQLite (Debian: "
                                     "libsqlite3-dev); run with PARLEY_DB=:memory:");
#endif
        if (!config.persistent() || !PARLEY_SERVER_WITH_SQLITE) {
            const auto keep = config.keep_messages ? static_cast<std::size_t>(config.keep_messages)
                                                   : parley::Limits{}.history_window;
            store_ = std::make_shared<parley::MemoryStore>(keep);
            description_ = config.persistent()
                               ? "in memory only (built without SQLite): history is lost on exit"
                               : "in memory only (PARLEY_DB=:memory:): history is lost on exit";
            return;
        }
#if PARLEY_SERVER_WITH_SQLITE
        parley::SqliteStoreOptions options;
        options.flush_interval = config.flush_interval;
        options.max_messages_per_room = static_cast<std::size_t>(config.keep_messages);
        options.max_age = config.keep_for;
        options.max_file_bytes = config.db_max_bytes;
        options.log = [log](std::string_view line) { log("store: " + std::string(line)); };
        sqlite_ = std::make_shared<parley::SqliteStore>(config.db_path, std::move(options));
        store_ = sqlite_;
        description_ = "rooms and history in " + config.db_path + " (flush interval " +
                       std::to_string(config.flush_interval.count()) + " ms)";
#else
        (void)log;
#endif
    }

    std::shared_ptr<parley::Store> store() const { return store_; }
    const std::string& description() const { return description_; }

    /// Commits every accepted write and waits for reads in flight; false when
    /// the disk refused the commit (the writes stay queued and are retried).
    bool flush() {
#if PARLEY_SERVER_WITH_SQLITE
        if (sqlite_) return sqlite_->flush();
#endif
        return true;
    }

    StoreGauges gauges() const {
        StoreGauges g;
#if PARLEY_SERVER_WITH_SQLITE
        if (sqlite_) {
            const auto s = sqlite_->stats();
            g.persistent = true;
            g.commits = s.commits;
            g.writes = s.writes;
            g.write_errors = s.write_errors;
            g.read_errors = s.read_errors;
            g.dropped = s.dropped;
            g.trimmed = s.trimmed;
            g.pending = s.pending;
            g.failing = s.failing;
            g.unclean_start = s.unclean_start;
            g.last_error = s.last_error;
        }
#endif
        return g;
    }

private:
    std::shared_ptr<parley::Store> store_;
#if PARLEY_SERVER_WITH_SQLITE
    std::shared_ptr<parley::SqliteStore> sqlite_;
#endif
    std::string description_;
};

}  // namespace parley_server
