// encode_member_status() / decode_member_status(): a member's state as JSON for the
// state store.
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "mailcanary/agent/core/alarm.hpp"

namespace mailcanary::agent {
namespace {

using probes::ResultClass;

// --- JSON -----------------------------------------------------------------------------

using nlohmann::json;

constexpr int kEncodingVersion = 1;

json time_value(const std::optional<SysTime>& t) {
  if (!t) {
    return nullptr;
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
}

json class_value(const std::optional<ResultClass>& c) {
  if (!c) {
    return nullptr;
  }
  return std::string(probes::to_string(*c));
}

// Readers: false when the key is present with a wrong type or value; a missing key or a
// null leaves the default.
bool read(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_boolean()) {
    return false;
  }
  out = it->get<bool>();
  return true;
}

bool read(const json& j, const char* key, int& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_number_integer()) {
    return false;
  }
  const auto v = it->get<std::int64_t>();
  if (v < 0 || v > std::numeric_limits<int>::max()) {
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool read(const json& j, const char* key, std::optional<SysTime>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_number_integer()) {
    return false;
  }
  out = SysTime{std::chrono::milliseconds(it->get<std::int64_t>())};
  return true;
}

bool read(const json& j, const char* key, std::optional<ResultClass>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_string()) {
    return false;
  }
  out = probes::result_class_from_string(it->get<std::string>());
  return out.has_value();
}

bool read(const json& j, const char* key, double& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_number()) {
    return false;
  }
  out = it->get<double>();
  return out >= 0 && out <= 1;
}

bool read(const json& j, const char* key, std::optional<AlarmRule>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_string()) {
    return false;
  }
  const auto text = it->get<std::string>();
  if (text != "outage" && text != "burn_rate") {
    return false;
  }
  out = text == "outage" ? AlarmRule::outage : AlarmRule::burn_rate;
  return true;
}

json burn_value(const BurnWindow& w) {
  if (w.width_ms == 0) {
    return nullptr;
  }
  return {{"w", w.width_ms}, {"t", w.first_ms}, {"g", w.good}, {"b", w.bad}, {"r", w.runs}};
}

constexpr std::size_t kMaxBuckets = 100000;

bool read(const json& j, const char* key, BurnWindow& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return true;
  }
  if (!it->is_object()) {
    return false;
  }
  const auto& o = *it;
  const auto counts = [](const json& a, std::vector<std::uint32_t>& v) {
    if (!a.is_array() || a.size() > kMaxBuckets) {
      return false;
    }
    for (const auto& x : a) {
      if (!x.is_number_unsigned() || x.get<std::uint64_t>() > 0xffffffffULL) {
        return false;
      }
      v.push_back(static_cast<std::uint32_t>(x.get<std::uint64_t>()));
    }
    return true;
  };
  BurnWindow w;
  if (!o.contains("w") || !o["w"].is_number_integer() || !o.contains("t") ||
      !o["t"].is_number_integer() || !o.contains("g") || !o.contains("b") || !o.contains("r") ||
      !counts(o["g"], w.good) || !counts(o["b"], w.bad) || !counts(o["r"], w.runs) ||
      w.good.size() != w.bad.size() || w.good.size() != w.runs.size() || w.good.empty()) {
    return false;
  }
  w.width_ms = o["w"].get<std::int64_t>();
  w.first_ms = o["t"].get<std::int64_t>();
  if (w.width_ms <= 0) {
    return false;
  }
  out = std::move(w);
  return true;
}

}  // namespace

std::string encode_member_status(const MemberStatus& s) {
  json j = {
      {"v", kEncodingVersion},
      {"in_alarm", s.in_alarm},
      {"alarm_since", time_value(s.alarm_since)},
      {"alarm_class", class_value(s.alarm_class)},
      {"alarm_rule", s.alarm_rule ? json(std::string(to_string(*s.alarm_rule))) : json(nullptr)},
      {"alarm_short_ratio", s.alarm_short_ratio},
      {"alarm_long_ratio", s.alarm_long_ratio},
      {"failing_since", time_value(s.failing_since)},
      {"consecutive_failures", s.consecutive_failures},
      {"consecutive_successes", s.consecutive_successes},
      {"consecutive_unknown", s.consecutive_unknown},
      {"health_up", s.health_up},
      {"health_since", time_value(s.health_since)},
      {"last_class", class_value(s.last_class)},
      {"last_probe_at", time_value(s.last_probe_at)},
      {"last_success_at", time_value(s.last_success_at)},
      {"last_failure_class", class_value(s.last_failure_class)},
      {"last_failure_at", time_value(s.last_failure_at)},
      {"in_maintenance", s.in_maintenance},
      {"maintenance_until", time_value(s.maintenance_until)},
      {"maintenance_ended_at", time_value(s.maintenance_ended_at)},
      {"burn", burn_value(s.burn)},
      {"outage_cleared_at", time_value(s.outage_cleared_at)},
  };
  return j.dump();
}

std::optional<MemberStatus> decode_member_status(std::string_view text) {
  const json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  int version = kEncodingVersion;
  if (!read(j, "v", version) || version > kEncodingVersion) {
    return std::nullopt;
  }
  MemberStatus s;
  const bool ok =
      read(j, "in_alarm", s.in_alarm) && read(j, "alarm_since", s.alarm_since) &&
      read(j, "alarm_class", s.alarm_class) && read(j, "failing_since", s.failing_since) &&
      read(j, "consecutive_failures", s.consecutive_failures) &&
      read(j, "consecutive_successes", s.consecutive_successes) &&
      read(j, "consecutive_unknown", s.consecutive_unknown) && read(j, "health_up", s.health_up) &&
      read(j, "health_since", s.health_since) && read(j, "last_class", s.last_class) &&
      read(j, "last_probe_at", s.last_probe_at) && read(j, "last_success_at", s.last_success_at) &&
      read(j, "last_failure_class", s.last_failure_class) &&
      read(j, "last_failure_at", s.last_failure_at) &&
      read(j, "in_maintenance", s.in_maintenance) &&
      read(j, "maintenance_until", s.maintenance_until) &&
      read(j, "maintenance_ended_at", s.maintenance_ended_at) &&
      read(j, "alarm_rule", s.alarm_rule) && read(j, "alarm_short_ratio", s.alarm_short_ratio) &&
      read(j, "alarm_long_ratio", s.alarm_long_ratio) && read(j, "burn", s.burn) &&
      read(j, "outage_cleared_at", s.outage_cleared_at);
  if (!ok) {
    return std::nullopt;
  }
  return s;
}

}  // namespace mailcanary::agent
