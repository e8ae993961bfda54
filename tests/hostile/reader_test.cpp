// The mailbox readers against scripted servers that misbehave on purpose: a huge
// literal, a response line without end, malformed FETCH answers, a 1 MB header, 10,000
// matching messages, a server that stops answering or drops the session, STARTTLS/STLS
// not offered. Each must end in a clear mailbox error (or a correct result) within a
// bounded time and memory, with no crash under ASan and no hang. The readers run in
// this process; the servers (scripted_server.hpp) listen on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "protocols.hpp"
#include "reader_support.hpp"

namespace {

using namespace hostile;
using mailcanary::config::MailboxConfig;
using mailcanary::probes::MailboxError;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kKey = kReaderKey;

std::string canary_header(const std::string& id) {
  return "X-Mailcanary-Id: " + mailcanary::probes::canary_token(id, kKey) + "\r\n\r\n";
}

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

// Runs one scan expected to fail; returns the error text and checks time and memory.
std::string failing_scan(mailcanary::probes::MailboxReader& reader,
                         const std::set<std::string>& wanted = {"mc1-0-none"}) {
  const long rss_before = max_rss_kib();
  const auto t0 = steady_clock::now();
  std::string what;
  bool permanent = true;
  try {
    reader.scan(wanted);
    FAIL("scan did not fail");
  } catch (const MailboxError& e) {
    what = e.what();
    permanent = e.permanent();
  }
  const auto took = steady_clock::now() - t0;
  INFO(what);
  CHECK(took < 30s);
  CHECK(max_rss_kib() - rss_before < 256 * 1024);  // no gigabyte buffers
  CHECK_FALSE(permanent);  // a broken answer may heal: the next scan tries again
  CHECK(what.rfind("imap 127.0.0.1:", 0) == 0);
  return what;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a FETCH literal announcing a gigabyte is refused at once, nothing allocated",
          "[hostile][reader]") {
  auto server = imap_server([](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "UID SEARCH") {
      return conn.send("* SEARCH 7\r\n" + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
    }
    if (c.verb == "UID FETCH") {
      conn.send("* 7 FETCH (UID 7 BODY[HEADER.FIELDS (X-MAILCANARY-ID)] {1000000000}\r\n");
      const std::string chunk(64 * 1024, 'x');
      while (!conn.stop->load() && conn.send(chunk)) {
      }
      return Reply::close;
    }
    return Reply::fallback;
  });
  auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);
  std::string what = failing_scan(*reader);
  CHECK(contains(what, "UID FETCH failed"));
  CHECK(contains(what, "1000000000-byte literal (limit 1048576)"));
}

TEST_CASE("a response line that never ends is cut at the line limit", "[hostile][reader]") {
  auto server = imap_server([](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "UID SEARCH") {
      conn.send("* SEARCH");
      std::string numbers;
      for (int i = 1; i < 10000; ++i) {
        numbers += " " + std::to_string(i);
      }
      while (!conn.stop->load() && conn.send(numbers)) {
      }
      return Reply::close;
    }
    return Reply::fallback;
  });
  auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);
  std::string what = failing_scan(*reader);
  CHECK(contains(what, "UID SEARCH failed"));
  CHECK(contains(what, "a response line longer than 131072 bytes"));
}

TEST_CASE("malformed FETCH answers are mailbox errors, and the next scan starts afresh",
          "[hostile][reader]") {
  struct Case {
    const char* name;
    std::string answer;  // to UID FETCH, before the tagged OK
    bool close_after = false;
    const char* expect;
  };
  static const char kBinary[] = "* 7 FETCH (UID 7\0\0\xff\xfe BODY)\r\n";
  const std::vector<Case> cases = {
      {"UID not a number", "* 7 FETCH (UID seven BODY[HEADER.FIELDS (X)] {5}\r\nhello)\r\n", false,
       "not valid IMAP"},
      {"garbage line", "*** this is not IMAP ***\r\n", false, "not valid IMAP"},
      {"unbalanced parenthesis", "* 7 FETCH (UID 7 (((((\r\n", false, "not valid IMAP"},
      {"negative literal", "* 7 FETCH (UID 7 BODY[HEADER.FIELDS (X)] {-5}\r\nabc)\r\n", false,
       "UID FETCH failed"},
      {"literal shorter than announced, then hang up",
       "* 7 FETCH (UID 7 BODY[HEADER.FIELDS (X)] {500}\r\nonly a few bytes", true,
       "UID FETCH failed: the server closed the connection"},
      {"NUL bytes and binary", std::string(kBinary, sizeof kBinary - 1), false, "UID FETCH failed"},
  };
  for (const auto& k : cases) {
    DYNAMIC_SECTION(k.name) {
      auto server = imap_server([&k](Conn& conn, const std::string& line) {
        ImapCommand c = parse_imap(line);
        if (c.verb == "UID SEARCH") {
          return conn.send("* SEARCH 7\r\n" + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
        }
        if (c.verb == "UID FETCH") {
          conn.send(k.answer);
          if (k.close_after) {
            return Reply::close;
          }
          conn.send(c.tag + " OK done\r\n");
          return Reply::done;
        }
        return Reply::fallback;
      });
      auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);
      CHECK(contains(failing_scan(*reader), k.expect));
      // The broken session was dropped: the next scan logs in again.
      failing_scan(*reader);
      CHECK(server.connections() == 2);
    }
  }
}

TEST_CASE(
    "a 1 MB header is cut to 64 KiB: the canary still counts, a 1 MB canary header "
    "is foreign",
    "[hostile][reader]") {
  const std::string id = mailcanary::probes::new_canary_id(std::chrono::system_clock::now());
  auto server = imap_server([&id](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "UID SEARCH") {
      return conn.send("* SEARCH 1 2\r\n" + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
    }
    if (c.verb == "UID FETCH") {
      // The server ignores the <0.65536> partial and sends everything.
      std::string ours = "X-Mailcanary-Id: " + mailcanary::probes::canary_token(id, kKey) +
                         "\r\nReceived: from x by y; " + std::string(1000000, 'r') + "\r\n\r\n";
      std::string huge = "X-Mailcanary-Id: " + std::string(1000000, 'a') + "\r\n\r\n";
      conn.send(fetch_item(1, huge) + fetch_item(2, ours) + c.tag + " OK done\r\n");
      return Reply::done;
    }
    return Reply::fallback;
  });
  auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);
  const auto t0 = steady_clock::now();
  auto found = reader->scan({id});
  CHECK(steady_clock::now() - t0 < 30s);
  REQUIRE(found.size() == 1);
  CHECK(found[0].id == id);
  CHECK(found[0].headers.size() <= 64 * 1024);
  CHECK(reader->foreign_seen() == 1);
  // Removed in batches: nothing yet, then only ours.
  auto lines = server.lines();
  CHECK(std::none_of(lines.begin(), lines.end(),
                     [](const std::string& l) { return contains(l, "UID STORE"); }));
  reader->flush();
  lines = server.lines();
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return contains(l, "UID STORE 2 +FLAGS.SILENT (\\Deleted)");
  }));
  CHECK(std::none_of(lines.begin(), lines.end(),
                     [](const std::string& l) { return contains(l, "UID STORE 1 "); }));
}

TEST_CASE("10,000 matching messages: newest first, batches of 50, at most 1000 per scan",
          "[hostile][reader]") {
  const std::string id = mailcanary::probes::new_canary_id(std::chrono::system_clock::now());
  std::mutex mutex;
  std::set<std::uint32_t> expunged;
  std::vector<std::vector<std::uint32_t>> fetches;  // UIDs asked for, per UID FETCH
  auto server = imap_server([&](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    std::lock_guard lock(mutex);
    if (c.verb == "UID SEARCH") {
      std::string answer = "* SEARCH";
      for (std::uint32_t u = 1; u <= 10000; ++u) {
        if (!expunged.count(u)) {
          answer += " " + std::to_string(u);
        }
      }
      return conn.send(answer + "\r\n" + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
    }
    if (c.verb == "UID FETCH") {
      auto uids = parse_set(c.args);
      fetches.push_back(uids);
      std::string answer;
      for (auto u : uids) {
        answer += fetch_item(u, u == 10000 ? canary_header(id)
                                           : "X-Mailcanary-Id: mc1-0-" + std::to_string(u) +
                                                 " sig=00000000000000000000000000000000\r\n\r\n");
      }
      return conn.send(answer + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
    }
    if (c.verb == "UID EXPUNGE") {
      for (auto u : parse_set(c.args)) {
        expunged.insert(u);
      }
    }
    return Reply::fallback;
  });
  auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);

  auto t0 = steady_clock::now();
  auto found = reader->scan({id});
  CHECK(steady_clock::now() - t0 < 30s);
  REQUIRE(found.size() == 1);
  CHECK(found[0].id == id);
  std::set<std::uint32_t> first;
  {
    std::lock_guard lock(mutex);
    REQUIRE_FALSE(fetches.empty());
    for (const auto& f : fetches) {
      CHECK(f.size() <= 50);
      first.insert(f.begin(), f.end());
    }
    fetches.clear();
  }
  CHECK(first.size() == 1000);
  CHECK(*first.rbegin() == 10000);  // the newest ones
  CHECK(*first.begin() == 9001);
  CHECK(reader->foreign_seen() == 999);

  // The next scan looks at the next 1000 and at none it has classified before.
  t0 = steady_clock::now();
  CHECK(reader->scan({"mc1-0-other"}).empty());
  CHECK(steady_clock::now() - t0 < 30s);
  std::set<std::uint32_t> second;
  {
    std::lock_guard lock(mutex);
    for (const auto& f : fetches) {
      CHECK(f.size() <= 50);
      second.insert(f.begin(), f.end());
    }
  }
  CHECK(second.size() == 1000);
  CHECK(*second.rbegin() == 9000);
  CHECK(*second.begin() == 8001);
  CHECK(reader->foreign_seen() == 1999);
}

TEST_CASE("a server that stops answering is a mailbox error after the I/O timeout",
          "[hostile][reader]") {
  auto server = imap_server([](Conn&, const std::string& line) {
    return parse_imap(line).verb == "UID SEARCH" ? Reply::done : Reply::fallback;  // silence
  });
  auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);
  const auto t0 = steady_clock::now();
  std::string what = failing_scan(*reader);
  CHECK(steady_clock::now() - t0 >= 9s);  // poll_interval 100ms + 10 s
  CHECK(contains(what, "UID SEARCH failed: connection lost or timed out"));
}

TEST_CASE("a session the server drops after login is re-established within the scan",
          "[hostile][reader]") {
  const std::string id = mailcanary::probes::new_canary_id(std::chrono::system_clock::now());
  auto server = imap_server([&id](Conn& conn, const std::string& line) {
    ImapCommand c = parse_imap(line);
    if (c.verb == "SELECT" && conn.number == 1) {
      imap_fallback(conn, line);
      return Reply::close;  // hang up right after the login and SELECT
    }
    if (c.verb == "UID SEARCH") {
      return conn.send("* SEARCH 3\r\n" + c.tag + " OK done\r\n") ? Reply::done : Reply::close;
    }
    if (c.verb == "UID FETCH") {
      return conn.send(fetch_item(3, canary_header(id)) + c.tag + " OK done\r\n") ? Reply::done
                                                                                  : Reply::close;
    }
    return Reply::fallback;
  });
  auto reader = mailcanary::probes::make_mailbox_reader(reader_config(server.port()), kKey);
  reader->prepare();  // connection 1, which the server then drops
  std::this_thread::sleep_for(50ms);
  auto found = reader->scan({id});  // NOOP fails, reconnects, finds it
  REQUIRE(found.size() == 1);
  CHECK(found[0].id == id);
  CHECK(server.connections() == 2);
}

TEST_CASE("STARTTLS required but not offered: a permanent error, no password sent",
          "[hostile][reader][tls]") {
  auto server = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  auto cfg = reader_config(server.port());
  cfg.tls = mailcanary::config::TlsMode::starttls;
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kKey);
  try {
    reader->scan({"mc1-0-none"});
    FAIL("no error");
  } catch (const MailboxError& e) {
    CHECK(e.permanent());
    CHECK(std::string(e.what()) ==
          "imap 127.0.0.1:" + std::to_string(server.port()) +
              ": STARTTLS required (tls = \"starttls\") but not offered by the server");
  }
  for (const auto& l : server.lines()) {
    CHECK_FALSE(contains(l, "LOGIN"));
    CHECK_FALSE(contains(l, "secret"));
  }
}

TEST_CASE("POP3: STLS required but not offered: a permanent error, no password sent",
          "[hostile][reader][tls]") {
  ScriptedServer server(
      "+OK hostile POP3 ready", [](Conn&, const std::string&) { return Reply::fallback; },
      [](Conn& conn, const std::string& line) {
        if (line == "CAPA") {
          return conn.send("+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n");
        }
        if (line == "QUIT") {
          conn.send("+OK bye\r\n");
          return false;
        }
        return conn.send("-ERR no\r\n");
      });
  auto cfg = reader_config(server.port());
  cfg.protocol = mailcanary::config::MailboxProtocol::pop3;
  cfg.tls = mailcanary::config::TlsMode::starttls;
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kKey);
  try {
    reader->scan({"mc1-0-none"});
    FAIL("no error");
  } catch (const MailboxError& e) {
    CHECK(e.permanent());
    CHECK(contains(e.what(), "STLS required (tls = \"starttls\") but not offered"));
  }
  for (const auto& l : server.lines()) {
    CHECK(l.rfind("USER", 0) != 0);
    CHECK(l.rfind("PASS", 0) != 0);
  }
}

TEST_CASE("POP3: a TOP answer that never ends is cut at the answer limit", "[hostile][reader]") {
  ScriptedServer server(
      "+OK hostile POP3 ready",
      [](Conn& conn, const std::string& line) {
        if (line.rfind("TOP", 0) == 0) {
          conn.send("+OK\r\n");
          const std::string chunk = std::string(1000, 'h') + "\r\n";
          while (!conn.stop->load() && conn.send(chunk)) {
          }
          return Reply::close;
        }
        return Reply::fallback;
      },
      [](Conn& conn, const std::string& line) {
        if (line == "LIST") {
          return conn.send("+OK\r\n1 100\r\n.\r\n");
        }
        if (line == "UIDL") {
          return conn.send("+OK\r\n1 u1\r\n.\r\n");
        }
        if (line == "QUIT") {
          conn.send("+OK bye\r\n");
          return false;
        }
        return conn.send("+OK\r\n");  // USER, PASS
      });
  auto cfg = reader_config(server.port());
  cfg.protocol = mailcanary::config::MailboxProtocol::pop3;
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kKey);
  const auto t0 = steady_clock::now();
  try {
    reader->scan({"mc1-0-none"});
    FAIL("no error");
  } catch (const MailboxError& e) {
    CHECK_FALSE(e.permanent());
    CHECK(contains(e.what(), "TOP failed: the server sent more than 4194304 bytes"));
  }
  CHECK(steady_clock::now() - t0 < 30s);
  for (const auto& l : server.lines()) {
    CHECK(l != "QUIT");  // dropped, not quit: nothing committed
  }
}

TEST_CASE("implicit TLS against a plain server fails the handshake quickly",
          "[hostile][reader][tls]") {
  auto server = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  auto cfg = reader_config(server.port());
  cfg.tls = mailcanary::config::TlsMode::implicit;
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kKey);
  CHECK(contains(failing_scan(*reader), "TLS handshake failed"));
}
