#include "mailcanary/agent/exporter.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

namespace mailcanary::agent {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using Labels = std::map<std::string, std::string>;

struct Exporter::Families {
  Family<Counter>* probes;
  Family<Histogram>* latency;
  Family<Histogram>* stage;
  Family<Gauge>* up;
  Family<Gauge>* alarm;
  Family<Gauge>* maintenance;
  Family<Gauge>* last_success;
  Family<Gauge>* in_flight;
  Family<Counter>* skipped;
  Family<Gauge>* mailbox_up;
  Family<Counter>* mailbox_reconnects;
  Family<Counter>* am_failures;
  Family<Gauge>* am_pending;
  Family<Counter>* reloads;
  Family<Gauge>* reload_ok;
  Family<Gauge>* hop_delay;
  Family<Gauge>* build;
  // Every series of a member, to remove them when it retires.
  std::map<std::pair<std::string, std::string>, std::vector<std::function<void()>>> removers;
};

namespace {

// Mail-flow latency: 50 ms on a LAN to 30 minutes through a congested queue.
const Histogram::BucketBoundaries kLatencyBuckets{0.05, 0.1, 0.25, 0.5, 1,   2.5,  5,   10,
                                                  30,   60,  120,  300, 600, 1200, 1800};
// One SMTP stage: a millisecond on loopback to a minute for a stalling server.
const Histogram::BucketBoundaries kStageBuckets{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5,   1,     2.5,  5,     10,   30,  60};

}  // namespace

Exporter::Exporter(const std::string& instance, const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()), f_(std::make_unique<Families>()) {
  if (!instance.empty()) {
    base_["instance"] = instance;
  }
  auto& r = *registry_;
  f_->probes = &prometheus::BuildCounter()
                    .Name("mailcanary_probes_total")
                    .Help("Probes by result class.")
                    .Register(r);
  f_->latency = &prometheus::BuildHistogram()
                     .Name("mailcanary_delivery_latency_seconds")
                     .Help("Time from the server's acceptance to the canary found in the mailbox.")
                     .Register(r);
  f_->stage = &prometheus::BuildHistogram()
                   .Name("mailcanary_smtp_stage_duration_seconds")
                   .Help("Time spent in each SMTP stage.")
                   .Register(r);
  f_->up = &prometheus::BuildGauge()
                .Name("mailcanary_member_up")
                .Help("1 when the member is UP in the load-balancer health view.")
                .Register(r);
  f_->alarm = &prometheus::BuildGauge()
                   .Name("mailcanary_alarm")
                   .Help("1 while the member is in alarm (SLG outage).")
                   .Register(r);
  f_->maintenance = &prometheus::BuildGauge()
                         .Name("mailcanary_in_maintenance")
                         .Help("1 while a maintenance window covers the member.")
                         .Register(r);
  f_->last_success = &prometheus::BuildGauge()
                          .Name("mailcanary_last_success_timestamp_seconds")
                          .Help("When the member last delivered a canary in time.")
                          .Register(r);
  f_->in_flight = &prometheus::BuildGauge()
                       .Name("mailcanary_canaries_in_flight")
                       .Help("Canaries accepted and not yet found, bounced or lost.")
                       .Register(r);
  f_->skipped = &prometheus::BuildCounter()
                     .Name("mailcanary_probes_skipped_total")
                     .Help("Probe slots skipped because the previous probe still ran.")
                     .Register(r);
  f_->mailbox_up = &prometheus::BuildGauge()
                        .Name("mailcanary_mailbox_up")
                        .Help("1 when the last read of the mailbox worked.")
                        .Register(r);
  f_->mailbox_reconnects =
      &prometheus::BuildCounter()
           .Name("mailcanary_mailbox_reconnects_total")
           .Help("IMAP sessions opened again after the previous one failed or was dropped.")
           .Register(r);
  f_->am_failures = &prometheus::BuildCounter()
                         .Name("mailcanary_alertmanager_send_failures_total")
                         .Help("Failed sends to an Alertmanager.")
                         .Register(r);
  f_->am_pending = &prometheus::BuildGauge()
                        .Name("mailcanary_alertmanager_pending_notifications")
                        .Help("Notifications waiting in the outbox.")
                        .Register(r);
  f_->reloads = &prometheus::BuildCounter()
                     .Name("mailcanary_config_reloads_total")
                     .Help("Config reloads by result.")
                     .Register(r);
  f_->reload_ok = &prometheus::BuildGauge()
                       .Name("mailcanary_config_last_reload_successful")
                       .Help("1 when the last config reload succeeded.")
                       .Register(r);
  f_->hop_delay = &prometheus::BuildGauge()
                       .Name("mailcanary_hop_delay_seconds")
                       .Help("Delay of each Received hop of the last delivered canary.")
                       .Register(r);
  f_->build = &prometheus::BuildGauge()
                   .Name("mailcanary_build_info")
                   .Help("The running version.")
                   .Register(r);
  f_->in_flight->Add(base_).Set(0);
  f_->am_pending->Add(base_).Set(0);
  f_->reload_ok->Add(base_).Set(1);
  Labels b = base_;
  b["version"] = version;
  f_->build->Add(b).Set(1);
}

Exporter::~Exporter() = default;

namespace {

Labels with(const Labels& base,
            std::initializer_list<std::pair<const std::string, std::string>> l) {
  Labels out = base;
  out.insert(l);
  return out;
}

}  // namespace

void Exporter::record_probe(const ProbeResult& r) {
  std::lock_guard lock(mutex_);
  auto& removers = f_->removers[{r.target, r.member}];
  auto remember = [&](auto* family, auto* metric) {
    removers.push_back([family, metric] { family->Remove(metric); });
  };
  const bool first = removers.empty();
  auto member = with(base_, {{"target", r.target}, {"member", r.member}});
  if (first) {
    // Every class starts at 0, so rate() sees a member's first failure.
    for (int c = 0; c <= static_cast<int>(probes::ResultClass::mailbox_error); ++c) {
      auto l = member;
      l["class"] = std::string(probes::to_string(static_cast<probes::ResultClass>(c)));
      remember(f_->probes, &f_->probes->Add(l));
    }
    auto* h = &f_->latency->Add(member, kLatencyBuckets);
    remember(f_->latency, h);
    for (auto* fam : {f_->up, f_->alarm, f_->maintenance, f_->last_success}) {
      remember(fam, &fam->Add(member));
    }
    remember(f_->skipped, &f_->skipped->Add(member));
    f_->up->Add(member).Set(1);
  }
  auto l = member;
  l["class"] = std::string(probes::to_string(r.cls));
  f_->probes->Add(l).Increment();
  if (r.delivery_seconds) {
    f_->latency->Add(member, kLatencyBuckets).Observe(*r.delivery_seconds);
  }
  for (const auto& st : r.stage_times) {
    auto sl = member;
    sl["stage"] = std::string(probes::to_string(st.stage));
    auto& h = f_->stage->Add(sl, kStageBuckets);
    h.Observe(st.seconds);
  }
  for (std::size_t i = 0; i < r.hops.size(); ++i) {
    if (r.hops[i].seconds) {
      auto hl = member;
      hl["hop"] = std::to_string(i + 1);
      f_->hop_delay->Add(hl).Set(*r.hops[i].seconds);
    }
  }
}

void Exporter::set_member_status(const std::string& target, const std::string& member,
                                 const MemberStatus& s) {
  std::lock_guard lock(mutex_);
  auto l = with(base_, {{"target", target}, {"member", member}});
  f_->up->Add(l).Set(s.health_up ? 1 : 0);
  f_->alarm->Add(l).Set(s.in_alarm ? 1 : 0);
  f_->maintenance->Add(l).Set(s.in_maintenance ? 1 : 0);
  if (s.last_success_at) {
    f_->last_success->Add(l).Set(
        std::chrono::duration<double>(s.last_success_at->time_since_epoch()).count());
  }
}

void Exporter::retire_member(const std::string& target, const std::string& member) {
  std::lock_guard lock(mutex_);
  auto it = f_->removers.find({target, member});
  if (it != f_->removers.end()) {
    for (auto& remove : it->second) {
      remove();
    }
    f_->removers.erase(it);
  }
  // Stage and hop series are per stage/hop: remove whatever exists for the member.
  auto member_labels = with(base_, {{"target", target}, {"member", member}});
  for (int s = 0; s <= static_cast<int>(probes::Stage::done); ++s) {
    auto l = member_labels;
    l["stage"] = std::string(probes::to_string(static_cast<probes::Stage>(s)));
    if (f_->stage->Has(l)) {
      f_->stage->Remove(&f_->stage->Add(l, kStageBuckets));
    }
  }
  for (int h = 1; h <= 32; ++h) {
    auto l = member_labels;
    l["hop"] = std::to_string(h);
    if (f_->hop_delay->Has(l)) {
      f_->hop_delay->Remove(&f_->hop_delay->Add(l));
    }
  }
}

void Exporter::set_in_flight(std::size_t n) {
  std::lock_guard lock(mutex_);
  f_->in_flight->Add(base_).Set(static_cast<double>(n));
}

void Exporter::count_skipped(const std::string& target, const std::string& member) {
  std::lock_guard lock(mutex_);
  f_->skipped->Add(with(base_, {{"target", target}, {"member", member}})).Increment();
}

void Exporter::set_mailbox_up(const std::string& mailbox, bool up) {
  std::lock_guard lock(mutex_);
  f_->mailbox_up->Add(with(base_, {{"mailbox", mailbox}})).Set(up ? 1 : 0);
}

void Exporter::set_mailbox_reconnects(const std::string& mailbox, std::uint64_t total) {
  std::lock_guard lock(mutex_);
  auto& c = f_->mailbox_reconnects->Add(with(base_, {{"mailbox", mailbox}}));
  if (static_cast<double>(total) > c.Value()) {
    c.Increment(static_cast<double>(total) - c.Value());
  }
}

void Exporter::count_alertmanager_failure(const std::string& url) {
  std::lock_guard lock(mutex_);
  f_->am_failures->Add(with(base_, {{"url", url}})).Increment();
}

void Exporter::set_pending_notifications(std::size_t n) {
  std::lock_guard lock(mutex_);
  f_->am_pending->Add(base_).Set(static_cast<double>(n));
}

void Exporter::count_config_reload(bool ok) {
  std::lock_guard lock(mutex_);
  f_->reloads->Add(with(base_, {{"result", ok ? "success" : "failure"}})).Increment();
  f_->reload_ok->Add(base_).Set(ok ? 1 : 0);
}

namespace {

// The text exposition format, byte for byte what prometheus::TextSerializer (1.0.1)
// writes: doubles as printf %.16g, +Inf/-Inf/Nan, label values escaped, histograms as
// _count, _sum, then the buckets. Appends to one string instead of an ostringstream:
// at 10,000 members the body has ~2 million lines and the stream version spent most of
// its time in stream machinery and printf.
class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}

  void family(const prometheus::MetricFamily& f) {
    if (!f.help.empty()) {
      line("# HELP ", f.name, " ", f.help);
    }
    using prometheus::MetricType;
    const char* type = f.type == MetricType::Counter     ? "counter"
                       : f.type == MetricType::Gauge     ? "gauge"
                       : f.type == MetricType::Histogram ? "histogram"
                       : f.type == MetricType::Summary   ? "summary"
                                                         : "untyped";
    line("# TYPE ", f.name, " ", type);
    for (const auto& m : f.metric) {
      labels_.clear();
      for (const auto& l : m.label) {
        if (!labels_.empty()) {
          labels_ += ',';
        }
        labels_ += l.name;
        labels_ += "=\"";
        escaped(labels_, l.value);
        labels_ += '"';
      }
      metric(f, m);
    }
  }

 private:
  void line(const char* a, const std::string& b, const char* c, const std::string& d) {
    out_ += a;
    out_ += b;
    out_ += c;
    out_ += d;
    out_ += '\n';
  }

  static void escaped(std::string& out, const std::string& v) {
    for (char c : v) {
      if (c == '\n') {
        out += "\\n";
      } else {
        if (c == '\\' || c == '"') {
          out += '\\';
        }
        out += c;
      }
    }
  }

  // name+suffix{labels[,extra="value"]}<space>
  void head(const std::string& name, const char* suffix, const char* extra = nullptr,
            const std::string* extra_value = nullptr) {
    out_ += name;
    out_ += suffix;
    if (!labels_.empty() || extra) {
      out_ += '{';
      out_ += labels_;
      if (extra) {
        if (!labels_.empty()) {
          out_ += ',';
        }
        out_ += extra;
        out_ += "=\"";
        escaped(out_, *extra_value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  static std::string text(double v) {
    if (std::isnan(v)) {
      return "Nan";
    }
    if (std::isinf(v)) {
      return v < 0 ? "-Inf" : "+Inf";
    }
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                           std::numeric_limits<double>::max_digits10 - 1);
    return std::string(buf, r.ptr);
  }

  void value(double v) {
    if (std::isnan(v) || std::isinf(v)) {
      out_ += text(v);
      return;
    }
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                           std::numeric_limits<double>::max_digits10 - 1);
    out_.append(buf, r.ptr);
  }

  void count(std::uint64_t n) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    out_.append(buf, r.ptr);
  }

  void tail(const prometheus::ClientMetric& m) {
    if (m.timestamp_ms != 0) {
      out_ += ' ';
      out_ += std::to_string(m.timestamp_ms);
    }
    out_ += '\n';
  }

  void metric(const prometheus::MetricFamily& f, const prometheus::ClientMetric& m) {
    using prometheus::MetricType;
    switch (f.type) {
      case MetricType::Counter:
        head(f.name, "");
        value(m.counter.value);
        tail(m);
        break;
      case MetricType::Gauge:
        head(f.name, "");
        value(m.gauge.value);
        tail(m);
        break;
      case MetricType::Untyped:
        head(f.name, "");
        value(m.untyped.value);
        tail(m);
        break;
      case MetricType::Summary:
        head(f.name, "_count");
        count(m.summary.sample_count);
        tail(m);
        head(f.name, "_sum");
        value(m.summary.sample_sum);
        tail(m);
        for (const auto& q : m.summary.quantile) {
          const std::string qt = text(q.quantile);
          head(f.name, "", "quantile", &qt);
          value(q.value);
          tail(m);
        }
        break;
      case MetricType::Histogram: {
        head(f.name, "_count");
        count(m.histogram.sample_count);
        tail(m);
        head(f.name, "_sum");
        value(m.histogram.sample_sum);
        tail(m);
        double last = -std::numeric_limits<double>::infinity();
        for (const auto& b : m.histogram.bucket) {
          auto le = le_.find(b.upper_bound);
          if (le == le_.end()) {
            le = le_.emplace(b.upper_bound, text(b.upper_bound)).first;
          }
          head(f.name, "_bucket", "le", &le->second);
          last = b.upper_bound;
          count(b.cumulative_count);
          tail(m);
        }
        if (last != std::numeric_limits<double>::infinity()) {
          const std::string inf = "+Inf";
          head(f.name, "_bucket", "le", &inf);
          count(m.histogram.sample_count);
          tail(m);
        }
        break;
      }
    }
  }

  std::string& out_;
  std::string labels_;
  std::map<double, std::string> le_;  // bucket bounds as text, formatted once
};

// A little more than the body's size: reserving it up front saves the copies and page
// faults of growing a string of hundreds of MiB.
std::size_t estimated_size(const std::vector<prometheus::MetricFamily>& families) {
  std::size_t n = 0;
  for (const auto& f : families) {
    n += 2 * f.name.size() + f.help.size() + 32;
    for (const auto& m : f.metric) {
      std::size_t line = f.name.size() + 48;  // suffix, braces, le, value, newline
      for (const auto& l : m.label) {
        line += l.name.size() + l.value.size() + 4;
      }
      n += line * (f.type == prometheus::MetricType::Histogram ? m.histogram.bucket.size() + 3
                   : f.type == prometheus::MetricType::Summary ? m.summary.quantile.size() + 2
                                                               : 1);
    }
  }
  return n;
}

}  // namespace

std::string Exporter::render() const {
  std::lock_guard lock(mutex_);
  const auto families = registry_->Collect();
  std::string out;
  out.reserve(estimated_size(families));
  TextWriter w(out);
  for (const auto& f : families) {
    w.family(f);
  }
  return out;
}

}  // namespace mailcanary::agent
