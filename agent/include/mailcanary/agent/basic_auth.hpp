// HTTP basic authentication for the agent's endpoints ([web] basic_auth_users_file):
// users with crypt(3) hashes (bcrypt from `htpasswd -B`, or SHA-crypt), checked with
// libcrypt. Accepted credentials are remembered (as a SHA-256 of user and password,
// in memory, a bounded number) so a load balancer polling /health many times a second
// does not pay for a bcrypt each time. Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mailcanary/config/config.hpp"

namespace mailcanary::agent {

/// Decodes standard base64 (with padding); nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view in);

class BasicAuth {
 public:
  explicit BasicAuth(std::vector<config::WebUser> users);

  /// True when there are users (authentication required).
  bool enabled() const { return !users_.empty(); }
  /// Whether an "Authorization" header value (nullptr: none) names a user with its
  /// password. Always true when not enabled.
  bool allows(const char* authorization) const;
  /// Number of credentials remembered (for tests).
  std::size_t remembered() const;

 private:
  bool verify(const std::string& user, const std::string& password) const;
  std::vector<config::WebUser> users_;
  mutable std::mutex mutex_;
  mutable std::set<std::string> accepted_;  // SHA-256 of "user\0password"
};

}  // namespace mailcanary::agent
