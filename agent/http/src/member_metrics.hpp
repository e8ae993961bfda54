// The per-member series of the exporter (probes by class, latency and stage histograms,
// health, alarm and maintenance gauges, hop delays, skipped slots), kept in plain
// structs and written straight into the text format. With 10,000 members they are
// hundreds of thousands of lines: a generic registry copying every label set on each
// scrape was several times too slow. Not thread-safe: Exporter locks around it.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/result.hpp"

namespace mailcanary::agent {

class MemberMetrics {
 public:
  /// `instance`: added as a label when not empty. `per_member_histograms` false: the
  /// latency and stage histograms are per target (no member label).
  MemberMetrics(std::string instance, bool per_member_histograms);

  void record(const ProbeResult& r);
  void set_status(const std::string& target, const std::string& member, const MemberStatus& s);
  void count_skipped(const std::string& target, const std::string& member);
  /// Removes every series of the member (and its target's histograms with the last one).
  void retire(const std::string& target, const std::string& member);

  /// Appends every family (HELP, TYPE, samples) in the text format.
  void write(std::string& out) const;

 private:
  struct Histogram {
    const std::vector<double>* bounds = nullptr;
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; last: above all
    double sum = 0;
    std::uint64_t count = 0;
    void observe(double v);
  };
  struct Series {              // what has a histogram: a member, or a target
    std::string labels;        // pre-rendered, sorted: [instance=..,][member=..,]target=..
    std::string stage_prefix;  // labels before "stage", with its trailing comma
    std::string stage_suffix;  // labels after "stage", with its leading comma
    Histogram latency;
    std::map<probes::Stage, Histogram> stages;
  };
  static constexpr std::size_t kClasses =
      static_cast<std::size_t>(probes::ResultClass::mailbox_error) + 1;
  struct Member {
    Series series;
    std::string target;
    std::array<double, kClasses> probes{};
    double up = 1;
    double alarm = 0;
    double maintenance = 0;
    double last_success = 0;
    std::optional<double> last_delivery;
    std::vector<double> hops;  // the last canary's hop delays; NaN: unknown
    double skipped = 0;
  };

  Member& member(const std::string& target, const std::string& member);
  Series& histograms(Member& m);
  Series make_series(const std::string* member, const std::string& target) const;
  void write_histogram(std::string& out, const char* name, const Series& s, const Histogram& h,
                       const std::string* stage) const;

  std::string instance_;
  bool per_member_histograms_;
  std::map<std::pair<std::string, std::string>, Member> members_;
  std::map<std::string, Series> targets_;  // per-target histograms
};

}  // namespace mailcanary::agent
