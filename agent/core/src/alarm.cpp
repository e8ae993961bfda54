#include "mailcanary/agent/core/alarm.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

namespace mailcanary::agent {
namespace {

using probes::ResultClass;

// The raise rule needs a run, not a single probe, however long ago the run started.
constexpr int kMinFailedProbes = 2;

// Wall time may step back, and outcomes may be decided out of order: never let a
// member's time run backwards.
SysTime monotonic_at(const std::optional<SysTime>& last, SysTime at) {
  return last ? std::max(*last, at) : at;
}

void track_maintenance(MemberStatus& s, SysTime now, bool inside, std::optional<SysTime> until) {
  if (inside) {
    s.in_maintenance = true;
    s.maintenance_until = until;
    return;
  }
  if (s.in_maintenance) {
    // Left a window: its end as announced, unless the window was cut short.
    s.maintenance_ended_at = std::min(s.maintenance_until.value_or(now), now);
  }
  s.in_maintenance = false;
  s.maintenance_until.reset();
}

AlarmChange on_good(MemberStatus& s, const config::SlgConfig& slg, SysTime now,
                    HealthChange& health) {
  s.consecutive_failures = 0;
  s.consecutive_unknown = 0;
  s.failing_since.reset();
  ++s.consecutive_successes;
  s.last_success_at = now;

  if (!s.health_up) {
    s.health_up = true;
    s.health_since = now;
    health = HealthChange::went_up;
  }
  if (!s.in_alarm) {
    return AlarmChange::unchanged;
  }
  if (s.consecutive_successes < slg.recover_after) {
    return AlarmChange::pending;
  }
  s.in_alarm = false;
  s.alarm_since.reset();
  s.alarm_class.reset();
  return AlarmChange::cleared;
}

AlarmChange on_bad(MemberStatus& s, const config::SlgConfig& slg, ResultClass cls, SysTime now,
                   HealthChange& health) {
  s.consecutive_successes = 0;
  s.consecutive_unknown = 0;
  if (!s.failing_since) {
    s.failing_since = now;
  }
  ++s.consecutive_failures;
  s.last_failure_class = cls;
  s.last_failure_at = now;

  if (s.health_up) {
    if (s.consecutive_failures >= slg.health_fail_after) {
      s.health_up = false;
      s.health_since = now;
      health = HealthChange::went_down;
    } else {
      health = HealthChange::pending;
    }
  }
  if (s.in_alarm) {
    return AlarmChange::unchanged;
  }
  SysTime clock_start = *s.failing_since;
  if (s.maintenance_ended_at) {
    clock_start = std::max(clock_start, *s.maintenance_ended_at);
  }
  const bool due =
      s.consecutive_failures >= kMinFailedProbes && now - clock_start >= slg.outage_window;
  if (!due) {
    return AlarmChange::pending;
  }
  if (s.in_maintenance) {
    return AlarmChange::suppressed;
  }
  s.in_alarm = true;
  s.alarm_since = now;
  s.alarm_class = cls;
  return AlarmChange::raised;
}

// --- JSON -----------------------------------------------------------------------------

using nlohmann::json;

constexpr int kEncodingVersion = 1;

json time_value(const std::optional<SysTime>& t) {
  if (!t) {
    return nullptr;
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
}

json class_value(const std::optional<ResultClass>& c) {
  if (!c) {
    return nullptr;
  }
  return std::string(probes::to_string(*c));
}

// Readers: false when the key is present with a wrong type or value; a missing key or a
// null leaves the default.
bool read(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_boolean()) {
    return false;
  }
  out = it->get<bool>();
  return true;
}

bool read(const json& j, const char* key, int& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_number_integer()) {
    return false;
  }
  const auto v = it->get<std::int64_t>();
  if (v < 0 || v > std::numeric_limits<int>::max()) {
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool read(const json& j, const char* key, std::optional<SysTime>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_number_integer()) {
    return false;
  }
  out = SysTime{std::chrono::milliseconds(it->get<std::int64_t>())};
  return true;
}

bool read(const json& j, const char* key, std::optional<ResultClass>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_string()) {
    return false;
  }
  out = probes::result_class_from_string(it->get<std::string>());
  return out.has_value();
}

}  // namespace

Verdict verdict(ResultClass cls, const config::SlgConfig& slg) {
  if (cls == ResultClass::mailbox_error) {
    return Verdict::unknown;
  }
  if (cls == ResultClass::late) {
    return slg.late_is_failure ? Verdict::bad : Verdict::good;
  }
  return probes::is_target_failure(cls) ? Verdict::bad : Verdict::good;
}

std::string_view to_string(AlarmChange c) {
  switch (c) {
    case AlarmChange::unchanged:
      return "unchanged";
    case AlarmChange::pending:
      return "pending";
    case AlarmChange::suppressed:
      return "suppressed";
    case AlarmChange::raised:
      return "raised";
    case AlarmChange::cleared:
      return "cleared";
  }
  return "unchanged";
}

std::string_view to_string(HealthChange c) {
  switch (c) {
    case HealthChange::unchanged:
      return "unchanged";
    case HealthChange::pending:
      return "pending";
    case HealthChange::went_down:
      return "went_down";
    case HealthChange::went_up:
      return "went_up";
  }
  return "unchanged";
}

namespace {

Transitions observe_at(MemberStatus& s, const config::SlgConfig& slg, ResultClass cls, SysTime at,
                       bool in_maintenance, std::optional<SysTime> until) {
  const SysTime now = monotonic_at(s.last_probe_at, at);
  track_maintenance(s, now, in_maintenance, until);
  s.last_probe_at = now;
  s.last_class = cls;

  Transitions t;
  switch (verdict(cls, slg)) {
    case Verdict::good:
      t.alarm = on_good(s, slg, now, t.health);
      break;
    case Verdict::bad:
      t.alarm = on_bad(s, slg, cls, now, t.health);
      break;
    case Verdict::unknown:
      ++s.consecutive_unknown;
      break;
  }
  return t;
}

}  // namespace

Transitions observe(MemberStatus& s, const config::SlgConfig& slg, ResultClass cls, SysTime at,
                    std::optional<SysTime> maintenance_until) {
  return observe_at(s, slg, cls, at, maintenance_until.has_value(), maintenance_until);
}

Transitions observe(MemberStatus& s, const config::SlgConfig& slg, ResultClass cls, SysTime at,
                    bool in_maintenance) {
  return observe_at(s, slg, cls, at, in_maintenance, std::nullopt);
}

AlarmChange observe_mailbox(MailboxStatus& s, config::Duration outage_window, bool read_ok,
                            SysTime at) {
  const SysTime now = monotonic_at(s.last_read_at, at);
  s.last_read_at = now;
  if (read_ok) {
    s.consecutive_errors = 0;
    s.failing_since.reset();
    s.last_success_at = now;
    if (!s.in_alarm) {
      return AlarmChange::unchanged;
    }
    s.in_alarm = false;
    s.alarm_since.reset();
    return AlarmChange::cleared;
  }
  if (!s.failing_since) {
    s.failing_since = now;
  }
  ++s.consecutive_errors;
  s.last_error_at = now;
  if (s.in_alarm) {
    return AlarmChange::unchanged;
  }
  if (s.consecutive_errors < kMinFailedProbes || now - *s.failing_since < outage_window) {
    return AlarmChange::pending;
  }
  s.in_alarm = true;
  s.alarm_since = now;
  return AlarmChange::raised;
}

std::string encode_member_status(const MemberStatus& s) {
  json j = {
      {"v", kEncodingVersion},
      {"in_alarm", s.in_alarm},
      {"alarm_since", time_value(s.alarm_since)},
      {"alarm_class", class_value(s.alarm_class)},
      {"failing_since", time_value(s.failing_since)},
      {"consecutive_failures", s.consecutive_failures},
      {"consecutive_successes", s.consecutive_successes},
      {"consecutive_unknown", s.consecutive_unknown},
      {"health_up", s.health_up},
      {"health_since", time_value(s.health_since)},
      {"last_class", class_value(s.last_class)},
      {"last_probe_at", time_value(s.last_probe_at)},
      {"last_success_at", time_value(s.last_success_at)},
      {"last_failure_class", class_value(s.last_failure_class)},
      {"last_failure_at", time_value(s.last_failure_at)},
      {"in_maintenance", s.in_maintenance},
      {"maintenance_until", time_value(s.maintenance_until)},
      {"maintenance_ended_at", time_value(s.maintenance_ended_at)},
  };
  return j.dump();
}

std::optional<MemberStatus> decode_member_status(std::string_view text) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  int version = kEncodingVersion;
  if (!read(j, "v", version) || version > kEncodingVersion) {
    return std::nullopt;
  }
  MemberStatus s;
  const bool ok =
      read(j, "in_alarm", s.in_alarm) && read(j, "alarm_since", s.alarm_since) &&
      read(j, "alarm_class", s.alarm_class) && read(j, "failing_since", s.failing_since) &&
      read(j, "consecutive_failures", s.consecutive_failures) &&
      read(j, "consecutive_successes", s.consecutive_successes) &&
      read(j, "consecutive_unknown", s.consecutive_unknown) && read(j, "health_up", s.health_up) &&
      read(j, "health_since", s.health_since) && read(j, "last_class", s.last_class) &&
      read(j, "last_probe_at", s.last_probe_at) && read(j, "last_success_at", s.last_success_at) &&
      read(j, "last_failure_class", s.last_failure_class) &&
      read(j, "last_failure_at", s.last_failure_at) &&
      read(j, "in_maintenance", s.in_maintenance) &&
      read(j, "maintenance_until", s.maintenance_until) &&
      read(j, "maintenance_ended_at", s.maintenance_ended_at);
  if (!ok) {
    return std::nullopt;
  }
  return s;
}

}  // namespace mailcanary::agent
