#include "mailcanary/agent/http/agent_check.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

#include "listener.hpp"
#include "mailcanary/agent/http/http_parser.hpp"

namespace mailcanary::agent {
namespace {

using Clock = std::chrono::steady_clock;

struct Client {
  int fd = -1;
  Clock::time_point deadline;
  std::string line;
};

void send_and_close(int fd, const std::string& text) {
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);  // one small line
  ::close(fd);
}

}  // namespace

AgentCheckServer::AgentCheckServer(const std::string& host, int port) {
  listen_fd_ = http::listen_on(host, port, port_);
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("agent check: cannot make a pipe");
  }
}

void AgentCheckServer::serve(Answer answer) {
  if (thread_.joinable()) {
    return;
  }
  answer_ = std::move(answer);
  thread_ = std::thread([this] { loop(); });
}

AgentCheckServer::~AgentCheckServer() {
  if (thread_.joinable()) {
    (void)!::write(wake_[1], "x", 1);
    thread_.join();
  }
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::close(listen_fd_);
}

std::string AgentCheckServer::answer_line(const std::string& request) const {
  std::string line = request;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  const auto slash = line.find('/');
  std::string target, member;
  if (slash == std::string::npos ||
      !http::url_decode(std::string_view(line).substr(0, slash), target) ||
      !http::url_decode(std::string_view(line).substr(slash + 1), member) || target.empty() ||
      member.empty()) {
    return "down # expected TARGET/MEMBER (agent-send \"TARGET/MEMBER\\n\")\n";
  }
  return answer_(target, member);
}

void AgentCheckServer::loop() {
  std::vector<Client> clients;
  // Bounded by the wake pipe: the destructor ends it.
  for (;;) {
    const auto now = Clock::now();
    int timeout_ms = -1;
    for (const auto& c : clients) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - now);
      const int ms = static_cast<int>(std::max<long long>(0, left.count()));
      timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
    }
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& c : clients) {
      fds.push_back({c.fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      continue;
    }
    if (fds[0].revents) {
      for (auto& c : clients) {
        ::close(c.fd);
      }
      return;
    }
    std::vector<Client> kept;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      bool done = false;
      if (fds[i + 2].revents) {
        char buf[256];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
          c.line.append(buf, static_cast<std::size_t>(n));
        }
        const bool ended = n == 0 || c.line.find('\n') != std::string::npos;
        if (ended || c.line.size() >= kLineLimit) {
          const std::string request = c.line.substr(0, c.line.find('\n'));
          send_and_close(c.fd, request.size() >= kLineLimit
                                   ? std::string("down # request line too long\n")
                                   : answer_line(request));
          ++answered_;
          done = true;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          ::close(c.fd);
          done = true;
        }
      }
      if (!done && Clock::now() >= c.deadline) {
        send_and_close(c.fd, c.line.empty() ? answer_line("") : answer_line(c.line));
        ++answered_;
        done = true;
      }
      if (!done) {
        kept.push_back(std::move(c));
      }
    }
    clients = std::move(kept);
    if (fds[1].revents) {
      // Bounded: at most kMaxClients accepted per pass; beyond that, refused at once.
      for (int i = 0; i < kMaxClients; ++i) {
        const auto a = http::accept_one(listen_fd_, 0);
        if (a.fd < 0) {
          break;
        }
        if (static_cast<int>(clients.size()) >= kMaxClients) {
          ::close(a.fd);
          continue;
        }
        clients.push_back({a.fd, Clock::now() + kDeadline, {}});
      }
    }
  }
}

}  // namespace mailcanary::agent
