// The agent (`mailcanary run`): the shells around the core. One thread (run()) owns the
// Core and carries out its effects; the others only post events to it:
//   - `concurrency` SMTP workers: StartProbe -> send_canary() -> sent()
//   - one discovery thread: RunDiscovery -> discover() (DNS) -> discovered()
//   - one MailboxWatcher thread per (mailbox, bounce mailbox): WatchCanary -> confirmed()
//   - the Alertmanager sender: the state store's outbox, and active alarms re-sent
//   - the HTTP server (agent/http): its loop thread answers /health and /healthz, two
//     render threads /metrics and /status, all from the published Snapshot
// State store writes and log lines happen on the core's thread, in effect order.
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

#include "mailcanary/agent/core/core.hpp"
#include "mailcanary/agent/core/snapshot.hpp"
#include "mailcanary/agent/core/store_batch.hpp"
#include "mailcanary/agent/http/agent_check.hpp"
#include "mailcanary/agent/http/web_server.hpp"
#include "mailcanary/agent/notify/alertmanager.hpp"
#include "mailcanary/agent/probe/mailbox_watcher.hpp"
#include "mailcanary/agent/runtime/log_format.hpp"
#include "mailcanary/agent/store/state_store.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/dns.hpp"

namespace mailcanary::agent {

struct AgentOptions {
  std::string config_path;
  bool fresh_state = false;   // --fresh-state: move an unusable state database aside
  std::string reader_binary;  // see MailboxWatcherOptions::reader_binary
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

  /// The newest published snapshot (what the HTTP views serve).
  std::shared_ptr<const Snapshot> snapshot() const { return box_.get(); }

 private:
  using Event = std::function<Effects(Core&, Now)>;
  Now now() const { return {clock_.now(), clock_.wall()}; }
  void post(Event e);
  void apply(Effects effects);
  void apply_one(Effect& e);
  void write_batch();  // the group commit waiting in batch_, now
  void publish(bool force);
  void reload_config();
  void worker_loop();
  void discovery_loop();
  void alerts_loop();
  MailboxWatcher* watcher_for(const std::string& mailbox, const std::string& bounces);
  void log(const LogLine& line) const;
  void log(const std::string& text) const { log(LogLine{LogLine::Level::info, text}); }
  void log_run_figures();
  void use_log_config(const config::LogConfig& c);
  void shut_down();

  AgentOptions options_;
  probes::Clock& clock_;
  // [log], read by log() on any thread.
  std::atomic<int> log_level_{static_cast<int>(config::LogLevel::info)};
  std::atomic<int> log_format_{static_cast<int>(config::LogFormat::text)};
  const bool journal_ = stderr_is_journal();
  std::optional<WebServer::BoundPort> bound_;      // the HTTP port, open from the start
  std::unique_ptr<AgentCheckServer> agent_check_;  // [web] agent_check_listen, likewise
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Core> core_;  // touched by the run() thread only
  StoreBatch batch_;            // per-probe state writes, committed together
  SnapshotBox box_;
  std::chrono::steady_clock::time_point published_at_{};
  std::vector<LogLine> held_logs_;              // written at the next publication
  std::unique_ptr<probes::Resolver> resolver_;  // the discovery thread's
  // The [[oauth2]] token sources, shared by the watchers and the SMTP workers; each
  // request to an endpoint is reported to the core (Core::oauth2_state).
  probes::TokenRegistry tokens_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<MailboxWatcher>> watchers_;

  // Events for the core, from every thread.
  std::mutex events_mutex_;
  std::condition_variable events_cv_;
  std::deque<Event> events_;

  // SMTP jobs for the workers.
  std::mutex jobs_mutex_;
  std::condition_variable jobs_cv_;
  std::deque<StartProbe> jobs_;
  bool stop_workers_ = false;
  std::vector<std::thread> workers_;
  static constexpr std::size_t kMaxDriftSamples = 100000;
  std::vector<double> drift_;  // seconds late per probe start (guarded by jobs_mutex_)

  // Discovery requests (the newest config wins).
  std::mutex discovery_mutex_;
  std::condition_variable discovery_cv_;
  std::shared_ptr<const config::Config> discovery_request_;
  bool stop_discovery_ = false;
  std::thread discovery_;

  // The Alertmanager sender.
  std::mutex alerts_mutex_;
  std::condition_variable alerts_cv_;
  bool stop_alerts_ = false;
  std::shared_ptr<const config::Config> alert_config_;  // guarded by alerts_mutex_
  AlertLinks alert_links_;  // generatorURL base and host name, set before alerts_ starts
  std::thread alerts_;
};

}  // namespace mailcanary::agent
