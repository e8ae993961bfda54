// The agent's HTTP endpoints: /metrics, /healthz, /status and /health/TARGET/MEMBER for
// load balancers (HAProxy `option httpchk`); by Prometheus conventions also a landing
// page at /, /-/healthy, /-/ready and POST /-/reload. Served by our own event-driven HTTP/1.1
// server (http_server.hpp): one loop thread answers /health and /healthz at once, a
// small pool renders /metrics and /status, every connection has header, idle and write
// deadlines, and connections are capped per client address and in total (Limits, the
// idlest shed first). GET/HEAD only, no request bodies, no files served. Nothing it
// answers contains a secret. POST only for /-/reload, which takes no body. Optional HTTPS (TLS 1.2
// or later, certificate and key files, on the same loop) and basic authentication ([web] in the
// config).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mailcanary/agent/http/basic_auth.hpp"
#include "mailcanary/agent/http/limits.hpp"
#include "mailcanary/config/config.hpp"

namespace mailcanary::agent {

namespace http {
class HttpServer;
}

class WebServer {
 public:
  /// A listening socket. The agent opens it before anything else (the state database
  /// included), so a port in use is the first and only thing said; a WebServer started
  /// later serves it. Connections that arrive in between wait in the kernel's queue.
  class BoundPort {
   public:
    /// Listens on host:port (port 0: any free port; host "": every address, IPv6 and
    /// IPv4). Throws std::runtime_error "cannot listen on HOST:PORT: <reason>".
    static BoundPort open(const std::string& host, int port);
    BoundPort(BoundPort&& other) noexcept;
    BoundPort& operator=(BoundPort&& other) noexcept;
    ~BoundPort();
    int port() const { return port_; }
    /// host:port as given (":PORT" for every address).
    const std::string& address() const { return address_; }

   private:
    friend class WebServer;
    BoundPort() = default;
    int fd_ = -1;
    int port_ = 0;
    std::string address_;
  };

  struct Response {
    int code = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
  };
  /// metrics and status run on the render threads, health on the loop thread (it must
  /// be cheap: a read of a published snapshot); all of them must be thread-safe.
  struct Handlers {
    std::function<std::string()> metrics;
    std::function<std::string()> status;
    std::function<Response(const std::string& target, const std::string& member)> health;
    /// /-/ready: true once the agent serves its restored state and has scheduled its
    /// members (503 before). Unset: always ready.
    std::function<bool()> ready;
    /// POST /-/reload: asks for a reload of the config, as SIGHUP does (it happens on
    /// the agent's own thread; the answer does not wait for it). Unset: 403.
    std::function<void()> reload;
    /// /status/TARGET/MEMBER: one member's status (JSON), on the loop thread like health.
    /// Unset: 404.
    std::function<Response(const std::string& target, const std::string& member)> member_status;
  };

  /// Listens on host:port (port 0: any free port, see port()), with TLS and basic
  /// authentication as `web` says. Throws std::runtime_error naming the address or
  /// the file when it cannot listen or load the certificate.
  WebServer(const std::string& host, int port, Handlers handlers, const config::WebConfig& web = {},
            const http::Limits& limits = {});
  /// The same on a socket opened before.
  WebServer(BoundPort bound, Handlers handlers, const config::WebConfig& web = {},
            const http::Limits& limits = {});
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  int port() const { return port_; }
  /// Connections held now (for tests).
  std::size_t connections() const;

  /// The answer for one request (also used by tests without sockets). `path` as sent,
  /// without the query: %XX escapes in TARGET and MEMBER are decoded here.
  Response answer(const std::string& method, const std::string& path) const;

 private:
  Handlers handlers_;
  BasicAuth auth_;
  std::unique_ptr<http::HttpServer> server_;
  int port_ = 0;
};

}  // namespace mailcanary::agent
