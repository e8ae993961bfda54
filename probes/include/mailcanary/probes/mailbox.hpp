// Mailbox confirmation step: find signed canaries in a mailbox and remove them.
//
// A MailboxReader does the protocol work (IMAP, POP3); await_canaries() is
// the protocol-free loop that waits for a set of sent canaries until each one's
// deadline, through an injected clock.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"

namespace mailcanary::probes {

/// The reader side failed. `permanent` errors (login refused, folder missing) will not
/// heal by retrying within one probe. `token_refused`: the server refused the OAuth2
/// access token the reader logged in with (a new token may do).
class MailboxError : public std::runtime_error {
 public:
  MailboxError(const std::string& what, bool permanent, bool token_refused = false)
      : std::runtime_error(what), permanent_(permanent), token_refused_(token_refused) {}
  bool permanent() const { return permanent_; }
  bool token_refused() const { return token_refused_; }

 private:
  bool permanent_;
  bool token_refused_;
};

/// What a reader with an OAuth2 `auth` logs in with: the token source's current access
/// token, or why there is none (`error`, when `value` is empty). A secret: never logged.
struct LoginToken {
  std::string value;
  std::string error;
};

struct FoundCanary {
  std::string id;
  std::string folder;
  std::string headers;  // the header fields evidence is taken from (bounded)
  /// When the server says the message arrived (IMAP INTERNALDATE, whole seconds), if it
  /// says. Used for the delivery time of a canary found after the mailbox could not be
  /// read for a while, when the time of the scan that found it says nothing.
  std::optional<std::chrono::system_clock::time_point> delivered_at;
};

struct FoundBounce {
  std::string id;
  std::string summary;  // "5.1.1 failed: <Diagnostic-Code>"
};

class MailboxReader {
 public:
  virtual ~MailboxReader() = default;
  /// Looks once for the canaries in `wanted`, removes those found (unless configured
  /// to keep them) and returns them. Canaries not wanted, foreign or forged ones are
  /// left alone. Throws MailboxError.
  virtual std::vector<FoundCanary> scan(const std::set<std::string>& wanted) = 0;
  /// Looks once for delivery status notifications reporting a final failure of a
  /// canary in `wanted` (this reader then reads the envelope sender's mailbox); removes
  /// those found (unless configured to keep them). Throws MailboxError. Default: none.
  virtual std::vector<FoundBounce> scan_bounces(const std::set<std::string>& /*wanted*/) {
    return {};
  }
  /// The token the next login uses (auth = xoauth2 | oauthbearer; ignored otherwise). A
  /// session already logged in keeps going. Default: ignored.
  virtual void set_login_token(const LoginToken& /*token*/) {}
  /// Connects and logs in ahead of time, so the first scan after a send is not slowed
  /// by the login. Throws MailboxError; a later scan retries. Default: nothing.
  virtual void prepare() {}
  /// Waits up to `max` for the mailbox to change (IMAP IDLE), for interrupt(), or just
  /// sleeps (the default). True when the server said something changed: look now.
  virtual bool wait(Clock& clock, std::chrono::milliseconds max) {
    clock.sleep_for(max);
    return false;
  }
  /// Ends a wait() in progress early, or the next one if none is. The one call another
  /// thread may make (the agent adding a canary while the watcher waits). Default: none.
  virtual void interrupt() {}
  /// The owner is going and will not wait: a call in progress in another thread ends now
  /// with a MailboxError (an isolated reader shuts its socket down; its child is then
  /// reaped). Thread-safe. Default: nothing (in-process calls end within their I/O
  /// timeouts).
  virtual void stop() {}
  /// For an isolated reader's child: wait() also ends when `fd` (the socket to the agent)
  /// becomes readable, without reading from it. Default: ignored.
  virtual void also_wake_on(int /*fd*/) {}
  /// Removes the canaries found but not yet removed (deletions are batched). Called
  /// before the reader goes; a failure is left for the next scan. Default: nothing.
  virtual void flush() {}
  /// Messages carrying the canary header whose signature did not verify, seen so far.
  virtual std::size_t foreign_seen() const = 0;
  /// Sessions opened again after the previous one failed or was dropped, so far (IMAP;
  /// POP3 opens one session per scan by design and reports 0).
  virtual std::uint64_t reconnects() const { return 0; }
  /// Protocol commands sent to the server so far (what the probe costs the server).
  virtual std::uint64_t commands() const { return 0; }
  /// Our own canaries removed because nobody waited for them any more (left by an
  /// earlier run, older than MailboxConfig::leftover_after), so far.
  virtual std::uint64_t leftovers_removed() const { return 0; }
};

/// A reader's running totals, as the agent reports them.
struct ReaderCounters {
  std::uint64_t reconnects = 0;
  std::uint64_t commands = 0;
  std::uint64_t leftovers_removed = 0;
  bool operator==(const ReaderCounters&) const = default;
};

/// A reader for the configured mailbox. Connects lazily, on the first scan.
std::unique_ptr<MailboxReader> make_mailbox_reader(const config::MailboxConfig& cfg,
                                                   const std::string& hmac_key);

struct PendingCanary {
  std::string id;
  std::chrono::steady_clock::time_point accepted_at;  // the 250 after end of data
  std::chrono::steady_clock::time_point deadline;     // accepted_at + lost_after
};

struct Confirmation {
  /// found_after_lost: a canary already decided not_found arrived after all. It is not
  /// a new success: the caller records it as a late arrival of a lost canary.
  enum class State { found, not_found, bounced, reader_failed, found_after_lost };
  State state = State::not_found;
  double delivery_seconds = 0;  // found: from accepted_at to the scan that saw it
  std::string folder;
  std::string error;    // reader_failed: what the reader said; bounced: the DSN summary
  std::string headers;  // found: see FoundCanary
};

/// When to look. A canary usually lands within milliseconds of its acceptance (Postfix
/// writes the Maildir file ~2 ms after its 250), while an IMAP server may delay its IDLE
/// push (Dovecot: ~0.5 s). So each canary is looked for at growing gaps after its 250:
/// first_look, then 2x, 4x ... (2, 4, 8, 16 ms ...), the gap capped at poll_interval;
/// nothing is looked at while no canary is due (IDLE may still wake the reader). One
/// scan covers every open canary, so the cost is per reader, not per canary.
struct WaitPolicy {
  std::chrono::milliseconds poll_interval{5000};
  std::chrono::milliseconds first_look{2};
  /// true (`probe`, a one-shot run): a permanent reader error (login refused, folder
  /// missing) decides every open canary reader_failed at once. false (the agent): the
  /// canaries stay open like through any outage, since a refusal may be the server
  /// shutting down; only past its deadline is a canary reader_failed.
  bool permanent_error_decides = true;
};

/// The incremental form: a set of open canaries, each decided once it is found,
/// bounced, or past its deadline. The agent keeps one per mailbox for as long as it
/// runs and adds canaries as they are sent; `probe` runs one to completion.
/// Not thread-safe: one thread owns it (and its readers).
class CanaryWaiter {
 public:
  CanaryWaiter(MailboxReader& reader, MailboxReader* bounces, WaitPolicy policy)
      : reader_(reader), bounces_(bounces), policy_(policy) {}

  void add(const PendingCanary& p);
  /// Watches for a canary already decided lost (e.g. after a restart), to report it
  /// as found_after_lost if it turns up.
  void add_lost(const PendingCanary& p);
  /// Nothing open (lost canaries still watched do not count: they need no haste).
  bool empty() const { return open_.empty(); }
  std::size_t open_count() const { return open_.size(); }

  /// One pass: scans once and returns what is decided now. A reader error decides only
  /// the canaries past their deadline, as reader_failed (a permanent one, with
  /// WaitPolicy::permanent_error_decides, every open canary). A canary decided
  /// reader_failed is still looked for, like a lost one: it is removed when the mailbox
  /// can be read again and reported found_after_lost. A canary found after scans failed
  /// while it was open gets its delivery time from the server's arrival time
  /// (FoundCanary::delivered_at) when there is one. A failing bounce reader only means
  /// bounces go unseen: it never fails a canary.
  std::vector<std::pair<std::string, Confirmation>> step(Clock& clock);

  /// Whether the last scan worked, and what the reader said when it did not.
  bool last_scan_failed() const { return last_scan_failed_; }
  const std::string& last_error() const { return last_error_; }

  /// Whether a step is due now: a canary's next look or its deadline has come.
  bool due(const Clock& clock) const;
  /// How long to wait before the next step is due (0: now); poll_interval when nothing
  /// is open. After a failed scan, retries come at growing gaps (250 ms, 500 ms ... up
  /// to poll_interval), so a server that is down is not hammered.
  std::chrono::milliseconds next_wait(const Clock& clock) const;

 private:
  MailboxReader& reader_;
  MailboxReader* bounces_;
  WaitPolicy policy_;
  std::map<std::string, PendingCanary> open_;
  struct Looks {
    std::chrono::steady_clock::time_point next;  // the next look is due
    int done = 0;                                // looks so far
  };
  std::map<std::string, Looks> looks_;  // of each open canary
  void schedule_after_scan(std::chrono::steady_clock::time_point scanned,
                           std::chrono::steady_clock::time_point now);
  std::optional<std::chrono::steady_clock::time_point> retry_at_;  // after a failed scan
  // Open canaries that were open while a scan failed: their scan time is not their
  // delivery time.
  std::set<std::string> unread_;
  // Canaries decided not_found, still looked for (and removed when they turn up) for
  // kLostWatch after their deadline; bounded in count.
  static constexpr std::chrono::hours kLostWatch{24};
  static constexpr std::size_t kMaxLostWatched = 10000;
  std::map<std::string, PendingCanary> lost_;
  std::string last_error_;
  bool last_scan_failed_ = false;
  int failed_scans_ = 0;  // in a row
  static constexpr std::chrono::milliseconds kFirstRetry{250};
};

/// Runs a CanaryWaiter until every pending canary is decided (found, bounced when
/// `bounces` reads the envelope sender's mailbox, not found, or reader_failed), then
/// flushes the reader (the canaries found are removed).
std::map<std::string, Confirmation> await_canaries(MailboxReader& reader, MailboxReader* bounces,
                                                   const std::vector<PendingCanary>& pending,
                                                   const WaitPolicy& policy, Clock& clock);

/// The unfolded values of every header field `name` (case-insensitive) in a header
/// block; bounded to `max_values` values.
std::vector<std::string> header_values(std::string_view headers, std::string_view name,
                                       std::size_t max_values = 16);

}  // namespace mailcanary::probes
