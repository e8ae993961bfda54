// The agent's HTTP server (in-process, on 127.0.0.1:0) under hostile clients: a load
// balancer's /health check and /healthz must answer within 100 ms while 1,000 hostile
// connections are held open; one client address cannot take every slot; a header that
// never ends is cut off after a few seconds; the total number of connections is capped.
// Clients come from several loopback source addresses (127.0.0.0/8 is all local).
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include "http_client.hpp"
#include "mailcanary/agent/http/web_server.hpp"

namespace {

using mailcanary::agent::WebServer;
using namespace std::chrono_literals;

// The server's documented limits (README, [web]).
constexpr int kPerClient = 64;
constexpr int kTotal = 1024;
constexpr auto kHeaderDeadline = 5s;

std::unique_ptr<WebServer> serve() {
  http_hostile::raise_fd_limit(8192);
  WebServer::Handlers h;
  // A large /metrics, as with many members, so that clients that never read fill the
  // socket buffers.
  auto metrics = std::make_shared<std::string>(256 * 1024, 'm');
  h.metrics = [metrics] { return *metrics; };
  h.status = [] { return std::string("{}\n"); };
  h.health = [](const std::string& target, const std::string& member) {
    if (target == "vip1" && member == "127.0.0.11:2525") {
      return WebServer::Response{200, "text/plain; charset=utf-8", "UP\n"};
    }
    return WebServer::Response{404, "text/plain; charset=utf-8", "unknown\n"};
  };
  return std::make_unique<WebServer>("127.0.0.1", 0, h);
}

std::vector<std::string> sources(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 1; i <= n; ++i) {
    out.push_back(prefix + std::to_string(i));
  }
  return out;
}

// Opens every connection in `fds` that the server closed within `wait` at most; returns
// how many are closed.
int count_closed(const std::vector<int>& fds, int at_least, std::chrono::milliseconds wait) {
  const auto deadline = http_hostile::Clock::now() + wait;
  int closed = 0;
  for (;;) {
    closed = 0;
    for (int fd : fds) {
      closed += fd < 0 || http_hostile::closed_by_peer(fd) ? 1 : 0;
    }
    if (closed >= at_least || http_hostile::Clock::now() >= deadline) {
      return closed;
    }
    http_hostile::wait_closed(fds.front(), 20ms);  // a bounded pause between looks
  }
}

void close_all(std::vector<int>& fds) {
  for (int fd : fds) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  fds.clear();
}

}  // namespace

// The 100 ms goal is the release build's. In the sanitizer builds the [latency] cases
// are not run (see tests/hostile/CMakeLists.txt): under ThreadSanitizer (code 5 to 15
// times slower) a new connection waited for a SYN retransmission when the reconnecting
// crowd filled the accept queue faster than the slowed server drained it, and under
// ASan on a loaded machine 5 of 20 checks took 100 ms or more (session 11). The other
// cases allow 1 s in the sanitizer builds.
#if defined(MAILCANARY_SANITIZED)
constexpr double kAnswerWithinMs = 1000;
#else
constexpr double kAnswerWithinMs = 100;
#endif

TEST_CASE("health answers within 100 ms while 1,000 hostile connections are held",
          "[hostile][http][latency]") {
  auto server = serve();
  const int port = server->port();
  // 20 addresses with 50 connections each: under the per-client cap, so the server
  // really holds all 1,000 (total cap 1,024).
  http_hostile::Crowd crowd(port, sources("127.0.1.", 20));
  crowd.open(1000);
  // Right after the burst of 1,000 connects the server is still accepting them (a new
  // client queues behind them in the kernel): shown, not held to 100 ms.
  const auto burst = http_hostile::timed_get("127.0.0.2", port, "/healthz");
  // Then measured once the crowd is in: the server holds 700 or more and has stopped
  // taking new ones from the burst for 100 ms (bounded wait). Measuring while it still
  // drains the burst is the case above.
  const auto settle = http_hostile::Clock::now() + 5s;
  std::size_t last = 0;
  auto steady_since = http_hostile::Clock::now();
  while (http_hostile::Clock::now() < settle) {
    crowd.keep();
    const std::size_t now_held = server->connections();
    if (now_held != last) {
      last = now_held;
      steady_since = http_hostile::Clock::now();
    } else if (now_held >= 700 && http_hostile::Clock::now() - steady_since >= 100ms) {
      break;
    }
  }
  std::vector<double> healthz, health;
  int healthz_ok = 0;
  int health_ok = 0;
  for (int i = 0; i < 20; ++i) {
    crowd.keep();  // the attacker reopens what the server closed
    auto a = http_hostile::timed_get("127.0.0.2", port, "/healthz");
    healthz.push_back(a.ms);
    healthz_ok += a.status == 200 && a.body == "ok\n" && a.ms < 100 ? 1 : 0;
    crowd.keep();
    auto b = http_hostile::timed_get("127.0.0.2", port, "/health/vip1/127.0.0.11:2525");
    health.push_back(b.ms);
    health_ok += b.status == 200 && b.body == "UP\n" && b.ms < 100 ? 1 : 0;
  }
  const int held = crowd.open_count();
  const auto [hz50, hzmax] = http_hostile::p50_max(healthz);
  const auto [h50, hmax] = http_hostile::p50_max(health);
  std::printf(
      "hostile: %d held (%d reopened, %d connects failed); /healthz p50 %.1f ms max %.1f ms "
      "(%d/20 ok under 100 ms); /health p50 %.1f ms max %.1f ms (%d/20 ok under 100 ms)\n",
      held, crowd.reopened(), crowd.failed_connects(), hz50, hzmax, healthz_ok, h50, hmax,
      health_ok);
  std::printf("hostile: right after the burst of connects: /healthz %d in %.1f ms\n", burst.status,
              burst.ms);
  std::fflush(stdout);
  // The huge-body quarter is answered (405) and closed at once, then opened again: those
  // are mostly between two lives when counted.
  CHECK(held >= 700);
  if (healthz_ok < 20 || health_ok < 20) {
    for (int i = 0; i < 20; ++i) {
      std::printf("  request %2d: /healthz %.1f ms, /health %.1f ms\n", i, healthz[i], health[i]);
    }
  }
  CHECK(healthz_ok == 20);
  CHECK(health_ok == 20);
}

TEST_CASE("one client address cannot hold more than its share of connections", "[hostile][http]") {
  auto server = serve();
  const int port = server->port();
  std::vector<int> fds;
  for (int i = 0; i < kPerClient + 1; ++i) {
    const int fd = http_hostile::connect_from("127.0.0.3", port, 500ms);
    if (fd >= 0) {
      http_hostile::send_all(fd, "GET /heal", 100ms);
    }
    fds.push_back(fd);
  }
  REQUIRE(fds.front() >= 0);
  // The cap plus one from one address: one of them is closed at once (well before the
  // header deadline), the newest refused or the oldest shed.
  const int closed = count_closed(fds, 1, 2s);
  CHECK(closed >= 1);
  CHECK(static_cast<int>(fds.size()) - closed <= kPerClient);
  // Another address is served meanwhile.
  auto other = http_hostile::timed_get("127.0.0.2", port, "/healthz");
  CHECK(other.status == 200);
  CHECK(other.ms < kAnswerWithinMs);
  close_all(fds);
}

TEST_CASE("a request whose header does not end within a few seconds is closed", "[hostile][http]") {
  auto server = serve();
  const int port = server->port();
  const auto start = http_hostile::Clock::now();
  const int silent = http_hostile::connect_from("127.0.0.4", port, 500ms);
  const int dripping = http_hostile::connect_from("127.0.0.4", port, 500ms);
  REQUIRE(silent >= 0);
  REQUIRE(dripping >= 0);
  REQUIRE(http_hostile::send_all(silent, "GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  // A byte every 200 ms keeps the connection busy but never finishes the header: the
  // deadline counts from the first byte, not the last.
  const std::string header = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
  std::size_t sent = 0;
  bool dripping_closed = false;
  const auto limit = start + kHeaderDeadline + 3s;
  while (!dripping_closed && http_hostile::Clock::now() < limit && sent < header.size()) {
    http_hostile::send_all(dripping, header.substr(sent++, 1), 100ms);
    dripping_closed = http_hostile::wait_closed(dripping, 200ms);
  }
  const double dripping_s =
      std::chrono::duration<double>(http_hostile::Clock::now() - start).count();
  const bool silent_closed = http_hostile::wait_closed(silent, 1s);
  const double silent_s = std::chrono::duration<double>(http_hostile::Clock::now() - start).count();
  std::printf("header deadline: dripping client closed after %.2f s, silent one by %.2f s\n",
              dripping_s, silent_s);
  std::fflush(stdout);
  CHECK(dripping_closed);
  CHECK(silent_closed);
  CHECK(dripping_s >= 2.0);  // "a few seconds", not at once
  ::close(silent);
  ::close(dripping);
}

TEST_CASE("the total number of connections is capped, and a new client still gets in",
          "[hostile][http]") {
  auto server = serve();
  const int port = server->port();
  // 1,100 silent connections from 22 addresses (50 each, under the per-client cap).
  const auto from = sources("127.0.2.", 22);
  std::vector<int> fds;
  for (int i = 0; i < 1100; ++i) {
    const int fd =
        http_hostile::connect_from(from[static_cast<std::size_t>(i) % from.size()], port, 200ms);
    if (fd >= 0) {
      http_hostile::send_all(fd, "GET /heal", 100ms);
    }
    fds.push_back(fd);
  }
  REQUIRE(fds.front() >= 0);
  // Within the header deadline, the server has already let go of what is over its cap.
  const int over = static_cast<int>(fds.size()) - kTotal;
  const int closed = count_closed(fds, over, 2s);
  CHECK(closed >= over);
  auto fresh = http_hostile::timed_get("127.0.0.2", port, "/health/vip1/127.0.0.11:2525");
  CHECK(fresh.status == 200);
  CHECK(fresh.ms < kAnswerWithinMs);
  std::printf(
      "total cap: %zu opened, %d closed by the server within 2 s; a new client: %d in %.1f ms\n",
      fds.size(), closed, fresh.status, fresh.ms);
  std::fflush(stdout);
  close_all(fds);
}

TEST_CASE("a slow /metrics render does not delay /health", "[hostile][http]") {
  http_hostile::raise_fd_limit(8192);
  // Renders that last until the test lets them go (bounded: 5 s at most).
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  WebServer::Handlers h;
  h.metrics = [released] {
    released.wait_for(5s);
    return std::string("m 1\n");
  };
  h.status = [] { return std::string("{}\n"); };
  h.health = [](const std::string&, const std::string&) {
    return WebServer::Response{200, "text/plain; charset=utf-8", "UP\n"};
  };
  WebServer server("127.0.0.1", 0, h);
  // More scrapes than render threads: every render thread is busy, one waits.
  std::vector<int> scrapes;
  for (int i = 0; i < 3; ++i) {
    const int fd = http_hostile::connect_from("127.0.0.5", server.port(), 500ms);
    REQUIRE(fd >= 0);
    REQUIRE(http_hostile::send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    scrapes.push_back(fd);
  }
  std::vector<double> ms;
  bool all_up = true;
  for (int i = 0; i < 10; ++i) {
    auto a = http_hostile::timed_get("127.0.0.2", server.port(), "/health/t/m");
    ms.push_back(a.ms);
    all_up = all_up && a.status == 200 && a.body == "UP\n";
  }
  const auto [p50, max] = http_hostile::p50_max(ms);
  std::printf("during slow renders: /health p50 %.1f ms max %.1f ms\n", p50, max);
  std::fflush(stdout);
  CHECK(all_up);
  CHECK(max < 100);
  go.set_value();
  // Each scrape is then answered.
  for (int fd : scrapes) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 2000) == 1);
    char buf[64] = "";
    CHECK(::recv(fd, buf, sizeof buf - 1, 0) > 0);
    CHECK(std::string(buf).rfind("HTTP/1.1 200 OK", 0) == 0);
    ::close(fd);
  }
}

TEST_CASE("over HTTPS, a client that never finishes its handshake is closed; others served",
          "[hostile][http]") {
  char dir_template[] = "/tmp/mc-http-tls-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  REQUIRE(dir != nullptr);
  const std::string d(dir);
  const std::string make_cert =
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + d + "/k.pem -out " + d +
      "/c.pem -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null";
  REQUIRE(std::system(make_cert.c_str()) == 0);
  mailcanary::config::WebConfig web;
  web.tls_cert_file = d + "/c.pem";
  web.tls_key_file = d + "/k.pem";
  WebServer::Handlers h;
  h.metrics = [] { return std::string("m 1\n"); };
  h.status = [] { return std::string("{}\n"); };
  h.health = [](const std::string&, const std::string&) {
    return WebServer::Response{200, "text/plain; charset=utf-8", "UP\n"};
  };
  WebServer server("127.0.0.1", 0, h, web);
  const auto start = http_hostile::Clock::now();
  const int silent = http_hostile::connect_from("127.0.0.6", server.port(), 500ms);
  const int partial = http_hostile::connect_from("127.0.0.6", server.port(), 500ms);
  REQUIRE(silent >= 0);
  REQUIRE(partial >= 0);
  // The first bytes of a TLS record header (a ClientHello), then nothing.
  REQUIRE(http_hostile::send_all(partial, std::string("\x16\x03\x01\x02", 4)));
  // A real client is served meanwhile (curl, the certificate trusted).
  const std::string curl = "curl -s --max-time 5 --cacert " + d +
                           "/c.pem https://127.0.0.1:" + std::to_string(server.port()) + "/healthz";
  std::string out;
  if (FILE* p = ::popen(curl.c_str(), "r")) {
    char buf[64];
    while (out.size() < 1024 && std::fgets(buf, sizeof buf, p)) {
      out += buf;
    }
    ::pclose(p);
  }
  CHECK(out == "ok\n");
  CHECK(http_hostile::wait_closed(silent, kHeaderDeadline + 3s));
  CHECK(http_hostile::wait_closed(partial, 1s));
  const double s = std::chrono::duration<double>(http_hostile::Clock::now() - start).count();
  std::printf("TLS: unfinished handshakes closed by %.2f s\n", s);
  std::fflush(stdout);
  CHECK(s >= 2.0);
  ::close(silent);
  ::close(partial);
  std::filesystem::remove_all(d);
}
