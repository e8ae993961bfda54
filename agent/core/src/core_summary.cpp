// The periodic summary: with each probe's result at debug, this is the one routine line
// a healthy agent writes at info ([log] summary_interval, default 1 h).
#include "mailcanary/agent/core/core.hpp"

namespace mailcanary::agent {

void Core::summarize(Effects& out, Now now) {
  const auto every = config_->log.summary_interval;
  if (every <= config::Duration::zero()) {
    return;
  }
  if (!next_summary_) {
    next_summary_ = now.mono + every;  // the first one an interval after the start
    return;
  }
  if (now.mono < *next_summary_) {
    return;
  }
  next_summary_ = now.mono + every;
  std::uint64_t results = 0;
  for (auto n : summary_counts_) {
    results += n;
  }
  std::size_t alarms = 0;
  std::size_t down = 0;
  for (const auto& [key, m] : members_) {
    alarms += m.view->status.in_alarm ? 1 : 0;
    down += m.view->status.last_probe_at && !m.view->status.health_up ? 1 : 0;
  }
  std::size_t unreadable = 0;
  for (const auto& [name, mb] : mailboxes_) {
    unreadable += mb.up == false ? 1 : 0;
  }
  std::string by_class;
  for (std::size_t c = 0; c < summary_counts_.size(); ++c) {
    if (summary_counts_[c] != 0) {
      by_class += by_class.empty() ? " (" : ", ";
      by_class += std::string(to_string(static_cast<probes::ResultClass>(c))) + " " +
                  std::to_string(summary_counts_[c]);
    }
  }
  if (!by_class.empty()) {
    by_class += ")";
  }
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(every).count();
  const std::string span = secs % 3600 == 0 ? std::to_string(secs / 3600) + " h"
                           : secs % 60 == 0 ? std::to_string(secs / 60) + " min"
                                            : std::to_string(secs) + " s";
  log(out, "summary of the last " + span + ": " + std::to_string(members_.size()) + " members, " +
               std::to_string(results) + " results" + by_class + "; " + std::to_string(alarms) +
               " in alarm, " + std::to_string(down) + " health DOWN, " +
               std::to_string(unreadable) + " of " + std::to_string(mailboxes_.size()) +
               " mailboxes unreadable, " + std::to_string(in_flight_.size()) +
               " canaries in flight" + (store_.ok ? "" : ", state store FAILING"));
  summary_counts_.fill(0);
}

}  // namespace mailcanary::agent
