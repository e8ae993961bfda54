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

namespace {

/// Posts `body` to every URL: "" when all took it, else the errors.
std::string post_everywhere(const std::vector<std::string>& urls, const std::string& body,
                            AlertSender::Report& report) {
  std::string errors;
  for (const auto& url : urls) {
    std::string e = post_alerts(url, body, AlertSender::kTimeout);
    if (!e.empty()) {
      report.failed_urls.push_back(url);
      errors += (errors.empty() ? "" : "; ") + e;
    }
  }
  return errors;
}

}  // namespace

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
    const std::string body = alert_body(*info, n.kind == "resolved", now, kFiringTtl, links_);
    const std::string errors = post_everywhere(urls, body, report);
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

void AlertSender::send_held(const std::vector<std::string>& urls, const Snapshot& s,
                            Report& report) {
  if (urls.empty()) {
    return;  // kept for the write-back, as before there was a sender
  }
  const auto now = clock_.wall();
  for (const auto& held : s.held_notifications) {
    if (held.seq <= held_sent_seq_) {
      continue;
    }
    ++report.pending;
    if (now < held_retry_at_) {
      continue;  // counted as pending; order kept: nothing newer goes first
    }
    const auto info = decode_alert(held.notification.payload);
    std::string errors;
    if (info) {
      const bool resolved = held.notification.kind == "resolved";
      errors = post_everywhere(urls, alert_body(*info, resolved, now, kFiringTtl, links_), report);
    }
    const std::string what = "alertmanager: " + held.notification.kind + " " +
                             (info ? info->target + " " + info->member : held.notification.key);
    if (!errors.empty()) {
      ++held_attempts_;
      held_retry_at_ = now + retry_backoff(held_attempts_);
      report.log.push_back(
          LogLine{LogLine::Level::warning, what + " not sent, kept for retry: " + errors});
      continue;
    }
    --report.pending;
    held_sent_seq_ = held.seq;
    held_attempts_ = 0;
    report.held_delivered = held.seq;
    if (info) {
      report.log.push_back(LogLine{LogLine::Level::info, what + " sent"});
    }
  }
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
      post_alerts(url, alert_body(alert, false, now, kFiringTtl, links_), kTimeout);
    }
  }
}

}  // namespace mailcanary::agent
