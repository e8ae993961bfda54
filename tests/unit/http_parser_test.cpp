// The HTTP request-head parser and response heads: pure functions, no sockets.
#include <catch2/catch.hpp>

#include "mailcanary/agent/http/http_parser.hpp"

using namespace mailcanary::agent::http;

namespace {

ParseResult parse(std::string_view s, std::size_t max = 8192) {
  return parse_request_head(s, max);
}

}  // namespace

TEST_CASE("a whole request head parses; bytes after it are left", "[http]") {
  const std::string req =
      "GET /health/vip1/127.0.0.11%3A2525?x=1 HTTP/1.1\r\nHost: a\r\n"
      "Authorization: Basic cHJvbTpzM2NyZXQ=\r\n\r\nGET /next";
  auto r = parse(req);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.head.method == "GET");
  CHECK(r.head.path == "/health/vip1/127.0.0.11%3A2525");
  CHECK(r.head.minor_version == 1);
  CHECK(r.head.keep_alive);
  CHECK(r.head.authorization == std::optional<std::string>("Basic cHJvbTpzM2NyZXQ="));
  CHECK_FALSE(r.head.has_body);
  CHECK(req.substr(r.consumed) == "GET /next");
}

TEST_CASE("every prefix of a request head is incomplete, never an error", "[http]") {
  const std::string req = "HEAD /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  for (std::size_t n = 0; n < req.size(); ++n) {
    INFO(n);
    CHECK(parse(req.substr(0, n)).status == ParseStatus::incomplete);
  }
  auto r = parse(req);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.head.minor_version == 0);
  CHECK(r.head.keep_alive);
  CHECK(r.consumed == req.size());
}

TEST_CASE("keep-alive follows the version and the Connection header", "[http]") {
  CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").head.keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").head.keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nconnection: foo, close\r\n\r\n").head.keep_alive);
  CHECK(parse("GET / HTTP/1.1\r\nConnection: Upgrade\r\n\r\n").head.keep_alive);
  // Bare LF line ends are taken too; empty lines before the request line are skipped.
  auto r = parse("\r\n\nGET /x HTTP/1.1\nHost: a\n\n");
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.head.path == "/x");
}

TEST_CASE("an announced body is seen; a malformed length is an error", "[http]") {
  CHECK(parse("POST /m HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n").head.has_body);
  CHECK(parse("GET /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").head.has_body);
  CHECK_FALSE(parse("GET /m HTTP/1.1\r\nContent-Length: 000\r\n\r\n").head.has_body);
  CHECK(parse("GET /m HTTP/1.1\r\nContent-Length: 1x\r\n\r\n").error_code == 400);
  CHECK(parse("GET /m HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n").error_code ==
        400);
  CHECK(parse("GET /m HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n").error_code == 400);
}

TEST_CASE("malformed request lines and headers are refused with their code", "[http]") {
  using Case = std::pair<std::string, int>;
  auto [text, code] = GENERATE(table<std::string, int>({
      Case{"GET\r\n\r\n", 400},
      Case{"GET /a\r\n\r\n", 400},
      Case{"GET  /a HTTP/1.1\r\n\r\n", 400},
      Case{"GET /a HTTP/1.1 x\r\n\r\n", 400},
      Case{"G(T /a HTTP/1.1\r\n\r\n", 400},
      Case{"GET a HTTP/1.1\r\n\r\n", 400},
      Case{"GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      Case{"GET /a HTTP/2.0\r\n\r\n", 505},
      Case{"GET /a HTTP/1.2\r\n\r\n", 505},
      Case{"GET /a HTTX/1.1\r\n\r\n", 400},
      Case{"GET /a HTTP/1.1\r\nNo colon\r\n\r\n", 400},
      Case{"GET /a HTTP/1.1\r\n folded: x\r\n\r\n", 400},
      Case{"GET /a HTTP/1.1\r\nA: 1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400},
  }));
  INFO(text);
  auto r = parse(text);
  CHECK(r.status == ParseStatus::error);
  CHECK(r.error_code == code);
}

TEST_CASE("a head longer than the limit is an error, not a wait", "[http]") {
  CHECK(parse("GET /" + std::string(100, 'a'), 64).error_code == 414);
  CHECK(parse("GET / HTTP/1.1\r\nX: " + std::string(100, 'a'), 64).error_code == 431);
  CHECK(parse(std::string(100, '\n'), 64).error_code == 400);
  // Exactly at the limit, complete: fine.
  const std::string exact = "GET / HTTP/1.1\r\nX: aaaa\r\n\r\n";
  CHECK(parse(exact, exact.size()).status == ParseStatus::complete);
  CHECK(parse(exact, exact.size() - 1).status == ParseStatus::error);
}

TEST_CASE("an absolute-form target keeps its path", "[http]") {
  CHECK(parse("GET http://h:9478/healthz HTTP/1.1\r\n\r\n").head.path == "/healthz");
  CHECK(parse("GET https://h HTTP/1.1\r\n\r\n").head.path == "/");
}

TEST_CASE("response heads carry length, no-store, and the connection's fate", "[http]") {
  ResponseHead h;
  h.code = 401;
  h.content_type = "text/plain";
  h.content_length = 24;
  h.ask_for_credentials = true;
  h.keep_alive = false;
  CHECK(format_response_head(h) ==
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
        "Cache-Control: no-store\r\nWWW-Authenticate: Basic realm=\"mailcanary\"\r\n"
        "Connection: close\r\n\r\n");
  ResponseHead old;
  old.http10 = true;
  old.content_type = "x";
  old.retry_after_seconds = 1;
  old.code = 503;
  CHECK(format_response_head(old) ==
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: x\r\nContent-Length: 0\r\n"
        "Cache-Control: no-store\r\nRetry-After: 1\r\nConnection: keep-alive\r\n\r\n");
}

TEST_CASE("url_decode decodes %XX and refuses broken escapes", "[http]") {
  std::string out;
  CHECK(url_decode("127.0.0.1%3a2525", out));
  CHECK(out == "127.0.0.1:2525");
  CHECK(url_decode("%2F%41", out));
  CHECK(out == "/A");
  CHECK_FALSE(url_decode("%4", out));
  CHECK_FALSE(url_decode("%zz", out));
}
