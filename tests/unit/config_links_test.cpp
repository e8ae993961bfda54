// [web] external_url and [alertmanager] runbook_url (the links of pushed alerts), and
// [web] agent_check_listen and agent_check_down (HAProxy's agent check).
#include <catch2/catch.hpp>
#include <fstream>

#include "mailcanary/config/config.hpp"
#include "temp_dir.hpp"

using namespace mailcanary::config;

namespace {

LoadResult load_with(const std::string& sections) {
  static mailcanary::testing::TempDir dir;
  const std::string key = (dir.path() / "k").string();
  std::ofstream(key) << "k\n";
  return load_config_string("[agent]\nhmac_key_file = \"" + key + "\"\n" + sections,
                            (dir.path() / "c.toml").string());
}

}  // namespace

TEST_CASE("external_url and runbook_url are read; a trailing slash is dropped", "[config]") {
  const auto r = load_with(
      "[web]\nexternal_url = \"https://probe.example.net:9478/\"\n"
      "[alertmanager]\nrunbook_url = \"https://wiki.example/mailcanary#mailflowoutage\"\n");
  REQUIRE(r.ok());
  CHECK(r.config->web.external_url == "https://probe.example.net:9478");
  CHECK(r.config->alertmanager.runbook_url == "https://wiki.example/mailcanary#mailflowoutage");
  const auto none = load_with("");
  REQUIRE(none.ok());
  CHECK(none.config->web.external_url.empty());
  CHECK(none.config->alertmanager.runbook_url.empty());
}

TEST_CASE("a link that is not an http(s) URL is an error naming the key", "[config]") {
  const auto r = load_with(
      "[web]\nexternal_url = \"probe.example.net\"\n"
      "[alertmanager]\nrunbook_url = \"ftp://x\"\n");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].to_string().find(
            "web.external_url: expected an http:// or https:// URL, got \"probe.example.net\"") !=
        std::string::npos);
  CHECK(r.errors[1].to_string().find(
            "alertmanager.runbook_url: expected an http:// or https:// URL") != std::string::npos);
}

TEST_CASE("[web] agent_check_listen and agent_check_down", "[config]") {
  const auto off = load_with("");
  REQUIRE(off.ok());
  CHECK_FALSE(off.config->web.agent_check_listen.has_value());
  CHECK(off.config->web.agent_check_drain);
  const auto on =
      load_with("[web]\nagent_check_listen = \"127.0.0.1:9479\"\nagent_check_down = \"down\"\n");
  REQUIRE(on.ok());
  REQUIRE(on.config->web.agent_check_listen.has_value());
  CHECK(on.config->web.agent_check_listen->to_string() == "127.0.0.1:9479");
  CHECK_FALSE(on.config->web.agent_check_drain);
  const auto bad = load_with("[web]\nagent_check_listen = \"9479\"\nagent_check_down = \"cut\"\n");
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].to_string().find(
            "web.agent_check_listen: \"9479\" is not a valid host:port") != std::string::npos);
  CHECK(bad.errors[1].to_string().find("web.agent_check_down") != std::string::npos);
}
