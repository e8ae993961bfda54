#include <catch2/catch.hpp>
#include <set>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"

using namespace mailcanary::probes;

TEST_CASE("canary ids are unique and carry their creation time", "[canary]") {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(0x6567a000));
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    ids.insert(new_canary_id(t));
  }
  CHECK(ids.size() == 1000);
  CHECK(ids.begin()->rfind("mc1-6567a000-", 0) == 0);
  CHECK(ids.begin()->size() == std::string("mc1-6567a000-").size() + 32);
}

TEST_CASE("a token verifies under its key only", "[canary]") {
  auto token = canary_token("mc1-1-abc", "key-one");
  CHECK(verify_canary_token(token, "key-one") == std::optional<std::string>("mc1-1-abc"));
  CHECK_FALSE(verify_canary_token(token, "key-two"));
  CHECK(verify_canary_token("  " + token + "\r\n", "key-one"));
}

TEST_CASE("forged and malformed tokens are refused", "[canary]") {
  auto token = canary_token("mc1-1-abc", "k");
  std::string forged = token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK_FALSE(verify_canary_token(forged, "k"));
  CHECK_FALSE(verify_canary_token("mc1-1-abc", "k"));
  CHECK_FALSE(verify_canary_token(" sig=abc", "k"));
  CHECK_FALSE(verify_canary_token("mc1-1-abd sig=" + sign_canary_id("mc1-1-abc", "k"), "k"));
  CHECK_FALSE(verify_canary_token(std::string(1 << 20, 'x'), "k"));
}

TEST_CASE("the canary message is well-formed RFC 5322 with the id in header and subject",
          "[canary]") {
  CanaryMessage m{"mc1-1-abc",
                  "canary@example.test",
                  "rcpt@example.test",
                  "vip1",
                  "127.0.0.11:2525",
                  "",
                  "probe.example.test",
                  std::chrono::system_clock::time_point(std::chrono::seconds(1700000000))};
  auto text = build_canary_message(m, "k");
  for (auto h : {"Date", "From", "To", "Message-ID", "Subject", "MIME-Version"}) {
    CHECK(header_values(text, h).size() == 1);
  }
  CHECK(header_values(text, "Date")[0] == "Tue, 14 Nov 2023 22:13:20 +0000");
  CHECK(header_values(text, "Subject")[0] == "mailcanary mc1-1-abc");
  CHECK(header_values(text, "Message-ID")[0] == "<mc1-1-abc@probe.example.test>");
  CHECK(verify_canary_token(header_values(text, "x-mailcanary-id")[0], "k") ==
        std::optional<std::string>("mc1-1-abc"));
  // Every line ends in CRLF, and the body is separated from the header.
  CHECK(text.find("\r\n\r\n") != std::string::npos);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      REQUIRE(i > 0);
      CHECK(text[i - 1] == '\r');
    }
  }
}

TEST_CASE("header values are unfolded and matched case-insensitively", "[canary]") {
  std::string h =
      "Received: from a\r\n\tby b\r\n  with ESMTP\r\nreceived: from c by d\r\n"
      "X-Other: y\r\n\r\nReceived: in the body\r\n";
  auto r = header_values(h, "Received");
  REQUIRE(r.size() == 2);
  CHECK(r[0] == "from a by b with ESMTP");
  CHECK(r[1] == "from c by d");
  CHECK(header_values(h, "Received", 1).size() == 1);
  CHECK(header_values(h, "Missing").empty());
}

TEST_CASE("a canary id tells when it was made; other strings do not", "[canary]") {
  using namespace std::chrono;
  const auto t = system_clock::time_point(seconds(1796000000));
  const std::string id = mailcanary::probes::new_canary_id(t + milliseconds(700));
  CHECK(mailcanary::probes::canary_id_time(id) == t);
  CHECK_FALSE(mailcanary::probes::canary_id_time("mc2-6b0c5c00-00"));
  CHECK_FALSE(mailcanary::probes::canary_id_time("mc1--00"));
  CHECK_FALSE(mailcanary::probes::canary_id_time("mc1-6B0C5C00-00"));  // not ours: upper case
  CHECK_FALSE(mailcanary::probes::canary_id_time("mc1-6b0c5c00"));
  CHECK_FALSE(mailcanary::probes::canary_id_time("mc1-1234567890abc-00"));  // too many digits
}
