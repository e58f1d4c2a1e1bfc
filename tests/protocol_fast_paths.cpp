// The core's fast paths agree with the general ones they shortcut: the flat
// request reader with RapidJSON (and falls back to it on anything unusual, so
// errors stay RapidJSON's), the directly appended message frame with
// JsonWriter, the word-at-a-time UTF-8 check with the strict rule.
//
// The checks of detail:: functions need include/ (the single header is
// generated from it later); the protocol-level checks run against both.

#include "protocol_fixture.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#ifndef PARLEY_TEST_SINGLE_HEADER
#include <parley/detail/events.hpp>
#include <parley/detail/json.hpp>
#include <parley/detail/request.hpp>
#include <parley/detail/request_fields.hpp>
#include <parley/detail/utf8.hpp>
#endif

using namespace protocol_test;

namespace {

/// A request frame a client commonly sends, and variants of every field kind.
const std::vector<std::string> flat_frames = {
    R"({})",
    R"({"type":"send","room":"general","text":"hi there","client_id":"c1"})",
    R"({"type":"send","room":"général","text":"snow ☃ and 𝄞","ref":17})",
    R"(  {  "type" : "join" ,"room":"r",	"since":0,"history":123456789012345678,"epoch":null}
)",
    R"({"type":"typing","room":"r","active":true,"ref":"abc"})",
    R"({"type":"typing","room":"r","active":false,"ref":null})",
    R"({"":"empty key","type":""})",
    R"({"type":"ping","ref":0})",
};

/// Frames the flat reader must leave to RapidJSON.
const std::vector<std::string> odd_frames = {
    "",
    " ",
    "[]",
    R"("type")",
    "17",
    R"({"type":"send","text":"a \"quote\""})",      // escape in a value
    R"({"ty\u0070e":"ping"})",                      // escape in a key
    R"({"type":"ping","type":"ping"})",             // duplicate
    R"({"type":"ping","ref":{"a":1}})",             // nesting
    R"({"type":"ping","ref":[1]})",
    R"({"type":"ping","ref":-1})",                  // sign
    R"({"type":"ping","ref":1.5})",                 // fraction
    R"({"type":"ping","ref":1e3})",                 // exponent
    R"({"type":"ping","ref":01})",                  // leading zero
    R"({"type":"ping","ref":1234567890123456789})",  // 19 digits
    R"({"type":"ping","ref":tru})",
    R"({"type":"ping","ref":nulls})",
    R"({"type":"ping",})",                          // trailing comma
    R"({"type":"ping"} x)",                         // trailing garbage
    R"({"type":"ping"}{"type":"ping"})",
    R"({"type":"ping")",                            // unterminated
    R"({"type":"ping)",
    R"({"type" "ping"})",
    R"({type:"ping"})",
    "{\"type\":\"pi\tng\"}",                        // raw control character
    std::string("{\"type\":\"ping\"}\0", 16),       // raw NUL after the object
    "{\"type\":\"ping\"}\f",                        // not JSON whitespace
    R"({"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"type":"ping"})",  // more than 8 fields
};

}  // namespace

#ifndef PARLEY_TEST_SINGLE_HEADER

namespace {

using parley::detail::FieldValue;
using parley::detail::FlatFields;

bool same(const FieldValue& a, const FieldValue& b) {
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case FieldValue::Kind::boolean: return a.boolean == b.boolean;
        case FieldValue::Kind::string: return a.string == b.string;
        case FieldValue::Kind::unsigned_integer: return a.unsigned_value == b.unsigned_value;
        case FieldValue::Kind::negative_integer: return a.negative_value == b.negative_value;
        default: return true;
    }
}

}  // namespace

TEST_CASE("the flat reader reads what RapidJSON reads", "[fast-paths]") {
    for (const auto& frame : flat_frames) {
        INFO(frame);
        FlatFields flat;
        REQUIRE(parley::detail::scan_flat_object(frame, flat));
        Doc doc;
        REQUIRE_FALSE(doc.Parse(frame.data(), frame.size()).HasParseError());
        REQUIRE(doc.IsObject());
        REQUIRE(flat.count == doc.MemberCount());
        for (rapidjson::SizeType i = 0; i < doc.MemberCount(); ++i) {
            const auto& member = doc.MemberBegin()[i];
            const std::string_view key(member.name.GetString(), member.name.GetStringLength());
            FieldValue fast;
            REQUIRE(flat.find(frame, key, fast));
            CHECK(same(fast, FieldValue::of(member.value)));
        }
        FieldValue none;
        CHECK_FALSE(flat.find(frame, "absent", none));
    }
}

TEST_CASE("the flat reader leaves unusual frames to RapidJSON", "[fast-paths]") {
    for (const auto& frame : odd_frames) {
        INFO(frame);
        FlatFields flat;
        CHECK_FALSE(parley::detail::scan_flat_object(frame, flat));
    }
}

TEST_CASE("requests read flat and by RapidJSON give the same answers", "[fast-paths]") {
    const Limits limits;
    // A frame read flat, and the same frame with one key escaped (\u0061 is
    // "a"), which RapidJSON must read: both readings must agree field by field.
    const std::vector<std::pair<std::string, std::string>> pairs = {
        {R"({"type":"send","room":"r","text":"hi","client_id":"c","ref":5})",
         R"({"type":"send","room":"r","text":"hi","client_id":"c","ref":5,"\u0061":0})"},
        {R"({"type":"join","room":"r","since":3,"history":null,"ref":"x"})",
         R"({"type":"join","room":"r","since":3,"history":null,"ref":"x","\u0061":0})"},
        {R"({"type":"typing","room":7,"active":"yes","ref":9223372036854775})",
         R"({"type":"typing","room":7,"active":"yes","ref":9223372036854775,"\u0061":0})"},
    };
    for (const auto& [flat_text, dom_text] : pairs) {
        INFO(flat_text);
        parley::detail::FlatFields check;
        REQUIRE(parley::detail::scan_flat_object(flat_text, check));
        REQUIRE_FALSE(parley::detail::scan_flat_object(dom_text, check));
        parley::detail::Request a, b;
        REQUIRE_FALSE(parley::detail::Request::parse(flat_text, limits, a));
        REQUIRE_FALSE(parley::detail::Request::parse(dom_text, limits, b));
        CHECK(a.type() == b.type());
        CHECK(a.ref().kind == b.ref().kind);
        CHECK(a.ref().text == b.ref().text);
        CHECK(a.ref().integer == b.ref().integer);
        for (const char* key : {"room", "text", "client_id", "epoch", "active", "missing"}) {
            CHECK(a.optional_string(key) == b.optional_string(key));
            CHECK(a.required_string(key) == b.required_string(key));
        }
        for (const char* key : {"since", "history", "missing"}) CHECK(a.optional_count(key) == b.optional_count(key));
        CHECK(a.required_bool("active") == b.required_bool("active"));
        REQUIRE(a.problem().has_value() == b.problem().has_value());
        if (a.problem()) CHECK(a.problem()->message == b.problem()->message);

        // Moving a request (it waits in the inbox) keeps what it read, short texts included.
        parley::detail::Request moved(std::move(a));
        CHECK(moved.type() == b.type());
    }
    parley::detail::Request shortest;
    REQUIRE_FALSE(parley::detail::Request::parse(R"({"type":"ping"})", limits, shortest));
    parley::detail::Request moved(std::move(shortest));
    CHECK(moved.type() == "ping");
}

TEST_CASE("the envelope errors are the same whichever reader read the frame", "[fast-paths]") {
    const Limits limits;
    struct Case {
        std::string frame;
        parley::ErrorCode code;
        std::string message;
    };
    const std::string long_ref(limits.max_ref_bytes + 1, 'r');
    const std::vector<Case> cases = {
        {R"({"ref":1})", ErrorCode::bad_request, R"("type" must be a string)"},
        {R"({"type":3})", ErrorCode::bad_request, R"("type" must be a string)"},
        {R"({"type":"ping","ref":true})", ErrorCode::bad_request,
         R"("ref" must be an integer or a string of at most )" + std::to_string(limits.max_ref_bytes) + " bytes"},
        {R"({"type":"ping","ref":")" + long_ref + R"("})", ErrorCode::bad_request,
         R"("ref" must be an integer or a string of at most )" + std::to_string(limits.max_ref_bytes) + " bytes"},
        {R"({"type":"ping","type":"ping"})", ErrorCode::bad_request, R"(duplicate field "type")"},
        {"[]", ErrorCode::bad_request, "a request must be a JSON object"},
        {R"({"type":"ping",})", ErrorCode::bad_json, "Missing a name for object member. at offset 15"},
    };
    for (const auto& c : cases) {
        INFO(c.frame);
        // The same envelope with an escaped extra key goes to RapidJSON.
        std::vector<std::string> variants{c.frame};
        if (c.frame.size() > 2 && c.frame.front() == '{' && c.code != ErrorCode::bad_json)
            variants.push_back(R"({"\u0061":0,)" + c.frame.substr(1));
        for (const auto& frame : variants) {
            parley::detail::Request r;
            auto problem = parley::detail::Request::parse(frame, limits, r);
            REQUIRE(problem);
            CHECK(problem->code == c.code);
            CHECK(problem->message == c.message);
        }
    }
}

TEST_CASE("the message frame is what JsonWriter writes", "[fast-paths]") {
    std::string every_byte;
    for (int c = 1; c < 0x80; ++c) every_byte.push_back(static_cast<char>(c));
    every_byte.push_back('\0');
    const std::vector<std::string> texts = {"", "plain", every_byte, "é ☃ 𝄞", "\"\\/\b\f\n\r\t\x1f\x7f"};
    for (const auto& text : texts) {
        for (bool deleted : {false, true}) {
          for (const char* nick : {"nick\"", "nick"}) {  // escaped, and plain when text is
            parley::ChatMessage m;
            m.seq = 18446744073709551615ull;
            m.ts = -1767225600123;
            m.from = nick + text;
            m.text = text;
            m.client_id = text.empty() ? "" : "id" + text;
            m.deleted = deleted;
            parley::detail::JsonWriter w;
            w.field("seq", m.seq).key("ts").i64(m.ts);
            if (deleted) {
                w.field("deleted", true);
            } else {
                w.field("from", m.from).field("text", m.text);
                if (!m.client_id.empty()) w.field("client_id", m.client_id);
            }
            const std::string expected = w.finish();
            CHECK(m.to_json() == expected);

            const parley::StoredMessage stored(m);
            parley::detail::JsonWriter frame;
            frame.field("type", "message").field("room", "r\"oom" + text);
            std::string wrapped = frame.finish();
            wrapped.back() = ',';
            wrapped.append(expected, 1, std::string::npos);
            CHECK(parley::detail::encode_message("r\"oom" + text, stored) == wrapped);
          }
        }
    }
}

TEST_CASE("the UTF-8 check agrees with the byte-at-a-time rule", "[fast-paths]") {
    // The strict rule, one code point at a time (the reference).
    auto reference = [](std::string_view s) {
        std::size_t i = 0;
        while (i < s.size()) {
            const auto c = static_cast<unsigned char>(s[i]);
            std::size_t need;
            std::uint32_t cp, min;
            if (c < 0x80) { ++i; continue; }
            if ((c & 0xE0) == 0xC0) need = 1, cp = c & 0x1Fu, min = 0x80;
            else if ((c & 0xF0) == 0xE0) need = 2, cp = c & 0x0Fu, min = 0x800;
            else if ((c & 0xF8) == 0xF0) need = 3, cp = c & 0x07u, min = 0x10000;
            else return false;
            if (s.size() - i <= need) return false;
            for (std::size_t k = 1; k <= need; ++k) {
                const auto b = static_cast<unsigned char>(s[i + k]);
                if ((b & 0xC0) != 0x80) return false;
                cp = (cp << 6) | (b & 0x3Fu);
            }
            if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
            i += need + 1;
        }
        return true;
    };
    const std::vector<std::string> pieces = {"a", "abcdefgh", "é", "☃", "𝄞", "\xC0\x80", "\xED\xA0\x80",
                                             "\xF4\x90\x80\x80", "\xE2\x98", "\x80", "\xFF", std::string(1, '\0')};
    // Every piece at every offset of a 20-byte ASCII run, alone and in pairs, so
    // each lands on and across the 8-byte words.
    std::size_t checked = 0;
    for (std::size_t at = 0; at <= 20; ++at)
        for (const auto& a : pieces)
            for (const auto& b : pieces) {
                std::string s = std::string(at, 'x') + a + std::string(20 - at, 'y') + b;
                INFO(s);
                CHECK(parley::detail::is_valid_utf8(s) == reference(s));
                ++checked;
            }
    CHECK(checked == 21 * pieces.size() * pieces.size());
}

TEST_CASE("the word-at-a-time code point count agrees with the byte-at-a-time one", "[fast-paths]") {
    auto reference = [](std::string_view s) {
        std::size_t n = 0;
        for (unsigned char c : s) n += (c & 0xC0) != 0x80;
        return n;
    };
    const std::vector<std::string> pieces = {"a", "é", "☃", "𝄞", "\x7f", "\xc3\xbf", "\xef\xbf\xbd\xf0\x9f\x98\x80"};
    for (std::size_t at = 0; at <= 17; ++at)
        for (const auto& a : pieces)
            for (const auto& b : pieces) {
                const std::string s = std::string(at, 'x') + a + b + a + std::string(17 - at, 'y') + b;
                INFO(s);
                CHECK(parley::detail::count_code_points(s) == reference(s));
            }
    CHECK(parley::detail::count_code_points("") == 0);
    CHECK(parley::detail::count_code_points("é☃𝄞é☃𝄞é☃𝄞") == 9);  // 27 bytes, 3 words and a tail
}

TEST_CASE("integers are written as std::to_chars writes them", "[fast-paths]") {
    auto reference = [](auto value) {
        char buffer[24];
        return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value).ptr);
    };
    std::vector<std::uint64_t> unsigned_values = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535,
                                                  1767225600123ull, 18446744073709551615ull};
    for (std::uint64_t power = 1; power <= 1000000000000000000ull; power *= 10) {
        unsigned_values.push_back(power - 1);
        unsigned_values.push_back(power);
        unsigned_values.push_back(power + 1);
    }
    for (auto v : unsigned_values) {
        INFO(v);
        CHECK(std::string(parley::detail::JsonInteger(v).text()) == reference(v));
        const auto signed_value = static_cast<std::int64_t>(v >> 1);
        CHECK(std::string(parley::detail::JsonInteger(signed_value).text()) == reference(signed_value));
        CHECK(std::string(parley::detail::JsonInteger(-signed_value).text()) == reference(-signed_value));
    }
    const auto lowest = std::numeric_limits<std::int64_t>::min();
    CHECK(std::string(parley::detail::JsonInteger(lowest).text()) == reference(lowest));
    CHECK(parley::detail::JsonInteger(-1767225600123ll).size() == 14);
}

TEST_CASE("a send request gives its text up as the message text only when the text is most of it",
          "[fast-paths]") {
    const parley::Limits limits;
    SECTION("flat, mostly text: the request's own string, moved to the front") {
        parley::detail::Request rq;
        REQUIRE_FALSE(parley::detail::Request::parse(
            R"({"type":"send","room":"general","text":"a text that is most of the frame"})", limits, rq));
        const auto text = rq.required_string("text");
        const char* const frame_bytes = text.data() - 40;  // where the request's string starts
        const std::string taken = rq.take_string(text);
        CHECK(taken == "a text that is most of the frame");
        CHECK(taken.data() == frame_bytes);  // no allocation, no second buffer
        CHECK(rq.ref().kind == parley::detail::Ref::Kind::none);
    }
    SECTION("flat, a short text in a long frame: copied, the request kept intact") {
        parley::detail::Request rq;
        const std::string padding(200, ' ');
        REQUIRE_FALSE(parley::detail::Request::parse(
            R"({"type":"send","room":"general",)" + padding + R"("text":"hi","ref":"r1"})", limits, rq));
        const auto text = rq.required_string("text");
        CHECK(rq.take_string(text) == "hi");
        CHECK(rq.type() == "send");  // still readable: nothing was given up
        CHECK(rq.ref().text == "r1");
    }
    SECTION("read by RapidJSON (an escape): copied") {
        parley::detail::Request rq;
        REQUIRE_FALSE(parley::detail::Request::parse(
            R"({"type":"send","room":"general","text":"line\none, and more text to be most of it"})", limits, rq));
        const auto text = rq.required_string("text");
        CHECK(rq.take_string(text) == "line\none, and more text to be most of it");
    }
}

#endif  // PARLEY_TEST_SINGLE_HEADER

TEST_CASE("odd request frames get RapidJSON's errors over the wire", "[protocol][fast-paths]") {
    Server s;
    MockPeer& alice = s.user("alice");
    // Unusual but valid spellings of a ping are answered like the plain one.
    for (const std::string frame :
         {R"({"t\u0079pe":"ping","ref":"e"})", R"({"type":"ping","ref":"e","x":{"y":[1,2]}})",
          " {\"type\" :\n\"ping\" , \"ref\":\t\"e\"} "}) {
        Doc pong = s.one(alice, frame, "pong");
        CHECK(str(pong, "ref") == "e");
    }
    // A send read flat and one read by RapidJSON (an escaped key) broadcast the same message.
    s.join(alice, "general");
    Doc flat = s.one(alice, R"({"type":"send","room":"general","text":"x","client_id":"k"})", "message");
    Doc escaped = s.one(alice, R"({"type":"send","room":"general","text":"x","client_\u0069d":"k2"})", "message");
    CHECK(str(escaped, "client_id") == "k2");
    CHECK(str(flat, "text") == str(escaped, "text"));
    CHECK(u64(escaped, "seq") == u64(flat, "seq") + 1);
    // The same client_id read through RapidJSON is the same one: the repeat gets the original.
    Doc repeat = s.one(alice, R"({"type":"send","room":"general","text":"x","client_\u0069d":"k"})", "message");
    CHECK(u64(repeat, "seq") == u64(flat, "seq"));
    Doc duplicate = s.expect_error(alice, R"({"type":"ping","ref":"d","ref":"d"})", ErrorCode::bad_request);
    CHECK(str(duplicate, "message") == R"(duplicate field "ref")");
    Doc comma = s.expect_error(alice, R"({"type":"ping",})", ErrorCode::bad_json);
    CHECK(str(comma, "message") == "Missing a name for object member. at offset 15");
}
