// The agent (`mailcanary run`): probes every member every interval, confirms canaries
// through long-lived mailbox watchers, applies the SLG alarm logic and persists state.
//
// Threads: the scheduler (run()), a pool of `concurrency` SMTP workers, one thread per
// mailbox watcher. Member state lives under one mutex; results are recorded in one
// place (record()), which updates the alarm state machine, the state store and the log.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/http/exporter.hpp"
#include "mailcanary/agent/probe/mailbox_watcher.hpp"
#include "mailcanary/agent/probe/probe_run.hpp"
#include "mailcanary/agent/store/state_store.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/dns.hpp"

namespace mailcanary::agent {

struct AgentOptions {
  std::string config_path;
  bool fresh_state = false;  // --fresh-state: move an unusable state database aside
};

/// What /health/TARGET/MEMBER answers.
struct HealthView {
  int code = 404;  // 200 UP, 503 DOWN, 404 unknown
  std::string body;
};

class Agent {
 public:
  /// Loads and validates the config, opens the state store. Throws std::runtime_error
  /// with the reasons (config errors as FILE:LINE:COL lines, state store problems).
  Agent(AgentOptions options, probes::Clock& clock);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  /// Runs until `stop` becomes true; a true `reload` reloads the config (and is reset).
  /// In-flight canaries are persisted and picked up again by the next run.
  void run(const std::atomic<bool>& stop, std::atomic<bool>& reload);

  /// The /status document: every member, its last result, class, alarm and health.
  std::string status_json() const;
  HealthView health(const std::string& target, const std::string& member) const;

  /// The Prometheus text exposition of the agent's metrics.
  std::string metrics_text() const { return exporter_->render(); }

  /// Counters for tests and logs.
  std::uint64_t probes_recorded() const { return recorded_.load(); }

 private:
  using Key = std::pair<std::string, std::string>;  // target, member
  struct Slot {
    MemberRef ref;
    std::shared_ptr<const config::Config> config;  // keeps ref.target alive
    MemberStatus status;
    std::optional<ProbeResult> last;
    std::chrono::steady_clock::time_point next_due;
    bool running = false;
    std::uint64_t skipped = 0;
    SysTime newest_started{};  // start of the newest probe recorded (see record)
  };
  struct InFlightContext {
    InFlightCanary record;
    ProbeResult smtp;  // the SMTP half of the result
  };

  void load_config();
  void rediscover();
  /// Hands a canary in flight to its target's watcher (caller holds mutex_).
  void watch_in_flight(const InFlightCanary& rec, const config::TargetConfig& t);
  /// The health view of a member; before its first result, [web] unknown_health.
  bool health_up(const MemberStatus& st) const;
  /// Queues the members that are due; returns how long until the next one is.
  std::chrono::milliseconds schedule_due();
  void log_run_figures();
  void probe(Key key);
  void on_decided(const std::string& canary_id, const probes::Confirmation& c);
  void record(ProbeResult r);
  std::string observe_mailbox_of(const config::TargetConfig& t, const ProbeResult& r, SysTime at);
  MailboxWatcher& watcher_for(const config::TargetConfig& t);
  void restore_in_flight();
  void worker_loop();
  void send_alerts(bool resend_active);
  void log(const std::string& line) const;

  AgentOptions options_;
  probes::Clock& clock_;
  std::unique_ptr<StateStore> store_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<probes::Resolver> resolver_;
  std::unique_ptr<Exporter> exporter_;
  probes::SystemRandom random_;

  mutable std::mutex mutex_;
  std::map<Key, Slot> slots_;
  std::map<std::string, InFlightContext> in_flight_;
  std::map<std::string, MailboxStatus> mailboxes_;  // agent-level alarm per mailbox
  std::map<std::pair<std::string, std::string>, std::unique_ptr<MailboxWatcher>> watchers_;
  std::chrono::steady_clock::time_point next_discovery_{};
  bool warned_many_ = false;  // the /metrics size hint was logged
  /// When each lasting DNS failure (target, domain or MX host) is next recorded.
  std::map<std::pair<std::string, std::string>, std::chrono::steady_clock::time_point>
      dns_failure_due_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  struct Queued {
    Key key;
    std::chrono::steady_clock::time_point due;
  };
  std::deque<Queued> queue_;
  static constexpr std::size_t kMaxDriftSamples = 100000;
  std::vector<double> drift_;  // seconds late per probe start (guarded by queue_mutex_)
  std::size_t drift_next_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> recorded_{0};
  std::atomic<std::uint64_t> late_arrivals_{0};
};

}  // namespace mailcanary::agent
