// A real Alertmanager (Debian's prometheus-alertmanager) receives MailFlowOutage for a
// member in outage and its resolve when it recovers; with Alertmanager down during the
// outage, the alert is kept and arrives once it is back.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "mounts.hpp"
#include "support.hpp"

namespace {

constexpr const char* kAmAddress = "127.0.0.1:19093";

class Alertmanager {
 public:
  Alertmanager() {
    dir_ = itest::write_temp_file("am.dir", "") + ".d";
    std::filesystem::create_directories(dir_);
    std::filesystem::copy_file(itest::write_temp_file("am.yml",
                                                      "route:\n  receiver: blackhole\nreceivers:\n"
                                                      "  - name: blackhole\n"),
                               dir_ + "/alertmanager.yml",
                               std::filesystem::copy_options::overwrite_existing);
    start();
  }
  ~Alertmanager() { stop(); }

  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/am.log";
      FILE* f = freopen(log.c_str(), "a", stderr);
      (void)f;
      execl("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager",
            ("--config.file=" + dir_ + "/alertmanager.yml").c_str(),
            ("--storage.path=" + dir_ + "/data").c_str(),
            (std::string("--web.listen-address=") + kAmAddress).c_str(),
            "--cluster.listen-address=", static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready when its API answers (bounded).
    for (int i = 0; i < 300; ++i) {
      if (api("/-/ready").exit_code == 0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("alertmanager did not become ready: " << itest::read_file(dir_ + "/am.log"));
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }

  static itest::CommandResult api(const std::string& path) {
    return itest::run_command(
        {"/usr/bin/curl", "-sf", "--max-time", "2", std::string("http://") + kAmAddress + path},
        std::chrono::seconds(5));
  }

  // Active MailFlowOutage alerts' JSON.
  static std::string alerts() {
    return api("/api/v2/alerts?filter=alertname%3D%22MailFlowOutage%22").out;
  }

  // Waits (bounded) until alerts() does (or does not) mention `needle`.
  static bool wait_alerts(const std::string& needle, bool present, std::chrono::seconds t) {
    UNSCOPED_INFO("alerts: " << alerts());
    auto deadline = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < deadline) {
      bool has = alerts().find(needle) != std::string::npos;
      if (has == present) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

// Firing alerts Alertmanager has received so far (its own counter, every POST's alerts).
int firing_received() {
  const std::string metrics = Alertmanager::api("/metrics").out;
  static const std::regex line(
      "\nalertmanager_alerts_received_total\\{[^}]*status=\"firing\"[^}]*\\} ([0-9]+)");
  int total = 0;
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), line), end; it != end; ++it) {
    total += std::stoi((*it)[1]);
  }
  return total;
}

// The agent's metric `name` (one sample, whatever its labels), or -1 when it has none.
double agent_metric(const std::string& address, const std::string& name) {
  const auto metrics = itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5",
                                           "http://" + address + "/metrics"},
                                          std::chrono::seconds(10))
                           .out;
  std::smatch m;
  if (!std::regex_search(metrics, m, std::regex("\n" + name + "(\\{[^}]*\\})? ([^\n]+)"))) {
    return -1;
  }
  return std::stod(m[2]);
}

// Polls until pred() (bounded by `t`).
template <typename Pred>
bool eventually(Pred pred, std::chrono::seconds t) {
  const auto deadline = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string config(const std::string& member, const std::string& name = "am",
                   const std::string& instance = "probe-test") {
  return itest::agent_config_head(name, "instance = \"" + instance + "\"\n") +
         "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\noutage_window = \"2s\"\n"
         "recover_after = 1\n\n"
         "[alertmanager]\nurls = [\"http://" +
         std::string(kAmAddress) +
         "\"]\n\n"
         "[[target]]\nname = \"am\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
         "members = [\"" +
         member + "\"]\n";
}

}  // namespace

TEST_CASE("Alertmanager gets MailFlowOutage, its resolve, and the alert it missed while down",
          "[integration][alertmanager]") {
  Alertmanager am;
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  itest::AgentProcess agent(itest::write_temp_file("am.toml", config(relay.address())));
  REQUIRE(agent.wait_for_log(" ok stage=done", std::chrono::seconds(20)));

  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  REQUIRE(agent.wait_for_log("ALARM RAISED", std::chrono::seconds(20)));
  REQUIRE(Alertmanager::wait_alerts(relay.address(), true, std::chrono::seconds(20)));
  auto alerts = Alertmanager::alerts();
  CHECK(alerts.find("\"target\":\"am\"") != std::string::npos);
  CHECK(alerts.find("\"class\":\"temp_fail\"") != std::string::npos);
  // The agent's name is an annotation, not a label (an HA pair's alerts are one).
  CHECK(alerts.find("\"agent\":\"probe-test\"") != std::string::npos);
  CHECK(alerts.find("\"instance\"") == std::string::npos);
  CHECK(alerts.find("\"severity\":\"critical\"") != std::string::npos);

  relay.set_mode(itest::SwitchableRelay::Mode::forward);
  REQUIRE(agent.wait_for_log("alarm cleared", std::chrono::seconds(20)));
  INFO("agent log: " << agent.log());
  REQUIRE(Alertmanager::wait_alerts(relay.address(), false, std::chrono::seconds(20)));

  // Alertmanager down while the next outage starts: the alert waits in the outbox.
  am.stop();
  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  REQUIRE(agent.wait_for_log("not sent, kept for retry", std::chrono::seconds(30)));
  am.start();
  REQUIRE(Alertmanager::wait_alerts(relay.address(), true, std::chrono::seconds(30)));
  CHECK(agent.stop() == 0);
}

TEST_CASE(
    "with the state disk full, an alert from the outbox is sent once, and marked sent "
    "when space returns",
    "[integration][alertmanager][disk]") {
  itest::TmpfsMount disk("2m");
  Alertmanager am;
  am.stop();  // the alert waits in the outbox, written while the disk has space
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  std::string text = config(relay.address());
  text = std::regex_replace(text, std::regex("\nstate_dir = [^\n]*"),
                            "\nstate_dir = \"" + (disk.dir() / "state").string() + "\"");
  itest::AgentProcess agent(itest::write_temp_file("am-disk.toml", text));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());

  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  if (!eventually(
          [&] {
            return agent_metric(address, "mailcanary_alertmanager_pending_notifications") >= 1;
          },
          std::chrono::seconds(30))) {
    FAIL("no notification waits in the outbox; agent log: " << agent.log());
  }
  // From here no probe ends (so no new notification): only the one in the outbox.
  relay.set_mode(itest::SwitchableRelay::Mode::hold);
  disk.fill("fill");
  am.start();
  REQUIRE(Alertmanager::wait_alerts(relay.address(), true, std::chrono::seconds(30)));
  const int received = firing_received();
  CHECK(received >= 1);

  // The sender could not delete it from the outbox; it remembers that it was sent. Each
  // pass (every 0.5 s) tries that delete again and counts one store error, as does each
  // held probe's result (one a second at most): five more errors are at least three
  // passes, and Alertmanager got nothing more.
  REQUIRE(eventually([&] { return agent_metric(address, "mailcanary_state_store_ok") == 0; },
                     std::chrono::seconds(10)));
  const double errors = agent_metric(address, "mailcanary_state_store_errors_total");
  REQUIRE(eventually(
      [&] { return agent_metric(address, "mailcanary_state_store_errors_total") >= errors + 5; },
      std::chrono::seconds(20)));
  CHECK(firing_received() == received);
  CHECK(agent_metric(address, "mailcanary_alertmanager_pending_notifications") == 0);

  // Paging does not wait for the disk: the alarm clears and raises again while no
  // notification can be queued; Alertmanager hears both at once (not only from the
  // re-send of firing alerts a minute apart, nor the resolve when the alert expires).
  relay.set_mode(itest::SwitchableRelay::Mode::forward);
  REQUIRE(Alertmanager::wait_alerts(relay.address(), false, std::chrono::seconds(20)));
  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  REQUIRE(Alertmanager::wait_alerts(relay.address(), true, std::chrono::seconds(20)));
  CHECK(agent_metric(address, "mailcanary_state_store_ok") == 0);
  relay.set_mode(itest::SwitchableRelay::Mode::hold);

  // Space returns: the delete is written, the outbox is empty, nothing delivered is
  // queued again.
  std::filesystem::remove(disk.dir() / "fill");
  REQUIRE(eventually([&] { return agent_metric(address, "mailcanary_state_store_ok") == 1; },
                     std::chrono::seconds(20)));
  CHECK(agent_metric(address, "mailcanary_alertmanager_pending_notifications") == 0);
  CHECK(Alertmanager::alerts().find(relay.address()) != std::string::npos);
  INFO("agent log: " << agent.log());
  CHECK(agent.log().find("state store works again") != std::string::npos);
  agent.kill9();  // its probe is held; a clean stop is not the subject here
}

TEST_CASE("two agents watching one failing member make one alert in Alertmanager",
          "[integration][alertmanager][ha]") {
  Alertmanager am;
  const int received_before = firing_received();
  itest::SwitchableRelay relay("127.0.0.11", 2525);
  itest::AgentProcess a(
      itest::write_temp_file("ha-a.toml", config(relay.address(), "ha-a", "probe-a")));
  itest::AgentProcess b(
      itest::write_temp_file("ha-b.toml", config(relay.address(), "ha-b", "probe-b")));
  REQUIRE(a.wait_for_log(" ok stage=done", std::chrono::seconds(20)));
  REQUIRE(b.wait_for_log(" ok stage=done", std::chrono::seconds(20)));

  relay.set_mode(itest::SwitchableRelay::Mode::tempfail);
  REQUIRE(a.wait_for_log("ALARM RAISED", std::chrono::seconds(20)));
  REQUIRE(b.wait_for_log("ALARM RAISED", std::chrono::seconds(20)));
  // Both pushed their alert...
  if (!eventually([&] { return firing_received() >= received_before + 2; },
                  std::chrono::seconds(20))) {
    FAIL("Alertmanager did not get both agents' alerts: " << firing_received() - received_before);
  }
  // ...and Alertmanager holds one.
  const auto alerts = nlohmann::json::parse(Alertmanager::alerts());
  INFO(alerts.dump(2));
  REQUIRE(alerts.size() == 1);
  const auto& alert = alerts[0];
  CHECK(alert["labels"] == nlohmann::json{{"alertname", "MailFlowOutage"},
                                          {"target", "am"},
                                          {"member", relay.address()},
                                          {"severity", "critical"}});
  const std::string agent = alert["annotations"]["agent"];
  CHECK((agent == "probe-a" || agent == "probe-b"));
  CHECK(alert["annotations"]["summary"] == "Mail flow outage: am member " + relay.address());
  // generatorURL leads to the member's status on the agent that sent it last.
  const std::string link = alert["generatorURL"];
  INFO(link);
  const auto page = itest::run_command({"/usr/bin/curl", "-sf", "--max-time", "5", link});
  REQUIRE(page.exit_code == 0);
  const auto status = nlohmann::json::parse(page.out);
  CHECK(status["member"] == relay.address());
  CHECK(status["in_alarm"] == true);
  CHECK(status["instance"] == agent);

  relay.set_mode(itest::SwitchableRelay::Mode::forward);
  REQUIRE(Alertmanager::wait_alerts(relay.address(), false, std::chrono::seconds(30)));
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}
