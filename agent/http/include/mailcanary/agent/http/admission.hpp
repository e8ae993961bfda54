// Who gets a connection slot when a new client arrives: pure, no sockets, no clock.
//
// Caps: Limits::max_per_client per client address and Limits::max_connections in all.
// When a cap is reached, a connection that is only waiting is shed to make room for the
// new one: first the one idle longest between requests (kept alive), then the oldest
// one still sending its request (TLS handshake or headers: a real client finishes in
// milliseconds, a hostile one never). Connections whose request is being answered are
// never shed; if only such remain, the new connection is refused. The per-address cap
// is applied first and sheds only that address's connections, so one client can never
// push out another's.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailcanary::agent::http {

enum class Phase {
  receiving,  // TLS handshake or request head, not complete yet
  idle,       // kept alive, waiting for the next request
  answering,  // request complete: rendering or writing the answer
};

struct Slot {
  std::uint64_t id = 0;
  std::string_view address;  // client_group() of the client's; the connection's own copy
  Phase phase = Phase::receiving;
  std::chrono::steady_clock::time_point since{};  // when it entered `phase`
};

struct Admission {
  bool admit = true;
  std::optional<std::uint64_t> shed;  // to close first (admit is then true)
};

/// What the per-address cap counts by: an IPv4 address as it is (an IPv4-mapped IPv6
/// one as IPv4), an IPv6 address by its /64 ("2001:db8:1:2::/64"), since one client
/// (a subscriber, a host, an attacker) is routinely given a whole /64. Text that is no
/// IP address is returned unchanged.
std::string client_group(std::string_view address);

/// Whether a new connection from `address` (a client_group()) may be served, given
/// the `open` ones.
Admission admit(const std::vector<Slot>& open, std::string_view address, std::size_t max_per_client,
                std::size_t max_total);

}  // namespace mailcanary::agent::http
