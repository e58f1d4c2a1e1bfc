// The author identity stored with each message: a SHA-256 digest of the resume
// token, checked against the FIPS 180-4 test vectors.

#include <parley/parley.hpp>

#include <catch2/catch.hpp>

#include <string>

TEST_CASE("sha256_hex matches the standard test vectors", "[author]") {
    using parley::detail::sha256_hex;
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // Two blocks: the padding spills into a second one.
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // A million 'a's: many blocks, and a length beyond 16 bits.
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // 55 and 56 bytes: the edge where the length no longer fits the first block.
    CHECK(sha256_hex(std::string(55, 'x')) != sha256_hex(std::string(56, 'x')));
}

TEST_CASE("an author identity reveals no token and is stable per token", "[author]") {
    using parley::detail::author_identity;
    const std::string token = "0123456789abcdef0123456789abcdef";
    CHECK(author_identity(token) == author_identity(token));
    CHECK(author_identity(token).size() == 64);
    CHECK(author_identity(token).find(token) == std::string::npos);
    CHECK(author_identity(token) != parley::detail::sha256_hex(token));  // domain-separated
    CHECK(author_identity("0123456789abcdef0123456789abcdee") != author_identity(token));
    CHECK(author_identity("").empty());
}
