#include <algorithm>

#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

void CanaryWaiter::add_lost(const PendingCanary& p) {
  if (lost_.size() >= kMaxLostWatched) {
    lost_.erase(std::min_element(lost_.begin(), lost_.end(), [](auto& a, auto& b) {
      return a.second.deadline < b.second.deadline;
    }));
  }
  lost_[p.id] = p;
}

namespace {

// Seconds from acceptance to arrival. The scan that found it bounds it from above; after
// scans failed, the server's own arrival time (whole seconds, so up to 1 s early) is
// the better measure, when the server gave one.
double delivery_seconds(const Clock& clock, std::chrono::steady_clock::time_point accepted,
                        const FoundCanary& f, bool unread) {
  const auto now = clock.now();
  const double seen = std::max(0.0, std::chrono::duration<double>(now - accepted).count());
  if (!unread || !f.delivered_at) {
    return seen;
  }
  const auto accepted_wall =
      clock.wall() -
      std::chrono::duration_cast<std::chrono::system_clock::duration>(now - accepted);
  const double arrived = std::chrono::duration<double>(*f.delivered_at - accepted_wall).count();
  return std::clamp(arrived, 0.0, seen);
}

}  // namespace

std::vector<std::pair<std::string, Confirmation>> CanaryWaiter::step(Clock& clock) {
  std::vector<std::pair<std::string, Confirmation>> decided;
  if (open_.empty()) {
    return decided;
  }
  std::set<std::string> wanted;
  for (const auto& [id, p] : open_) {
    wanted.insert(id);
  }
  for (const auto& [id, p] : lost_) {
    wanted.insert(id);
  }
  try {
    auto found = reader_.scan(wanted);
    last_scan_failed_ = false;
    failed_scans_ = 0;
    for (auto& f : found) {
      auto it = open_.find(f.id);
      if (it == open_.end()) {
        if (auto l = lost_.find(f.id); l != lost_.end()) {
          Confirmation c;
          c.state = Confirmation::State::found_after_lost;
          c.delivery_seconds = delivery_seconds(clock, l->second.accepted_at, f, true);
          c.folder = std::move(f.folder);
          c.headers = std::move(f.headers);
          decided.emplace_back(f.id, std::move(c));
          lost_.erase(l);
        }
        continue;
      }
      Confirmation c;
      c.state = Confirmation::State::found;
      c.delivery_seconds =
          delivery_seconds(clock, it->second.accepted_at, f, unread_.count(f.id) > 0);
      c.folder = std::move(f.folder);
      c.headers = std::move(f.headers);
      decided.emplace_back(f.id, std::move(c));
      unread_.erase(f.id);
      open_.erase(it);
    }
  } catch (const MailboxError& e) {
    last_error_ = e.what();
    last_scan_failed_ = true;
    ++failed_scans_;
    for (const auto& [id, p] : open_) {
      unread_.insert(id);
    }
    if (e.permanent() && policy_.permanent_error_decides) {
      for (const auto& [id, p] : open_) {
        Confirmation c;
        c.state = Confirmation::State::reader_failed;
        c.error = last_error_;
        decided.emplace_back(id, std::move(c));
        add_lost(p);
      }
      open_.clear();
      unread_.clear();
      return decided;
    }
  }
  if (bounces_ && !open_.empty()) {
    std::set<std::string> still_open;
    for (const auto& [id, p] : open_) {
      still_open.insert(id);
    }
    try {
      for (const auto& b : bounces_->scan_bounces(still_open)) {
        if (open_.erase(b.id) > 0) {
          unread_.erase(b.id);
          Confirmation c;
          c.state = Confirmation::State::bounced;
          c.error = b.summary;
          decided.emplace_back(b.id, std::move(c));
        }
      }
    } catch (const MailboxError&) {
      // Bounces go unseen for now; the canary is still decided by the main mailbox.
    }
  }
  // Past its deadline, a canary is decided: not found if the reader was working, a
  // reader failure if the reader could not look. Either way it is still looked for.
  const auto now = clock.now();
  for (auto it = lost_.begin(); it != lost_.end();) {
    it = now - it->second.deadline > kLostWatch ? lost_.erase(it) : std::next(it);
  }
  for (auto it = open_.begin(); it != open_.end();) {
    if (now >= it->second.deadline) {
      Confirmation c;
      if (last_scan_failed_) {
        c.state = Confirmation::State::reader_failed;
        c.error = last_error_;
      }
      add_lost(it->second);
      decided.emplace_back(it->first, std::move(c));
      unread_.erase(it->first);
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  return decided;
}

std::chrono::milliseconds CanaryWaiter::next_wait(const Clock& clock) const {
  if (open_.empty()) {
    return policy_.poll_interval;
  }
  const auto now = clock.now();
  auto next_deadline = std::min_element(open_.begin(), open_.end(), [](auto& a, auto& b) {
                         return a.second.deadline < b.second.deadline;
                       })->second.deadline;
  auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now);
  bool fresh = std::any_of(open_.begin(), open_.end(), [&](auto& entry) {
    return now - entry.second.accepted_at < policy_.fast_window;
  });
  auto step =
      fresh ? std::min(policy_.fast_interval, policy_.poll_interval) : policy_.poll_interval;
  if (last_scan_failed_) {
    // The mailbox cannot be read: try again at growing gaps (250 ms, 500 ms, ... up to
    // poll_interval), not at the fast interval, so a server that is down is not hammered.
    const int doublings = std::min(failed_scans_ - 1, 10);
    step = std::min(policy_.poll_interval, kFirstRetry * (1 << std::max(doublings, 0)));
  }
  return std::clamp(until, std::chrono::milliseconds(1), step);
}

std::map<std::string, Confirmation> await_canaries(MailboxReader& reader, MailboxReader* bounces,
                                                   const std::vector<PendingCanary>& pending,
                                                   const WaitPolicy& policy, Clock& clock) {
  CanaryWaiter waiter(reader, bounces, policy);
  std::map<std::string, Confirmation> out;
  for (const auto& p : pending) {
    waiter.add(p);
    out[p.id] = Confirmation{};
  }
  // Bounded: every pass decides something or waits at least 1 ms toward the latest
  // deadline; the pass cap guards against a clock that stands still.
  for (int pass = 0; !waiter.empty() && pass < 1000000; ++pass) {
    for (auto& [id, c] : waiter.step(clock)) {
      if (c.state != Confirmation::State::found_after_lost) {  // stays not_found
        out[id] = std::move(c);
      }
    }
    if (waiter.empty()) {
      break;
    }
    reader.wait(clock, waiter.next_wait(clock));
  }
  return out;
}

}  // namespace mailcanary::probes
