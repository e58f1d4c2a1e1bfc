// parley-server: the web app's files from one directory, read-only.
//
// Every response carries the headers that keep the page to itself: a
// Content-Security-Policy of 'self' only (no inline script, no framing),
// nosniff, and X-Frame-Options for browsers without frame-ancestors.
// A request path is decoded once and then must name a regular file inside the
// root: "..", "." and empty segments, backslashes, NUL and leftover escapes
// are refused, and the canonical path must still start with the root's (so a
// symlink cannot lead out either).
#pragma once

#include "http_util.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace parley_server {

class StaticFiles {
public:
    /// Larger files are not served (the app's files are a few KiB each).
    static constexpr std::uintmax_t max_file_bytes = 8 * 1024 * 1024;

    static constexpr std::string_view content_security_policy =
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'";

    explicit StaticFiles(std::filesystem::path root) : requested_(std::move(root)) {
        std::error_code ec;
        root_ = std::filesystem::canonical(requested_, ec);
        if (ec || !std::filesystem::is_directory(root_, ec)) root_.clear();
    }

    bool available() const { return !root_.empty(); }
    /// The canonical root, or the path asked for when it is not a directory.
    const std::filesystem::path& root() const { return root_.empty() ? requested_ : root_; }

    /// Handles GET or HEAD of `path` on `con` (in the http handler).
    void handle(const ConnectionPtr& con, std::string_view method, std::string_view path) const {
        if (method != "GET" && method != "HEAD") {
            auto r = page_error(405, "Method Not Allowed");
            r.header("Allow", "GET, HEAD");
            return respond_now(con, r);
        }
        const auto file = resolve(path);
        if (!file) return respond_now(con, page_error(400, "Bad Request"));
        std::error_code ec;
        if (file->empty() || !std::filesystem::is_regular_file(*file, ec))
            return respond_now(con, page_error(404, "Not Found"));
        const auto size = std::filesystem::file_size(*file, ec);
        if (ec || size > max_file_bytes) return respond_now(con, page_error(404, "Not Found"));
        std::ifstream in(*file, std::ios::binary);
        std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) return respond_now(con, page_error(500, "Internal Server Error"));

        Response r;
        r.status = 200;
        r.content_type = std::string(content_type(file->extension().string()));
        r.header("Cache-Control", "no-cache");
        secure(r);
        if (method == "HEAD") {
            r.header("Content-Length", std::to_string(body.size()));
        } else {
            r.body = std::move(body);
        }
        respond_now(con, r);
    }

    /// The file a request path names, "" when it names nothing servable, or
    /// nullopt when the path is malformed or tries to leave the root.
    std::optional<std::filesystem::path> resolve(std::string_view raw) const {
        if (raw.empty() || raw.front() != '/') return std::nullopt;
        auto decoded = percent_decode(raw);
        if (!decoded) return std::nullopt;
        const std::string& p = *decoded;
        // A '%' left after one decoding is a double-encoded escape: refuse
        // rather than guess which layer a filter above us decoded.
        if (p.find_first_of(std::string_view("\\%\0", 3)) != std::string::npos) return std::nullopt;
        std::string relative = p.substr(1);
        if (relative.empty()) relative = "index.html";
        std::filesystem::path rel;
        std::size_t start = 0;
        while (true) {
            const auto slash = relative.find('/', start);
            const auto segment = relative.substr(start, slash - start);
            if (segment.empty() && slash == std::string::npos) return std::filesystem::path();  // a directory
            if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
            rel /= segment;
            if (slash == std::string::npos) break;
            start = slash + 1;
        }
        if (root_.empty()) return std::filesystem::path();
        std::error_code ec;
        auto full = std::filesystem::weakly_canonical(root_ / rel, ec);
        if (ec) return std::filesystem::path();
        if (!inside_root(full)) return std::nullopt;
        return full;
    }

    /// The headers every page and asset carries.
    static void secure(Response& r) {
        r.header("Content-Security-Policy", std::string(content_security_policy));
        r.header("X-Frame-Options", "DENY");
        r.header("Referrer-Policy", "no-referrer");
    }

    static Response page_error(int status, std::string_view text) {
        Response r;
        r.status = status;
        r.content_type = "text/plain; charset=utf-8";
        r.body = std::string(text) + "\n";
        secure(r);
        return r;
    }

    static std::string_view content_type(std::string_view extension) {
        const auto ext = lower(extension);
        if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
        if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
        if (ext == ".css") return "text/css; charset=utf-8";
        if (ext == ".json" || ext == ".map") return "application/json; charset=utf-8";
        if (ext == ".webmanifest") return "application/manifest+json; charset=utf-8";
        if (ext == ".svg") return "image/svg+xml";
        if (ext == ".png") return "image/png";
        if (ext == ".ico") return "image/x-icon";
        if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
        if (ext == ".webp") return "image/webp";
        if (ext == ".woff2") return "font/woff2";
        if (ext == ".txt") return "text/plain; charset=utf-8";
        return "application/octet-stream";
    }

private:
    bool inside_root(const std::filesystem::path& full) const {
        auto r = root_.begin();
        auto f = full.begin();
        for (; r != root_.end(); ++r, ++f)
            if (f == full.end() || *f != *r) return false;
        return f != full.end();  // the root itself is not a file
    }

    std::filesystem::path requested_;
    std::filesystem::path root_;
};

}  // namespace parley_server
