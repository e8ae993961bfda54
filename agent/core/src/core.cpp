// The core's events about members: restore, schedule, discovery, config, stop, and the
// snapshot. Results (sent, confirmed, recorded) are in core_results.cpp.
#include "mailcanary/agent/core/core.hpp"

#include <algorithm>

#include "mailcanary/agent/core/shard.hpp"

namespace mailcanary::agent {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

namespace {

milliseconds interval_of(const config::Config& cfg, const config::TargetConfig& t) {
  return t.interval.value_or(cfg.agent.interval);
}

bool owned(const config::Config& cfg, const std::string& target, const std::string& member) {
  return owns(target, member, cfg.agent.shard_index, cfg.agent.shard_count);
}

}  // namespace

Core::Core(std::shared_ptr<const config::Config> config) : config_(std::move(config)) {
  instance_ = config_->agent.instance;
  per_member_histograms_ = config_->agent.per_member_histograms;
}

void Core::log(Effects& out, std::string text, LogLine::Level level) const {
  if (logs(level)) {
    out.push_back(LogLine{level, std::move(text)});
  }
}

bool Core::logs(LogLine::Level level) const {
  return static_cast<int>(level) >= static_cast<int>(config_->log.level);
}

const config::TargetConfig* Core::target(const std::string& name) const {
  return config_->find_target(name);
}

Core::Member& Core::add_member(const Key& key) {
  auto [it, added] = members_.try_emplace(key);
  if (added) {
    auto v = std::make_shared<MemberView>();
    v->target = key.first;
    v->member = key.second;
    v->labels =
        std::make_shared<const SeriesLabels>(make_series_labels(instance_, &key.second, key.first));
    if (per_member_histograms_) {
      v->histograms.emplace();
    }
    it->second.view = std::move(v);
    it->second.next_due = Steady::time_point::max();
    dirty_ = true;
  }
  return it->second;
}

MemberView& Core::edit(Member& m) {
  if (m.shared) {  // readers may hold it: change a copy
    m.view = std::make_shared<MemberView>(*m.view);
    m.shared = false;
  }
  dirty_ = true;
  return *m.view;
}

TargetView& Core::edit_target_histograms(const std::string& name) {
  auto& t = target_histograms_[name];
  if (!t.view) {
    t.view = std::make_shared<TargetView>();
    t.view->target = name;
    t.view->labels =
        std::make_shared<const SeriesLabels>(make_series_labels(instance_, nullptr, name));
  } else if (t.shared) {
    t.view = std::make_shared<TargetView>(*t.view);
  }
  t.shared = false;
  dirty_ = true;
  return *t.view;
}

void Core::retire(std::map<Key, Member>::iterator it, Effects& out) {
  const Key key = it->first;
  log(out, "member " + key.first + " " + key.second + " retired");
  out.push_back(ForgetMember{key.first, key.second});
  members_.erase(it);
  const auto first = members_.lower_bound({key.first, std::string()});
  if (first == members_.end() || first->first.first != key.first) {
    target_histograms_.erase(key.first);
  }
  dirty_ = true;
}

Effects Core::restored(const std::map<Key, std::string>& member_states,
                       const std::vector<InFlightCanary>& in_flight, Now now) {
  Effects out;
  for (const auto& [key, json] : member_states) {
    if (!target(key.first) || !owned(*config_, key.first, key.second)) {
      continue;  // not ours any more: discovery would retire it at once
    }
    if (auto st = decode_member_status(json)) {
      edit(add_member(key)).status = *st;
    }
  }
  std::size_t n = 0;
  for (const auto& rec : in_flight) {
    const auto* t = target(rec.target);
    if (!t) {
      out.push_back(DropInFlight{rec.id});  // its target is gone from the config
      continue;
    }
    ProbeResult smtp;
    smtp.target = rec.target;
    smtp.member = rec.member;
    smtp.cls = probes::ResultClass::ok;
    smtp.stage = probes::Stage::done;
    smtp.smtp_code = rec.smtp_code;
    smtp.queue_id = rec.queue_id;
    smtp.detail = rec.smtp_detail;
    smtp.smtp_seconds = rec.smtp_seconds;
    smtp.attempts = rec.attempts;
    smtp.canary_id = rec.id;
    smtp.started_at = rec.sent_at;
    auto& f = in_flight_[rec.id] = InFlight{rec, std::move(smtp)};
    watch(f, *t, now, out);
    ++n;
  }
  if (n > 0) {
    log(out, "restored " + std::to_string(n) + " canaries in flight from the state database");
  }
  dirty_ = true;
  return out;
}

void Core::watch(const InFlight& f, const config::TargetConfig& t, Now now, Effects& out) {
  // Wall times kept in the record, mapped onto this process's monotonic clock.
  const auto accepted =
      now.mono - std::chrono::duration_cast<Steady::duration>(now.wall - f.canary.accepted_at);
  const auto deadline =
      now.mono + std::chrono::duration_cast<Steady::duration>(f.canary.deadline - now.wall);
  out.push_back(WatchCanary{t.mailbox, t.bounce_mailbox, {f.canary.id, accepted, deadline}});
}

Effects Core::tick(Now now) {
  Effects out;
  if (stopping_) {
    return out;
  }
  if (!discovery_running_ && (!next_discovery_ || now.mono >= *next_discovery_)) {
    discovery_running_ = true;
    out.push_back(RunDiscovery{config_});
  }
  if (!store_.ok && now.mono >= store_retry_at_) {
    store_retry_at_ = now.mono + kStoreRetryEvery;
    out.push_back(write_back());
  }
  summarize(out, now);
  if (now.mono < earliest_due_) {
    return out;
  }
  auto earliest = Steady::time_point::max();
  for (auto& [key, m] : members_) {
    if (!m.ref) {
      continue;
    }
    if (now.mono < m.next_due) {
      earliest = std::min(earliest, m.next_due);
      continue;
    }
    const auto scheduled = m.next_due;
    const auto interval = interval_of(*m.config, *m.ref->target);
    // Never queue up missed slots: the next one is a whole interval away.
    m.next_due = std::max(m.next_due + interval, now.mono + interval / 2);
    earliest = std::min(earliest, m.next_due);
    if (m.running) {
      ++edit(m).skipped;  // still busy from the last slot: skip this one, count it
      log(out, "probe of " + key.first + " " + key.second + " skipped: the previous one still runs",
          LogLine::Level::warning);
      continue;
    }
    m.running = true;
    out.push_back(StartProbe{*m.ref, m.config, scheduled});
  }
  earliest_due_ = earliest;
  return out;
}

milliseconds Core::until_next(Now now) const {
  auto next = earliest_due_;
  if (!discovery_running_) {
    next = std::min(next, next_discovery_.value_or(now.mono));
  }
  if (!store_.ok && !stopping_) {
    next = std::min(next, store_retry_at_);
  }
  if (next <= now.mono) {
    return milliseconds(0);
  }
  if (next == Steady::time_point::max()) {
    return milliseconds::max();
  }
  return std::chrono::ceil<milliseconds>(next - now.mono);
}

Effects Core::discovered(Discovery found, std::shared_ptr<const config::Config> cfg, Now now) {
  Effects out;
  discovery_running_ = false;
  if (stopping_) {
    return out;
  }
  if (!scheduled_) {
    scheduled_ = true;
    dirty_ = true;
  }
  std::map<Key, bool> seen;
  for (auto& ref : found.members) {
    if (!owned(*cfg, ref.target->name, ref.member)) {
      continue;
    }
    Key key{ref.target->name, ref.member};
    seen[key] = true;
    const bool is_new = !members_.count(key);
    Member& m = add_member(key);
    const bool was_scheduled = m.ref.has_value();
    m.ref = std::move(ref);
    m.config = cfg;
    if (!was_scheduled) {
      // Spread start times: a stable offset inside the interval per member.
      m.next_due =
          now.mono + start_offset(key.first, key.second, interval_of(*cfg, *m.ref->target));
      earliest_due_ = std::min(earliest_due_, m.next_due);
      log(out, "member " + key.first + " " + key.second + " added" +
                   (is_new ? "" : " (state restored)"));
    }
  }
  // DNS failures are results of their own (member = the domain or the MX host),
  // recorded once per interval of their target like any probe; while one lasts, the
  // next discovery comes when the next of them is due.
  auto next = now.mono + kDiscoveryEvery;
  std::map<Key, Steady::time_point> failure_due;
  std::vector<ProbeResult> failures;
  for (auto& f : found.failures) {
    const auto* t = cfg->find_target(f.target);
    if (!t || !owned(*cfg, f.target, f.member)) {
      continue;
    }
    Key key{f.target, f.member};
    seen[key] = true;
    auto previous = dns_failure_due_.find(key);
    auto due = previous == dns_failure_due_.end() ? now.mono : previous->second;
    if (now.mono >= due) {
      due = now.mono + interval_of(*cfg, *t);
      failures.push_back(std::move(f));
    }
    failure_due[key] = due;
    next = std::min(next, due);
  }
  dns_failure_due_.swap(failure_due);
  for (auto it = members_.begin(); it != members_.end();) {
    if (!seen.count(it->first) && !it->second.running) {
      retire(it++, out);
    } else {
      ++it;
    }
  }
  // An answer for a config replaced meanwhile: ask again for the new one.
  next_discovery_ = cfg == config_ ? next : now.mono;
  if (per_member_histograms_ && members_.size() > kManyMembers && !warned_many_) {
    warned_many_ = true;
    log(out,
        std::to_string(members_.size()) +
            " members with histograms per member: /metrics grows by about 27 KB per member; "
            "[agent] histograms = \"target\" keeps it near 3 KB (see README, [agent])",
        LogLine::Level::warning);
  }
  for (auto& f : failures) {
    record(std::move(f), now, out);
  }
  return out;
}

Effects Core::discovery_failed(const std::string& error, Now now) {
  Effects out;
  discovery_running_ = false;
  next_discovery_ = now.mono + kDiscoveryEvery;
  if (!stopping_) {
    log(out, "discovery failed: " + error, LogLine::Level::error);
  }
  return out;
}

Effects Core::config_changed(std::shared_ptr<const config::Config> fresh, const std::string& source,
                             Now now) {
  Effects out;
  ++reloads_ok_;
  last_reload_ok_ = true;
  dirty_ = true;
  // Watchers whose mailbox (or bounce mailbox) changed, or the [[oauth2]] section it
  // logs in with, are restarted and given back the canaries they were waiting for.
  const auto changed = [&](const std::string& name) {
    if (name.empty()) {
      return false;
    }
    const auto* before = config_->find_mailbox(name);
    const auto* after = fresh->find_mailbox(name);
    if (!before || !after || !(*before == *after)) {
      return true;
    }
    const auto* idp_before = config_->find_oauth2(before->oauth2);
    const auto* idp_after = fresh->find_oauth2(after->oauth2);
    return idp_before && idp_after && !(*idp_before == *idp_after);
  };
  std::set<std::pair<std::string, std::string>> restarted;  // (mailbox, bounce mailbox)
  for (const auto& t : config_->targets) {
    std::pair<std::string, std::string> w{t.mailbox, t.bounce_mailbox};
    if (!restarted.count(w) && (changed(w.first) || changed(w.second))) {
      restarted.insert(w);
    }
  }
  for (const auto& [mailbox, bounces] : restarted) {
    log(out, "mailbox " + mailbox + ": config changed, reader restarted");
    out.push_back(RestartWatcher{mailbox, bounces});
  }
  config_ = std::move(fresh);
  next_discovery_ = now.mono;  // targets may have changed
  for (const auto& [id, f] : in_flight_) {
    const auto* t = target(f.canary.target);
    if (t && restarted.count({t->mailbox, t->bounce_mailbox})) {
      watch(f, *t, now, out);
    }
  }
  log(out, "config reloaded from " + source);
  return out;
}

Effects Core::config_refused(const std::string& errors, Now) {
  Effects out;
  ++reloads_failed_;
  last_reload_ok_ = false;
  dirty_ = true;
  log(out, "config reload refused, keeping the running config:\n" + errors, LogLine::Level::error);
  return out;
}

void Core::alert_send_failed(const std::string& url) {
  ++alertmanager_failures_[url];
  dirty_ = true;
}

void Core::pending_notifications(std::size_t n) {
  if (n != pending_notifications_) {
    pending_notifications_ = n;
    dirty_ = true;
  }
}

Effects Core::stopping(Now) {
  Effects out;
  if (!stopping_) {
    stopping_ = true;
    log(out, "stopping: in-flight canaries stay in the state database");
    if (!store_.ok) {
      out.push_back(write_back());  // a last try: what the next run starts from
    }
  }
  return out;
}

std::shared_ptr<const Snapshot> Core::snapshot(Now now) {
  if (!dirty_ && snapshot_) {
    return snapshot_;
  }
  auto s = std::make_shared<Snapshot>();
  s->instance = instance_;
  s->per_member_histograms = per_member_histograms_;
  s->unknown_health_up = config_->web.unknown_health_up;
  s->at = now.wall;
  s->members.reserve(members_.size());
  for (auto& [key, m] : members_) {
    s->members.push_back(m.view);
    m.shared = true;
  }
  for (auto& [name, t] : target_histograms_) {
    if (t.view) {
      s->targets.push_back(t.view);
      t.shared = true;
    }
  }
  for (const auto& [name, mb] : mailboxes_) {
    s->mailboxes.push_back(mb);
  }
  for (const auto& [name, o] : oauth2_) {
    s->oauth2.push_back(o);
  }
  s->in_flight = in_flight_.size();
  s->pending_notifications = pending_notifications_;
  s->held_notifications = store_held_;
  s->alertmanager_failures = alertmanager_failures_;
  s->reloads_ok = reloads_ok_;
  s->scheduled = scheduled_;
  s->reloads_failed = reloads_failed_;
  s->last_reload_ok = last_reload_ok_;
  s->store = store_;
  snapshot_ = std::move(s);
  dirty_ = false;
  return snapshot_;
}

}  // namespace mailcanary::agent
