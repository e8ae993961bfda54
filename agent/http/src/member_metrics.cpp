#include "member_metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "text_format.hpp"

namespace mailcanary::agent {
namespace {

using text_format::append_count;
using text_format::append_header;
using text_format::append_label;
using text_format::append_number;

// Mail-flow latency: 50 ms on a LAN to 30 minutes through a congested queue.
const std::vector<double> kLatencyBuckets{0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,   10,
                                          30,   60,  120,  300, 600, 1200, 1800};
// One SMTP stage: a millisecond on loopback to a minute for a stalling server.
const std::vector<double> kStageBuckets{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,     2.5,  5,     10,   30,  60};

constexpr const char* kProbes = "mailcanary_probes_total";
constexpr const char* kLatency = "mailcanary_delivery_latency_seconds";
constexpr const char* kStage = "mailcanary_smtp_stage_duration_seconds";

std::vector<std::string> bound_texts(const std::vector<double>& bounds) {
  std::vector<std::string> out;
  for (double b : bounds) {
    std::string s;
    append_number(s, b);
    out.push_back(std::move(s));
  }
  out.push_back("+Inf");
  return out;
}

const std::vector<std::string>& le_texts(const std::vector<double>* bounds) {
  static const std::vector<std::string> latency = bound_texts(kLatencyBuckets);
  static const std::vector<std::string> stage = bound_texts(kStageBuckets);
  return bounds == &kLatencyBuckets ? latency : stage;
}

// name{prefix labels} value\n
void sample(std::string& out, const char* name, const char* prefix, const std::string& labels,
            double value) {
  out += name;
  out += '{';
  out += prefix;
  out += labels;
  out += "} ";
  append_number(out, value);
  out += '\n';
}

}  // namespace

void MemberMetrics::Histogram::observe(double v) {
  const auto it = std::lower_bound(bounds->begin(), bounds->end(), v);  // v <= bound
  ++counts[static_cast<std::size_t>(it - bounds->begin())];
  sum += v;
  ++count;
}

MemberMetrics::MemberMetrics(std::string instance, bool per_member_histograms)
    : instance_(std::move(instance)), per_member_histograms_(per_member_histograms) {}

MemberMetrics::Series MemberMetrics::make_series(const std::string* member,
                                                 const std::string& target) const {
  Series s;
  if (!instance_.empty()) {
    append_label(s.stage_prefix, "instance", instance_);
    s.stage_prefix += ',';
  }
  if (member) {
    append_label(s.stage_prefix, "member", *member);
    s.stage_prefix += ',';
  }
  s.stage_suffix = ",";
  append_label(s.stage_suffix, "target", target);
  s.labels = s.stage_prefix + s.stage_suffix.substr(1);
  s.latency.bounds = &kLatencyBuckets;
  s.latency.counts.assign(kLatencyBuckets.size() + 1, 0);
  return s;
}

MemberMetrics::Member& MemberMetrics::member(const std::string& target, const std::string& member) {
  auto [it, added] = members_.try_emplace({target, member});
  if (added) {
    it->second.series = make_series(&member, target);
    it->second.target = target;
  }
  return it->second;
}

MemberMetrics::Series& MemberMetrics::histograms(Member& m) {
  if (per_member_histograms_) {
    return m.series;
  }
  auto [it, added] = targets_.try_emplace(m.target);
  if (added) {
    it->second = make_series(nullptr, m.target);
  }
  return it->second;
}

void MemberMetrics::record(const ProbeResult& r) {
  Member& m = member(r.target, r.member);
  m.probes[static_cast<std::size_t>(r.cls)] += 1;
  Series& h = histograms(m);
  if (r.delivery_seconds) {
    h.latency.observe(*r.delivery_seconds);
    m.last_delivery = *r.delivery_seconds;
  }
  for (const auto& st : r.stage_times) {
    auto [it, added] = h.stages.try_emplace(st.stage);
    if (added) {
      it->second.bounds = &kStageBuckets;
      it->second.counts.assign(kStageBuckets.size() + 1, 0);
    }
    it->second.observe(st.seconds);
  }
  if (!r.hops.empty()) {
    m.hops.clear();
    for (const auto& hop : r.hops) {
      m.hops.push_back(hop.seconds ? *hop.seconds : std::nan(""));
    }
  }
}

void MemberMetrics::set_status(const std::string& target, const std::string& name,
                               const MemberStatus& s) {
  Member& m = member(target, name);
  m.up = s.health_up ? 1 : 0;
  m.alarm = s.in_alarm ? 1 : 0;
  m.maintenance = s.in_maintenance ? 1 : 0;
  if (s.last_success_at) {
    m.last_success = std::chrono::duration<double>(s.last_success_at->time_since_epoch()).count();
  }
}

void MemberMetrics::count_skipped(const std::string& target, const std::string& name) {
  member(target, name).skipped += 1;
}

void MemberMetrics::retire(const std::string& target, const std::string& name) {
  members_.erase({target, name});
  const auto first = members_.lower_bound({target, std::string()});
  if (first == members_.end() || first->first.first != target) {
    targets_.erase(target);
  }
}

void MemberMetrics::write_histogram(std::string& out, const char* name, const Series& s,
                                    const Histogram& h, const std::string* stage) const {
  std::string labels;
  if (stage) {
    labels = s.stage_prefix;
    append_label(labels, "stage", *stage);
    labels += s.stage_suffix;
  } else {
    labels = s.labels;
  }
  const auto& les = le_texts(h.bounds);
  const auto head = [&](const char* suffix) {
    out += name;
    out += suffix;
    out += '{';
    out += labels;
  };
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    head("_bucket");
    out += ",le=\"";
    out += les[i];
    out += "\"} ";
    append_count(out, cumulative);
    out += '\n';
  }
  head("_sum");
  out += "} ";
  append_number(out, h.sum);
  out += '\n';
  head("_count");
  out += "} ";
  append_count(out, h.count);
  out += '\n';
}

void MemberMetrics::write(std::string& out) const {
  // Roughly 100 bytes a line: reserve once rather than grow a string of many MiB.
  out.reserve(out.size() + members_.size() * (per_member_histograms_ ? 200 : 30) * 100);

  append_header(out, kProbes, "counter", "Probes by result class.");
  std::array<std::string, kClasses> class_prefix;
  for (std::size_t c = 0; c < kClasses; ++c) {
    append_label(class_prefix[c], "class", probes::to_string(static_cast<probes::ResultClass>(c)));
    class_prefix[c] += ',';
  }
  for (const auto& [key, m] : members_) {
    for (std::size_t c = 0; c < kClasses; ++c) {
      sample(out, kProbes, class_prefix[c].c_str(), m.series.labels, m.probes[c]);
    }
  }

  const auto each_series = [&](auto&& write_one) {
    if (per_member_histograms_) {
      for (const auto& [key, m] : members_) {
        write_one(m.series);
      }
    } else {
      for (const auto& [target, s] : targets_) {
        write_one(s);
      }
    }
  };
  append_header(out, kLatency, "histogram",
                "Time from the server's acceptance to the canary found in the mailbox.");
  each_series([&](const Series& s) { write_histogram(out, kLatency, s, s.latency, nullptr); });
  append_header(out, kStage, "histogram", "Time spent in each SMTP stage.");
  each_series([&](const Series& s) {
    for (const auto& [stage, h] : s.stages) {
      const std::string name(probes::to_string(stage));
      write_histogram(out, kStage, s, h, &name);
    }
  });

  const auto gauge = [&](const char* name, const char* type, const char* help, auto value) {
    append_header(out, name, type, help);
    for (const auto& [key, m] : members_) {
      if (auto v = value(m)) {
        sample(out, name, "", m.series.labels, *v);
      }
    }
  };
  using Value = std::optional<double>;
  gauge("mailcanary_member_up", "gauge",
        "1 when the member is UP in the load-balancer health view.",
        [](const Member& m) { return Value(m.up); });
  gauge("mailcanary_alarm", "gauge", "1 while the member is in alarm (SLG outage).",
        [](const Member& m) { return Value(m.alarm); });
  gauge("mailcanary_in_maintenance", "gauge", "1 while a maintenance window covers the member.",
        [](const Member& m) { return Value(m.maintenance); });
  gauge("mailcanary_last_success_timestamp_seconds", "gauge",
        "When the member last delivered a canary in time.",
        [](const Member& m) { return Value(m.last_success); });
  gauge("mailcanary_last_delivery_seconds", "gauge",
        "Delivery latency of the member's last canary found.",
        [](const Member& m) { return m.last_delivery; });
  gauge("mailcanary_probes_skipped_total", "counter",
        "Probe slots skipped because the previous probe still ran.",
        [](const Member& m) { return Value(m.skipped); });

  append_header(out, "mailcanary_hop_delay_seconds", "gauge",
                "Delay of each Received hop of the last delivered canary.");
  for (const auto& [key, m] : members_) {
    for (std::size_t i = 0; i < m.hops.size(); ++i) {
      if (std::isnan(m.hops[i])) {
        continue;
      }
      std::string prefix;
      append_label(prefix, "hop", std::to_string(i + 1));
      prefix += ',';
      sample(out, "mailcanary_hop_delay_seconds", prefix.c_str(), m.series.labels, m.hops[i]);
    }
  }
}

}  // namespace mailcanary::agent
