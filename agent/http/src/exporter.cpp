#include "mailcanary/agent/http/exporter.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "member_metrics.hpp"

namespace mailcanary::agent {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using Labels = std::map<std::string, std::string>;

// The agent's own series (a handful, per mailbox or Alertmanager URL at most) live in a
// prometheus-cpp registry; the per-member ones in MemberMetrics.
struct Exporter::Families {
  Family<Gauge>* in_flight;
  Family<Gauge>* mailbox_up;
  Family<Counter>* mailbox_reconnects;
  Family<Counter>* am_failures;
  Family<Gauge>* am_pending;
  Family<Counter>* reloads;
  Family<Gauge>* reload_ok;
  Family<Gauge>* build;
  std::unique_ptr<MemberMetrics> members;
};

namespace {

template <class Builder>
auto* family(Builder builder, const char* name, const char* help, prometheus::Registry& r) {
  return &builder.Name(name).Help(help).Register(r);
}

Labels with(const Labels& base,
            std::initializer_list<std::pair<const std::string, std::string>> l) {
  Labels out = base;
  out.insert(l);
  return out;
}

}  // namespace

Exporter::Exporter(const std::string& instance, const std::string& version,
                   bool per_member_histograms)
    : registry_(std::make_shared<prometheus::Registry>()), f_(std::make_unique<Families>()) {
  if (!instance.empty()) {
    base_["instance"] = instance;
  }
  auto& r = *registry_;
  f_->members = std::make_unique<MemberMetrics>(instance, per_member_histograms);
  f_->in_flight = family(prometheus::BuildGauge(), "mailcanary_canaries_in_flight",
                         "Canaries accepted and not yet found, bounced or lost.", r);
  f_->mailbox_up = family(prometheus::BuildGauge(), "mailcanary_mailbox_up",
                          "1 when the last read of the mailbox worked.", r);
  f_->mailbox_reconnects =
      family(prometheus::BuildCounter(), "mailcanary_mailbox_reconnects_total",
             "IMAP sessions opened again after the previous one failed or was dropped.", r);
  f_->am_failures =
      family(prometheus::BuildCounter(), "mailcanary_alertmanager_send_failures_total",
             "Failed sends to an Alertmanager.", r);
  f_->am_pending = family(prometheus::BuildGauge(), "mailcanary_alertmanager_pending_notifications",
                          "Notifications waiting in the outbox.", r);
  f_->reloads = family(prometheus::BuildCounter(), "mailcanary_config_reloads_total",
                       "Config reloads by result.", r);
  f_->reload_ok = family(prometheus::BuildGauge(), "mailcanary_config_last_reload_successful",
                         "1 when the last config reload succeeded.", r);
  f_->build = family(prometheus::BuildGauge(), "mailcanary_build_info", "The running version.", r);
  f_->in_flight->Add(base_).Set(0);
  f_->am_pending->Add(base_).Set(0);
  f_->reload_ok->Add(base_).Set(1);
  f_->build->Add(with(base_, {{"version", version}})).Set(1);
}

Exporter::~Exporter() = default;

void Exporter::record_probe(const ProbeResult& r) {
  std::lock_guard lock(mutex_);
  f_->members->record(r);
}

void Exporter::set_member_status(const std::string& target, const std::string& member,
                                 const MemberStatus& s) {
  std::lock_guard lock(mutex_);
  f_->members->set_status(target, member, s);
}

void Exporter::retire_member(const std::string& target, const std::string& member) {
  std::lock_guard lock(mutex_);
  f_->members->retire(target, member);
}

void Exporter::count_skipped(const std::string& target, const std::string& member) {
  std::lock_guard lock(mutex_);
  f_->members->count_skipped(target, member);
}

void Exporter::set_in_flight(std::size_t n) {
  std::lock_guard lock(mutex_);
  f_->in_flight->Add(base_).Set(static_cast<double>(n));
}

void Exporter::set_mailbox_up(const std::string& mailbox, bool up) {
  std::lock_guard lock(mutex_);
  f_->mailbox_up->Add(with(base_, {{"mailbox", mailbox}})).Set(up ? 1 : 0);
}

void Exporter::set_mailbox_reconnects(const std::string& mailbox, std::uint64_t total) {
  std::lock_guard lock(mutex_);
  auto& c = f_->mailbox_reconnects->Add(with(base_, {{"mailbox", mailbox}}));
  if (static_cast<double>(total) > c.Value()) {
    c.Increment(static_cast<double>(total) - c.Value());
  }
}

void Exporter::count_alertmanager_failure(const std::string& url) {
  std::lock_guard lock(mutex_);
  f_->am_failures->Add(with(base_, {{"url", url}})).Increment();
}

void Exporter::set_pending_notifications(std::size_t n) {
  std::lock_guard lock(mutex_);
  f_->am_pending->Add(base_).Set(static_cast<double>(n));
}

void Exporter::count_config_reload(bool ok) {
  std::lock_guard lock(mutex_);
  f_->reloads->Add(with(base_, {{"result", ok ? "success" : "failure"}})).Increment();
  f_->reload_ok->Add(base_).Set(ok ? 1 : 0);
}

std::string Exporter::render() const {
  std::lock_guard lock(mutex_);
  std::ostringstream own;
  prometheus::TextSerializer().Serialize(own, registry_->Collect());
  std::string out = own.str();
  f_->members->write(out);
  return out;
}

}  // namespace mailcanary::agent
