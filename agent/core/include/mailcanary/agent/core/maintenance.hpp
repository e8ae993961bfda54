// Maintenance windows: is a target in maintenance at a given wall time, and until when.
// Pure apart from reading time zone data: the system's tz database (/usr/share/zoneinfo)
// through Howard Hinnant's date library (libhowardhinnant-date-dev, built with
// USE_OS_TZDB). Thread-safe (see TimeZone).
//
// Rules
//   - A window applies to a target when its `targets` holds the target's name (exact,
//     case-sensitive) or "*".
//   - Absolute windows cover [start, end).
//   - Weekly windows cover [start, start + duration) where start is the wall time
//     `weekly` ("Sun 02:00") in `time_zone`, every week. Duration is elapsed time, so a
//     window may cross midnight and the week's end (Sat 23:00 + 3h covers Sun 01:30).
//   - Daylight saving changes: a start that does not exist on the day (Berlin, last
//     Sunday of March, 02:00-03:00 is skipped) is read in the offset before the change,
//     so 02:00 begins when the clock jumps (03:00 CEST) and 02:30 at 03:30 CEST; a start
//     that occurs twice (last Sunday of October, 02:00-03:00 runs twice) begins at its
//     first occurrence (02:00 CEST). Either way the window lasts `duration` of real
//     time, like a job a cron daemon starts at that wall time.
//   - A zone the tz database does not know, or whose file cannot be read, puts nobody in
//     maintenance: alarms are never silenced by accident. The config loader already
//     rejects names the tz database does not know.
//
// Why not std::chrono::locate_zone: libstdc++ 12 (Debian 12) has no tzdb support, and
// POSIX localtime_r/mktime work through the process-global TZ variable.
//
// Known limitation of the date library with USE_OS_TZDB (3.0.1; upstream issue #563): it
// reads the transitions listed in the zone file and ignores the file's POSIX TZ footer.
// Debian's zone files list transitions up to 2037, so after a zone's last listed
// transition its offset stays that of that transition (Berlin: CET all year from
// 2037-10-25 on). Times before then are exact.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailcanary/config/config.hpp"

namespace date {
class time_zone;
}

namespace mailcanary::agent {

using SysTime = std::chrono::system_clock::time_point;

/// Whether window `w` names `target` (or "*").
bool applies_to(const config::MaintenanceWindow& w, const std::string& target);

/// The occurrence [start, end) of `w` that covers `at`, if any (the target is not looked
/// at). When two occurrences of a weekly window overlap (a 7d window across a DST
/// change) the one ending later.
std::optional<std::pair<SysTime, SysTime>> occurrence_covering(const config::MaintenanceWindow& w,
                                                               SysTime at);

/// Whether any window that applies to `target` covers `at`.
bool in_maintenance(const std::vector<config::MaintenanceWindow>& windows,
                    const std::string& target, SysTime at);

/// When the maintenance of `target` that covers `at` ends: the first time >= `at` not
/// covered, following windows that overlap or touch (at most 32 in a row). nullopt when
/// `target` is not in maintenance at `at`.
std::optional<SysTime> maintenance_end(const std::vector<config::MaintenanceWindow>& windows,
                                       const std::string& target, SysTime at);

/// A time zone: UTC, or a zone of the system's tz database. A thin view of a
/// date::time_zone, which the date library keeps for the process's lifetime; cheap to
/// copy.
///
/// Thread safety: every member may be called from any number of threads at once. The
/// date library builds its zone list once (a function-local static), loads each zone's
/// file once under a std::call_once, and never changes either afterwards (with
/// USE_OS_TZDB there is no reload_tzdb()).
class TimeZone {
 public:
  /// Offset 0 for all times; needs no tz database.
  static TimeZone utc();

  /// "UTC", or a zone the tz database lists ("Europe/Berlin", "Etc/GMT+5"), its file read
  /// and parsed. nullopt for any other name (also paths such as "../x" or
  /// "/usr/share/zoneinfo/Europe/Berlin"), or when the file cannot be read. Never throws.
  static std::optional<TimeZone> locate(std::string_view name);

  /// Local time minus UTC at `t` (+3600 s for CET).
  std::chrono::seconds offset_at(std::chrono::sys_seconds t) const;

  /// The UTC time at which the wall clock shows `t`. Skipped wall times (spring forward)
  /// are read in the offset before the change, which lands after the change (02:30 on
  /// Berlin's spring-forward day is 03:30 CEST); wall times that occur twice map to the
  /// earlier one.
  std::chrono::sys_seconds to_sys(std::chrono::local_seconds t) const;

 private:
  explicit TimeZone(const date::time_zone* zone) : zone_(zone) {}
  const date::time_zone* zone_;  // nullptr: UTC
};

}  // namespace mailcanary::agent
