// What the cases that run a mailbox reader in this process share: the config of a reader
// against a scripted server on 127.0.0.1, and one timed scan expected to fail.
#pragma once

#include <cstdint>
#include <string>

#include "mailcanary/config/config.hpp"

namespace hostile {

/// The hostile suite's HMAC key for the readers it runs.
inline constexpr const char* kReaderKey = "hostile-test-key";

/// A reader's config for 127.0.0.1:port: user "canary", password "secret", folder INBOX,
/// IDLE off, poll_interval 100 ms (so an I/O timeout of 10 s, answers within 20 s).
mailcanary::config::MailboxConfig reader_config(
    std::uint16_t port,
    mailcanary::config::MailboxProtocol protocol = mailcanary::config::MailboxProtocol::imap);

struct ScanOutcome {
  std::string error;  // "" if the scan did not fail
  double seconds = 0;
};

/// One scan by a reader for `cfg` in this process (wanting a canary nobody sent).
ScanOutcome timed_scan(const mailcanary::config::MailboxConfig& cfg);

}  // namespace hostile
