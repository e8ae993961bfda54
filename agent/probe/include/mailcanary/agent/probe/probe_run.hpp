// The I/O steps of a probe: send one canary (used by the agent's SMTP workers) and
// run_probes(), one probe of each selected member now (`mailcanary probe`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mailcanary/agent/core/result.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/evidence.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::agent {

/// The SMTP half of a probe: sends one canary through the member (attempts, backoff,
/// the next address when one is unreachable). `accepted_at` is set to when the
/// conversation ended. The result's class is final unless it is ok at stage done,
/// which means "accepted, now confirm in the mailbox".
ProbeResult send_canary(const config::Config& cfg, const MemberRef& m, probes::Clock& clock,
                        std::chrono::steady_clock::time_point& accepted_at);

/// Sends one canary through each member (at most [agent] concurrency at once) and
/// classifies each; results in member order. Each accepted canary is handed to its
/// mailbox's watcher as soon as its conversation ends and is timed from its own 250,
/// while the other members are still being sent. Returns once every member is decided
/// (found, bounced, lost at its lost_after, or a mailbox error). `reader_binary`: see
/// MailboxWatcherOptions.
std::vector<ProbeResult> run_probes(const config::Config& cfg,
                                    const std::vector<MemberRef>& members, probes::Clock& clock,
                                    const std::string& reader_binary = "");

}  // namespace mailcanary::agent
