#include "mailcanary/probes/result.hpp"

#include <array>
#include <utility>

namespace mailcanary::probes {
namespace {

constexpr std::array<std::pair<ResultClass, std::string_view>, 15> kClassNames{{
    {ResultClass::ok, "ok"},
    {ResultClass::late, "late"},
    {ResultClass::junked, "junked"},
    {ResultClass::lost, "lost"},
    {ResultClass::bounced, "bounced"},
    {ResultClass::temp_fail, "temp_fail"},
    {ResultClass::perm_fail, "perm_fail"},
    {ResultClass::unreachable, "unreachable"},
    {ResultClass::timeout, "timeout"},
    {ResultClass::tls_error, "tls_error"},
    {ResultClass::auth_error, "auth_error"},
    {ResultClass::dns_temp_fail, "dns_temp_fail"},
    {ResultClass::dns_perm_fail, "dns_perm_fail"},
    {ResultClass::protocol_error, "protocol_error"},
    {ResultClass::mailbox_error, "mailbox_error"},
}};

constexpr std::array<std::pair<Stage, std::string_view>, 14> kStageNames{{
    {Stage::dns, "dns"},
    {Stage::connect, "connect"},
    {Stage::banner, "banner"},
    {Stage::ehlo, "ehlo"},
    {Stage::starttls, "starttls"},
    {Stage::auth, "auth"},
    {Stage::mail, "mail"},
    {Stage::rcpt, "rcpt"},
    {Stage::data, "data"},
    {Stage::body, "body"},
    {Stage::quit, "quit"},
    {Stage::mailbox, "mailbox"},
    {Stage::done, "done"},
    {Stage::token, "token"},
}};

template <typename Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum e) {
  for (const auto& [value, name] : table) {
    if (value == e) {
      return name;
    }
  }
  return "unknown";
}

template <typename Enum, std::size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, std::string_view>, N>& table,
                             std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) {
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(ResultClass c) {
  return name_of(kClassNames, c);
}
std::string_view to_string(Stage s) {
  return name_of(kStageNames, s);
}
std::optional<ResultClass> result_class_from_string(std::string_view s) {
  return value_of(kClassNames, s);
}
std::optional<Stage> stage_from_string(std::string_view s) {
  return value_of(kStageNames, s);
}

int plugin_severity(ResultClass c) {
  switch (c) {
    case ResultClass::ok:
      return 0;
    case ResultClass::late:
    case ResultClass::temp_fail:
      return 1;
    case ResultClass::mailbox_error:
      return 3;
    default:
      return 2;
  }
}

bool is_target_failure(ResultClass c) {
  return c != ResultClass::ok && c != ResultClass::mailbox_error;
}

}  // namespace mailcanary::probes
