#include <arpa/inet.h>

#include <algorithm>

#include "endpoint_syntax.hpp"
#include "mailcanary/config/config.hpp"

namespace mailcanary::config {
namespace detail {
namespace {

// inet_pton reads a C string: a NUL inside `host` would hide what follows it.
bool is_ipv4(std::string_view host) {
  if (host.find('\0') != std::string_view::npos) {
    return false;
  }
  in_addr addr{};
  return inet_pton(AF_INET, std::string(host).c_str(), &addr) == 1;
}

bool is_ipv6(std::string_view host) {
  if (host.find('\0') != std::string_view::npos) {
    return false;
  }
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(host).c_str(), &addr) == 1;
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

bool is_valid_label(std::string_view label) {
  constexpr std::size_t kMaxLabel = 63;
  return !label.empty() && label.size() <= kMaxLabel && label.front() != '-' &&
         label.back() != '-' && std::all_of(label.begin(), label.end(), is_label_char);
}

std::optional<int> parse_port(std::string_view text) {
  constexpr std::size_t kMaxDigits = 5;
  constexpr int kMaxPort = 65535;
  if (text.empty() || text.size() > kMaxDigits) {
    return std::nullopt;
  }
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    port = port * 10 + (c - '0');
  }
  if (port > kMaxPort) {
    return std::nullopt;
  }
  return port;
}

}  // namespace

bool is_ip_address(std::string_view host) {
  return is_ipv4(host) || is_ipv6(host);
}

bool is_valid_hostname(std::string_view host) {
  constexpr std::size_t kMaxName = 253;
  if (!host.empty() && host.back() == '.') {
    host.remove_suffix(1);
  }
  if (host.empty() || host.size() > kMaxName) {
    return false;
  }
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
    return is_ipv4(host);
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = host.find('.', start);
    if (!is_valid_label(host.substr(start, dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool is_mail_address(std::string_view text) {
  const std::size_t at = text.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) {
    return false;
  }
  return std::none_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == ',' || c == ';' ||
           c == 0x7f;
  });
}

std::optional<HostPort> split_host_port(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    if (!is_ipv6(out.host)) {
      return std::nullopt;
    }
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return std::nullopt;
      }
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
      out.host = std::string(text);
    } else if (text.find(':', colon + 1) != std::string_view::npos) {
      // Several colons and no brackets: only a bare IPv6 address (no port) makes sense.
      if (!is_ipv6(text)) {
        return std::nullopt;
      }
      out.host = std::string(text);
      return out;
    } else {
      out.host = std::string(text.substr(0, colon));
      has_port = true;
      port_text = text.substr(colon + 1);
    }
    if (!is_valid_hostname(out.host)) {
      return std::nullopt;
    }
  }
  if (has_port) {
    out.port = parse_port(port_text);
    if (!out.port) {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace detail

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(const std::string& text, int default_port) {
  constexpr int kMaxPort = 65535;
  const auto split = detail::split_host_port(text);
  if (!split) {
    return std::nullopt;
  }
  const int port = split->port.value_or(default_port);
  if (port < 1 || port > kMaxPort) {
    return std::nullopt;
  }
  return Endpoint{split->host, static_cast<std::uint16_t>(port)};
}

}  // namespace mailcanary::config
