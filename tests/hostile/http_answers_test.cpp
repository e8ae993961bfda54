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
