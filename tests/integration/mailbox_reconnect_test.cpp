// The agent's IMAP reader survives the server dropping its session: Dovecot kicks the
// canary user (doveadm kick), the reader logs in again, probes go on, and the reconnect
// is counted in mailcanary_mailbox_reconnects_total.
#include <catch2/catch.hpp>
#include <regex>

#include "support.hpp"

namespace {

// The value of the reconnect counter for mailbox "inbox"; -1 when the series is absent.
long reconnects(const std::string& metrics_url) {
  auto r = itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", metrics_url});
  std::smatch m;
  if (!std::regex_search(r.out, m,
                         std::regex("mailcanary_mailbox_reconnects_total\\{mailbox=\"inbox\"\\} "
                                    "(\\d+)"))) {
    return -1;
  }
  return std::stol(m[1].str());
}

}  // namespace

TEST_CASE("a dropped IMAP session is reopened and counted as a reconnect",
          "[integration][agent][mailbox][reconnect]") {
  const std::string cfg =
      itest::agent_config_head("reconnect") +
      "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\n\n" +
      "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n" +
      "members = [\"127.0.0.11:2525\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("reconnect.toml", cfg));
  REQUIRE(agent.wait_for_log("t 127.0.0.11:2525 ok", std::chrono::seconds(20)));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  const std::string url = "http://" + address + "/metrics";
  CHECK(reconnects(url) == 0);

  // Kick until the reader has noticed (bounded): a kick can land between two sessions.
  long seen = 0;
  for (int i = 0; i < 50 && seen < 1; ++i) {
    auto kick =
        itest::run_command({"/usr/bin/doveadm", "-c",
                            itest::testbed_dir() + "/dovecot/dovecot.conf", "kick", "canary"},
                           std::chrono::seconds(10));
    INFO(kick.out << kick.err);
    for (int j = 0; j < 20 && seen < 1; ++j) {
      seen = reconnects(url);
      if (seen < 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  CHECK(seen >= 1);
  // Probes go on through the new session.
  const auto mark = agent.log().size();
  bool ok_after = false;
  for (int i = 0; i < 100 && !ok_after; ++i) {
    ok_after = agent.log().find("t 127.0.0.11:2525 ok", mark) != std::string::npos;
    if (!ok_after) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(ok_after);
  CHECK(agent.stop() == 0);
}
