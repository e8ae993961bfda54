#include "mailcanary/agent/http/http_parser.hpp"

#include <algorithm>
#include <cctype>

namespace mailcanary::agent::http {
namespace {

bool is_token_char(unsigned char c) {
  if (std::isalnum(c)) {
    return true;
  }
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return kExtra.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_token_char(static_cast<unsigned char>(c));
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Whether the comma-separated `value` holds `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Accept-Encoding names gzip (or *) with a quality above 0: "gzip", "gzip;q=0.5",
// "br, gzip", "*"; not "gzip;q=0" or "identity".
bool accepts_gzip(std::string_view value) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view item = trim(value.substr(0, comma));
    std::string_view coding = trim(item.substr(0, item.find(';')));
    if (iequals(coding, "gzip") || coding == "*") {
      bool zero = false;
      if (const auto semi = item.find(';'); semi != std::string_view::npos) {
        std::string_view param = trim(item.substr(semi + 1));
        if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
          param.remove_prefix(2);
          zero = param.find_first_not_of("0.") == std::string_view::npos;
        }
      }
      if (!zero) {
        return true;
      }
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

// One line from `pos` (without its CRLF or LF); nullopt when its end has not arrived.
std::optional<std::string_view> next_line(std::string_view buffer, std::size_t& pos) {
  const auto lf = buffer.find('\n', pos);
  if (lf == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view line = buffer.substr(pos, lf - pos);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  pos = lf + 1;
  return line;
}

ParseResult failure(int code) {
  ParseResult r;
  r.status = ParseStatus::error;
  r.error_code = code;
  return r;
}

// "METHOD SP target SP HTTP/1.x"
bool parse_request_line(std::string_view line, RequestHead& head, int& error) {
  error = 400;
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return false;
  }
  const auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) {
    return false;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[5])) ||
      !std::isdigit(static_cast<unsigned char>(version[7]))) {
    return false;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    error = 505;
    return false;
  }
  // absolute-form (a proxy's): keep the path after the authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() > scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      const auto slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  if (target.front() != '/') {
    return false;
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return false;
    }
  }
  target = target.substr(0, target.find_first_of("?#"));
  head.method = std::string(method);
  head.path = std::string(target);
  head.minor_version = version[7] - '0';
  head.keep_alive = head.minor_version == 1;
  return true;
}

// One "Name: value" line into `head`; false when malformed.
bool parse_header(std::string_view line, RequestHead& head, bool& seen_length) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
    return false;  // also rejects obsolete line folding (a line starting with a space)
  }
  const auto name = line.substr(0, colon);
  const auto value = trim(line.substr(colon + 1));
  for (char c : value) {
    if (c == '\0' || c == '\r' || c == '\n') {
      return false;
    }
  }
  if (iequals(name, "Connection")) {
    if (has_token(value, "close")) {
      head.keep_alive = false;
    } else if (has_token(value, "keep-alive")) {
      head.keep_alive = true;
    }
  } else if (iequals(name, "Authorization")) {
    if (head.authorization) {
      return false;
    }
    head.authorization = std::string(value);
  } else if (iequals(name, "Content-Length")) {
    if (seen_length || value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return false;
    }
    seen_length = true;
    head.has_body = head.has_body || value.find_first_not_of('0') != std::string_view::npos;
  } else if (iequals(name, "Transfer-Encoding")) {
    head.has_body = true;
  } else if (iequals(name, "Accept-Encoding")) {
    head.accepts_gzip = head.accepts_gzip || accepts_gzip(value);
  }
  return true;
}

}  // namespace

ParseResult parse_request_head(std::string_view buffer, std::size_t max_head) {
  const auto window = buffer.substr(0, max_head);
  std::size_t pos = 0;
  // Empty lines before a request line are ignored (RFC 9112, 2.2), within the window.
  std::optional<std::string_view> line;
  while ((line = next_line(window, pos)) && line->empty()) {
  }
  if (!line) {
    if (buffer.size() < max_head) {
      return {};
    }
    return failure(window.find_first_not_of("\r\n") == std::string_view::npos ? 400 : 414);
  }
  ParseResult r;
  int error = 400;
  if (!parse_request_line(*line, r.head, error)) {
    return failure(error);
  }
  bool seen_length = false;
  // Bounded: every turn consumes at least one byte of the window.
  for (;;) {
    auto header = next_line(window, pos);
    if (!header) {
      return buffer.size() < max_head ? ParseResult{} : failure(431);
    }
    if (header->empty()) {
      break;
    }
    if (!parse_header(*header, r.head, seen_length)) {
      return failure(400);
    }
  }
  r.status = ParseStatus::complete;
  r.consumed = pos;
  return r;
}

std::string_view reason_phrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string format_response_head(const ResponseHead& r) {
  std::string out = r.http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(r.code);
  out += ' ';
  out += reason_phrase(r.code);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(r.content_length);
  out += "\r\nCache-Control: no-store\r\n";
  if (r.ask_for_credentials) {
    out += "WWW-Authenticate: Basic realm=\"mailcanary\"\r\n";
  }
  if (!r.content_encoding.empty()) {
    out += "Content-Encoding: ";
    out += r.content_encoding;
    out += "\r\n";
  }
  if (r.vary_accept_encoding) {
    out += "Vary: Accept-Encoding\r\n";
  }
  if (r.retry_after_seconds > 0) {
    out += "Retry-After: " + std::to_string(r.retry_after_seconds) + "\r\n";
  }
  if (!r.keep_alive) {
    out += "Connection: close\r\n";
  } else if (r.http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  return out;
}

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  auto hex = [](char c) {
    return std::isdigit(static_cast<unsigned char>(c))
               ? c - '0'
               : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
    i += 2;
  }
  return true;
}

}  // namespace mailcanary::agent::http
