// The agent's HTTP request-head parser (parse_request_head) and what the server does with
// its result: the reason phrase of an error, the /health/TARGET/MEMBER split with its
// %XX decoding (url_decode), the response head. The input's first byte picks the head
// limit (the server's 8192, or a small one so the limit errors are reached); the rest
// is what a client sent on the connection.
//
// Invariants: a complete head lies within the input and the limit, ends with its blank
// line and parses again the same from exactly its bytes; a prefix of the input that is
// not "incomplete" gives the very result of the whole input (more bytes never change a
// decision); "incomplete" only below the limit; errors are 400, 414, 431 or 505.
#include <string>

#include "fuzz_support.hpp"
#include "mailcanary/agent/http/http_parser.hpp"
#include "mailcanary/agent/http/limits.hpp"

namespace {

using namespace mailcanary::agent::http;

bool same(const ParseResult& a, const ParseResult& b) {
  return a.status == b.status && a.error_code == b.error_code && a.consumed == b.consumed &&
         a.head.method == b.head.method && a.head.path == b.head.path &&
         a.head.minor_version == b.head.minor_version && a.head.keep_alive == b.head.keep_alive &&
         a.head.authorization == b.head.authorization && a.head.has_body == b.head.has_body;
}

bool is_token(std::string_view s) {
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (!alnum && kExtra.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return !s.empty();
}

std::string percent_encode_all(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[u >> 4];
    out += kHex[u & 15];
  }
  return out;
}

// url_decode() on one path segment, as the /health/ route uses it.
void check_decode(std::string_view segment) {
  std::string decoded;
  if (!url_decode(segment, decoded)) {
    FUZZ_CHECK(segment.find('%') != std::string_view::npos);
    return;
  }
  FUZZ_CHECK(decoded.size() <= segment.size());
  if (segment.find('%') == std::string_view::npos) {
    FUZZ_CHECK(decoded == segment);
  }
  std::string again;
  FUZZ_CHECK(url_decode(percent_encode_all(decoded), again) && again == decoded);
}

void check_head(const ParseResult& r, std::string_view input, std::size_t max_head) {
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= input.size() && r.consumed <= max_head);
  FUZZ_CHECK(input[r.consumed - 1] == '\n');
  const auto& h = r.head;
  FUZZ_CHECK(is_token(h.method));
  FUZZ_CHECK(!h.path.empty() && h.path[0] == '/');
  FUZZ_CHECK(mailcanary::fuzz::printable(h.path));
  FUZZ_CHECK(h.path.find_first_of(" ?#") == std::string::npos);
  FUZZ_CHECK(h.path.size() < r.consumed);
  FUZZ_CHECK(h.minor_version == 0 || h.minor_version == 1);
  if (h.authorization) {
    FUZZ_CHECK(h.authorization->find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
    FUZZ_CHECK(h.authorization->size() < r.consumed);
  }
  // The same head from exactly its bytes, and whatever follows it does not matter.
  FUZZ_CHECK(same(parse_request_head(input.substr(0, r.consumed), max_head), r));

  // The /health/TARGET/MEMBER split (web_server.cpp), and %XX decoding of the path.
  check_decode(h.path);
  constexpr std::string_view kHealth = "/health/";
  if (h.path.rfind(kHealth, 0) == 0) {
    const std::string_view rest = std::string_view(h.path).substr(kHealth.size());
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos) {
      check_decode(rest.substr(0, slash));
      check_decode(rest.substr(slash + 1));
    }
  }
}

void check_response(int code, bool keep_alive, bool http10) {
  ResponseHead head;
  head.code = code;
  head.content_type = "text/plain; charset=utf-8";
  head.keep_alive = keep_alive;
  head.http10 = http10;
  const std::string text = format_response_head(head);
  FUZZ_CHECK(text.find("\r\n\r\n") == text.size() - 4);
  FUZZ_CHECK(text.rfind(http10 ? "HTTP/1.0 " : "HTTP/1.1 ", 0) == 0);
  FUZZ_CHECK(text.substr(9, 4) == std::to_string(code) + " ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t max_head = data[0] < 128 ? Limits{}.max_head : 16 + (data[0] - 128) * 4;
  const auto input = mailcanary::fuzz::as_text(data + 1, size - 1);

  const ParseResult r = parse_request_head(input, max_head);
  switch (r.status) {
    case ParseStatus::incomplete:
      FUZZ_CHECK(input.size() < max_head);
      FUZZ_CHECK(r.consumed == 0 && r.error_code == 0);
      break;
    case ParseStatus::error:
      FUZZ_CHECK(r.error_code == 400 || r.error_code == 414 || r.error_code == 431 ||
                 r.error_code == 505);
      FUZZ_CHECK(reason_phrase(r.error_code) != "Unknown");
      FUZZ_CHECK(r.consumed == 0);
      check_response(r.error_code, false, false);
      break;
    case ParseStatus::complete:
      check_head(r, input, max_head);
      check_response(200, r.head.keep_alive, r.head.minor_version == 0);
      break;
  }

  // Bytes arriving one at a time: every prefix is still waiting, or already says what
  // the whole input says. All prefixes for short inputs; line ends and a stride else.
  const std::size_t stride = input.size() <= 600 ? 1 : input.size() / 300;
  for (std::size_t n = 0; n < input.size(); ++n) {
    if (n % stride != 0 && input[n - 1] != '\n' && input[n - 1] != '\r') {
      continue;
    }
    const ParseResult p = parse_request_head(input.substr(0, n), max_head);
    if (p.status == ParseStatus::incomplete) {
      FUZZ_CHECK(n < max_head);
      continue;
    }
    FUZZ_CHECK(same(p, r));
  }
  return 0;
}
