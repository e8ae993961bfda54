// A small OAuth2 token server of the tests' own on 127.0.0.1 (kernel-chosen port): the
// token endpoint (client-credentials and refresh-token grants, RFC 6749) issuing
// short-lived tokens, with refresh-token rotation, and an introspection endpoint
// (RFC 7662) that says whether a token is active: the one the test bed's Dovecot asks
// about XOAUTH2 and OAUTHBEARER logins, when it listens on kTestbedPort.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace itest {

class TokenServer {
 public:
  struct Options {
    std::string client_id = "mc-client";
    std::string client_secret = "mc-client-secret-7d1e";
    std::string refresh_token = "rt-first-0a9b";  // the one valid refresh token
    std::string username = "canary";              // introspection's "username" and "email"
    std::chrono::seconds lifetime{3};             // of each access token
    int port = 0;  // 0: the kernel's choice; kTestbedPort: the one the test bed's Dovecot asks
  };
  /// Where the test bed's Dovecot checks bearer tokens (dovecot-oauth2.conf.ext.in).
  static constexpr int kTestbedPort = 1480;
  /// Options for the server the test bed's Dovecot asks (on kTestbedPort), issuing tokens
  /// that live `lifetime`.
  static Options for_testbed(std::chrono::seconds lifetime) {
    Options o;
    o.port = kTestbedPort;
    o.lifetime = lifetime;
    return o;
  }
  explicit TokenServer(Options options);
  ~TokenServer();
  TokenServer(const TokenServer&) = delete;
  TokenServer& operator=(const TokenServer&) = delete;

  std::string token_url() const;       // http://127.0.0.1:PORT/token
  std::string introspect_url() const;  // http://127.0.0.1:PORT/introspect
  /// Answers take this long from now on (a slow endpoint).
  void set_delay(std::chrono::milliseconds d) { delay_ms_ = d.count(); }
  /// The refresh token in force is refused from now on (invalid_grant).
  void revoke_refresh_token();
  std::string refresh_token() const;
  int tokens_issued() const { return issued_; }
  int refusals() const { return refusals_; }
  int introspections() const { return introspections_; }
  /// Every access token issued so far (to check that none shows up in an output).
  std::vector<std::string> issued() const;

 private:
  void serve();
  void answer(int fd);
  std::string token_answer(const std::map<std::string, std::string>& form, int& status);
  std::string introspect_answer(const std::string& token);

  Options options_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<long> delay_ms_{0};
  std::atomic<int> issued_{0};
  std::atomic<int> refusals_{0};
  std::atomic<int> introspections_{0};
  mutable std::mutex mutex_;
  std::string refresh_;  // in force; empty when revoked
  int rotations_ = 0;
  std::map<std::string, std::chrono::steady_clock::time_point> tokens_;  // -> expiry
  std::thread thread_;
};

}  // namespace itest
