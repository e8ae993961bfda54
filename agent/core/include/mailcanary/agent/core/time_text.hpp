// Private: wall times as text for logs, /status and Alertmanager.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace mailcanary::agent {

/// "2026-11-29T02:25:16Z" (UTC, whole seconds).
inline std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace mailcanary::agent
