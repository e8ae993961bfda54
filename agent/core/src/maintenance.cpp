#include "mailcanary/agent/core/maintenance.hpp"

#include <date/tz.h>

#include <algorithm>
#include <exception>

namespace mailcanary::agent {

using std::chrono::days;
using std::chrono::local_days;
using std::chrono::local_seconds;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;

// --- time zones --------------------------------------------------------------------

TimeZone TimeZone::utc() {
  return TimeZone(nullptr);
}

std::optional<TimeZone> TimeZone::locate(std::string_view name) {
  if (name == "UTC") {
    return utc();
  }
  // Zone names only: the date library lists every file under /usr/share/zoneinfo except a
  // few it knows, and aborts (an assert) on reading one that is not TZif, such as the
  // zonenow.tab of newer tzdata releases.
  if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                             "0123456789/_+-") != std::string_view::npos) {
    return std::nullopt;
  }
  try {
    const date::time_zone* zone = date::locate_zone(name);
    // The library reads a zone's file on its first use: do it here, so that a file that
    // cannot be read fails now rather than in offset_at().
    (void)zone->get_info(sys_seconds{});
    return TimeZone(zone);
  } catch (const std::exception&) {
    return std::nullopt;  // not listed, or its file unreadable
  }
}

seconds TimeZone::offset_at(sys_seconds t) const {
  return zone_ ? zone_->get_info(t).offset : seconds(0);
}

sys_seconds TimeZone::to_sys(local_seconds t) const {
  const sys_seconds as_utc{t.time_since_epoch()};
  if (!zone_) {
    return as_utc;
  }
  // `first` is the period before the change for a skipped wall time, and the earlier of
  // the two for a repeated one: reading `t` in its offset gives both rules of to_sys().
  return as_utc - zone_->get_info(date::local_seconds{t.time_since_epoch()}).first.offset;
}

// --- windows -----------------------------------------------------------------------

bool applies_to(const config::MaintenanceWindow& w, const std::string& target) {
  return std::any_of(w.targets.begin(), w.targets.end(),
                     [&](const std::string& t) { return t == "*" || t == target; });
}

std::optional<std::pair<SysTime, SysTime>> occurrence_covering(const config::MaintenanceWindow& w,
                                                               SysTime at) {
  if (w.start && w.end) {
    if (*w.start <= at && at < *w.end) {
      return std::pair<SysTime, SysTime>(*w.start, *w.end);
    }
    return std::nullopt;
  }
  if (!w.weekly_weekday || *w.weekly_weekday < 0 || *w.weekly_weekday > 6 || w.weekly_minute < 0 ||
      w.weekly_minute >= 24 * 60 || w.duration <= config::Duration(0)) {
    return std::nullopt;
  }
  const auto tz = TimeZone::locate(w.time_zone);
  if (!tz) {
    return std::nullopt;
  }
  const auto at_s = std::chrono::floor<seconds>(at);
  const auto today =
      local_days(std::chrono::floor<days>(at_s + tz->offset_at(at_s)).time_since_epoch());
  std::optional<std::pair<SysTime, SysTime>> best;
  // A window lasts at most a week (the config loader checks), so its start lies within
  // the last 8 local days; one day ahead covers odd offsets.
  for (int back = -1; back <= 8; ++back) {
    const local_days day = today - days(back);
    if (static_cast<int>(std::chrono::weekday(day).c_encoding()) != *w.weekly_weekday) {
      continue;
    }
    const SysTime start = tz->to_sys(day + minutes(w.weekly_minute));
    const SysTime end = start + w.duration;
    if (start <= at && at < end && (!best || end > best->second)) {
      best = std::pair<SysTime, SysTime>(start, end);
    }
  }
  return best;
}

namespace {

// The latest end among the windows for `target` covering `at`.
std::optional<SysTime> covering_end(const std::vector<config::MaintenanceWindow>& windows,
                                    const std::string& target, SysTime at) {
  std::optional<SysTime> end;
  for (const auto& w : windows) {
    if (!applies_to(w, target)) {
      continue;
    }
    if (auto occ = occurrence_covering(w, at); occ && (!end || occ->second > *end)) {
      end = occ->second;
    }
  }
  return end;
}

}  // namespace

bool in_maintenance(const std::vector<config::MaintenanceWindow>& windows,
                    const std::string& target, SysTime at) {
  return covering_end(windows, target, at).has_value();
}

std::optional<SysTime> maintenance_end(const std::vector<config::MaintenanceWindow>& windows,
                                       const std::string& target, SysTime at) {
  constexpr int kMaxChained = 32;
  auto end = covering_end(windows, target, at);
  for (int i = 1; end && i < kMaxChained; ++i) {
    auto next = covering_end(windows, target, *end);
    if (!next) {
      break;
    }
    end = next;  // later than *end: a covering window ends after the time it covers
  }
  return end;
}

}  // namespace mailcanary::agent
