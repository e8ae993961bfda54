// One client connection of the HTTP server and its non-blocking transport (plain TCP or
// OpenSSL on the same socket). Owned and used by the event loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "mailcanary/agent/http/admission.hpp"

struct ssl_st;

namespace mailcanary::agent::http {

using Clock = std::chrono::steady_clock;

struct Connection {
  std::uint64_t id = 0;
  int fd = -1;
  ssl_st* ssl = nullptr;  // TLS: owned; nullptr for plain HTTP
  bool handshake_done = false;
  bool handshake_queued = false;  // waiting in the server's HandshakeQueue
  bool tls_wants_write = false;   // the last TLS read wants the socket writable (or vice versa)
  std::string address;            // client_group() of the client's: the per-address cap's key
  Phase phase = Phase::receiving;
  Clock::time_point since{};     // when `phase` began
  Clock::time_point deadline{};  // what happens at it depends on the phase: close
  std::string in;                // at most Limits::max_head bytes
  // The answer being written (head and body), and how far.
  std::string out;
  std::size_t out_pos = 0;
  bool rendering = false;  // waiting for the render pool
  bool eof = false;        // the client has finished sending
  bool keep_alive = true;
  bool http10 = false;
  bool head_only = false;           // HEAD: the body is not sent
  bool linger = false;              // the answer abandons unread input: half-close, then drain
  bool draining = false;            // answered and half-closed: discarding input until close
  std::size_t drained = 0;          // bytes discarded so far
  Clock::time_point write_until{};  // the total write deadline of the current answer
  std::uint32_t events = 0;         // registered with epoll
};

enum class Io {
  progress,     // some bytes moved (or the handshake finished)
  would_block,  // nothing now; wait for the socket (tls_wants_write says which way)
  closed,       // end of stream or an error: close the connection
};

/// Continues the TLS handshake (a no-op for plain connections).
Io handshake(Connection& c);
/// Reads into `c.in` until it holds `limit` bytes or the socket has no more now.
Io read_some(Connection& c, std::size_t limit);
/// Writes `c.out` from `c.out_pos` until done or the socket is full.
Io write_some(Connection& c);
/// Ends our side of the stream (TLS close_notify, then a FIN) but keeps reading: a
/// close() with the client's bytes still unread would send a reset, and the client
/// could lose the answer (or see its end as an error).
void half_close(Connection& c);
/// Reads and discards what the client still sends (raw bytes, TLS or not), counting
/// them in `c.drained`. closed: end of stream, an error, or more than `limit` in all.
Io drain(Connection& c, std::size_t limit);
/// Closes the socket and frees the TLS session.
void close_transport(Connection& c);

}  // namespace mailcanary::agent::http
