// Times and time zones of [[maintenance]] windows.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace mailcanary::config::detail {

/// "2026-12-01T02:00:00Z", "2026-12-01T04:00:00+02:00" (optional fraction, dropped).
std::optional<std::chrono::sys_seconds> parse_rfc3339(std::string_view text);

/// Days since the epoch plus a time of day minus a UTC offset, if all fields are valid.
std::optional<std::chrono::sys_seconds> make_utc_time(int year, int month, int day, int hour,
                                                      int minute, int second, int offset_minutes);

struct WeeklyTime {
  int weekday;  // 0 = Sunday
  int minute;   // after midnight
};

/// "Sun 02:00" (day as "Sun" or "Sunday", any case; 24-hour time).
std::optional<WeeklyTime> parse_weekly(std::string_view text);

/// "UTC", or a zone of the system tz database (/usr/share/zoneinfo, through the date
/// library) whose file reads ("Europe/Berlin").
bool time_zone_exists(std::string_view name);

}  // namespace mailcanary::config::detail
