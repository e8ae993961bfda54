// The agent's HTTP server (in-process, on 127.0.0.1:0), the cases after the crowd ones
// of http_hostile_test.cpp: the accept queue's size, error answers that reach the
// client before a graceful close, 503 when the render queue is full, and /health over
// HTTPS while a crowd floods the event loop with TLS handshakes.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>

#include "http_client.hpp"
#include "mailcanary/agent/http/web_server.hpp"
#include "tls_flood.hpp"

namespace {

using mailcanary::agent::WebServer;
using namespace std::chrono_literals;

#if defined(MAILCANARY_SANITIZED)
constexpr double kAnswerWithinMs = 1000;
#else
constexpr double kAnswerWithinMs = 100;
#endif

WebServer::Handlers handlers() {
  WebServer::Handlers h;
  h.metrics = [] { return std::string("m 1\n"); };
  h.status = [] { return std::string("{}\n"); };
  h.health = [](const std::string&, const std::string&) {
    return WebServer::Response{200, "text/plain; charset=utf-8", "UP\n"};
  };
  return h;
}

// The listening socket on `port` among this process's descriptors, or -1.
int listening_socket(int port) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::atoi(e.path().filename().c_str());
    int listening = 0;
    socklen_t len = sizeof listening;
    sockaddr_storage ss{};
    socklen_t ss_len = sizeof ss;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &ss_len) == 0 &&
        ss.ss_family == AF_INET && ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) == port) {
      return fd;
    }
  }
  return -1;
}

// Everything the server sends until it ends the stream: `reset` when that end was a
// reset (ECONNRESET) rather than a FIN. Deadline 3 s.
struct Received {
  std::string data;
  bool eof = false;
  bool reset = false;
};

Received read_to_end(int fd) {
  Received r;
  const auto deadline = http_hostile::Clock::now() + 3s;
  char buf[4096];
  // Bounded by the deadline.
  while (http_hostile::Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) {
      continue;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      r.data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    r.eof = n == 0;
    r.reset = n < 0 && errno == ECONNRESET;
    break;
  }
  return r;
}

// The body of an HTTP answer, when all of its Content-Length has arrived.
bool complete(const std::string& answer) {
  const auto end = answer.find("\r\n\r\n");
  const auto length = answer.find("Content-Length: ");
  if (end == std::string::npos || length == std::string::npos) {
    return false;
  }
  const auto n = std::strtoul(answer.c_str() + length + 16, nullptr, 10);
  return answer.size() == end + 4 + n;
}

}  // namespace

TEST_CASE("the accept queue holds a reconnecting crowd: listen() asks for 4096",
          "[hostile][http]") {
  http_hostile::raise_fd_limit(8192);
  WebServer server("127.0.0.1", 0, handlers());
  const int fd = listening_socket(server.port());
  REQUIRE(fd >= 0);
  // For a listening socket Linux reports its backlog (sk_max_ack_backlog) in
  // tcpi_sacked; the kernel caps it at net.core.somaxconn.
  tcp_info info{};
  socklen_t len = sizeof info;
  REQUIRE(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0);
  long somaxconn = 4096;
  std::ifstream("/proc/sys/net/core/somaxconn") >> somaxconn;
  std::printf("listen backlog: %u (net.core.somaxconn %ld)\n", info.tcpi_sacked, somaxconn);
  std::fflush(stdout);
  CHECK(static_cast<long>(info.tcpi_sacked) == std::min(4096L, somaxconn));
}

TEST_CASE("an error answer reaches the client in full, then a FIN, not a reset",
          "[hostile][http]") {
  http_hostile::raise_fd_limit(8192);
  WebServer server("127.0.0.1", 0, handlers());
  struct Case {
    const char* name;
    std::string head;
    const char* status;
  };
  // Each sent at once with more than the server reads (8 KiB): input left unread.
  const auto big_header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a');
  const std::string body(12 * 1024, 'c');
  const auto [name, head, status] = GENERATE_COPY(
      Case{"head over 8 KiB", big_header, "HTTP/1.1 431 "},
      Case{"GET with a body",
           "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n" + body,
           "HTTP/1.1 413 "},
      Case{"POST with a body",
           "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n" + body,
           "HTTP/1.1 405 "},
      Case{"no request line", "NONSENSE\r\n\r\n" + body, "HTTP/1.1 400 "});
  INFO(name);
  const int fd = http_hostile::connect_from("127.0.0.7", server.port(), 500ms);
  REQUIRE(fd >= 0);
  REQUIRE(http_hostile::send_all(fd, head));
  // The answer comes while the client is still sending: more bytes follow it (a body,
  // the rest of a huge header), which the server must not leave unread at close().
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 2000) == 1);
  CHECK(http_hostile::send_all(fd, std::string(16 * 1024, 'b'), 1s));
  const auto r = read_to_end(fd);
  ::close(fd);
  CHECK(r.data.rfind(status, 0) == 0);
  CHECK(complete(r.data));
  CHECK(r.eof);
  CHECK_FALSE(r.reset);
}

TEST_CASE("a full render queue is answered 503 with Retry-After, at once", "[hostile][http]") {
  http_hostile::raise_fd_limit(8192);
  // Renders that last until the test lets them go (bounded: 5 s at most), and say when
  // they have started.
  std::mutex m;
  std::condition_variable cv;
  int started = 0;
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  auto h = handlers();
  h.metrics = [&, released] {
    {
      std::lock_guard lock(m);
      ++started;
    }
    cv.notify_all();
    released.wait_for(5s);
    return std::string("m 1\n");
  };
  mailcanary::agent::http::Limits limits;
  limits.render_threads = 2;
  limits.max_queued_renders = 2;
  WebServer server("127.0.0.1", 0, h, {}, limits);
  auto scrape = [&] {
    const int fd = http_hostile::connect_from("127.0.0.8", server.port(), 500ms);
    REQUIRE(fd >= 0);
    REQUIRE(http_hostile::send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    return fd;
  };
  // Both render threads busy...
  std::vector<int> fds{scrape(), scrape()};
  {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, 2s, [&] { return started == 2; }));
  }
  // ...then three more scrapes: two wait in the queue, one is refused.
  const auto start = http_hostile::Clock::now();
  for (int i = 0; i < 3; ++i) {
    fds.push_back(scrape());
  }
  // One of the three is answered at once; the other two stay unanswered.
  std::vector<pollfd> waiting;
  for (std::size_t i = 2; i < fds.size(); ++i) {
    waiting.push_back({fds[i], POLLIN, 0});
  }
  REQUIRE(::poll(waiting.data(), waiting.size(), 2000) >= 1);
  std::vector<std::string> first(fds.size());
  int refused = 0;
  for (std::size_t i = 2; i < fds.size(); ++i) {
    if (waiting[i - 2].revents & POLLIN) {
      char buf[512];
      const ssize_t n = ::recv(fds[i], buf, sizeof buf, 0);
      first[i] = std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(0, n)));
      refused += first[i].rfind("HTTP/1.1 503 ", 0) == 0 ? 1 : 0;
      CHECK(first[i].find("\r\nRetry-After: 1\r\n") != std::string::npos);
    }
  }
  const double ms =
      std::chrono::duration<double, std::milli>(http_hostile::Clock::now() - start).count();
  std::printf("render queue full: %d of 3 refused with 503 in %.1f ms\n", refused, ms);
  std::fflush(stdout);
  CHECK(refused == 1);
  go.set_value();
  // The others are answered once the renders go on.
  int answered = 0;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    if (first[i].empty()) {
      pollfd p{fds[i], POLLIN, 0};
      char buf[64] = "";
      answered += ::poll(&p, 1, 2000) == 1 && ::recv(fds[i], buf, sizeof buf - 1, 0) > 0 &&
                          std::string(buf).rfind("HTTP/1.1 200 OK", 0) == 0
                      ? 1
                      : 0;
    }
    ::close(fds[i]);
  }
  CHECK(answered == 4);
}

TEST_CASE("over HTTPS, /health answers quickly while 200 clients flood the TLS handshakes",
          "[hostile][http][latency]") {
  http_hostile::raise_fd_limit(8192);
  char dir_template[] = "/tmp/mc-http-flood-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  REQUIRE(dir != nullptr);
  const std::string d(dir);
  const std::string make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d +
                                "/k.pem -out " + d +
                                "/c.pem -days 1 -subj /CN=127.0.0.1 2>/dev/null";
  REQUIRE(std::system(make_cert.c_str()) == 0);
  mailcanary::config::WebConfig web;
  web.tls_cert_file = d + "/c.pem";
  web.tls_key_file = d + "/k.pem";
  WebServer server("127.0.0.1", 0, handlers(), web);
  std::vector<std::string> from;
  for (int i = 1; i <= 8; ++i) {
    from.push_back("127.0.3." + std::to_string(i));
  }
  http_hostile::TlsFlood flood(server.port(), from, 200);
  REQUIRE(flood.wait_handshakes(100, 10s));
  std::vector<double> ms;
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    auto a = http_hostile::timed_get_tls("127.0.0.2", server.port(), "/health/t/m");
    ms.push_back(a.ms);
    ok += a.status == 200 && a.body == "UP\n" ? 1 : 0;
  }
  const int handshakes = flood.handshakes();
  flood.stop();
  const auto [p50, max] = http_hostile::p50_max(ms);
  std::printf(
      "TLS flood (200 clients: %d handshakes done, %d garbage hellos, %d stalls): /health over "
      "HTTPS p50 %.1f ms max %.1f ms (%d/20 ok)\n",
      handshakes, flood.garbage(), flood.stalls(), p50, max, ok);
  std::fflush(stdout);
  CHECK(ok == 20);
  CHECK(p50 < kAnswerWithinMs);
  CHECK(max < 5 * kAnswerWithinMs);
  std::filesystem::remove_all(d);
}
