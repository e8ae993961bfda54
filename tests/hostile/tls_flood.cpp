#include "tls_flood.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace http_hostile {
namespace {

enum class FloodKind { finish, garbage, stall };

struct Flooder {
  FloodKind kind = FloodKind::finish;
  std::size_t source = 0;
  int fd = -1;
  SSL* ssl = nullptr;
};

SSL_CTX* client_context() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  return ctx;
}

void drop(Flooder& f) {
  if (f.ssl) {
    SSL_free(f.ssl);
    f.ssl = nullptr;
  }
  if (f.fd >= 0) {
    ::close(f.fd);
    f.fd = -1;
  }
  ERR_clear_error();
}

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits for the socket as OpenSSL asked after `rc`; false on error or the deadline.
bool wait_tls(SSL* ssl, int fd, int rc, Clock::time_point deadline) {
  const int e = SSL_get_error(ssl, rc);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
    return false;
  }
  pollfd p{fd, static_cast<short>(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
  return ::poll(&p, 1, remaining_ms(deadline)) == 1;
}

}  // namespace

Timed timed_get_tls(const std::string& source, int port, const std::string& path) {
  static SSL_CTX* ctx = client_context();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(2);
  Timed out;
  Flooder f;
  f.fd = connect_from(source, port, std::chrono::milliseconds(remaining_ms(deadline)));
  std::string got;
  if (f.fd >= 0) {
    f.ssl = SSL_new(ctx);
    SSL_set_fd(f.ssl, f.fd);
    int rc = 0;
    // Bounded by the deadline: each wait is.
    while ((rc = SSL_connect(f.ssl)) != 1 && wait_tls(f.ssl, f.fd, rc, deadline)) {
    }
    const std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (rc == 1) {
      while ((rc = SSL_write(f.ssl, request.data(), static_cast<int>(request.size()))) <= 0 &&
             wait_tls(f.ssl, f.fd, rc, deadline)) {
      }
    }
    char buf[4096];
    // Bounded by the deadline and the answer's size.
    while (rc > 0 && got.size() < (1u << 20)) {
      rc = SSL_read(f.ssl, buf, sizeof buf);
      if (rc > 0) {
        got.append(buf, static_cast<std::size_t>(rc));
      } else if (wait_tls(f.ssl, f.fd, rc, deadline)) {
        rc = 1;
      }
    }
  }
  drop(f);
  out.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  read_answer(got, out);
  return out;
}

TlsFlood::TlsFlood(int port, std::vector<std::string> sources, int n) {
  // OpenSSL writes with write(2), the server's and the flood's alike: a peer gone must
  // not kill the test process (the agent's main ignores SIGPIPE too).
  ::signal(SIGPIPE, SIG_IGN);
  thread_ = std::thread([this, port, sources = std::move(sources), n] { run(port, sources, n); });
}

void TlsFlood::stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool TlsFlood::wait_handshakes(int count, std::chrono::milliseconds wait) const {
  const auto deadline = Clock::now() + wait;
  // Bounded by the deadline; each look waits a little on a dummy poll.
  while (handshakes_.load() < count) {
    if (Clock::now() >= deadline) {
      return false;
    }
    ::poll(nullptr, 0, 5);
  }
  return true;
}

void TlsFlood::run(int port, std::vector<std::string> sources, int n) {
  SSL_CTX* ctx = client_context();
  std::vector<Flooder> crowd(static_cast<std::size_t>(n));
  const std::string junk = std::string("\x16\x03\x01\x01\x00\x01\x00\x00\xfc", 9) +
                           std::string(252, '\x5a');  // a ClientHello of nonsense
  auto start = [&](Flooder& f) {
    f.fd = connect_from(sources[f.source], port, std::chrono::milliseconds(200));
    if (f.fd < 0) {
      return;
    }
    if (f.kind == FloodKind::garbage) {
      send_all(f.fd, junk, std::chrono::milliseconds(100));
      ++garbage_;
      return;
    }
    f.ssl = SSL_new(ctx);
    SSL_set_fd(f.ssl, f.fd);
    SSL_connect(f.ssl);  // the ClientHello; a stalling one never goes on
    stalls_ += f.kind == FloodKind::stall ? 1 : 0;
  };
  for (std::size_t i = 0; i < crowd.size(); ++i) {
    crowd[i].kind = i % 4 == 1   ? FloodKind::garbage
                    : i % 4 == 3 ? FloodKind::stall
                                 : FloodKind::finish;
    crowd[i].source = i % sources.size();
  }
  for (auto& f : crowd) {
    start(f);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  std::vector<pollfd> fds(crowd.size());
  // Bounded by stop_ and the deadline.
  while (!stop_ && Clock::now() < deadline) {
    for (std::size_t i = 0; i < crowd.size(); ++i) {
      const auto& f = crowd[i];
      // Stalling and garbage ones only wait for the server to close.
      const short wanted =
          f.kind == FloodKind::finish && f.ssl && SSL_want_write(f.ssl) ? POLLOUT : POLLIN;
      fds[i] = {f.fd, static_cast<short>(f.kind == FloodKind::finish ? wanted : POLLRDHUP), 0};
    }
    if (::poll(fds.data(), fds.size(), 20) < 0) {
      break;
    }
    for (std::size_t i = 0; i < crowd.size(); ++i) {
      auto& f = crowd[i];
      if (f.fd < 0) {
        start(f);
        continue;
      }
      if (fds[i].revents == 0) {
        continue;
      }
      if (f.kind == FloodKind::finish) {
        const int rc = SSL_connect(f.ssl);
        if (rc == 1) {
          ++handshakes_;
        } else if (const int e = SSL_get_error(f.ssl, rc);
                   e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          continue;
        }
      }
      drop(f);
      start(f);
    }
  }
  for (auto& f : crowd) {
    drop(f);
  }
  SSL_CTX_free(ctx);
}

}  // namespace http_hostile
