// The error budget of one member, as burn rates over two windows (the SRE workbook's
// multi-window, multi-burn-rate alerting): how many probes were good and bad, counted
// in time buckets that cover the long window. Pure: the caller passes wall times.
//
// Objective 99.5% leaves an error budget of 0.5% of the probes. A burn rate of 14.4
// spends it 14.4 times faster than it may, which is a failure ratio of
//   threshold = burn_rate x (1 - objective) = 7.2%.
// A member burns when the failure ratio over BOTH windows is above the threshold and the
// long window is enough to judge: the member has been probed for the whole long window
// and it holds at least burn_min_results results (a few blips in the first minutes after
// a start are not a budget spent), and its failures come from at least two separate runs
// of consecutive failures (one run, a blip or an outage, is the outage window's to
// judge: a partial failure interleaves failures with successes). The long window says
// the failures are not a blip; the short one says they are still happening, and makes the alarm
// clear soon after they stop.
//
// Compact: a bucket is max(short / 5, long / 60) wide (1 minute for 5m/1h), so a member
// keeps at most about 61 pairs of counts whatever its probe interval; they are persisted
// with the member's state (encode_member_status) and survive a restart. A bucket is
// counted whole by a window it overlaps, so the short window may reach back one bucket
// further than its length.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "mailcanary/config/config.hpp"

namespace mailcanary::agent {

struct BurnWindow {
  std::int64_t width_ms = 0;        // bucket width; 0: nothing counted yet
  std::int64_t first_ms = 0;        // start of the oldest bucket kept (ms since the epoch)
  std::vector<std::uint32_t> good;  // per bucket, oldest first, contiguous in time
  std::vector<std::uint32_t> bad;
  std::vector<std::uint32_t> runs;  // failure runs that started in the bucket
  bool operator==(const BurnWindow&) const = default;
};

struct BurnRatios {
  std::uint32_t short_total = 0, short_bad = 0;
  std::uint32_t long_total = 0, long_bad = 0;
  std::uint32_t long_runs = 0;   // failure runs started in the long window
  std::uint32_t short_runs = 0;  // ... and in the short one
  bool covered = false;          // the counts reach back over the whole long window
  double short_ratio() const { return short_total ? double(short_bad) / short_total : 0; }
  double long_ratio() const { return long_total ? double(long_bad) / long_total : 0; }
};

/// burn_rate x (1 - objective); 0 when burn-rate alarms are off (burn_rate = 0).
double burn_threshold(const config::SlgConfig& slg);

/// Counts one probe (good or bad; `new_run`: a bad one after a good one) at wall time
/// `at` (an earlier time than the newest bucket counts into the newest). A changed bucket
/// width (a reload) starts afresh.
void count_probe(BurnWindow& w, const config::SlgConfig& slg, bool good,
                 std::chrono::system_clock::time_point at, bool new_run);

/// The counts of both windows ending at `at`.
BurnRatios burn_ratios(const BurnWindow& w, const config::SlgConfig& slg,
                       std::chrono::system_clock::time_point at);

/// Both windows above the threshold, the long one holding enough results to judge and two
/// failure runs or more.
bool burning(const BurnRatios& r, const config::SlgConfig& slg);

/// The short window above the threshold with two failure runs or more in it: the member
/// fails intermittently right now (its load-balancer health stays DOWN).
bool flapping(const BurnRatios& r, const config::SlgConfig& slg);

}  // namespace mailcanary::agent
