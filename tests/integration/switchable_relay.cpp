// SwitchableRelay (support.hpp): a relay to an upstream SMTP server that can be switched
// to fail, drop or hold, for outages and partial failures on the real test bed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "support.hpp"

namespace itest {

SwitchableRelay::SwitchableRelay(std::string upstream_host, int upstream_port)
    : upstream_host_(std::move(upstream_host)), upstream_port_(upstream_port) {
  listen_fd_ = listen_on_loopback(port_, "relay");
  if (pipe(stop_pipe_) != 0) {
    throw std::runtime_error("relay: pipe failed");
  }
  thread_ = std::thread([this] { serve(); });
}

SwitchableRelay::~SwitchableRelay() {
  stop_ = true;
  (void)!write(stop_pipe_[1], "x", 1);
  thread_.join();
  {
    std::lock_guard lock(threads_mutex_);
    for (auto& t : threads_) {
      t.join();
    }
  }
  close(listen_fd_);
  close(stop_pipe_[0]);
  close(stop_pipe_[1]);
}

void SwitchableRelay::serve() {
  for (;;) {
    const int c = accept_unless_stopped(listen_fd_, stop_pipe_[0]);
    if (c < 0) {
      return;
    }
    std::lock_guard lock(threads_mutex_);
    Mode mode = mode_.load();
    const int every = fail_every_.load();
    if (mode == Mode::forward && every > 0 && counted_++ % every == 0) {
      mode = Mode::tempfail;
    }
    threads_.emplace_back([this, c, mode] {
      switch (mode) {
        case Mode::forward:
          relay(c);
          break;
        case Mode::tempfail:
        case Mode::discard:
          answer_smtp(c, mode);
          break;
        case Mode::hold: {
          pollfd p[2] = {{c, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
          while (!stop_ && poll(p, 2, 100) >= 0 && !p[1].revents) {
            char buf[512];
            if (p[0].revents && recv(c, buf, sizeof buf, 0) <= 0) {
              break;
            }
          }
          break;
        }
      }
      close(c);
    });
  }
}

void SwitchableRelay::relay(int client) {
  int up = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  inet_pton(AF_INET, upstream_host_.c_str(), &addr.sin_addr);
  if (connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(up);
    return;
  }
  char buf[16384];
  // Bounded by the peers closing or the relay stopping (100 ms poll slices).
  while (!stop_) {
    pollfd fds[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
    int n = poll(fds, 2, 100);
    if (n < 0) {
      break;
    }
    bool closed = false;
    for (int i = 0; i < 2 && !closed; ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t got = recv(fds[i].fd, buf, sizeof buf, 0);
        if (got <= 0 || !send_all(fds[1 - i].fd, std::string(buf, static_cast<std::size_t>(got)))) {
          closed = true;
        }
      }
    }
    if (closed) {
      break;
    }
  }
  close(up);
}

// tempfail: 451 at RCPT. discard: everything accepted, the message read up to its
// final dot, answered 250 and dropped.
void SwitchableRelay::answer_smtp(int client, Mode mode) {
  send_all(client, "220 relay.test ESMTP\r\n");
  std::string buffer;
  bool in_body = false;
  char chunk[4096];
  while (!stop_) {
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) {
      continue;
    }
    ssize_t n = recv(client, chunk, sizeof chunk, 0);
    if (n <= 0) {
      return;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (;;) {
      if (in_body) {
        // The body starts after a line end, so "\r\n.\r\n" also finds an empty one.
        auto end = buffer.find("\r\n.\r\n");
        if (end == std::string::npos) {
          buffer.erase(0, buffer.size() > 4 ? buffer.size() - 4 : 0);  // keep a split end
          break;
        }
        buffer.erase(0, end + 5);
        in_body = false;
        send_all(client, "250 2.0.0 Ok: queued as DISCARDED\r\n");
        continue;
      }
      std::size_t eol = buffer.find("\r\n");
      if (eol == std::string::npos) {
        break;
      }
      std::string verb = buffer.substr(0, std::min<std::size_t>(4, eol));
      buffer.erase(0, eol + 2);
      for (auto& ch : verb) {
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      }
      if (verb == "QUIT") {
        send_all(client, "221 bye\r\n");
        return;
      }
      if (verb == "RCPT" && mode == Mode::tempfail) {
        send_all(client, "451 4.3.0 relay says try later\r\n");
      } else if (verb == "DATA" && mode == Mode::discard) {
        send_all(client, "354 go ahead\r\n");
        buffer.insert(0, "\r\n");
        in_body = true;
      } else {
        send_all(client, "250 ok\r\n");
      }
    }
  }
}

}  // namespace itest
