#include <catch2/catch.hpp>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/dsn.hpp"

using namespace mailcanary::probes;

namespace {

std::string postfix_bounce(const std::string& canary_header, const std::string& action) {
  return "From: MAILER-DAEMON@mx.example.test (Mail Delivery System)\r\n"
         "Subject: Undelivered Mail Returned to Sender\r\n"
         "Content-Type: multipart/report; report-type=delivery-status;\r\n"
         "\tboundary=\"B1\"\r\n"
         "\r\n"
         "--B1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
         "--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
         "Reporting-MTA: dns; mx.example.test\r\n\r\n"
         "Final-Recipient: rfc822; nosuchuser@example.test\r\n"
         "Action: " +
         action +
         "\r\n"
         "Status: 5.1.1\r\n"
         "Diagnostic-Code: X-Postfix; unknown user:\r\n"
         "    \"nosuchuser@example.test\"\r\n\r\n"
         "--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
         "Subject: mailcanary mc1-1-abc\r\n" +
         canary_header +
         "\r\n"
         "--B1--\r\n";
}

}  // namespace

TEST_CASE("a Postfix bounce for a signed canary is recognised with status and diagnostic",
          "[dsn]") {
  auto text = postfix_bounce("X-Mailcanary-Id: " + canary_token("mc1-1-abc", "k"), "failed");
  auto d = parse_dsn(text, "k");
  REQUIRE(d);
  CHECK(d->canary_id == "mc1-1-abc");
  CHECK(d->status == "5.1.1");
  CHECK(d->action == "failed");
  CHECK(d->diagnostic == "X-Postfix; unknown user: \"nosuchuser@example.test\"");
  CHECK(d->summary() == "5.1.1 failed: X-Postfix; unknown user: \"nosuchuser@example.test\"");
}

TEST_CASE("delay warnings, forged canaries and plain mail are not bounces", "[dsn]") {
  auto token = canary_token("mc1-1-abc", "k");
  CHECK_FALSE(parse_dsn(postfix_bounce("X-Mailcanary-Id: " + token, "delayed"), "k"));
  CHECK_FALSE(parse_dsn(postfix_bounce("X-Mailcanary-Id: " + token, "failed"), "other-key"));
  CHECK_FALSE(parse_dsn(postfix_bounce("X-Other: 1", "failed"), "k"));
  CHECK_FALSE(parse_dsn("Subject: hello\r\n\r\nX-Mailcanary-Id: nonsense\r\n", "k"));
  CHECK_FALSE(parse_dsn("", "k"));
}

TEST_CASE("a huge hostile DSN is parsed in bounded memory", "[dsn]") {
  std::string text = "Status: 5.0.0\r\nDiagnostic-Code: " + std::string(1 << 20, 'x') +
                     "\r\nX-Mailcanary-Id: " + canary_token("mc1-2-def", "k") + "\r\n";
  auto d = parse_dsn(text, "k");
  REQUIRE(d);
  CHECK(d->diagnostic.size() <= 300);
  CHECK(d->action == "failed");
}
