// Inputs the fuzzers (fuzz/) found, each reduced to the behaviour it broke.
#include <catch2/catch.hpp>

#include <string>

#include "mailcanary/config/config.hpp"

using namespace mailcanary;

TEST_CASE("an endpoint with a NUL byte is invalid, not validated up to the NUL", "[fuzz]") {
  // fuzz_config_values: "::" NUL "junk" passed as an IPv6 address (inet_pton saw "::"),
  // and the junk stayed in the host. TOML can write the byte as "\u0000".
  using namespace std::string_literals;
  for (const std::string& text :
       {"::\0junk"s, "[::1\0junk]:25"s, "127.0.0.1\0junk:25"s, "mx.example.test\0:25"s, "::1\0"s}) {
    CAPTURE(text);
    CHECK_FALSE(config::parse_endpoint(text, 25).has_value());
  }
}

TEST_CASE("a duration with too many digits is invalid without overflowing", "[fuzz]") {
  // fuzz_config_values: 19 and more digits overflowed int64 while being read, before the
  // length check refused them (undefined behaviour; fails under UBSan before the fix).
  CHECK_FALSE(config::parse_duration(std::string(30, '4') + "s").has_value());
  CHECK_FALSE(config::parse_duration("1h" + std::string(20, '9') + "ms").has_value());
  CHECK(config::parse_duration(std::string(12, '9') + "ms") ==
        std::chrono::milliseconds(999'999'999'999));
}
