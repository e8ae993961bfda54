// `mailcanary probe` against POP3 servers whose numbers lie. Sizes in STAT and LIST are
// only informative (the reader reads TOP to its end), so absurd or contradicting sizes
// must still let the canary be read. Message numbers are not: libetpan stores each
// listed message at the index the server names, so "0", "-1" or a 20-digit number in a
// LIST or UIDL listing must end in a mailbox_error before libetpan sees it, as must a
// TOP answer past the 4 MiB cap. Lines with a lone CR or NUL count as one line each.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "mailbox_probe.hpp"

using namespace hostile;

namespace {

// One message, the canary the probe sent, once it was sent (an empty mailbox before).
struct Pop3Script {
  std::string stat = "1 100";      // after "+OK "
  std::string list = "1 100\r\n";  // the listing's lines
  std::string uidl = "1 canary-1\r\n";
  std::string top_extra;  // header lines after the canary's
};

ScriptedServer pop3_with_canary(const CanaryRelay& relay, const Pop3Script& s) {
  return pop3_server([&relay, s](Conn& conn, const std::string& line) {
    if (relay.header().empty()) {
      return Reply::fallback;
    }
    std::string answer;
    if (line == "STAT") {
      answer = "+OK " + s.stat + "\r\n";
    } else if (line == "LIST") {
      answer = "+OK\r\n" + s.list + ".\r\n";
    } else if (line == "UIDL") {
      answer = "+OK\r\n" + s.uidl + ".\r\n";
    } else if (line == "TOP 1 0") {
      answer = "+OK\r\n" + relay.header() + s.top_extra + "\r\n.\r\n";
    } else {
      return Reply::fallback;
    }
    return conn.send(answer) ? Reply::done : Reply::close;
  });
}

// The probe must find and delete the canary despite what `s` says around it.
void expect_canary_read(const std::string& name, const Pop3Script& s) {
  CanaryRelay relay;
  auto smtp = smtp_server(relay.smtp_handler());
  auto pop3 = pop3_with_canary(relay, s);
  ProbeRun run = run_mailbox_probe(name, pop3, "pop3", smtp);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.result.value("class", "") == "ok");
  CHECK(run.seconds < 5);
  auto lines = pop3.lines();
  CHECK(std::find(lines.begin(), lines.end(), "DELE 1") != lines.end());
}

// A server whose LIST and UIDL listings are `list` and `uidl`, whatever was sent.
ScriptedServer pop3_listing(const std::string& list, const std::string& uidl) {
  return pop3_server([list, uidl](Conn& conn, const std::string& line) {
    if (line == "LIST" || line == "UIDL") {
      return conn.send("+OK\r\n" + (line == "LIST" ? list : uidl) + ".\r\n") ? Reply::done
                                                                             : Reply::close;
    }
    return Reply::fallback;
  });
}

}  // namespace

TEST_CASE("POP3: absurd sizes in STAT and LIST are informative: the canary is still read",
          "[hostile][pop3]") {
  for (const char* size : {"99999999999999999999", "-1", "18446744073709551616"}) {
    DYNAMIC_SECTION("size " << size) {
      Pop3Script s;
      s.stat = std::string("1 ") + size;
      s.list = std::string("1 ") + size + "\r\n";
      expect_canary_read(std::string("pop3 STAT/LIST size ") + size, s);
    }
  }
}

TEST_CASE("POP3: a LIST size that contradicts the TOP answer does not matter", "[hostile][pop3]") {
  SECTION("LIST says 10 octets, TOP sends 300 KB of header") {
    Pop3Script s;
    s.list = "1 10\r\n";
    s.top_extra = repeat("X-Pad: " + std::string(990, 'p') + "\r\n", 300);
    expect_canary_read("pop3 LIST 10 octets, TOP 300 KB", s);
  }
  SECTION("LIST says 99,999,999 octets, TOP sends 100 bytes") {
    Pop3Script s;
    s.list = "1 99999999\r\n";
    expect_canary_read("pop3 LIST 99,999,999 octets, TOP 100 bytes", s);
  }
}

TEST_CASE("POP3: absurd message numbers in a listing are refused before libetpan stores them",
          "[hostile][pop3]") {
  // Measured without the check: for "0" in LIST or UIDL the reader process died of
  // SIGSEGV, for 10,000,000 of SIGABRT after 11 s; "-1" and the 20-digit number (strtol's
  // LONG_MAX, 4294967295 as unsigned) hung it in a loop (the probe killed at 90 s).
  struct Case {
    const char* name;
    std::string list;
    std::string uidl;
    const char* expect;
  };
  const Case cases[] = {
      {"LIST 0", "0 100\r\n", "1 u\r\n", "the LIST listing names message \"0\""},
      {"LIST -1", "-1 100\r\n", "1 u\r\n", "the LIST listing names message \"-1\""},
      {"LIST 20 digits", "99999999999999999999 100\r\n", "1 u\r\n",
       "the LIST listing names message \"99999999999999999999\""},
      {"LIST 10,000,000", "10000000 100\r\n", "1 u\r\n",
       "names message \"10000000\" (expected 1 to 5000)"},
      {"UIDL 0", "1 100\r\n", "0 u\r\n", "the UIDL listing names message \"0\""},
  };
  for (const auto& k : cases) {
    DYNAMIC_SECTION(k.name) {
      auto pop3 = pop3_listing(k.list, k.uidl);
      probe_mailbox(std::string("pop3 ") + k.name, pop3, "pop3", {k.expect, 10});
    }
  }
}

TEST_CASE("POP3: a listing sent ahead, with the answer to PASS, is refused", "[hostile][pop3]") {
  // libetpan reads ahead: what follows "+OK" here would be parsed as the answer to LIST
  // without ever having been checked as one (measured without the check: a hang, the
  // probe killed at 90 s).
  auto pop3 = pop3_server([](Conn& conn, const std::string& line) {
    if (line.rfind("PASS ", 0) == 0) {
      return conn.send("+OK logged in\r\n+OK\r\n-1 100\r\n.\r\n") ? Reply::done : Reply::close;
    }
    return Reply::fallback;
  });
  probe_mailbox("pop3 LIST answer sent with PASS's", pop3, "pop3",
                {"login as canary refused: the server sent data after the end of its answer", 10});
}

TEST_CASE("POP3: a 5 MiB TOP answer is cut at the 4 MiB answer limit", "[hostile][pop3]") {
  auto pop3 = pop3_server([](Conn& conn, const std::string& line) {
    std::string answer;
    if (line == "LIST") {
      answer = "+OK\r\n1 100\r\n.\r\n";
    } else if (line == "UIDL") {
      answer = "+OK\r\n1 u1\r\n.\r\n";
    } else if (line == "TOP 1 0") {
      answer = "+OK\r\n" + repeat(std::string(1000, 'h') + "\r\n", 5 * 1048) + ".\r\n";
    } else {
      return Reply::fallback;
    }
    return conn.send(answer) ? Reply::done : Reply::close;
  });
  probe_mailbox(
      "pop3 5 MiB TOP answer", pop3, "pop3",
      {"TOP failed: the server sent more than 4194304 bytes in answer to one command", 10});
}

TEST_CASE("POP3: a lone CR or NUL inside a line does not change the line count",
          "[hostile][pop3]") {
  SECTION("4,000 header lines with a lone CR and a NUL each stay under the 5,000-line limit") {
    // Counted at each CR too, they would be 8,000 lines.
    Pop3Script s;
    s.top_extra = repeat(bytes("X-Pad: a\rb\0c\r\n"), 4000);
    expect_canary_read("pop3 4,000 lines with a lone CR and NUL", s);
  }
  SECTION("a long listing of such lines is cut at 5,000 lines") {
    auto pop3 = pop3_server([](Conn& conn, const std::string& line) {
      if (line == "LIST") {
        // Numbered as a listing must be (1, 2, 3, ...), past the line limit.
        std::string listing = "+OK\r\n";
        for (int i = 1; i <= 6000; ++i) {
          listing += std::to_string(i) + bytes(" a\rb\0c\r\n");
        }
        conn.send(listing);
        return Reply::close;
      }
      return Reply::fallback;
    });
    probe_mailbox(
        "pop3 endless listing, a lone CR and NUL per line", pop3, "pop3",
        {"LIST failed: the server sent more than 5000 lines in answer to one command", 10});
  }
}
