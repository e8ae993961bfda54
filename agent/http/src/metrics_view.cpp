// /metrics from a snapshot. The per-member series (hundreds of thousands of lines with
// 10,000 members) are written straight into the text format from pre-rendered labels;
// the agent's own handful of series go through prometheus-cpp's serializer.
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "mailcanary/agent/core/text_format.hpp"
#include "mailcanary/agent/http/views.hpp"

namespace mailcanary::agent {
namespace {

using text_format::append_count;
using text_format::append_header;
using text_format::append_label;
using text_format::append_number;

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
  static const std::vector<std::string> latency = bound_texts(latency_buckets());
  static const std::vector<std::string> stage = bound_texts(stage_buckets());
  return bounds == &latency_buckets() ? latency : stage;
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

void write_histogram(std::string& out, const char* name, const SeriesLabels& s, const Histogram& h,
                     const std::string* stage) {
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

void write_members(std::string& out, const Snapshot& s) {
  // Roughly 100 bytes a line: reserve once rather than grow a string of many MiB.
  out.reserve(out.size() + s.members.size() * (s.per_member_histograms ? 200 : 30) * 100);

  append_header(out, kProbes, "counter", "Probes by result class.");
  std::array<std::string, kResultClasses> class_prefix;
  for (std::size_t c = 0; c < kResultClasses; ++c) {
    append_label(class_prefix[c], "class", probes::to_string(static_cast<probes::ResultClass>(c)));
    class_prefix[c] += ',';
  }
  for (const auto& m : s.members) {
    for (std::size_t c = 0; c < kResultClasses; ++c) {
      sample(out, kProbes, class_prefix[c].c_str(), m->labels->labels,
             static_cast<double>(m->probes[c]));
    }
  }

  const auto each_series = [&](auto&& write_one) {
    if (s.per_member_histograms) {
      for (const auto& m : s.members) {
        if (m->histograms) {
          write_one(*m->labels, *m->histograms);
        }
      }
    } else {
      for (const auto& t : s.targets) {
        write_one(*t->labels, t->histograms);
      }
    }
  };
  append_header(out, kLatency, "histogram",
                "Time from the server's acceptance to the canary found in the mailbox.");
  each_series([&](const SeriesLabels& l, const Histograms& h) {
    write_histogram(out, kLatency, l, h.latency, nullptr);
  });
  append_header(out, kStage, "histogram", "Time spent in each SMTP stage.");
  each_series([&](const SeriesLabels& l, const Histograms& h) {
    for (const auto& [stage, hist] : h.stages) {
      const std::string name(probes::to_string(stage));
      write_histogram(out, kStage, l, hist, &name);
    }
  });

  const auto gauge = [&](const char* name, const char* type, const char* help, auto value) {
    append_header(out, name, type, help);
    for (const auto& m : s.members) {
      if (std::optional<double> v = value(*m)) {
        sample(out, name, "", m->labels->labels, *v);
      }
    }
  };
  using Value = std::optional<double>;
  const auto seconds = [](SysTime t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  gauge("mailcanary_member_up", "gauge",
        "1 when the member is UP in the load-balancer health view.",
        [&](const MemberView& m) { return Value(s.health_up(m) ? 1 : 0); });
  gauge("mailcanary_alarm", "gauge", "1 while the member is in alarm (SLG outage).",
        [](const MemberView& m) { return Value(m.status.in_alarm ? 1 : 0); });
  gauge("mailcanary_in_maintenance", "gauge", "1 while a maintenance window covers the member.",
        [](const MemberView& m) { return Value(m.status.in_maintenance ? 1 : 0); });
  gauge("mailcanary_last_success_timestamp_seconds", "gauge",
        "When the member last delivered a canary in time.", [&](const MemberView& m) {
          return Value(m.status.last_success_at ? seconds(*m.status.last_success_at) : 0);
        });
  gauge("mailcanary_last_delivery_seconds", "gauge",
        "Delivery latency of the member's last canary found.",
        [](const MemberView& m) { return m.last_delivery; });
  gauge("mailcanary_probes_skipped_total", "counter",
        "Probe slots skipped because the previous probe still ran.",
        [](const MemberView& m) { return Value(static_cast<double>(m.skipped)); });

  append_header(out, "mailcanary_hop_delay_seconds", "gauge",
                "Delay of each Received hop of the last delivered canary.");
  for (const auto& m : s.members) {
    for (std::size_t i = 0; i < m->hops.size(); ++i) {
      if (!m->hops[i]) {
        continue;
      }
      std::string prefix;
      append_label(prefix, "hop", std::to_string(i + 1));
      prefix += ',';
      sample(out, "mailcanary_hop_delay_seconds", prefix.c_str(), m->labels->labels, *m->hops[i]);
    }
  }
}

// The agent's own series.
class Families {
 public:
  explicit Families(const std::string& instance) : instance_(instance) {
    families_.reserve(16);  // add() hands out references: never reallocate
  }

  prometheus::MetricFamily& add(const char* name, const char* help, prometheus::MetricType type) {
    families_.push_back({name, help, type, {}});
    return families_.back();
  }
  void sample(prometheus::MetricFamily& f, double v,
              std::initializer_list<std::pair<const char*, std::string>> labels = {}) {
    prometheus::ClientMetric m;
    for (const auto& [k, val] : labels) {
      m.label.push_back({k, val});
    }
    if (!instance_.empty()) {
      m.label.push_back({"instance", instance_});
    }
    std::sort(m.label.begin(), m.label.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    if (f.type == prometheus::MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    f.metric.push_back(std::move(m));
  }
  std::string text() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families_);
    return out.str();
  }

 private:
  std::string instance_;
  std::vector<prometheus::MetricFamily> families_;
};

std::string self_metrics(const Snapshot& s, const BuildInfo& build) {
  using prometheus::MetricType;
  Families f(s.instance);
  f.sample(f.add("mailcanary_canaries_in_flight",
                 "Canaries accepted and not yet found, bounced or lost.", MetricType::Gauge),
           static_cast<double>(s.in_flight));
  auto& up = f.add("mailcanary_mailbox_up", "1 when the last read of the mailbox worked.",
                   MetricType::Gauge);
  auto& reconnects =
      f.add("mailcanary_mailbox_reconnects_total",
            "IMAP sessions opened again after the previous one failed or was dropped.",
            MetricType::Counter);
  auto& commands =
      f.add("mailcanary_mailbox_commands_total",
            "IMAP/POP3 command lines sent to the mailbox server (what confirmation costs it).",
            MetricType::Counter);
  auto& leftovers = f.add("mailcanary_mailbox_leftovers_removed_total",
                          "Canaries of this agent's key removed from the mailbox because nobody "
                          "waited for them any more (left by an earlier run).",
                          MetricType::Counter);
  for (const auto& mb : s.mailboxes) {
    if (mb.up) {
      f.sample(up, *mb.up ? 1 : 0, {{"mailbox", mb.mailbox}});
    }
    f.sample(reconnects, static_cast<double>(mb.counters.reconnects), {{"mailbox", mb.mailbox}});
    f.sample(commands, static_cast<double>(mb.counters.commands), {{"mailbox", mb.mailbox}});
    f.sample(leftovers, static_cast<double>(mb.counters.leftovers_removed),
             {{"mailbox", mb.mailbox}});
  }
  auto& token_requests =
      f.add("mailcanary_oauth2_token_requests_total",
            "Requests to the token endpoint of an [[oauth2]] section.", MetricType::Counter);
  auto& token_failures =
      f.add("mailcanary_oauth2_token_failures_total",
            "Requests to the token endpoint that gave no access token.", MetricType::Counter);
  auto& token_up = f.add("mailcanary_oauth2_token_up",
                         "1 when the last request to the token endpoint gave an access token.",
                         MetricType::Gauge);
  for (const auto& o : s.oauth2) {
    f.sample(token_requests, static_cast<double>(o.requests), {{"oauth2", o.name}});
    f.sample(token_failures, static_cast<double>(o.failures), {{"oauth2", o.name}});
    f.sample(token_up, o.up ? 1 : 0, {{"oauth2", o.name}});
  }
  auto& failures = f.add("mailcanary_alertmanager_send_failures_total",
                         "Failed sends to an Alertmanager.", MetricType::Counter);
  for (const auto& [url, n] : s.alertmanager_failures) {
    f.sample(failures, static_cast<double>(n), {{"url", url}});
  }
  f.sample(f.add("mailcanary_alertmanager_pending_notifications",
                 "Notifications waiting in the outbox.", MetricType::Gauge),
           static_cast<double>(s.pending_notifications));
  auto& reloads =
      f.add("mailcanary_config_reloads_total", "Config reloads by result.", MetricType::Counter);
  f.sample(reloads, static_cast<double>(s.reloads_ok), {{"result", "success"}});
  f.sample(reloads, static_cast<double>(s.reloads_failed), {{"result", "failure"}});
  f.sample(f.add("mailcanary_config_last_reload_successful",
                 "1 when the last config reload succeeded.", MetricType::Gauge),
           s.last_reload_ok ? 1 : 0);
  f.sample(f.add("mailcanary_state_store_ok",
                 "1 while the state database takes writes; 0 from a failed write (full or "
                 "read-only disk) until what it missed is written back.",
                 MetricType::Gauge),
           s.store.ok ? 1 : 0);
  f.sample(f.add("mailcanary_state_store_errors_total", "State database writes that failed.",
                 MetricType::Counter),
           static_cast<double>(s.store.errors));
  f.sample(
      f.add("mailcanary_build_info",
            "The running build: version, git revision and compiler (always 1).", MetricType::Gauge),
      1, {{"version", build.version}, {"revision", build.revision}, {"compiler", build.compiler}});
  return f.text();
}

}  // namespace

std::string render_metrics(const Snapshot& s, const BuildInfo& build) {
  std::string out = self_metrics(s, build);
  write_members(out, s);
  return out;
}

}  // namespace mailcanary::agent
