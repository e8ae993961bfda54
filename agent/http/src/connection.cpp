#include "connection.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace mailcanary::agent::http {
namespace {

// What an OpenSSL call's failure means for a non-blocking socket.
Io tls_status(Connection& c, int rc) {
  switch (SSL_get_error(c.ssl, rc)) {
    case SSL_ERROR_WANT_READ:
      c.tls_wants_write = false;
      return Io::would_block;
    case SSL_ERROR_WANT_WRITE:
      c.tls_wants_write = true;
      return Io::would_block;
    default:
      ERR_clear_error();
      return Io::closed;
  }
}

}  // namespace

Io handshake(Connection& c) {
  if (!c.ssl || c.handshake_done) {
    return Io::progress;
  }
  const int rc = SSL_do_handshake(c.ssl);
  if (rc == 1) {
    c.handshake_done = true;
    c.tls_wants_write = false;
    return Io::progress;
  }
  return tls_status(c, rc);
}

Io read_some(Connection& c, std::size_t limit) {
  char buf[4096];
  bool moved = false;
  // Bounded: each turn adds at least one byte, up to `limit`.
  while (c.in.size() < limit) {
    const std::size_t want = std::min(sizeof buf, limit - c.in.size());
    if (c.ssl) {
      const int n = SSL_read(c.ssl, buf, static_cast<int>(want));
      if (n <= 0) {
        const Io s = tls_status(c, n);
        return s == Io::would_block && moved ? Io::progress : s;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
    } else {
      const ssize_t n = ::recv(c.fd, buf, want, 0);
      if (n == 0) {
        return Io::closed;
      }
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return moved ? Io::progress : Io::would_block;
        }
        return Io::closed;
      }
      c.in.append(buf, static_cast<std::size_t>(n));
    }
    moved = true;
  }
  return Io::progress;
}

Io write_some(Connection& c) {
  bool moved = false;
  // Bounded: each turn writes at least one byte of what is left.
  while (c.out_pos < c.out.size()) {
    const std::size_t left = c.out.size() - c.out_pos;
    if (c.ssl) {
      const int chunk = static_cast<int>(std::min<std::size_t>(left, 1 << 20));
      const int n = SSL_write(c.ssl, c.out.data() + c.out_pos, chunk);
      if (n <= 0) {
        const Io s = tls_status(c, n);
        return s == Io::would_block && moved ? Io::progress : s;
      }
      c.out_pos += static_cast<std::size_t>(n);
    } else {
      const ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, left, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return moved ? Io::progress : Io::would_block;
        }
        return Io::closed;
      }
      c.out_pos += static_cast<std::size_t>(n);
    }
    moved = true;
  }
  return Io::progress;
}

void half_close(Connection& c) {
  if (c.ssl && c.handshake_done) {
    SSL_shutdown(c.ssl);  // one non-blocking attempt at close_notify
    ERR_clear_error();
    c.handshake_done = false;  // not again at close_transport
  }
  ::shutdown(c.fd, SHUT_WR);
}

Io drain(Connection& c, std::size_t limit) {
  char buf[4096];
  // Bounded: each turn discards at least one byte, and stops past `limit`.
  while (c.drained <= limit) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) {
      return Io::closed;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno == EAGAIN || errno == EWOULDBLOCK ? Io::would_block : Io::closed;
    }
    c.drained += static_cast<std::size_t>(n);
  }
  return Io::closed;
}

void close_transport(Connection& c) {
  if (c.ssl) {
    if (c.handshake_done) {
      SSL_shutdown(c.ssl);  // one non-blocking attempt at close_notify; no wait
    }
    ERR_clear_error();
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) {
    ::close(c.fd);
    c.fd = -1;
  }
}

}  // namespace mailcanary::agent::http
