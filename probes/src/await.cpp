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
    const auto now = clock.now();
    for (auto& f : found) {
      auto it = open_.find(f.id);
      if (it == open_.end()) {
        if (auto l = lost_.find(f.id); l != lost_.end()) {
          Confirmation c;
          c.state = Confirmation::State::found_after_lost;
          c.folder = std::move(f.folder);
          c.headers = std::move(f.headers);
          c.delivery_seconds =
              std::max(0.0, std::chrono::duration<double>(now - l->second.accepted_at).count());
          decided.emplace_back(f.id, std::move(c));
          lost_.erase(l);
        }
        continue;
      }
      Confirmation c;
      c.state = Confirmation::State::found;
      c.folder = std::move(f.folder);
      c.headers = std::move(f.headers);
      c.delivery_seconds =
          std::max(0.0, std::chrono::duration<double>(now - it->second.accepted_at).count());
      decided.emplace_back(f.id, std::move(c));
      open_.erase(it);
    }
  } catch (const MailboxError& e) {
    last_error_ = e.what();
    last_scan_failed_ = true;
    if (e.permanent()) {
      for (const auto& [id, p] : open_) {
        Confirmation c;
        c.state = Confirmation::State::reader_failed;
        c.error = last_error_;
        decided.emplace_back(id, std::move(c));
      }
      open_.clear();
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
  // reader failure if the reader could not look.
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
      } else {
        add_lost(it->second);
      }
      decided.emplace_back(it->first, std::move(c));
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
