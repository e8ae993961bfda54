#include <catch2/catch.hpp>

#include "mailcanary/probes/evidence.hpp"

using namespace mailcanary::probes;
using namespace std::chrono;

TEST_CASE("RFC 5322 dates are parsed with their zone", "[evidence]") {
  auto t = parse_rfc5322_date("Sun, 29 Nov 2026 02:25:16 +0000 (UTC)");
  REQUIRE(t);
  CHECK(*t == sys_days{2026y / November / 29} + 2h + 25min + 16s);
  CHECK(parse_rfc5322_date("29 Nov 2026 04:25:16 +0200") == t);
  CHECK(parse_rfc5322_date("Sat, 28 Nov 2026 21:25:16 -0500") == t);
  CHECK(parse_rfc5322_date("29 Nov 2026 02:25 GMT") == *t - 16s);
}

TEST_CASE("malformed dates are refused, not guessed", "[evidence]") {
  CHECK_FALSE(parse_rfc5322_date(""));
  CHECK_FALSE(parse_rfc5322_date("yesterday"));
  CHECK_FALSE(parse_rfc5322_date("31 Feb 2026 00:00:00 +0000"));
  CHECK_FALSE(parse_rfc5322_date("29 Foo 2026 00:00:00 +0000"));
  CHECK_FALSE(parse_rfc5322_date("29 Nov 2026 25:00:00 +0000"));
  CHECK_FALSE(parse_rfc5322_date("29 Nov 2026 02:25:16 +02"));
  CHECK_FALSE(parse_rfc5322_date(std::string(100000, '9')));
}

TEST_CASE("hops are ordered oldest first with the delay of each", "[evidence]") {
  std::string h =
      "Received: from relay.example.test (relay.example.test [127.0.0.2])\r\n"
      "\tby mx.example.test (Postfix) with ESMTP id B2; Sun, 29 Nov 2026 02:25:20 +0000\r\n"
      "Received: from canary.example.test (localhost [127.0.0.1])\r\n"
      "\tby relay.example.test (Postfix) with ESMTP id A1; Sun, 29 Nov 2026 02:25:17 +0000\r\n"
      "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=example.test\r\n"
      "Date: Sun, 29 Nov 2026 02:25:16 +0000\r\n"
      "\r\n";
  auto e = parse_evidence(h);
  CHECK(e.received_by == "mx.example.test");
  CHECK(e.authentication_results == "mx.example.test; spf=pass smtp.mailfrom=example.test");
  REQUIRE(e.hops.size() == 2);
  CHECK(e.hops[0].from == "canary.example.test");
  CHECK(e.hops[0].by == "relay.example.test");
  CHECK(e.hops[0].seconds == Approx(1.0));
  CHECK(e.hops[1].by == "mx.example.test");
  CHECK(e.hops[1].seconds == Approx(3.0));
}

TEST_CASE("a Received header without a date gives a hop without a delay", "[evidence]") {
  auto e = parse_evidence("Received: from a by b with local\r\n\r\n");
  REQUIRE(e.hops.size() == 1);
  CHECK(e.hops[0].by == "b");
  CHECK_FALSE(e.hops[0].seconds);
}

TEST_CASE("hostile headers stay bounded", "[evidence]") {
  std::string h;
  for (int i = 0; i < 1000; ++i) {
    h += "Received: from " + std::string(10000, 'x') + " by y; garbage\r\n";
  }
  auto e = parse_evidence(h);
  CHECK(e.hops.size() <= 32);
  for (const auto& hop : e.hops) {
    CHECK(hop.from.size() <= 512);
  }
}
