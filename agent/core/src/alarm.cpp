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

// Whether the burn-rate rule may raise now: not within a short window after a
// maintenance window ended or an outage alarm cleared.
bool burn_may_raise(const MemberStatus& s, const config::SlgConfig& slg, SysTime now) {
  for (const auto& since : {s.maintenance_ended_at, s.outage_cleared_at}) {
    if (since && now < *since + slg.burn_short_window) {
      return false;
    }
  }
  return true;
}

AlarmChange raise(MemberStatus& s, ResultClass cls, SysTime now, AlarmRule rule) {
  if (s.in_maintenance) {
    return AlarmChange::suppressed;
  }
  s.in_alarm = true;
  s.alarm_since = now;
  s.alarm_class = cls;
  s.alarm_rule = rule;
  return AlarmChange::raised;
}

AlarmChange on_good(MemberStatus& s, const config::SlgConfig& slg, SysTime now,
                    HealthChange& health) {
  s.consecutive_failures = 0;
  s.consecutive_unknown = 0;
  s.failing_since.reset();
  ++s.consecutive_successes;
  s.last_success_at = now;
  count_probe(s.burn, slg, true, now, false);

  if (!s.health_up) {
    // Back after recover_after good probes, and not while the member fails on and off
    // in the short window: a load balancer would send it mail it then loses.
    if (s.consecutive_successes >= slg.recover_after &&
        !flapping(burn_ratios(s.burn, slg, now), slg)) {
      s.health_up = true;
      s.health_since = now;
      health = HealthChange::went_up;
    } else {
      health = HealthChange::pending;
    }
  }
  if (!s.in_alarm) {
    return AlarmChange::unchanged;
  }
  if (s.consecutive_successes < slg.recover_after) {
    return AlarmChange::pending;
  }
  const bool by_burn = s.alarm_rule == AlarmRule::burn_rate;
  if (by_burn && burn_ratios(s.burn, slg, now).short_ratio() > burn_threshold(slg)) {
    return AlarmChange::pending;  // still failing too often in the short window
  }
  if (!by_burn) {
    s.outage_cleared_at = now;
  }
  s.in_alarm = false;
  s.alarm_since.reset();
  s.alarm_class.reset();
  s.alarm_rule.reset();
  s.alarm_short_ratio = 0;
  s.alarm_long_ratio = 0;
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
  count_probe(s.burn, slg, false, now, s.consecutive_failures == 1);
  if (s.health_up && burning(burn_ratios(s.burn, slg, now), slg)) {
    s.health_up = false;  // failing on and off too often: the same test as the budget alarm
    s.health_since = now;
    health = HealthChange::went_down;
  }
  if (s.in_alarm) {
    return AlarmChange::unchanged;
  }
  SysTime clock_start = *s.failing_since;
  if (s.maintenance_ended_at) {
    clock_start = std::max(clock_start, *s.maintenance_ended_at);
  }
  if (s.consecutive_failures >= kMinFailedProbes && now - clock_start >= slg.outage_window) {
    return raise(s, cls, now, AlarmRule::outage);
  }
  const BurnRatios r = burn_ratios(s.burn, slg, now);
  if (burning(r, slg) && burn_may_raise(s, slg, now)) {
    const AlarmChange c = raise(s, cls, now, AlarmRule::burn_rate);
    if (c == AlarmChange::raised) {
      s.alarm_short_ratio = r.short_ratio();
      s.alarm_long_ratio = r.long_ratio();
    }
    return c;
  }
  return AlarmChange::pending;
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

std::string_view to_string(AlarmRule r) {
  return r == AlarmRule::burn_rate ? "burn_rate" : "outage";
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

}  // namespace mailcanary::agent
