// What to probe: VIP members as configured, MX members from DNS (c-ares).
#pragma once

#include <string>
#include <vector>

#include "mailcanary/agent/core/result.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/clock.hpp"
#include "mailcanary/probes/dns.hpp"

namespace mailcanary::agent {

/// The members of the targets selected by the optional filters (empty: all). MX
/// targets are resolved through `resolver` (cached by TTL there). Throws
/// std::invalid_argument naming the filter when it matches no target or member.
Discovery discover(const config::Config& cfg, const std::string& target_filter,
                   const std::string& member_filter, probes::Resolver& resolver,
                   probes::Random& random);

}  // namespace mailcanary::agent
