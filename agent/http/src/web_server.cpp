#include "mailcanary/agent/http/web_server.hpp"

#include <unistd.h>

#include <stdexcept>
#include <string_view>
#include <utility>

#include "http_server.hpp"
#include "listener.hpp"
#include "mailcanary/agent/http/gzip.hpp"
#include "mailcanary/agent/http/http_parser.hpp"

namespace mailcanary::agent {
namespace {

http::Answer to_answer(WebServer::Response r) {
  return {r.code, std::move(r.content_type), std::move(r.body), 0, "", false};
}

const char* authorization(const http::Request& r) {
  return r.authorization ? r.authorization->c_str() : nullptr;
}

constexpr std::string_view kLandingPage = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>mailcanary</title></head>
<body><h1>mailcanary</h1>
<p>Mail-flow monitoring: a signed canary through every MX and VIP member, confirmed in its mailbox.</p>
<ul>
<li><a href="metrics">/metrics</a>: Prometheus metrics</li>
<li><a href="status">/status</a>: every member's state and recent results (JSON)</li>
<li>/status/TARGET/MEMBER: one member's state (JSON; where a pushed alert links)</li>
<li>/health/TARGET/MEMBER: one member's health for a load balancer (200 UP, 503 DOWN)</li>
<li><a href="healthz">/healthz</a>, <a href="-/healthy">/-/healthy</a>: the agent is running</li>
<li><a href="-/ready">/-/ready</a>: 200 once the members are scheduled, 503 before</li>
<li>POST /-/reload: reload the config, as SIGHUP does</li>
</ul></body></html>
)";

const http::Answer kUnauthorized{
    401, "text/plain; charset=utf-8", "authentication required\n", 0, "", false};

}  // namespace

WebServer::Response WebServer::answer(const std::string& method, const std::string& path) const {
  if (path == "/-/reload") {
    if (!handlers_.reload) {
      return {403, "text/plain; charset=utf-8",
              "POST /-/reload is off: [web] reload_endpoint = true turns it on\n"};
    }
    if (method != "POST" && method != "PUT") {
      return {405, "text/plain; charset=utf-8", "use POST to reload the config\n"};
    }
    handlers_.reload();
    return {200, "text/plain; charset=utf-8", "reloading the config\n"};
  }
  if (method != "GET" && method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  }
  if (path == "/") {
    return {200, "text/html; charset=utf-8", std::string(kLandingPage)};
  }
  if (path == "/-/healthy") {
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  if (path == "/-/ready") {
    if (handlers_.ready && !handlers_.ready()) {
      return {503, "text/plain; charset=utf-8",
              "not ready: the members are not scheduled yet (first discovery)\n"};
    }
    return {200, "text/plain; charset=utf-8", "ready\n"};
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", handlers_.metrics()};
  }
  if (path == "/healthz") {
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  if (path == "/status") {
    return {200, "application/json", handlers_.status()};
  }
  // /health/TARGET/MEMBER and /status/TARGET/MEMBER, each part URL-encoded or not.
  for (const std::string_view prefix :
       {std::string_view("/health/"), std::string_view("/status/")}) {
    if (path.rfind(prefix, 0) != 0) {
      continue;
    }
    const std::string_view rest = std::string_view(path).substr(prefix.size());
    const auto slash = rest.find('/');
    std::string target, member;
    const bool health = prefix == "/health/";
    if (slash == std::string::npos || !http::url_decode(rest.substr(0, slash), target) ||
        !http::url_decode(rest.substr(slash + 1), member) || target.empty() || member.empty() ||
        (!health && !handlers_.member_status)) {
      return {404, "text/plain; charset=utf-8", "unknown target/member\n"};
    }
    return health ? handlers_.health(target, member) : handlers_.member_status(target, member);
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

WebServer::BoundPort WebServer::BoundPort::open(const std::string& host, int port) {
  BoundPort b;
  const bool v6 = host.find(':') != std::string::npos;
  b.address_ = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  b.fd_ = http::listen_on(host, port, b.port_);
  return b;
}

WebServer::BoundPort::BoundPort(BoundPort&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_), address_(std::move(other.address_)) {}

WebServer::BoundPort& WebServer::BoundPort::operator=(BoundPort&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
    address_ = std::move(other.address_);
  }
  return *this;
}

WebServer::BoundPort::~BoundPort() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

WebServer::WebServer(const std::string& host, int port, Handlers handlers,
                     const config::WebConfig& web, const http::Limits& limits)
    : WebServer(BoundPort::open(host, port), std::move(handlers), web, limits) {}

WebServer::WebServer(BoundPort bound, Handlers handlers, const config::WebConfig& web,
                     const http::Limits& limits)
    : handlers_(std::move(handlers)), auth_(web.basic_auth_users, web.basic_auth_users_file) {
  const std::string address = bound.address();
  std::unique_ptr<http::TlsContext> tls;
  if (web.tls()) {
    try {
      tls = std::make_unique<http::TlsContext>(web.tls_cert_file, web.tls_key_file);
    } catch (const std::exception& e) {
      throw std::runtime_error("cannot serve HTTPS on " + address + ": " + e.what());
    }
  }
  http::Router router;
  // On the loop thread: everything but a render or a password not checked before.
  router.fast = [this](const http::Request& r) -> std::optional<http::Answer> {
    const auto allowed = auth_.quick_check(authorization(r));
    if (!allowed) {
      return std::nullopt;
    }
    if (!*allowed) {
      return kUnauthorized;
    }
    const bool get = r.method == "GET" || r.method == "HEAD";
    if (get && (r.path == "/metrics" || r.path == "/status")) {
      return std::nullopt;
    }
    return to_answer(answer(r.method, r.path));
  };
  router.render = [this](const http::Request& r) {
    if (!auth_.allows(authorization(r))) {
      return kUnauthorized;
    }
    auto a = to_answer(answer(r.method, r.path));
    // /metrics and /status: gzip for a client that asks (Prometheus does), compressed
    // here on a render thread, never on the loop.
    a.vary_accept_encoding = true;
    if (r.accepts_gzip && a.code == 200 && a.body.size() >= http::kGzipAtLeast) {
      if (auto packed = http::gzip(a.body)) {
        a.body = std::move(*packed);
        a.content_encoding = "gzip";
      }
    }
    return a;
  };
  try {
    const int port = bound.port();
    server_ = std::make_unique<http::HttpServer>(std::exchange(bound.fd_, -1), port,
                                                 std::move(router), std::move(tls), limits);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serve the HTTP endpoints on " + address + ": " + e.what());
  }
  port_ = server_->port();
}

WebServer::~WebServer() = default;

std::size_t WebServer::connections() const {
  return server_->connections();
}

}  // namespace mailcanary::agent
