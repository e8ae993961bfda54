// Alertmanager v2 API client: MailFlowOutage alerts for members in alarm.
//
// The agent queues a notification in the state store when an alarm is raised or
// cleared (in the same transaction as the state change). The outbox is sent to every
// configured URL; a notification is kept and retried with backoff until every URL took
// it. Active alarms are re-sent periodically so Alertmanager never resolves them by
// timeout while the outage lasts.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "mailcanary/agent/core/alerts.hpp"

namespace mailcanary::agent {

/// What a pushed alert links to and who sent it.
struct AlertLinks {
  std::string external_url;  // the agent's endpoints ("http://host:9478"); "": no generatorURL
  std::string runbook_url;   // [alertmanager] runbook_url; "": no such annotation
  std::string agent;         // the agent's name when [agent] instance is not set (host name)
};

/// The v2 API body (a JSON array with one alert). Labels: alertname, target, member,
/// severity="critical" and nothing that differs between two agents watching the same
/// member, so that Alertmanager makes one alert of an HA pair's two. The agent's name,
/// the class, stage, SMTP code and detail are annotations, with summary, description and
/// runbook_url; generatorURL is the agent's /status/TARGET/MEMBER. Firing alerts carry
/// an endsAt of `firing_ttl` ahead (Alertmanager resolves them by itself if the agent
/// dies); resolved ones end at `now`.
std::string alert_body(const AlertInfo& a, bool resolved, SysTime now,
                       std::chrono::seconds firing_ttl, const AlertLinks& links = {});

/// Delay before the next try after `attempts` failed ones: 1 s doubling, at most 5 min.
std::chrono::seconds retry_backoff(int attempts);

/// POSTs `body` to URL/api/v2/alerts. Returns "" on success (2xx), else the error.
std::string post_alerts(const std::string& base_url, const std::string& body,
                        std::chrono::milliseconds timeout);

}  // namespace mailcanary::agent
