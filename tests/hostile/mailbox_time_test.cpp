// `mailcanary probe` against mailbox servers that cost time rather than memory: an
// answer dripped a byte at a time, which the I/O timeout never ends (each byte comes in
// time), and STARTTLS answered "OK Begin TLS" by a server that then never speaks TLS.
// Each must end in a mailbox_error naming what was wrong, at the limit meant for it, and
// no password may leave in clear.
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <string>

#include "mailbox_probe.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "reader_support.hpp"

using namespace hostile;
using namespace std::chrono_literals;

namespace {

// An IMAP server that offers STARTTLS and answers it "OK Begin TLS", then runs `then`
// where the TLS handshake should be.
ScriptedServer imap_false_starttls(std::function<void(Conn&)> then) {
  return imap_server([then](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "CAPABILITY") {
      return conn.send("* CAPABILITY IMAP4rev1 STARTTLS IDLE\r\n" + c.tag + " OK done\r\n")
                 ? Reply::done
                 : Reply::close;
    }
    if (c.verb == "STARTTLS") {
      conn.send(c.tag + " OK Begin TLS negotiation now\r\n");
      then(conn);
      return Reply::close;
    }
    return Reply::fallback;
  });
}

// The server was asked for STARTTLS and never saw a login or the password.
void check_no_credentials_sent(const ScriptedServer& server) {
  bool starttls = false;
  for (const auto& l : server.lines()) {
    const std::string verb = parse_imap(l).verb;
    starttls = starttls || verb == "STARTTLS";
    CHECK(verb != "LOGIN");
    CHECK(verb != "AUTHENTICATE");
    CHECK(l.find("not-a-real-secret") == std::string::npos);
  }
  CHECK(starttls);
}

}  // namespace

TEST_CASE("IMAP and POP3: an answer dripped a byte every 200 ms ends at the answer-time limit",
          "[hostile][imap][pop3][drip]") {
  // poll_interval 100 ms: an I/O timeout of 10 s, which a byte every 200 ms never trips,
  // and an answer-time limit of 20 s (max(20 s, 2 x the I/O timeout)). Both drips last
  // 2,000 s unless cut; the POP3 one runs in this process while the probe runs, so the
  // two 20 s waits overlap.
  auto imap = imap_at("UID SEARCH", [](Conn& conn, const ImapCommand&) {
    conn.drip("* SEARCH" + repeat(" 1", 5000), 200ms);
    return Reply::close;
  });
  auto pop3 = pop3_server([](Conn& conn, const std::string& line) {
    if (line == "LIST") {
      conn.drip("+OK " + std::string(10000, 'x'), 200ms);
      return Reply::close;
    }
    return Reply::fallback;
  });
  auto pop3_outcome = std::async(std::launch::async, [&pop3] {
    return timed_scan(reader_config(pop3.port(), mailcanary::config::MailboxProtocol::pop3));
  });
  probe_mailbox("imap drip, a byte every 200 ms", imap, "imap",
                {"UID SEARCH failed: no complete answer within 20 s", 27, 20});
  const ScanOutcome p = pop3_outcome.get();
  INFO(p.error);
  CHECK(p.error == "pop3 127.0.0.1:" + std::to_string(pop3.port()) +
                       ": LIST failed: no complete answer within 20 s");
  CHECK(p.seconds >= 20);
  CHECK(p.seconds < 27);
}

TEST_CASE("IMAP: STARTTLS answered, then silence: a TLS error at the I/O timeout, no login",
          "[hostile][imap][tls]") {
  auto imap = imap_false_starttls([](Conn& conn) { conn.hold(); });
  // The I/O timeout (10 s) bounds the handshake; the probe connects twice (ahead of the
  // send, then to scan), like "imap silent after LOGIN".
  probe_mailbox("imap STARTTLS, then silence", imap, "imap",
                {"TLS handshake after STARTTLS failed", 24, 10}, "tls = \"starttls\"\n");
  check_no_credentials_sent(imap);
}

TEST_CASE("IMAP: STARTTLS answered, then plaintext instead of a ServerHello: a TLS error",
          "[hostile][imap][tls]") {
  auto imap = imap_false_starttls([](Conn& conn) {
    if (conn.await_bytes()) {  // the ClientHello
      conn.send("* OK still plaintext here\r\n* BYE not TLS at all\r\n");
    }
    conn.hold();
  });
  probe_mailbox("imap STARTTLS, then plaintext", imap, "imap",
                {"TLS handshake after STARTTLS failed", 8}, "tls = \"starttls\"\n");
  check_no_credentials_sent(imap);
}
