#include <nlohmann/json.hpp>

#include "mailcanary/agent/core/alerts.hpp"

namespace mailcanary::agent {

std::string encode_alert(const AlertInfo& a) {
  return nlohmann::json{{"target", a.target},
                        {"member", a.member},
                        {"class", a.cls},
                        {"instance", a.instance},
                        {"stage", a.stage},
                        {"smtp_code", a.smtp_code},
                        {"detail", a.detail},
                        {"rule", a.rule},
                        {"short_ratio", a.short_ratio},
                        {"long_ratio", a.long_ratio},
                        {"starts_at_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                             a.starts_at.time_since_epoch())
                                             .count()}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<AlertInfo> decode_alert(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  AlertInfo out;
  try {
    out.target = j.value("target", "");
    out.member = j.value("member", "");
    out.cls = j.value("class", "");
    out.instance = j.value("instance", "");
    out.stage = j.value("stage", "");
    out.detail = j.value("detail", "");
    out.smtp_code = j.value("smtp_code", 0);
    out.rule = j.value("rule", "");
    out.short_ratio = j.value("short_ratio", 0.0);
    out.long_ratio = j.value("long_ratio", 0.0);
    out.starts_at = SysTime(std::chrono::milliseconds(j.value("starts_at_ms", 0LL)));
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a value of the wrong type
  }
  if (out.target.empty() || out.member.empty()) {
    return std::nullopt;
  }
  return out;
}

AlertInfo member_alert(const std::string& target, const std::string& member, const MemberStatus& st,
                       const ProbeResult& last, const std::string& instance, SysTime at) {
  AlertInfo a;
  a.target = target;
  a.member = member;
  a.cls = std::string(probes::to_string(st.alarm_class.value_or(last.cls)));
  a.instance = instance;
  a.stage = std::string(probes::to_string(last.stage));
  a.smtp_code = last.smtp_code;
  a.detail = last.detail;
  a.starts_at = st.alarm_since.value_or(at);
  if (st.alarm_rule) {
    a.rule = std::string(to_string(*st.alarm_rule));
    a.short_ratio = st.alarm_short_ratio;
    a.long_ratio = st.alarm_long_ratio;
  }
  return a;
}

AlertInfo mailbox_alert(const std::string& mailbox, const MailboxStatus& st,
                        const std::string& detail, const std::string& instance, SysTime at) {
  AlertInfo a;
  a.target = "mailbox";
  a.member = mailbox;
  a.cls = "mailbox_error";
  a.instance = instance;
  a.stage = "mailbox";
  a.detail = detail;
  a.starts_at = st.alarm_since.value_or(at);
  return a;
}

}  // namespace mailcanary::agent
