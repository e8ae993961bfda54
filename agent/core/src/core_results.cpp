// The core's events about results: a probe's SMTP half (sent), its mailbox half
// (confirmed), a watcher's health, and record(), the one place a result moves alarm,
// health, metrics and the state store.
#include <cmath>
#include <cstdio>

#include "mailcanary/agent/core/alerts.hpp"
#include "mailcanary/agent/core/core.hpp"
#include "mailcanary/agent/core/maintenance.hpp"

namespace mailcanary::agent {

using std::chrono::milliseconds;

Effects Core::sent(ProbeResult r, std::chrono::steady_clock::time_point accepted, Now now) {
  Effects out;
  auto it = members_.find({r.target, r.member});
  if (it != members_.end()) {
    it->second.running = false;
  }
  const auto* t = target(r.target);
  const bool accepted_canary = awaits_mailbox(r) && t;
  if (!accepted_canary) {
    if (!stopping_) {
      record(std::move(r), now, out);
    }
    return out;
  }
  InFlightCanary rec;
  rec.id = r.canary_id;
  rec.target = r.target;
  rec.member = r.member;
  rec.mailbox = t->mailbox;
  rec.accepted_at = now.wall - std::chrono::duration_cast<SysTime::duration>(now.mono - accepted);
  rec.sent_at = rec.accepted_at - std::chrono::duration_cast<milliseconds>(
                                      std::chrono::duration<double>(r.smtp_seconds));
  rec.deadline = rec.accepted_at + t->slg.lost_after;
  rec.smtp_code = r.smtp_code;
  rec.queue_id = r.queue_id;
  rec.smtp_detail = r.detail;
  rec.smtp_seconds = r.smtp_seconds;
  rec.attempts = r.attempts;
  // Persisted before it is watched: after a crash the canary is still recognised.
  out.push_back(PersistInFlight{rec});
  if (stopping_) {
    return out;  // the next run watches it
  }
  r.transcript.clear();  // not kept while in flight; the log has had what it needs
  out.push_back(
      WatchCanary{t->mailbox, t->bounce_mailbox, {rec.id, accepted, accepted + t->slg.lost_after}});
  std::string id = rec.id;  // (the right side of = is evaluated first)
  in_flight_[std::move(id)] = InFlight{std::move(rec), std::move(r)};
  dirty_ = true;
  return out;
}

Effects Core::confirmed(const std::string& canary_id, const probes::Confirmation& c, Now now) {
  Effects out;
  if (c.state == probes::Confirmation::State::found_after_lost) {
    // Already recorded as lost; its arrival is news for the operator, not a success.
    ++late_arrivals_;
    if (!stopping_) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", c.delivery_seconds);
      log(out, "late arrival of lost canary " + canary_id + " after " + buf +
                   " s (already counted lost)");
    }
    return out;
  }
  auto it = in_flight_.find(canary_id);
  if (it == in_flight_.end()) {
    return out;
  }
  InFlight f = std::move(it->second);
  in_flight_.erase(it);
  dirty_ = true;
  const auto* t = target(f.canary.target);
  const auto* mb = t ? config_->find_mailbox(t->mailbox) : nullptr;
  if (stopping_ || !t || !mb) {
    out.push_back(DropInFlight{canary_id});
    return out;
  }
  ProbeResult r = std::move(f.smtp);
  apply_confirmation(r, *t, mb->folder, c);
  record(std::move(r), now, out);
  return out;
}

Effects Core::mailbox_state(const std::string& mailbox, bool read_ok, const std::string& error,
                            std::uint64_t reconnects, Now) {
  Effects out;
  if (!read_ok && !stopping_) {
    log(out, "mailbox " + mailbox + ": " + error, LogLine::Level::warning);
  }
  auto& mb = mailboxes_[mailbox];
  if (mb.mailbox.empty() || mb.reconnects != reconnects) {
    mb.mailbox = mailbox;
    mb.reconnects = reconnects;
    dirty_ = true;
  }
  return out;
}

void Core::count(Member& m, const ProbeResult& r) {
  auto& v = edit(m);
  v.probes[static_cast<std::size_t>(r.cls)] += 1;
  if (v.histograms) {
    v.histograms->observe(r);
  } else if (r.delivery_seconds || !r.stage_times.empty()) {
    edit_target_histograms(r.target).histograms.observe(r);
  }
  if (r.delivery_seconds) {
    v.last_delivery = r.delivery_seconds;
  }
  if (!r.hops.empty()) {
    v.hops.clear();
    for (const auto& hop : r.hops) {
      v.hops.push_back(hop.seconds);
    }
  }
}

void Core::observe_mailbox_of(const config::TargetConfig& t, const ProbeResult& r, Now now,
                              Effects& out) {
  // Only probes whose canary reached the mailbox side say anything about the reader:
  // mailbox_error is a failed read, ok/late/junked/lost/bounced a working one.
  if (r.stage != probes::Stage::done && r.stage != probes::Stage::mailbox) {
    return;
  }
  const bool ok = r.cls != probes::ResultClass::mailbox_error;
  auto& mb = mailboxes_[t.mailbox];
  mb.mailbox = t.mailbox;
  mb.up = ok;
  dirty_ = true;
  const auto change = observe_mailbox(mb.status, t.slg.outage_window, ok, now.wall);
  if (change != AlarmChange::raised && change != AlarmChange::cleared) {
    return;
  }
  const bool raised = change == AlarmChange::raised;
  const auto alert = mailbox_alert(t.mailbox, mb.status, r.detail, instance_, now.wall);
  out.push_back(QueueNotification{
      {"mailbox/" + t.mailbox, raised ? "firing" : "resolved", encode_alert(alert)}, now.wall});
  log(out,
      raised ? "MAILBOX ALARM RAISED for mailbox " + t.mailbox + ": " + r.detail
             : "mailbox alarm cleared for mailbox " + t.mailbox,
      raised ? LogLine::Level::error : LogLine::Level::info);
}

void Core::record(ProbeResult r, Now now, Effects& out) {
  const auto at = now.wall;
  const auto* t = target(r.target);
  if (!t) {
    if (!r.canary_id.empty()) {
      out.push_back(DropInFlight{r.canary_id});
    }
    return;
  }
  const Key key{r.target, r.member};
  auto it = members_.find(key);
  if (it == members_.end() && r.stage != probes::Stage::dns) {
    // Retired while this result was on its way: nothing to show it under.
    if (!r.canary_id.empty()) {
      out.push_back(DropInFlight{r.canary_id});
    }
    log(out, to_text(r) + " (member retired: not recorded)");
    return;
  }
  Member& m = it != members_.end() ? it->second : add_member(key);  // add: a DNS failure
  const MemberStatus before = m.view->status;
  const auto started = r.started_at == SysTime{} ? at : r.started_at;
  const bool stale = started < m.newest_started;
  Transitions tr;
  count(m, r);
  auto& v = edit(m);
  if (!stale) {
    m.newest_started = started;
    tr = observe(v.status, t->slg, r.cls, at, maintenance_end(config_->maintenance, r.target, at));
  }
  observe_mailbox_of(*t, r, now, out);
  Outcome o;
  o.target = r.target;
  o.member = r.member;
  o.canary_id = r.canary_id;
  o.at = at;
  o.result_json = to_json(r, false);
  o.member_state = encode_member_status(v.status);
  if (tr.alarm == AlarmChange::raised || tr.alarm == AlarmChange::cleared) {
    // The resolve carries the labels the alert fired with (same fingerprint).
    const bool raised = tr.alarm == AlarmChange::raised;
    const auto alert =
        member_alert(r.target, r.member, raised ? v.status : before, r, instance_, at);
    o.notification = NewNotification{r.target + "/" + r.member, raised ? "firing" : "resolved",
                                     encode_alert(alert)};
  }
  out.push_back(PersistOutcome{std::move(o)});
  ++recorded_;
  std::string line = to_text(r);
  auto level = LogLine::Level::info;
  if (tr.alarm == AlarmChange::raised) {
    line += " ALARM RAISED";
    level = LogLine::Level::error;
  } else if (tr.alarm == AlarmChange::cleared) {
    line += " alarm cleared";
  } else if (tr.alarm == AlarmChange::suppressed) {
    line += " (alarm suppressed: maintenance)";
  }
  if (stale) {
    line += " (older than the member's last result: not counted for alarm and health)";
  }
  if (tr.health == HealthChange::went_down) {
    line += " health DOWN";
    level = std::max(level, LogLine::Level::warning);
  } else if (tr.health == HealthChange::went_up) {
    line += " health UP";
  }
  if (!stale) {
    r.transcript.clear();
    v.last = std::move(r);
  }
  log(out, std::move(line), level);
}

}  // namespace mailcanary::agent
