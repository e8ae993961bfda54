// `mailcanary probe --format nagios`: what the monitoring-plugins guidelines ask of a
// plugin (Nagios, Icinga, Checkmk, Zabbix, Sensu run it), from the results of one run.
//   MAILCANARY CRITICAL - 1 of 3 members not ok: vip1/127.0.0.13:2525 perm_fail | 'vip1/...
//   CRITICAL: vip1 127.0.0.13:2525 perm_fail stage=rcpt code=550 (550 5.7.1 ...)
//   OK: vip1 127.0.0.11:2525 ok delivery=0.016s smtp=0.012s
// The worst member first; perfdata per member ('TARGET/MEMBER delivery' and '... smtp',
// in seconds, with the --warning/--critical ranges of the delivery time). Pure: no I/O.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailcanary/agent/core/result.hpp"

namespace mailcanary::agent {

/// A threshold range of the guidelines: "10" (outside 0..10 alerts), "10:" (below 10),
/// "~:10" (above 10), "10:20" (outside), "@10:20" (inside).
struct PluginRange {
  std::string text;  // as given: the perfdata shows it
  double start = 0;
  double end = std::numeric_limits<double>::infinity();
  bool inside = false;  // '@': alert inside start..end instead of outside
  bool alerts(double value) const;
};

/// The range, or nullopt with `error` saying what is wrong with `text`.
std::optional<PluginRange> parse_plugin_range(std::string_view text, std::string& error);

struct PluginOptions {
  std::optional<PluginRange> warning;   // on the delivery time of an ok canary, seconds
  std::optional<PluginRange> critical;  // likewise
  int timeout_state = 3;                // members without a result at the deadline: UNKNOWN
};

struct PluginReport {
  int code = 3;      // 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
  std::string text;  // every line, each ending with '\n'
};

/// `unresolved`: (target, member) of the probes still running at the deadline.
PluginReport plugin_report(const std::vector<ProbeResult>& results,
                           const std::vector<std::pair<std::string, std::string>>& unresolved,
                           const PluginOptions& options);

}  // namespace mailcanary::agent
