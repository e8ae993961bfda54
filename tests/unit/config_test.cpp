// Config loading: values, defaults, merging, and one bad config per rule with the exact
// error asserted. No network; files live in a per-test temporary folder.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config_messages.hpp"
#include "mailcanary/config/config.hpp"

namespace {

namespace fs = std::filesystem;
using namespace mailcanary::config;
using namespace std::chrono_literals;

// A fresh folder under the system temp folder, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("mailcanary-config-test-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(++counter));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string str() const { return path_.string(); }

  std::string write(const std::string& name, const std::string& content) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
    return file.string();
  }

 private:
  fs::path path_;
};

using mailcanary::testing::messages;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

const char* const kFullConfig = R"toml(
[agent]
listen = "[::1]:9100"
state_dir = "state"
interval = "1m30s"
concurrency = 8
hmac_key_file = "keys/hmac.key"
instance = "probe-eu1"
shard = "2/3"

[dns]
servers = ["127.0.0.53:5353", "[::1]", "10.0.0.1"]
timeout = "2s"

[smtp]
helo = "canary.example.test"
from = "canary@example.test"
port = 2525
tls = "starttls"
tls_verify = false
ca_file = "ca.pem"
timeout = "20s"
attempts = 2
retry_backoff = "500ms"

[[mailbox]]
name = "inbox"
protocol = "imap"
server = "127.0.0.1"
tls = "implicit"
user = "canary"
password_file = "imap.pass"
junk_folders = ["Junk", "Spam"]
delete = false

[[mailbox]]
name = "pop"
protocol = "pop3"
server = "[::1]:1110"
user = "canary2"
password_file = "/ABS/imap.pass"
poll_interval = "2s"

[slg]
latency_slo = "30s"
lost_after = "5m"
outage_window = "0s"
recover_after = 4
health_fail_after = 3

[[maintenance]]
targets = ["vip1"]
start = "2026-12-01T04:00:00+02:00"
end = 2026-12-01T04:00:00Z

[[maintenance]]
targets = ["*"]
weekly = "sat 23:30"
duration = "2h"
time_zone = "Europe/Berlin"

[alertmanager]
urls = ["http://127.0.0.1:9093", "https://am2.example.test:9093"]

[[target]]
name = "mx"
domain = "example.test"
rcpt = "canary@example.test"
mailbox = "inbox"

[[target]]
name = "vip1"
vip = "127.0.0.10"
members = ["127.0.0.11:25", "127.0.0.12", "[::1]:2526"]
host = "mx.example.test"
rcpt = "canary@example.test"
mailbox = "pop"
interval = "10s"
port = 2600
tls = "opportunistic"
user = "submit"
password_file = "smtp.pass"

[target.slg]
latency_slo = "1m"
late_is_failure = true
)toml";

TEST_CASE("a full config loads with every value set, defaults filled and targets merged",
          "[config]") {
  TempDir dir;
  dir.write("keys/hmac.key", "0123456789abcdef\n\n");
  dir.write("ca.pem", "not really a certificate\n");
  dir.write("imap.pass", "imap secret \r\n");
  dir.write("smtp.pass", "smtp-secret\n");
  const std::string text = replace_all(kFullConfig, "/ABS", dir.str());
  const std::string path = dir.write("mailcanary.toml", text);

  const LoadResult result = load_config_file(path);
  REQUIRE(messages(result) == std::vector<std::string>{});
  REQUIRE(result.ok());
  const Config& c = *result.config;
  const std::string d = dir.str() + "/";

  CHECK(c.path == path);
  CHECK(c.agent.listen.host == "::1");
  CHECK(c.agent.listen.port == 9100);
  CHECK(c.agent.state_dir == d + "state");
  CHECK(c.agent.interval == 90s);
  CHECK(c.agent.concurrency == 8);
  CHECK(c.agent.hmac_key_file == d + "keys/hmac.key");
  CHECK(c.agent.hmac_key == "0123456789abcdef");
  CHECK(c.agent.instance == "probe-eu1");
  CHECK(c.agent.shard_index == 2);
  CHECK(c.agent.shard_count == 3);

  REQUIRE(c.dns.servers.size() == 3);
  CHECK(c.dns.servers[0].to_string() == "127.0.0.53:5353");
  CHECK(c.dns.servers[1].to_string() == "[::1]:53");
  CHECK(c.dns.servers[2].to_string() == "10.0.0.1:53");
  CHECK(c.dns.timeout == 2s);

  CHECK(c.smtp.helo == "canary.example.test");
  CHECK(c.smtp.from == "canary@example.test");
  CHECK(c.smtp.port == 2525);
  CHECK(c.smtp.tls == TlsMode::starttls);
  CHECK_FALSE(c.smtp.tls_verify);
  CHECK(c.smtp.ca_file == d + "ca.pem");
  CHECK(c.smtp.user.empty());
  CHECK(c.smtp.password.empty());
  CHECK(c.smtp.timeout == 20s);
  CHECK(c.smtp.attempts == 2);
  CHECK(c.smtp.retry_backoff == 500ms);

  REQUIRE(c.mailboxes.size() == 2);
  const MailboxConfig& imap = c.mailboxes[0];
  CHECK(imap.name == "inbox");
  CHECK(imap.protocol == MailboxProtocol::imap);
  CHECK(imap.server.to_string() == "127.0.0.1:993");  // default port of implicit TLS IMAP
  CHECK(imap.tls == TlsMode::implicit);
  CHECK(imap.ca_file.empty());
  CHECK(imap.tls_verify);
  CHECK(imap.user == "canary");
  CHECK(imap.password_file == d + "imap.pass");
  CHECK(imap.password == "imap secret ");  // only the line end is removed
  CHECK(imap.folder == "INBOX");
  CHECK(imap.idle);
  CHECK(imap.poll_interval == 5s);
  CHECK(imap.junk_folders == std::vector<std::string>{"Junk", "Spam"});
  CHECK_FALSE(imap.delete_found);
  const MailboxConfig& pop = c.mailboxes[1];
  CHECK(pop.protocol == MailboxProtocol::pop3);
  CHECK(pop.server.to_string() == "[::1]:1110");
  CHECK(pop.password_file == d + "imap.pass");
  CHECK(pop.poll_interval == 2s);
  CHECK(pop.delete_found);

  CHECK(c.slg.latency_slo == 30s);
  CHECK(c.slg.lost_after == 5min);
  CHECK(c.slg.outage_window == 0s);
  CHECK(c.slg.recover_after == 4);
  CHECK(c.slg.health_fail_after == 3);
  CHECK_FALSE(c.slg.late_is_failure);

  REQUIRE(c.maintenance.size() == 2);
  const auto expected_start = std::chrono::sys_days{2026y / 12 / 1} + 2h;
  CHECK(c.maintenance[0].targets == std::vector<std::string>{"vip1"});
  CHECK(c.maintenance[0].start == expected_start);
  CHECK(c.maintenance[0].end == expected_start + 2h);
  CHECK_FALSE(c.maintenance[0].weekly_weekday.has_value());
  CHECK(c.maintenance[0].time_zone == "UTC");
  CHECK(c.maintenance[1].targets == std::vector<std::string>{"*"});
  CHECK_FALSE(c.maintenance[1].start.has_value());
  CHECK(c.maintenance[1].weekly_weekday == 6);
  CHECK(c.maintenance[1].weekly_minute == 23 * 60 + 30);
  CHECK(c.maintenance[1].duration == 2h);
  CHECK(c.maintenance[1].time_zone == "Europe/Berlin");
  CHECK(c.maintenance[1].where.line == 56);

  CHECK(c.alertmanager.urls ==
        std::vector<std::string>{"http://127.0.0.1:9093", "https://am2.example.test:9093"});

  REQUIRE(c.targets.size() == 2);
  const TargetConfig& mx = c.targets[0];
  CHECK(mx.is_mx_mode());
  CHECK(mx.domain == "example.test");
  CHECK(mx.where.line == 65);
  CHECK_FALSE(mx.interval.has_value());
  CHECK(mx.smtp.port == 2525);  // [smtp] defaults
  CHECK(mx.smtp.tls == TlsMode::starttls);
  CHECK(mx.smtp.from == "canary@example.test");
  CHECK(mx.slg.latency_slo == 30s);

  const TargetConfig& vip = c.targets[1];
  CHECK_FALSE(vip.is_mx_mode());
  REQUIRE(vip.vip.has_value());
  CHECK(vip.vip->to_string() == "127.0.0.10:2600");  // the target's own port
  CHECK(vip.members == std::vector<std::string>{"127.0.0.11:25", "127.0.0.12", "[::1]:2526"});
  REQUIRE(vip.member_endpoints.size() == 3);
  CHECK(vip.member_endpoints[0].to_string() == "127.0.0.11:25");
  CHECK(vip.member_endpoints[1].to_string() == "127.0.0.12:2600");
  CHECK(vip.member_endpoints[2].to_string() == "[::1]:2526");
  CHECK(vip.host == "mx.example.test");
  CHECK(vip.mailbox == "pop");
  CHECK(vip.interval == 10s);
  CHECK(vip.smtp.port == 2600);
  CHECK(vip.smtp.tls == TlsMode::opportunistic);
  CHECK(vip.smtp.user == "submit");
  CHECK(vip.smtp.password_file == d + "smtp.pass");
  CHECK(vip.smtp.password == "smtp-secret");
  CHECK(vip.smtp.helo == "canary.example.test");  // not overridden: from [smtp]
  CHECK(vip.smtp.ca_file == d + "ca.pem");
  CHECK(vip.smtp.attempts == 2);
  CHECK(vip.slg.latency_slo == 1min);
  CHECK(vip.slg.lost_after == 5min);  // from [slg]
  CHECK(vip.slg.recover_after == 4);
  CHECK(vip.slg.late_is_failure);

  CHECK(c.find_mailbox("pop") == &c.mailboxes[1]);
  CHECK(c.find_mailbox("nope") == nullptr);
  CHECK(c.find_target("vip1") == &c.targets[1]);
  CHECK(c.find_target("nope") == nullptr);
}

TEST_CASE("a minimal config gets every documented default", "[config]") {
  TempDir dir;
  dir.write("hmac.key", "k");
  dir.write("pass", "p");
  const LoadResult result = load_config_string(R"toml(
[agent]
hmac_key_file = "hmac.key"
[[mailbox]]
name = "m"
server = "mail.example.test"
user = "u"
password_file = "pass"
[[target]]
name = "t"
domain = "example.test"
rcpt = "canary@example.test"
mailbox = "m"
from = "canary@example.test"
)toml",
                                               dir.str() + "/c.toml");
  REQUIRE(messages(result) == std::vector<std::string>{});
  const Config& c = *result.config;
  CHECK(c.agent.listen.to_string() == "127.0.0.1:9478");
  CHECK(c.agent.state_dir == "/var/lib/mailcanary");
  CHECK(c.agent.interval == 60s);
  CHECK(c.agent.concurrency == 32);
  CHECK(c.agent.instance.empty());
  CHECK(c.agent.shard_index == 1);
  CHECK(c.agent.shard_count == 1);
  CHECK(c.dns.servers.empty());
  CHECK(c.dns.timeout == 5s);
  CHECK(c.smtp.helo == "localhost");
  CHECK(c.smtp.from.empty());  // set only in the target
  CHECK(c.targets[0].smtp.from == "canary@example.test");
  CHECK(c.smtp.port == 25);
  CHECK(c.smtp.tls == TlsMode::none);
  CHECK(c.smtp.tls_verify);
  CHECK(c.smtp.timeout == 30s);
  CHECK(c.smtp.attempts == 3);
  CHECK(c.smtp.retry_backoff == 2s);
  CHECK(c.mailboxes[0].server.to_string() == "mail.example.test:143");
  CHECK(c.mailboxes[0].delete_found);
  CHECK(c.slg.latency_slo == 60s);
  CHECK(c.slg.lost_after == 10min);
  CHECK(c.slg.outage_window == 15min);
  CHECK(c.slg.recover_after == 2);
  CHECK(c.slg.health_fail_after == 2);
  CHECK_FALSE(c.slg.late_is_failure);
  CHECK(c.maintenance.empty());
  CHECK(c.alertmanager.urls.empty());
  CHECK(c.targets[0].slg.lost_after == 10min);
}

TEST_CASE("the example config in config/examples loads without errors", "[config]") {
  const std::string path = MAILCANARY_SOURCE_DIR "/config/examples/mailcanary.toml";
  const LoadResult result = load_config_file(path);
  REQUIRE(messages(result) == std::vector<std::string>{});
  const Config& c = *result.config;
  CHECK_FALSE(c.agent.hmac_key.empty());
  CHECK(c.targets.size() == 3);
  CHECK(c.find_target("vip1")->member_endpoints.size() == 3);
  CHECK(c.find_target("submission")->smtp.password == c.mailboxes[0].password);
  CHECK(c.maintenance.size() == 2);
}

TEST_CASE("durations accept ms, s, m, h, d and combinations, larger units first", "[config]") {
  const auto [text, millis] = GENERATE(table<std::string, long long>({
      {"500ms", 500},
      {"30s", 30'000},
      {"10m", 600'000},
      {"2h", 7'200'000},
      {"1d", 86'400'000},
      {"1h30m", 5'400'000},
      {"1d2h3m4s5ms", 93'784'005},
      {"0s", 0},
      {"90s", 90'000},
      {"", -1},
      {"30", -1},
      {"s", -1},
      {"30 seconds", -1},
      {"30sec", -1},
      {"30S", -1},
      {" 30s", -1},
      {"-5s", -1},
      {"+5s", -1},
      {"1.5s", -1},
      {"30m1h", -1},
      {"1m1m", -1},
      {"1w", -1},
      {"9999999999999d", -1},
  }));
  CAPTURE(text);
  const auto parsed = parse_duration(text);
  if (millis < 0) {
    CHECK_FALSE(parsed.has_value());
  } else {
    REQUIRE(parsed.has_value());
    CHECK(parsed->count() == millis);
  }
}

TEST_CASE("format_duration writes what parse_duration reads", "[config]") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(26h) == "1d2h");
  CHECK(parse_duration(format_duration(93'784'005ms)) == 93'784'005ms);
}

TEST_CASE("endpoints parse IPv4, bracketed IPv6 and names, with a default port", "[config]") {
  // Expected: host:port as Endpoint::to_string writes it, or "" for invalid.
  const auto [text, default_port, expected] = GENERATE(table<std::string, int, std::string>({
      {"127.0.0.1:2525", 25, "127.0.0.1:2525"},
      {"127.0.0.1", 25, "127.0.0.1:25"},
      {"[::1]:2525", 25, "[::1]:2525"},
      {"[::1]", 53, "[::1]:53"},
      {"[2001:db8::1]:25", 0, "[2001:db8::1]:25"},
      {"::1", 53, "[::1]:53"},
      {"mx.example.test:587", 25, "mx.example.test:587"},
      {"mx.example.test.", 25, "mx.example.test.:25"},
      {"localhost", 25, "localhost:25"},
      {"127.0.0.1", 0, ""},  // no port and no default
      {"127.0.0.1:0", 25, ""},
      {"127.0.0.1:65536", 25, ""},
      {"127.0.0.1:99999999", 25, ""},
      {"127.0.0.1:", 25, ""},
      {"127.0.0.1:x", 25, ""},
      {"127.0.0.1:-1", 25, ""},
      {"127.0.0.999:25", 25, ""},
      {"1.2.3", 25, ""},
      {"::1:25", 0, ""},
      {"[::1", 25, ""},
      {"[::1]25", 25, ""},
      {"[127.0.0.1]:25", 25, ""},
      {"[nothost]:25", 25, ""},
      {"", 25, ""},
      {":25", 25, ""},
      {"host name:25", 25, ""},
      {"-bad.example:25", 25, ""},
      {"a..b:25", 25, ""},
      {"a:b:c", 25, ""},
  }));
  CAPTURE(text, default_port);
  const auto endpoint = parse_endpoint(text, default_port);
  if (expected.empty()) {
    CHECK_FALSE(endpoint.has_value());
  } else {
    REQUIRE(endpoint.has_value());
    CHECK(endpoint->to_string() == expected);
  }
}

TEST_CASE("errors print as FILE:LINE:COL: message", "[config]") {
  CHECK(ConfigError{{"a.toml", 3, 7}, "boom"}.to_string() == "a.toml:3:7: boom");
  CHECK(ConfigError{{"a.toml", 0, 0}, "boom"}.to_string() == "a.toml: boom");
}

TEST_CASE("a config file that cannot be read is one error naming the file", "[config]") {
  TempDir dir;
  const std::string path = dir.str() + "/missing.toml";
  CHECK(
      messages(load_config_file(path)) ==
      std::vector<std::string>{path + ": cannot read \"" + path + "\": No such file or directory"});
}

// Sections every bad config gets unless it writes its own; they come after the case's
// text, so line numbers in the expected errors are those of the case's text.
std::string complete(const std::string& text) {
  const auto mentions = [&](const std::string& name) {
    // "[name]" also matches "[[name]]"; "name = ..." counts only as the first line.
    return text.find("[" + name + "]") != std::string::npos || text.rfind(name + " =", 0) == 0;
  };
  std::string out = text + "\n";
  if (!mentions("agent")) {
    out += "[agent]\nhmac_key_file = \"hmac.key\"\n";
  }
  if (!mentions("smtp")) {
    out += "[smtp]\nfrom = \"canary@example.test\"\n";
  }
  if (!mentions("mailbox")) {
    out +=
        "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1:1143\"\nuser = \"canary\"\n"
        "password_file = \"canary.pass\"\n";
  }
  if (!mentions("target")) {
    out +=
        "[[target]]\nname = \"t1\"\ndomain = \"example.test\"\nrcpt = \"canary@example.test\"\n"
        "mailbox = \"inbox\"\n";
  }
  return out;
}

struct BadConfig {
  std::string rule;
  std::string toml;
  std::vector<std::string> errors;  // {file} and {dir} stand for the temp paths
};

// One rule per entry. A target is written "[[target]]" + kTarget... where needed.
const std::string kT1 =
    "name = \"t1\"\ndomain = \"example.test\"\nrcpt = \"canary@example.test\"\n"
    "mailbox = \"inbox\"\n";

const std::vector<BadConfig>& bad_configs() {
  static const std::vector<BadConfig> cases = {
      {"syntax error",
       "[smtp]\nport = \n",
       {"{file}:2:8: syntax error: Error while parsing key-value pair: expected value, saw '\\n'"}},
      {"unknown key with suggestion",
       "[smtp]\ntsl = \"none\"\nfrom = \"canary@example.test\"\n",
       {"{file}:2:1: unknown key 'tsl' in [smtp] (did you mean 'tls'?)"}},
      {"unknown key without suggestion",
       "[smtp]\nfrom = \"canary@example.test\"\nflavour = \"vanilla\"\n",
       {"{file}:3:1: unknown key 'flavour' in [smtp]"}},
      {"unknown key in a target",
       "[[target]]\n" + kT1 + "color = \"red\"\n",
       {"{file}:6:1: unknown key 'color' in target[0]"}},
      {"unknown key in target.slg",
       "[[target]]\n" + kT1 + "[target.slg]\nlatency = \"5s\"\n",
       {"{file}:7:1: unknown key 'latency' in target[0].slg"}},
      {"unknown section",
       "[smpt]\nfrom = \"x@y.z\"\n",
       {"{file}:1:2: unknown section 'smpt' (did you mean 'smtp'?)"}},
      {"unknown top-level key",
       "interval = \"5s\"\n",
       {"{file}:1:1: unknown top-level key 'interval'"}},
      {"wrong type: integer",
       "[smtp]\nfrom = \"canary@example.test\"\nport = \"25\"\n",
       {"{file}:3:8: smtp.port: expected an integer, got a string"}},
      {"wrong type: boolean",
       "[smtp]\nfrom = \"canary@example.test\"\ntls_verify = \"yes\"\n",
       {"{file}:3:14: smtp.tls_verify: expected a boolean (true or false), got a string"}},
      {"wrong type: array",
       "[dns]\nservers = \"127.0.0.1\"\n",
       {"{file}:2:11: dns.servers: expected an array of strings, got a string"}},
      {"wrong type: array element",
       "[alertmanager]\nurls = [\"http://a.test\", 9093]\n",
       {"{file}:2:26: alertmanager.urls[1]: expected a string, got an integer"}},
      {"wrong type: section",
       "[[target]]\n" + kT1 + "slg = 5\n",
       {"{file}:6:7: target[0].slg: expected a table, got an integer"}},
      {"wrong type: single table instead of [[target]]",
       "[target]\n" + kT1,
       {"{file}:1:1: target: expected an array of tables like [[target]], got a table"}},
      {"bad duration",
       "[smtp]\nfrom = \"canary@example.test\"\ntimeout = \"30 seconds\"\n",
       {"{file}:3:11: smtp.timeout: expected a duration like \"30s\", got \"30 seconds\""}},
      {"duration of the wrong type",
       "[dns]\ntimeout = 30\n",
       {"{file}:2:11: dns.timeout: expected a duration like \"30s\", got an integer"}},
      {"zero interval",
       "[agent]\nhmac_key_file = \"hmac.key\"\ninterval = \"0s\"\n",
       {"{file}:3:12: agent.interval: must be longer than 0s, got \"0s\""}},
      {"zero poll_interval",
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1\"\nuser = \"u\"\n"
       "password_file = \"canary.pass\"\npoll_interval = \"0ms\"\n",
       {"{file}:6:17: mailbox[0].poll_interval: must be longer than 0s, got \"0ms\""}},
      {"port out of range",
       "[smtp]\nfrom = \"canary@example.test\"\nport = 70000\n",
       {"{file}:3:8: smtp.port: must be between 1 and 65535, got 70000"}},
      {"attempts out of range",
       "[smtp]\nfrom = \"canary@example.test\"\nattempts = 11\n",
       {"{file}:3:12: smtp.attempts: must be between 1 and 10, got 11"}},
      {"concurrency out of range",
       "[agent]\nhmac_key_file = \"hmac.key\"\nconcurrency = 0\n",
       {"{file}:3:15: agent.concurrency: must be between 1 and 10000, got 0"}},
      {"recover_after below 1",
       "[slg]\nrecover_after = 0\n",
       {"{file}:2:17: slg.recover_after: must be at least 1, got 0"}},
      {"health_fail_after below 1",
       "[[target]]\n" + kT1 + "[target.slg]\nhealth_fail_after = -1\n",
       {"{file}:7:21: target[0].slg.health_fail_after: must be at least 1, got -1"}},
      {"lost_after shorter than latency_slo",
       "[slg]\nlatency_slo = \"5m\"\nlost_after = \"1m\"\n",
       {"{file}:3:14: slg.lost_after: must not be shorter than latency_slo (5m)"}},
      {"bad tls mode",
       "[smtp]\nfrom = \"canary@example.test\"\ntls = \"ssl\"\n",
       {"{file}:3:7: smtp.tls: expected \"none\", \"starttls\", \"implicit\" or "
        "\"opportunistic\", got \"ssl\""}},
      {"mailbox tls cannot be opportunistic",
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1\"\nuser = \"u\"\n"
       "password_file = \"canary.pass\"\ntls = \"opportunistic\"\n",
       {"{file}:6:7: mailbox[0].tls: expected \"none\", \"starttls\" or \"implicit\", got "
        "\"opportunistic\""}},
      {"bad mailbox protocol",
       "[[mailbox]]\nname = \"inbox\"\nprotocol = \"pop\"\nserver = \"127.0.0.1\"\n"
       "user = \"u\"\npassword_file = \"canary.pass\"\n",
       {"{file}:3:12: mailbox[0].protocol: expected \"imap\" or \"pop3\", got \"pop\""}},
      {"imap-only key on a pop3 mailbox",
       "[[mailbox]]\nname = \"inbox\"\nprotocol = \"pop3\"\nserver = \"127.0.0.1\"\n"
       "user = \"u\"\npassword_file = \"canary.pass\"\nfolder = \"INBOX\"\n",
       {"{file}:7:10: mailbox[0].folder: only valid with protocol = \"imap\""}},
      {"missing hmac_key_file",
       "[agent]\nlisten = \"127.0.0.1:9478\"\n",
       {"{file}:1:1: agent: missing required key 'hmac_key_file'"}},
      {"missing rcpt",
       "[[target]]\nname = \"t1\"\ndomain = \"example.test\"\nmailbox = \"inbox\"\n",
       {"{file}:1:1: target[0]: missing required key 'rcpt'"}},
      {"missing mailbox user and password_file",
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1\"\n",
       {"{file}:1:1: mailbox[0]: missing required key 'user'",
        "{file}:1:1: mailbox[0]: missing required key 'password_file'"}},
      {"missing from",
       "[smtp]\nhelo = \"probe.example.test\"\n[[target]]\n" + kT1,
       {"{file}:3:1: target[0]: missing required key 'from' (set it in the target or in "
        "[smtp])"}},
      {"smtp user without password_file",
       "[smtp]\nfrom = \"canary@example.test\"\nuser = \"submit\"\n",
       {"{file}:1:1: smtp: missing required key 'password_file' (user is set)"}},
      {"duplicate target name",
       "[[target]]\n" + kT1 + "[[target]]\n" + kT1,
       {"{file}:7:8: target[1].name: duplicate target name \"t1\" (first defined at line 2)"}},
      {"duplicate mailbox name",
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1\"\nuser = \"u\"\n"
       "password_file = \"canary.pass\"\n"
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.2\"\nuser = \"u\"\n"
       "password_file = \"canary.pass\"\n",
       {"{file}:7:8: mailbox[1].name: duplicate mailbox name \"inbox\" (first defined at line "
        "2)"}},
      {"bad target name",
       "[[target]]\nname = \"my target\"\ndomain = \"example.test\"\n"
       "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n",
       {"{file}:2:8: target[0].name: \"my target\" may contain only letters, digits, '_', '.' "
        "and '-'"}},
      {"empty target name",
       "[[target]]\nname = \"\"\ndomain = \"example.test\"\n"
       "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n",
       {"{file}:2:8: target[0].name: must not be empty"}},
      {"unknown mailbox reference",
       "[[target]]\nname = \"t1\"\ndomain = \"example.test\"\nrcpt = \"canary@example.test\"\n"
       "mailbox = \"inbx\"\n",
       {"{file}:5:11: target[0].mailbox: no [[mailbox]] named \"inbx\" (did you mean "
        "'inbox'?)"}},
      {"both domain and members",
       "[[target]]\n" + kT1 + "members = [\"127.0.0.1\"]\n",
       {"{file}:1:1: target[0]: set either domain (MX mode) or vip/members (VIP mode), not "
        "both"}},
      {"neither domain nor members",
       "[[target]]\nname = \"t1\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n",
       {"{file}:1:1: target[0]: set domain (MX mode) or members (VIP mode)"}},
      {"vip without members",
       "[[target]]\nname = \"t1\"\nvip = \"127.0.0.10\"\nrcpt = \"canary@example.test\"\n"
       "mailbox = \"inbox\"\n",
       {"{file}:1:1: target[0]: missing required key 'members' (vip is set)"}},
      {"empty members",
       "[[target]]\nname = \"t1\"\nmembers = []\nrcpt = \"canary@example.test\"\n"
       "mailbox = \"inbox\"\n",
       {"{file}:3:11: target[0].members: must not be empty"}},
      {"bad member address",
       "[[target]]\nname = \"t1\"\nmembers = [\"127.0.0.1:2525\", \"127.0.0.999:2525\"]\n"
       "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n",
       {"{file}:3:30: target[0].members[1]: \"127.0.0.999:2525\" is not a valid host:port"}},
      {"duplicate member",
       "[smtp]\nfrom = \"canary@example.test\"\nport = 2525\n"
       "[[target]]\nname = \"t1\"\nmembers = [\"127.0.0.1:2525\", \"127.0.0.1\"]\n"
       "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n",
       {"{file}:6:30: target[0].members[1]: duplicate member \"127.0.0.1\""}},
      {"bad rcpt",
       "[[target]]\nname = \"t1\"\ndomain = \"example.test\"\nrcpt = \"canary\"\n"
       "mailbox = \"inbox\"\n",
       {"{file}:4:8: target[0].rcpt: \"canary\" is not a mail address like "
        "\"canary@example.test\""}},
      {"listen without port",
       "[agent]\nhmac_key_file = \"hmac.key\"\nlisten = \"127.0.0.1\"\n",
       {"{file}:3:10: agent.listen: \"127.0.0.1\" is not a valid host:port (the port is "
        "required)"}},
      {"dns server given by name",
       "[dns]\nservers = [\"ns.example.test\"]\n",
       {"{file}:2:12: dns.servers[0]: \"ns.example.test\" must be an IP address, not a name"}},
      {"bad alertmanager url",
       "[alertmanager]\nurls = [\"127.0.0.1:9093\"]\n",
       {"{file}:2:9: alertmanager.urls[0]: expected an http:// or https:// URL, got "
        "\"127.0.0.1:9093\""}},
      {"bad shard: index above count",
       "[agent]\nhmac_key_file = \"hmac.key\"\nshard = \"4/3\"\n",
       {"{file}:3:9: agent.shard: expected \"i/n\" with 1 <= i <= n, got \"4/3\""}},
      {"bad shard: zero",
       "[agent]\nhmac_key_file = \"hmac.key\"\nshard = \"0/3\"\n",
       {"{file}:3:9: agent.shard: expected \"i/n\" with 1 <= i <= n, got \"0/3\""}},
      {"maintenance start after end",
       "[[maintenance]]\ntargets = [\"t1\"]\nstart = \"2026-12-01T04:00:00Z\"\n"
       "end = \"2026-12-01T02:00:00Z\"\n",
       {"{file}:4:7: maintenance[0].end: must be later than start"}},
      {"maintenance start not RFC 3339",
       "[[maintenance]]\ntargets = [\"t1\"]\nstart = \"2026-12-01 02:00\"\n"
       "end = \"2026-12-01T04:00:00Z\"\n",
       {"{file}:3:9: maintenance[0].start: expected an RFC 3339 time like "
        "\"2026-12-01T02:00:00Z\", got \"2026-12-01 02:00\""}},
      {"maintenance start without end",
       "[[maintenance]]\ntargets = [\"t1\"]\nstart = \"2026-12-01T04:00:00Z\"\n",
       {"{file}:1:1: maintenance[0]: missing required key 'end'"}},
      {"maintenance both absolute and weekly",
       "[[maintenance]]\ntargets = [\"t1\"]\nstart = \"2026-12-01T02:00:00Z\"\n"
       "end = \"2026-12-01T04:00:00Z\"\nweekly = \"Sun 02:00\"\nduration = \"2h\"\n",
       {"{file}:1:1: maintenance[0]: set either start/end or weekly/duration, not both"}},
      {"maintenance without a window",
       "[[maintenance]]\ntargets = [\"*\"]\n",
       {"{file}:1:1: maintenance[0]: set start and end, or weekly and duration"}},
      {"maintenance bad weekly and zero duration",
       "[[maintenance]]\ntargets = [\"*\"]\nweekly = \"Sunday 2am\"\nduration = \"0s\"\n",
       {"{file}:3:10: maintenance[0].weekly: expected a day and time like \"Sun 02:00\", got "
        "\"Sunday 2am\"",
        "{file}:4:12: maintenance[0].duration: must be longer than 0s, got \"0s\""}},
      {"maintenance unknown time zone",
       "[[maintenance]]\ntargets = [\"*\"]\nweekly = \"Sun 02:00\"\nduration = \"2h\"\n"
       "time_zone = \"Mars/Olympus_Mons\"\n",
       {"{file}:5:13: maintenance[0].time_zone: unknown time zone \"Mars/Olympus_Mons\" "
        "(expected \"UTC\" or a name under /usr/share/zoneinfo)"}},
      {"maintenance unknown target",
       "[[maintenance]]\ntargets = [\"*\", \"t2\"]\nweekly = \"Sun 02:00\"\nduration = \"2h\"\n",
       {"{file}:2:17: maintenance[0].targets[1]: no [[target]] named \"t2\" (did you mean "
        "'t1'?)"}},
      {"missing hmac key file",
       "[agent]\nhmac_key_file = \"missing.key\"\n",
       {"{file}:2:17: agent.hmac_key_file: cannot read \"{dir}/missing.key\": No such file or "
        "directory"}},
      {"empty hmac key file",
       "[agent]\nhmac_key_file = \"empty.key\"\n",
       {"{file}:2:17: agent.hmac_key_file: \"{dir}/empty.key\" is empty"}},
      {"missing mailbox password file",
       "[[mailbox]]\nname = \"inbox\"\nserver = \"127.0.0.1\"\nuser = \"u\"\n"
       "password_file = \"/nonexistent/pass\"\n",
       {"{file}:5:17: mailbox[0].password_file: cannot read \"/nonexistent/pass\": No such "
        "file or directory"}},
      {"multiple errors reported together",
       "[smtp]\nfrom = \"canary@example.test\"\ntsl = \"none\"\nport = 0\ntimeout = \"soon\"\n"
       "[[target]]\nname = \"t1\"\nmembers = [\"bad host:25\"]\nrcpt = \"canary@example.test\"\n"
       "mailbox = \"nope\"\n",
       {"{file}:3:1: unknown key 'tsl' in [smtp] (did you mean 'tls'?)",
        "{file}:4:8: smtp.port: must be between 1 and 65535, got 0",
        "{file}:5:11: smtp.timeout: expected a duration like \"30s\", got \"soon\"",
        "{file}:8:12: target[0].members[0]: \"bad host:25\" is not a valid host:port",
        "{file}:10:11: target[0].mailbox: no [[mailbox]] named \"nope\""}},
  };
  return cases;
}

TEST_CASE("each bad config is rejected with its exact FILE:LINE:COL message", "[config]") {
  const BadConfig& bad = GENERATE(from_range(bad_configs()));
  TempDir dir;
  dir.write("hmac.key", "00112233445566778899aabbccddeeff\n");
  dir.write("empty.key", " \n");
  dir.write("canary.pass", "canary-test-password\n");
  const std::string file = dir.str() + "/bad.toml";

  std::vector<std::string> expected;
  for (const auto& error : bad.errors) {
    expected.push_back(replace_all(replace_all(error, "{file}", file), "{dir}", dir.str()));
  }
  INFO("rule: " << bad.rule);
  const LoadResult result = load_config_string(complete(bad.toml), file);
  CHECK_FALSE(result.ok());
  CHECK_FALSE(result.config.has_value());
  CHECK(messages(result) == expected);
}

TEST_CASE("a config without [agent] reports the missing hmac_key_file at the file start",
          "[config]") {
  const std::string text =
      "[smtp]\nfrom = \"canary@example.test\"\n[[mailbox]]\nname = \"m\"\n"
      "server = \"127.0.0.1\"\nuser = \"u\"\npassword_file = \"/dev/null\"\n[[target]]\n"
      "name = \"t\"\ndomain = \"example.test\"\nrcpt = \"canary@example.test\"\n"
      "mailbox = \"m\"\n";
  CHECK(messages(load_config_string(text, "x.toml")) ==
        std::vector<std::string>{"x.toml:1:1: agent: missing required key 'hmac_key_file'",
                                 "x.toml:7:17: mailbox[0].password_file: \"/dev/null\" is empty"});
}

TEST_CASE("errors never contain the content of secret files", "[config]") {
  TempDir dir;
  const std::string secret = "correct-horse-battery-staple";
  dir.write("hmac.key", secret);
  dir.write("canary.pass", secret + "\n");
  dir.write("big.pass", std::string(100 * 1024, 'x') + secret);
  // The secrets are read, and every key around them is wrong.
  const std::string path = dir.write("bad.toml", complete(R"toml([smtp]
from = "canary@example.test"
user = "u"
password_file = "big.pass"
port = "x"
[[mailbox]]
name = "inbox"
server = "127.0.0.1:99999"
user = "u"
password_file = "canary.pass"
idle = "yes"
)toml"));
  const LoadResult result = load_config_file(path);
  REQUIRE(result.errors.size() == 4);
  CHECK(result.errors[0].message == "smtp.password_file: \"" + dir.str() +
                                        "/big.pass\" is too large for a secret (over 64 KiB)");
  for (const auto& message : messages(result)) {
    CAPTURE(message);
    CHECK(message.find(secret) == std::string::npos);
  }
}

}  // namespace

namespace {

// A bcrypt hash of "s3cret" for user prom (htpasswd -B), test data only.
const std::string kPromHash = "$2y$05$1Pai7Kfofi5xOnZvZxIPGO.RsfdjlVC9cyJ5iMIrU8gfaQJVjghru";
const std::string kOpsHash =  // SHA-512 crypt
    "$6$saltsalt$"
    "iMcIqLoedupZaSQuX1UeZKEsmdWaJB1eGcmVRg7IVrjZlLC8MTMRAGvhItfsXG2kJrFQbPVlp9CtrbenYpTE7/";

TEST_CASE("[web] reads TLS files, basic auth users and the health before any result",
          "[config][web]") {
  TempDir dir;
  dir.write("hmac.key", "00112233445566778899aabbccddeeff\n");
  dir.write("canary.pass", "canary-test-password\n");
  dir.write("web.crt", "certificate\n");
  dir.write("web.key", "key\n");
  dir.write("web.users", "# monitoring\n\nprom:" + kPromHash + "\r\nops:" + kOpsHash + "\n");
  const std::string text = complete(
      "[web]\ntls_cert_file = \"web.crt\"\ntls_key_file = \"web.key\"\n"
      "basic_auth_users_file = \"web.users\"\nunknown_health = \"down\"\n");
  const LoadResult result = load_config_string(text, dir.str() + "/ok.toml");
  INFO(messages(result).size());
  REQUIRE(result.ok());
  const WebConfig& web = result.config->web;
  CHECK(web.tls());
  CHECK(web.tls_cert_file == dir.str() + "/web.crt");
  CHECK(web.tls_key_file == dir.str() + "/web.key");
  REQUIRE(web.basic_auth_users.size() == 2);
  CHECK(web.basic_auth_users[0].name == "prom");
  CHECK(web.basic_auth_users[0].hash == kPromHash);
  CHECK(web.basic_auth_users[1].name == "ops");
  CHECK_FALSE(web.unknown_health_up);

  const LoadResult defaults = load_config_string(complete(""), dir.str() + "/d.toml");
  REQUIRE(defaults.ok());
  CHECK_FALSE(defaults.config->web.tls());
  CHECK(defaults.config->web.basic_auth_users.empty());
  CHECK(defaults.config->web.unknown_health_up);
}

TEST_CASE("bad [web] settings name the key, the file and the line, never the hash",
          "[config][web]") {
  TempDir dir;
  dir.write("hmac.key", "00112233445566778899aabbccddeeff\n");
  dir.write("canary.pass", "canary-test-password\n");
  dir.write("web.crt", "certificate\n");
  dir.write("apr1.users",
            "ok:" + kPromHash + "\nold:$apr1$xyz$secrethash\nnocolon\nok:" + kPromHash + "\n");
  dir.write("empty.users", "# nobody\n");
  const std::string file = dir.str() + "/bad.toml";
  const auto errors = [&](const std::string& web) {
    return messages(load_config_string(complete("[web]\n" + web), file));
  };
  CHECK(errors("tls_cert_file = \"web.crt\"\n") ==
        std::vector<std::string>{file +
                                 ":2:17: web.tls_cert_file: tls_cert_file and tls_key_file go "
                                 "together"});
  CHECK(errors("tls_cert_file = \"web.crt\"\ntls_key_file = \"none.key\"\n") ==
        std::vector<std::string>{file + ":3:16: web.tls_key_file: cannot read \"" + dir.str() +
                                 "/none.key\": No such file or directory"});
  const auto users = errors("basic_auth_users_file = \"apr1.users\"\n");
  const std::string where =
      file + ":2:25: web.basic_auth_users_file: \"" + dir.str() + "/apr1.users\" line ";
  CHECK(users ==
        std::vector<std::string>{
            where +
                "2: the hash of user \"old\" is not bcrypt ($2y$, from htpasswd -B) or SHA-crypt "
                "($5$, $6$)",
            where + "3: expected \"user:hash\" (as written by htpasswd -B)",
            where + "4: user \"ok\" appears twice"});
  for (const auto& message : users) {
    CHECK(message.find("secrethash") == std::string::npos);
  }
  CHECK(errors("basic_auth_users_file = \"empty.users\"\n") ==
        std::vector<std::string>{file + ":2:25: web.basic_auth_users_file: \"" + dir.str() +
                                 "/empty.users\" has no user"});
  CHECK(errors("unknown_health = \"maybe\"\n").size() == 1);
  CHECK(errors("tls = true\n") ==
        std::vector<std::string>{file + ":2:1: unknown key 'tls' in [web]"});
}

TEST_CASE(
    "a users file hash must be whole: a prefix alone, a short hash or an absurd cost is "
    "refused",
    "[config][web]") {
  const std::string path = "/etc/mailcanary/web.users";
  const auto problem = [&](const std::string& hash) {
    std::vector<std::string> errors;
    const auto users = parse_web_users("u:" + hash + "\n", path, errors);
    CHECK(users.has_value() == errors.empty());
    return errors.empty() ? std::string() : errors.front();
  };
  const std::string where = "\"" + path + "\" line 1: the hash of user \"u\" ";
  CHECK(problem(kPromHash).empty());
  CHECK(problem(kOpsHash).empty());
  // htpasswd -5 / mkpasswd -m sha-256 -R 5000.
  CHECK(problem("$5$rounds=5000$fuzzsalt$p1wlfQJCUIYWqzdbUe8HXK9WK6w4V3MUZx18cnQc6F0").empty());
  // $2b$ and $2a$ are bcrypt too.
  CHECK(problem("$2b$" + kPromHash.substr(4)).empty());

  const std::string not_bcrypt =
      where + "is not a whole bcrypt hash (\"$2y$\", a two-digit cost, \"$\" and 53 characters)";
  CHECK(problem("$2y$") == not_bcrypt);
  CHECK(problem(kPromHash.substr(0, 59)) == not_bcrypt);
  CHECK(problem(kPromHash + "x") == not_bcrypt);
  CHECK(problem("$2y$5x" + kPromHash.substr(6)) == not_bcrypt);
  CHECK(problem("$2y$05$" + std::string(52, 'a') + "!") == not_bcrypt);
  CHECK(problem("$2y$31" + kPromHash.substr(6)) ==
        where + "has bcrypt cost 31: htpasswd makes 04 to 17");
  CHECK(problem("$2y$03" + kPromHash.substr(6)) ==
        where + "has bcrypt cost 03: htpasswd makes 04 to 17");

  const std::string not_sha512 =
      where + "is not a whole SHA-crypt hash (\"$6$\", a salt, \"$\" and 86 characters)";
  CHECK(problem("$6$") == not_sha512);
  CHECK(problem("$6$saltsalt$") == not_sha512);
  CHECK(problem("$6$saltsalt$notarealhash") == not_sha512);
  CHECK(problem(kOpsHash.substr(0, kOpsHash.size() - 1)) == not_sha512);
  CHECK(problem("$6$" + std::string(17, 's') + kOpsHash.substr(11)) == not_sha512);
  CHECK(problem("$6$rounds=x$saltsalt" + kOpsHash.substr(11)) == not_sha512);
  CHECK(problem("$6$rounds=999999999$saltsalt" + kOpsHash.substr(11)) ==
        where + "has 999999999 SHA-crypt rounds: at most 1,000,000");
  CHECK(problem("$5$salt$" + std::string(86, 'a')) ==
        where + "is not a whole SHA-crypt hash (\"$5$\", a salt, \"$\" and 43 characters)");
  // Nothing else about the hash is repeated in the message.
  CHECK(problem("$6$saltsalt$notarealhash").find("notarealhash") == std::string::npos);
}

}  // namespace

namespace {

TEST_CASE("[agent] histograms is member (default) or target", "[config]") {
  TempDir dir;
  dir.write("hmac.key", "00112233445566778899aabbccddeeff\n");
  dir.write("canary.pass", "canary-test-password\n");
  const std::string file = dir.str() + "/h.toml";
  const auto load = [&](const std::string& value) {
    return load_config_string(complete("[agent]\nhmac_key_file = \"hmac.key\"\n" + value), file);
  };
  auto by_default = load("");
  REQUIRE(by_default.ok());
  CHECK(by_default.config->agent.per_member_histograms);
  auto per_target = load("histograms = \"target\"\n");
  REQUIRE(per_target.ok());
  CHECK_FALSE(per_target.config->agent.per_member_histograms);
  auto bad = load("histograms = \"members\"\n");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].to_string().rfind(file + ":3:14: agent.histograms:", 0) == 0);
}

}  // namespace
