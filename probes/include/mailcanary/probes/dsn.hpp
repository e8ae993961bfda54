// Delivery status notifications (RFC 3464) for canaries: recognise a bounce by the
// signed canary id in its returned headers and take its Status and Diagnostic-Code.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::probes {

struct Dsn {
  std::string canary_id;
  std::string action;      // "failed" (only final failures are reported)
  std::string status;      // RFC 3463 code, e.g. "5.1.1"
  std::string diagnostic;  // Diagnostic-Code, bounded
  /// "5.1.1 failed: X-Postfix; unknown user: ..." for the result's detail.
  std::string summary() const;
};

/// Parses the text of a DSN (headers and body, bounded by the caller). Returns a Dsn
/// when it reports a final failure (Action: failed, or no Action and a 5.x.x Status)
/// for a canary whose signature verifies under `key`; nullopt otherwise (a delay
/// warning, a forged or foreign canary, not a DSN).
std::optional<Dsn> parse_dsn(std::string_view text, std::string_view key);

}  // namespace mailcanary::probes
