// Sockets for the HTTP server: the listening socket and the accepted ones.
#pragma once

#include <cstddef>
#include <string>

namespace mailcanary::agent::http {

/// The listen() backlog: a reconnecting crowd of a thousand fits (a full accept queue
/// drops SYNs, and a dropped SYN costs the client a 1 s retransmission).
inline constexpr int kListenBacklog = 4096;

/// A non-blocking listening socket on host:port (0: any free port); `bound_port` gets
/// the port. Throws std::runtime_error naming the address.
int listen_on(const std::string& host, int port, int& bound_port);

struct Accepted {
  int fd = -1;          // non-blocking, close-on-exec, TCP_NODELAY
  std::string address;  // the client's IP address (an IPv4-mapped one as IPv4)
  int error = 0;        // errno when fd < 0 (EAGAIN: none waiting)
};

/// Accepts one connection. With `above` > 0 the descriptor is moved to a number at or
/// above it when the limit allows: the low numbers stay free for code that waits with
/// select() (libetpan), whatever the number of HTTP clients.
Accepted accept_one(int listen_fd, int above);

}  // namespace mailcanary::agent::http
