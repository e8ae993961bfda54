// Which TLS handshakes the event loop works on next: pure, no sockets, no clock.
//
// Answering a ClientHello costs the loop a signature with the server's key (about a
// millisecond with RSA 2048). Two hundred clients starting handshakes at once would
// make a load balancer's /health check over HTTPS, whose own handshake queues behind
// theirs, wait a few hundred milliseconds. So the loop takes at most a few handshake
// steps per turn, the connections of the client groups (client_group()) holding the
// fewest connections first, in arrival order among equals: a checker with one or two
// connections goes before a crowd from one address or one /64. Other work (requests on
// established connections, accepts) runs between the turns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace mailcanary::agent::http {

class HandshakeQueue {
 public:
  /// A connection whose handshake can go on (its socket is readable or writable).
  void push(std::uint64_t id) { waiting_.push_back(id); }
  bool empty() const { return waiting_.empty(); }
  std::size_t size() const { return waiting_.size(); }

  /// Removes and returns up to `n` ids to work on now: fewest `group_connections(id)`
  /// first, arrival order among equals. Ids for which it returns 0 (connections closed
  /// meanwhile) are dropped.
  std::vector<std::uint64_t> take(
      std::size_t n, const std::function<std::size_t(std::uint64_t)>& group_connections);

 private:
  std::vector<std::uint64_t> waiting_;  // arrival order
};

}  // namespace mailcanary::agent::http
