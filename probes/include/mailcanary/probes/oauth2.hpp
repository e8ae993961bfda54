// OAuth2 access tokens for logins with XOAUTH2 or OAUTHBEARER (mailbox and SMTP): one
// request to a token endpoint (the client-credentials grant, or the refresh-token grant
// with a rotated refresh token written back), and a cache that renews a token before it
// expires and once more after a server rejected it. No token, secret or refresh token is
// ever part of an error message.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/mailbox.hpp"

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

  bool operator==(const TokenEndpoint&) const = default;
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
  struct Counts;
  /// Told after each request to the endpoint, with the section's name and the counts
  /// then (on the requesting thread, no lock held).
  using Observer = std::function<void(const std::string& name, const Counts&)>;
  TokenSource(TokenEndpoint endpoint, const Clock& clock, Fetch fetch = fetch_token,
              Observer observer = nullptr);

  /// A token to log in with: the cached one until its renew_at(), else a new one.
  /// Throws TokenError. After a failed request the endpoint is not asked again for a
  /// while (1 s, doubling with each failure in a row up to 60 s): until then token()
  /// throws the same error again, so logins that fail do not hammer the endpoint.
  std::string token();
  /// The server refused `token`: the next token() fetches a new one, unless it already did.
  void rejected(const std::string& token);

  struct Counts {
    std::uint64_t fetches = 0;   // requests to the endpoint
    std::uint64_t failures = 0;  // of those, failed
    bool failing = false;        // the last request failed
    std::string last_error;      // its message (no secret in it)
  };
  Counts counts() const;
  const TokenEndpoint& endpoint() const { return endpoint_; }

 private:
  const TokenEndpoint endpoint_;
  const Clock& clock_;
  Fetch fetch_;
  Observer observer_;
  mutable std::mutex mutex_;
  std::optional<AccessToken> cached_;
  std::chrono::steady_clock::time_point renew_{};
  std::optional<TokenError> last_failure_;
  std::chrono::steady_clock::time_point quiet_until_{};  // after a failure
  int failures_in_row_ = 0;
  Counts counts_;
};

/// The endpoint of an [[oauth2]] section.
TokenEndpoint token_endpoint(const config::OAuth2Config& section);

/// The token sources of the [[oauth2]] sections in use: one per section, shared by
/// every login that names it (the agent's watchers and SMTP workers). A section whose
/// settings changed (a reload) gets a new source, with no token cached. Thread-safe.
class TokenRegistry {
 public:
  explicit TokenRegistry(const Clock& clock, TokenSource::Fetch fetch = fetch_token,
                         TokenSource::Observer observer = nullptr);
  /// The source for section `name` of `cfg`; nullptr when there is no such section.
  std::shared_ptr<TokenSource> source(const config::Config& cfg, const std::string& name);

 private:
  const Clock& clock_;
  TokenSource::Fetch fetch_;
  TokenSource::Observer observer_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<TokenSource>> sources_;  // by section name
};

/// "XOAUTH2" or "OAUTHBEARER".
std::string_view sasl_mechanism(config::AuthMethod method);

/// The client's first SASL message, base64: XOAUTH2 "user=U^Aauth=Bearer T^A^A";
/// OAUTHBEARER "n,a=U,^Aauth=Bearer T^A^A" (',' and '=' in U escaped as RFC 5801 says).
std::string sasl_initial_response(config::AuthMethod method, std::string_view user,
                                  std::string_view token);

/// `inner` logging in with tokens from `tokens` (a reader whose auth is xoauth2 or
/// oauthbearer): every call first hands it the source's token, or why there is none.
/// When the server refuses the token, the source is told and the call is made once more
/// with a new token, so a token that expired or was revoked early fails no probe.
std::unique_ptr<MailboxReader> with_oauth2_login(std::unique_ptr<MailboxReader> inner,
                                                 std::shared_ptr<TokenSource> tokens);

}  // namespace mailcanary::probes
