// Group commit of the state writes that follow every probe.
//
// Each probe used to cost two transactions (each one WAL append, a few fcntl locks and
// page writes): the canary in flight when SMTP accepted it, and its outcome when it was
// found a few milliseconds later. The agent now collects those writes for up to
// kHoldFor and writes them in one transaction. A canary decided within that time never
// gets its in-flight row at all: its outcome alone is written. So a busy agent writes
// well under one transaction per result, and a quiet one at most one.
//
// What it risks: a kill -9 (or a crash) loses the writes of the last kHoldFor. A canary
// sent then is unknown after the restart (its arrival is ignored, and the reader removes
// it as a leftover after lost_after); an outcome then is missing from /status's history.
// Nothing is counted twice. A clean stop writes everything.
//
// Only routine results wait. An outcome that changes a member's alarm or health (or
// carries an Alertmanager notification) is written at once, with whatever waits;
// notifications, forgotten members and write-backs too (order is kept). So a kill -9
// loses at most the last 0.25 s of routine results, never an alarm or health change.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mailcanary/agent/core/effects.hpp"

namespace mailcanary::agent {

class StoreBatch {
 public:
  using Time = std::chrono::steady_clock::time_point;
  static constexpr std::chrono::milliseconds kHoldFor{250};
  static constexpr std::size_t kMaxWrites = 512;

  /// Takes a PersistInFlight, PersistOutcome or DropInFlight (moved from `e`) and returns
  /// true; false for any other effect, which the caller carries out itself (after
  /// take()-ing and writing what waits here, to keep the order).
  bool add(Effect& e, Time now);

  bool empty() const { return writes_.empty(); }
  std::size_t size() const { return writes_.size(); }
  /// When the batch must be written: kHoldFor after its oldest write; at once when full
  /// or when it holds an outcome that changed a member's alarm or health (or carries a
  /// notification), so a restart always shows the newest alarm and health state.
  std::optional<Time> due_at() const;
  bool due(Time now) const {
    const auto at = due_at();
    return at && *at <= now;
  }

  struct Taken {
    std::vector<StateWrite> writes;  // for StateStore::write()
    /// What Core::store_failed() needs when the write fails: the outcomes that carried a
    /// notification (everything else is in the core's own view).
    Effects held;
  };
  /// Everything collected, in order, without the in-flight rows of canaries decided
  /// since; the batch is empty afterwards.
  Taken take();

 private:
  std::vector<std::optional<StateWrite>> writes_;    // nullopt: an in-flight row cancelled
  std::map<std::string, std::size_t> in_flight_at_;  // canary id -> index in writes_
  Effects held_;
  std::optional<Time> first_at_;
  bool urgent_ = false;  // an outcome that changed a member's alarm or health waits here
};

}  // namespace mailcanary::agent
