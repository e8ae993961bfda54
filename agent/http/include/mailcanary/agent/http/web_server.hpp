// The agent's HTTP endpoints (CivetWeb): /metrics, /healthz, /status and
// /health/TARGET/MEMBER for load balancers (HAProxy `option httpchk`).
// Bounded: a small thread pool, request size and timeout limits, GET/HEAD only, no
// files served. Nothing it answers contains a secret. Optional HTTPS (TlsFront: TLS
// 1.2 or later, certificate and key files) and basic authentication ([web] in the
// config); keep-alive connections.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mailcanary/agent/http/basic_auth.hpp"
#include "mailcanary/agent/http/tls_front.hpp"
#include "mailcanary/config/config.hpp"

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

  /// Listens on host:port (port 0: any free port, see port()), with TLS and basic
  /// authentication as `web` says. Throws std::runtime_error naming the address or
  /// the file when it cannot listen or load the certificate.
  WebServer(const std::string& host, int port, Handlers handlers,
            const config::WebConfig& web = {});
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  int port() const { return port_; }

  /// The answer for one request (also used by tests without sockets).
  Response answer(const std::string& method, const std::string& path) const;

 private:
  static int on_request(::mg_connection* conn, void* self);
  Handlers handlers_;
  BasicAuth auth_;
  std::unique_ptr<TlsFront> tls_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

/// Decodes %XX escapes; nullopt-like empty result with ok=false on a bad escape.
bool url_decode(const std::string& in, std::string& out);

}  // namespace mailcanary::agent
