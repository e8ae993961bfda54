// The SLG alarm and load-balancer health state of one member, and the agent-level alarm
// of one mailbox: pure state machines. No clocks, sockets or files; the caller passes the
// probe's class and wall time and gets back the transitions to act on (notify
// Alertmanager, flip /health, update metrics). The state is a plain struct the caller
// persists (encode_member_status) so that it survives restarts.
//
// Not thread-safe: one MemberStatus is updated by one caller at a time.
//
// ## What a probe counts as (verdict())
//   good     ok; late when late_is_failure is false (the mail got through)
//   bad      every class is_target_failure() names; late when late_is_failure is true
//   unknown  mailbox_error: says nothing about the member
//
// ## Rules, applied by observe() in this order
// Each outcome resets the opposite counter, so a flapping member never accumulates:
//   good     consecutive_failures = 0, failing_since cleared, ++consecutive_successes
//   bad      consecutive_successes = 0, failing_since set if unset, ++consecutive_failures
//   unknown  nothing moves except last_probe_at/last_class and ++consecutive_unknown: it
//            neither breaks nor extends a failure run. A run "bad, unknown..., bad" is
//            one run of 2 failures, timed from the first bad probe.
//
// Alarm (paging, slow, hysteresis both ways):
//   raised   on a bad probe when not in alarm, consecutive_failures >= 2 and
//            at - max(failing_since, maintenance_ended_at) >= outage_window,
//            unless the member is in maintenance (then: suppressed, nothing raised).
//   cleared  on a good probe when in alarm and consecutive_successes >= recover_after.
//            Clearing is allowed inside maintenance.
//   pending  a probe moved toward a change that has not happened yet.
// The alarm keeps the class that raised it (alarm_class) until it clears, so the alert's
// labels stay stable while it fires.
//
// Error budget (burn.hpp; a second way to raise the same alarm, alarm_rule says which):
//   every good and bad probe is counted in the member's BurnWindow;
//   raised   on a bad probe when not in alarm and burning(): both windows above
//            burn_rate x (1 - objective), the counts reaching back over the whole long
//            window, holding burn_min_results and at least two separate failure runs. One run
//            however long (a blip, an outage in progress) is the outage window's to judge, so blips
//            and outages alarm exactly as they would without the budget. Not in maintenance
//            (suppressed), nor within burn_short_window after a maintenance window ended or an
//            outage alarm cleared (the short window must first hold only what came after). The
//            ratios at the raise are kept.
//   cleared  on a good probe when raised by burn_rate, consecutive_successes >=
//            recover_after and the short window's ratio is at or below the threshold.
// A member failing one probe in three therefore alarms once and stays in alarm while it
// goes on; one failing one probe in a hundred never burns (1% < 7.2%).
//
// Health (the load-balancer view, fast, not suppressed by maintenance: the LB must still
// drain a broken member):
//   down     on a bad probe when up and consecutive_failures >= health_fail_after, or
//            when burning() (failing on and off too often: the budget alarm's test)
//   up       on a good probe when down, consecutive_successes >= recover_after and the
//            short window not flapping() (above the threshold with two failure runs
//            or more). A member starts UP. So a member losing a third of its mail
//            stays DOWN instead of coming back at each good probe; after one outage run
//            it is back after recover_after good probes.
//
// Maintenance (the caller passes maintenance_end(windows, target, at), i.e. when the
// window covering the probe ends, or nullopt outside maintenance):
//   - failures inside a window are recorded and counted as usual; health moves as usual;
//   - no NEW alarm is raised inside a window (AlarmChange::suppressed);
//   - an alarm already active when the window starts stays active (the outage began
//     before the window; hiding it would hide a real outage); it can clear inside;
//   - after the window, an outage that went on through it is timed from the window's
//     end: it alarms once it has lasted outage_window beyond the end, never at the first
//     probe after the window. The end is the one reported during the window, but never
//     later than the first probe seen outside it (a shortened window, a config reload).
//
// Worked example, outage_window = 15m, health_fail_after = 2, recover_after = 2, a probe
// every 5 minutes, the member breaks just before 10:00:
//   10:00 bad   failures 1, failing_since 10:00   alarm pending,   health pending
//   10:05 bad   failures 2, 5m  < 15m             alarm pending,   health DOWN
//   10:10 bad   failures 3, 10m < 15m             alarm pending
//   10:15 bad   failures 4, 15m >= 15m            alarm RAISED
//   10:20 good  successes 1, failures reset       alarm pending,   health pending
//   10:25 bad   successes reset, failing_since 10:25  alarm unchanged
//   10:30 good  successes 1, failures reset       alarm pending,   health pending
//   10:35 good  successes 2 >= 2                  alarm CLEARED,   health UP
// A single bad probe between good ones raises nothing; with probes every 20 minutes the
// alarm is raised at the 2nd bad probe (20m >= 15m and 2 probes). If the member instead
// keeps failing through a maintenance window 10:02-10:12, 10:05 and 10:10 are recorded
// (health goes DOWN at 10:05), 10:15 is only 3m after the window's end, and the alarm is
// raised at 10:30 (18m after it; 10:25 is 13m).
//
// Time: `at` is wall time. It should be the time the outcome was decided, which is
// non-decreasing per member; an earlier `at` (outcomes decided out of order, a wall
// clock stepped back) is taken as the latest time already seen, so durations never run
// backwards. Continuity is assumed between two consecutive probes however far apart (a
// restart keeps the run: the member was failing at both ends).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "mailcanary/agent/core/burn.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/result.hpp"

namespace mailcanary::agent {

using SysTime = std::chrono::system_clock::time_point;

enum class Verdict { good, bad, unknown };

/// Which rule raised a member's alarm.
enum class AlarmRule { outage, burn_rate };
std::string_view to_string(AlarmRule r);

/// How one probe counts for the alarm and health state (see the table above).
Verdict verdict(probes::ResultClass cls, const config::SlgConfig& slg);

/// The alarm and health state of one member. Flat and copyable, so that it can be
/// persisted field by field or with encode_member_status().
struct MemberStatus {
  // Alarm (paging).
  bool in_alarm = false;
  std::optional<SysTime> alarm_since;              // when it was raised
  std::optional<probes::ResultClass> alarm_class;  // the class that raised it
  std::optional<AlarmRule> alarm_rule;             // the rule that raised it
  double alarm_short_ratio = 0;                    // burn_rate: the ratios when raised
  double alarm_long_ratio = 0;
  // The current run of bad probes.
  std::optional<SysTime> failing_since;  // first bad probe of the run; nullopt: not failing
  int consecutive_failures = 0;
  int consecutive_successes = 0;
  int consecutive_unknown = 0;  // mailbox_error results in a row
  // Health (load balancer).
  bool health_up = true;
  std::optional<SysTime> health_since;  // last up/down change; nullopt: up since the start
  // Last results.
  std::optional<probes::ResultClass> last_class;
  std::optional<SysTime> last_probe_at;
  std::optional<SysTime> last_success_at;
  std::optional<probes::ResultClass> last_failure_class;  // for "DOWN <class> since ..."
  std::optional<SysTime> last_failure_at;
  // Maintenance.
  bool in_maintenance = false;
  std::optional<SysTime> maintenance_until;     // end of the window, while inside
  std::optional<SysTime> maintenance_ended_at;  // end of the last window left
  // Error budget.
  BurnWindow burn;
  std::optional<SysTime> outage_cleared_at;  // the last outage alarm's clearing

  bool operator==(const MemberStatus&) const = default;
};

enum class AlarmChange {
  unchanged,
  pending,     // moved toward raising or clearing, threshold not reached yet
  suppressed,  // the raise threshold is reached, but the member is in maintenance
  raised,
  cleared,
};

enum class HealthChange {
  unchanged,
  pending,  // a bad probe while UP, below health_fail_after
  went_down,
  went_up,
};

/// What one observation changed; the caller notifies on raised/cleared/went_*.
struct Transitions {
  AlarmChange alarm = AlarmChange::unchanged;
  HealthChange health = HealthChange::unchanged;
  bool operator==(const Transitions&) const = default;
};

std::string_view to_string(AlarmChange c);
std::string_view to_string(HealthChange c);

/// Applies one probe result of the member at wall time `at`. `maintenance_until`: the end
/// of the maintenance window covering the member at `at` (maintenance_end()), nullopt
/// when not in maintenance.
Transitions observe(MemberStatus& s, const config::SlgConfig& slg, probes::ResultClass cls,
                    SysTime at, std::optional<SysTime> maintenance_until);

/// Same, when only whether the member is in maintenance is known: a window is then taken
/// to end at the first probe seen outside it.
Transitions observe(MemberStatus& s, const config::SlgConfig& slg, probes::ResultClass cls,
                    SysTime at, bool in_maintenance);

/// The state as a JSON object (times as milliseconds since the epoch, classes as their
/// contract strings), for the state store. Sub-millisecond precision is dropped.
std::string encode_member_status(const MemberStatus& s);

/// The inverse of encode_member_status(); missing keys take their defaults (an older
/// encoding), nullopt when the text is not such an object or a value has the wrong type.
std::optional<MemberStatus> decode_member_status(std::string_view json);

/// The agent-level alarm of one [[mailbox]]: mailbox_error says nothing about the
/// targets, but a mailbox that cannot be read for long hides every outage, so it pages on
/// its own. Maintenance windows (which name targets) do not apply.
///   raised   on a failed read when not in alarm, consecutive_errors >= 2 and
///            at - failing_since >= outage_window (the same rule as a member)
///   cleared  on the first successful read
struct MailboxStatus {
  bool in_alarm = false;
  std::optional<SysTime> alarm_since;
  std::optional<SysTime> failing_since;
  int consecutive_errors = 0;
  std::optional<SysTime> last_error_at;
  std::optional<SysTime> last_success_at;
  std::optional<SysTime> last_read_at;

  bool operator==(const MailboxStatus&) const = default;
};

/// Applies one read of the mailbox: `read_ok` false for a probe classed mailbox_error,
/// true for one whose mailbox side worked (ok, late, junked, lost, bounced). Probes that
/// never reached the mailbox (the SMTP side failed first) are not passed here. `at` is
/// handled as in observe(). Returns raised, cleared, pending or unchanged.
AlarmChange observe_mailbox(MailboxStatus& s, config::Duration outage_window, bool read_ok,
                            SysTime at);

}  // namespace mailcanary::agent
