#include "mailcanary/agent/runtime/agent.hpp"
#include "mailcanary/agent/core/time_text.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "mailcanary/agent/core/maintenance.hpp"
#include "mailcanary/agent/core/shard.hpp"
#include "mailcanary/agent/http/web_server.hpp"
#include "mailcanary/agent/notify/alertmanager.hpp"
#include "mailcanary/agent/probe/discovery.hpp"

namespace mailcanary::agent {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// How often MX membership is looked at again (answers are cached by TTL anyway).
constexpr milliseconds kDiscoveryEvery = std::chrono::seconds(30);
// Above this many members, per-member histograms make /metrics large (README figures).
constexpr std::size_t kManyMembers = 2000;
// The scheduler never sleeps longer than this, so stop and reload are prompt.
constexpr milliseconds kMaxSleep = std::chrono::milliseconds(200);
// Firing alerts expire in Alertmanager after this unless re-sent; re-sent every minute.
constexpr std::chrono::seconds kFiringTtl = std::chrono::minutes(5);
constexpr std::chrono::seconds kResendEvery = std::chrono::minutes(1);

milliseconds interval_of(const config::Config& cfg, const config::TargetConfig& t) {
  return t.interval.value_or(cfg.agent.interval);
}

std::shared_ptr<const config::Config> load(const std::string& path) {
  auto loaded = config::load_config_file(path);
  if (!loaded.ok()) {
    std::string all;
    for (const auto& e : loaded.errors) {
      all += e.to_string() + "\n";
    }
    throw std::runtime_error(all.empty() ? path + ": invalid config" : all);
  }
  return std::make_shared<const config::Config>(std::move(*loaded.config));
}

}  // namespace

Agent::Agent(AgentOptions options, probes::Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  config_ = load(options_.config_path);
  StateStore::OpenOptions open;
  open.start_fresh = options_.fresh_state;
  store_ = StateStore::open(config_->agent.state_dir, open);
  if (store_->moved_aside()) {
    log("the unusable state database was moved aside to " + store_->moved_aside()->string());
  }
  resolver_ = std::make_unique<probes::Resolver>(config_->dns, clock_);
  exporter_ = std::make_unique<Exporter>(config_->agent.instance, MAILCANARY_AGENT_VERSION,
                                         config_->agent.per_member_histograms);
}

Agent::~Agent() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable()) {
      w.join();
    }
  }
  // Watcher threads call back into the agent: destroy them without holding the lock.
  decltype(watchers_) watchers;
  {
    std::lock_guard lock(mutex_);
    watchers.swap(watchers_);
  }
  watchers.clear();
}

void Agent::log(const std::string& line) const {
  std::cerr << rfc3339(clock_.wall()) << " mailcanary: " << line << "\n";
}

void Agent::load_config() {
  std::shared_ptr<const config::Config> fresh;
  try {
    fresh = load(options_.config_path);
  } catch (const std::exception& e) {
    log("config reload refused, keeping the running config:\n" + std::string(e.what()));
    exporter_->count_config_reload(false);
    return;
  }
  // Watchers whose mailbox (or bounce mailbox) changed are replaced: destroyed outside
  // the lock (their threads call back into the agent), then given back the canaries
  // they were waiting for.
  std::vector<std::unique_ptr<MailboxWatcher>> replaced;
  std::set<std::pair<std::string, std::string>> replaced_keys;
  std::vector<std::string> rewatch;
  {
    std::lock_guard lock(mutex_);
    const auto changed = [&](const std::string& name) {
      if (name.empty()) {
        return false;
      }
      const auto* before = config_->find_mailbox(name);
      const auto* after = fresh->find_mailbox(name);
      return !before || !after || !(*before == *after);
    };
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (changed(it->first.first) || changed(it->first.second)) {
        log("mailbox " + it->first.first + ": config changed, reader restarted");
        replaced_keys.insert(it->first);
        replaced.push_back(std::move(it->second));
        it = watchers_.erase(it);
      } else {
        ++it;
      }
    }
    config_ = fresh;
    next_discovery_ = {};  // rediscover now: targets may have changed
    for (const auto& [id, ctx] : in_flight_) {
      const auto* t = config_->find_target(ctx.record.target);
      if (t && replaced_keys.count({t->mailbox, t->bounce_mailbox})) {
        rewatch.push_back(id);
      }
    }
  }
  replaced.clear();
  if (!rewatch.empty()) {
    std::lock_guard lock(mutex_);
    for (const auto& id : rewatch) {
      auto it = in_flight_.find(id);
      const auto* t =
          it == in_flight_.end() ? nullptr : config_->find_target(it->second.record.target);
      if (t) {
        watch_in_flight(it->second.record, *t);
      }  // else: decided meanwhile, or its target went away
    }
  }
  exporter_->count_config_reload(true);
  log("config reloaded from " + options_.config_path);
}

void Agent::rediscover() {
  std::shared_ptr<const config::Config> cfg;
  {
    std::lock_guard lock(mutex_);
    cfg = config_;
  }
  Discovery found = discover(*cfg, "", "", *resolver_, random_);
  const auto now = clock_.now();
  std::vector<ProbeResult> failures;
  auto saved = store_->member_states();
  {
    std::lock_guard lock(mutex_);
    std::map<Key, bool> seen;
    for (auto& m : found.members) {
      if (!owns(m.target->name, m.member, cfg->agent.shard_index, cfg->agent.shard_count)) {
        continue;
      }
      Key key{m.target->name, m.member};
      seen[key] = true;
      auto [it, added] = slots_.try_emplace(key);
      Slot& s = it->second;
      s.ref = m;
      s.config = cfg;
      if (added || s.next_due == Steady::time_point::max()) {
        // Spread start times: a stable offset inside the interval per member.
        s.next_due = now + start_offset(key.first, key.second, interval_of(*cfg, *m.target));
      }
      if (added) {
        if (auto st = saved.count(key) ? decode_member_status(saved[key]) : std::nullopt) {
          s.status = *st;  // alarm and health survive a restart
        }
        log("member " + key.first + " " + key.second + " added");
      }
    }
    // DNS failures are results of their own (member = the domain or the MX host),
    // recorded once per interval of their target like any probe; while one lasts, the
    // next discovery comes when the next of them is due.
    auto next = now + kDiscoveryEvery;
    std::map<Key, Steady::time_point> failure_due;
    for (auto& f : found.failures) {
      const auto* t = cfg->find_target(f.target);
      if (!t || !owns(f.target, f.member, cfg->agent.shard_index, cfg->agent.shard_count)) {
        continue;
      }
      Key key{f.target, f.member};
      seen[key] = true;
      auto previous = dns_failure_due_.find(key);
      auto due = previous == dns_failure_due_.end() ? now : previous->second;
      if (now >= due) {
        due = now + interval_of(*cfg, *t);
        failures.push_back(std::move(f));
      }
      failure_due[key] = due;
      next = std::min(next, due);
    }
    dns_failure_due_.swap(failure_due);
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (!seen.count(it->first) && !it->second.running) {
        log("member " + it->first.first + " " + it->first.second + " retired");
        store_->forget_member(it->first.first, it->first.second);
        exporter_->retire_member(it->first.first, it->first.second);
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
    next_discovery_ = next;
    if (cfg->agent.per_member_histograms && slots_.size() > kManyMembers && !warned_many_) {
      warned_many_ = true;
      log(std::to_string(slots_.size()) +
          " members with histograms per member: /metrics grows by about 27 KB per member; "
          "[agent] histograms = \"target\" keeps it near 3 KB (see README, [agent])");
    }
  }
  for (auto& f : failures) {
    record(std::move(f));
  }
}

milliseconds Agent::schedule_due() {
  const auto now = clock_.now();
  std::vector<Queued> due;
  auto earliest = now + kMaxSleep;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, s] : slots_) {
      if (now < s.next_due) {
        earliest = std::min(earliest, s.next_due);
        continue;
      }
      const auto scheduled = s.next_due;
      const auto interval = interval_of(*s.config, *s.ref.target);
      // Never queue up missed slots: the next one is a whole interval away.
      s.next_due = std::max(s.next_due + interval, now + interval / 2);
      if (s.running) {
        ++s.skipped;  // still busy from the last slot: skip this one, count it
        exporter_->count_skipped(key.first, key.second);
        log("probe of " + key.first + " " + key.second + " skipped: the previous one still runs");
        continue;
      }
      s.running = true;
      due.push_back({key, scheduled});
    }
  }
  if (!due.empty()) {
    {
      std::lock_guard lock(queue_mutex_);
      queue_.insert(queue_.end(), due.begin(), due.end());
    }
    queue_cv_.notify_all();
  }
  return std::chrono::duration_cast<milliseconds>(earliest - now);
}

void Agent::worker_loop() {
  for (;;) {
    Queued item;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      item = queue_.front();
      queue_.pop_front();
      // How late the probe starts against its slot: the scheduler's precision.
      const double late = std::chrono::duration<double>(clock_.now() - item.due).count();
      if (drift_.size() < kMaxDriftSamples) {
        drift_.push_back(late);
      } else {
        drift_[drift_next_++ % kMaxDriftSamples] = late;
      }
    }
    probe(item.key);
  }
}

MailboxWatcher& Agent::watcher_for(const config::TargetConfig& t) {
  // Caller holds mutex_.
  auto& w = watchers_[{t.mailbox, t.bounce_mailbox}];
  if (!w) {
    const auto* mb = config_->find_mailbox(t.mailbox);
    const auto* bounces =
        t.bounce_mailbox.empty() ? nullptr : config_->find_mailbox(t.bounce_mailbox);
    std::string name = t.mailbox;
    w = std::make_unique<MailboxWatcher>(
        *mb, bounces, config_->agent.hmac_key, clock_,
        [this](const std::string& id, const probes::Confirmation& c) { on_decided(id, c); },
        [this, name](bool ok, const std::string& error, std::uint64_t reconnects) {
          if (!ok) {
            log("mailbox " + name + ": " + error);
          }
          exporter_->set_mailbox_reconnects(name, reconnects);
        });
  }
  return *w;
}

void Agent::probe(Key key) {
  MemberRef ref;
  std::shared_ptr<const config::Config> cfg;
  {
    std::lock_guard lock(mutex_);
    auto it = slots_.find(key);
    if (it == slots_.end()) {
      return;
    }
    ref = it->second.ref;
    cfg = it->second.config;
  }
  Steady::time_point accepted{};
  const auto started = clock_.wall();
  ProbeResult r = send_canary(*cfg, ref, clock_, accepted);
  r.started_at = started;
  {
    std::lock_guard lock(mutex_);
    if (auto it = slots_.find(key); it != slots_.end()) {
      it->second.running = false;
    }
  }
  if (!awaits_mailbox(r)) {
    record(std::move(r));
    return;
  }
  const auto& t = *ref.target;
  const auto wall = clock_.wall();
  InFlightCanary rec;
  rec.id = r.canary_id;
  rec.target = r.target;
  rec.member = r.member;
  rec.mailbox = t.mailbox;
  rec.accepted_at = wall;
  rec.sent_at = wall - std::chrono::duration_cast<milliseconds>(
                           std::chrono::duration<double>(r.smtp_seconds));
  rec.deadline = wall + t.slg.lost_after;
  rec.smtp_code = r.smtp_code;
  rec.queue_id = r.queue_id;
  rec.smtp_detail = r.detail;
  rec.smtp_seconds = r.smtp_seconds;
  rec.attempts = r.attempts;
  // Persist before waiting: after a crash the canary is still recognised when it lands.
  store_->add_in_flight(rec);
  std::lock_guard lock(mutex_);
  in_flight_[rec.id] = {rec, r};
  exporter_->set_in_flight(in_flight_.size());
  watcher_for(t).add({rec.id, accepted, accepted + t.slg.lost_after});
}

void Agent::watch_in_flight(const InFlightCanary& rec, const config::TargetConfig& t) {
  // Map wall times onto this process's steady clock.
  const auto now = clock_.now();
  const auto wall = clock_.wall();
  auto accepted = now - std::chrono::duration_cast<Steady::duration>(wall - rec.accepted_at);
  auto deadline = now + std::chrono::duration_cast<Steady::duration>(rec.deadline - wall);
  watcher_for(t).add({rec.id, accepted, deadline});
}

void Agent::restore_in_flight() {
  std::size_t n = 0;
  for (const auto& rec : store_->in_flight()) {
    std::lock_guard lock(mutex_);
    const auto* t = config_->find_target(rec.target);
    if (!t) {
      store_->remove_in_flight(rec.id);  // its target is gone from the config
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
    in_flight_[rec.id] = {rec, smtp};
    watch_in_flight(rec, *t);
    ++n;
  }
  if (n > 0) {
    log("restored " + std::to_string(n) + " canaries in flight from the state database");
  }
}

void Agent::on_decided(const std::string& canary_id, const probes::Confirmation& c) {
  if (c.state == probes::Confirmation::State::found_after_lost) {
    // Already recorded as lost; its arrival is news for the operator, not a success.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", c.delivery_seconds);
    log("late arrival of lost canary " + canary_id + " after " + buf + " s (already counted lost)");
    ++late_arrivals_;
    return;
  }
  InFlightContext ctx;
  std::shared_ptr<const config::Config> cfg;
  {
    std::lock_guard lock(mutex_);
    auto it = in_flight_.find(canary_id);
    if (it == in_flight_.end()) {
      return;
    }
    ctx = std::move(it->second);
    in_flight_.erase(it);
    exporter_->set_in_flight(in_flight_.size());
    cfg = config_;
  }
  const auto* t = cfg->find_target(ctx.record.target);
  const auto* mb = t ? cfg->find_mailbox(t->mailbox) : nullptr;
  if (!t || !mb) {
    store_->remove_in_flight(canary_id);
    return;
  }
  ProbeResult r = ctx.smtp;
  apply_confirmation(r, *t, mb->folder, c);
  record(std::move(r));
}

std::string Agent::observe_mailbox_of(const config::TargetConfig& t, const ProbeResult& r,
                                      SysTime at) {
  // Caller holds mutex_. Only probes whose canary reached the mailbox side say anything
  // about the reader: mailbox_error is a failed read, ok/late/junked/lost/bounced a
  // working one.
  using probes::ResultClass;
  if (r.stage != probes::Stage::done && r.stage != probes::Stage::mailbox) {
    return {};
  }
  auto& st = mailboxes_[t.mailbox];
  exporter_->set_mailbox_up(t.mailbox, r.cls != ResultClass::mailbox_error);
  auto change = observe_mailbox(st, t.slg.outage_window, r.cls != ResultClass::mailbox_error, at);
  if (change == AlarmChange::raised) {
    store_->enqueue_notification(
        {"mailbox/" + t.mailbox, "firing",
         nlohmann::json{{"target", "mailbox"},
                        {"member", t.mailbox},
                        {"class", "mailbox_error"},
                        {"instance", config_->agent.instance},
                        {"stage", "mailbox"},
                        {"detail", r.detail},
                        {"starts_at_ms", std::chrono::duration_cast<milliseconds>(
                                             st.alarm_since.value_or(at).time_since_epoch())
                                             .count()}}
             .dump()},
        at);
    return "MAILBOX ALARM RAISED for mailbox " + t.mailbox + ": " + r.detail;
  }
  if (change == AlarmChange::cleared) {
    store_->enqueue_notification({"mailbox/" + t.mailbox, "resolved",
                                  nlohmann::json{{"target", "mailbox"},
                                                 {"member", t.mailbox},
                                                 {"class", "mailbox_error"},
                                                 {"instance", config_->agent.instance}}
                                      .dump()},
                                 at);
    return "mailbox alarm cleared for mailbox " + t.mailbox;
  }
  return {};
}

void Agent::record(ProbeResult r) {
  const auto at = clock_.wall();
  std::shared_ptr<const config::Config> cfg;
  Outcome out;
  Transitions tr;
  std::string mailbox_change;
  bool stale = false;
  {
    std::unique_lock lock(mutex_);
    cfg = config_;
    const auto* t = cfg->find_target(r.target);
    if (!t) {
      return;
    }
    Key key{r.target, r.member};
    auto it = slots_.find(key);
    if (it == slots_.end() && r.stage != probes::Stage::dns) {
      // Retired while this result was on its way: nothing to show it under.
      lock.unlock();
      if (!r.canary_id.empty()) {
        store_->remove_in_flight(r.canary_id);
      }
      log(to_text(r) + " (member retired: not recorded)");
      return;
    }
    if (it == slots_.end()) {  // a DNS failure (domain or host without address)
      it = slots_.try_emplace(key).first;
      it->second.config = cfg;
      it->second.ref.target = t;
      it->second.ref.member = r.member;
      it->second.next_due = Steady::time_point::max();
    }
    Slot& s = it->second;
    // The resolve must carry the labels the alert fired with (same fingerprint).
    const auto alarm_class_before = s.status.alarm_class;
    const auto alarm_since_before = s.status.alarm_since;
    const auto started = r.started_at == SysTime{} ? at : r.started_at;
    stale = started < s.newest_started;
    if (!stale) {
      s.newest_started = started;
      tr = observe(s.status, t->slg, r.cls, at, maintenance_end(cfg->maintenance, r.target, at));
    }
    mailbox_change = observe_mailbox_of(*t, r, at);
    exporter_->record_probe(r);
    exporter_->set_member_status(r.target, r.member, s.status);
    const auto alarm_class =
        tr.alarm == AlarmChange::cleared ? alarm_class_before : s.status.alarm_class;
    const auto alarm_since =
        tr.alarm == AlarmChange::cleared ? alarm_since_before : s.status.alarm_since;
    if (!stale) {
      s.last = r;
    }
    out.target = r.target;
    out.member = r.member;
    out.canary_id = r.canary_id;
    out.at = at;
    out.result_json = to_json(r, false);
    out.member_state = encode_member_status(s.status);
    if (tr.alarm == AlarmChange::raised || tr.alarm == AlarmChange::cleared) {
      nlohmann::json alert{{"target", r.target},
                           {"member", r.member},
                           {"class", std::string(probes::to_string(alarm_class.value_or(r.cls)))},
                           {"instance", cfg->agent.instance},
                           {"stage", std::string(probes::to_string(r.stage))},
                           {"smtp_code", r.smtp_code},
                           {"detail", r.detail},
                           {"starts_at_ms", std::chrono::duration_cast<milliseconds>(
                                                alarm_since.value_or(at).time_since_epoch())
                                                .count()}};
      out.notification =
          NewNotification{r.target + "/" + r.member,
                          tr.alarm == AlarmChange::raised ? "firing" : "resolved", alert.dump()};
    }
  }
  store_->record_outcome(out);
  ++recorded_;
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
  if (!mailbox_change.empty()) {
    log(mailbox_change);
  }
  if (tr.health == HealthChange::went_down) {
    line += " health DOWN";
  } else if (tr.health == HealthChange::went_up) {
    line += " health UP";
  }
  log(line);
}

void Agent::send_alerts(bool resend_active) {
  std::shared_ptr<const config::Config> cfg;
  {
    std::lock_guard lock(mutex_);
    cfg = config_;
  }
  const auto& urls = cfg->alertmanager.urls;
  const auto now = clock_.wall();
  const auto timeout = std::chrono::seconds(5);
  for (const auto& n : store_->due_notifications(now, 50)) {
    AlertInfo info;
    if (!parse_alert_info(n.payload, info)) {
      store_->mark_sent(n.id);  // not ours to retry forever
      continue;
    }
    std::string body = alert_body(info, n.kind == "resolved", now, kFiringTtl);
    std::string errors;
    for (const auto& url : urls) {
      std::string e = post_alerts(url, body, timeout);
      if (!e.empty()) {
        exporter_->count_alertmanager_failure(url);
        errors += (errors.empty() ? "" : "; ") + e;
      }
    }
    if (errors.empty()) {
      store_->mark_sent(n.id);
      log("alertmanager: " + n.kind + " " + info.target + " " + info.member + " sent");
    } else {
      store_->reschedule(n.id, now + retry_backoff(n.attempts + 1), n.attempts + 1);
      log("alertmanager: " + n.kind + " " + info.target + " " + info.member +
          " not sent, kept for retry: " + errors);
    }
  }
  exporter_->set_pending_notifications(store_->pending_notifications());
  if (!resend_active || urls.empty()) {
    return;
  }
  // Re-send what is firing, well within kFiringTtl, so Alertmanager never resolves an
  // outage that still goes on.
  std::vector<AlertInfo> active;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, s] : slots_) {
      if (s.status.in_alarm) {
        AlertInfo a;
        a.target = key.first;
        a.member = key.second;
        a.cls = std::string(probes::to_string(s.status.alarm_class.value_or(
            s.status.last_failure_class.value_or(probes::ResultClass::lost))));
        a.instance = cfg->agent.instance;
        a.starts_at = s.status.alarm_since.value_or(now);
        if (s.last) {
          a.stage = std::string(probes::to_string(s.last->stage));
          a.smtp_code = s.last->smtp_code;
          a.detail = s.last->detail;
        }
        active.push_back(std::move(a));
      }
    }
  }
  for (const auto& a : active) {
    for (const auto& url : urls) {
      post_alerts(url, alert_body(a, false, now, kFiringTtl), timeout);
    }
  }
}

void Agent::log_run_figures() {
  std::vector<double> drift;
  {
    std::lock_guard lock(queue_mutex_);
    drift = drift_;
  }
  if (drift.empty()) {
    return;
  }
  std::sort(drift.begin(), drift.end());
  auto at = [&](double q) {
    return drift[static_cast<std::size_t>(q * static_cast<double>(drift.size() - 1))] * 1000;
  };
  const auto recorded = recorded_.load();
  char buf[256];
  std::snprintf(
      buf, sizeof buf,
      "figures: %zu probe starts, start drift median %.1f ms p99 %.1f ms max %.1f ms; "
      "%llu results, %.2f state writes per result",
      drift.size(), at(0.5), at(0.99), at(1.0), static_cast<unsigned long long>(recorded),
      recorded ? static_cast<double>(store_->writes()) / static_cast<double>(recorded) : 0.0);
  log(buf);
}

void Agent::run(const std::atomic<bool>& stop, std::atomic<bool>& reload) {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = false;
  }
  const int n_workers = std::max(1, config_->agent.concurrency);
  for (int i = 0; i < n_workers; ++i) {
    workers_.emplace_back([this] { worker_loop(); });
  }
  restore_in_flight();
  WebServer web(config_->agent.listen.host, config_->agent.listen.port,
                {[this] { return metrics_text(); }, [this] { return status_json(); },
                 [this](const std::string& t, const std::string& m) {
                   auto h = health(t, m);
                   return WebServer::Response{h.code, "text/plain; charset=utf-8", h.body};
                 }},
                config_->web);
  log(std::string("HTTP endpoints on ") + (config_->web.tls() ? "https://" : "") +
      config_->agent.listen.host + ":" + std::to_string(web.port()) +
      ": /metrics /healthz /status /health/TARGET/MEMBER" +
      (config_->web.basic_auth_users.empty() ? "" : " (basic auth)"));
  // Alertmanager traffic has its own thread: a slow Alertmanager never delays probes.
  std::thread alerts([this, &stop] {
    auto last_resend = clock_.now();
    while (!stop.load()) {
      bool resend = clock_.now() - last_resend >= kResendEvery;
      if (resend) {
        last_resend = clock_.now();
      }
      try {
        send_alerts(resend);
      } catch (const std::exception& e) {
        log("alertmanager: " + std::string(e.what()));
      }
      clock_.sleep_for(milliseconds(500));
    }
  });
  log("running: " + std::to_string(config_->targets.size()) + " targets, state in " +
      store_->path().string());
  // Bounded by `stop`; each pass sleeps at most kMaxSleep.
  while (!stop.load()) {
    if (reload.exchange(false)) {
      load_config();
    }
    if (clock_.now() >= next_discovery_) {
      try {
        rediscover();
      } catch (const std::exception& e) {
        log("discovery failed: " + std::string(e.what()));
        next_discovery_ = clock_.now() + kDiscoveryEvery;
      }
    }
    auto until_next = schedule_due();
    clock_.sleep_for(std::clamp(until_next, milliseconds(1), kMaxSleep));
  }
  alerts.join();
  log_run_figures();
  log("stopping: in-flight canaries stay in the state database");
}

std::string Agent::status_json() const {
  std::lock_guard lock(mutex_);
  nlohmann::ordered_json doc;
  doc["instance"] = config_->agent.instance;
  doc["now"] = rfc3339(clock_.wall());
  auto& members = doc["members"] = nlohmann::ordered_json::array();
  for (const auto& [key, s] : slots_) {
    nlohmann::ordered_json m;
    m["target"] = key.first;
    m["member"] = key.second;
    m["health"] = health_up(s.status) ? "UP" : "DOWN";
    m["in_alarm"] = s.status.in_alarm;
    if (s.status.alarm_since) {
      m["alarm_since"] = rfc3339(*s.status.alarm_since);
    }
    m["in_maintenance"] = s.status.in_maintenance;
    m["consecutive_failures"] = s.status.consecutive_failures;
    m["skipped"] = s.skipped;
    if (s.status.last_success_at) {
      m["last_success"] = rfc3339(*s.status.last_success_at);
    }
    if (s.last) {
      m["last"] = nlohmann::ordered_json::parse(to_json(*s.last, false));
    }
    members.push_back(std::move(m));
  }
  doc["canaries_in_flight"] = in_flight_.size();
  auto& boxes = doc["mailboxes"] = nlohmann::ordered_json::array();
  for (const auto& [name, st] : mailboxes_) {
    nlohmann::ordered_json b{{"mailbox", name},
                             {"in_alarm", st.in_alarm},
                             {"consecutive_errors", st.consecutive_errors}};
    if (st.last_success_at) {
      b["last_success"] = rfc3339(*st.last_success_at);
    }
    boxes.push_back(std::move(b));
  }
  return doc.dump();
}

bool Agent::health_up(const MemberStatus& st) const {
  return st.last_probe_at ? st.health_up : config_->web.unknown_health_up;
}

HealthView Agent::health(const std::string& target, const std::string& member) const {
  std::lock_guard lock(mutex_);
  auto it = slots_.find({target, member});
  if (it == slots_.end()) {
    return {404, "unknown target/member\n"};
  }
  const auto& st = it->second.status;
  if (health_up(st)) {
    return {200, "UP\n"};
  }
  if (!st.last_probe_at) {
    return {503, "DOWN no_result since start\n"};  // [web] unknown_health = "down"
  }
  std::string cls(probes::to_string(st.last_failure_class.value_or(probes::ResultClass::lost)));
  return {503, "DOWN " + cls + " since " +
                   (st.health_since ? rfc3339(*st.health_since) : std::string("start")) + "\n"};
}

}  // namespace mailcanary::agent
