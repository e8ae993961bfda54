// The agent's mailbox watchers: one per (mailbox, bounce mailbox) pair, made when its
// first canary is watched, with what it reports wired to the core.
#include <algorithm>

#include "mailcanary/agent/runtime/agent.hpp"

namespace mailcanary::agent {

MailboxWatcher* Agent::watcher_for(const std::string& mailbox, const std::string& bounces) {
  auto& w = watchers_[{mailbox, bounces}];
  if (!w) {
    const auto& cfg = core_->config();
    const auto* mb = cfg.find_mailbox(mailbox);
    if (!mb) {
      watchers_.erase({mailbox, bounces});
      return nullptr;  // removed by a reload: its canaries are decided by their targets
    }
    const auto* bounce_mb = bounces.empty() ? nullptr : cfg.find_mailbox(bounces);
    const config::MailboxConfig reading = reading_config(cfg, *mb);
    std::optional<config::MailboxConfig> bounce_reading;
    if (bounce_mb) {
      bounce_reading = reading_config(cfg, *bounce_mb);
    }
    w = std::make_unique<MailboxWatcher>(
        reading, bounce_reading ? &*bounce_reading : nullptr, cfg.agent.hmac_key, clock_,
        [this](const std::string& id, const probes::Confirmation& c) {
          post([id, c](Core& core, Now n) { return core.confirmed(id, c, n); });
        },
        // Called after every scan (every few ms while a canary is fresh): news (a failed
        // read, the first good one after it, a reconnect) goes to the core at once, the
        // growing counters at most once a second.
        [this, mailbox, last = std::optional<probes::ReaderCounters>(), last_ok = true,
         last_post = std::chrono::steady_clock::time_point()](
            bool ok, const std::string& error, const probes::ReaderCounters& counters) mutable {
          const auto t = clock_.now();
          const bool news = !ok || !last_ok || !last || last->reconnects != counters.reconnects ||
                            last->leftovers_removed != counters.leftovers_removed;
          if (!news && (*last == counters || t - last_post < std::chrono::seconds(1))) {
            return;
          }
          last = counters;
          last_ok = ok;
          last_post = t;
          post([=](Core& core, Now n) {
            return core.mailbox_state(mailbox, ok, error, counters, n);
          });
        },
        MailboxWatcher::Options{.reader_binary = options_.reader_binary,
                                .tokens = tokens_.source(cfg, reading.oauth2),
                                .bounce_tokens = bounce_reading
                                                     ? tokens_.source(cfg, bounce_reading->oauth2)
                                                     : nullptr});
  }
  return w.get();
}

}  // namespace mailcanary::agent
