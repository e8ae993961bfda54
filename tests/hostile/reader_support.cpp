#include "reader_support.hpp"

#include <chrono>

#include "mailcanary/probes/mailbox.hpp"

namespace hostile {

mailcanary::config::MailboxConfig reader_config(std::uint16_t port,
                                                mailcanary::config::MailboxProtocol protocol) {
  mailcanary::config::MailboxConfig c;
  c.name = "hostile";
  c.protocol = protocol;
  c.server = {"127.0.0.1", port};
  c.user = "canary";
  c.password = "secret";
  c.folder = "INBOX";
  c.idle = false;
  c.poll_interval = std::chrono::milliseconds(100);
  return c;
}

ScanOutcome timed_scan(const mailcanary::config::MailboxConfig& cfg) {
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kReaderKey);
  ScanOutcome out;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    reader->scan({"mc1-0-none"});
  } catch (const mailcanary::probes::MailboxError& e) {
    out.error = e.what();
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace hostile
