#include "mailcanary/agent/runtime/agent.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "alert_sender.hpp"
#include "mailcanary/agent/core/time_text.hpp"
#include "mailcanary/agent/http/descriptors.hpp"
#include "mailcanary/agent/http/process_metrics.hpp"
#include "mailcanary/agent/http/views.hpp"
#include "mailcanary/agent/http/web_server.hpp"
#include "mailcanary/agent/probe/discovery.hpp"
#include "mailcanary/agent/probe/probe_run.hpp"
#include "mailcanary/agent/runtime/journal.hpp"
#include "mailcanary/agent/runtime/log_format.hpp"
#include "mailcanary/agent/runtime/service_notify.hpp"
#include "mailcanary/build_info.hpp"

namespace mailcanary::agent {
namespace {

using std::chrono::milliseconds;

// The loop never waits longer than this, so stop and reload are prompt.
constexpr milliseconds kMaxWait{200};
// Views are refreshed at most this often while results keep coming (each publication
// copies a pointer per member).
constexpr milliseconds kPublishEvery{50};

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
    : options_(std::move(options)),
      clock_(clock),
      tokens_(clock_, probes::fetch_token,
              [this](const std::string& name, const probes::TokenSource::Counts& c) {
                OAuth2View v{name, c.fetches, c.failures, !c.failing, c.last_error};
                post([v](Core& core, Now n) { return core.oauth2_state(v, n); });
              }) {
  auto cfg = load(options_.config_path);
  use_log_config(cfg->log);
  // The HTTP port first: a port in use is said before anything is written to state_dir.
  try {
    bound_.emplace(WebServer::BoundPort::open(cfg->agent.listen.host, cfg->agent.listen.port));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(e.what()) + " (agent.listen in " + options_.config_path +
                             ")");
  }
  if (const auto& a = cfg->web.agent_check_listen) {
    try {
      agent_check_ = std::make_unique<AgentCheckServer>(a->host, a->port);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + " (web.agent_check_listen in " +
                               options_.config_path + ")");
    }
  }
  StateStore::OpenOptions open;
  open.start_fresh = options_.fresh_state;
  store_ = StateStore::open(cfg->agent.state_dir, open);
  if (store_->moved_aside()) {
    log("the unusable state database was moved aside to " + store_->moved_aside()->string());
  }
  resolver_ = std::make_unique<probes::Resolver>(cfg->dns, clock_);
  core_ = std::make_unique<Core>(std::move(cfg));
}

Agent::~Agent() {
  shut_down();
}

void Agent::log(const LogLine& line) const {
  if (static_cast<int>(line.level) < log_level_.load()) {
    return;
  }
  const auto format = static_cast<config::LogFormat>(log_format_.load());
  if (journal_ && send_to_journal(line, format)) {
    return;
  }
  const std::string text = format_log_line(line, clock_.wall(), format, journal_);
  // One write per line: lines from several threads never interleave.
  (void)!::write(2, text.data(), text.size());
}

void Agent::use_log_config(const config::LogConfig& c) {
  log_level_ = static_cast<int>(c.level);
  log_format_ = static_cast<int>(c.format);
}

void Agent::post(Event e) {
  {
    std::lock_guard lock(events_mutex_);
    events_.push_back(std::move(e));
  }
  events_cv_.notify_one();
}

void Agent::apply(Effects effects) {
  for (auto& e : effects) {
    apply_one(e);
  }
}

void Agent::apply_one(Effect& effect) {
  // A failing state store write (a full or read-only disk) goes to the core, which
  // counts it, logs the first one and asks for a write-back later; probing goes on.
  try {
    if (batch_.add(effect, clock_.now())) {
      // A full batch, or one with an alarm or health change: written now, before the
      // line that reports the change reaches the journal.
      if (batch_.due(clock_.now())) {
        write_batch();
      }
      return;
    }
    if (std::holds_alternative<QueueNotification>(effect) ||
        std::holds_alternative<ForgetMember>(effect) || std::holds_alternative<WriteBack>(effect)) {
      write_batch();  // what waits goes first: the store sees every write in order
    }
    std::visit(
        [&](auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, StartProbe>) {
            {
              std::lock_guard lock(jobs_mutex_);
              jobs_.push_back(std::move(e));
            }
            jobs_cv_.notify_one();
          } else if constexpr (std::is_same_v<T, RunDiscovery>) {
            {
              std::lock_guard lock(discovery_mutex_);
              discovery_request_ = e.config;
            }
            discovery_cv_.notify_one();
          } else if constexpr (std::is_same_v<T, WatchCanary>) {
            if (auto* w = watcher_for(e.mailbox, e.bounce_mailbox)) {
              w->add(e.pending);
            }
          } else if constexpr (std::is_same_v<T, RestartWatcher>) {
            // Its thread is joined here; it posts events, never waits for this one.
            watchers_.erase({e.mailbox, e.bounce_mailbox});
          } else if constexpr (std::is_same_v<T, QueueNotification>) {
            store_->enqueue_notification(e.notification, e.at);
          } else if constexpr (std::is_same_v<T, ForgetMember>) {
            store_->forget_member(e.target, e.member);
          } else if constexpr (std::is_same_v<T, WriteBack>) {
            store_->write_back(e.state);
            apply(core_->store_written_back(now()));
          } else if constexpr (std::is_same_v<T, LogLine>) {
            // What a line reports is in the views before the line is written: held
            // back until the next publication when the core has unpublished changes.
            if (core_->changed() || !held_logs_.empty()) {
              held_logs_.push_back(std::move(e));
            } else {
              log(e);
            }
          }
        },
        effect);
  } catch (const StateError& e) {
    apply(core_->store_failed(e.what(), &effect, now()));
  } catch (const std::exception& e) {
    log(LogLine{LogLine::Level::error, std::string("carrying out an effect: ") + e.what()});
  }
}

void Agent::write_batch() {
  if (batch_.empty()) {
    return;
  }
  auto taken = batch_.take();
  try {
    store_->write(taken.writes);
  } catch (const StateError& e) {
    apply(core_->store_failed(e.what(), taken.held, now()));
  }
}

void Agent::publish(bool force) {
  const auto t = clock_.now();
  if (core_->changed() && (force || t - published_at_ >= kPublishEvery)) {
    box_.set(core_->snapshot(now()));
    published_at_ = t;
  }
  if (!core_->changed()) {
    for (const auto& line : held_logs_) {
      log(line);
    }
    held_logs_.clear();
  }
}

void Agent::reload_config() {
  std::shared_ptr<const config::Config> fresh;
  try {
    fresh = load(options_.config_path);
  } catch (const std::exception& e) {
    apply(core_->config_refused(e.what(), now()));
    return;
  }
  {
    std::lock_guard lock(alerts_mutex_);
    alert_config_ = fresh;
  }
  apply(core_->config_changed(fresh, options_.config_path, now()));
  use_log_config(core_->config().log);
}

void Agent::worker_loop() {
  for (;;) {
    StartProbe job;
    {
      std::unique_lock lock(jobs_mutex_);
      jobs_cv_.wait(lock, [&] { return stop_workers_ || !jobs_.empty(); });
      if (jobs_.empty()) {
        return;  // stopping, nothing left to send
      }
      if (stop_workers_) {
        jobs_.clear();  // not started: nothing to report
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
      // How late the probe starts against its slot: the scheduler's precision.
      const double late = std::chrono::duration<double>(clock_.now() - job.due).count();
      if (drift_.size() < kMaxDriftSamples) {
        drift_.push_back(late);
      }
    }
    std::chrono::steady_clock::time_point accepted{};
    const auto started = clock_.wall();
    ProbeResult r =
        send_canary(*job.config, job.ref, clock_, accepted, std::nullopt, nullptr, &tokens_);
    r.started_at = started;
    post([r = std::move(r), accepted](Core& core, Now n) mutable {
      return core.sent(std::move(r), accepted, n);
    });
  }
}

void Agent::discovery_loop() {
  probes::SystemRandom random;
  for (;;) {
    std::shared_ptr<const config::Config> cfg;
    {
      std::unique_lock lock(discovery_mutex_);
      discovery_cv_.wait(lock, [&] { return stop_discovery_ || discovery_request_; });
      if (stop_discovery_) {
        return;
      }
      cfg = std::move(discovery_request_);
      discovery_request_.reset();
    }
    try {
      auto found = discover(*cfg, "", "", *resolver_, random);
      post([found = std::move(found), cfg](Core& core, Now n) mutable {
        return core.discovered(std::move(found), cfg, n);
      });
    } catch (const std::exception& e) {
      std::string error = e.what();
      post([error](Core& core, Now n) { return core.discovery_failed(error, n); });
    }
  }
}

void Agent::log_run_figures() {
  std::vector<double> drift;
  {
    std::lock_guard lock(jobs_mutex_);
    drift = drift_;
  }
  if (drift.empty()) {
    return;
  }
  std::sort(drift.begin(), drift.end());
  auto at = [&](double q) {
    return drift[static_cast<std::size_t>(q * static_cast<double>(drift.size() - 1))] * 1000;
  };
  const auto recorded = core_->results_recorded();
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
  // systemd's soft descriptor limit is 1,024: the HTTP cap and the probes need more.
  const auto fd_limit = http::raise_descriptor_limit();
  const http::Limits limits;
  if (const auto plan = http::plan_descriptors(fd_limit, limits.max_connections);
      plan.short_of_wanted) {
    log(LogLine{LogLine::Level::warning,
                "descriptor limit " + std::to_string(fd_limit) + " (the hard limit): HTTP " +
                    "connections capped at " + std::to_string(plan.max_connections) + " of " +
                    std::to_string(limits.max_connections) + "; raise LimitNOFILE to at least " +
                    std::to_string(limits.max_connections + http::kReservedDescriptors)});
  }
  // Restored state is in the snapshot before the HTTP port opens: the first scrape
  // after a restart shows every member's alarm and health.
  apply(core_->restored(store_->member_states(), store_->in_flight(), now()));
  publish(true);
  const auto cfg = std::make_shared<const config::Config>(core_->config());
  alert_config_ = cfg;
  const int n_workers = std::max(1, cfg->agent.concurrency);
  for (int i = 0; i < n_workers; ++i) {
    workers_.emplace_back([this] { worker_loop(); });
  }
  discovery_ = std::thread([this] { discovery_loop(); });
  alert_links_ = alert_links(cfg->web, cfg->agent.listen.host, bound_->port());
  alerts_ = std::thread([this] { alerts_loop(); });
  {
    WebServer web(std::move(*bound_),
                  {[this] {
                     return render_metrics(*box_.get(), BuildInfo{MAILCANARY_BUILD_VERSION,
                                                                  MAILCANARY_BUILD_REVISION,
                                                                  MAILCANARY_BUILD_COMPILER}) +
                            render_process_metrics();
                   },
                   [this] { return render_status(*box_.get(), clock_.wall()); },
                   [this](const std::string& t, const std::string& m) {
                     auto h = render_health(*box_.get(), t, m);
                     return WebServer::Response{h.code, "text/plain; charset=utf-8", h.body};
                   },
                   [this] { return box_.get()->scheduled; },
                   cfg->web.reload_endpoint ? std::function<void()>([&reload, this] {
                     reload = true;
                     events_cv_.notify_one();  // the loop reloads now, not at its next pass
                   })
                                            : nullptr,
                   [this](const std::string& t, const std::string& m) {
                     auto a = render_member_status(*box_.get(), t, m, clock_.wall());
                     return WebServer::Response{a.code, "application/json", a.body};
                   }},
                  cfg->web, limits);
    if (agent_check_) {
      const bool drain = cfg->web.agent_check_drain;
      agent_check_->serve([this, drain](const std::string& t, const std::string& m) {
        return render_agent_check(*box_.get(), t, m, drain);
      });
      log("HAProxy agent check on " + cfg->web.agent_check_listen->host + ":" +
          std::to_string(agent_check_->port()) + " (DOWN answers " +
          (drain ? "\"up drain\")" : "\"down\")"));
    }
    log(std::string("HTTP endpoints on ") + (cfg->web.tls() ? "https://" : "") +
        cfg->agent.listen.host + ":" + std::to_string(web.port()) +
        (cfg->agent.listen.host.empty() ? " (every address)" : "") +
        ": / /metrics /healthz /status /health/TARGET/MEMBER /-/ready" +
        (cfg->web.reload_endpoint ? " /-/reload" : "") +
        (cfg->web.basic_auth_users.empty() ? "" : " (basic auth)"));
    log("running: " + std::to_string(cfg->targets.size()) + " targets, state in " +
        store_->path().string());
    if (cfg->targets.empty()) {
      log(LogLine{LogLine::Level::warning, "no [[target]] in " + cfg->path +
                                               ": probing nothing until targets are added "
                                               "and the config reloaded"});
    }
    // Restored state published and the port served: what systemd waits for.
    service::ready("probing " + std::to_string(cfg->targets.size()) + " targets, HTTP on " +
                   cfg->agent.listen.host + ":" + std::to_string(web.port()));
    const auto watchdog_every = service::watchdog_every();
    auto watchdog_fed = clock_.now() - std::chrono::hours(1);
    // Bounded by `stop`; each pass waits at most kMaxWait.
    while (!stop.load()) {
      // Fed from this loop only: when it stops turning, systemd restarts the agent.
      if (watchdog_every && clock_.now() - watchdog_fed >= *watchdog_every) {
        service::watchdog();
        watchdog_fed = clock_.now();
      }
      if (reload.exchange(false)) {
        service::reloading();
        reload_config();
        service::ready("config reloaded");
      }
      std::deque<Event> batch;
      {
        std::lock_guard lock(events_mutex_);
        batch.swap(events_);
      }
      for (auto& e : batch) {
        apply(e(*core_, now()));
      }
      apply(core_->tick(now()));
      if (batch_.due(clock_.now())) {
        write_batch();
      }
      publish(false);
      auto wait = std::clamp(core_->until_next(now()), milliseconds(1), kMaxWait);
      if (const auto due = batch_.due_at()) {
        wait =
            std::clamp(std::chrono::ceil<milliseconds>(*due - clock_.now()), milliseconds(1), wait);
      }
      if (core_->changed()) {
        wait = std::min(wait, kPublishEvery);
      }
      if (watchdog_every) {
        wait = std::min(wait, *watchdog_every);
      }
      std::unique_lock lock(events_mutex_);
      events_cv_.wait_for(lock, wait, [&] { return !events_.empty() || stop.load(); });
    }
    service::stopping();
    write_batch();
    log_run_figures();
    apply(core_->stopping(now()));  // the last line
    write_batch();
    publish(true);
  }  // the HTTP endpoints close here
  shut_down();
}

void Agent::shut_down() {
  agent_check_.reset();  // its thread reads box_
  {
    std::lock_guard lock(alerts_mutex_);
    stop_alerts_ = true;
  }
  alerts_cv_.notify_all();
  if (alerts_.joinable()) {
    alerts_.join();
  }
  {
    std::lock_guard lock(discovery_mutex_);
    stop_discovery_ = true;
  }
  discovery_cv_.notify_all();
  if (discovery_.joinable()) {
    discovery_.join();
  }
  // Watchers first: a canary they find now is only taken out of flight. Then the SMTP
  // workers finish their conversations; accepted canaries are persisted in flight.
  watchers_.clear();
  {
    std::lock_guard lock(jobs_mutex_);
    stop_workers_ = true;
  }
  jobs_cv_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable()) {
      w.join();
    }
  }
  workers_.clear();
  if (!core_->is_stopping()) {
    core_->stopping(now());  // not run(): nothing to say
  }
  std::deque<Event> rest;
  {
    std::lock_guard lock(events_mutex_);
    rest.swap(events_);
  }
  for (auto& e : rest) {
    apply(e(*core_, now()));
  }
  write_batch();
  publish(true);
}

}  // namespace mailcanary::agent
