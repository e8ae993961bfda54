// The I/O steps of a probe: send one canary (used by the agent's SMTP workers) and
// run_probes(), one probe of each selected member now (`mailcanary probe`).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailcanary/agent/core/result.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/evidence.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::agent {

/// The SMTP half of a probe: sends one canary through the member (attempts, backoff,
/// the next address when one is unreachable). `accepted_at` is set to when the
/// conversation ended. The result's class is final unless it is ok at stage done,
/// which means "accepted, now confirm in the mailbox". With `give_up_at`, no wait for
/// the server passes it; `*gave_up` (if given) then says the conversation was cut there,
/// so the result is not the server's. `tokens`: where an OAuth2 SMTP login's token
/// comes from (without it such a login fails at stage token).
ProbeResult send_canary(const config::Config& cfg, const MemberRef& m, probes::Clock& clock,
                        std::chrono::steady_clock::time_point& accepted_at,
                        std::optional<std::chrono::steady_clock::time_point> give_up_at = {},
                        bool* gave_up = nullptr, probes::TokenRegistry* tokens = nullptr);

/// Sends one canary through each member (at most [agent] concurrency at once) and
/// classifies each; results in member order. Each accepted canary is handed to its
/// mailbox's watcher as soon as its conversation ends and is timed from its own 250,
/// while the other members are still being sent. Returns once every member is decided
/// (found, bounced, lost at its lost_after, or a mailbox error). `reader_binary`: see
/// MailboxWatcherOptions.
std::vector<ProbeResult> run_probes(const config::Config& cfg,
                                    const std::vector<MemberRef>& members, probes::Clock& clock,
                                    const std::string& reader_binary = "");

/// What run_probes_until() knew at its deadline.
struct ProbeRun {
  std::vector<ProbeResult> results;  // the decided members, in member order
  /// (target, member) of those still sending or awaiting the mailbox at the deadline.
  std::vector<std::pair<std::string, std::string>> unresolved;
};

/// run_probes() with an overall deadline (`probe -t`): every SMTP wait is cut at it, no
/// member starts after it, and the mailboxes are left then. Returns within about a
/// second of `deadline` (a mailbox reader in a call gets `stop_grace`, then is stopped).
/// A canary sent but not found stays in the mailbox; the next run's scan removes it
/// (probes::MailboxReader's leftovers).
ProbeRun run_probes_until(const config::Config& cfg, const std::vector<MemberRef>& members,
                          probes::Clock& clock, std::chrono::steady_clock::time_point deadline,
                          const std::string& reader_binary = "",
                          std::chrono::milliseconds stop_grace = std::chrono::milliseconds(300));

}  // namespace mailcanary::agent
