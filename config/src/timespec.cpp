#include "timespec.hpp"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <string>

namespace mailcanary::config::detail {
namespace {

constexpr int kHoursPerDay = 24;
constexpr int kMinutesPerHour = 60;
constexpr int kSecondsPerMinute = 60;

// `count` decimal digits at `pos`, or -1.
int digits(std::string_view text, std::size_t pos, std::size_t count) {
  if (pos + count > text.size()) {
    return -1;
  }
  int value = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return -1;
    }
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

bool at(std::string_view text, std::size_t pos, std::string_view chars) {
  return pos < text.size() && chars.find(text[pos]) != std::string_view::npos;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == y; });
}

}  // namespace

std::optional<std::chrono::sys_seconds> make_utc_time(int year, int month, int day, int hour,
                                                      int minute, int second, int offset_minutes) {
  using namespace std::chrono;
  const year_month_day date{std::chrono::year{year},
                            std::chrono::month{static_cast<unsigned>(month)},
                            std::chrono::day{static_cast<unsigned>(day)}};
  if (month < 1 || day < 1 || !date.ok() || hour < 0 || hour >= kHoursPerDay || minute < 0 ||
      minute >= kMinutesPerHour || second < 0 || second >= kSecondsPerMinute) {
    return std::nullopt;
  }
  return sys_days{date} + hours{hour} + minutes{minute} + seconds{second} - minutes{offset_minutes};
}

std::optional<std::chrono::sys_seconds> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  const int year = digits(text, 0, 4);
  const int month = digits(text, 5, 2);
  const int day = digits(text, 8, 2);
  const int hour = digits(text, 11, 2);
  const int minute = digits(text, 14, 2);
  const int second = digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 ||
      !at(text, 4, "-") || !at(text, 7, "-") || !at(text, 10, "Tt") || !at(text, 13, ":") ||
      !at(text, 16, ":")) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  if (at(text, pos, ".")) {
    const std::size_t frac_start = ++pos;
    while (at(text, pos, "0123456789")) {
      ++pos;
    }
    if (pos == frac_start) {
      return std::nullopt;
    }
  }
  int offset = 0;
  if (at(text, pos, "Zz") && pos + 1 == text.size()) {
    offset = 0;
  } else if (at(text, pos, "+-") && pos + 6 == text.size() && at(text, pos + 3, ":")) {
    const int oh = digits(text, pos + 1, 2);
    const int om = digits(text, pos + 4, 2);
    if (oh < 0 || om < 0 || oh >= kHoursPerDay || om >= kMinutesPerHour) {
      return std::nullopt;
    }
    offset = (text[pos] == '-' ? -1 : 1) * (oh * kMinutesPerHour + om);
  } else {
    return std::nullopt;
  }
  return make_utc_time(year, month, day, hour, minute, second, offset);
}

std::optional<WeeklyTime> parse_weekly(std::string_view text) {
  static constexpr std::array<std::string_view, 7> kDays{
      "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
  const std::size_t space = text.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view day = text.substr(0, space);
  const std::string_view time = text.substr(space + 1);
  std::optional<int> weekday;
  for (std::size_t i = 0; i < kDays.size(); ++i) {
    if (equals_ignoring_case(day, kDays[i]) || equals_ignoring_case(day, kDays[i].substr(0, 3))) {
      weekday = static_cast<int>(i);
    }
  }
  const int hour = digits(time, 0, 2);
  const int minute = digits(time, 3, 2);
  if (!weekday || time.size() != 5 || time[2] != ':' || hour < 0 || hour >= kHoursPerDay ||
      minute < 0 || minute >= kMinutesPerHour) {
    return std::nullopt;
  }
  return WeeklyTime{*weekday, hour * kMinutesPerHour + minute};
}

bool time_zone_exists(std::string_view name) {
  if (name == "UTC") {
    return true;
  }
  // The same test as the agent's TimeZone::locate(), so that every zone accepted here
  // works there. Zone names only: the date library lists every file under
  // /usr/share/zoneinfo except a few it knows, and aborts (an assert) on reading one that
  // is not TZif, such as the zonenow.tab of newer tzdata releases.
  if (name.empty() || name.find_first_not_of(
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") !=
                          std::string_view::npos) {
    return false;
  }
  try {
    (void)date::locate_zone(name)->get_info(std::chrono::sys_seconds{});  // reads its file
    return true;
  } catch (const std::exception&) {
    return false;  // not listed, or its file unreadable
  }
}

}  // namespace mailcanary::config::detail
