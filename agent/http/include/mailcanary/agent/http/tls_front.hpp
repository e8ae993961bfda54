// HTTPS for the agent's endpoints ([web] tls_cert_file/tls_key_file).
//
// Debian 12's CivetWeb 1.15 is built against the OpenSSL 1.1 API and crashes (SIGSEGV)
// after the first TLS handshake when it loads OpenSSL 3, so its own TLS cannot be used.
// TlsFront terminates TLS with OpenSSL (TLS 1.2 or later) on the configured address and
// relays each connection, in plain HTTP, to the CivetWeb server listening on a private
// loopback port. Bounded: at most kMaxConnections at once (more are closed at once),
// handshake and idle timeouts. The certificate and key files are read again when they
// change (checked at each new connection), so a renewed certificate needs no restart;
// a pair that does not load keeps the previous one (last_error() says why).
// Thread-safe; the destructor stops every connection at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

struct ssl_ctx_st;
struct ssl_st;

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
  /// Times the certificate was loaded again after a change (for tests).
  int reloads() const { return reloads_; }
  /// Why the last reload failed; empty when none did.
  std::string last_error() const;

 private:
  static ssl_ctx_st* make_context(const std::string& cert_file, const std::string& key_file,
                                  std::string& error);
  std::pair<std::filesystem::file_time_type, std::filesystem::file_time_type> file_times() const;
  void refresh_context();  // accept thread only
  void accept_loop();
  void serve(int client, ssl_st* ssl);
  std::string cert_file_;
  std::string key_file_;
  std::pair<std::filesystem::file_time_type, std::filesystem::file_time_type> loaded_times_;
  ssl_ctx_st* ctx_ = nullptr;  // replaced by the accept thread only
  std::atomic<int> reloads_{0};
  int backend_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::set<int> clients_;  // connections being served
  std::string last_error_;
};

}  // namespace mailcanary::agent
