// Files a config names are read with a bound: a path that never ends (/dev/zero) is
// refused as too large instead of filling memory.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "mailcanary/config/config.hpp"

using namespace mailcanary::config;

namespace {

bool has_error(const LoadResult& r, const std::string& part) {
  return std::any_of(r.errors.begin(), r.errors.end(), [&](const ConfigError& e) {
    return e.message.find(part) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("an endless secret file is refused as too large, not read to the end", "[config]") {
  const auto r = load_config_string("[agent]\nhmac_key_file = \"/dev/zero\"\n", "/x/m.toml");
  CHECK(has_error(r, "\"/dev/zero\" is too large for a secret (over 64 KiB)"));
}

TEST_CASE("an endless users file is refused as too large, not read to the end", "[config]") {
  std::vector<std::string> errors;
  CHECK_FALSE(read_web_users("/dev/zero", errors).has_value());
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "\"/dev/zero\" is too large (over 1 MiB)");
}

TEST_CASE("an endless config file is refused as too large, not read to the end", "[config]") {
  const auto r = load_config_file("/dev/zero");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message == "\"/dev/zero\" is too large for a config (over 64 MiB)");
}
