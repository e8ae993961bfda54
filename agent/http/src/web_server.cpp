#include "mailcanary/agent/http/web_server.hpp"

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
  const std::string method = info->request_method ? info->request_method : "";
  Response r;
  const bool allowed = server->auth_.allows(mg_get_header(conn, "Authorization"));
  if (!allowed) {
    r = {401, "text/plain; charset=utf-8", "authentication required\n"};
  } else {
    try {
      r = server->answer(method, info->local_uri ? info->local_uri : "");
    } catch (const std::exception& e) {
      r = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
  }
  mg_response_header_start(conn, r.code);
  mg_response_header_add(conn, "Content-Type", r.content_type.c_str(), -1);
  const std::string length = std::to_string(r.body.size());
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  if (!allowed) {
    mg_response_header_add(conn, "WWW-Authenticate", "Basic realm=\"mailcanary\"", -1);
  }
  mg_response_header_send(conn);
  if (method != "HEAD") {
    mg_write(conn, r.body.data(), r.body.size());
  }
  return r.code;
}

WebServer::WebServer(const std::string& host, int port, Handlers handlers,
                     const config::WebConfig& web)
    : handlers_(std::move(handlers)), auth_(web.basic_auth_users, web.basic_auth_users_file) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  const bool v6 = host.find(':') != std::string::npos;
  const std::string address = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  // With TLS, CivetWeb serves plain HTTP on a private loopback port behind TlsFront.
  const std::string ports = web.tls() ? std::string("127.0.0.1:0") : address;
  const char* options[] = {"listening_ports", ports.c_str(),
                           // A kept-alive connection holds a thread while idle: enough
                           // threads for a scraper and several load balancers at once.
                           "num_threads", "16", "request_timeout_ms", "10000",
                           "keep_alive_timeout_ms", "5000",
                           // Header and body are two writes: without this, Nagle and
                           // the client's delayed ACK add ~40 ms to each kept-alive reply.
                           "tcp_nodelay", "1", "enable_keep_alive", "yes", "max_request_size",
                           "16384", "enable_directory_listing", "no", nullptr};
  mg_callbacks callbacks{};
  mg_init_data init_data{};
  init_data.callbacks = &callbacks;
  init_data.user_data = this;
  init_data.configuration_options = options;
  char error_text[256] = "";
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;
  ctx_ = mg_start2(&init_data, &error);
  if (!ctx_) {
    const std::string why(error_text);
    throw std::runtime_error("cannot serve the HTTP endpoints on " + address +
                             (why.empty() ? "" : ": " + why));
  }
  mg_set_request_handler(ctx_, "/", on_request, this);
  mg_server_port sp[4]{};
  int n = mg_get_server_ports(ctx_, 4, sp);
  port_ = n > 0 ? sp[0].port : port;
  if (web.tls()) {
    try {
      tls_ = std::make_unique<TlsFront>(host, port, port_, web.tls_cert_file, web.tls_key_file);
    } catch (const std::exception& e) {
      mg_stop(ctx_);
      throw std::runtime_error("cannot serve HTTPS on " + address + ": " + e.what());
    }
    port_ = tls_->port();
  }
}

WebServer::~WebServer() {
  tls_.reset();
  if (ctx_) {
    mg_stop(ctx_);
  }
}

}  // namespace mailcanary::agent
