// The agent's Alertmanager thread: sends the outbox (and, while the state store fails,
// what the core holds), re-sends firing alerts, and hands what happened to the core.
#include <unistd.h>

#include <cstdio>

#include "alert_sender.hpp"
#include "mailcanary/agent/runtime/agent.hpp"

namespace mailcanary::agent {

using std::chrono::milliseconds;

AlertLinks alert_links(const config::WebConfig& web, const std::string& listen_host, int port) {
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == 0) {
    std::snprintf(name, sizeof name, "localhost");
  }
  AlertLinks links;
  links.agent = name;
  if (!web.external_url.empty()) {
    links.external_url = web.external_url;
    return links;
  }
  std::string host = listen_host;
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    host = name;
  } else if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  links.external_url =
      std::string(web.tls() ? "https://" : "http://") + host + ":" + std::to_string(port);
  return links;
}

void Agent::alerts_loop() {
  AlertSender sender(*store_, clock_);
  AlertLinks links = alert_links_;
  auto last_resend = clock_.now();
  for (;;) {
    std::shared_ptr<const config::Config> cfg;
    {
      std::unique_lock lock(alerts_mutex_);
      alerts_cv_.wait_for(lock, milliseconds(500), [&] { return stop_alerts_; });
      if (stop_alerts_) {
        return;
      }
      cfg = alert_config_;
    }
    links.runbook_url = cfg->alertmanager.runbook_url;  // may change with a reload
    sender.use_links(links);
    const bool resend = clock_.now() - last_resend >= AlertSender::kResendEvery;
    if (resend) {
      last_resend = clock_.now();
    }
    try {
      AlertSender::Report report;
      try {
        report = sender.send_due(cfg->alertmanager.urls);
      } catch (const StateError& e) {
        report.store_errors.push_back(e.what());  // the outbox cannot be read: the core counts it
      }
      const auto snapshot = box_.get();
      sender.send_held(cfg->alertmanager.urls, *snapshot, report);
      if (resend) {
        sender.resend_active(cfg->alertmanager.urls, *snapshot);
      }
      post([report = std::move(report)](Core& core, Now n) {
        if (report.held_delivered != 0) {
          core.held_delivered(report.held_delivered);
        }
        for (const auto& url : report.failed_urls) {
          core.alert_send_failed(url);
        }
        core.pending_notifications(report.pending);
        Effects out = core.is_stopping() ? Effects{} : report.log;
        for (const auto& error : report.store_errors) {
          for (auto& e : core.store_failed(error, nullptr, n)) {
            out.push_back(std::move(e));
          }
        }
        return out;
      });
    } catch (const std::exception& e) {
      log(LogLine{LogLine::Level::error, "alertmanager: " + std::string(e.what())});
    }
  }
}

}  // namespace mailcanary::agent
