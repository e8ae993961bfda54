#include "mailcanary/agent/web_server.hpp"

#include <civetweb.h>

#include <cctype>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace mailcanary::agent {

bool url_decode(const std::string& in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return true;
}

WebServer::Response WebServer::answer(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "method not allowed\n"};
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
  static constexpr std::string_view kHealth = "/health/";
  if (path.rfind(kHealth, 0) == 0) {
    std::string rest = path.substr(kHealth.size());
    auto slash = rest.find('/');
    std::string target, member;
    if (slash == std::string::npos || !url_decode(rest.substr(0, slash), target) ||
        !url_decode(rest.substr(slash + 1), member) || target.empty() || member.empty()) {
      return {404, "text/plain; charset=utf-8", "unknown target/member\n"};
    }
    return handlers_.health(target, member);
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

int WebServer::on_request(::mg_connection* conn, void* self) {
  const auto* server = static_cast<const WebServer*>(self);
  const mg_request_info* info = mg_get_request_info(conn);
  Response r;
  try {
    r = server->answer(info->request_method ? info->request_method : "",
                       info->local_uri ? info->local_uri : "");
  } catch (const std::exception& e) {
    r = {500, "text/plain; charset=utf-8", "internal error\n"};
  }
  const char* reason = r.code == 200   ? "OK"
                       : r.code == 404 ? "Not Found"
                       : r.code == 405 ? "Method Not Allowed"
                       : r.code == 503 ? "Service Unavailable"
                                       : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            r.code, reason, r.content_type.c_str(), r.body.size());
  if (std::strcmp(info->request_method ? info->request_method : "", "HEAD") != 0) {
    mg_write(conn, r.body.data(), r.body.size());
  }
  return r.code;
}

WebServer::WebServer(const std::string& host, int port, Handlers handlers)
    : handlers_(std::move(handlers)) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  const bool v6 = host.find(':') != std::string::npos;
  const std::string ports = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  const char* options[] = {"listening_ports",
                           ports.c_str(),
                           "num_threads",
                           "4",
                           "request_timeout_ms",
                           "10000",
                           "max_request_size",
                           "16384",
                           "enable_directory_listing",
                           "no",
                           nullptr};
  mg_callbacks callbacks{};
  ctx_ = mg_start(&callbacks, nullptr, options);
  if (!ctx_) {
    throw std::runtime_error("cannot listen on " + ports + " for the HTTP endpoints");
  }
  mg_set_request_handler(ctx_, "/", on_request, this);
  mg_server_port sp[4]{};
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : port;
}

WebServer::~WebServer() {
  if (ctx_) {
    mg_stop(ctx_);
  }
}

}  // namespace mailcanary::agent
