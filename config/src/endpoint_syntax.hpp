// Host and host:port syntax shared by parse_endpoint and the config readers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::config::detail {

/// A split "host:port": the host is already checked (IPv4, IPv6 or host name), the port,
/// when written, is 0..65535 (callers decide whether 0 is acceptable).
struct HostPort {
  std::string host;
  std::optional<int> port;
};

std::optional<HostPort> split_host_port(std::string_view text);

bool is_ip_address(std::string_view host);

/// A DNS host name: dot-separated labels of letters, digits, '-' and '_' (not starting
/// or ending with '-'), optionally a trailing dot. All-numeric names must be valid IPv4.
bool is_valid_hostname(std::string_view host);

/// "local@domain": a non-empty local part, a non-empty domain, no spaces or brackets.
bool is_mail_address(std::string_view text);

}  // namespace mailcanary::config::detail
