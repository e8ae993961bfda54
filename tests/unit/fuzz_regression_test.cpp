// Inputs the fuzzers (fuzz/) found, each reduced to the behaviour it broke.
#include <catch2/catch.hpp>

#include <string>

#include "../../probes/src/mailbox_tls_guard.hpp"
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

namespace {

probes::ResponseGuard imap_guard() {
  probes::ResponseGuard::Limits limits;
  limits.imap = probes::ImapShape::Limits{};
  return probes::ResponseGuard(limits, probes::ResponseGuard::TimePoint{});
}

probes::ResponseGuard pop3_guard() {
  probes::ResponseGuard::Limits limits;
  limits.max_lines = 5000;
  limits.pop3 = probes::Pop3Shape::Limits{};
  return probes::ResponseGuard(limits, probes::ResponseGuard::TimePoint{});
}

}  // namespace

TEST_CASE("an IMAP greeting libetpan mishandles is refused before libetpan parses it", "[fuzz]") {
  // fuzz_imap_answer: the greeting "* OK [PERMANENTFLAGS ()] hi" crashed the reader inside
  // libetpan 1.9.4 (mailimap_string_parse with a null parser context; BADCHARSET too),
  // and a "* BYE ..." greeting leaked libetpan's parse of it on every connection attempt.
  const probes::ResponseGuard::TimePoint t0{};
  auto bye = imap_guard();
  CHECK(bye.received("* BYE [UNAVAILABLE] Too many connections\r\n") ==
        "the server refused the session: [UNAVAILABLE] Too many connections");
  auto flags = imap_guard();
  CHECK(flags.received("* OK [PERMANENT") == "");  // refused once the line is whole
  CHECK(flags.received("FLAGS ()] hi\r\n") ==
        "a greeting with a PERMANENTFLAGS code (libetpan cannot parse it)");
  auto charset = imap_guard();
  CHECK(charset.received("* ok [badcharset (x)] hi\r\n") ==
        "a greeting with a BADCHARSET code (libetpan cannot parse it)");
  // What real servers send passes, and so do both codes in answers to commands.
  auto dovecot = imap_guard();
  CHECK(dovecot.received("* OK [CAPABILITY IMAP4rev1 IDLE] Dovecot ready.\r\n") == "");
  dovecot.command_sent(t0, "1 SELECT INBOX\r\n");
  CHECK(dovecot.received("* OK [PERMANENTFLAGS (\\Seen \\*)] ok\r\n1 OK done\r\n") == "");
  dovecot.command_sent(t0, "2 LOGOUT\r\n");
  CHECK(dovecot.received("* BYE Logging out\r\n2 OK Logout completed.\r\n") == "");
}

TEST_CASE("a POP3 listing is numbered 1, 2, 3, ... and nothing comes unasked", "[fuzz]") {
  // fuzz_pop3_answer: a LIST line "0 100" (or one that strtol reads as 0) made libetpan
  // 1.9.4 write before its message array (read_list: carray_set(tab, index - 1)); "3 1"
  // first left uninitialised pointers the reader then read; a repeated number leaked.
  const probes::ResponseGuard::TimePoint t0{};
  const auto listing_of = [&](const std::string& command, const std::string& answer) {
    auto g = pop3_guard();
    REQUIRE(g.received("+OK ready\r\n") == "");
    g.command_sent(t0, command);
    return g.received(answer);
  };
  CHECK(listing_of("LIST\r\n", "+OK 2 messages\r\n1 100\r\n2 200\r\n.\r\n") == "");
  CHECK(listing_of("UIDL\r\n", "+OK\r\n1 a\r\n2 b\r\n.\r\n") == "");
  CHECK(listing_of("LIST\r\n", "-ERR not now\r\n") == "");
  const auto order = [](int n, int after) {
    return "the LIST listing names message " + std::to_string(n) + " after " +
           std::to_string(after) + " (expected " + std::to_string(after + 1) +
           ": messages are listed 1, 2, 3, ... in order)";
  };
  CHECK(listing_of("LIST\r\n", "+OK\r\n0 100\r\n") ==
        "the LIST listing names message \"0\" (expected 1 to 5000)");
  CHECK(listing_of("UIDL\r\n", "+OK\r\n 1 a\r\n") ==
        "the UIDL listing names message \"\" (expected 1 to 5000)");
  CHECK(listing_of("LIST\r\n", "+OK\r\n-1 100\r\n") ==
        "the LIST listing names message \"-1\" (expected 1 to 5000)");
  CHECK(listing_of("LIST\r\n", "+OK\r\n1 1\r\n3 1\r\n") == order(3, 1));
  CHECK(listing_of("UIDL\r\n", "+OK\r\n1 a\r\n1 b\r\n").find("message 1 after 1") !=
        std::string::npos);
  // A message's lines are not a listing: "0 ..." and dot-stuffed lines pass in TOP.
  CHECK(listing_of("TOP 1 0\r\n", "+OK\r\n0 x\r\n..y\r\n\r\n.\r\n") == "");
  // Bytes after an answer, before the next command: a server running ahead is refused.
  const std::string ahead = "the server sent data after the end of its answer";
  CHECK(listing_of("USER canary\r\n", "+OK\r\n+OK\r\n") == ahead);
  CHECK(listing_of("LIST\r\n", "+OK\r\n1 1\r\n.\r\n1 a\r\n") == ahead);
  auto early = pop3_guard();
  CHECK(early.received("+OK ready\r\n+OK\r\n") == ahead);
}

TEST_CASE("a NUL byte outside an IMAP literal is refused", "[fuzz]") {
  // fuzz_imap_answer: "* OK [PERMANENTFLAGS (\\" NUL ")] x" in a SELECT answer crashed
  // libetpan 1.9.4 (clist_foreach on a null list while freeing its failed parse).
  using namespace std::string_literals;
  auto g = imap_guard();
  REQUIRE(g.received("* OK ready\r\n") == "");
  g.command_sent({}, "1 SELECT INBOX\r\n");
  CHECK(g.received("* OK [PERMANENTFLAGS (\\\0)] x\r\n"s) == "a NUL byte in a response line");
  auto literal = imap_guard();
  REQUIRE(literal.received("* OK ready\r\n") == "");
  literal.command_sent({}, "1 UID FETCH 7 (BODY.PEEK[])\r\n");
  CHECK(literal.received("* 1 FETCH (UID 7 BODY[] {3}\r\na\0b)\r\n1 OK done\r\n"s) == "");
}

TEST_CASE("a PERMANENTFLAGS code must be a plain flag list", "[fuzz]") {
  // fuzz_imap_answer (hour run): "* OK [PERMANENTFLAGS ((\\Answered ...)" in a SELECT
  // answer crashed libetpan 1.9.4 (clist_foreach on a null list, freeing the failed parse),
  // as the NUL above did: any PERMANENTFLAGS code it cannot parse is refused.
  const std::string refused =
      "a PERMANENTFLAGS code that is not a plain flag list (libetpan cannot parse it)";
  const auto answer = [](const std::string& line) {
    auto g = imap_guard();
    REQUIRE(g.received("* OK ready\r\n") == "");
    g.command_sent({}, "2 SELECT INBOX\r\n");
    return g.received(line);
  };
  CHECK(answer("* OK [PERMANENTFLAGS ((\\Answered \\Flagged)] x\r\n") == refused);
  CHECK(answer("* OK [PERMANENTFLAGS (\\Answered] x\r\n") == refused);
  CHECK(answer("* OK [PERMANENTFLAGS] x\r\n") == refused);
  CHECK(answer("* OK [PERMANENTFLAGS (\\Seen )] x\r\n") == refused);
  CHECK(answer("* OK [PERMANENTFLAGS (\"x\")] x\r\n") == refused);
  CHECK(answer("2 OK [permanentflags (a b] done\r\n") == refused);
  // As Dovecot, Cyrus and others send it, split anywhere; other codes are not looked at.
  CHECK(answer("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded "
               "\\*)] Flags permitted.\r\n") == "");
  CHECK(answer("* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n") == "");
  auto split = imap_guard();
  REQUIRE(split.received("* OK ready\r\n") == "");
  split.command_sent({}, "2 SELECT INBOX\r\n");
  CHECK(split.received("* OK [PERMANENT") == "");
  CHECK(split.received("FLAGS (\\Seen \\*)] ok\r\n2 OK [READ-WRITE] done\r\n") == "");
  CHECK(answer("* OK [PERMANENTFLAGSX (((] x\r\n") == "");
  CHECK(answer("* 1 FETCH (ENVELOPE (\"[PERMANENTFLAGS ((\" NIL))\r\n") == "");
}
