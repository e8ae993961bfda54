// The canary message: a unique id, an HMAC-SHA256 over it, and a well-formed RFC 5322
// message that carries both in the X-Mailcanary-Id header and in the subject.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::probes {

inline constexpr std::string_view kCanaryHeader = "X-Mailcanary-Id";

/// A new id, unique across agents and restarts: "mc1-<unix seconds hex>-<128 random
/// bits hex>". Randomness from the OS CSPRNG.
std::string new_canary_id(std::chrono::system_clock::time_point now);

/// When a canary id made by new_canary_id() was made (whole seconds); nullopt for any
/// other string.
std::optional<std::chrono::system_clock::time_point> canary_id_time(std::string_view id);

/// Hex HMAC-SHA256 of `id` under `key` (first 32 hex digits: 128 bits).
std::string sign_canary_id(std::string_view id, std::string_view key);

/// The header value: "<id> sig=<signature>".
std::string canary_token(std::string_view id, std::string_view key);

/// Parses a header value and returns the id when its signature verifies under `key`
/// (constant-time comparison); nullopt for foreign or forged tokens.
std::optional<std::string> verify_canary_token(std::string_view header_value, std::string_view key);

struct CanaryMessage {
  std::string id;
  std::string from;
  std::string rcpt;
  std::string target;  // informational, in a header
  std::string member;  // informational, in a header
  std::string instance;
  std::string hostname;  // for the Message-ID right-hand side
  std::chrono::system_clock::time_point date;
};

/// The full message text with CRLF line endings.
std::string build_canary_message(const CanaryMessage& m, std::string_view key);

}  // namespace mailcanary::probes
