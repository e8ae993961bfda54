// A 40 s mailbox outage, with the real Dovecot stopped and started again while Postfix
// keeps delivering: the canaries sent meanwhile stay in flight (not mailbox_error), are
// found once the mailbox is back, are reported with their real delivery time (ok, not
// late: the INTERNALDATE, not the 40 s the agent could not look), and none is left in
// the Maildir.
#include <catch2/catch.hpp>
#include <regex>

#include "support.hpp"

namespace {

// The sum of every series of `name` whose labels contain `labels` (e.g. class="ok");
// -1 when there is none.
double metric(const std::string& metrics, const std::string& name, const std::string& labels) {
  double sum = -1;
  const std::regex line("^" + name + "(\\{([^}]*)\\})? ([0-9.e+-]+)$");
  std::size_t start = 0;
  while (start < metrics.size()) {
    std::size_t end = metrics.find('\n', start);
    if (end == std::string::npos) {
      end = metrics.size();
    }
    const std::string l = metrics.substr(start, end - start);
    std::smatch m;
    if (std::regex_match(l, m, line) && m[2].str().find(labels) != std::string::npos) {
      sum = (sum < 0 ? 0 : sum) + std::stod(m[3].str());
    }
    start = end + 1;
  }
  return sum;
}

std::string scrape(const std::string& url) {
  return itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", url}).out;
}

itest::CommandResult testbed(const std::string& command) {
  return itest::run_command({"/usr/bin/env", "MAILCANARY_TESTBED_DIR=" + itest::testbed_dir(),
                             itest::source_dir() + "/tests/testbed/testbed.sh", command},
                            std::chrono::seconds(30));
}

// Stops Dovecot; starts it again when asked or, whatever happened, when it goes.
class DovecotOutage {
 public:
  DovecotOutage() {
    auto r = testbed("dovecot-stop");
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  ~DovecotOutage() {
    if (!ended_) {
      testbed("dovecot-start");
    }
  }
  DovecotOutage(const DovecotOutage&) = delete;
  DovecotOutage& operator=(const DovecotOutage&) = delete;
  void end() {
    auto r = testbed("dovecot-start");
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    ended_ = true;
  }

 private:
  bool ended_ = false;
};

// Canaries in the canary user's Maildir sent before `before` (the time in their id).
int canaries_sent_before(std::chrono::system_clock::time_point before) {
  int n = 0;
  const std::regex id("X-Mailcanary-Id: mc1-([0-9a-f]+)-");
  for (const auto& path : itest::maildir_files_containing("canary", "X-Mailcanary-Id: mc1-")) {
    const std::string text = itest::read_file(path);
    std::smatch m;
    if (std::regex_search(text, m, id)) {
      const auto sent = std::chrono::system_clock::time_point(
          std::chrono::seconds(std::stoll(m[1].str(), nullptr, 16)));
      n += sent < before ? 1 : 0;
    }
  }
  return n;
}

// The last `n` lines of `text`.
std::string tail(const std::string& text, std::size_t n) {
  std::size_t pos = text.size();
  for (std::size_t i = 0; i <= n && pos != std::string::npos && pos > 0; ++i) {
    pos = text.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? text : text.substr(pos + 1);
}

// The lines of `text` that contain `needle`.
std::string grep(const std::string& text, const std::string& needle) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end;
    const std::string line = text.substr(start, end - start);
    if (line.find(needle) != std::string::npos) {
      out += line + "\n";
    }
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("a 40 s mailbox outage loses no canary and reports each with its real delivery time",
          "[integration][agent][mailbox][outage]") {
  using namespace std::chrono;
  const std::string cfg =
      itest::agent_config_head("outage") +
      "[slg]\nlatency_slo = \"3s\"\nlost_after = \"120s\"\n\n" +
      "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n" +
      "members = [\"127.0.0.11:2525\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("outage.toml", cfg));
  REQUIRE(agent.wait_for_log("t 127.0.0.11:2525 ok", seconds(20)));
  const std::string url = "http://" + agent.http_address() + "/metrics";
  const double ok_before = metric(scrape(url), "mailcanary_probes_total", "class=\"ok\"");
  REQUIRE(ok_before >= 1);

  double in_flight_max = 0;
  bool seen_down = false;
  {
    DovecotOutage outage;
    const auto until = steady_clock::now() + seconds(40);
    for (int i = 0; i < 100 && steady_clock::now() < until; ++i) {
      std::this_thread::sleep_for(milliseconds(500));  // the outage's length, not a sync
      const std::string m = scrape(url);
      in_flight_max = std::max(in_flight_max, metric(m, "mailcanary_canaries_in_flight", ""));
      seen_down = seen_down || metric(m, "mailcanary_mailbox_up", "mailbox=\"inbox\"") == 0;
      // Not decided while the mailbox cannot be read: lost_after has not passed.
      CHECK(metric(m, "mailcanary_probes_total", "class=\"mailbox_error\"") <= 0);
    }
    outage.end();
  }
  const auto back = system_clock::now();
  CHECK(seen_down);
  // One probe a second: some 40 canaries waited for the mailbox.
  CHECK(in_flight_max >= 30);

  // Every canary sent before the mailbox came back is found, bounded by lost_after.
  std::string m;
  for (int i = 0; i < 600 && canaries_sent_before(back) > 0; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  const int left = canaries_sent_before(back);
  if (left > 0) {
    // To tell a slow find from a failed removal: what the agent and Dovecot said.
    WARN("agent log:\n"
         << tail(agent.log(), 40) << "\ndovecot log:\n"
         << tail(itest::read_file(itest::testbed_dir() + "/dovecot/dovecot.log"), 40)
         << "\nmetrics:\n"
         << grep(scrape(url), "mailcanary_mailbox_"));
  }
  CHECK(left == 0);
  // Decided (in flight now: only the newest, a second or so old).
  for (int i = 0; i < 100; ++i) {
    m = scrape(url);
    if (metric(m, "mailcanary_canaries_in_flight", "") <= 3) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(metric(m, "mailcanary_canaries_in_flight", "") <= 3);
  CHECK(metric(m, "mailcanary_mailbox_up", "mailbox=\"inbox\"") == 1);
  // Found with the time they really took (Postfix delivered each within a second), not
  // the time the agent could not look: ok, none late, lost or mailbox_error.
  CHECK(metric(m, "mailcanary_probes_total", "class=\"ok\"") - ok_before >= in_flight_max);
  CHECK(metric(m, "mailcanary_probes_total", "class=\"late\"") <= 0);
  CHECK(metric(m, "mailcanary_probes_total", "class=\"lost\"") <= 0);
  CHECK(metric(m, "mailcanary_probes_total", "class=\"mailbox_error\"") <= 0);
  CHECK(metric(m, "mailcanary_mailbox_commands_total", "mailbox=\"inbox\"") > 0);
  CHECK(agent.stop() == 0);
}
