// The agent's HTTP endpoints (CivetWeb): /metrics, /healthz, /status and
// /health/TARGET/MEMBER for load balancers (HAProxy `option httpchk`).
// Bounded: a small thread pool, request size and timeout limits, GET/HEAD only, no
// files served. Nothing it answers contains a secret.
#pragma once

#include <functional>
#include <memory>
#include <string>

struct mg_context;
struct mg_connection;

namespace mailcanary::agent {

class WebServer {
 public:
  struct Response {
    int code = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  struct Handlers {
    std::function<std::string()> metrics;
    std::function<std::string()> status;
    std::function<Response(const std::string& target, const std::string& member)> health;
  };

  /// Listens on host:port (port 0: any free port, see port()). Throws
  /// std::runtime_error naming the address when it cannot listen.
  WebServer(const std::string& host, int port, Handlers handlers);
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  int port() const { return port_; }

  /// The answer for one request (also used by tests without sockets).
  Response answer(const std::string& method, const std::string& path) const;

 private:
  static int on_request(::mg_connection* conn, void* self);
  Handlers handlers_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

/// Decodes %XX escapes; nullopt-like empty result with ok=false on a bad escape.
bool url_decode(const std::string& in, std::string& out);

}  // namespace mailcanary::agent
