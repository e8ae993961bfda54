#include <catch2/catch.hpp>

#include "mailcanary/probes/classify.hpp"
#include "mailcanary/probes/smtp_session.hpp"

using namespace mailcanary::probes;
using Clock = std::chrono::steady_clock;

namespace {

// Replays a conversation: lines starting with "C:" are commands, "S:" replies,
// "+" marks the TCP connection coming up.
SmtpSession replay(std::initializer_list<std::string_view> lines) {
  Clock::time_point t{};
  SmtpSession s(t);
  for (auto l : lines) {
    t += std::chrono::milliseconds(1);
    if (l == "+") {
      s.on_connected(t);
    } else if (l.substr(0, 2) == "C:") {
      s.on_command(l.substr(3), t);
    } else {
      s.on_reply_line(l.substr(3), t);
    }
  }
  s.on_finished(t + std::chrono::milliseconds(1));
  return s;
}

}  // namespace

TEST_CASE("reply lines are parsed with code, continuation and text", "[smtp]") {
  auto r = parse_reply_line("250-mx.example.test\r\n");
  REQUIRE(r);
  CHECK(r->code == 250);
  CHECK_FALSE(r->last);
  CHECK(r->text == "mx.example.test");
  r = parse_reply_line("451 4.7.1 Try again later");
  REQUIRE(r);
  CHECK(r->last);
  CHECK(r->text == "4.7.1 Try again later");
  CHECK(parse_reply_line("250")->last);
}

TEST_CASE("lines that are not SMTP replies are rejected", "[smtp]") {
  CHECK_FALSE(parse_reply_line("HTTP/1.1 400 Bad Request"));
  CHECK_FALSE(parse_reply_line("25"));
  CHECK_FALSE(parse_reply_line("250x ok"));
  CHECK_FALSE(parse_reply_line("999 out of range"));
  CHECK_FALSE(parse_reply_line("\xff\xfe\x01"));
}

TEST_CASE("enhanced status codes are taken only when they match the reply class", "[smtp]") {
  CHECK(parse_enhanced_code("4.7.1 Try again later", 451) == "4.7.1");
  CHECK(parse_enhanced_code("5.1.10 Null MX", 550) == "5.1.10");
  CHECK(parse_enhanced_code("2.0.0", 250) == "2.0.0");
  CHECK(parse_enhanced_code("5.7.1 wrong class", 451).empty());
  CHECK(parse_enhanced_code("Ok: queued as 123", 250).empty());
  CHECK(parse_enhanced_code("4.7.1x", 451).empty());
  CHECK(parse_enhanced_code("4.1234.1 too long", 451).empty());
}

TEST_CASE("a 451 at RCPT fails the session at stage rcpt as temp_fail", "[smtp][classify]") {
  auto s = replay({"+", "S: 220 mx ESMTP", "C: EHLO canary", "S: 250-mx", "S: 250 PIPELINING",
                   "C: MAIL FROM:<a@b>", "S: 250 2.1.0 Ok", "C: RCPT TO:<c@d>",
                   "S: 451 4.7.1 Try again later", "C: QUIT", "S: 221 2.0.0 Bye"});
  auto v = classify_smtp(Transport::refused, s, "Failure sending data");
  CHECK(v.cls == ResultClass::temp_fail);
  CHECK(v.stage == Stage::rcpt);
  CHECK(v.smtp_code == 451);
  CHECK(v.enhanced_code == "4.7.1");
  CHECK(v.detail == "451 4.7.1 Try again later");
}

TEST_CASE("a 550 at RCPT is perm_fail even though libcurl reports it like a 451",
          "[smtp][classify]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: MAIL FROM:<a@b>", "S: 250 ok",
                   "C: RCPT TO:<c@d>", "S: 550 5.7.1 Relaying denied", "C: QUIT", "S: 221 bye"});
  auto v = classify_smtp(Transport::refused, s, "");
  CHECK(v.cls == ResultClass::perm_fail);
  CHECK(v.stage == Stage::rcpt);
  CHECK(v.smtp_code == 550);
}

TEST_CASE("each refusing stage is named from the reply", "[smtp][classify]") {
  auto banner = replay({"+", "S: 554 5.3.2 no service", "C: QUIT", "S: 221 bye"});
  CHECK(classify_smtp(Transport::refused, banner, "").stage == Stage::banner);
  CHECK(classify_smtp(Transport::refused, banner, "").cls == ResultClass::perm_fail);

  auto mail = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: MAIL FROM:<a@b>",
                      "S: 452 4.3.1 Insufficient system storage"});
  CHECK(classify_smtp(Transport::refused, mail, "").stage == Stage::mail);
  CHECK(classify_smtp(Transport::refused, mail, "").cls == ResultClass::temp_fail);

  auto data =
      replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: MAIL FROM:<a@b>", "S: 250 ok",
              "C: RCPT TO:<c@d>", "S: 250 ok", "C: DATA", "S: 554 5.5.1 No valid recipients"});
  CHECK(classify_smtp(Transport::refused, data, "").stage == Stage::data);

  auto body = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: MAIL FROM:<a@b>", "S: 250 ok",
                      "C: RCPT TO:<c@d>", "S: 250 ok", "C: DATA", "S: 354 go ahead",
                      "S: 550 5.7.1 Content rejected"});
  auto v = classify_smtp(Transport::refused, body, "");
  CHECK(v.stage == Stage::body);
  CHECK(v.cls == ResultClass::perm_fail);
}

TEST_CASE("an accepted message records the end-of-data reply and its queue id",
          "[smtp][classify]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: MAIL FROM:<a@b>", "S: 250 ok",
                   "C: RCPT TO:<c@d>", "S: 250 ok", "C: DATA", "S: 354 go ahead",
                   "S: 250 2.0.0 Ok: queued as 4ABC12", "C: QUIT", "S: 221 2.0.0 Bye"});
  auto v = classify_smtp(Transport::completed, s, "");
  CHECK(v.accepted);
  CHECK(v.stage == Stage::done);
  CHECK(v.smtp_code == 250);
  REQUIRE(s.body_reply());
  CHECK(s.body_reply()->text == "2.0.0 Ok: queued as 4ABC12");
}

TEST_CASE("EHLO refused then HELO accepted does not count as a failure", "[smtp][classify]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 502 5.5.2 not implemented", "C: HELO c",
                   "S: 250 mx", "C: MAIL FROM:<a@b>", "S: 250 ok"});
  CHECK_FALSE(s.failure_reply());
}

TEST_CASE("a refused connection is unreachable at stage connect", "[classify]") {
  SmtpSession s(Clock::time_point{});
  auto v = classify_smtp(Transport::connect_failed, s, "Couldn't connect to server");
  CHECK(v.cls == ResultClass::unreachable);
  CHECK(v.stage == Stage::connect);
  CHECK(v.detail == "Couldn't connect to server");
}

TEST_CASE("a timeout before the banner is timeout at stage banner", "[classify]") {
  auto s = replay({"+"});
  auto v = classify_smtp(Transport::timeout, s, "Operation timed out");
  CHECK(v.cls == ResultClass::timeout);
  CHECK(v.stage == Stage::banner);
}

TEST_CASE("a timeout while still connecting is unreachable", "[classify]") {
  SmtpSession s(Clock::time_point{});
  CHECK(classify_smtp(Transport::connect_timeout, s, "").cls == ResultClass::unreachable);
  CHECK(classify_smtp(Transport::timeout, s, "").cls == ResultClass::unreachable);
}

TEST_CASE("a banner that is not SMTP is protocol_error with the offending text", "[classify]") {
  auto s = replay({"+", "S: HTTP/1.1 400 Bad Request"});
  auto v = classify_smtp(Transport::timeout, s, "timed out");
  CHECK(v.cls == ResultClass::protocol_error);
  CHECK(v.stage == Stage::banner);
  CHECK(v.detail.find("HTTP/1.1 400") != std::string::npos);
}

TEST_CASE("a connection closed mid-conversation is protocol_error naming the stage", "[classify]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: MAIL FROM:<a@b>"});
  auto v = classify_smtp(Transport::closed, s, "");
  CHECK(v.cls == ResultClass::protocol_error);
  CHECK(v.stage == Stage::mail);
  CHECK(v.detail == "connection closed by the server during mail");
}

TEST_CASE("a 535 at AUTH is auth_error and the credentials never reach the transcript",
          "[classify][secrets]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 AUTH PLAIN LOGIN",
                   "C: AUTH PLAIN AGNhbmFyeQBzM2NyM3Q=", "S: 535 5.7.8 Authentication failed"});
  auto v = classify_smtp(Transport::auth_failed, s, "");
  CHECK(v.cls == ResultClass::auth_error);
  CHECK(v.stage == Stage::auth);
  for (const auto& line : s.transcript()) {
    CHECK(line.find("AGNhbmFyeQBzM2NyM3Q=") == std::string::npos);
  }
  auto login = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 AUTH LOGIN", "C: AUTH LOGIN",
                       "S: 334 VXNlcm5hbWU6", "C: Y2FuYXJ5", "S: 334 UGFzc3dvcmQ6", "C: czNjcjN0",
                       "S: 235 2.7.0 ok", "C: MAIL FROM:<a@b>"});
  for (const auto& line : login.transcript()) {
    CHECK(line.find("Y2FuYXJ5") == std::string::npos);
    CHECK(line.find("czNjcjN0") == std::string::npos);
  }
  CHECK(login.stage() == Stage::mail);
}

TEST_CASE("STARTTLS refused when TLS is required is tls_error at stage starttls", "[classify]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: STARTTLS",
                   "S: 454 4.7.0 TLS not available"});
  auto v = classify_smtp(Transport::tls_failed, s, "");
  CHECK(v.cls == ResultClass::tls_error);
  CHECK(v.stage == Stage::starttls);
}

TEST_CASE("the transcript stays bounded however much the server sends", "[smtp]") {
  SmtpSession s(Clock::time_point{});
  s.on_connected(Clock::time_point{});
  std::string big(100000, 'x');
  for (int i = 0; i < 5000; ++i) {
    s.on_reply_line("250-" + big, Clock::time_point{});
  }
  CHECK(s.transcript().size() <= SmtpSession::kMaxTranscriptLines);
  for (const auto& l : s.transcript()) {
    CHECK(l.size() <= SmtpSession::kMaxLineBytes + 8);
  }
}

TEST_CASE("stage times are recorded in order", "[smtp]") {
  auto s = replay({"+", "S: 220 mx", "C: EHLO c", "S: 250 mx", "C: QUIT", "S: 221 bye"});
  REQUIRE(s.stage_times().size() == 4);
  CHECK(s.stage_times()[0].stage == Stage::connect);
  CHECK(s.stage_times()[1].stage == Stage::banner);
  CHECK(s.stage_times()[2].stage == Stage::ehlo);
  CHECK(s.stage_times()[3].stage == Stage::quit);
  CHECK(s.stage_times()[1].seconds == Approx(0.002));
}

TEST_CASE("delivery classes follow the latency SLO", "[classify]") {
  using std::chrono::seconds;
  CHECK(classify_delivery(Arrival::found, 1.0, seconds(60)).cls == ResultClass::ok);
  CHECK(classify_delivery(Arrival::found, 61.0, seconds(60)).cls == ResultClass::late);
  CHECK(classify_delivery(Arrival::found_in_junk, 1.0, seconds(60)).cls == ResultClass::junked);
  auto lost = classify_delivery(Arrival::not_found, 0, seconds(60));
  CHECK(lost.cls == ResultClass::lost);
  CHECK(lost.stage == Stage::mailbox);
  CHECK(classify_delivery(Arrival::reader_failed, 0, seconds(60)).cls ==
        ResultClass::mailbox_error);
}

TEST_CASE("5xx is never retried, 4xx and unreachable are", "[classify]") {
  CHECK(is_retryable(ResultClass::temp_fail));
  CHECK(is_retryable(ResultClass::unreachable));
  CHECK_FALSE(is_retryable(ResultClass::perm_fail));
  CHECK_FALSE(is_retryable(ResultClass::auth_error));
  CHECK_FALSE(is_retryable(ResultClass::tls_error));
}
