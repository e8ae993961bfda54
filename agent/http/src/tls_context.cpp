#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace mailcanary::agent::http {
namespace {

SSL_CTX* make_context(const std::string& cert_file, const std::string& key_file,
                      std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_error();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Non-blocking sockets: a partial SSL_write is retried with the same buffer, which
  // may have moved (a std::string's data after it was appended to).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
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

}  // namespace

std::string openssl_error() {
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

TlsContext::TlsContext(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {
  loaded_times_ = file_times();
  std::string error;
  ctx_ = make_context(cert_file_, key_file_, error);
  if (!ctx_) {
    throw std::runtime_error(error);
  }
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

TlsContext::Times TlsContext::file_times() const {
  std::error_code ec;
  return {std::filesystem::last_write_time(cert_file_, ec),
          std::filesystem::last_write_time(key_file_, ec)};
}

ssl_st* TlsContext::new_session() {
  const auto times = file_times();
  if (times != loaded_times_) {
    loaded_times_ = times;  // a failed load is not retried until the files change again
    std::string error;
    if (SSL_CTX* fresh = make_context(cert_file_, key_file_, error)) {
      SSL_CTX_free(ctx_);  // sessions keep their own reference
      ctx_ = fresh;
      ++reloads_;
    } else {
      std::lock_guard lock(mutex_);
      last_error_ = error;
    }
  }
  return SSL_new(ctx_);
}

std::string TlsContext::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace mailcanary::agent::http
