#include "alert_sender.hpp"

#include "mailcanary/agent/notify/alertmanager.hpp"

namespace mailcanary::agent {

AlertSender::Report AlertSender::send_due(const std::vector<std::string>& urls) {
  Report report;
  const auto now = clock_.wall();
  for (const auto& n : store_.due_notifications(now, 50)) {
    auto info = decode_alert(n.payload);
    if (!info) {
      store_.mark_sent(n.id);  // not ours to retry forever
      continue;
    }
    const std::string body = alert_body(*info, n.kind == "resolved", now, kFiringTtl);
    std::string errors;
    for (const auto& url : urls) {
      std::string e = post_alerts(url, body, kTimeout);
      if (!e.empty()) {
        report.failed_urls.push_back(url);
        errors += (errors.empty() ? "" : "; ") + e;
      }
    }
    const std::string what = "alertmanager: " + n.kind + " " + info->target + " " + info->member;
    if (errors.empty()) {
      store_.mark_sent(n.id);
      report.log.push_back(LogLine{LogLine::Level::info, what + " sent"});
    } else {
      store_.reschedule(n.id, now + retry_backoff(n.attempts + 1), n.attempts + 1);
      report.log.push_back(
          LogLine{LogLine::Level::warning, what + " not sent, kept for retry: " + errors});
    }
  }
  report.pending = store_.pending_notifications();
  return report;
}

void AlertSender::resend_active(const std::vector<std::string>& urls, const Snapshot& s) {
  if (urls.empty()) {
    return;
  }
  const auto now = clock_.wall();
  for (const auto& m : s.members) {
    if (!m->status.in_alarm) {
      continue;
    }
    ProbeResult last = m->last.value_or(ProbeResult{});
    if (!m->last) {
      last.cls = m->status.last_failure_class.value_or(probes::ResultClass::lost);
    }
    const auto alert = member_alert(m->target, m->member, m->status, last, s.instance, now);
    for (const auto& url : urls) {
      post_alerts(url, alert_body(alert, false, now, kFiringTtl), kTimeout);
    }
  }
}

}  // namespace mailcanary::agent
