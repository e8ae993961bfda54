// Prometheus metrics of the agent (prometheus-cpp core): the DESIGN.md series plus
// self-metrics. Thread-safe. Series of retired members are removed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/result.hpp"

namespace prometheus {
class Registry;
}

namespace mailcanary::agent {

class Exporter {
 public:
  /// `instance`: [agent] instance, added as a label to every series when not empty.
  /// `per_member_histograms` false: the latency and stage histograms are per target
  /// (no member label), which keeps /metrics small with thousands of members.
  Exporter(const std::string& instance, const std::string& version,
           bool per_member_histograms = true);
  ~Exporter();

  void record_probe(const ProbeResult& r);
  void set_member_status(const std::string& target, const std::string& member,
                         const MemberStatus& s);
  void retire_member(const std::string& target, const std::string& member);
  void set_in_flight(std::size_t n);
  void count_skipped(const std::string& target, const std::string& member);
  void set_mailbox_up(const std::string& mailbox, bool up);
  /// `total`: the mailbox readers' reconnects so far; the counter follows it.
  void set_mailbox_reconnects(const std::string& mailbox, std::uint64_t total);
  void count_alertmanager_failure(const std::string& url);
  void set_pending_notifications(std::size_t n);
  void count_config_reload(bool ok);

  /// The text exposition format (version 0.0.4).
  std::string render() const;

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> f_;
  std::map<std::string, std::string> base_;  // constant labels (instance)
  mutable std::mutex mutex_;
};

}  // namespace mailcanary::agent
