// `mailcanary run` against the real test bed: SLG outage windows with a member that
// fails and recovers (through a switchable relay in front of Postfix), persistence of
// canaries in flight across kill -9, and SIGHUP with a broken config.
#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support.hpp"

namespace {

std::string agent_config(const std::string& name, const std::string& member,
                         const std::string& imap_server, const std::string& slg) {
  std::string head = itest::agent_config_head(name);
  const std::string imap = "server = \"127.0.0.1:1143\"";
  head.replace(head.find(imap), imap.size(), "server = \"" + imap_server + "\"");
  return head + "[slg]\n" + slg + "\n[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\n" +
         "mailbox = \"inbox\"\nmembers = [\"" + member + "\"]\n";
}

// A member that accepts the connection and never sends a banner: each probe takes the
// whole 3 s stage timeout, so with a 1 s interval one is always running.
std::string busy_member_config(const std::string& name, const std::string& member) {
  std::string text =
      agent_config(name, member, "127.0.0.1:1143", "latency_slo = \"3s\"\nlost_after = \"4s\"\n");
  const std::string timeout_line = "timeout = \"2s\"";
  text.replace(text.find(timeout_line), timeout_line.size(), "timeout = \"3s\"");
  return text;
}

itest::SmtpScript silent_script() {
  itest::SmtpScript silent;
  silent.banner = "";
  return silent;
}

}  // namespace

// The outage window, the blip that raises nothing and the hysteresis are decided by the
// core (tests/unit/core_test.cpp, fake time); this is the same path end to end.
TEST_CASE("an outage longer than the window raises the alarm and recovery clears it",
          "[integration][agent]") {
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  auto path =
      itest::write_temp_file("slg.toml", agent_config("slg", relay.address(), "127.0.0.1:1143",
                                                      "latency_slo = \"3s\"\nlost_after = \"4s\"\n"
                                                      "outage_window = \"2s\"\nrecover_after = 2\n"
                                                      "health_fail_after = 2\n"));
  itest::AgentProcess agent(path);
  REQUIRE(agent.wait_for_log(" ok stage=done", std::chrono::seconds(20)));
  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  REQUIRE(agent.wait_for_log("temp_fail stage=rcpt", std::chrono::seconds(10)));
  REQUIRE(agent.wait_for_log("ALARM RAISED", std::chrono::seconds(20)));
  relay.set_mode(itest::SwitchableRelay::Mode::forward);
  REQUIRE(agent.wait_for_log("alarm cleared", std::chrono::seconds(20)));
  CHECK(agent.stop() == 0);
}

TEST_CASE("canaries in flight survive kill -9: after a restart they are found, not lost",
          "[integration][agent]") {
  // The agent reads its mailbox through a relay we can hold shut, so canaries stay in
  // flight for as long as we like.
  itest::SwitchableRelay imap("127.0.0.1", 1143);
  imap.set_mode(itest::SwitchableRelay::Mode::hold);
  auto path = itest::write_temp_file("crash.toml",
                                     agent_config("crash", "127.0.0.11:2525", imap.address(),
                                                  "latency_slo = \"60s\"\nlost_after = \"90s\"\n"));
  std::string state_dir;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("state_dir = \"", 0) == 0) {
        state_dir = line.substr(13, line.size() - 14);
      }
    }
  }
  {
    itest::AgentProcess first(path);
    // Wait until canaries were accepted by Postfix (they are then in flight, and the
    // agent persisted them before waiting).
    bool accepted = false;
    for (int i = 0; i < 200 && !accepted; ++i) {
      auto r = itest::run_command(
          {"/usr/bin/sqlite3", state_dir + "/mailcanary.db", "SELECT count(*) FROM in_flight;"});
      accepted = r.exit_code == 0 && !r.out.empty() && r.out[0] != '0';
      if (!accepted) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    REQUIRE(accepted);
    first.kill9();
    CHECK(first.log().find(" lost ") == std::string::npos);
  }
  imap.set_mode(itest::SwitchableRelay::Mode::forward);
  itest::AgentProcess second(path);
  REQUIRE(second.wait_for_log("restored", std::chrono::seconds(20)));
  REQUIRE(second.wait_for_log(" ok stage=done", std::chrono::seconds(20)));
  CHECK(second.log().find(" lost ") == std::string::npos);
  CHECK(second.stop() == 0);
}

TEST_CASE("SIGHUP with a broken config keeps the agent running on the old one",
          "[integration][agent]") {
  auto path = itest::write_temp_file("hup.toml",
                                     agent_config("hup", "127.0.0.11:2525", "127.0.0.1:1143",
                                                  "latency_slo = \"3s\"\nlost_after = \"4s\"\n"));
  itest::AgentProcess agent(path);
  REQUIRE(agent.wait_for_log(" ok stage=done", std::chrono::seconds(20)));
  std::string good = itest::read_file(path);
  std::ofstream(path) << good << "\nbogus_key = 1\n";
  kill(agent.pid(), SIGHUP);
  REQUIRE(agent.wait_for_log("config reload refused", std::chrono::seconds(10)));
  CHECK(agent.log().find("unknown") != std::string::npos);
  // Still probing afterwards.
  auto before = agent.log().size();
  bool more = false;
  for (int i = 0; i < 200 && !more; ++i) {
    more = agent.log().find(" ok stage=done", before) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(more);
  CHECK(agent.stop() == 0);
}

TEST_CASE("a corrupt state database is refused, and moved aside with --fresh-state",
          "[integration][agent]") {
  auto path = itest::write_temp_file("corrupt.toml",
                                     agent_config("corrupt", "127.0.0.11:2525", "127.0.0.1:1143",
                                                  "latency_slo = \"3s\"\nlost_after = \"4s\"\n"));
  std::string state_dir;
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("state_dir = \"", 0) == 0) {
        state_dir = line.substr(13, line.size() - 14);
      }
    }
  }
  std::filesystem::create_directories(state_dir);
  const std::string garbage = "this is not an SQLite database, it is a test of refusal\n";
  std::ofstream(state_dir + "/mailcanary.db") << garbage;

  auto refused = itest::mailcanary({"run", "--config", path});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find(state_dir + "/mailcanary.db") != std::string::npos);
  CHECK(refused.err.find("--fresh-state") != std::string::npos);
  CHECK(itest::read_file(state_dir + "/mailcanary.db") == garbage);  // never discarded

  itest::AgentProcess fresh(path, {"--fresh-state"});
  REQUIRE(fresh.wait_for_log("moved aside", std::chrono::seconds(20)));
  REQUIRE(fresh.wait_for_log(" ok stage=done", std::chrono::seconds(20)));
  bool kept = false;
  for (const auto& e : std::filesystem::directory_iterator(state_dir)) {
    if (e.path().filename().string().rfind("mailcanary.db.corrupt-", 0) == 0) {
      kept = itest::read_file(e.path()) == garbage;
    }
  }
  CHECK(kept);
  CHECK(fresh.stop() == 0);
}

TEST_CASE("a member removed from the config by SIGHUP is retired without a restart",
          "[integration][agent]") {
  auto path = itest::write_temp_file(
      "retire.toml", agent_config("retire", "127.0.0.11:2525\", \"127.0.0.12:2525",
                                  "127.0.0.1:1143", "latency_slo = \"3s\"\nlost_after = \"4s\"\n"));
  itest::AgentProcess agent(path);
  REQUIRE(agent.wait_for_log("127.0.0.12:2525 temp_fail", std::chrono::seconds(20)));
  std::string text = itest::read_file(path);
  auto pos = text.find(", \"127.0.0.12:2525\"");
  REQUIRE(pos != std::string::npos);
  text.erase(pos, std::string(", \"127.0.0.12:2525\"").size());
  std::ofstream(path) << text;
  kill(agent.pid(), SIGHUP);
  REQUIRE(agent.wait_for_log("member t 127.0.0.12:2525 retired", std::chrono::seconds(20)));
  // After retirement, no more results for it; the other member goes on.
  auto after = agent.log().size();
  REQUIRE(agent.wait_for_log(" ok stage=done", std::chrono::seconds(20)));
  bool more_ok = false;
  for (int i = 0; i < 100 && !more_ok; ++i) {
    more_ok = agent.log().find("127.0.0.11:2525 ok", after) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(more_ok);
  CHECK(agent.log().find("127.0.0.12:2525 temp_fail", after) == std::string::npos);
  CHECK(agent.stop() == 0);
}

TEST_CASE("a probe still running at its next slot makes the agent skip and count that slot",
          "[integration][agent][skip]") {
  itest::ScriptedPeer peer(silent_script());
  itest::AgentProcess agent(
      itest::write_temp_file("skip.toml", busy_member_config("skip", peer.address())));
  REQUIRE(agent.wait_for_log("skipped: the previous one still runs", std::chrono::seconds(20)));
  REQUIRE(agent.wait_for_log(" timeout stage=banner", std::chrono::seconds(20)));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  auto metrics = itest::run_command(
      {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + "/metrics"});
  std::smatch skipped;
  REQUIRE(std::regex_search(
      metrics.out, skipped,
      std::regex(
          "mailcanary_probes_skipped_total\\{member=\"127\\.0\\.0\\.1:\\d+\",target=\"t\"\\} "
          "(\\d+)")));
  CHECK(std::stoi(skipped[1].str()) >= 1);
  auto status = itest::run_command(
      {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + "/status"});
  auto doc = nlohmann::json::parse(status.out);
  REQUIRE(doc["members"].size() == 1);
  CHECK(doc["members"][0]["skipped"].get<int>() >= 1);
  CHECK(agent.stop() == 0);
}

TEST_CASE("a mailbox password changed and reloaded by SIGHUP restarts its reader",
          "[integration][agent][reload]") {
  const std::string secrets = itest::source_dir() + "/tests/testbed/secrets/";
  const std::string pass = itest::write_temp_file("rotated.pass", "not-the-password\n");
  std::string text = agent_config("rotate", "127.0.0.11:2525", "127.0.0.1:1143",
                                  "latency_slo = \"3s\"\nlost_after = \"4s\"\n");
  const std::string original = secrets + "canary.pass";
  auto pos = text.find(original);
  REQUIRE(pos != std::string::npos);
  text.replace(pos, original.size(), pass);
  itest::AgentProcess agent(itest::write_temp_file("rotate.toml", text));
  REQUIRE(agent.wait_for_log("mailbox_error", std::chrono::seconds(30)));
  CHECK(agent.log().find("t 127.0.0.11:2525 ok") == std::string::npos);

  // The operator fixes the password file and reloads: no restart needed.
  std::ofstream(pass) << itest::read_file(original);
  kill(agent.pid(), SIGHUP);
  REQUIRE(agent.wait_for_log("mailbox inbox: config changed, reader restarted",
                             std::chrono::seconds(20)));
  REQUIRE(agent.wait_for_log("t 127.0.0.11:2525 ok", std::chrono::seconds(30)));
  CHECK(agent.log().find("not-the-password") == std::string::npos);
  CHECK(agent.stop() == 0);
}

TEST_CASE("canaries found lost after the member recovered do not pull it down again",
          "[integration][agent][stale]") {
  // A member that accepts and drops mail for a while: each canary sent then is
  // decided lost only lost_after later, by which time newer probes already succeed.
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  relay.set_mode(itest::SwitchableRelay::Mode::discard);
  auto path = itest::write_temp_file("stale.toml",
                                     agent_config("stale", relay.address(), "127.0.0.1:1143",
                                                  "latency_slo = \"2s\"\nlost_after = \"3s\"\n"
                                                  "health_fail_after = 1\nrecover_after = 1\n"));
  itest::AgentProcess agent(path);
  REQUIRE(agent.wait_for_log("health DOWN", std::chrono::seconds(20)));
  // Let a few more discarded canaries get in flight, then repair the member.
  REQUIRE(agent.wait_for_log(" lost stage=mailbox", std::chrono::seconds(20)));
  relay.set_mode(itest::SwitchableRelay::Mode::forward);
  REQUIRE(agent.wait_for_log("health UP", std::chrono::seconds(20)));
  const auto up_at = agent.log().rfind("health UP");
  REQUIRE(agent.wait_for_log("not counted for alarm and health", std::chrono::seconds(20)));
  // Every canary of the bad phase has been decided once lost_after has passed since the
  // repair: wait for two more good results after the last stale one.
  bool settled = false;
  for (int i = 0; i < 200 && !settled; ++i) {
    const std::string log = agent.log();
    const auto last_stale = log.rfind("not counted for alarm and health");
    const auto ok1 = log.find(" ok stage=done", last_stale);
    settled = ok1 != std::string::npos && log.find(" ok stage=done", ok1 + 1) != std::string::npos;
    if (!settled) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(settled);
  const std::string log = agent.log();
  INFO(log.substr(up_at));
  CHECK(log.find("health DOWN", up_at) == std::string::npos);
  CHECK(agent.stop() == 0);
}

TEST_CASE("results that arrive for a member already retired are not shown under it",
          "[integration][agent][retired]") {
  // The discarding member always has canaries in flight (lost only after 3 s); it is
  // removed from the config while they are.
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  relay.set_mode(itest::SwitchableRelay::Mode::discard);
  auto path = itest::write_temp_file(
      "late-retire.toml",
      agent_config("late-retire", "127.0.0.11:2525\", \"" + relay.address(), "127.0.0.1:1143",
                   "latency_slo = \"2s\"\nlost_after = \"3s\"\n"));
  itest::AgentProcess agent(path);
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  REQUIRE(agent.wait_for_log(relay.address() + " lost", std::chrono::seconds(20)));
  std::string text = itest::read_file(path);
  const std::string entry = ", \"" + relay.address() + "\"";
  auto pos = text.find(entry);
  REQUIRE(pos != std::string::npos);
  text.erase(pos, entry.size());
  std::ofstream(path) << text;
  kill(agent.pid(), SIGHUP);
  REQUIRE(agent.wait_for_log("member t " + relay.address() + " retired", std::chrono::seconds(20)));
  REQUIRE(agent.wait_for_log("(member retired: not recorded)", std::chrono::seconds(20)));
  // Neither /status nor /metrics shows the retired member again.
  auto status = itest::run_command(
      {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + "/status"});
  auto doc = nlohmann::json::parse(status.out);
  REQUIRE(doc["members"].size() == 1);
  CHECK(doc["members"][0]["member"] == "127.0.0.11:2525");
  auto metrics = itest::run_command(
      {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + "/metrics"});
  CHECK(metrics.out.find(relay.address()) == std::string::npos);
  CHECK(agent.stop() == 0);
}

TEST_CASE("after kill -9 and a restart, the kept alarm is on the first scrape",
          "[integration][agent][restart]") {
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  auto path = itest::write_temp_file(
      "restart.toml", agent_config("restart", relay.address(), "127.0.0.1:1143",
                                   "latency_slo = \"3s\"\nlost_after = \"4s\"\n"
                                   "outage_window = \"1s\"\nhealth_fail_after = 1\n"));
  {
    itest::AgentProcess first(path);
    REQUIRE(first.wait_for_log("ALARM RAISED", std::chrono::seconds(20)));
    first.kill9();
  }
  // The member now holds every connection: no probe of the new run ends within the
  // 2 s SMTP timeout, so whatever the first scrape shows was restored.
  relay.set_mode(itest::SwitchableRelay::Mode::hold);
  itest::AgentProcess second(path);
  const std::string address = second.http_address();
  REQUIRE(!address.empty());
  const auto get = [&](const std::string& path) {
    return itest::run_command(
        {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + path});
  };
  const auto metrics = get("/metrics").out;
  const std::string labels = "{member=\"" + relay.address() + "\",target=\"t\"}";
  INFO(metrics);
  CHECK(metrics.find("mailcanary_alarm" + labels + " 1\n") != std::string::npos);
  CHECK(metrics.find("mailcanary_member_up" + labels + " 0\n") != std::string::npos);
  auto doc = nlohmann::json::parse(get("/status").out);
  REQUIRE(doc["members"].size() == 1);
  CHECK(doc["members"][0]["in_alarm"] == true);
  CHECK(doc["members"][0]["health"] == "DOWN");
  CHECK(get("/health/t/" + relay.address()).out.rfind("DOWN temp_fail", 0) == 0);
  CHECK(second.log().find(" stage=") == std::string::npos);  // no result of this run yet
  CHECK(second.stop() == 0);
}

TEST_CASE("after the stopping line nothing is recorded, logged or alerted",
          "[integration][agent][shutdown]") {
  // A probe is always running when the agent is told to stop.
  itest::ScriptedPeer peer(silent_script());
  itest::AgentProcess agent(
      itest::write_temp_file("shutdown.toml", busy_member_config("shutdown", peer.address())));
  REQUIRE(agent.wait_for_log(" timeout stage=banner", std::chrono::seconds(20)));
  // A slot skipped after that result: a probe is running now, with 1 to 2 s to go.
  REQUIRE(agent.wait_for_log("skipped: the previous one still runs", std::chrono::seconds(20)));
  CHECK(agent.stop() == 0);
  const std::string log = agent.log();
  const auto stopping = log.find("stopping: in-flight canaries stay in the state database");
  REQUIRE(stopping != std::string::npos);
  INFO(log.substr(stopping));
  CHECK(log.find('\n', stopping) == log.size() - 1);  // the last line
}

namespace {

// The agent's children running `mailcanary mailbox-reader`.
std::vector<int> reader_processes(int agent_pid) {
  std::vector<int> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    std::ifstream cmd(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (ppid == agent_pid && cmdline.find("mailbox-reader") != std::string::npos) {
      found.push_back(std::stoi(name));
    }
  }
  return found;
}

}  // namespace

TEST_CASE("a mailbox reader that dies takes nothing else down and is restarted",
          "[integration][agent][isolation]") {
  itest::AgentProcess agent(itest::write_temp_file(
      "crash.toml", agent_config("crash", "127.0.0.11:2525", "127.0.0.1:1143",
                                 "latency_slo = \"3s\"\nlost_after = \"4s\"\n")));
  REQUIRE(agent.wait_for_log("t 127.0.0.11:2525 ok", std::chrono::seconds(30)));
  // The reader works in a process of its own: a parser's fault (a stack overflow in
  // libetpan was one) kills that process only.
  const auto readers = reader_processes(agent.pid());
  REQUIRE(readers.size() == 1);
  // Killed by a signal, as a fault kills it. (Not SIGSEGV itself: the sanitizer builds
  // would report the very crash the test causes as a finding.)
  REQUIRE(kill(readers[0], SIGKILL) == 0);

  // The agent lives on, starts a new reader, counts the reconnect, and confirms again.
  REQUIRE(agent.wait_for_log("t 127.0.0.11:2525 ok", std::chrono::seconds(30)));
  CHECK(kill(agent.pid(), 0) == 0);
  const auto after = reader_processes(agent.pid());
  REQUIRE(after.size() == 1);
  CHECK(after[0] != readers[0]);
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  // The reader's counters reach the core in an event of their own, which may come after
  // the result's log line: read the metric until it shows the reconnect (bounded).
  int reconnects = -1;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (int i = 0; i < 150 && reconnects < 1 && std::chrono::steady_clock::now() < until; ++i) {
    auto metrics = itest::run_command(
        {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + "/metrics"});
    std::smatch m;
    if (std::regex_search(
            metrics.out, m,
            std::regex("mailcanary_mailbox_reconnects_total\\{mailbox=\"inbox\"\\} (\\d+)"))) {
      reconnects = std::stoi(m[1]);
    }
    if (reconnects < 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a scrape interval
    }
  }
  CHECK(reconnects >= 1);
  CHECK(agent.stop() == 0);
  CHECK(reader_processes(agent.pid()).empty());  // none left behind
}
