// HTTP basic authentication for the agent's endpoints ([web] basic_auth_users_file):
// users with crypt(3) hashes (bcrypt from `htpasswd -B`, or SHA-crypt), checked with
// libcrypt. Accepted credentials are remembered (as a SHA-256 of user and password,
// in memory, a bounded number) so a load balancer polling /health many times a second
// does not pay for a bcrypt each time. The users file is read again when it changes
// (looked at once a second at most): a removed user or changed password stops working
// without a restart, and a file that no longer reads keeps the previous users.
// Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
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
  /// `users` as read from `users_file` (empty: no reloading). `check_every`: how often
  /// at most the file's modification time is looked at.
  explicit BasicAuth(std::vector<config::WebUser> users, std::string users_file = "",
                     std::chrono::milliseconds check_every = std::chrono::seconds(1));

  /// True when there are users (authentication required).
  bool enabled() const { return enabled_; }
  /// Whether an "Authorization" header value (nullptr: none) names a user with its
  /// password. Always true when not enabled.
  bool allows(const char* authorization) const;
  /// The same decision when it needs no password hashing: true when not enabled or
  /// these credentials were accepted before, false when the header is missing or
  /// malformed or names no user; nullopt when only allows() (a crypt) can tell.
  std::optional<bool> quick_check(const char* authorization) const;
  /// Number of credentials remembered (for tests).
  std::size_t remembered() const;
  /// Times the users file was read again after a change (for tests).
  int reloads() const;

 private:
  struct Credentials {
    std::string user;
    std::string password;
    std::string digest;  // SHA-256 of "user\0password"
  };
  static std::optional<Credentials> credentials(const char* authorization);
  bool verify(const std::string& user, const std::string& password) const;
  void reload_if_changed() const;  // caller holds mutex_
  const bool enabled_;             // a reload never empties the users (read_web_users refuses that)
  std::string users_file_;
  std::chrono::milliseconds check_every_;
  mutable std::mutex mutex_;
  mutable std::vector<config::WebUser> users_;
  mutable std::set<std::string> accepted_;  // SHA-256 of "user\0password"
  mutable std::filesystem::file_time_type file_time_{};
  mutable std::chrono::steady_clock::time_point next_check_{};
  mutable int reloads_ = 0;
};

}  // namespace mailcanary::agent
