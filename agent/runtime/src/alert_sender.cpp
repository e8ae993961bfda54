#include "alert_sender.hpp"

#include <algorithm>

#include "mailcanary/agent/notify/alertmanager.hpp"

namespace mailcanary::agent {

bool AlertSender::write_remembered(Report& report) {
  try {
    while (!sent_unwritten_.empty()) {
      store_.mark_sent(*sent_unwritten_.begin());
      sent_unwritten_.erase(sent_unwritten_.begin());
    }
    while (!retry_unwritten_.empty()) {
      const auto& [id, retry] = *retry_unwritten_.begin();
      store_.reschedule(id, retry.first, retry.second);
      retry_unwritten_.erase(retry_unwritten_.begin());
    }
    return true;
  } catch (const StateError& e) {
    report.store_errors.push_back(e.what());  // one per pass: the store still fails
    return false;
  }
}

AlertSender::Report AlertSender::send_due(const std::vector<std::string>& urls) {
  Report report;
  const auto now = clock_.wall();
  bool writable = write_remembered(report);
  const auto remember_sent = [&](std::int64_t id) {
    if (writable) {
      try {
        store_.mark_sent(id);
        return;
      } catch (const StateError& e) {
        report.store_errors.push_back(e.what());
        writable = false;
      }
    }
    sent_unwritten_.insert(id);
  };
  const auto remember_retry = [&](std::int64_t id, SysTime at, int attempts) {
    if (writable) {
      try {
        store_.reschedule(id, at, attempts);
        return;
      } catch (const StateError& e) {
        report.store_errors.push_back(e.what());
        writable = false;
      }
    }
    retry_unwritten_[id] = {at, attempts};
  };
  // Notifications remembered here are still in the outbox: ask for enough to see 50 others.
  const int limit = 50 + static_cast<int>(sent_unwritten_.size() + retry_unwritten_.size());
  int sent = 0;
  for (auto n : store_.due_notifications(now, limit)) {
    if (sent_unwritten_.count(n.id)) {
      continue;
    }
    if (auto r = retry_unwritten_.find(n.id); r != retry_unwritten_.end()) {
      if (r->second.first > now) {
        continue;
      }
      n.attempts = r->second.second;
    }
    if (++sent > 50) {
      break;
    }
    auto info = decode_alert(n.payload);
    if (!info) {
      remember_sent(n.id);  // not ours to retry forever
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
      remember_sent(n.id);
      report.log.push_back(LogLine{LogLine::Level::info, what + " sent"});
    } else {
      remember_retry(n.id, now + retry_backoff(n.attempts + 1), n.attempts + 1);
      report.log.push_back(
          LogLine{LogLine::Level::warning, what + " not sent, kept for retry: " + errors});
    }
  }
  const std::size_t in_outbox = store_.pending_notifications();
  report.pending = in_outbox - std::min(in_outbox, sent_unwritten_.size());
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
