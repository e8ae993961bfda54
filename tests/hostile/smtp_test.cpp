// `mailcanary probe` against SMTP servers that misbehave: silence at each stage, drips,
// giant and endless replies, garbage and NULs, resets, STARTTLS that never becomes TLS.
// Each run must end within the stage timeout T plus a small margin (T, not 2 T: QUIT
// gets a short grace), with a clear class and stage, no crash, and bounded memory.
#include <catch2/catch.hpp>
#include <string>

#include "probe_child.hpp"
#include "protocols.hpp"

namespace {

using namespace hostile;
using namespace std::chrono_literals;

// T = 2 s; attempts = 1. The margin covers process start, the config, and QUIT's grace.
constexpr double kStageTimeout = 2.0;
constexpr double kMargin = 1.5;

struct Expect {
  const char* cls;
  const char* stage;
  const char* in_detail;  // "" for any
};

ProbeRun probe_smtp(const std::string& name, ScriptedServer& smtp, const Expect& e,
                    const std::string& ehlo_tls = "") {
  auto mailbox = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  ProbeSetup setup;
  setup.smtp = smtp.address();
  setup.mailbox = mailbox.address();
  setup.extra_smtp = ehlo_tls;
  ProbeRun run = run_probe(name, setup, 60s);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.rc >= 0);  // not killed at the hard limit
  CHECK(run.rc < 128);   // no crash
  REQUIRE(run.result.is_object());
  CHECK(run.result.value("class", "") == e.cls);
  CHECK(run.result.value("stage", "") == e.stage);
  const std::string detail = run.result.value("detail", "");
  CHECK(detail.find(e.in_detail) != std::string::npos);
  CHECK(run.seconds < kStageTimeout + kMargin);
  CHECK(run.peak_rss_kib < rss_bound_kib());
  return run;
}

// A server that answers normally until the line starting with `at`, then runs `then`.
ScriptedServer smtp_until(const std::string& at, std::function<Reply(Conn&)> then) {
  return smtp_server([at, then](Conn& conn, const std::string& line) {
    return line.rfind(at, 0) == 0 ? then(conn) : Reply::fallback;
  });
}

Reply silence(Conn&) {
  return Reply::done;  // reads on, answers nothing
}

}  // namespace

TEST_CASE("SMTP: silence at each stage ends at the stage timeout, not twice it",
          "[hostile][smtp]") {
  SECTION("banner") {
    ScriptedServer smtp(
        "", [](Conn&, const std::string&) { return Reply::done; },
        [](Conn&, const std::string&) { return true; });
    probe_smtp("smtp silent banner", smtp,
               {"timeout", "banner", "no answer from the server within 2 s"});
  }
  SECTION("EHLO") {
    auto smtp = smtp_until("EHLO", silence);
    probe_smtp("smtp silent after EHLO", smtp,
               {"timeout", "ehlo", "no answer from the server within 2 s"});
  }
  SECTION("MAIL FROM") {
    auto smtp = smtp_until("MAIL FROM", silence);
    probe_smtp("smtp silent after MAIL", smtp,
               {"timeout", "mail", "no answer from the server within 2 s"});
  }
  SECTION("end of data") {
    auto smtp = smtp_until(".", silence);
    probe_smtp("smtp silent after data", smtp,
               {"timeout", "body", "no answer from the server within 2 s"});
  }
}

TEST_CASE("SMTP: a reply dripped a byte at a time times out at T", "[hostile][smtp]") {
  // The EHLO reply comes at 5 bytes a second: all of it would take 7 s.
  auto drip = smtp_server([](Conn& conn, const std::string& line) {
    if (line.rfind("EHLO", 0) == 0) {
      conn.drip("250-hostile.test\r\n250 8BITMIME\r\n", 200ms);
      return Reply::done;
    }
    return Reply::fallback;
  });
  probe_smtp("smtp EHLO reply dripped", drip,
             {"timeout", "ehlo", "no answer from the server within 2 s"});
}

TEST_CASE("SMTP: giant and endless replies are cut, and the detail says so", "[hostile][smtp]") {
  SECTION("a 1 MB reply line without end") {
    auto smtp = smtp_until("MAIL FROM", [](Conn& conn) {
      conn.send("250 " + std::string(1 << 20, 'x'));
      conn.hold();
      return Reply::close;
    });
    probe_smtp("smtp 1 MB reply line", smtp,
               {"protocol_error", "mail", "the server's reply is too large for libcurl"});
  }
  SECTION("an endless multi-line reply") {
    auto smtp = smtp_until("EHLO", [](Conn& conn) {
      conn.flood("250-hostile.test continues\r\n");
      return Reply::close;
    });
    probe_smtp("smtp endless EHLO reply", smtp,
               {"protocol_error", "ehlo", "the server's reply is too large for libcurl"});
  }
}

TEST_CASE("SMTP: garbage, NULs and resets are protocol errors or closed connections",
          "[hostile][smtp]") {
  SECTION("garbage banner") {
    ScriptedServer smtp(
        std::string("\x01\x02garbage\0\xff not smtp", 20),
        [](Conn&, const std::string&) { return Reply::done; },
        [](Conn&, const std::string&) { return true; });
    probe_smtp("smtp garbage banner", smtp, {"protocol_error", "banner", ""});
  }
  SECTION("reset after RCPT") {
    auto smtp = smtp_until("RCPT", [](Conn& conn) {
      conn.reset();
      return Reply::close;
    });
    probe_smtp("smtp reset at RCPT", smtp,
               {"protocol_error", "rcpt", "connection reset by the server during rcpt"});
  }
}

TEST_CASE("SMTP: STARTTLS accepted, then no TLS", "[hostile][smtp][tls]") {
  SECTION("plain text right behind the 220") {
    auto smtp = smtp_server(
        [](Conn& conn, const std::string& line) {
          if (line == "STARTTLS") {
            conn.send("220 2.0.0 go ahead\r\n250 injected\r\n");
            conn.hold();
            return Reply::close;
          }
          return Reply::fallback;
        },
        "STARTTLS");
    probe_smtp("smtp STARTTLS, plaintext behind 220", smtp,
               {"tls_error", "starttls", "more plaintext after agreeing to STARTTLS"},
               "tls = \"starttls\"\n");
  }
  SECTION("plain text in answer to the ClientHello") {
    auto smtp = smtp_server(
        [](Conn& conn, const std::string& line) {
          if (line == "STARTTLS") {
            conn.send("220 2.0.0 go ahead\r\n");
            if (conn.await_bytes()) {
              conn.send("this is not a TLS handshake\r\n");
            }
            conn.hold();
            return Reply::close;
          }
          return Reply::fallback;
        },
        "STARTTLS");
    probe_smtp("smtp STARTTLS, plaintext handshake", smtp, {"tls_error", "starttls", ""},
               "tls = \"starttls\"\n");
  }
  SECTION("silence after 220") {
    auto smtp = smtp_server(
        [](Conn& conn, const std::string& line) {
          if (line == "STARTTLS") {
            conn.send("220 2.0.0 go ahead\r\n");
            conn.hold();
            return Reply::close;
          }
          return Reply::fallback;
        },
        "STARTTLS");
    probe_smtp("smtp STARTTLS then silence", smtp,
               {"timeout", "starttls", "no answer from the server within 2 s (starttls)"},
               "tls = \"starttls\"\n");
  }
}

TEST_CASE("SMTP: QUIT unanswered after the message was taken gets a short grace only",
          "[hostile][smtp]") {
  auto smtp = smtp_until("QUIT", silence);
  auto mailbox = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  ProbeSetup setup;
  setup.smtp = smtp.address();
  setup.mailbox = mailbox.address();
  setup.smtp_timeout = "5s";
  setup.lost_after = "3s";
  ProbeRun run = run_probe("smtp QUIT unanswered", setup, 60s);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.result.is_object());
  // Accepted: the mailbox decides (nothing arrives: lost), and the 250 stands.
  CHECK(run.result.value("class", "") == "lost");
  CHECK(run.result.value("queue_id", "") == "HOSTILE1");
  CHECK(run.result.value("smtp_seconds", 99.0) < 1.5);  // not another 5 s for QUIT
  CHECK(run.seconds < 3.0 + 2.0);                       // lost_after, and the probe's start and end
  CHECK(run.peak_rss_kib < rss_bound_kib());
}
