// What the core asks its shells to do. The core never does I/O: each event it takes
// returns a list of effects, carried out in order by the runtime (SMTP worker pool,
// mailbox watchers, state store, discovery thread, logger).
#pragma once

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "mailcanary/agent/core/records.hpp"
#include "mailcanary/agent/core/result.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::agent {

/// Send one canary through the member (SMTP worker); answer with Core::sent().
struct StartProbe {
  MemberRef ref;
  std::shared_ptr<const config::Config> config;  // keeps ref.target alive
  std::chrono::steady_clock::time_point due;     // the slot, for the drift figure
};

/// Look up every target's members (DNS); answer with Core::discovered().
struct RunDiscovery {
  std::shared_ptr<const config::Config> config;
};

/// Hand a canary to the watcher of (mailbox, bounce_mailbox); it answers with
/// Core::confirmed() once the canary is found, bounced, lost or unreadable.
struct WatchCanary {
  std::string mailbox;
  std::string bounce_mailbox;
  probes::PendingCanary pending;
};

/// The config of these watchers changed: stop them (their open canaries are handed
/// again by WatchCanary effects that follow).
struct RestartWatcher {
  std::string mailbox;
  std::string bounce_mailbox;
};

/// State store writes.
struct PersistInFlight {
  InFlightCanary canary;
};
struct PersistOutcome {
  Outcome outcome;
};
struct QueueNotification {
  NewNotification notification;
  SysTime at;
};
struct DropInFlight {
  std::string canary_id;
};
struct ForgetMember {
  std::string target;
  std::string member;
};
/// The state store failed before: write what it missed (one transaction), then answer
/// with Core::store_written_back(), or Core::store_failed() when it fails again.
struct WriteBack {
  StateWriteBack state;
};

/// One line for the journal. At `info` a healthy agent is quiet: state changes (alarm,
/// health, members, mailboxes, reloads, start and stop) and a periodic summary; each
/// probe's result is a `debug` line.
struct LogLine {
  enum class Level { debug, info, warning, error };
  Level level = Level::info;
  std::string text;
};

using Effect =
    std::variant<StartProbe, RunDiscovery, WatchCanary, RestartWatcher, PersistInFlight,
                 PersistOutcome, QueueNotification, DropInFlight, ForgetMember, WriteBack, LogLine>;
using Effects = std::vector<Effect>;

}  // namespace mailcanary::agent
