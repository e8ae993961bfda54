// The reader's wait against the real Dovecot, in this process and in a reader process of
// its own (as in the agent): IMAP IDLE ends at once when a message lands (the server's
// push) and when another thread calls interrupt() (the agent added a canary); an
// interrupt made before the wait ends that wait, once.
#include <catch2/catch.hpp>
#include <thread>

#include "mailcanary/probes/isolated_reader.hpp"
#include "support.hpp"

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

mailcanary::config::MailboxConfig inbox() {
  mailcanary::config::MailboxConfig cfg;
  cfg.name = "inbox";
  cfg.server = {"127.0.0.1", 1143};
  cfg.user = "canary";
  const std::string pw =
      itest::read_file(itest::source_dir() + "/tests/testbed/secrets/canary.pass");
  cfg.password = pw.substr(0, pw.find_first_of("\r\n"));
  cfg.idle = true;
  cfg.poll_interval = 20s;
  return cfg;
}

std::string hmac_key() {
  const std::string k = itest::read_file(itest::source_dir() + "/tests/testbed/secrets/hmac.key");
  return k.substr(0, k.find_first_of("\r\n"));
}

std::unique_ptr<mailcanary::probes::MailboxReader> make_reader(bool isolated) {
  return isolated ? mailcanary::probes::make_isolated_mailbox_reader(inbox(), hmac_key(),
                                                                     MAILCANARY_BINARY)
                  : mailcanary::probes::make_mailbox_reader(inbox(), hmac_key());
}

}  // namespace

TEST_CASE("an IDLE wait ends at once for interrupt() from another thread and for new mail",
          "[integration][mailbox][wait]") {
  for (bool isolated : {false, true}) {
    DYNAMIC_SECTION((isolated ? "in a reader process" : "in this process")) {
      mailcanary::probes::SystemClock clock;
      auto reader = make_reader(isolated);
      reader->prepare();
      reader->scan({});  // a live session (the child starts at the first call)

      // The agent adds a canary 200 ms into a 15 s wait.
      auto t0 = steady_clock::now();
      std::thread adder([&] {
        std::this_thread::sleep_for(200ms);  // the scenario: the add comes mid-wait
        reader->interrupt();
      });
      bool pushed = reader->wait(clock, 15s);
      const auto interrupted_after = steady_clock::now() - t0;
      adder.join();
      CHECK_FALSE(pushed);
      CHECK(interrupted_after < 5s);

      // An interrupt before the wait ends that wait, and only that one.
      reader->interrupt();
      t0 = steady_clock::now();
      reader->wait(clock, 15s);
      CHECK(steady_clock::now() - t0 < 5s);
      t0 = steady_clock::now();
      reader->wait(clock, 300ms);
      CHECK(steady_clock::now() - t0 >= 250ms);

      // A message lands: Dovecot pushes EXISTS (about 0.5 s later) and the wait ends.
      reader->scan({});  // the view is current before the delivery
      t0 = steady_clock::now();
      std::thread deliver([] {
        auto r = itest::run_command({"/usr/bin/swaks", "--server", "127.0.0.11:2525", "--to",
                                     "canary@example.test", "--from", "someone@example.test",
                                     "--header", "X-Test-Tag: idle-push", "--silent", "2"});
        CHECK(r.exit_code == 0);
      });
      pushed = reader->wait(clock, 15s);
      const auto pushed_after = steady_clock::now() - t0;
      deliver.join();
      CHECK(pushed);
      CHECK(pushed_after < 10s);
    }
  }
}
