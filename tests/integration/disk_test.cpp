// `mailcanary run` with its state_dir on a small tmpfs that the test fills up: the agent
// keeps probing, alarming and serving, says so in /metrics and /status (and once in the
// log), and writes back what the store missed once space returns. And on an ext4 file
// system that turns read-only under it (errors=remount-ro after an error, as a failing
// disk does): the agent goes on, and what the database held survives. Needs root (mount,
// loop devices).

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <regex>

#include "mounts.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string replace_line(std::string text, const std::string& key, const std::string& line) {
  return std::regex_replace(text, std::regex("(^|\n)" + key + " = [^\n]*"), "$1" + line);
}

/// An agent config (written to a file; its path) with its state in `state_dir`, one
/// target "t" whose member is `member`, alarms and health after 1 s of failure, and an SMTP
/// timeout of 15 s: long enough that a held probe ends no result while a test looks.
std::string state_test_config(const std::string& name, const fs::path& state_dir,
                              const std::string& member) {
  std::string text = itest::agent_config_head(name);
  text = replace_line(text, "state_dir", "state_dir = \"" + state_dir.string() + "\"");
  text = replace_line(text, "timeout", "timeout = \"15s\"");
  text +=
      "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\noutage_window = \"1s\"\n"
      "health_fail_after = 1\n\n[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\n"
      "mailbox = \"inbox\"\nmembers = [\"" +
      member + "\"]\n";
  return itest::write_temp_file(name + ".toml", text);
}

std::string get(const std::string& address, const std::string& path) {
  return itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + path},
                            10s)
      .out;
}

/// Polls /metrics until it has `line` (a whole line); false after `timeout`.
bool metrics_show(const std::string& address, const std::string& line,
                  std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (("\n" + get(address, "/metrics")).find("\n" + line + "\n") != std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("with the state disk full the agent keeps probing and serving, then writes back",
          "[integration][agent][disk]") {
  itest::TmpfsMount disk("2m");
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  const auto path = state_test_config("disk", disk.dir() / "state", relay.address());
  const std::string db = (disk.dir() / "state" / "mailcanary.db").string();
  const std::string labels = "{member=\"" + relay.address() + "\",target=\"t\"}";

  std::string first_log;
  {
    itest::AgentProcess agent(path);
    const std::string address = agent.http_address();
    REQUIRE(!address.empty());
    REQUIRE(agent.wait_for_log(" ok stage=done", 20s));
    REQUIRE(metrics_show(address, "mailcanary_state_store_ok 1", 5s));

    disk.fill("fill");
    relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
    // Results keep coming and the alarm is raised while no write reaches the disk.
    REQUIRE(metrics_show(address, "mailcanary_alarm" + labels + " 1", 20s));
    REQUIRE(metrics_show(address, "mailcanary_state_store_ok 0", 5s));
    // From here no probe ends for 15 s: whatever reaches the disk before then is the
    // write-back of what the core holds, not a new result.
    relay.set_mode(itest::SwitchableRelay::Mode::hold);
    CHECK(get(address, "/healthz") == "ok\n");
    CHECK(get(address, "/health/t/" + relay.address()).rfind("DOWN temp_fail", 0) == 0);
    const auto metrics = get(address, "/metrics");
    std::smatch errors;
    REQUIRE(std::regex_search(metrics, errors,
                              std::regex("\nmailcanary_state_store_errors_total ([0-9]+)\n")));
    CHECK(std::stoi(errors[1]) >= 2);  // the alarm took two results, neither written
    const auto status = nlohmann::json::parse(get(address, "/status"));
    INFO(status.dump());
    CHECK(status["state_store"]["ok"] == false);
    CHECK(status["state_store"].contains("failing_since"));
    const std::string error = status["state_store"]["last_error"];
    CHECK(error.find("database or disk is full") != std::string::npos);
    CHECK(error.find(db) != std::string::npos);
    CHECK(status["members"][0]["in_alarm"] == true);
    // One line in the journal for all the failed writes, naming the file and the reason.
    CHECK(count(agent.log(), "state store failing: ") == 1);
    CHECK(agent.log().find("state store failing: write results: database or disk is full (" + db +
                           ")") != std::string::npos);

    fs::remove(disk.dir() / "fill");
    REQUIRE(metrics_show(address, "mailcanary_state_store_ok 1", 15s));
    first_log = agent.log();
    agent.kill9();  // no chance to write anything more on the way out
  }
  INFO(first_log);
  CHECK(count(first_log, "state store works again after ") == 1);
  CHECK(count(first_log, "state store failing: ") == 1);
  CHECK(first_log.find(" timeout stage=") == std::string::npos);  // no result after the hold

  // The alarm raised while the disk was full was written back: a new run shows it on
  // its first scrape (the member holds every probe, so nothing of this run is in it).
  itest::AgentProcess second(path);
  const std::string address = second.http_address();
  REQUIRE(!address.empty());
  const auto metrics = get(address, "/metrics");
  INFO(metrics);
  CHECK(metrics.find("mailcanary_alarm" + labels + " 1\n") != std::string::npos);
  CHECK(metrics.find("mailcanary_member_up" + labels + " 0\n") != std::string::npos);
  CHECK(metrics.find("\nmailcanary_state_store_ok 1\n") != std::string::npos);
  CHECK(second.log().find(" stage=") == std::string::npos);
  second.kill9();  // its probe is held for 15 s; a clean stop is not the subject here
}

TEST_CASE(
    "when the state file system turns read-only the agent goes on, and the database "
    "survives for the next start",
    "[integration][agent][disk]") {
  itest::Ext4Mount disk;
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  const auto path = state_test_config("readonly", disk.dir() / "state", relay.address());
  const std::string labels = "{member=\"" + relay.address() + "\",target=\"t\"}";

  {
    // An alarm raised and cleared while the disk works; the agent stops cleanly (SIGTERM),
    // so all of it is on the disk (see the store's durability: without a checkpoint, a
    // file system that fails keeps only what was synced).
    itest::AgentProcess agent(path);
    const std::string address = agent.http_address();
    REQUIRE(!address.empty());
    relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
    REQUIRE(metrics_show(address, "mailcanary_alarm" + labels + " 1", 20s));
    relay.set_mode(itest::SwitchableRelay::Mode::forward);
    REQUIRE(metrics_show(address, "mailcanary_alarm" + labels + " 0", 30s));
  }

  std::string first_log;
  {
    itest::AgentProcess agent(path);
    const std::string address = agent.http_address();
    REQUIRE(!address.empty());
    REQUIRE(metrics_show(address, "mailcanary_state_store_ok 1", 5s));

    disk.fail();
    relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
    // Probing and alarming go on from memory; the endpoints say the store fails.
    REQUIRE(metrics_show(address, "mailcanary_alarm" + labels + " 1", 20s));
    REQUIRE(metrics_show(address, "mailcanary_state_store_ok 0", 5s));
    relay.set_mode(itest::SwitchableRelay::Mode::hold);
    CHECK(get(address, "/healthz") == "ok\n");
    CHECK(get(address, "/health/t/" + relay.address()).rfind("DOWN temp_fail", 0) == 0);
    const auto status = nlohmann::json::parse(get(address, "/status"));
    INFO(status.dump());
    CHECK(status["state_store"]["ok"] == false);
    const std::string error = status["state_store"]["last_error"];
    // SQLite says "attempt to write a readonly database" or "disk I/O error" depending on
    // which write met the read-only file system first.
    CHECK((error.find("readonly") != std::string::npos ||
           error.find("disk I/O error") != std::string::npos));
    CHECK(status["members"][0]["in_alarm"] == true);
    CHECK(::kill(agent.pid(), 0) == 0);  // still running, not restarted
    first_log = agent.log();
    agent.kill9();
  }
  INFO(first_log);
  CHECK(count(first_log, "state store failing: ") == 1);

  // After the repair the database opens as it was before the file system failed: not
  // moved aside, with the member's state of the first run.
  disk.repair();
  CHECK(fs::exists(disk.dir() / "state" / "mailcanary.db"));
  relay.set_mode(itest::SwitchableRelay::Mode::hold);
  itest::AgentProcess second(path);
  const std::string address = second.http_address();
  REQUIRE(!address.empty());
  const auto metrics = get(address, "/metrics");
  INFO(second.log());
  CHECK(metrics.find("\nmailcanary_state_store_ok 1\n") != std::string::npos);
  CHECK(metrics.find("mailcanary_alarm" + labels + " 0\n") != std::string::npos);
  CHECK(second.log().find("moved aside") == std::string::npos);
  const auto status = nlohmann::json::parse(get(address, "/status"));
  INFO(status.dump());
  CHECK(status["members"][0].contains("last_success"));
  second.kill9();
}
