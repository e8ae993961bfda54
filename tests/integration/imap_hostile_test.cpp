// The mailbox readers against scripted servers that misbehave on purpose: a huge
// literal, a response line without end, malformed FETCH answers, a 1 MB header, 10,000
// matching messages, a server that stops answering or drops the session, STARTTLS/STLS
// not offered. Each must end in a clear mailbox error (or a correct result) within a
// bounded time and memory, with no crash under ASan and no hang. The readers run in
// this process (no test bed needed); the servers listen on 127.0.0.1, kernel-chosen port.
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

namespace {

using mailcanary::config::MailboxConfig;
using mailcanary::probes::MailboxError;
using std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kKey = "hostile-test-key";

// ---------------------------------------------------------------- scripted server

// One connection of a scripted server, as the handler sees it.
struct Conn {
  int fd = -1;
  int number = 0;  // 1 for the first connection
  const std::atomic<bool>* stop = nullptr;

  // Sends everything (false once the client is gone or the server stops).
  bool send(const std::string& data) const {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (stop->load()) {
          return false;
        }
        continue;
      }
      if (n <= 0) {
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
};

enum class Reply { done, fallback, close };

// A line-based server playing a script: `greeting` first, then each command line (CRLF
// stripped) goes to the handler; what it leaves to the fallback gets the protocol's
// ordinary answer. Connections are served one at a time.
class ScriptedServer {
 public:
  using Handler = std::function<Reply(Conn&, const std::string& line)>;
  using Fallback = std::function<bool(Conn&, const std::string& line)>;  // false: close

  ScriptedServer(std::string greeting, Handler handler, Fallback fallback)
      : greeting_(std::move(greeting)),
        handler_(std::move(handler)),
        fallback_(std::move(fallback)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(listen_fd_, 16) == 0);
    REQUIRE(pipe(stop_pipe_) == 0);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    (void)!write(stop_pipe_[1], "x", 1);
    thread_.join();
    close(listen_fd_);
    close(stop_pipe_[0]);
    close(stop_pipe_[1]);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }
  int connections() const { return connections_; }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  void serve() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        continue;
      }
      if (fds[1].revents) {
        return;
      }
      int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        continue;
      }
      timeval tv{0, 200000};  // sends wake up to look at stop_
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      Conn conn{c, ++connections_, &stop_};
      converse(conn);
      close(c);
      if (stop_) {
        return;
      }
    }
  }

  void converse(Conn& conn) {
    if (!conn.send(greeting_ + "\r\n")) {
      return;
    }
    std::string buffer;
    for (;;) {
      pollfd fds[2] = {{conn.fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        continue;
      }
      if (fds[1].revents) {
        return;
      }
      char chunk[8192];
      ssize_t n = recv(conn.fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        return;
      }
      buffer.append(chunk, static_cast<std::size_t>(n));
      std::size_t eol;
      while ((eol = buffer.find("\r\n")) != std::string::npos) {
        std::string line = buffer.substr(0, eol);
        buffer.erase(0, eol + 2);
        {
          std::lock_guard lock(mutex_);
          lines_.push_back(line);
        }
        Reply r = handler_(conn, line);
        if (r == Reply::close || (r == Reply::fallback && !fallback_(conn, line))) {
          return;
        }
      }
    }
  }

  std::string greeting_;
  Handler handler_;
  Fallback fallback_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  std::thread thread_;
};

// "A0003 UID FETCH 1,2 (...)" -> tag "A0003", command "UID FETCH", arguments after it.
struct ImapCommand {
  std::string tag;
  std::string verb;  // upper case, "UID FETCH" style for UID commands
  std::string args;
};

ImapCommand parse_imap(const std::string& line) {
  std::istringstream in(line);
  ImapCommand c;
  in >> c.tag >> c.verb;
  for (auto& ch : c.verb) {
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  if (c.verb == "UID") {
    std::string sub;
    in >> sub;
    for (auto& ch : sub) {
      ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    c.verb += " " + sub;
  }
  std::getline(in, c.args);
  if (!c.args.empty() && c.args.front() == ' ') {
    c.args.erase(0, 1);
  }
  return c;
}

// The UIDs of a sequence set "5,3:4" (bounded).
std::vector<std::uint32_t> parse_set(const std::string& args) {
  std::vector<std::uint32_t> out;
  std::string set = args.substr(0, args.find(' '));
  std::istringstream in(set);
  std::string item;
  while (std::getline(in, item, ',') && out.size() < 100000) {
    auto colon = item.find(':');
    std::uint32_t a = static_cast<std::uint32_t>(std::stoul(item.substr(0, colon)));
    std::uint32_t b = colon == std::string::npos
                          ? a
                          : static_cast<std::uint32_t>(std::stoul(item.substr(colon + 1)));
    for (std::uint32_t u = std::min(a, b); u <= std::max(a, b) && out.size() < 100000; ++u) {
      out.push_back(u);
    }
  }
  return out;
}

// An ordinary IMAP server's answers: capabilities (no STARTTLS), login, one folder,
// nothing found.
bool imap_fallback(Conn& conn, const std::string& line) {
  ImapCommand c = parse_imap(line);
  const std::string ok = c.tag + " OK done\r\n";
  if (c.verb == "CAPABILITY") {
    return conn.send("* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n" + ok);
  }
  if (c.verb == "SELECT" || c.verb == "EXAMINE") {
    return conn.send(
        "* FLAGS (\\Deleted \\Seen)\r\n* 1 EXISTS\r\n* 0 RECENT\r\n"
        "* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 20001] ok\r\n" +
        c.tag + " OK [READ-WRITE] selected\r\n");
  }
  if (c.verb == "UID SEARCH") {
    return conn.send("* SEARCH\r\n" + ok);
  }
  if (c.verb == "LOGOUT") {
    conn.send("* BYE bye\r\n" + ok);
    return false;
  }
  if (c.verb == "LOGIN" || c.verb == "NOOP" || c.verb == "UID FETCH" || c.verb == "UID STORE" ||
      c.verb == "UID EXPUNGE" || c.verb == "EXPUNGE" || c.verb == "CHECK") {
    return conn.send(ok);
  }
  return conn.send(c.tag + " BAD unknown command\r\n");
}

const char* kImapGreeting = "* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS] hostile test server ready";

ScriptedServer imap_server(ScriptedServer::Handler handler) {
  return ScriptedServer(kImapGreeting, std::move(handler), imap_fallback);
}

// One FETCH response item for `uid` whose header fields section is `section`.
std::string fetch_item(std::uint32_t uid, const std::string& section) {
  return "* " + std::to_string(uid) + " FETCH (UID " + std::to_string(uid) +
         " BODY[HEADER.FIELDS (X-MAILCANARY-ID)] {" + std::to_string(section.size()) + "}\r\n" +
         section + ")\r\n";
}

std::string canary_header(const std::string& id) {
  return "X-Mailcanary-Id: " + mailcanary::probes::canary_token(id, kKey) + "\r\n\r\n";
}

MailboxConfig imap_config(std::uint16_t port) {
  MailboxConfig c;
  c.name = "hostile";
  c.protocol = mailcanary::config::MailboxProtocol::imap;
  c.server = {"127.0.0.1", port};
  c.user = "canary";
  c.password = "secret";
  c.folder = "INBOX";
  c.idle = false;
  c.poll_interval = std::chrono::milliseconds(100);  // I/O timeout 10 s
  return c;
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
          "[integration][mailbox][hostile]") {
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
  auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);
  std::string what = failing_scan(*reader);
  CHECK(contains(what, "UID FETCH failed"));
  CHECK(contains(what, "1000000000-byte literal (limit 4194304)"));
}

TEST_CASE("a response line that never ends is cut at the answer limit",
          "[integration][mailbox][hostile]") {
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
  auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);
  std::string what = failing_scan(*reader);
  CHECK(contains(what, "UID SEARCH failed"));
  CHECK(contains(what, "more than 16777216 bytes in answer to one command"));
}

TEST_CASE("malformed FETCH answers are mailbox errors, and the next scan starts afresh",
          "[integration][mailbox][hostile]") {
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
      auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);
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
    "[integration][mailbox][hostile]") {
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
  auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);
  const auto t0 = steady_clock::now();
  auto found = reader->scan({id});
  CHECK(steady_clock::now() - t0 < 30s);
  REQUIRE(found.size() == 1);
  CHECK(found[0].id == id);
  CHECK(found[0].headers.size() <= 64 * 1024);
  CHECK(reader->foreign_seen() == 1);
  // Only ours was deleted.
  auto lines = server.lines();
  CHECK(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return contains(l, "UID STORE 2 +FLAGS.SILENT (\\Deleted)");
  }));
  CHECK(std::none_of(lines.begin(), lines.end(),
                     [](const std::string& l) { return contains(l, "UID STORE 1 "); }));
}

TEST_CASE("10,000 matching messages: newest first, batches of 100, at most 1000 per scan",
          "[integration][mailbox][hostile]") {
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
  auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);

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
      CHECK(f.size() <= 100);
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
      CHECK(f.size() <= 100);
      second.insert(f.begin(), f.end());
    }
  }
  CHECK(second.size() == 1000);
  CHECK(*second.rbegin() == 9000);
  CHECK(*second.begin() == 8001);
  CHECK(reader->foreign_seen() == 1999);
}

TEST_CASE("a server that stops answering is a mailbox error after the I/O timeout",
          "[integration][mailbox][hostile]") {
  auto server = imap_server([](Conn&, const std::string& line) {
    return parse_imap(line).verb == "UID SEARCH" ? Reply::done : Reply::fallback;  // silence
  });
  auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);
  const auto t0 = steady_clock::now();
  std::string what = failing_scan(*reader);
  CHECK(steady_clock::now() - t0 >= 9s);  // poll_interval 100ms + 10 s
  CHECK(contains(what, "UID SEARCH failed: connection lost or timed out"));
}

TEST_CASE("a session the server drops after login is re-established within the scan",
          "[integration][mailbox][hostile]") {
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
  auto reader = mailcanary::probes::make_mailbox_reader(imap_config(server.port()), kKey);
  reader->prepare();  // connection 1, which the server then drops
  std::this_thread::sleep_for(50ms);
  auto found = reader->scan({id});  // NOOP fails, reconnects, finds it
  REQUIRE(found.size() == 1);
  CHECK(found[0].id == id);
  CHECK(server.connections() == 2);
}

TEST_CASE("STARTTLS required but not offered: a permanent error, no password sent",
          "[integration][mailbox][hostile][tls]") {
  auto server = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  auto cfg = imap_config(server.port());
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
          "[integration][mailbox][hostile][tls]") {
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
  auto cfg = imap_config(server.port());
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

TEST_CASE("POP3: a TOP answer that never ends is cut at the answer limit",
          "[integration][mailbox][hostile]") {
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
  auto cfg = imap_config(server.port());
  cfg.protocol = mailcanary::config::MailboxProtocol::pop3;
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kKey);
  const auto t0 = steady_clock::now();
  try {
    reader->scan({"mc1-0-none"});
    FAIL("no error");
  } catch (const MailboxError& e) {
    CHECK_FALSE(e.permanent());
    CHECK(contains(e.what(), "TOP failed: the server sent more than 16777216 bytes"));
  }
  CHECK(steady_clock::now() - t0 < 30s);
  for (const auto& l : server.lines()) {
    CHECK(l != "QUIT");  // dropped, not quit: nothing committed
  }
}

TEST_CASE("implicit TLS against a plain server fails the handshake quickly",
          "[integration][mailbox][hostile][tls]") {
  auto server = imap_server([](Conn&, const std::string&) { return Reply::fallback; });
  auto cfg = imap_config(server.port());
  cfg.tls = mailcanary::config::TlsMode::implicit;
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, kKey);
  CHECK(contains(failing_scan(*reader), "TLS handshake failed"));
}
