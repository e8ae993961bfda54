// Maintenance windows: is a target in maintenance at a given wall time, and until when.
// Pure apart from reading time zone data (TZif files under /usr/share/zoneinfo, read once
// per zone name and kept for the process's lifetime). Thread-safe.
//
// Rules
//   - A window applies to a target when its `targets` holds the target's name (exact,
//     case-sensitive) or "*".
//   - Absolute windows cover [start, end).
//   - Weekly windows cover [start, start + duration) where start is the wall time
//     `weekly` ("Sun 02:00") in `time_zone`, every week. Duration is elapsed time, so a
//     window may cross midnight and the week's end (Sat 23:00 + 3h covers Sun 01:30).
//   - Daylight saving changes: a start that does not exist on the day (Berlin, last
//     Sunday of March, 02:00-03:00 is skipped) begins when the clock jumps, i.e. at
//     03:00 CEST; a start that occurs twice (last Sunday of October, 02:00-03:00 runs
//     twice) begins at its first occurrence (02:00 CEST). Either way the window lasts
//     `duration` of real time, like a job a cron daemon starts at that wall time.
//   - A zone whose data cannot be read (missing or corrupt file) puts nobody in
//     maintenance: alarms are never silenced by accident. The config loader already
//     rejects unknown zone names.
//
// Why not std::chrono::locate_zone: libstdc++ 12 (Debian 12) has no tzdb support, and
// POSIX localtime_r/mktime work through the process-global TZ variable. TimeZone below is
// a small, bounded reader of the TZif format (RFC 8536) and of the POSIX TZ string in its
// footer, which governs times after the file's last transition.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailcanary/config/config.hpp"

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

/// A time zone: UTC offsets over time, from a TZif file (RFC 8536, versions 1-4) or a POSIX
/// TZ string. Leap second records are ignored (times are POSIX times, as everywhere in the
/// agent). Cheap to copy (shared immutable data).
class TimeZone {
 public:
  /// Offset 0 for all times.
  static TimeZone utc();

  /// Parses the content of a TZif file. nullopt when it is malformed, inconsistent or
  /// larger than the limits (1 MiB, 100000 transitions, 256 types).
  static std::optional<TimeZone> from_tzif(std::string_view bytes);

  /// Parses a POSIX TZ string as found in TZif footers, e.g. "CET-1CEST,M3.5.0,M10.5.0/3"
  /// (with RFC 8536's extensions: rule times from -167h to 167h). nullopt when invalid.
  static std::optional<TimeZone> from_posix(std::string_view tz);

  /// "UTC", or the TZif file `dir`/`name`. nullopt for a name with characters other than
  /// letters, digits and "/_+-", an absolute name, or a file that does not parse.
  static std::optional<TimeZone> load(const std::string& name,
                                      const std::filesystem::path& dir = "/usr/share/zoneinfo");

  /// The same as load(name) with the default dir, cached per name for the process's
  /// lifetime (a failure too). Thread-safe.
  static std::shared_ptr<const TimeZone> cached(const std::string& name);

  /// Local time minus UTC at `t` (+3600 s for CET).
  std::chrono::seconds offset_at(std::chrono::sys_seconds t) const;

  /// The UTC time at which the wall clock shows `t`. Skipped wall times (spring forward)
  /// map to the same wall time in the offset before the change, which lies after the
  /// change (02:30 on Berlin's spring-forward day is 03:30 CEST); wall times that occur
  /// twice map to the earlier one. Assumes offset changes are more than two days apart.
  std::chrono::sys_seconds to_sys(std::chrono::local_seconds t) const;

  struct Data;

 private:
  explicit TimeZone(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

}  // namespace mailcanary::agent
