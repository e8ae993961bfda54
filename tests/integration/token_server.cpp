#include "token_server.hpp"

#include "support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace itest {
namespace {

constexpr std::size_t kMaxRequest = 64 * 1024;

std::string url_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> form;
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = body.find('&', start);
    end = end == std::string::npos ? body.size() : end;
    const std::string pair = body.substr(start, end - start);
    const auto eq = pair.find('=');
    if (eq != std::string::npos) {
      form[url_decode(pair.substr(0, eq))] = url_decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
  return form;
}

// Reads one request (head and Content-Length body) within 2 s; false on anything else.
bool read_request(int fd, std::string& head, std::string& body) {
  std::string data;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::size_t want = std::string::npos;
  for (int i = 0; i < 1000 && data.size() < kMaxRequest; ++i) {
    const auto head_end = data.find("\r\n\r\n");
    if (head_end != std::string::npos && want == std::string::npos) {
      head = data.substr(0, head_end);
      std::size_t length = 0;
      const auto cl = head.find("Content-Length:");
      if (cl != std::string::npos) {
        length = std::stoul(head.substr(cl + 15));
      }
      want = head_end + 4 + length;
    }
    if (want != std::string::npos && data.size() >= want) {
      body = data.substr(head.size() + 4, want - head.size() - 4);
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  return false;
}

void send_answer(int fd, int status, const std::string& body) {
  const std::string reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : "Unauthorized";
  const std::string text =
      "HTTP/1.1 " + std::to_string(status) + " " + reason +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = send(fd, text.data() + off, text.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

TokenServer::TokenServer(Options options)
    : options_(std::move(options)), refresh_(options_.refresh_token) {
  port_ = options_.port;
  listen_fd_ = listen_on_loopback(port_, "token server");
  if (pipe(stop_pipe_) != 0) {
    throw std::runtime_error("token server: pipe failed");
  }
  thread_ = std::thread([this] { serve(); });
}

TokenServer::~TokenServer() {
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
}

std::string TokenServer::token_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/token";
}
std::string TokenServer::introspect_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/introspect";
}

void TokenServer::revoke_refresh_token() {
  std::lock_guard lock(mutex_);
  refresh_.clear();
}

std::string TokenServer::refresh_token() const {
  std::lock_guard lock(mutex_);
  return refresh_;
}

void TokenServer::serve() {
  for (int c = accept_unless_stopped(listen_fd_, stop_pipe_[0]); c >= 0;
       c = accept_unless_stopped(listen_fd_, stop_pipe_[0])) {
    answer(c);
    close(c);
  }
}

void TokenServer::answer(int fd) {
  std::string head, body;
  if (!read_request(fd, head, body)) {
    return;
  }
  if (const long d = delay_ms_; d > 0) {
    pollfd p{stop_pipe_[0], POLLIN, 0};
    poll(&p, 1, static_cast<int>(d));  // a slow endpoint, cut short when the test ends
  }
  int status = 200;
  std::string answer_body;
  if (head.rfind("POST /token ", 0) == 0) {
    answer_body = token_answer(parse_form(body), status);
  } else if (head.find(" /introspect") != std::string::npos) {
    // RFC 7662 (POST, token=...) or Dovecot's "auth" mode (Authorization: Bearer ...).
    std::string token = parse_form(body)["token"];
    const auto bearer = head.find("Authorization: Bearer ");
    if (token.empty() && bearer != std::string::npos) {
      token = head.substr(bearer + 22, head.find("\r\n", bearer) - bearer - 22);
    }
    ++introspections_;
    answer_body = introspect_answer(token);
  } else {
    status = 400;
    answer_body = R"({"error":"invalid_request"})";
  }
  send_answer(fd, status, answer_body);
}

std::string TokenServer::token_answer(const std::map<std::string, std::string>& form, int& status) {
  const auto get = [&](const char* k) {
    auto it = form.find(k);
    return it == form.end() ? std::string() : it->second;
  };
  std::lock_guard lock(mutex_);
  if (get("client_id") != options_.client_id || get("client_secret") != options_.client_secret) {
    ++refusals_;
    status = 401;
    return R"({"error":"invalid_client","error_description":"client authentication failed"})";
  }
  nlohmann::json j;
  if (get("grant_type") == "refresh_token") {
    if (refresh_.empty() || get("refresh_token") != refresh_) {
      ++refusals_;
      status = 400;
      return R"({"error":"invalid_grant","error_description":"refresh token revoked or unknown"})";
    }
    refresh_ = options_.refresh_token + "-r" + std::to_string(++rotations_);  // rotated
    j["refresh_token"] = refresh_;
  } else if (get("grant_type") != "client_credentials") {
    ++refusals_;
    status = 400;
    return R"({"error":"unsupported_grant_type"})";
  }
  const std::string token = "at-" + std::to_string(++issued_) + "-" + std::to_string(port_);
  tokens_[token] = std::chrono::steady_clock::now() + options_.lifetime;
  j["access_token"] = token;
  j["token_type"] = "Bearer";
  j["expires_in"] = options_.lifetime.count();
  return j.dump();
}

std::string TokenServer::introspect_answer(const std::string& token) {
  std::lock_guard lock(mutex_);
  const auto it = tokens_.find(token);
  if (it == tokens_.end() || std::chrono::steady_clock::now() >= it->second) {
    return R"({"active":false})";
  }
  return nlohmann::json{
      {"active", true}, {"username", options_.username}, {"email", options_.username}}
      .dump();
}

std::vector<std::string> TokenServer::issued() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [token, expiry] : tokens_) {
    out.push_back(token);
  }
  return out;
}

}  // namespace itest
