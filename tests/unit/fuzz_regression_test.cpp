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
