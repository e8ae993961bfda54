// The configuration the Debian package installs as /etc/mailcanary/mailcanary.toml loads
// as soon as the package made its key: the service starts, serves its endpoints and
// probes nothing until the operator adds targets.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "mailcanary/config/config.hpp"
#include "temp_dir.hpp"

using namespace mailcanary::config;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

TEST_CASE("the packaged config loads with the key made at install, and has no target", "[config]") {
  std::string text = read_text(MAILCANARY_SOURCE_DIR "/packaging/mailcanary.toml");
  const std::string key_path = "/etc/mailcanary/hmac.key";
  const auto at = text.find(key_path);
  REQUIRE(at != std::string::npos);

  mailcanary::testing::TempDir dir;
  const std::string key = (dir.path() / "hmac.key").string();
  std::ofstream(key) << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
  text.replace(at, key_path.size(), key);

  const LoadResult result = load_config_string(text, (dir.path() / "mailcanary.toml").string());
  for (const auto& e : result.errors) {
    UNSCOPED_INFO(e.to_string());
  }
  REQUIRE(result.ok());
  CHECK(result.config->targets.empty());
  CHECK(result.config->mailboxes.empty());
  CHECK(result.config->agent.listen.to_string() == "127.0.0.1:9478");
  CHECK(result.config->agent.state_dir == "/var/lib/mailcanary");
}

TEST_CASE("a config without any target is valid: the agent probes nothing", "[config]") {
  mailcanary::testing::TempDir dir;
  const std::string key = (dir.path() / "k").string();
  std::ofstream(key) << "k\n";
  const LoadResult result = load_config_string(
      "target = []\n[agent]\nhmac_key_file = \"" + key + "\"\n", (dir.path() / "c.toml").string());
  REQUIRE(result.ok());
  CHECK(result.config->targets.empty());
}
