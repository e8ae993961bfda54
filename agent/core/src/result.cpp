#include "mailcanary/agent/core/result.hpp"

#include "mailcanary/probes/classify.hpp"

namespace mailcanary::agent {

using probes::ResultClass;
using probes::Stage;

namespace {

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

}  // namespace

bool awaits_mailbox(const ProbeResult& r) {
  return r.stage == Stage::done && r.cls == ResultClass::ok;
}

void apply_confirmation(ProbeResult& r, const config::TargetConfig& t,
                        const std::string& mailbox_folder, const probes::Confirmation& c) {
  probes::Arrival arrival = probes::Arrival::not_found;
  switch (c.state) {
    case probes::Confirmation::State::found: {
      arrival =
          c.folder == mailbox_folder ? probes::Arrival::found : probes::Arrival::found_in_junk;
      r.delivery_seconds = c.delivery_seconds;
      if (arrival == probes::Arrival::found_in_junk) {
        r.detail = "delivered to junk folder " + c.folder;
      }
      auto evidence = probes::parse_evidence(c.headers);
      r.received_by = std::move(evidence.received_by);
      r.authentication_results = std::move(evidence.authentication_results);
      r.hops = std::move(evidence.hops);
      break;
    }
    case probes::Confirmation::State::not_found:
      r.detail = "accepted (" + r.detail + ") but not found in mailbox " + t.mailbox + " within " +
                 seconds_text(t.slg.lost_after);
      break;
    case probes::Confirmation::State::bounced:
      arrival = probes::Arrival::bounced;
      r.detail = "accepted (" + r.detail + "), then bounced: " + c.error;
      break;
    case probes::Confirmation::State::found_after_lost:  // not a new result (see Agent)
    case probes::Confirmation::State::reader_failed:
      arrival = probes::Arrival::reader_failed;
      r.detail = c.error;
      break;
  }
  auto d = probes::classify_delivery(arrival, c.delivery_seconds, t.slg.latency_slo);
  r.cls = d.cls;
  r.stage = d.stage;
}

int plugin_state_rank(int state) {
  switch (state) {
    case 2:
      return 3;
    case 3:
      return 2;
    case 1:
      return 1;
    default:
      return 0;
  }
}

int plugin_exit_code(const std::vector<ProbeResult>& results) {
  int worst = 0;
  for (const auto& r : results) {
    const int s = probes::plugin_severity(r.cls);
    if (plugin_state_rank(s) > plugin_state_rank(worst)) {
      worst = s;
    }
  }
  return worst;
}

}  // namespace mailcanary::agent
