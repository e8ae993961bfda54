#include "scripted_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace hostile {

bool Conn::send(const std::string& data) const {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (stop->load()) {
        return false;
      }
      continue;
    }
    if (n <= 0) {
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool Conn::drip(const std::string& data, std::chrono::milliseconds gap) const {
  for (char c : data) {
    if (stop->load() || !send(std::string(1, c))) {
      return false;
    }
    pollfd p{fd, POLLRDHUP, 0};  // the pace of the drip; a hang-up ends it early
    if (::poll(&p, 1, static_cast<int>(gap.count())) > 0) {
      return false;
    }
  }
  return true;
}

void Conn::flood(const std::string& chunk) const {
  while (!stop->load() && send(chunk)) {
  }
}

void Conn::hold() const {
  // Bounded by the test: the server stops at its end at the latest.
  while (!stop->load()) {
    pollfd p{fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 200) > 0) {
      return;
    }
  }
}

bool Conn::await_bytes() const {
  while (!stop->load()) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 200) > 0) {
      return (p.revents & POLLIN) && !(p.revents & POLLRDHUP);
    }
  }
  return false;
}

void Conn::reset() const {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

ScriptedServer::ScriptedServer(std::string greeting, Handler handler, Fallback fallback)
    : greeting_(std::move(greeting)), handler_(std::move(handler)), fallback_(std::move(fallback)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 16) != 0 || pipe(stop_pipe_) != 0) {
    throw std::runtime_error("scripted server: cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
}

std::vector<std::string> ScriptedServer::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

void ScriptedServer::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      continue;
    }
    if (fds[1].revents) {
      return;
    }
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      continue;
    }
    timeval tv{0, 200000};  // sends wake up to look at stop_
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Conn conn{c, ++connections_, &stop_};
    converse(conn);
    close(c);
    if (stop_) {
      return;
    }
  }
}

void ScriptedServer::converse(Conn& conn) {
  if (!greeting_.empty() && !conn.send(greeting_ + "\r\n")) {
    return;
  }
  std::string buffer;
  for (;;) {
    pollfd fds[2] = {{conn.fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      continue;
    }
    if (fds[1].revents) {
      return;
    }
    char chunk[8192];
    ssize_t n = recv(conn.fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    if (buffer.size() > (1u << 20)) {
      return;  // a client gone mad: the test sees the hang-up
    }
    std::size_t eol;
    while ((eol = buffer.find("\r\n")) != std::string::npos) {
      std::string line = buffer.substr(0, eol);
      buffer.erase(0, eol + 2);
      {
        std::lock_guard lock(mutex_);
        lines_.push_back(line);
      }
      Reply r = handler_(conn, line);
      if (r == Reply::close || (r == Reply::fallback && !fallback_(conn, line))) {
        return;
      }
    }
  }
}

}  // namespace hostile
