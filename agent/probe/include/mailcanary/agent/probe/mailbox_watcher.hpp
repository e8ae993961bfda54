// One reader per mailbox (and bounce mailbox), long-lived in the agent, for one run in
// `probe`: canaries are added as they are accepted, each is decided once (found,
// bounced, not found, reader_failed) and handed to the callback on the watcher's own
// thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::agent {

/// The mailbox as a watcher reads it: canaries of this key older than the longest
/// lost_after of the targets reading it (as mailbox or bounce mailbox), that nobody waits
/// for, are leftovers of an earlier run (a crash, a lost state, a `probe -t` cut short),
/// and the reader removes them.
config::MailboxConfig reading_config(const config::Config& cfg, const config::MailboxConfig& mb);

struct MailboxWatcherOptions {
  /// Log in as soon as the thread starts (MailboxReader::prepare), so the first scan
  /// after a send is not slowed by the login. A permanent refusal of that login is then
  /// final for this watcher: every canary added is decided reader_failed with it,
  /// without another login. For one-shot runs (`probe`), not the agent.
  bool login_first = false;
  /// Non-empty: the readers run in child processes of this binary (normally
  /// "/proc/self/exe"), so a crash in a parser ends that process, not ours; see
  /// probes/isolated_reader.hpp. Empty: in this process (tests).
  std::string reader_binary;
  /// How long the destructor lets the thread finish (its last removal of found canaries)
  /// before it cuts a call in progress short (MailboxReader::stop).
  std::chrono::milliseconds stop_grace{10000};
  /// Where the OAuth2 tokens come from, for a mailbox (or bounce mailbox) whose auth is
  /// xoauth2 or oauthbearer (probes::with_oauth2_login); null otherwise.
  std::shared_ptr<probes::TokenSource> tokens;
  std::shared_ptr<probes::TokenSource> bounce_tokens;
};

class MailboxWatcher {
 public:
  using Decided = std::function<void(const std::string& canary_id, const probes::Confirmation&)>;
  /// Reports after each scan whether it worked, and the readers' totals so far (the
  /// mailbox's and the bounce mailbox's together), for logs and metrics.
  using Health = std::function<void(bool read_ok, const std::string& error,
                                    const probes::ReaderCounters& counters)>;

  using Options = MailboxWatcherOptions;

  /// `decided` and `health` (may be empty) are called on the watcher's thread.
  MailboxWatcher(const config::MailboxConfig& mailbox, const config::MailboxConfig* bounces,
                 const std::string& hmac_key, probes::Clock& clock, Decided decided, Health health,
                 Options options = {});
  /// Stops the thread; canaries still open stay open (the caller persisted them).
  ~MailboxWatcher();
  MailboxWatcher(const MailboxWatcher&) = delete;
  MailboxWatcher& operator=(const MailboxWatcher&) = delete;

  void add(const probes::PendingCanary& p);
  std::size_t open_count() const;

 private:
  void run();
  void login_first();
  // Takes the canaries added since the last pass; with a refused login, decides them.
  std::vector<std::pair<std::string, probes::Confirmation>> take_incoming();
  // Hands decisions to the callback and the scan's health to `health`.
  void report(const std::vector<std::pair<std::string, probes::Confirmation>>& decided);
  void flush_quietly();

  config::MailboxConfig mailbox_;
  probes::Clock& clock_;
  Decided decided_;
  Health health_;
  std::unique_ptr<probes::MailboxReader> reader_;
  std::unique_ptr<probes::MailboxReader> bounces_;
  probes::CanaryWaiter waiter_;
  Options options_;
  std::string refused_;  // login_first: the permanent refusal, final
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<probes::PendingCanary> incoming_;
  std::size_t open_ = 0;
  bool stop_ = false;
  bool waiting_ = false;  // in reader_->wait(): add() interrupts it
  // Canaries found and perhaps not removed yet (the watcher's thread only). The reader
  // removes them at its own pace while it scans; when nothing is open any more, the
  // watcher flushes kFlushAfter later (real time) unless a new canary comes first.
  bool found_unflushed_ = false;
  static constexpr std::chrono::seconds kFlushAfter{1};
  bool finished_ = false;  // run() has done its last flush
  std::thread thread_;
};

}  // namespace mailcanary::agent
