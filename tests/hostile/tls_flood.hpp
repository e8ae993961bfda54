// TLS client side of the hostile HTTP tests: a timed GET over HTTPS, and a flood of
// connections that start TLS handshakes at once and again. Every wait has a deadline.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"

namespace http_hostile {

/// One GET over TLS on a new connection from `source` to 127.0.0.1:port (the test's
/// own certificate, not verified), handshake included in `ms`; deadline 2 s.
Timed timed_get_tls(const std::string& source, int port, const std::string& path);

/// `n` connections from `sources` that all start a handshake at once, on a thread of
/// their own until stop() (or 60 s): half finish their handshake and connect again at
/// once, a quarter send a garbage ClientHello (and connect again when refused), a
/// quarter send a real ClientHello and never go on (the server's expensive part done,
/// the connection held until the server's header deadline).
class TlsFlood {
 public:
  TlsFlood(int port, std::vector<std::string> sources, int n);
  ~TlsFlood() { stop(); }
  TlsFlood(const TlsFlood&) = delete;
  TlsFlood& operator=(const TlsFlood&) = delete;

  void stop();
  /// Waits (up to `wait`) until `count` handshakes have completed; false if not.
  bool wait_handshakes(int count, std::chrono::milliseconds wait) const;
  int handshakes() const { return handshakes_.load(); }
  int garbage() const { return garbage_.load(); }
  int stalls() const { return stalls_.load(); }

 private:
  void run(int port, std::vector<std::string> sources, int n);
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::atomic<int> garbage_{0};
  std::atomic<int> stalls_{0};
  std::thread thread_;
};

}  // namespace http_hostile
