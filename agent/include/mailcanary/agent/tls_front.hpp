// HTTPS for the agent's endpoints ([web] tls_cert_file/tls_key_file).
//
// Debian 12's CivetWeb 1.15 is built against the OpenSSL 1.1 API and crashes (SIGSEGV)
// after the first TLS handshake when it loads OpenSSL 3, so its own TLS cannot be used.
// TlsFront terminates TLS with OpenSSL (TLS 1.2 or later) on the configured address and
// relays each connection, in plain HTTP, to the CivetWeb server listening on a private
// loopback port. Bounded: at most kMaxConnections at once (more are closed at once),
// handshake and idle timeouts. Thread-safe; the destructor stops every connection.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

struct ssl_ctx_st;

namespace mailcanary::agent {

class TlsFront {
 public:
  static constexpr int kMaxConnections = 64;

  /// Listens on host:port (0: any free port) and relays to 127.0.0.1:backend_port.
  /// Throws std::runtime_error naming the file or the address on failure.
  TlsFront(const std::string& host, int port, int backend_port, const std::string& cert_file,
           const std::string& key_file);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  int port() const { return port_; }

 private:
  void accept_loop();
  void serve(int client);
  ssl_ctx_st* ctx_ = nullptr;
  int backend_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable idle_;
  int active_ = 0;
};

}  // namespace mailcanary::agent
