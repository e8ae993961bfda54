// What the mailbox cases share: a `mailcanary probe` run against a scripted mailbox
// server (behind an ordinary SMTP server) with the checks every run must pass, and a
// relay that hands the canary the probe sent by SMTP to the mailbox server, for cases
// where a misbehaving answer must still let the canary be read.
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "probe_child.hpp"
#include "protocols.hpp"

namespace hostile {

struct Expect {
  const char* in_detail;
  double max_seconds;
  double min_seconds = 0;  // for a limit that must not fire early
};

/// Runs the probe against `mailbox` (`protocol`: "imap", "pop3") and `smtp`, IDLE off;
/// checks it was not killed at the hard limit, did not crash, and stayed under the RSS
/// bound. `extra_mailbox`: more lines for [[mailbox]].
ProbeRun run_mailbox_probe(const std::string& name, ScriptedServer& mailbox,
                           const std::string& protocol, ScriptedServer& smtp,
                           const std::string& extra_mailbox = "");

/// The same behind an ordinary SMTP server, expecting a mailbox_error at stage mailbox
/// whose detail contains e.in_detail, within e's time bounds.
ProbeRun probe_mailbox(const std::string& name, ScriptedServer& mailbox,
                       const std::string& protocol, const Expect& e,
                       const std::string& extra_mailbox = "");

/// Remembers the canary header of the message the probe sent, for the mailbox server.
class CanaryRelay {
 public:
  /// For smtp_server(): records the X-Mailcanary-Id line of each message it receives.
  ScriptedServer::Handler smtp_handler();
  /// "X-Mailcanary-Id: ...\r\n" of the last message, or "" before one came.
  std::string header() const;

 private:
  mutable std::mutex mutex_;
  std::string header_;
};

/// An IMAP server that answers normally except to `verb`, where it runs `then`.
ScriptedServer imap_at(const std::string& verb,
                       std::function<Reply(Conn&, const ImapCommand&)> then);

std::string repeat(const std::string& s, std::size_t n);

/// A string literal with the NULs inside it (without its terminating one).
template <std::size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

}  // namespace hostile
