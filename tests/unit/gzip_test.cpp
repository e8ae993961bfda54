// gzip of response bodies: which Accept-Encoding asks for it, the response headers, and
// a body that zlib inflates back to the original.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <string>

#include "mailcanary/agent/http/gzip.hpp"
#include "mailcanary/agent/http/http_parser.hpp"

using namespace mailcanary::agent::http;

namespace {

bool asks_for_gzip(const std::string& accept_encoding) {
  auto r = parse_request_head(
      "GET /metrics HTTP/1.1\r\nAccept-Encoding: " + accept_encoding + "\r\n\r\n", 8192);
  REQUIRE(r.status == ParseStatus::complete);
  return r.head.accepts_gzip;
}

std::string gunzip(const std::string& packed) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out(1 << 20, '\0');
  std::string all;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  z.avail_in = static_cast<uInt>(packed.size());
  int rc = Z_OK;
  for (int i = 0; i < 1000 && rc == Z_OK; ++i) {  // bounded: 1 GiB at most
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&z, Z_NO_FLUSH);
    all.append(out.data(), out.size() - z.avail_out);
  }
  inflateEnd(&z);
  REQUIRE(rc == Z_STREAM_END);
  return all;
}

}  // namespace

TEST_CASE("Accept-Encoding asks for gzip by name or *, unless its quality is 0", "[gzip]") {
  CHECK(asks_for_gzip("gzip"));
  CHECK(asks_for_gzip("GZIP"));
  CHECK(asks_for_gzip("br, gzip;q=0.5"));
  CHECK(asks_for_gzip("deflate, *"));
  CHECK(asks_for_gzip("gzip, deflate"));  // Prometheus sends this
  CHECK_FALSE(asks_for_gzip("gzip;q=0"));
  CHECK_FALSE(asks_for_gzip("gzip; q=0.000"));
  CHECK_FALSE(asks_for_gzip("identity"));
  CHECK_FALSE(asks_for_gzip("br, deflate"));
  CHECK_FALSE(asks_for_gzip("xgzip"));
  auto none = parse_request_head("GET / HTTP/1.1\r\n\r\n", 8192);
  CHECK_FALSE(none.head.accepts_gzip);
}

TEST_CASE("a gzip answer says so and varies by Accept-Encoding", "[gzip]") {
  ResponseHead h;
  h.content_type = "text/plain";
  h.content_length = 10;
  h.content_encoding = "gzip";
  h.vary_accept_encoding = true;
  const std::string text = format_response_head(h);
  CHECK(text.find("\r\nContent-Encoding: gzip\r\n") != std::string::npos);
  CHECK(text.find("\r\nVary: Accept-Encoding\r\n") != std::string::npos);
  ResponseHead plain;
  plain.content_type = "text/plain";
  CHECK(format_response_head(plain).find("Content-Encoding") == std::string::npos);
}

TEST_CASE("gzip() inflates back to the body, much smaller for metrics text", "[gzip]") {
  std::string metrics;
  for (int i = 0; i < 20000; ++i) {
    metrics += "mailcanary_probes_total{class=\"ok\",member=\"10.0.0." + std::to_string(i % 250) +
               ":25\",target=\"vip" + std::to_string(i / 250) + "\"} " + std::to_string(i * 7) +
               "\n";
  }
  auto packed = gzip(metrics);
  REQUIRE(packed);
  CHECK(packed->size() * 5 < metrics.size());
  CHECK(static_cast<unsigned char>((*packed)[0]) == 0x1f);  // the gzip magic
  CHECK(static_cast<unsigned char>((*packed)[1]) == 0x8b);
  CHECK(gunzip(*packed) == metrics);
  auto empty = gzip("");
  REQUIRE(empty);
  CHECK(gunzip(*empty).empty());
}
