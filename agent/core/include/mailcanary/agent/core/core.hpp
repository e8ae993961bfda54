// The agent's core: the one owner of every member's state (schedule, canaries in
// flight, SLG alarm, health, maintenance), of the mailbox alarms and of the
// self-metrics. It does no I/O and reads no clock: each event carries `Now`, and each
// returns the effects the runtime carries out (effects.hpp). Views read the snapshot()
// it publishes. Single-threaded: one thread (the runtime's loop, or a test) calls it.
//
// The life of one probe, as events and effects:
//   tick(now)          a member is due            -> StartProbe
//   sent(result)       its SMTP half is done; accepted: PersistInFlight + WatchCanary
//                      (the mailbox watcher looks from the canary's own 250 on);
//                      refused or failed: the result is final -> recorded
//   confirmed(id, c)   found / bounced / lost / unreadable -> recorded
//   recorded           alarm.hpp's observe() moves alarm and health; PersistOutcome (the
//                      result, the member state and any notification in one
//                      transaction); LogLine; the member's view is replaced
// Discovery is asked for with RunDiscovery and answered by discovered(); a restart
// starts with restored(), before any view is served.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mailcanary/agent/core/effects.hpp"
#include "mailcanary/agent/core/snapshot.hpp"

namespace mailcanary::agent {

/// The time of an event: monotonic for schedules and waits, wall for what is recorded.
struct Now {
  std::chrono::steady_clock::time_point mono;
  SysTime wall;
};

class Core {
 public:
  using Key = std::pair<std::string, std::string>;  // target, member
  /// How often MX membership is looked at again (answers are cached by TTL anyway).
  static constexpr std::chrono::milliseconds kDiscoveryEvery{30000};
  /// Above this many members with per-member histograms, a hint is logged once.
  static constexpr std::size_t kManyMembers = 2000;

  explicit Core(std::shared_ptr<const config::Config> config);

  /// At start-up, before anything else: what the state store kept. Members appear at
  /// once with their alarm and health (in the snapshot, so the first scrape after a
  /// restart shows them); canaries in flight are watched again.
  Effects restored(const std::map<Key, std::string>& member_states,
                   const std::vector<InFlightCanary>& in_flight, Now now);

  /// Starts the probes that are due and asks for discovery when it is time.
  Effects tick(Now now);
  /// How long the runtime may wait before the next tick (events may come sooner).
  std::chrono::milliseconds until_next(Now now) const;

  /// Discovery's answer: members added, updated or retired; DNS failures recorded.
  /// `config`: the config discovery ran with (found.members point into it).
  Effects discovered(Discovery found, std::shared_ptr<const config::Config> config, Now now);
  /// Discovery failed as a whole (an exception): tried again kDiscoveryEvery later.
  Effects discovery_failed(const std::string& error, Now now);

  /// The SMTP half of a probe of (result.target, result.member) ended; `accepted` is when
  /// (monotonic), `started` when the probe began (wall).
  Effects sent(ProbeResult result, std::chrono::steady_clock::time_point accepted, Now now);
  /// A watcher decided the canary.
  Effects confirmed(const std::string& canary_id, const probes::Confirmation& c, Now now);
  /// A watcher's scan worked or not; `counters`: its readers' totals so far.
  Effects mailbox_state(const std::string& mailbox, bool read_ok, const std::string& error,
                        const probes::ReaderCounters& counters, Now now);

  /// A request to an [[oauth2]] token endpoint ended (`view`: its counts since start).
  /// A change between working and failing is logged once, not every failure.
  Effects oauth2_state(const OAuth2View& view, Now now);

  /// SIGHUP with a valid config: swapped in, watchers of changed mailboxes restarted,
  /// discovery asked for at once. `source`: the file, for the log.
  Effects config_changed(std::shared_ptr<const config::Config> fresh, const std::string& source,
                         Now now);
  /// SIGHUP with a config that did not load: the running one stays.
  Effects config_refused(const std::string& errors, Now now);

  /// The Alertmanager sender's figures, shown in /metrics.
  void alert_send_failed(const std::string& url);
  void pending_notifications(std::size_t n);

  /// The state store (a full or read-only disk). `failed`: the effect whose write
  /// failed, or nullptr (a write of the Alertmanager sender). Each failure is counted;
  /// the first one logs one error line. The core keeps what a write-back cannot rebuild
  /// from its own view (the failed write's notification, a forgotten member) and, while
  /// failing, tick() asks for a WriteBack every kStoreRetryEvery.
  Effects store_failed(const std::string& error, const Effect* failed, Now now);
  /// The same for a group commit (one transaction) that carried several writes: one
  /// error counted, and what each failed write held kept.
  Effects store_failed(const std::string& error, const Effects& failed, Now now);
  /// The WriteBack just asked for was carried out: the store is whole again (one info
  /// line).
  Effects store_written_back(Now now);
  static constexpr std::chrono::milliseconds kStoreRetryEvery{5000};
  /// The sender delivered the held notifications (Snapshot::held_notifications) up to
  /// `seq`: a write-back no longer queues them.
  void held_delivered(std::uint64_t seq);
  /// Notifications kept in memory while the store fails; beyond, the oldest are dropped.
  static constexpr std::size_t kMaxHeldNotifications = 10000;

  /// Stopping: from now on nothing is started, logged, alerted or recorded. An accepted
  /// canary still reported by sent() is persisted in flight (the next run finds it); a
  /// canary confirmed meanwhile is only taken out of flight.
  Effects stopping(Now now);
  bool is_stopping() const { return stopping_; }

  /// The views' picture, rebuilt when something changed since the last call.
  std::shared_ptr<const Snapshot> snapshot(Now now);
  /// Whether snapshot() would build a new one.
  bool changed() const { return dirty_; }

  const config::Config& config() const { return *config_; }
  std::size_t in_flight() const { return in_flight_.size(); }
  std::uint64_t results_recorded() const { return recorded_; }

 private:
  struct Member {
    std::optional<MemberRef> ref;  // nullopt: restored or a DNS failure, not scheduled
    std::shared_ptr<const config::Config> config;  // keeps ref->target alive
    std::chrono::steady_clock::time_point next_due{};
    bool running = false;
    SysTime newest_started{};  // start of the newest probe recorded
    std::shared_ptr<MemberView> view;
    bool shared = false;  // view is in a published snapshot: copy before changing
  };
  struct InFlight {
    InFlightCanary canary;
    ProbeResult smtp;  // the SMTP half of the result
  };
  struct Targets {
    std::shared_ptr<TargetView> view;
    bool shared = false;
  };

  Member& add_member(const Key& key);
  MemberView& edit(Member& m);
  TargetView& edit_target_histograms(const std::string& name);
  void retire(std::map<Key, Member>::iterator it, Effects& out);
  void watch(const InFlight& f, const config::TargetConfig& t, Now now, Effects& out);
  void record(ProbeResult r, Now now, Effects& out);
  void count(Member& m, const ProbeResult& r);
  void observe_mailbox_of(const config::TargetConfig& t, const ProbeResult& r, Now now,
                          Effects& out);
  void observe_mailbox_read(const std::string& mailbox, config::Duration outage_window, bool ok,
                            const std::string& detail, Now now, Effects& out);
  void log(Effects& out, std::string text, LogLine::Level level = LogLine::Level::info) const;
  /// Whether [log] level lets a line of `level` through (the others are not even made).
  bool logs(LogLine::Level level) const;
  /// The periodic summary line ([log] summary_interval), from tick().
  void summarize(Effects& out, Now now);
  const config::TargetConfig* target(const std::string& name) const;
  WriteBack write_back();

  std::shared_ptr<const config::Config> config_;
  std::string instance_;  // labels are fixed at start (a reload does not rename series)
  bool per_member_histograms_ = true;
  std::map<Key, Member> members_;
  std::map<std::string, InFlight> in_flight_;
  std::map<std::string, MailboxView> mailboxes_;
  std::map<std::string, OAuth2View> oauth2_;
  std::map<std::string, Targets> target_histograms_;
  /// When each lasting DNS failure (target, domain or MX host) is next recorded.
  std::map<Key, std::chrono::steady_clock::time_point> dns_failure_due_;
  std::optional<std::chrono::steady_clock::time_point> next_discovery_;  // nullopt: now
  std::chrono::steady_clock::time_point earliest_due_ =
      std::chrono::steady_clock::time_point::max();
  bool discovery_running_ = false;
  bool scheduled_ = false;  // the first discovery was applied: members have their slots
  bool warned_many_ = false;
  bool stopping_ = false;
  bool dirty_ = true;
  std::uint64_t recorded_ = 0;
  // Results by class since the last summary line, and when the next one is due.
  std::array<std::uint64_t, static_cast<std::size_t>(probes::ResultClass::mailbox_error) + 1>
      summary_counts_{};
  std::optional<std::chrono::steady_clock::time_point> next_summary_;
  std::uint64_t late_arrivals_ = 0;
  // Self-metrics.
  std::size_t pending_notifications_ = 0;
  std::map<std::string, std::uint64_t> alertmanager_failures_;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  bool last_reload_ok_ = true;
  // The state store's health, and what a write-back must add to the core's own view.
  StoreView store_;
  std::chrono::steady_clock::time_point store_retry_at_{};
  std::vector<TimedNotification> store_held_;
  std::vector<Key> store_forgotten_;
  std::uint64_t store_held_seq_ = 0;       // the newest held notification's seq
  std::uint64_t store_held_sent_seq_ = 0;  // the newest in the WriteBack asked for last
  std::size_t store_held_sent_ = 0;        // how many that WriteBack queued
  std::size_t store_forgotten_sent_ = 0;
  std::pair<std::size_t, std::size_t> store_counts_;  // canaries, member states written back
  std::uint64_t store_dropped_ = 0;  // notifications dropped beyond kMaxHeldNotifications
  std::shared_ptr<const Snapshot> snapshot_;
};

}  // namespace mailcanary::agent
