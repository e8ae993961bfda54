#include "mailcanary/agent/http/tls_front.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace mailcanary::agent {
namespace {

constexpr int kHandshakeTimeoutSeconds = 10;
constexpr int kIdleTimeoutMs = 30000;

std::string openssl_error() {
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

int listen_on(const std::string& host, int port, int& bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw std::runtime_error("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::string error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    throw std::runtime_error("cannot listen on " + host + ":" + service + ": " + error);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  bound_port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

int connect_backend(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  set_timeouts(fd, kHandshakeTimeoutSeconds);
  return fd;
}

}  // namespace

ssl_ctx_st* TlsFront::make_context(const std::string& cert_file, const std::string& key_file,
                                   std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    error = "cannot load the certificate \"" + cert_file + "\": " + openssl_error();
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = "cannot load the key \"" + key_file + "\": " + openssl_error();
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    error = "the key \"" + key_file + "\" does not match the certificate \"" + cert_file + "\"";
  }
  if (!error.empty()) {
    SSL_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

std::pair<std::filesystem::file_time_type, std::filesystem::file_time_type> TlsFront::file_times()
    const {
  std::error_code ec;
  return {std::filesystem::last_write_time(cert_file_, ec),
          std::filesystem::last_write_time(key_file_, ec)};
}

void TlsFront::refresh_context() {
  const auto times = file_times();
  if (times == loaded_times_) {
    return;
  }
  loaded_times_ = times;  // a failed load is not retried until the files change again
  std::string error;
  if (SSL_CTX* fresh = make_context(cert_file_, key_file_, error)) {
    SSL_CTX_free(ctx_);  // connections keep their own reference
    ctx_ = fresh;
    ++reloads_;
  } else {
    std::lock_guard lock(mutex_);
    last_error_ = error;
  }
}

TlsFront::TlsFront(const std::string& host, int port, int backend_port,
                   const std::string& cert_file, const std::string& key_file)
    : cert_file_(cert_file), key_file_(key_file), backend_port_(backend_port) {
  loaded_times_ = file_times();
  std::string error;
  ctx_ = make_context(cert_file, key_file, error);
  if (ctx_) {
    try {
      listen_fd_ = listen_on(host, port, port_);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (error.empty() && ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    error = std::string("pipe: ") + std::strerror(errno);
  }
  if (!error.empty()) {
    if (listen_fd_ >= 0) {
      ::close(listen_fd_);
    }
    SSL_CTX_free(ctx_);
    throw std::runtime_error(error);
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

TlsFront::~TlsFront() {
  const char byte = 1;
  (void)!::write(stop_pipe_[1], &byte, 1);
  acceptor_.join();
  {
    std::unique_lock lock(mutex_);
    // Connections poll the stop pipe; one still in its handshake is woken up here.
    for (int fd : clients_) {
      ::shutdown(fd, SHUT_RDWR);
    }
    idle_.wait(lock, [this] { return clients_.empty(); });
  }
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
  SSL_CTX_free(ctx_);
}

std::string TlsFront::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void TlsFront::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;
    }
    if (fds[1].revents) {
      return;
    }
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors or memory: the listener stays readable, so do not spin.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      continue;
    }
    refresh_context();  // a renewed certificate applies to the next connection
    SSL* ssl = SSL_new(ctx_);
    std::lock_guard lock(mutex_);
    if (!ssl || clients_.size() >= kMaxConnections) {
      SSL_free(ssl);
      ::close(client);
      continue;
    }
    clients_.insert(client);
    std::thread([this, client, ssl] {
      serve(client, ssl);
      std::lock_guard done(mutex_);
      clients_.erase(client);
      ::close(client);  // under the lock: the destructor never shuts down a reused number
      if (clients_.empty()) {
        idle_.notify_all();
      }
    }).detach();
  }
}

void TlsFront::serve(int client, ssl_st* ssl) {
  set_timeouts(client, kHandshakeTimeoutSeconds);
  const int backend = connect_backend(backend_port_);
  if (backend >= 0 && SSL_set_fd(ssl, client) == 1 && SSL_accept(ssl) == 1) {
    char buf[16384];
    for (;;) {
      if (SSL_pending(ssl) == 0) {
        pollfd fds[3] = {{client, POLLIN, 0}, {backend, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        const int n = ::poll(fds, 3, kIdleTimeoutMs);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0 || fds[2].revents) {
          break;
        }
        if (fds[1].revents) {
          const ssize_t got = ::recv(backend, buf, sizeof buf, 0);
          if (got <= 0 || SSL_write(ssl, buf, static_cast<int>(got)) <= 0) {
            break;
          }
          continue;
        }
        if (!fds[0].revents) {
          continue;
        }
      }
      const int got = SSL_read(ssl, buf, sizeof buf);
      if (got <= 0 || !write_all(backend, buf, static_cast<std::size_t>(got))) {
        break;
      }
    }
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  if (backend >= 0) {
    ::close(backend);
  }
}

}  // namespace mailcanary::agent
