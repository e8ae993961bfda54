#include "listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mailcanary::agent::http {

namespace {

// The port a listening socket got (the one asked for, or the kernel's pick for 0).
int local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// Every address: one IPv6 socket that also takes IPv4 (IPV6_V6ONLY off), or an IPv4 one
// where the host has no IPv6.
int listen_on_every_address(int port, int& bound_port) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in6 a6{};
  sockaddr_in a4{};
  const sockaddr* address = reinterpret_cast<const sockaddr*>(&a6);
  socklen_t length = sizeof a6;
  if (fd >= 0) {
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons(static_cast<std::uint16_t>(port));
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      throw std::runtime_error("cannot listen on :" + std::to_string(port) + ": " +
                               std::strerror(errno));
    }
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    a4.sin_port = htons(static_cast<std::uint16_t>(port));
    address = reinterpret_cast<const sockaddr*>(&a4);
    length = sizeof a4;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, address, length) != 0 || ::listen(fd, kListenBacklog) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("cannot listen on :" + std::to_string(port) +
                             " (every address): " + error);
  }
  bound_port = local_port(fd);
  return fd;
}

}  // namespace

int listen_on(const std::string& host, int port, int& bound_port) {
  if (host.empty()) {
    return listen_on_every_address(port, bound_port);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::string error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // The kernel's queue of finished handshakes: large, so a burst of clients waits
    // there (the kernel caps it at net.core.somaxconn) rather than in SYN retries.
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    throw std::runtime_error("cannot listen on " + host + ":" + service + ": " + error);
  }
  bound_port = local_port(fd);
  return fd;
}

Accepted accept_one(int listen_fd, int above) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  Accepted a;
  a.fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (a.fd < 0) {
    a.error = errno;
    return a;
  }
  if (above > 0 && a.fd < above) {
    if (const int moved = ::fcntl(a.fd, F_DUPFD_CLOEXEC, above); moved >= 0) {
      ::close(a.fd);
      a.fd = moved;
    }
  }
  int one = 1;
  setsockopt(a.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char text[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
  } else if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, text, sizeof text);
  }
  a.address = text;
  return a;
}

}  // namespace mailcanary::agent::http
