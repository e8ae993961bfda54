// `mailcanary probe` against IMAP and POP3 servers that misbehave once the canary was
// taken by SMTP: deep nesting, floods of untagged responses, giant lines and literals,
// garbage and NULs, silence and resets. Each run must end in a mailbox_error naming what
// was wrong, within its bound, with no crash and the process's peak RSS under the
// suite's bound (probe_child.hpp), whatever the server sent.
#include <catch2/catch.hpp>
#include <string>

#include "mailbox_probe.hpp"

using namespace hostile;

TEST_CASE("IMAP: a BODYSTRUCTURE nested 20,000 deep is refused before libetpan recurses",
          "[hostile][imap]") {
  auto imap = imap_at("NOOP", [](Conn& conn, const ImapCommand& c) {
    conn.send("* 1 FETCH (BODYSTRUCTURE " + std::string(20000, '(') + "\"text\" \"plain\"" +
              std::string(20000, ')') + ")\r\n" + c.tag + " OK done\r\n");
    return Reply::done;
  });
  probe_mailbox("imap BODYSTRUCTURE 20,000 deep", imap, "imap",
                {"nested deeper than 64 parentheses", 10});
}

TEST_CASE("IMAP: an endless flood of untagged responses is cut at 5,000", "[hostile][imap]") {
  auto imap = imap_at("NOOP", [](Conn& conn, const ImapCommand&) {
    conn.flood(repeat("* OK x\r\n", 1000));
    return Reply::close;
  });
  probe_mailbox("imap endless * OK flood", imap, "imap",
                {"more than 5000 untagged responses to one command", 10});
}

TEST_CASE("IMAP: a 10 MiB SEARCH line is cut before it is parsed", "[hostile][imap]") {
  auto imap = imap_at("UID SEARCH", [](Conn& conn, const ImapCommand& c) {
    conn.send("* SEARCH" + repeat(" 1", 5u << 20) + "\r\n" + c.tag + " OK done\r\n");
    return Reply::done;
  });
  probe_mailbox("imap 10 MiB SEARCH line", imap, "imap", {"items in answer to one command", 10});
}

TEST_CASE("IMAP: a gigabyte literal is refused when announced", "[hostile][imap]") {
  auto imap = imap_server([](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "UID SEARCH") {
      return conn.send("* SEARCH 7\r\n" + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
    }
    if (c.verb == "UID FETCH") {
      conn.send("* 7 FETCH (UID 7 BODY[HEADER.FIELDS (X-MAILCANARY-ID)] {1000000000}\r\n");
      conn.flood(std::string(64 * 1024, 'x'));
      return Reply::close;
    }
    return Reply::fallback;
  });
  probe_mailbox("imap 1 GB literal", imap, "imap", {"1000000000-byte literal (limit 1048576)", 10});
}

TEST_CASE("IMAP: a lone CR or NUL inside a line neither ends nor hides a line", "[hostile][imap]") {
  // libetpan and the guard end a line at LF alone. IMAP text may hold neither CR nor NUL:
  // the guard refuses a NUL outside a literal before libetpan sees it (a NUL inside a
  // PERMANENTFLAGS list crashed libetpan: fuzz_imap_answer).
  SECTION("responses with a lone CR and a NUL each: refused by the guard at once") {
    auto imap = imap_at("NOOP", [](Conn& conn, const ImapCommand&) {
      conn.flood(repeat(bytes("* OK a\rb\0c\r\n"), 1000));
      return Reply::close;
    });
    probe_mailbox("imap * OK lines with a lone CR and NUL", imap, "imap",
                  {"NOOP failed: a NUL byte in a response line", 10});
  }
  // Were CR a line end, the 5,000th "* OK x" would break the limit of untagged
  // responses after 35 KB; as one line, its 32,768th item does after 76 KB.
  SECTION("responses separated by CR alone are one line") {
    auto imap = imap_at("NOOP", [](Conn& conn, const ImapCommand&) {
      conn.flood(repeat("* OK x\r", 1000));
      return Reply::close;
    });
    probe_mailbox("imap * OK responses separated by CR alone", imap, "imap",
                  {"NOOP failed: more than 32768 items in answer to one command", 10});
  }
}

TEST_CASE("IMAP: garbage with NULs for a greeting", "[hostile][imap]") {
  ScriptedServer imap(
      std::string("\x00\x01\xff garbage \x00 not IMAP", 21),
      [](Conn&, const std::string&) { return Reply::done; }, imap_fallback);
  probe_mailbox("imap garbage greeting", imap, "imap", {"no IMAP greeting", 15});
}

TEST_CASE("IMAP: a reset after login", "[hostile][imap]") {
  auto imap = imap_at("SELECT", [](Conn& conn, const ImapCommand&) {
    conn.reset();
    return Reply::close;
  });
  probe_mailbox("imap reset at SELECT", imap, "imap", {"cannot select folder INBOX", 10});
}

TEST_CASE("IMAP: silence after LOGIN ends at the I/O timeout", "[hostile][imap]") {
  auto imap = imap_at("LOGIN", [](Conn&, const ImapCommand&) { return Reply::done; });
  // poll_interval 100 ms: an I/O timeout of 10.1 s, and the login is tried twice.
  probe_mailbox("imap silent after LOGIN", imap, "imap", {"login as canary refused", 24});
}

TEST_CASE("POP3: an endless listing is cut at the answer limit", "[hostile][pop3]") {
  auto pop3 = pop3_server([](Conn& conn, const std::string& line) {
    if (line == "STAT") {
      return conn.send("+OK 1 100\r\n") ? Reply::done : Reply::close;
    }
    if (line == "UIDL" || line == "LIST") {
      // Numbered as the guard wants a listing (1, 2, 3, ...), past the line limit.
      std::string listing = "+OK\r\n";
      for (int i = 1; i <= 6000; ++i) {
        listing += std::to_string(i) + " uid-of-a-message-that-never-ends\r\n";
      }
      conn.send(listing);
      return Reply::close;
    }
    return Reply::fallback;
  });
  probe_mailbox("pop3 endless listing", pop3, "pop3",
                {"more than 5000 lines in answer to one command", 10});
}

TEST_CASE("POP3: a greeting line without end is cut at the answer limit", "[hostile][pop3]") {
  ScriptedServer endless(
      "+OK " + std::string(8u << 20, 'g'), [](Conn&, const std::string&) { return Reply::done; },
      pop3_fallback);
  probe_mailbox("pop3 8 MiB greeting line", endless, "pop3", {"more than 4194304 bytes", 10});
}

TEST_CASE("POP3: garbage with NULs for a greeting", "[hostile][pop3]") {
  ScriptedServer pop3(
      std::string("\x00\x01\xff garbage \x00 not POP3", 21),
      [](Conn&, const std::string&) { return Reply::done; }, pop3_fallback);
  probe_mailbox("pop3 garbage greeting", pop3, "pop3", {"pop3 127.0.0.1:", 15});
}
