// Type=notify as systemd runs the agent, with the test as systemd: a datagram socket in
// $NOTIFY_SOCKET and $WATCHDOG_USEC. READY=1 comes once the HTTP port answers,
// WATCHDOG=1 keeps coming from the scheduler's loop, SIGHUP is RELOADING=1 then READY=1,
// SIGTERM is STOPPING=1.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using Clock = std::chrono::steady_clock;

class NotifySocket {
 public:
  NotifySocket() {
    path_ = "/tmp/mailcanary-notify-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path_.copy(a.sun_path, sizeof a.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{0, 100'000};  // each receive waits at most 100 ms
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  /// The messages that arrive within `d` (each a "KEY=VALUE\n..." datagram).
  std::vector<std::string> receive_for(Clock::duration d) {
    std::vector<std::string> out;
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.emplace_back(buf, static_cast<std::size_t>(n));
      }
    }
    return out;
  }
  /// Waits (bounded by `d`) for a message containing `what`; the messages before it too.
  bool wait_for(const std::string& what, Clock::duration d,
                std::vector<std::string>* seen = nullptr) {
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        std::string m(buf, static_cast<std::size_t>(n));
        if (seen) {
          seen->push_back(m);
        }
        if (m.find(what) != std::string::npos) {
          return true;
        }
      }
    }
    return false;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

std::size_t count_with(const std::vector<std::string>& messages, const std::string& what) {
  std::size_t n = 0;
  for (const auto& m : messages) {
    n += m.find(what) != std::string::npos ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("under systemd: READY when serving, the watchdog fed, reload and stop told",
          "[integration][service]") {
  NotifySocket systemd;
  const auto path = itest::write_temp_file(
      "service.toml", itest::agent_config_head("service") +
                          "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\n"
                          "mailbox = \"inbox\"\nmembers = [\"127.0.0.11:2525\"]\n");
  ::setenv("NOTIFY_SOCKET", systemd.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // 0.4 s: fed every 0.2 s
  itest::AgentProcess agent(path);
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");

  std::vector<std::string> before;
  REQUIRE(systemd.wait_for("READY=1", std::chrono::seconds(20), &before));
  CHECK(before.back().find("STATUS=probing 1 targets, HTTP on 127.0.0.1:") != std::string::npos);
  // Ready means serving: the port answers now.
  const std::string address = agent.http_address();
  auto health = itest::run_command(
      {"/usr/bin/curl", "-s", "--max-time", "2", "http://" + address + "/healthz"});
  CHECK(health.out == "ok\n");

  const auto fed = systemd.receive_for(std::chrono::seconds(2));
  CHECK(count_with(fed, "WATCHDOG=1") >= 6);  // about 10 in 2 s

  ::kill(agent.pid(), SIGHUP);
  std::vector<std::string> reload;
  REQUIRE(systemd.wait_for("READY=1", std::chrono::seconds(10), &reload));
  CHECK(count_with(reload, "RELOADING=1") == 1);

  ::kill(agent.pid(), SIGTERM);
  CHECK(systemd.wait_for("STOPPING=1", std::chrono::seconds(10)));
  CHECK(agent.stop() == 0);
}
