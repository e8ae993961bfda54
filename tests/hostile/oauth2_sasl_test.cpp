// The readers' OAuth2 logins against scripted servers, for what the test bed's Dovecot
// never does: an IMAP server without SASL-IR (the response goes after its "+"), error
// challenges that must be answered (XOAUTH2: an empty line; OAUTHBEARER: ^A) or the
// login hangs, and servers that answer the exchange with endless continuations or
// untagged lines. Each ends in the right result within a bounded time.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "mailcanary/probes/mailbox.hpp"
#include "mailcanary/probes/oauth2.hpp"
#include "protocols.hpp"
#include "reader_support.hpp"

namespace {

using namespace hostile;
using mailcanary::config::AuthMethod;
using mailcanary::config::MailboxProtocol;
using mailcanary::probes::MailboxError;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kToken = "at-scripted-7f3a";

std::unique_ptr<mailcanary::probes::MailboxReader> oauth_reader(std::uint16_t port,
                                                                MailboxProtocol protocol,
                                                                AuthMethod method) {
  auto cfg = reader_config(port, protocol);
  cfg.password.clear();
  cfg.password_file.clear();
  cfg.auth = method;
  cfg.oauth2 = "idp";
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kReaderKey);
  reader->set_login_token({kToken, ""});
  return reader;
}

std::string response(AuthMethod method) {
  return mailcanary::probes::sasl_initial_response(method, "canary", kToken);
}

// The scan's error ("" if none) and how long it took.
std::pair<std::string, bool> scan(mailcanary::probes::MailboxReader& reader, double* seconds) {
  const auto t0 = steady_clock::now();
  std::string what;
  bool token_refused = false;
  try {
    reader.scan({"mc1-0-none"});
  } catch (const MailboxError& e) {
    what = e.what();
    token_refused = e.token_refused();
  }
  *seconds = std::chrono::duration<double>(steady_clock::now() - t0).count();
  return {what, token_refused};
}

}  // namespace

TEST_CASE("IMAP without SASL-IR: the response follows the server's +", "[hostile][oauth2]") {
  std::string tag;
  auto server = imap_server([&](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "AUTHENTICATE") {
      tag = c.tag;
      return conn.send("+ \r\n") ? Reply::done : Reply::close;
    }
    if (!tag.empty() && line == response(AuthMethod::xoauth2)) {
      const bool ok = conn.send(tag + " OK logged in\r\n");
      tag.clear();
      return ok ? Reply::done : Reply::close;
    }
    return Reply::fallback;
  });
  auto reader = oauth_reader(server.port(), MailboxProtocol::imap, AuthMethod::xoauth2);
  double seconds = 0;
  const auto [error, refused] = scan(*reader, &seconds);
  INFO(error);
  CHECK(error.empty());
  const auto lines = server.lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines[0] == "mc1 AUTHENTICATE XOAUTH2");  // nothing on the command line
  CHECK(lines[1] == response(AuthMethod::xoauth2));
  // After the login the reader asked what the server offers now, then selected.
  CHECK(lines[2].find("CAPABILITY") != std::string::npos);
}

TEST_CASE("an error challenge is answered, so a refusal comes at once", "[hostile][oauth2]") {
  for (auto method : {AuthMethod::xoauth2, AuthMethod::oauthbearer}) {
    INFO(mailcanary::probes::sasl_mechanism(method));
    // The server offers SASL-IR, refuses the token with a JSON challenge and waits for
    // the client's answer before its NO: XOAUTH2 an empty line, OAUTHBEARER "AQ==".
    const std::string expected = method == AuthMethod::oauthbearer ? "AQ==" : "";
    std::string tag;
    std::string answered = "(nothing)";
    auto server = ScriptedServer(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] ready",
        [&](Conn& conn, const std::string& line) {
          ImapCommand c = parse_imap(line);
          if (c.verb == "AUTHENTICATE") {
            tag = c.tag;
            return conn.send("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n") ? Reply::done : Reply::close;
          }
          if (!tag.empty()) {
            answered = line;
            return conn.send(tag + " NO [AUTHENTICATIONFAILED] token refused\r\n") ? Reply::done
                                                                                   : Reply::close;
          }
          return Reply::fallback;
        },
        imap_fallback);
    auto reader = oauth_reader(server.port(), MailboxProtocol::imap, method);
    double seconds = 0;
    const auto [error, refused] = scan(*reader, &seconds);
    INFO(error);
    CHECK(answered == expected);
    CHECK(refused);
    CHECK(error.find("refused; the server said: NO [AUTHENTICATIONFAILED] token refused") !=
          std::string::npos);
    CHECK(error.find(kToken) == std::string::npos);
    CHECK(seconds < 2);  // not the 10 s I/O timeout of a hung exchange
  }
}

TEST_CASE("POP3 AUTH: the response after +, an error challenge answered", "[hostile][oauth2]") {
  bool authed = false;
  auto good = pop3_server([&](Conn& conn, const std::string& line) {
    if (line == "AUTH OAUTHBEARER") {
      return conn.send("+ \r\n") ? Reply::done : Reply::close;
    }
    if (line == response(AuthMethod::oauthbearer)) {
      authed = true;
      return conn.send("+OK logged in\r\n") ? Reply::done : Reply::close;
    }
    return Reply::fallback;
  });
  auto reader = oauth_reader(good.port(), MailboxProtocol::pop3, AuthMethod::oauthbearer);
  double seconds = 0;
  auto [error, refused] = scan(*reader, &seconds);
  INFO(error);
  CHECK(error.empty());
  CHECK(authed);
  CHECK(good.lines().at(0) == "AUTH OAUTHBEARER");

  std::string answered = "(nothing)";
  int step = 0;
  auto bad = pop3_server([&](Conn& conn, const std::string& line) {
    if (line == "AUTH XOAUTH2") {
      step = 1;
      return conn.send("+ \r\n") ? Reply::done : Reply::close;  // ask for the response
    }
    if (step == 1) {  // the response: refused with an error challenge
      step = 2;
      return conn.send("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n") ? Reply::done : Reply::close;
    }
    if (step == 2) {
      step = 3;
      answered = line;
      return conn.send("-ERR [AUTH] token refused\r\n") ? Reply::done : Reply::close;
    }
    return Reply::fallback;
  });
  reader = oauth_reader(bad.port(), MailboxProtocol::pop3, AuthMethod::xoauth2);
  std::tie(error, refused) = scan(*reader, &seconds);
  INFO(error);
  CHECK(answered.empty());  // XOAUTH2's answer to an error challenge: an empty line
  CHECK(refused);
  CHECK(error.find("refused; the server said: -ERR [AUTH] token refused") != std::string::npos);
  CHECK(seconds < 2);
}

TEST_CASE("a server that answers the login with endless continuations or untagged lines",
          "[hostile][oauth2]") {
  bool authenticating = false;
  auto pluses = imap_server([&](Conn& conn, const std::string& line) {
    authenticating = authenticating || parse_imap(line).verb == "AUTHENTICATE";
    if (authenticating) {  // whatever the client says
      return conn.send("+ again\r\n") ? Reply::done : Reply::close;
    }
    return Reply::fallback;
  });
  auto reader = oauth_reader(pluses.port(), MailboxProtocol::imap, AuthMethod::xoauth2);
  double seconds = 0;
  auto [error, refused] = scan(*reader, &seconds);
  INFO(error);
  CHECK(error.find("login as canary with XOAUTH2 failed: unexpected answer: + again") !=
        std::string::npos);
  CHECK_FALSE(refused);  // not the token's fault: the next scan tries the same one
  CHECK(seconds < 2);

  auto chatter = imap_server([](Conn& conn, const std::string& line) {
    if (parse_imap(line).verb == "AUTHENTICATE") {
      std::string flood;
      for (int i = 0; i < 200; ++i) {
        flood += "* OK still thinking\r\n";
      }
      return conn.send(flood) ? Reply::done : Reply::close;
    }
    return Reply::fallback;
  });
  reader = oauth_reader(chatter.port(), MailboxProtocol::imap, AuthMethod::xoauth2);
  std::tie(error, refused) = scan(*reader, &seconds);
  INFO(error);
  CHECK(error.find("failed: unexpected answer: too many untagged lines") != std::string::npos);
  CHECK(seconds < 2);
}

TEST_CASE("without a token the reader does not connect to log in", "[hostile][oauth2]") {
  auto server = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  auto cfg = reader_config(server.port());
  cfg.password.clear();
  cfg.auth = AuthMethod::oauthbearer;
  cfg.oauth2 = "idp";
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kReaderKey);
  reader->set_login_token(
      {"", "oauth2 idp: token endpoint http://x/token refused: invalid_client"});
  double seconds = 0;
  const auto [error, refused] = scan(*reader, &seconds);
  CHECK(error.find("cannot log in as canary with OAUTHBEARER: oauth2 idp: token endpoint") !=
        std::string::npos);
  CHECK_FALSE(refused);
  for (const auto& line : server.lines()) {
    CHECK(line.find("AUTHENTICATE") == std::string::npos);
  }
}
