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
                            const probes::ReaderCounters& counters, Now now) {
  Effects out;
  auto& mb = mailboxes_[mailbox];
  if (mb.mailbox.empty() || !(mb.counters == counters)) {
    mb.mailbox = mailbox;
    mb.counters = counters;
    dirty_ = true;
  }
  // The reader's own view drives the mailbox alarm, so an outage is seen while its
  // canaries are still in flight (they are decided only at lost_after). The outage
  // window is the shortest of the targets reading this mailbox.
  std::optional<config::Duration> window;
  for (const auto& t : config_->targets) {
    if (t.mailbox == mailbox && (!window || t.slg.outage_window < *window)) {
      window = t.slg.outage_window;
    }
  }
  if (window && !stopping_) {
    observe_mailbox_read(mailbox, *window, read_ok, error, now, out);
  }
  return out;
}

Effects Core::oauth2_state(const OAuth2View& view, Now /*now*/) {
  Effects out;
  auto& known = oauth2_[view.name];
  const bool was_up = known.name.empty() || known.up;
  if (was_up && !view.up) {
    log(out, "oauth2 " + view.name + ": no access token: " + view.last_error,
        LogLine::Level::warning);
  } else if (!was_up && view.up) {
    log(out, "oauth2 " + view.name + ": the token endpoint gives tokens again");
  }
  if (!(known == view)) {
    known = view;
    dirty_ = true;
  }
  return out;
}

void Core::observe_mailbox_read(const std::string& mailbox, config::Duration outage_window, bool ok,
                                const std::string& detail, Now now, Effects& out) {
  auto& mb = mailboxes_[mailbox];
  mb.mailbox = mailbox;
  const bool was_up = mb.up.value_or(true);
  mb.up = ok;
  dirty_ = true;
  // Logged when it changes, not at every failed scan.
  if (was_up && !ok) {
    log(out, "mailbox " + mailbox + " cannot be read: " + detail, LogLine::Level::warning);
  } else if (!was_up && ok) {
    log(out, "mailbox " + mailbox + " can be read again");
  }
  const auto change = observe_mailbox(mb.status, outage_window, ok, now.wall);
  if (change != AlarmChange::raised && change != AlarmChange::cleared) {
    return;
  }
  const bool raised = change == AlarmChange::raised;
  const auto alert = mailbox_alert(mailbox, mb.status, detail, instance_, now.wall);
  out.push_back(QueueNotification{
      {"mailbox/" + mailbox, raised ? "firing" : "resolved", encode_alert(alert)}, now.wall});
  log(out,
      raised ? "MAILBOX ALARM RAISED for mailbox " + mailbox + ": " + detail
             : "mailbox alarm cleared for mailbox " + mailbox,
      raised ? LogLine::Level::error : LogLine::Level::info);
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
  observe_mailbox_read(t.mailbox, t.slg.outage_window, r.cls != probes::ResultClass::mailbox_error,
                       r.detail, now, out);
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
  // A change of alarm or health must survive a kill -9 right after it: written at once.
  o.changes_state = tr.alarm == AlarmChange::raised || tr.alarm == AlarmChange::cleared ||
                    tr.alarm == AlarmChange::suppressed || tr.health == HealthChange::went_down ||
                    tr.health == HealthChange::went_up;
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
  ++summary_counts_[static_cast<std::size_t>(r.cls)];
  // A result that changes nothing is a debug line; a change is worth the journal.
  auto level = LogLine::Level::debug;
  if (tr.alarm == AlarmChange::raised) {
    level = LogLine::Level::error;
  } else if (tr.health == HealthChange::went_down) {
    level = LogLine::Level::warning;
  } else if (tr.alarm == AlarmChange::cleared || tr.alarm == AlarmChange::suppressed ||
             tr.health == HealthChange::went_up || stale) {
    level = LogLine::Level::info;
  }
  if (logs(level)) {
    std::string line = to_text(r);
    if (tr.alarm == AlarmChange::raised) {
      line += " ALARM RAISED";
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
    } else if (tr.health == HealthChange::went_up) {
      line += " health UP";
    }
    log(out, std::move(line), level);
  }
  if (!stale) {
    r.transcript.clear();
    v.last = std::move(r);
  }
}

}  // namespace mailcanary::agent
