// The TOML config loader, from text. The config "lives" in a private temporary folder
// holding the secret files the seeds name (hmac.key, canary.pass, also at
// ../../tests/testbed/secrets/ like the repo's examples), so valid configs load and
// the cross-section checks run.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_support.hpp"
#include "mailcanary/config/config.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mailcanary::config;

constexpr std::string_view kHmacKey = "fuzz-hmac-key-0f1e2d3c4b5a6978";
constexpr std::string_view kPassword = "fuzz-password-a1b2c3d4e5";

std::string g_config_path;
fs::path g_root;

void write(const fs::path& p, std::string_view content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << content << "\n";
}

void remove_root() {
  std::error_code ec;
  fs::remove_all(g_root, ec);
}

bool contains_secret(const std::string& s) {
  return s.find(kHmacKey) != std::string::npos || s.find(kPassword) != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string dir = (fs::temp_directory_path() / "mailcanary-fuzz-config-XXXXXX").string();
  if (!mkdtemp(dir.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_root = dir;
  std::atexit(remove_root);
  const fs::path conf_dir = g_root / "config" / "examples";
  for (const fs::path& d : {conf_dir, g_root / "tests" / "testbed" / "secrets"}) {
    write(d / "hmac.key", kHmacKey);
    write(d / "canary.pass", kPassword);
  }
  g_config_path = (conf_dir / "mailcanary.toml").string();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(mailcanary::fuzz::as_text(data, size));
  const LoadResult r = load_config_string(text, g_config_path);
  FUZZ_CHECK(r.ok() == r.errors.empty());
  FUZZ_CHECK(r.config.has_value() == r.errors.empty());
  // Secrets never appear in errors, unless the config's own text has them (an error
  // may quote a value of the config).
  const bool text_has_secret = contains_secret(text);
  for (const auto& e : r.errors) {
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.where.line >= 0 && e.where.column >= 0);
    FUZZ_CHECK(text_has_secret || !contains_secret(e.to_string()));
  }
  // Loading is deterministic.
  const LoadResult again = load_config_string(text, g_config_path);
  FUZZ_CHECK(again.errors.size() == r.errors.size());
  if (!r.ok()) {
    return 0;
  }
  const Config& c = *r.config;
  FUZZ_CHECK(c.agent.hmac_key == kHmacKey);
  FUZZ_CHECK(c.agent.concurrency >= 1 && c.agent.concurrency <= 10000);
  FUZZ_CHECK(c.agent.shard_index >= 1 && c.agent.shard_index <= c.agent.shard_count);
  FUZZ_CHECK(c.agent.interval.count() > 0);
  FUZZ_CHECK(parse_duration(format_duration(c.agent.interval)) == c.agent.interval);
  for (const auto& t : c.targets) {
    FUZZ_CHECK(!t.name.empty());
    FUZZ_CHECK(c.find_target(t.name) != nullptr);
    FUZZ_CHECK(c.find_mailbox(t.mailbox) != nullptr);
    FUZZ_CHECK(t.is_mx_mode() || t.member_endpoints.size() == t.members.size());
    FUZZ_CHECK(t.smtp.attempts >= 1);
  }
  for (const auto& m : c.mailboxes) {
    FUZZ_CHECK(m.server.port >= 1);
  }
  return 0;
}
