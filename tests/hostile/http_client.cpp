#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace http_hostile {
namespace {

const std::string kDripped =
    "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: a-very-slow-client-indeed\r\n"
    "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

void raise_fd_limit(long want) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (static_cast<long>(rl.rlim_cur) < want) {
    rl.rlim_cur = std::min<rlim_t>(static_cast<rlim_t>(want), rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int connect_from(const std::string& source, int port, std::chrono::milliseconds wait,
                 int receive_buffer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    ::close(fd);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int error = 0;
  socklen_t len = sizeof error;
  if (::poll(&p, 1, static_cast<int>(wait.count())) != 1 ||
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool closed_by_peer(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool wait_closed(int fd, std::chrono::milliseconds wait) {
  const auto deadline = Clock::now() + wait;
  for (;;) {
    pollfd p{fd, POLLRDHUP, 0};
    const int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      return true;
    }
    if (Clock::now() >= deadline) {
      return false;
    }
  }
}

bool send_all(int fd, const std::string& data, std::chrono::milliseconds wait) {
  const auto deadline = Clock::now() + wait;
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
      return false;
    }
  }
  return true;
}

Timed timed_get(const std::string& source, int port, const std::string& path) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(2);
  Timed out;
  const int fd = connect_from(source, port, std::chrono::milliseconds(remaining_ms(deadline)));
  if (fd < 0) {
    out.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return out;
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  std::string got;
  if (send_all(fd, request, std::chrono::milliseconds(remaining_ms(deadline)))) {
    char buf[4096];
    // Bounded by the deadline and by the answer's size (health answers are tiny).
    while (got.size() < (1u << 20)) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) != 1) {
        break;
      }
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  out.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  read_answer(got, out);
  return out;
}

void read_answer(const std::string& got, Timed& out) {
  const auto end = got.find("\r\n\r\n");
  if (got.rfind("HTTP/1.", 0) == 0 && got.size() > 12 && end != std::string::npos) {
    out.status = std::atoi(got.substr(9, 3).c_str());
    out.body = got.substr(end + 4);
  }
}

Crowd::~Crowd() {
  for (auto& c : conns_) {
    if (c.fd >= 0) {
      ::close(c.fd);
    }
  }
}

void Crowd::start(Conn& c) {
  const auto& source = sources_[c.source];
  c.fd = connect_from(source, port_, std::chrono::milliseconds(100),
                      c.kind == Kind::never_reads ? 1024 : 0);
  c.dripped = 0;
  c.next_drip = Clock::now();
  if (c.fd < 0) {
    ++failed_;
    return;
  }
  switch (c.kind) {
    case Kind::half_line:
      send_all(c.fd, "GET /heal", std::chrono::milliseconds(100));
      break;
    case Kind::drip:
      break;  // keep() sends the bytes
    case Kind::huge_body:
      send_all(c.fd,
               "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               "Content-Length: 1073741824\r\n\r\n",
               std::chrono::milliseconds(100));
      break;
    case Kind::never_reads:
      send_all(c.fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::milliseconds(100));
      break;
  }
}

void Crowd::open(int n, std::chrono::milliseconds budget) {
  const auto until = Clock::now() + budget;
  conns_.reserve(conns_.size() + static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    Conn c;
    c.kind = static_cast<Kind>(conns_.size() % 4);
    c.source = conns_.size() % sources_.size();
    if (Clock::now() < until) {
      start(c);
    }
    conns_.push_back(c);
  }
}

void Crowd::keep(std::chrono::milliseconds budget) {
  const auto now = Clock::now();
  const auto until = now + budget;
  for (auto& c : conns_) {
    if (c.fd >= 0 && closed_by_peer(c.fd)) {
      ::close(c.fd);
      c.fd = -1;
    }
    if (c.fd < 0) {
      if (Clock::now() < until) {
        ++reopened_;
        start(c);
      }
      continue;
    }
    if (c.kind == Kind::drip && now >= c.next_drip && c.dripped + 1 < kDripped.size()) {
      if (::send(c.fd, kDripped.data() + c.dripped, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
        ++c.dripped;
      }
      c.next_drip = now + std::chrono::seconds(1);
    }
  }
}

int Crowd::open_count() const {
  int n = 0;
  for (const auto& c : conns_) {
    n += c.fd >= 0 && !closed_by_peer(c.fd) ? 1 : 0;
  }
  return n;
}

std::pair<double, double> p50_max(std::vector<double> ms) {
  if (ms.empty()) {
    return {0, 0};
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

}  // namespace http_hostile
