// The HTTP connection cap derived from the descriptor limit: pure, no getrlimit.
#include <sys/select.h>

#include <catch2/catch.hpp>

#include "mailcanary/agent/http/descriptors.hpp"

using namespace mailcanary::agent::http;

TEST_CASE("systemd's default soft limit of 1024 leaves the reserve to the probes", "[http]") {
  // The old derivation (a quarter of the soft limit) capped HTTP at 256 here.
  const auto plan = plan_descriptors(1024, 1024);
  CHECK(plan.max_connections == 1024 - kReservedDescriptors);
  CHECK(plan.short_of_wanted);
  CHECK(plan.move_above == 0);  // nothing can reach above FD_SETSIZE
}

TEST_CASE("a raised limit holds the whole configured cap, clients above FD_SETSIZE", "[http]") {
  for (std::uint64_t soft : {std::uint64_t{2048}, std::uint64_t{65536}, std::uint64_t{524288}}) {
    const auto plan = plan_descriptors(soft, 1024);
    CHECK(plan.max_connections == 1024);
    CHECK_FALSE(plan.short_of_wanted);
    CHECK(plan.move_above == FD_SETSIZE);
  }
}

TEST_CASE("exactly the cap plus the reserve is enough; one less is short", "[http]") {
  CHECK_FALSE(plan_descriptors(1024 + kReservedDescriptors, 1024).short_of_wanted);
  const auto one_less = plan_descriptors(1023 + kReservedDescriptors, 1024);
  CHECK(one_less.short_of_wanted);
  CHECK(one_less.max_connections == 1023);
}

TEST_CASE("a limit below the reserve still allows one connection", "[http]") {
  const auto plan = plan_descriptors(64, 1024);
  CHECK(plan.max_connections == 1);
  CHECK(plan.short_of_wanted);
}

TEST_CASE("between FD_SETSIZE and cap plus reserve, the reserve stays below FD_SETSIZE", "[http]") {
  // 1,100: 76 client descriptors fit above FD_SETSIZE, the rest of the cap below it,
  // and the reserve still under FD_SETSIZE for select().
  const std::uint64_t soft = 1100;
  const auto plan = plan_descriptors(soft, 1024);
  const std::size_t above = soft - FD_SETSIZE;
  const std::size_t below = plan.max_connections - above;
  CHECK(plan.move_above == FD_SETSIZE);
  CHECK(below + kReservedDescriptors <= FD_SETSIZE);
}
