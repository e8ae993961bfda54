// The Alertmanager side of the runtime: sends the state store's outbox to every URL
// (a notification is kept and retried with backoff until all took it) and re-sends
// the alerts still firing, well within their TTL, so Alertmanager never resolves an
// outage that goes on. Runs on its own thread: a slow Alertmanager never delays probes.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mailcanary/agent/core/effects.hpp"
#include "mailcanary/agent/core/snapshot.hpp"
#include "mailcanary/agent/notify/alertmanager.hpp"
#include "mailcanary/agent/store/state_store.hpp"
#include "mailcanary/probes/clock.hpp"

namespace mailcanary::agent {

/// Where pushed alerts link to: [web] external_url, or this host's name (the listen
/// address when it names one) and `port`; and the host name, the agent's name in an
/// alert when [agent] instance is not set. runbook_url is left to the caller.
AlertLinks alert_links(const config::WebConfig& web, const std::string& listen_host, int port);

class AlertSender {
 public:
  /// Firing alerts expire in Alertmanager after kFiringTtl unless re-sent.
  static constexpr std::chrono::seconds kFiringTtl{300};
  static constexpr std::chrono::seconds kResendEvery{60};
  static constexpr std::chrono::milliseconds kTimeout{5000};

  AlertSender(StateStore& store, probes::Clock& clock) : store_(store), clock_(clock) {}

  struct Report {
    std::vector<std::string> failed_urls;   // one entry per failed send
    std::size_t pending = 0;                // left in the outbox
    Effects log;                            // LogLine effects, for the core's thread
    std::vector<std::string> store_errors;  // outbox writes that failed (for the core)
    std::uint64_t held_delivered = 0;       // Core::held_delivered(), when not 0
  };
  /// Sends what is due (at most 50 notifications). When the outbox cannot be written (a
  /// full disk), what was sent or rescheduled is remembered here and written later, so
  /// nothing is sent again every pass. Throws StateError when the outbox cannot be read.
  Report send_due(const std::vector<std::string>& urls);
  /// While the store fails: sends the notifications the core holds (s.held_notifications),
  /// in order, each once; a failed one is retried with the outbox's backoff and holds
  /// back the newer ones. Adds to `report` (sent with the outbox's report).
  void send_held(const std::vector<std::string>& urls, const Snapshot& s, Report& report);
  /// Re-sends the alert of every member in alarm in `s`.
  void resend_active(const std::vector<std::string>& urls, const Snapshot& s);
  /// What the alerts sent from now on link to (generatorURL, runbook_url) and the
  /// agent's name when [agent] instance is not set.
  void use_links(AlertLinks links) { links_ = std::move(links); }

 private:
  /// Writes remembered from passes whose outbox writes failed; true when none is left.
  bool write_remembered(Report& report);

  StateStore& store_;
  probes::Clock& clock_;
  AlertLinks links_;
  // Outbox writes that failed, tried again each pass: sent (to delete), and retries
  // (id -> next attempt, attempts).
  std::set<std::int64_t> sent_unwritten_;
  std::map<std::int64_t, std::pair<SysTime, int>> retry_unwritten_;
  // Held notifications (by the core's seq): delivered up to, and the next one's retry.
  std::uint64_t held_sent_seq_ = 0;
  int held_attempts_ = 0;
  SysTime held_retry_at_{};
};

}  // namespace mailcanary::agent
