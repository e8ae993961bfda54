// One probe's result and what is decided from it without I/O: the member it is about,
// the result record (class, stage, evidence), how a mailbox confirmation completes it,
// its text and JSON forms, and the monitoring-plugin exit code of a set of results.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/evidence.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/result.hpp"
#include "mailcanary/probes/smtp_session.hpp"

namespace mailcanary::agent {

/// One member of a target: where to connect and its label. VIP mode: the label as
/// written in the config, one address. MX mode: "exchange:port", the exchange's
/// addresses in order (the next is tried when one is unreachable).
struct MemberRef {
  const config::TargetConfig* target = nullptr;
  std::string member;
  std::vector<config::Endpoint> addresses;
  std::string host;  // name for the SMTP URL, TLS SNI and verification; empty: the address
};

struct ProbeResult {
  std::string target;
  std::string member;
  probes::ResultClass cls = probes::ResultClass::ok;
  probes::Stage stage = probes::Stage::done;
  int smtp_code = 0;
  std::string enhanced_code;
  int attempts = 0;
  double smtp_seconds = 0;
  std::optional<double> delivery_seconds;
  std::string canary_id;
  std::string detail;
  std::string queue_id;
  // Evidence from the delivered canary's headers (see probes/evidence.hpp).
  std::string received_by;
  std::string authentication_results;
  std::vector<probes::Hop> hops;
  std::vector<std::string> transcript;
  std::vector<probes::SmtpSession::StageTime> stage_times;
  /// When the probe started (wall clock); zero: unknown, taken as when it is recorded.
  /// A result older than the newest one already recorded for its member (a canary
  /// found lost after a newer probe succeeded) does not move the alarm and health.
  std::chrono::system_clock::time_point started_at{};
};

/// What discovery found for the selected targets.
struct Discovery {
  std::vector<MemberRef> members;
  /// Results decided by discovery itself: a domain that does not resolve (dns_*, member
  /// = the domain), an MX host without any address (unreachable at stage dns).
  std::vector<ProbeResult> failures;
};

/// Whether a send_canary() result waits for the mailbox.
bool awaits_mailbox(const ProbeResult& r);

/// The mailbox half: what the mailbox side learnt about an accepted canary becomes the
/// result's final class, detail and evidence.
void apply_confirmation(ProbeResult& r, const config::TargetConfig& t,
                        const std::string& mailbox_folder, const probes::Confirmation& c);

/// How bad a monitoring-plugin state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) is, for
/// picking the worst: CRITICAL > UNKNOWN > WARNING > OK (a failing target matters more
/// than a blind reader or a cut run).
int plugin_state_rank(int state);

/// Monitoring-plugin exit code for a set of results: the worst severity.
int plugin_exit_code(const std::vector<ProbeResult>& results);

/// The JSON object of to_json(), for documents that embed it (/status).
nlohmann::ordered_json to_json_value(const ProbeResult& r, bool transcript);

/// One JSON object (no newline). With `transcript`, adds the SMTP transcript.
std::string to_json(const ProbeResult& r, bool transcript);

/// One human-readable line.
std::string to_text(const ProbeResult& r);

}  // namespace mailcanary::agent
