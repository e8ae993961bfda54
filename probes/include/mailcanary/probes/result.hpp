// Result classes and SMTP stages: the vocabulary every probe step and every output
// (JSON, metrics, status page) shares. The strings are part of the contract.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::probes {

enum class ResultClass {
  ok,
  late,
  junked,
  lost,
  bounced,
  temp_fail,
  perm_fail,
  unreachable,
  timeout,
  tls_error,
  auth_error,
  dns_temp_fail,
  dns_perm_fail,
  protocol_error,
  mailbox_error,
};

enum class Stage {
  dns,
  connect,
  banner,
  ehlo,
  starttls,
  auth,
  mail,
  rcpt,
  data,
  body,
  quit,
  mailbox,
  done,
  token,  // getting the OAuth2 access token the login needs (before any connection)
};

std::string_view to_string(ResultClass c);
std::string_view to_string(Stage s);
std::optional<ResultClass> result_class_from_string(std::string_view s);
std::optional<Stage> stage_from_string(std::string_view s);

/// Monitoring-plugin severity of a class: 0 ok, 1 warning, 2 critical, 3 unknown.
int plugin_severity(ResultClass c);

/// Whether a class says the target itself failed (everything except ok and
/// mailbox_error, which says nothing about the target).
bool is_target_failure(ResultClass c);

}  // namespace mailcanary::probes
