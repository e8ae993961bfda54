// An event-driven HTTP/1.1 server: one thread runs an epoll loop over non-blocking
// sockets (plain or TLS on the same loop), each connection a small state machine with
// bounded buffers and a deadline in every phase (Limits). Cheap answers (Router::fast)
// are made on the loop; the rest (Router::render) on a small RenderPool, whose answers
// come back through an eventfd. So a slow client, or a slow /metrics, never keeps a
// /health check waiting. GET/HEAD without a body only (the router decides the rest).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "mailcanary/agent/http/handshake_queue.hpp"
#include "mailcanary/agent/http/limits.hpp"
#include "render_pool.hpp"
#include "tls_context.hpp"

namespace mailcanary::agent::http {

struct Request {
  std::string method;
  std::string path;
  std::optional<std::string> authorization;
  bool accepts_gzip = false;
};

struct Answer {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  int retry_after_seconds = 0;
  std::string content_encoding;  // "gzip" when body is compressed
  bool vary_accept_encoding = false;
};

struct Router {
  /// On the loop thread: the answer when it is cheap, nullopt to have it rendered.
  std::function<std::optional<Answer>(const Request&)> fast;
  /// On a pool thread; must be thread-safe.
  std::function<Answer(const Request&)> render;
};

class HttpServer {
 public:
  /// Serves a socket already listening (listener.hpp's listen_on(); owned from here on,
  /// closed even when this throws), bound to `port`. `tls` null: plain HTTP.
  HttpServer(int listen_fd, int port, Router router, std::unique_ptr<TlsContext> tls,
             const Limits& limits);
  /// Stops the loop, waits for running renders, closes every connection.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  /// Connections held now (any thread).
  std::size_t connections() const { return open_count_.load(); }
  /// The total cap in force (Limits::max_connections within the descriptor limit).
  std::size_t max_connections() const { return max_total_; }

 private:
  struct Rendered {
    std::uint64_t id;
    Answer answer;
  };
  void loop();
  void accept_some(Clock::time_point now);
  void admit(int fd, std::string address, Clock::time_point now);
  void on_event(Connection& c, std::uint32_t events, Clock::time_point now);
  void on_readable(Connection& c, Clock::time_point now);
  void run_handshakes(Clock::time_point now);
  void read_request(Connection& c, Clock::time_point now);
  void parse(Connection& c, Clock::time_point now);
  void respond(Connection& c, Answer a, Clock::time_point now);
  void on_writable(Connection& c, Clock::time_point now);
  void finished(Connection& c, Clock::time_point now);
  void take_rendered(Clock::time_point now);
  void expire(Clock::time_point now);
  void enter(Connection& c, Phase phase, Clock::time_point now, Clock::time_point deadline);
  void watch(Connection& c, std::uint32_t events);
  void close(std::uint64_t id);

  Router router_;
  std::unique_ptr<TlsContext> tls_;
  Limits limits_;
  std::size_t max_total_ = 0;
  int move_above_ = 0;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: renders done, or stop
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> open_count_{0};
  // Loop thread only:
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> conns_;
  std::unordered_map<std::string, std::size_t> per_address_;
  std::uint64_t next_id_ = 16;  // below: the listener's and the eventfd's tags
  bool listening_ = true;
  Clock::time_point resume_accept_{};
  Clock::time_point next_expiry_ = Clock::time_point::max();
  std::vector<std::uint64_t> pending_;  // kept-alive connections with a pipelined request
  HandshakeQueue handshakes_;           // TLS handshakes that can go on
  // Renders done, handed over by the pool:
  std::mutex rendered_mutex_;
  std::vector<Rendered> rendered_;
  std::unique_ptr<RenderPool> pool_;
  std::thread thread_;
};

}  // namespace mailcanary::agent::http
