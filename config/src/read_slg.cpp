#include <limits>

#include "sections.hpp"

namespace mailcanary::config::detail {

void overlay_slg(TableReader& r, SlgConfig& out) {
  constexpr int kNoMax = std::numeric_limits<int>::max();
  r.read("latency_slo", out.latency_slo, DurationRule::positive);
  r.read("lost_after", out.lost_after, DurationRule::positive);
  r.read("outage_window", out.outage_window, DurationRule::non_negative);
  r.read("recover_after", out.recover_after, 1, kNoMax);
  r.read("health_fail_after", out.health_fail_after, 1, kNoMax);
  r.read("late_is_failure", out.late_is_failure);
}

void check_slg(TableReader& r, const SlgConfig& merged) {
  if ((r.has("latency_slo") || r.has("lost_after")) && merged.lost_after < merged.latency_slo) {
    r.error("lost_after",
            "must not be shorter than latency_slo (" + format_duration(merged.latency_slo) + ")");
  }
}

void read_slg(TableReader& r, SlgConfig& out) {
  overlay_slg(r, out);
  r.reject_unknown();
  check_slg(r, out);
}

}  // namespace mailcanary::config::detail
