#include "sections.hpp"
#include "text.hpp"
#include "timespec.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr const char* kTimeExample = "an RFC 3339 time like \"2026-12-01T02:00:00Z\"";

// A string, or a TOML offset date-time (start = 2026-12-01T02:00:00Z).
std::optional<std::chrono::sys_seconds> read_time(TableReader& r, std::string_view key) {
  const toml::node* node = r.node(key);
  if (!node) {
    return std::nullopt;
  }
  if (const auto* s = node->as_string()) {
    auto time = parse_rfc3339(s->get());
    if (!time) {
      r.error(key, std::string("expected ") + kTimeExample + ", got " + in_quotes(s->get()));
    }
    return time;
  }
  if (const auto* dt = node->as_date_time(); dt && dt->get().offset) {
    const toml::date_time& v = dt->get();
    return make_utc_time(v.date.year, v.date.month, v.date.day, v.time.hour, v.time.minute,
                         v.time.second, v.offset->minutes);
  }
  const std::string got =
      node->is_date_time() ? "a date-time without offset" : std::string(type_name(*node));
  r.error(key, std::string("expected ") + kTimeExample + ", got " + got);
  return std::nullopt;
}

}  // namespace

MaintenanceWindow read_maintenance(TableReader& r, const LoadContext& ctx) {
  constexpr auto kWeek = std::chrono::hours(7 * 24);
  MaintenanceWindow w;
  w.where = r.where();
  r.require("targets");
  auto targets = r.string_items("targets");
  w.start = read_time(r, "start");
  w.end = read_time(r, "end");
  std::string weekly;
  const bool has_weekly = r.read("weekly", weekly);
  const bool has_duration = r.read("duration", w.duration, DurationRule::positive);
  const bool has_zone = r.read("time_zone", w.time_zone);
  r.reject_unknown();

  if (targets) {
    if (targets->empty()) {
      r.error("targets", "must not be empty (use [\"*\"] for all targets)");
    }
    for (const auto& item : *targets) {
      w.targets.push_back(item.value);
    }
  }
  ctx.sources.maintenance_targets.push_back(targets ? std::move(*targets)
                                                    : std::vector<StringItem>{});

  const bool absolute = r.has("start") || r.has("end");
  const bool recurring = r.has("weekly") || r.has("duration");
  if (absolute && recurring) {
    r.error_here("set either start/end or weekly/duration, not both");
  } else if (!absolute && !recurring) {
    r.error_here("set start and end, or weekly and duration");
  } else if (absolute) {
    r.require("start");
    r.require("end");
    if (w.start && w.end && *w.start >= *w.end) {
      r.error("end", "must be later than start");
    }
  } else {
    r.require("weekly");
    r.require("duration");
  }
  if (has_weekly) {
    if (auto when = parse_weekly(weekly)) {
      w.weekly_weekday = when->weekday;
      w.weekly_minute = when->minute;
    } else {
      r.error("weekly", "expected a day and time like \"Sun 02:00\", got " + in_quotes(weekly));
    }
  }
  if (has_duration && w.duration > kWeek) {
    r.error("duration", "must be at most 7d, got " + in_quotes(format_duration(w.duration)));
  }
  if (has_zone && !time_zone_exists(w.time_zone)) {
    r.error("time_zone", "unknown time zone " + in_quotes(w.time_zone) +
                             " (expected \"UTC\" or a name under /usr/share/zoneinfo)");
  }
  return w;
}

}  // namespace mailcanary::config::detail
