// The MailFlowOutage alert: built in one place for a member and for a mailbox, queued
// in the state store's outbox as JSON, sent by the notifier.
#pragma once

#include <optional>
#include <string>

#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/result.hpp"

namespace mailcanary::agent {

/// One alert as the agent queues and sends it (MailFlowOutage): the labels target,
/// member, class, instance and what the annotations say. Built in one place for a
/// member (member_alert) and a mailbox (mailbox_alert), so that the resolve carries the
/// labels the alert fired with.
struct AlertInfo {
  std::string target, member, cls, instance, stage, detail;
  int smtp_code = 0;
  std::string rule;        // "outage", "burn_rate" (members), "" (mailboxes, older queues)
  double short_ratio = 0;  // burn_rate: the failure ratios when the alarm was raised
  double long_ratio = 0;
  SysTime starts_at{};
  bool operator==(const AlertInfo&) const = default;
};

/// The queued form (a JSON object; times as milliseconds since the epoch) and back;
/// nullopt when the text is not such an object or lacks target or member.
std::string encode_alert(const AlertInfo& a);
std::optional<AlertInfo> decode_alert(const std::string& json);

/// A member's alert: class the one that raised the alarm, annotations from `last`
/// (the result that raised or cleared it, or the newest one), starting when the alarm
/// was raised (`at` when unknown).
AlertInfo member_alert(const std::string& target, const std::string& member, const MemberStatus& st,
                       const ProbeResult& last, const std::string& instance, SysTime at);

/// A [[mailbox]]'s own alert (target "mailbox", class mailbox_error).
AlertInfo mailbox_alert(const std::string& mailbox, const MailboxStatus& st,
                        const std::string& detail, const std::string& instance, SysTime at);

}  // namespace mailcanary::agent
