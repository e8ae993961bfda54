// What a delivered canary's headers tell about its path: the host that received it,
// the receiving side's authentication verdicts, and how long each hop took.
// Pure parsing: header text in, facts out.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailcanary::probes {

struct Hop {
  std::string from;               // the "from" clause of the Received header (host name part)
  std::string by;                 // the "by" clause (host that received it)
  std::optional<double> seconds;  // since the previous hop (or the Date header)
};

struct Evidence {
  std::string received_by;             // "by" of the top (last) Received header
  std::string authentication_results;  // top Authentication-Results header, bounded
  std::vector<Hop> hops;               // oldest first
};

/// Parses an RFC 5322 date ("Sun, 29 Nov 2026 02:25:16 +0000 (UTC)"; the day name and
/// seconds are optional, obsolete zone names UT/GMT/Z are accepted). nullopt if invalid.
std::optional<std::chrono::system_clock::time_point> parse_rfc5322_date(std::string_view text);

/// Evidence from a header block (the message's headers, CRLF or LF).
Evidence parse_evidence(std::string_view headers);

}  // namespace mailcanary::probes
