// The server's TLS configuration ([web] tls_cert_file/tls_key_file): TLS 1.2 or later
// with OpenSSL. The certificate and key files are read again when they change (looked
// at for each new connection), so a renewed certificate needs no restart; a pair that
// does not load keeps the previous one in service (last_error() says why).
// new_session() is for one thread (the event loop); last_error() for any.
#pragma once

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>

struct ssl_ctx_st;
struct ssl_st;

namespace mailcanary::agent::http {

class TlsContext {
 public:
  /// Throws std::runtime_error naming the file that does not load.
  TlsContext(std::string cert_file, std::string key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// A server session for a new connection (nullptr when OpenSSL fails), from the
  /// certificate as it is on disk now.
  ssl_st* new_session();
  int reloads() const { return reloads_; }
  std::string last_error() const;

 private:
  using Times = std::pair<std::filesystem::file_time_type, std::filesystem::file_time_type>;
  Times file_times() const;
  std::string cert_file_;
  std::string key_file_;
  Times loaded_times_;
  ssl_ctx_st* ctx_ = nullptr;
  std::atomic<int> reloads_{0};
  mutable std::mutex mutex_;  // last_error_
  std::string last_error_;
};

/// The current OpenSSL error queue's first error as text (the queue is cleared).
std::string openssl_error();

}  // namespace mailcanary::agent::http
