// The isolated reader's process (probes/isolated_reader.hpp) against a scripted IMAP
// server: a child whose memory grew too much is retired after its call and replaced by a
// fresh one at the next, which logs in again; the replacement is not a reconnect.
#include <atomic>
#include <catch2/catch.hpp>
#include <string>

#include "mailcanary/probes/isolated_reader.hpp"
#include "protocols.hpp"
#include "reader_support.hpp"

using namespace hostile;

TEST_CASE("a reader process whose memory grew too much is replaced after its call",
          "[hostile][reader][isolation]") {
  std::atomic<int> logins{0};
  auto server = imap_server([&](Conn&, const std::string& line) {
    if (parse_imap(line).verb == "LOGIN") {
      ++logins;
    }
    return Reply::fallback;
  });
  const auto cfg = reader_config(server.port());

  SECTION("a bound of 0 retires the child after every call: each scan is a new login") {
    auto reader =
        mailcanary::probes::make_isolated_mailbox_reader(cfg, "key", MAILCANARY_BINARY, 0);
    for (int i = 0; i < 3; ++i) {
      CHECK(reader->scan({"mc1-0-none"}).empty());
    }
    CHECK(logins == 3);
    CHECK(reader->reconnects() == 0);  // retired, not lost
  }
  SECTION("within the bound one child and one session serve every scan") {
    auto reader = mailcanary::probes::make_isolated_mailbox_reader(cfg, "key", MAILCANARY_BINARY);
    for (int i = 0; i < 3; ++i) {
      CHECK(reader->scan({"mc1-0-none"}).empty());
    }
    CHECK(logins == 1);
    CHECK(reader->reconnects() == 0);
  }
}
