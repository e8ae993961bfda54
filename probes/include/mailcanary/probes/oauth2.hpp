// OAuth2 access tokens for logins with XOAUTH2 or OAUTHBEARER (mailbox and SMTP): one
// request to a token endpoint (the client-credentials grant, or the refresh-token grant
// with a rotated refresh token written back), and a cache that renews a token before it
// expires and once more after a server rejected it. No token, secret or refresh token is
// ever part of an error message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "mailcanary/probes/clock.hpp"

namespace mailcanary::probes {

struct TokenEndpoint {
  std::string name;  // the [[oauth2]] section, for messages
  std::string token_url;
  std::string client_id;
  std::string client_secret;
  std::string refresh_token_file;  // empty: the client-credentials grant
  std::string scope;               // empty: none sent
  std::string ca_file;             // empty: the system's CAs
  bool tls_verify = true;
  std::chrono::milliseconds timeout{10000};  // the whole request
};

struct AccessToken {
  std::string value;
  std::chrono::seconds lifetime{0};  // expires_in (3600 when the endpoint gives none)
};

/// The endpoint refused (its `error` field, e.g. "invalid_client", "invalid_grant") or
/// could not be asked ("connect", "timeout", "http 503", "bad answer", "refresh token").
class TokenError : public std::runtime_error {
 public:
  TokenError(const std::string& what, std::string code)
      : std::runtime_error(what), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/// One POST to the token endpoint (libcurl; http or https only, no redirects, the answer
/// at most 64 KiB). With refresh_token_file: the refresh-token grant, and a new refresh
/// token in the answer replaces the file's (written atomically, mode 0600). Throws
/// TokenError.
AccessToken fetch_token(const TokenEndpoint& endpoint);

/// When a token fetched at `fetched` that lives `lifetime` is renewed: a tenth of its
/// life before it ends, but at most a minute before.
std::chrono::steady_clock::time_point renew_at(std::chrono::steady_clock::time_point fetched,
                                               std::chrono::seconds lifetime);

/// A cached token per endpoint, shared by the logins that use it. Thread-safe.
class TokenSource {
 public:
  using Fetch = std::function<AccessToken(const TokenEndpoint&)>;
  TokenSource(TokenEndpoint endpoint, const Clock& clock, Fetch fetch = fetch_token);

  /// A token to log in with: the cached one until its renew_at(), else a new one.
  /// Throws TokenError (nothing is cached then: the next call asks again).
  std::string token();
  /// The server refused `token`: the next token() fetches a new one, unless it already did.
  void rejected(const std::string& token);

  struct Counts {
    std::uint64_t fetches = 0;   // requests to the endpoint
    std::uint64_t failures = 0;  // of those, failed
  };
  Counts counts() const;
  const TokenEndpoint& endpoint() const { return endpoint_; }

 private:
  const TokenEndpoint endpoint_;
  const Clock& clock_;
  Fetch fetch_;
  mutable std::mutex mutex_;
  std::optional<AccessToken> cached_;
  std::chrono::steady_clock::time_point renew_{};
  Counts counts_;
};

}  // namespace mailcanary::probes
