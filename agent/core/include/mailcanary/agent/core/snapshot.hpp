// What the HTTP views (/metrics, /status, /health) read: an immutable picture of every
// member, mailbox and self-metric, published by the core after each change. Readers
// hold a shared_ptr to one Snapshot and never a lock on the core. Members are shared
// between consecutive snapshots (copy-on-write per member), so publishing costs a
// pointer copy per member, not a copy of every histogram.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/records.hpp"
#include "mailcanary/agent/core/result.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::agent {

/// A Prometheus histogram: counts per bucket (not cumulative; the last one is above
/// every bound), sum and count.
struct Histogram {
  const std::vector<double>* bounds = nullptr;
  std::vector<std::uint64_t> counts;
  double sum = 0;
  std::uint64_t count = 0;
  void observe(double v);
};

/// The bucket bounds: delivery latency (50 ms to 30 min) and SMTP stage durations.
const std::vector<double>& latency_buckets();
const std::vector<double>& stage_buckets();

/// The label sets of one series owner (a member, or a target for per-target
/// histograms), rendered once in the text format: `labels` sorted
/// [instance=..,][member=..,]target=..; `stage_prefix`/`stage_suffix` surround "stage".
struct SeriesLabels {
  std::string labels;
  std::string stage_prefix;
  std::string stage_suffix;
};
SeriesLabels make_series_labels(const std::string& instance, const std::string* member,
                                const std::string& target);

/// Latency and per-stage histograms of a member or a target.
struct Histograms {
  Histogram latency;
  std::map<probes::Stage, Histogram> stages;
  Histograms();
  /// Counts the result's delivery latency and SMTP stage times.
  void observe(const ProbeResult& r);
};

inline constexpr std::size_t kResultClasses =
    static_cast<std::size_t>(probes::ResultClass::mailbox_error) + 1;

/// One member as the views see it.
struct MemberView {
  std::string target;
  std::string member;
  std::shared_ptr<const SeriesLabels> labels;
  MemberStatus status;
  std::optional<ProbeResult> last;  // the newest result (no transcript)
  std::uint64_t skipped = 0;        // slots skipped: the previous probe still ran
  // Metrics since this process started.
  std::array<std::uint64_t, kResultClasses> probes{};
  std::optional<double> last_delivery;
  std::vector<std::optional<double>> hops;  // the last delivered canary's hop delays
  std::optional<Histograms> histograms;     // per member; else in TargetView
};

struct TargetView {
  std::string target;
  std::shared_ptr<const SeriesLabels> labels;
  Histograms histograms;
};

struct MailboxView {
  std::string mailbox;
  MailboxStatus status;
  std::optional<bool> up;           // the last read; nullopt: no read yet
  probes::ReaderCounters counters;  // of the current watcher
};

/// An [[oauth2]] section's token endpoint, as its logins found it.
struct OAuth2View {
  std::string name;
  std::uint64_t requests = 0;  // to the token endpoint
  std::uint64_t failures = 0;  // of those, failed
  bool up = true;              // the last request worked
  std::string last_error;      // the newest failure (no secret in it)
  bool operator==(const OAuth2View&) const = default;
};

/// The state store as the agent sees it: writes fail on a full or read-only file
/// system; the agent then goes on from memory and writes back once it works again.
struct StoreView {
  bool ok = true;
  std::uint64_t errors = 0;              // failed writes since start
  std::string last_error;                // the newest failure's reason (SQLite's, with the file)
  std::optional<SysTime> last_error_at;  // when it happened
  std::optional<SysTime> failing_since;  // set while failing
};

struct Snapshot {
  std::string instance;
  bool per_member_histograms = true;
  bool unknown_health_up = true;                           // [web] unknown_health
  SysTime at{};                                            // when it was published
  std::vector<std::shared_ptr<const MemberView>> members;  // by (target, member)
  std::vector<std::shared_ptr<const TargetView>> targets;  // per-target histograms
  std::vector<MailboxView> mailboxes;                      // by name
  std::vector<OAuth2View> oauth2;                          // by name, once asked
  std::size_t in_flight = 0;
  std::size_t pending_notifications = 0;
  // While the store fails: the notifications it could not queue, by seq. The sender
  // delivers them from here (Core::held_delivered()); the write-back queues the rest.
  std::vector<TimedNotification> held_notifications;
  std::map<std::string, std::uint64_t> alertmanager_failures;  // by URL
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  bool last_reload_ok = true;
  /// The first discovery was applied (every member has its slot): /-/ready answers 200.
  bool scheduled = false;
  StoreView store;

  /// The member, or nullptr.
  const MemberView* find(const std::string& target, const std::string& member) const;
  /// The member's load-balancer health: its own, or unknown_health before a result.
  bool health_up(const MemberView& m) const {
    return m.status.last_probe_at ? m.status.health_up : unknown_health_up;
  }
};

/// Where the runtime keeps the newest snapshot for the HTTP threads. The lock is held
/// only to copy or swap the pointer, never while a view is rendered.
class SnapshotBox {
 public:
  std::shared_ptr<const Snapshot> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(std::shared_ptr<const Snapshot> s) {
    std::lock_guard lock(mutex_);
    current_.swap(s);
  }  // the old one is released outside the lock, by `s`

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_ = std::make_shared<const Snapshot>();
};

}  // namespace mailcanary::agent
