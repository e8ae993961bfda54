// A watcher whose reader process never answers (stuck in its login) does not hold up the
// end of a `probe` run: its destructor cuts the call short after its grace.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

#include "mailcanary/agent/probe/mailbox_watcher.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;

TEST_CASE("a watcher stuck in a login that never ends is cut short when it goes", "[watcher]") {
  mailcanary::testing::TempDir dir;
  // Stands in for `mailcanary mailbox-reader`: takes the config, never answers.
  const auto script = dir.path() / "silent-reader";
  std::ofstream(script) << "#!/bin/sh\nexec sleep 600\n";
  ::chmod(script.c_str(), 0700);

  mailcanary::config::MailboxConfig mailbox;
  mailbox.name = "inbox";
  mailbox.server = {"127.0.0.1", 9};
  mailbox.user = "canary";
  mailcanary::probes::SystemClock clock;
  int decided = 0;
  const auto t0 = std::chrono::steady_clock::now();
  {
    mailcanary::agent::MailboxWatcher watcher(
        mailbox, nullptr, "key", clock,
        [&](const std::string&, const mailcanary::probes::Confirmation&) { ++decided; }, {},
        {.login_first = true,
         .reader_binary = script.string(),
         .stop_grace = 200ms,
         .tokens = nullptr,
         .bounce_tokens = nullptr});
  }  // the login (prepare) is still waiting for the silent process here
  const auto took = std::chrono::steady_clock::now() - t0;
  // The grace, then the child reaped (2 s, then killed); without stop() this is the
  // call's 300 s backstop.
  CHECK(took < 10s);
  CHECK(decided == 0);
}
