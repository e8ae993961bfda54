// What the endpoints answer, rendered from one immutable Snapshot (core/snapshot.hpp):
// /metrics (the Prometheus text format), /status (JSON) and /health/TARGET/MEMBER (the
// load-balancer view). Pure functions of the snapshot: thread-safe, no lock held.
#pragma once

#include <string>
#include <utility>

#include "mailcanary/agent/core/snapshot.hpp"

namespace mailcanary::agent {

/// mailcanary_build_info's labels.
struct BuildInfo {
  std::string version;
  std::string revision = "unknown";         // git, as `mailcanary --version` says it
  std::string compiler = "unknown";         // e.g. "GNU 12.2.0"
  BuildInfo(const char* v) : version(v) {}  // NOLINT: a version alone, in tests
  BuildInfo(std::string v, std::string r, std::string c)
      : version(std::move(v)), revision(std::move(r)), compiler(std::move(c)) {}
};

/// The text exposition format (version 0.0.4): every DESIGN.md series and the agent's
/// self-metrics.
std::string render_metrics(const Snapshot& s, const BuildInfo& build);

/// The /status document: every member, its last result, class, alarm and health; the
/// mailboxes; canaries in flight; the state store's health.
std::string render_status(const Snapshot& s, SysTime now);

struct HealthAnswer {
  int code = 404;  // 200 UP, 503 DOWN, 404 unknown
  std::string body;
};
/// /status/TARGET/MEMBER (the link of a pushed alert): that member's object of
/// /status, with the agent's instance and the time; 404 for one the agent does not probe.
HealthAnswer render_member_status(const Snapshot& s, const std::string& target,
                                  const std::string& member, SysTime now);

/// "UP", "DOWN <class> since <time>", or "DOWN no_result since start" ([web]
/// unknown_health = "down"); 404 for a member the agent does not probe.
HealthAnswer render_health(const Snapshot& s, const std::string& target, const std::string& member);

/// The agent check's line for HAProxy (agent_check.hpp): "up ready" while the health view
/// is UP; when DOWN, "up drain" (`drain`) or "down", then " # DOWN <class> since <time>";
/// "down # unknown target/member" for a member the agent does not probe.
std::string render_agent_check(const Snapshot& s, const std::string& target,
                               const std::string& member, bool drain);

}  // namespace mailcanary::agent
