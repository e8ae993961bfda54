// The core's view of the state store: writes that fail (a full or read-only file
// system) and the write-back once it works again.
//
// Why a write-back from the core's view rather than a queue of the failed writes: what a
// restart needs is the canaries in flight and every member's alarm and health state, and
// the core holds all of it, always current. Rewriting that whole (small) picture in one
// transaction covers any number of failed writes, in any order, with bounded memory
// and nothing to replay. Only what the core no longer holds is kept from the failed
// writes themselves: Alertmanager notifications (bounded) and forgotten members. The
// result history (for /status) of the failing time is not written back.
//
// Paging does not wait for the disk: the held notifications are in the snapshot, the
// Alertmanager sender delivers them from there in order and reports it
// (held_delivered()); a write-back queues only those not delivered yet.
#include <cstdio>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/core.hpp"

namespace mailcanary::agent {

using Steady = std::chrono::steady_clock;

namespace {

std::string seconds_text(SysTime::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace

Effects Core::store_failed(const std::string& what, const Effect* failed, Now now) {
  Effects one;
  if (failed) {
    one.push_back(*failed);
  }
  return store_failed(what, one, now);
}

Effects Core::store_failed(const std::string& what, const Effects& failed_writes, Now now) {
  Effects out;
  // The store's errors say "state store: " first: said once, by the line below.
  const std::string prefix = "state store: ";
  const std::string error = what.starts_with(prefix) ? what.substr(prefix.size()) : what;
  ++store_.errors;
  store_.last_error = error;
  store_.last_error_at = now.wall;
  dirty_ = true;
  const auto hold = [&](const NewNotification& n, SysTime at) {
    store_held_.push_back(TimedNotification{n, at, ++store_held_seq_});
    if (store_held_.size() > kMaxHeldNotifications) {
      store_held_.erase(store_held_.begin());
      ++store_dropped_;
    }
  };
  for (const Effect& effect : failed_writes) {
    const Effect* failed = &effect;
    if (const auto* o = std::get_if<PersistOutcome>(failed); o && o->outcome.notification) {
      hold(*o->outcome.notification, o->outcome.at);
    } else if (const auto* q = std::get_if<QueueNotification>(failed)) {
      hold(q->notification, q->at);
    } else if (const auto* f = std::get_if<ForgetMember>(failed)) {
      store_forgotten_.emplace_back(f->target, f->member);
    }
    // PersistInFlight, DropInFlight, a PersistOutcome's state: in the core's own view.
    // A failed WriteBack: everything it held is still held.
  }
  if (store_.ok) {
    store_.ok = false;
    store_.failing_since = now.wall;
    store_retry_at_ = now.mono + kStoreRetryEvery;
    if (!stopping_) {
      log(out,
          "state store failing: " + error +
              ". Probing, alarms and the HTTP endpoints go on; the state is kept in memory "
              "and written back when the store works again (tried every " +
              seconds_text(kStoreRetryEvery) + ")",
          LogLine::Level::error);
    }
  }
  return out;
}

void Core::held_delivered(std::uint64_t seq) {
  const auto before = store_held_.size();
  std::erase_if(store_held_, [&](const TimedNotification& n) { return n.seq <= seq; });
  if (store_held_.size() != before) {
    dirty_ = true;
  }
}

WriteBack Core::write_back() {
  WriteBack w;
  for (const auto& [id, f] : in_flight_) {
    w.state.in_flight.push_back(f.canary);
  }
  for (const auto& [key, m] : members_) {
    if (m.view->status.last_probe_at) {  // others have no state worth a row
      w.state.member_states.emplace_back(key, encode_member_status(m.view->status));
    }
  }
  w.state.forgotten = store_forgotten_;
  w.state.notifications = store_held_;
  store_forgotten_sent_ = store_forgotten_.size();
  store_held_sent_ = store_held_.size();
  store_held_sent_seq_ = store_held_.empty() ? 0 : store_held_.back().seq;
  store_counts_ = {w.state.in_flight.size(), w.state.member_states.size()};
  return w;
}

Effects Core::store_written_back(Now now) {
  Effects out;
  if (store_.ok) {
    return out;
  }
  std::erase_if(store_held_,
                [&](const TimedNotification& n) { return n.seq <= store_held_sent_seq_; });
  store_forgotten_.erase(
      store_forgotten_.begin(),
      store_forgotten_.begin() + static_cast<std::ptrdiff_t>(store_forgotten_sent_));
  std::string line = "state store works again after " +
                     seconds_text(now.wall - store_.failing_since.value_or(now.wall)) +
                     ": wrote back " + std::to_string(store_counts_.first) +
                     " canaries in flight, " + std::to_string(store_counts_.second) +
                     " member states and " + std::to_string(store_held_sent_) + " notifications";
  if (store_dropped_ > 0) {
    line += " (" + std::to_string(store_dropped_) + " older notifications were dropped)";
  }
  store_held_sent_ = 0;
  store_forgotten_sent_ = 0;
  store_dropped_ = 0;
  store_.ok = true;
  store_.failing_since.reset();
  dirty_ = true;
  if (!stopping_) {
    log(out, std::move(line));
  }
  return out;
}

}  // namespace mailcanary::agent
