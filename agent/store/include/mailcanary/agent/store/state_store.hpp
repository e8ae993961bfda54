// The agent's persistent state: one SQLite database, <state_dir>/mailcanary.db.
//
// It holds what a restart must not lose: the canaries in flight (sent, accepted, not yet
// decided), each member's alarm state (opaque JSON owned by the alarm logic), a short
// history of results per member (for /status) and the Alertmanager outbox.
//
// Durability. The database runs in WAL mode with synchronous=NORMAL. A commit appends to
// the WAL through the operating system before it returns, so a transaction that has
// returned survives a crash of the process (kill -9, abort, OOM kill). It is fsync'ed
// only at checkpoints, so a power loss or kernel crash may roll back the last
// transactions; the database is still consistent afterwards (never half a transaction).
// Losing the newest transactions on power loss means: a canary recorded in flight just
// before is unknown after the reboot (its arrival is then ignored, never counted twice),
// an outcome may be missing from the history.
//
// Nothing is counted twice. Writes are idempotent where a replay can happen: an in-flight
// canary is keyed by its id (a second add replaces it); record_outcome() removes the
// canary from flight, saves the member state and appends the result in ONE transaction,
// and refuses an outcome whose canary id is already recorded.
//
// Threads. Every member function is thread-safe: one connection, serialised by a mutex.
// Calls are short; they block each other, never deadlock.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mailcanary/agent/core/records.hpp"

namespace mailcanary::agent {

/// The state cannot be used: the message says which file and why, and what the operator
/// can do about it (e.g. the --fresh-state flag).
class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A queued notification: kept until mark_sent(), retried at next_attempt_at.
struct PendingNotification {
  std::int64_t id = 0;  // increases with each enqueue
  std::string key;
  std::string kind;
  std::string payload;
  int attempts = 0;
  SysTime next_attempt_at{};
  SysTime created_at{};
};

/// An exclusive lock on a state directory (flock on <dir>/mailcanary.lock, which holds
/// the owner's pid), held for the object's lifetime. A process killed by a signal
/// releases it with its file descriptors.
class StateDirLock {
 public:
  /// Throws StateError "another mailcanary agent is using DIR (pid N)" when a live
  /// process holds it, or naming the file when it cannot be opened.
  explicit StateDirLock(const std::filesystem::path& dir);
  ~StateDirLock();
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  int fd_ = -1;
};

/// Moves `db` and its -wal/-shm companions aside to `db`.corrupt-YYYYMMDDTHHMMSSZ (with
/// "-N" appended when that name is taken); never deletes anything. The WAL moves first,
/// so it can never be replayed into a new database. Returns the new path of the database
/// file. Throws StateError when a rename fails.
std::filesystem::path move_state_aside(const std::filesystem::path& db, SysTime now);

class StateStore {
 public:
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kFileName = "mailcanary.db";
  static constexpr const char* kFreshFlag = "--fresh-state";

  struct OpenOptions {
    /// Move an unusable database aside (see move_state_aside) and start empty, instead
    /// of refusing to open it.
    bool start_fresh = false;
    /// Results kept per member by add_result()/record_outcome().
    int history_per_member = 50;
  };

  /// Opens <state_dir>/mailcanary.db, creating the directory and the database when
  /// missing, and locks the directory (StateDirLock). Throws StateError naming the file
  /// when the directory cannot be created or written, another agent holds it, or the
  /// database is unusable: unreadable, not a database, missing while its WAL is there, not a
  /// mailcanary database, fails PRAGMA quick_check, or has a schema newer than kSchemaVersion. For
  /// an unusable database the message names kFreshFlag; with start_fresh it is moved aside instead.
  /// Older schemas are migrated.
  static std::unique_ptr<StateStore> open(const std::filesystem::path& state_dir,
                                          OpenOptions options);
  static std::unique_ptr<StateStore> open(const std::filesystem::path& state_dir) {
    return open(state_dir, OpenOptions{});
  }

  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  /// The database file.
  const std::filesystem::path& path() const;
  /// Where open() moved an unusable database (start_fresh), if it did.
  const std::optional<std::filesystem::path>& moved_aside() const;

  // In-flight canaries.
  /// Inserts or replaces (by id).
  void add_in_flight(const InFlightCanary& canary);
  /// Removes a canary that is decided without an outcome to record; no-op when unknown.
  void remove_in_flight(const std::string& id);
  /// All canaries in flight, earliest deadline first (read at start-up).
  std::vector<InFlightCanary> in_flight() const;

  // Member state: opaque JSON text written by the alarm logic.
  void save_member_state(const std::string& target, const std::string& member,
                         const std::string& json);
  /// Every saved state, keyed by (target, member).
  std::map<std::pair<std::string, std::string>, std::string> member_states() const;
  /// A retired member: drops its state and its result history (not its canaries in
  /// flight, which are still decided).
  void forget_member(const std::string& target, const std::string& member);

  // Result history, bounded per member.
  void add_result(const std::string& target, const std::string& member, SysTime at,
                  const std::string& result_json);
  /// At most `limit` results of the member, newest first.
  std::vector<std::string> recent_results(const std::string& target, const std::string& member,
                                          int limit) const;

  /// One decided probe, in one transaction: removes outcome.canary_id from flight,
  /// saves the member state, appends the result (pruning the history) and queues the
  /// notification. Returns false and changes nothing when an outcome for the same
  /// canary id is already in the history (a replay).
  bool record_outcome(const Outcome& outcome);

  /// A group commit: every write in order, in ONE transaction (one WAL append however
  /// many results it holds). An outcome already in the history (a replay) is skipped, as
  /// record_outcome() does; returns how many were. On failure nothing is written.
  std::size_t write(const std::vector<StateWrite>& writes);

  /// After failed writes: writes what the store missed, in one transaction. Forgets the
  /// members in w.forgotten (state and history), saves each member state, replaces every
  /// canary in flight with w.in_flight, and queues w.notifications in order.
  void write_back(const StateWriteBack& w);

  // Alertmanager outbox.
  /// Queues a notification due at `now`, with 0 attempts. Returns its id.
  std::int64_t enqueue_notification(const NewNotification& n, SysTime now);
  /// Delivered: removes it. No-op when unknown.
  void mark_sent(std::int64_t id);
  /// Not delivered: next try at `next_attempt_at`, with `attempts` made so far.
  void reschedule(std::int64_t id, SysTime next_attempt_at, int attempts);
  /// At most `limit` notifications due at `now`, by next_attempt_at, then id.
  std::vector<PendingNotification> due_notifications(SysTime now, int limit) const;
  std::size_t pending_notifications() const;

  /// Write transactions committed since open() (each is one WAL append).
  std::uint64_t writes() const;

  struct Impl;  // defined in state_store.cpp

 private:
  explicit StateStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailcanary::agent
