// What the agent keeps across restarts, as plain records: a canary in flight, an
// Alertmanager notification to queue, and everything one decided probe changes. The core
// produces them; the state store writes them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mailcanary::agent {

using SysTime = std::chrono::system_clock::time_point;

/// A canary accepted by the target (250 after DATA) and not yet found, bounced or lost.
/// Times are stored with millisecond precision.
struct InFlightCanary {
  std::string id;
  std::string target;
  std::string member;
  std::string mailbox;  // the [[mailbox]] name that should receive it
  SysTime sent_at{};
  SysTime accepted_at{};
  SysTime deadline{};  // lost when not found by then (sent_at + lost_after)
  int smtp_code = 0;
  std::string queue_id;
  std::string smtp_detail;
  double smtp_seconds = 0;
  int attempts = 0;

  bool operator==(const InFlightCanary&) const = default;
};

/// A notification for Alertmanager, as queued.
struct NewNotification {
  std::string key;      // what it is about, e.g. "target/member"
  std::string kind;     // "firing" | "resolved"
  std::string payload;  // the JSON to post
};

/// Everything one decided probe changes, written in one transaction.
struct Outcome {
  std::string target;
  std::string member;
  std::string canary_id;  // empty when no canary was accepted (e.g. temp_fail at RCPT)
  SysTime at{};
  std::string result_json;                      // appended to the member's history
  std::optional<std::string> member_state;      // replaces the member's state when set
  std::optional<NewNotification> notification;  // queued (at `at`) when set
  /// The member's alarm or health changed: the group commit writes it without waiting.
  bool changes_state = false;
};

/// A notification and when it was queued.
struct TimedNotification {
  NewNotification notification;
  SysTime at{};
  std::uint64_t seq = 0;  // numbered, from 1, while the core holds it (the store failing)
};

/// What the state store missed while it failed, rebuilt from the core's memory and
/// written in one transaction once it works again. In-flight canaries and member states
/// are the core's whole view (so any write that failed meanwhile is covered); what the
/// core no longer holds (notifications, members forgotten) comes from the writes that
/// failed.
struct StateWriteBack {
  std::vector<InFlightCanary> in_flight;  // replaces every canary in flight
  std::vector<std::pair<std::pair<std::string, std::string>, std::string>>
      member_states;                                           // (target, member) -> JSON
  std::vector<std::pair<std::string, std::string>> forgotten;  // (target, member), first
  std::vector<TimedNotification> notifications;                // appended, in order
};

/// A canary decided without an outcome to record: its in-flight row goes.
struct DroppedCanary {
  std::string id;
};

/// One write of a group commit (StateStore::write): carried out in order, all of them in
/// one transaction.
using StateWrite = std::variant<InFlightCanary, Outcome, DroppedCanary>;

}  // namespace mailcanary::agent
