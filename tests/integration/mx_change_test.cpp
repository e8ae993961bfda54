// MX membership follows DNS: the agent probes every MX host of a domain, and when the
// domain's MX set changes it adds the new host and retires the old one (series
// removed) without a restart. Uses its own unbound (controlled through unbound-control
// on a unix socket) so the shared test-bed DNS stays as it is.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>

#include "support.hpp"

namespace {

constexpr const char* kDnsAddress = "127.0.0.54";
constexpr int kDnsPort = 5354;

class OwnUnbound {
 public:
  OwnUnbound() {
    dir_ = itest::write_temp_file("mxchange.dir", "") + ".d";
    std::filesystem::create_directories(dir_);
    conf_ = dir_ + "/unbound.conf";
    // TTL 0: the agent's DNS cache never hides a change.
    const std::string conf =
        std::string("server:\n  interface: ") + kDnsAddress + "@" + std::to_string(kDnsPort) +
        "\n  port: " + std::to_string(kDnsPort) +
        "\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  so-reuseport: no\n"
        "  num-threads: 1\n  username: \"\"\n  chroot: \"\"\n  directory: \"" +
        dir_ + "\"\n  pidfile: \"\"\n  logfile: \"" + dir_ +
        "/unbound.log\"\n  use-syslog: no\n  module-config: \"iterator\"\n"
        "  local-zone: \".\" refuse\n  local-zone: \"mxchange.test.\" static\n"
        "  local-data: \"mxchange.test. 0 IN MX 10 a.mxchange.test.\"\n"
        "  local-data: \"a.mxchange.test. 0 IN A 127.0.0.11\"\n"
        "  local-data: \"b.mxchange.test. 0 IN A 127.0.0.11\"\n"
        "remote-control:\n  control-enable: yes\n  control-interface: \"" +
        dir_ + "/control.sock\"\n  control-use-cert: no\n";
    std::filesystem::copy_file(itest::write_temp_file("mxchange.conf", conf), conf_,
                               std::filesystem::copy_options::overwrite_existing);
    pid_ = fork();
    if (pid_ == 0) {
      execl("/usr/sbin/unbound", "unbound", "-d", "-c", conf_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {  // ready when the control socket answers (bounded)
      if (control({"status"}).exit_code == 0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("unbound did not start: " << itest::read_file(dir_ + "/unbound.log"));
  }
  ~OwnUnbound() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
  }
  OwnUnbound(const OwnUnbound&) = delete;
  OwnUnbound& operator=(const OwnUnbound&) = delete;

  itest::CommandResult control(std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/sbin/unbound-control", "-c", conf_};
    argv.insert(argv.end(), args.begin(), args.end());
    return itest::run_command(argv, std::chrono::seconds(10));
  }

 private:
  std::string dir_;
  std::string conf_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("a changed MX set adds the new host and retires the old one without a restart",
          "[integration][agent][dns][mxchange]") {
  OwnUnbound dns;
  const std::string cfg =
      itest::agent_config_head("mxchange") + "[dns]\nservers = [\"" + kDnsAddress + ":" +
      std::to_string(kDnsPort) + "\"]\ntimeout = \"3s\"\n\n" +
      "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\n\n" +
      "[[target]]\nname = \"mx\"\ndomain = \"mxchange.test\"\nrcpt = \"canary@example.test\"\n" +
      "mailbox = \"inbox\"\n";
  itest::AgentProcess agent(itest::write_temp_file("mxchange.toml", cfg));
  REQUIRE(agent.wait_for_log("member mx a.mxchange.test:2525 added", std::chrono::seconds(20)));
  REQUIRE(agent.wait_for_log("mx a.mxchange.test:2525 ok", std::chrono::seconds(20)));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  const std::string metrics_url = "http://" + address + "/metrics";
  auto before = itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", metrics_url});
  CHECK(before.out.find("member=\"a.mxchange.test:2525\"") != std::string::npos);

  // The domain moves to mx host b.
  REQUIRE(dns.control({"local_data_remove", "mxchange.test."}).exit_code == 0);
  REQUIRE(dns.control({"local_data", "mxchange.test. 0 IN MX 10 b.mxchange.test."}).exit_code == 0);
  kill(agent.pid(), SIGHUP);  // rediscovers at once (otherwise within 30 s)
  REQUIRE(agent.wait_for_log("member mx b.mxchange.test:2525 added", std::chrono::seconds(40)));
  REQUIRE(agent.wait_for_log("member mx a.mxchange.test:2525 retired", std::chrono::seconds(10)));
  REQUIRE(agent.wait_for_log("mx b.mxchange.test:2525 ok", std::chrono::seconds(20)));

  auto after = itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", metrics_url});
  CHECK(after.out.find("member=\"b.mxchange.test:2525\"") != std::string::npos);
  CHECK(after.out.find("member=\"a.mxchange.test:2525\"") == std::string::npos);
  CHECK(agent.stop() == 0);
}

TEST_CASE("a lasting DNS failure is recorded once per interval, not per discovery",
          "[integration][agent][dns][mxchange]") {
  const std::string cfg =
      itest::agent_config_head("nxdomain") +
      "[dns]\nservers = [\"127.0.0.53:5353\"]\ntimeout = \"3s\"\n\n" +
      "[slg]\nhealth_fail_after = 3\n\n" +
      "[[target]]\nname = \"gone\"\ndomain = \"nx.test\"\nrcpt = \"canary@example.test\"\n" +
      "mailbox = \"inbox\"\n";
  itest::AgentProcess agent(itest::write_temp_file("nxdomain.toml", cfg));
  // Discovery runs every 30 s; with a 1 s interval the failure still counts each second,
  // so three failures (health DOWN after health_fail_after = 3) come within seconds.
  REQUIRE(agent.wait_for_log("gone nx.test dns_perm_fail", std::chrono::seconds(20)));
  REQUIRE(agent.wait_for_log("health DOWN", std::chrono::seconds(15)));
  const std::string log = agent.log();
  std::size_t count = 0;
  for (auto pos = log.find("gone nx.test dns_perm_fail"); pos != std::string::npos;
       pos = log.find("gone nx.test dns_perm_fail", pos + 1)) {
    ++count;
  }
  CHECK(count >= 3);
  CHECK(agent.stop() == 0);
}
