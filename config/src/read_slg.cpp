#include <charconv>
#include <limits>

#include "sections.hpp"

namespace mailcanary::config::detail {
namespace {

// objective = "99.5%": a percentage above 0 and below 100.
void read_objective(TableReader& r, double& out) {
  const toml::node* n = r.node("objective");
  if (!n) {
    return;
  }
  const auto* s = n->as_string();
  const std::string text = s ? s->get() : "";
  double percent = 0;
  const char* end = text.data() + text.size();
  const bool has_sign = !text.empty() && text.back() == '%';
  const auto [p, ec] = std::from_chars(text.data(), has_sign ? end - 1 : end, percent);
  if (!s || !has_sign || ec != std::errc() || p != end - 1 || !(percent > 0 && percent < 100)) {
    r.error("objective", "must be a percentage above 0 and below 100, like \"99.5%\"");
    return;
  }
  out = percent / 100;
}

// burn_rate = 14.4: a number, 0 (off) or more.
void read_burn_rate(TableReader& r, double& out) {
  const toml::node* n = r.node("burn_rate");
  if (!n) {
    return;
  }
  std::optional<double> value;
  if (const auto* f = n->as_floating_point()) {
    value = f->get();
  } else if (const auto* i = n->as_integer()) {
    value = static_cast<double>(i->get());
  }
  if (!value || !(*value >= 0) || *value > 1e6) {
    r.error("burn_rate", "must be a number, 0 (no burn-rate alarms) or more, like 14.4");
    return;
  }
  out = *value;
}

}  // namespace

void overlay_slg(TableReader& r, SlgConfig& out) {
  constexpr int kNoMax = std::numeric_limits<int>::max();
  r.read("latency_slo", out.latency_slo, DurationRule::positive);
  r.read("lost_after", out.lost_after, DurationRule::positive);
  r.read("outage_window", out.outage_window, DurationRule::non_negative);
  r.read("recover_after", out.recover_after, 1, kNoMax);
  r.read("health_fail_after", out.health_fail_after, 1, kNoMax);
  r.read("late_is_failure", out.late_is_failure);
  read_objective(r, out.objective);
  read_burn_rate(r, out.burn_rate);
  r.read("burn_long_window", out.burn_long_window, DurationRule::positive);
  r.read("burn_short_window", out.burn_short_window, DurationRule::positive);
  r.read("burn_min_results", out.burn_min_results, 1, kNoMax);
}

void check_slg(TableReader& r, const SlgConfig& merged) {
  if ((r.has("latency_slo") || r.has("lost_after")) && merged.lost_after < merged.latency_slo) {
    r.error("lost_after",
            "must not be shorter than latency_slo (" + format_duration(merged.latency_slo) + ")");
  }
  if ((r.has("burn_short_window") || r.has("burn_long_window")) &&
      merged.burn_short_window >= merged.burn_long_window) {
    r.error("burn_short_window", "must be shorter than burn_long_window (" +
                                     format_duration(merged.burn_long_window) + ")");
  }
  if ((r.has("burn_rate") || r.has("objective")) &&
      merged.burn_rate * (1 - merged.objective) >= 1) {
    r.error(r.has("burn_rate") ? "burn_rate" : "objective",
            "burn_rate x (1 - objective) must be below 1 (a failure ratio above 100% never "
            "happens); lower burn_rate or raise objective");
  }
}

void read_slg(TableReader& r, SlgConfig& out) {
  overlay_slg(r, out);
  r.reject_unknown();
  check_slg(r, out);
}

}  // namespace mailcanary::config::detail
