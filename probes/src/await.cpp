#include <algorithm>

#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

std::map<std::string, Confirmation> await_canaries(MailboxReader& reader, MailboxReader* bounces,
                                                   const std::vector<PendingCanary>& pending,
                                                   const WaitPolicy& policy, Clock& clock) {
  std::map<std::string, Confirmation> out;
  std::map<std::string, const PendingCanary*> open;
  for (const auto& p : pending) {
    out[p.id] = Confirmation{};
    open[p.id] = &p;
  }
  std::string last_error;
  bool last_scan_failed = false;
  // Bounded: every pass either ends (nothing open) or moves toward the latest deadline
  // by at least one wait; the pass count cap is a guard against a clock that stands still.
  for (int pass = 0; !open.empty() && pass < 1000000; ++pass) {
    std::set<std::string> wanted;
    for (const auto& [id, p] : open) {
      wanted.insert(id);
    }
    try {
      auto found = reader.scan(wanted);
      last_scan_failed = false;
      const auto now = clock.now();
      for (const auto& f : found) {
        auto it = open.find(f.id);
        if (it == open.end()) {
          continue;
        }
        auto& c = out[f.id];
        c.state = Confirmation::State::found;
        c.folder = f.folder;
        c.headers = f.headers;
        c.delivery_seconds =
            std::max(0.0, std::chrono::duration<double>(now - it->second->accepted_at).count());
        open.erase(it);
      }
    } catch (const MailboxError& e) {
      last_error = e.what();
      last_scan_failed = true;
      if (e.permanent()) {
        break;
      }
    }
    if (bounces && !open.empty()) {
      std::set<std::string> still_open;
      for (const auto& [id, p] : open) {
        still_open.insert(id);
      }
      try {
        for (const auto& b : bounces->scan_bounces(still_open)) {
          if (open.erase(b.id) > 0) {
            out[b.id].state = Confirmation::State::bounced;
            out[b.id].error = b.summary;
          }
        }
      } catch (const MailboxError&) {
        // Bounces go unseen for now; the canary is still decided by the main mailbox.
      }
    }
    // Past its deadline, a canary is decided: lost if the reader was working, or a
    // reader failure if the reader could not look.
    const auto now = clock.now();
    for (auto it = open.begin(); it != open.end();) {
      if (now >= it->second->deadline) {
        if (last_scan_failed) {
          out[it->first].state = Confirmation::State::reader_failed;
          out[it->first].error = last_error;
        }
        it = open.erase(it);
      } else {
        ++it;
      }
    }
    if (open.empty()) {
      break;
    }
    auto next_deadline = std::min_element(open.begin(), open.end(), [](auto& a, auto& b) {
                           return a.second->deadline < b.second->deadline;
                         })->second->deadline;
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now);
    bool fresh = std::any_of(open.begin(), open.end(), [&](auto& entry) {
      return now - entry.second->accepted_at < policy.fast_window;
    });
    auto step = fresh ? std::min(policy.fast_interval, policy.poll_interval) : policy.poll_interval;
    reader.wait(clock, std::clamp(until, std::chrono::milliseconds(1), step));
  }
  for (const auto& [id, p] : open) {
    out[id].state = Confirmation::State::reader_failed;
    out[id].error = last_error.empty() ? "mailbox reader stopped" : last_error;
  }
  return out;
}

}  // namespace mailcanary::probes
