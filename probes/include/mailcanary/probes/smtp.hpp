// SMTP send step (libcurl): one canary through one member, pinned to its address,
// with the attempts and backoff of [smtp].
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/classify.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/oauth2.hpp"
#include "mailcanary/probes/smtp_session.hpp"

namespace mailcanary::probes {

struct SmtpRequest {
  config::Endpoint address;  // where to connect (the member)
  std::string host;          // name for TLS SNI/verification; empty: the address
  config::SmtpConfig smtp;
  std::string rcpt;
  std::string message;  // full RFC 5322 text, CRLF line endings
  /// The caller's overall deadline (`probe -t`): no wait for the server passes it (the
  /// connection is closed then) and no retry starts after it. Unset: none.
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
  /// Where the access token comes from when smtp.auth is xoauth2 or oauthbearer.
  TokenSource* tokens = nullptr;
  /// The token one conversation logs in with (send_smtp() sets it from `tokens`).
  std::string bearer;
};

struct SmtpAttempt {
  SmtpVerdict verdict;
  double seconds = 0;    // the whole conversation
  std::string queue_id;  // from "250 ... queued as X" after end of data
  std::vector<std::string> transcript;
  std::vector<SmtpSession::StageTime> stage_times;
  bool gave_up = false;  // closed at the request's give_up_at: no verdict of the server
};

struct SmtpOutcome {
  SmtpAttempt last;  // the attempt that decides the class
  int attempts = 0;
  bool gave_up = false;              // the last attempt was cut at give_up_at
  std::vector<SmtpVerdict> earlier;  // verdicts of the attempts before the last
};

/// One conversation. Never throws for network or server trouble; every failure is a
/// verdict.
SmtpAttempt send_smtp_once(const SmtpRequest& req);

/// Up to smtp.attempts conversations; retries only retryable classes, waiting
/// retry_delay() between them through `clock`. With an OAuth2 `auth`, each conversation
/// first takes a token from req.tokens: when there is none, the outcome is auth_error at
/// stage token with the endpoint's answer (nothing is sent); when the server refuses
/// it, the source is told and the conversation is made once more at once with a new one.
SmtpOutcome send_smtp(const SmtpRequest& req, Clock& clock, Random& random);

/// The queue id in a reply text such as "2.0.0 Ok: queued as 4Xz1" (empty if none).
std::string parse_queue_id(const std::string& reply_text);

}  // namespace mailcanary::probes
