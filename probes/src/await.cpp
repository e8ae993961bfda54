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
double delivery_seconds(const Clock& clock, std::chrono::steady_clock::time_point seen_at,
                        std::chrono::steady_clock::time_point accepted, const FoundCanary& f,
                        bool unread) {
  const auto now = clock.now();
  const double seen = std::max(0.0, std::chrono::duration<double>(seen_at - accepted).count());
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
  // The scan's start is when it saw what it finds (its NOOP synced the server's view).
  const auto seen_at = clock.now();
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
          c.delivery_seconds = delivery_seconds(clock, seen_at, l->second.accepted_at, f, true);
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
          delivery_seconds(clock, seen_at, it->second.accepted_at, f, unread_.count(f.id) > 0);
      c.folder = std::move(f.folder);
      c.headers = std::move(f.headers);
      decided.emplace_back(f.id, std::move(c));
      unread_.erase(f.id);
      looks_.erase(f.id);
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
      looks_.clear();
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
          looks_.erase(b.id);
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
  const auto now = clock.now();
  schedule_after_scan(seen_at, now);
  // Past its deadline, a canary is decided: not found if the reader was working, a
  // reader failure if the reader could not look. Either way it is still looked for.
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
      looks_.erase(it->first);
      it = open_.erase(it);
    } else {
      ++it;
    }
  }
  return decided;
}

void CanaryWaiter::add(const PendingCanary& p) {
  open_[p.id] = p;
  looks_[p.id] = Looks{p.accepted_at + policy_.first_look, 0};
}

void CanaryWaiter::schedule_after_scan(std::chrono::steady_clock::time_point scanned,
                                       std::chrono::steady_clock::time_point now) {
  using std::chrono::milliseconds;
  if (last_scan_failed_) {
    const int doublings = std::min(failed_scans_ - 1, 10);
    retry_at_ = now + std::min(policy_.poll_interval, kFirstRetry * (1 << std::max(doublings, 0)));
  } else {
    retry_at_.reset();
  }
  // Every canary this scan looked for gets its next look: first_look x 2^n after its
  // acceptance, until the gap would pass poll_interval; then every poll_interval.
  for (auto& [id, l] : looks_) {
    if (l.next > scanned) {
      continue;
    }
    ++l.done;
    const auto& p = open_.at(id);
    const int shift = std::min(l.done, 30);
    const auto gap = policy_.first_look * (std::int64_t{1} << (shift - 1));
    if (gap < policy_.poll_interval) {
      l.next = std::max(p.accepted_at + policy_.first_look * (std::int64_t{1} << shift),
                        now + policy_.first_look);
    } else {
      l.next = now + policy_.poll_interval;
    }
  }
}

bool CanaryWaiter::due(const Clock& clock) const {
  const auto now = clock.now();
  for (const auto& [id, p] : open_) {
    if (p.deadline <= now) {
      return true;
    }
  }
  if (retry_at_) {
    return *retry_at_ <= now;
  }
  return std::any_of(looks_.begin(), looks_.end(),
                     [&](const auto& entry) { return entry.second.next <= now; });
}

std::chrono::milliseconds CanaryWaiter::next_wait(const Clock& clock) const {
  if (open_.empty()) {
    return policy_.poll_interval;
  }
  const auto now = clock.now();
  auto at = now + policy_.poll_interval;
  for (const auto& [id, p] : open_) {
    at = std::min(at, p.deadline);
  }
  if (retry_at_) {
    at = std::min(at, *retry_at_);
  } else {
    for (const auto& [id, l] : looks_) {
      at = std::min(at, l.next);
    }
  }
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(at - now));
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
  // Bounded: every pass decides something or waits toward the latest deadline; the pass
  // cap guards against a clock that stands still.
  bool pushed = false;
  for (int pass = 0; !waiter.empty() && pass < 1000000; ++pass) {
    if (pushed || waiter.due(clock)) {
      for (auto& [id, c] : waiter.step(clock)) {
        if (c.state != Confirmation::State::found_after_lost) {  // stays not_found
          out[id] = std::move(c);
        }
      }
    }
    if (waiter.empty()) {
      break;
    }
    const auto wait = waiter.next_wait(clock);
    pushed = wait.count() > 0 && reader.wait(clock, wait);
  }
  try {
    reader.flush();  // the canaries found are removed before this returns
  } catch (const MailboxError&) {
    // Left to the reader's next scan (or its end).
  }
  return out;
}

}  // namespace mailcanary::probes
