// Under systemd the agent writes native journal entries: the test plays journald with a
// datagram socket of its own at /run/systemd/journal/socket, in a mount namespace made
// for the agent alone (the machine's /run is not touched), and sets $JOURNAL_STREAM to
// the agent's stderr as systemd does. Each entry carries MESSAGE, PRIORITY and
// SYSLOG_IDENTIFIER; nothing reaches stderr while the journal takes the entries.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "support.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Entry = std::map<std::string, std::string>;

class FakeJournal {
 public:
  FakeJournal() {
    dir_ = std::filesystem::path(itest::write_temp_file("journal.dir", "")).string() + ".d";
    std::filesystem::create_directories(dir_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    (dir_ + "/socket").copy(a.sun_path, sizeof a.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{0, 100'000};  // each receive waits at most 100 ms
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~FakeJournal() { ::close(fd_); }
  const std::string& dir() const { return dir_; }

  /// Entries until one whose MESSAGE contains `what` (bounded by `d`); empty when none.
  std::vector<Entry> until(const std::string& what, Clock::duration d) {
    std::vector<Entry> out;
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        continue;
      }
      out.push_back(parse(std::string(buf, static_cast<std::size_t>(n))));
      if (out.back()["MESSAGE"].find(what) != std::string::npos) {
        return out;
      }
    }
    return {};
  }

 private:
  // The native protocol's simple form: KEY=VALUE lines (the agent's values are one line).
  static Entry parse(const std::string& datagram) {
    Entry e;
    std::size_t at = 0;
    while (at < datagram.size()) {
      auto end = datagram.find('\n', at);
      if (end == std::string::npos) {
        end = datagram.size();
      }
      const std::string field = datagram.substr(at, end - at);
      const auto eq = field.find('=');
      if (eq != std::string::npos) {
        e[field.substr(0, eq)] = field.substr(eq + 1);
      }
      at = end + 1;
    }
    return e;
  }

  std::string dir_;
  int fd_ = -1;
};

// unshare gives the agent its own mounts: a tmpfs over /run/systemd with the fake
// journal's folder bound at /run/systemd/journal; $JOURNAL_STREAM names its stderr.
std::vector<std::string> in_fake_journal(const std::string& dir) {
  return {"/usr/bin/unshare",
          "--mount",
          "--propagation",
          "private",
          "--",
          "/bin/sh",
          "-c",
          "set -e; mkdir -p /run/systemd; mount -t tmpfs tmpfs /run/systemd; "
          "mkdir /run/systemd/journal; mount --bind \"$1\" /run/systemd/journal; "
          "JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/self/fd/2); export JOURNAL_STREAM; "
          "shift; exec \"$@\"",
          "sh",
          dir};
}

}  // namespace

TEST_CASE("under systemd each line is a journal entry with its priority and identifier",
          "[integration][log][journal]") {
  FakeJournal journal;
  // No [[target]]: a warning at start, with nothing else to wait for.
  std::string config = itest::agent_config_head("journal");
  const auto head_end = config.find("\n[smtp]");
  config = config.substr(0, head_end);
  config.replace(config.find("level = \"debug\""), 15, "level = \"info\"");
  itest::AgentProcess agent(itest::write_temp_file("journal.toml", config), {},
                            in_fake_journal(journal.dir()));

  auto entries = journal.until("no [[target]] in", std::chrono::seconds(20));
  REQUIRE_FALSE(entries.empty());
  REQUIRE(entries.size() >= 2);
  const Entry& http = entries.front();
  INFO(http.at("MESSAGE"));
  CHECK(http.at("MESSAGE").rfind("HTTP endpoints on 127.0.0.1:", 0) == 0);  // no time, no name
  CHECK(http.at("PRIORITY") == "6");
  CHECK(http.at("SYSLOG_IDENTIFIER") == "mailcanary");
  const Entry& warning = entries.back();
  CHECK(warning.at("PRIORITY") == "4");
  CHECK(warning.at("SYSLOG_IDENTIFIER") == "mailcanary");

  ::kill(agent.pid(), SIGTERM);
  CHECK_FALSE(journal.until("stopping", std::chrono::seconds(10)).empty());
  CHECK(agent.stop() == 0);
  // The journal took every line: nothing went to stderr.
  CHECK(agent.log().empty());
}
