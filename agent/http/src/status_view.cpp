#include <nlohmann/json.hpp>

#include "mailcanary/agent/core/time_text.hpp"
#include "mailcanary/agent/http/views.hpp"

namespace mailcanary::agent {

namespace {

nlohmann::ordered_json member_json(const Snapshot& s, const MemberView& mv) {
  const auto& st = mv.status;
  nlohmann::ordered_json m;
  m["target"] = mv.target;
  m["member"] = mv.member;
  m["health"] = s.health_up(mv) ? "UP" : "DOWN";
  m["in_alarm"] = st.in_alarm;
  if (st.alarm_since) {
    m["alarm_since"] = rfc3339(*st.alarm_since);
  }
  if (st.in_alarm && st.alarm_rule) {
    m["alarm_rule"] = to_string(*st.alarm_rule);
    if (*st.alarm_rule == AlarmRule::burn_rate) {
      m["alarm_failure_ratios"] = {{"short_window", st.alarm_short_ratio},
                                   {"long_window", st.alarm_long_ratio}};
    }
  }
  m["in_maintenance"] = st.in_maintenance;
  m["consecutive_failures"] = st.consecutive_failures;
  m["skipped"] = mv.skipped;
  if (st.last_success_at) {
    m["last_success"] = rfc3339(*st.last_success_at);
  }
  if (mv.last) {
    m["last"] = to_json_value(*mv.last, false);
  }
  return m;
}

std::string dump(const nlohmann::ordered_json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string render_status(const Snapshot& s, SysTime now) {
  nlohmann::ordered_json doc;
  doc["instance"] = s.instance;
  doc["now"] = rfc3339(now);
  auto& members = doc["members"] = nlohmann::ordered_json::array();
  for (const auto& mv : s.members) {
    members.push_back(member_json(s, *mv));
  }
  doc["canaries_in_flight"] = s.in_flight;
  auto& boxes = doc["mailboxes"] = nlohmann::ordered_json::array();
  for (const auto& mb : s.mailboxes) {
    if (!mb.up) {
      continue;  // no probe has reached it yet
    }
    nlohmann::ordered_json b{{"mailbox", mb.mailbox},
                             {"in_alarm", mb.status.in_alarm},
                             {"consecutive_errors", mb.status.consecutive_errors}};
    if (mb.status.last_success_at) {
      b["last_success"] = rfc3339(*mb.status.last_success_at);
    }
    boxes.push_back(std::move(b));
  }
  auto& tokens = doc["oauth2"] = nlohmann::ordered_json::array();
  for (const auto& o : s.oauth2) {
    nlohmann::ordered_json t{
        {"oauth2", o.name}, {"up", o.up}, {"requests", o.requests}, {"failures", o.failures}};
    if (!o.up) {
      t["error"] = o.last_error;
    }
    tokens.push_back(std::move(t));
  }
  auto& store = doc["state_store"] = {{"ok", s.store.ok}, {"errors", s.store.errors}};
  if (s.store.failing_since) {
    store["failing_since"] = rfc3339(*s.store.failing_since);
  }
  if (s.store.last_error_at) {
    store["last_error"] = s.store.last_error;
    store["last_error_at"] = rfc3339(*s.store.last_error_at);
  }
  return dump(doc);
}

HealthAnswer render_member_status(const Snapshot& s, const std::string& target,
                                  const std::string& member, SysTime now) {
  const auto* m = s.find(target, member);
  if (!m) {
    return {404, "{\"error\":\"unknown target/member\"}\n"};
  }
  nlohmann::ordered_json doc;
  doc["instance"] = s.instance;
  doc["now"] = rfc3339(now);
  doc.update(member_json(s, *m));
  return {200, dump(doc)};
}

HealthAnswer render_health(const Snapshot& s, const std::string& target,
                           const std::string& member) {
  const auto* m = s.find(target, member);
  if (!m) {
    return {404, "unknown target/member\n"};
  }
  const auto& st = m->status;
  if (s.health_up(*m)) {
    return {200, "UP\n"};
  }
  if (!st.last_probe_at) {
    return {503, "DOWN no_result since start\n"};  // [web] unknown_health = "down"
  }
  std::string cls(probes::to_string(st.last_failure_class.value_or(probes::ResultClass::lost)));
  return {503, "DOWN " + cls + " since " +
                   (st.health_since ? rfc3339(*st.health_since) : std::string("start")) + "\n"};
}

std::string render_agent_check(const Snapshot& s, const std::string& target,
                               const std::string& member, bool drain) {
  const HealthAnswer h = render_health(s, target, member);
  if (h.code == 200) {
    return "up ready\n";  // "ready" also ends a drain the agent asked for before
  }
  if (h.code == 404) {
    return "down # unknown target/member\n";
  }
  return std::string(drain ? "up drain" : "down") + " # " + h.body;  // body ends with '\n'
}

}  // namespace mailcanary::agent
