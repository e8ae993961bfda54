// Who is shed when a new client arrives at a connection cap: pure, no sockets.
#include <catch2/catch.hpp>

#include "mailcanary/agent/http/admission.hpp"

using namespace mailcanary::agent::http;

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point t0{};

Slot slot(std::uint64_t id, std::string_view address, Phase phase, int seconds) {
  return {id, address, phase, t0 + std::chrono::seconds(seconds)};
}

}  // namespace

TEST_CASE("under both caps a new connection is admitted and nothing shed", "[http]") {
  std::vector<Slot> open{slot(1, "10.0.0.1", Phase::receiving, 0)};
  auto a = admit(open, "10.0.0.1", 2, 3);
  CHECK(a.admit);
  CHECK_FALSE(a.shed);
}

TEST_CASE("at the total cap the idlest kept-alive connection goes first", "[http]") {
  std::vector<Slot> open{slot(1, "10.0.0.1", Phase::receiving, 0),
                         slot(2, "10.0.0.2", Phase::idle, 5), slot(3, "10.0.0.3", Phase::idle, 3),
                         slot(4, "10.0.0.4", Phase::answering, 1)};
  auto a = admit(open, "10.0.0.9", 10, 4);
  CHECK(a.admit);
  CHECK(a.shed == std::optional<std::uint64_t>(3));
}

TEST_CASE("without idle ones the oldest still receiving goes; answering ones never", "[http]") {
  std::vector<Slot> open{slot(1, "10.0.0.1", Phase::answering, 0),
                         slot(2, "10.0.0.2", Phase::receiving, 7),
                         slot(3, "10.0.0.3", Phase::receiving, 2)};
  CHECK(admit(open, "10.0.0.9", 10, 3).shed == std::optional<std::uint64_t>(3));
  std::vector<Slot> busy{slot(1, "10.0.0.1", Phase::answering, 0),
                         slot(2, "10.0.0.2", Phase::answering, 1)};
  auto a = admit(busy, "10.0.0.9", 10, 2);
  CHECK_FALSE(a.admit);
  CHECK_FALSE(a.shed);
}

TEST_CASE("at the per-address cap only that address's connections are shed", "[http]") {
  std::vector<Slot> open{slot(1, "10.0.0.1", Phase::idle, 0),  // another client's, idlest
                         slot(2, "10.0.0.2", Phase::receiving, 4),
                         slot(3, "10.0.0.2", Phase::receiving, 1)};
  auto a = admit(open, "10.0.0.2", 2, 100);
  CHECK(a.admit);
  CHECK(a.shed == std::optional<std::uint64_t>(3));
  // All of that address's connections are being answered: the new one is refused,
  // although another client has an idle one.
  std::vector<Slot> busy{slot(1, "10.0.0.1", Phase::idle, 0),
                         slot(2, "10.0.0.2", Phase::answering, 4)};
  CHECK_FALSE(admit(busy, "10.0.0.2", 1, 100).admit);
}

TEST_CASE("IPv6 clients are counted by their /64, IPv4 ones by address", "[http]") {
  CHECK(client_group("2001:db8:1:2::1") == "2001:db8:1:2::/64");
  CHECK(client_group("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64");
  CHECK(client_group("2001:db8:1:3::1") == "2001:db8:1:3::/64");
  CHECK(client_group("::ffff:192.0.2.7") == "192.0.2.7");
  CHECK(client_group("192.0.2.7") == "192.0.2.7");
  CHECK(client_group("::1") == "::/64");
  CHECK(client_group("not an address") == "not an address");
}

TEST_CASE("one /64 reaches the per-address cap however many addresses it uses", "[http]") {
  // Two connections from two addresses of one /64, a third from a third address: the
  // cap of 2 applies to the /64, so the oldest of its own is shed; another /64 is not.
  const std::string a = client_group("2001:db8:0:1::a");
  const std::string b = client_group("2001:db8:0:1::b");
  const std::string other = client_group("2001:db8:0:2::a");
  std::vector<Slot> open{slot(1, a, Phase::receiving, 3), slot(2, b, Phase::receiving, 1),
                         slot(3, other, Phase::receiving, 0)};
  auto third = admit(open, client_group("2001:db8:0:1:ffff::c"), 2, 100);
  CHECK(third.admit);
  CHECK(third.shed == std::optional<std::uint64_t>(2));
  auto elsewhere = admit(open, client_group("2001:db8:0:3::a"), 2, 100);
  CHECK(elsewhere.admit);
  CHECK_FALSE(elsewhere.shed);
  // IPv4-mapped IPv6 and plain IPv4 are one client.
  // (A Slot only views its address: the group must outlive it.)
  const std::string mapped = client_group("::ffff:192.0.2.7");
  std::vector<Slot> v4{slot(1, mapped, Phase::receiving, 0)};
  CHECK(admit(v4, client_group("192.0.2.7"), 1, 100).shed == std::optional<std::uint64_t>(1));
}
