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
