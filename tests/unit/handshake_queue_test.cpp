// The order in which the HTTP event loop works on TLS handshakes: pure, no sockets.
#include <catch2/catch.hpp>

#include <map>

#include "mailcanary/agent/http/handshake_queue.hpp"

using mailcanary::agent::http::HandshakeQueue;

namespace {

using Ids = std::vector<std::uint64_t>;

}  // namespace

TEST_CASE("a lone client's handshake goes before a crowd's that came first", "[http]") {
  // Ids 1-6 from one address holding 50 connections, then 7 from a checker with one.
  std::map<std::uint64_t, std::size_t> connections{{1, 50}, {2, 50}, {3, 50}, {4, 50},
                                                   {5, 50}, {6, 50}, {7, 1}};
  auto of = [&](std::uint64_t id) { return connections.at(id); };
  HandshakeQueue q;
  for (std::uint64_t id = 1; id <= 7; ++id) {
    q.push(id);
  }
  CHECK(q.take(3, of) == Ids{7, 1, 2});
  // The rest keep their arrival order, a few per turn.
  CHECK(q.take(3, of) == Ids{3, 4, 5});
  CHECK(q.take(3, of) == Ids{6});
  CHECK(q.empty());
}

TEST_CASE("handshakes of closed connections are dropped, not taken", "[http]") {
  std::map<std::uint64_t, std::size_t> connections{{1, 2}, {2, 0}, {3, 2}};
  HandshakeQueue q;
  for (std::uint64_t id = 1; id <= 3; ++id) {
    q.push(id);
  }
  CHECK(q.take(8, [&](std::uint64_t id) { return connections.at(id); }) == Ids{1, 3});
  CHECK(q.empty());
}
