#include "mailcanary/agent/core/burn.hpp"

#include <algorithm>

namespace mailcanary::agent {
namespace {

std::int64_t ms_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t width_of(const config::SlgConfig& slg) {
  const std::int64_t by_short = slg.burn_short_window.count() / 5;
  const std::int64_t by_long = slg.burn_long_window.count() / 60;
  return std::max<std::int64_t>({by_short, by_long, 1});
}

std::int64_t floor_to(std::int64_t t, std::int64_t width) {
  const std::int64_t q = t / width;
  return (q * width > t ? q - 1 : q) * width;
}

struct Sums {
  std::uint32_t total = 0, bad = 0, runs = 0;
};

// The buckets a window of `length` ending at `at` overlaps.
Sums sum(const BurnWindow& w, std::int64_t at, std::int64_t length) {
  Sums out;
  for (std::size_t i = 0; i < w.good.size(); ++i) {
    const std::int64_t start = w.first_ms + static_cast<std::int64_t>(i) * w.width_ms;
    if (start + w.width_ms > at - length && start <= at) {
      out.total += w.good[i] + w.bad[i];
      out.bad += w.bad[i];
      out.runs += i < w.runs.size() ? w.runs[i] : 0;
    }
  }
  return out;
}

}  // namespace

double burn_threshold(const config::SlgConfig& slg) {
  return slg.burn_rate * (1.0 - slg.objective);
}

void count_probe(BurnWindow& w, const config::SlgConfig& slg, bool good,
                 std::chrono::system_clock::time_point at, bool new_run) {
  const std::int64_t width = width_of(slg);
  const std::int64_t now = ms_of(at);
  // Enough buckets to reach back over the whole long window (burn_ratios' `covered`)
  // even when it is not a multiple of the width.
  const std::size_t keep =
      static_cast<std::size_t>((slg.burn_long_window.count() + width - 1) / width) + 1;
  std::int64_t bucket = floor_to(now, width);
  if (w.width_ms != width || w.good.empty()) {
    w = BurnWindow{width, bucket, {0}, {0}, {0}};
  }
  const std::int64_t newest = w.first_ms + static_cast<std::int64_t>(w.good.size() - 1) * width;
  bucket = std::max(bucket, newest);
  if (static_cast<std::size_t>((bucket - newest) / width) >= keep) {
    w = BurnWindow{width, bucket, {0}, {0}, {0}};  // silent longer than the long window
  }
  while (w.first_ms + static_cast<std::int64_t>(w.good.size() - 1) * width < bucket) {
    w.good.push_back(0);
    w.bad.push_back(0);
    w.runs.push_back(0);
  }
  if (w.good.size() > keep) {
    const auto drop = static_cast<std::ptrdiff_t>(w.good.size() - keep);
    w.good.erase(w.good.begin(), w.good.begin() + drop);
    w.bad.erase(w.bad.begin(), w.bad.begin() + drop);
    w.runs.erase(w.runs.begin(), w.runs.begin() + drop);
    w.first_ms += drop * width;
  }
  ++(good ? w.good : w.bad).back();
  if (!good && new_run) {
    ++w.runs.back();
  }
}

BurnRatios burn_ratios(const BurnWindow& w, const config::SlgConfig& slg,
                       std::chrono::system_clock::time_point at) {
  BurnRatios r;
  if (w.width_ms == 0) {
    return r;
  }
  const std::int64_t now = ms_of(at);
  const Sums shorter = sum(w, now, slg.burn_short_window.count());
  const Sums longer = sum(w, now, slg.burn_long_window.count());
  r.short_total = shorter.total;
  r.short_bad = shorter.bad;
  r.long_total = longer.total;
  r.long_bad = longer.bad;
  r.long_runs = longer.runs;
  r.short_runs = shorter.runs;
  r.covered = now - w.first_ms >= slg.burn_long_window.count();
  return r;
}

bool burning(const BurnRatios& r, const config::SlgConfig& slg) {
  const double threshold = burn_threshold(slg);
  return threshold > 0 && r.covered &&
         r.long_total >= static_cast<std::uint32_t>(slg.burn_min_results) && r.long_runs >= 2 &&
         r.long_ratio() > threshold && r.short_ratio() > threshold;
}

bool flapping(const BurnRatios& r, const config::SlgConfig& slg) {
  const double threshold = burn_threshold(slg);
  return threshold > 0 && r.short_runs >= 2 && r.short_ratio() > threshold;
}

}  // namespace mailcanary::agent
