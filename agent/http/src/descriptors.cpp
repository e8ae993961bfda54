#include "mailcanary/agent/http/descriptors.hpp"

#include <sys/resource.h>
#include <sys/select.h>

#include <algorithm>

namespace mailcanary::agent::http {
namespace {

constexpr rlim_t kMostDescriptors = rlim_t{1} << 20;

}  // namespace

DescriptorPlan plan_descriptors(std::uint64_t soft_limit, std::size_t wanted) {
  DescriptorPlan plan;
  const std::uint64_t room =
      soft_limit > kReservedDescriptors ? soft_limit - kReservedDescriptors : 0;
  wanted = std::max<std::size_t>(wanted, 1);
  plan.max_connections = static_cast<std::size_t>(
      std::clamp<std::uint64_t>(room, 1, static_cast<std::uint64_t>(wanted)));
  plan.move_above = soft_limit > FD_SETSIZE ? FD_SETSIZE : 0;
  plan.short_of_wanted = room < wanted;
  return plan;
}

std::uint64_t raise_descriptor_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 0;
  }
  const rlim_t hard = rl.rlim_max == RLIM_INFINITY ? kMostDescriptors : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < hard) {
    rlimit raised{hard, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      rl.rlim_cur = hard;
    }
  }
  return rl.rlim_cur == RLIM_INFINITY ? kMostDescriptors : rl.rlim_cur;
}

std::uint64_t descriptor_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 0;
  }
  return rl.rlim_cur == RLIM_INFINITY ? kMostDescriptors : rl.rlim_cur;
}

}  // namespace mailcanary::agent::http
