// Inputs the fuzzers (fuzz/) found, each reduced to the behaviour it broke.
#include <catch2/catch.hpp>

#include <string>

#include "mailcanary/agent/http/basic_auth.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/evidence.hpp"
#include "mailcanary/probes/smtp_session.hpp"

using namespace mailcanary;

TEST_CASE("an endpoint with a NUL byte is invalid, not validated up to the NUL", "[fuzz]") {
  // fuzz_config_values: "::" NUL "junk" passed as an IPv6 address (inet_pton saw "::"),
  // and the junk stayed in the host. TOML can write the byte as "\u0000".
  using namespace std::string_literals;
  for (const std::string& text :
       {"::\0junk"s, "[::1\0junk]:25"s, "127.0.0.1\0junk:25"s, "mx.example.test\0:25"s, "::1\0"s}) {
    CAPTURE(text);
    CHECK_FALSE(config::parse_endpoint(text, 25).has_value());
  }
}

TEST_CASE("a duration with too many digits is invalid without overflowing", "[fuzz]") {
  // fuzz_config_values: 19 and more digits overflowed int64 while being read, before the
  // length check refused them (undefined behaviour; fails under UBSan before the fix).
  CHECK_FALSE(config::parse_duration(std::string(30, '4') + "s").has_value());
  CHECK_FALSE(config::parse_duration("1h" + std::string(20, '9') + "ms").has_value());
  CHECK(config::parse_duration(std::string(12, '9') + "ms") ==
        std::chrono::milliseconds(999'999'999'999));
}

TEST_CASE("a mail date beyond what system_clock holds is refused, not wrapped", "[fuzz]") {
  // fuzz_headers: a Received date in year 8027 overflowed the nanosecond count (UB);
  // year 100000 even wrapped to a negative year that looked valid.
  using probes::parse_rfc5322_date;
  CHECK_FALSE(parse_rfc5322_date("Sat, 05 Dec 8027 07:41:02 +0000"));
  CHECK_FALSE(parse_rfc5322_date("05 Dec 100000 07:41:02 +0000"));
  CHECK_FALSE(parse_rfc5322_date("05 Dec 1000 07:41:02 +0000"));
  CHECK(parse_rfc5322_date("05 Dec 2199 07:41:02 +0000").has_value());
  CHECK(parse_rfc5322_date("05 Dec 75 07:41:02 +0000").has_value());  // 1975
}

TEST_CASE("a multi-line reply's text stays bounded whatever its line lengths", "[fuzz]") {
  // fuzz_smtp_reply: a first line of 299 bytes plus " / " left a negative room, so the
  // next line went in whole (any length) instead of being cut at kMaxReplyTextBytes.
  using probes::SmtpSession;
  SmtpSession session(SmtpSession::Clock::time_point{});
  const auto t = SmtpSession::Clock::time_point{};
  session.on_connected(t);
  session.on_reply_line("220-" + std::string(299, 'a'), t);
  session.on_reply_line("220 " + std::string(5000, 'b'), t);
  REQUIRE(session.last_reply().has_value());
  CHECK(session.last_reply()->text.size() <= SmtpSession::kMaxReplyTextBytes + 3);
  CHECK(session.last_reply()->text.substr(0, 299) == std::string(299, 'a'));
}

TEST_CASE("basic auth refuses credentials with a NUL byte", "[fuzz]") {
  // fuzz_htpasswd: "prom:s3cret" NUL "junk" passed, crypt(3) reading the password only
  // up to the NUL. (Hash: htpasswd -Bb users prom s3cret, test data only.)
  const std::string hash = "$2y$05$1Pai7Kfofi5xOnZvZxIPGO.RsfdjlVC9cyJ5iMIrU8gfaQJVjghru";
  agent::BasicAuth auth(std::vector<config::WebUser>{{"prom", hash}});
  CHECK(auth.allows("Basic cHJvbTpzM2NyZXQ="));                // prom:s3cret
  CHECK_FALSE(auth.allows("Basic cHJvbTpzM2NyZXQAanVuaw=="));  // prom:s3cret NUL junk
  CHECK_FALSE(auth.allows("Basic cHJvbQA6czNjcmV0"));          // prom NUL :s3cret
}
