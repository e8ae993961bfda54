#include <cstdio>
#include <nlohmann/json.hpp>

#include "mailcanary/agent/core/result.hpp"

namespace mailcanary::agent {

namespace {
double round6(double v) {
  return static_cast<double>(static_cast<long long>(v * 1e6 + 0.5)) / 1e6;
}
}  // namespace

nlohmann::ordered_json to_json_value(const ProbeResult& r, bool transcript) {
  nlohmann::ordered_json j;
  j["target"] = r.target;
  j["member"] = r.member;
  j["class"] = probes::to_string(r.cls);
  j["stage"] = probes::to_string(r.stage);
  j["smtp_code"] = r.smtp_code ? nlohmann::ordered_json(r.smtp_code) : nullptr;
  j["enhanced_code"] = r.enhanced_code.empty() ? nlohmann::ordered_json(nullptr)
                                               : nlohmann::ordered_json(r.enhanced_code);
  j["attempts"] = r.attempts;
  j["smtp_seconds"] = round6(r.smtp_seconds);
  j["delivery_seconds"] = r.delivery_seconds ? nlohmann::ordered_json(round6(*r.delivery_seconds))
                                             : nlohmann::ordered_json(nullptr);
  j["canary_id"] = r.canary_id;
  j["queue_id"] =
      r.queue_id.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.queue_id);
  j["detail"] = r.detail;
  j["received_by"] = r.received_by.empty() ? nlohmann::ordered_json(nullptr)
                                           : nlohmann::ordered_json(r.received_by);
  j["authentication_results"] = r.authentication_results.empty()
                                    ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(r.authentication_results);
  auto& hops = j["hops"] = nlohmann::ordered_json::array();
  for (const auto& hop : r.hops) {
    hops.push_back({{"from", hop.from},
                    {"by", hop.by},
                    {"seconds", hop.seconds ? nlohmann::ordered_json(*hop.seconds)
                                            : nlohmann::ordered_json(nullptr)}});
  }
  auto& stages = j["stage_seconds"] = nlohmann::ordered_json::object();
  for (const auto& st : r.stage_times) {
    std::string name(probes::to_string(st.stage));
    stages[name] = round6(stages.value(name, 0.0) + st.seconds);
  }
  if (transcript) {
    j["transcript"] = r.transcript;
  }
  return j;
}

std::string to_json(const ProbeResult& r, bool transcript) {
  // Server text is sanitised to ASCII already; replace anything else rather than throw.
  return to_json_value(r, transcript)
      .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string to_text(const ProbeResult& r) {
  char buf[128];
  std::string line = r.target + " " + r.member + " " + std::string(probes::to_string(r.cls)) +
                     " stage=" + std::string(probes::to_string(r.stage));
  if (r.smtp_code) {
    line += " code=" + std::to_string(r.smtp_code);
  }
  std::snprintf(buf, sizeof buf, " smtp=%.3fs", r.smtp_seconds);
  line += buf;
  if (r.delivery_seconds) {
    std::snprintf(buf, sizeof buf, " delivery=%.3fs", *r.delivery_seconds);
    line += buf;
  }
  line += " attempts=" + std::to_string(r.attempts);
  if (!r.detail.empty()) {
    line += " (" + r.detail + ")";
  }
  return line;
}

}  // namespace mailcanary::agent
