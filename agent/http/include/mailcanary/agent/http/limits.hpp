// The HTTP server's limits: fixed defaults (README, [web]), overridable by tests.
#pragma once

#include <chrono>
#include <cstddef>

namespace mailcanary::agent::http {

struct Limits {
  /// Connections at once, all clients together (also capped by the process's soft
  /// descriptor limit less kReservedDescriptors, so the probes keep theirs:
  /// descriptors.hpp).
  std::size_t max_connections = 1024;
  /// Connections at once from one client address.
  std::size_t max_per_client = 64;
  /// From the connection's first byte (or its accept, TLS handshake included) to the
  /// end of a request's headers.
  std::chrono::milliseconds header_timeout{5000};
  /// A kept-alive connection waiting for its next request.
  std::chrono::milliseconds idle_timeout{30000};
  /// Writing a response: without any progress, and in total.
  std::chrono::milliseconds write_stall_timeout{10000};
  std::chrono::milliseconds write_timeout{60000};
  /// A render (/metrics, /status, a first bcrypt) from its request to its answer.
  std::chrono::milliseconds render_timeout{60000};
  /// Request line and headers together.
  std::size_t max_head = 8192;
  /// Threads that render /metrics and /status and check new passwords, and how many
  /// such requests may wait for them (more get 503 with Retry-After).
  int render_threads = 2;
  std::size_t max_queued_renders = 64;
};

}  // namespace mailcanary::agent::http
