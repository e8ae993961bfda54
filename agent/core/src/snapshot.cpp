#include "mailcanary/agent/core/snapshot.hpp"

#include <algorithm>

#include "mailcanary/agent/core/text_format.hpp"

namespace mailcanary::agent {

const std::vector<double>& latency_buckets() {
  // Mail-flow latency: 50 ms on a LAN to 30 minutes through a congested queue.
  static const std::vector<double> b{0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,   10,
                                     30,   60,  120,  300, 600, 1200, 1800};
  return b;
}

const std::vector<double>& stage_buckets() {
  // One SMTP stage: a millisecond on loopback to a minute for a stalling server.
  static const std::vector<double> b{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5,   1,     2.5,  5,     10,   30,  60};
  return b;
}

void Histogram::observe(double v) {
  const auto it = std::lower_bound(bounds->begin(), bounds->end(), v);  // v <= bound
  ++counts[static_cast<std::size_t>(it - bounds->begin())];
  sum += v;
  ++count;
}

namespace {

Histogram empty_histogram(const std::vector<double>& bounds) {
  Histogram h;
  h.bounds = &bounds;
  h.counts.assign(bounds.size() + 1, 0);
  return h;
}

}  // namespace

Histograms::Histograms() : latency(empty_histogram(latency_buckets())) {}

void Histograms::observe(const ProbeResult& r) {
  if (r.delivery_seconds) {
    latency.observe(*r.delivery_seconds);
  }
  for (const auto& st : r.stage_times) {
    auto [it, added] = stages.try_emplace(st.stage);
    if (added) {
      it->second = empty_histogram(stage_buckets());
    }
    it->second.observe(st.seconds);
  }
}

SeriesLabels make_series_labels(const std::string& instance, const std::string* member,
                                const std::string& target) {
  using text_format::append_label;
  SeriesLabels s;
  if (!instance.empty()) {
    append_label(s.stage_prefix, "instance", instance);
    s.stage_prefix += ',';
  }
  if (member) {
    append_label(s.stage_prefix, "member", *member);
    s.stage_prefix += ',';
  }
  s.stage_suffix = ",";
  append_label(s.stage_suffix, "target", target);
  s.labels = s.stage_prefix + s.stage_suffix.substr(1);
  return s;
}

const MemberView* Snapshot::find(const std::string& target, const std::string& member) const {
  const auto it = std::lower_bound(members.begin(), members.end(), std::tie(target, member),
                                   [](const std::shared_ptr<const MemberView>& m, const auto& key) {
                                     return std::tie(m->target, m->member) < key;
                                   });
  if (it == members.end() || (*it)->target != target || (*it)->member != member) {
    return nullptr;
  }
  return it->get();
}

}  // namespace mailcanary::agent
