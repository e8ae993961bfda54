// How many HTTP connections fit in the process's descriptor limit (RLIMIT_NOFILE), and
// raising that limit at start. systemd starts services with a soft limit of 1,024 and
// a hard one far above: the soft limit alone could not hold the 1,024-connection cap
// plus what the probes and the state store need.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mailcanary::agent::http {

/// Descriptors kept for everything but HTTP clients: probe sockets (SMTP, IMAP/POP3,
/// DNS), the state database and its journal, certificate and config reads, the
/// listener, epoll and eventfd.
inline constexpr std::size_t kReservedDescriptors = 256;

struct DescriptorPlan {
  /// The total connection cap in force: `wanted`, or what the limit leaves after
  /// kReservedDescriptors (at least 1).
  std::size_t max_connections = 0;
  /// FD_SETSIZE when client descriptors are to be moved at or above it (the limit
  /// reaches beyond it), so the low ones stay for code that waits with select()
  /// (libetpan); 0 otherwise.
  int move_above = 0;
  /// The limit is too low for `wanted` plus kReservedDescriptors (worth one log line).
  bool short_of_wanted = false;
};

/// Pure: the plan for a soft descriptor limit `soft_limit` and a configured cap `wanted`.
///
/// Why the low descriptors stay safe for select(): at most soft - reserved client
/// descriptors exist, and those above FD_SETSIZE number soft - FD_SETSIZE when all are
/// taken, so at most FD_SETSIZE - reserved are below it: the reserved ones still fit
/// under FD_SETSIZE.
DescriptorPlan plan_descriptors(std::uint64_t soft_limit, std::size_t wanted);

/// Raises the soft RLIMIT_NOFILE to the hard limit (capped at 1 << 20: some containers
/// report an "unlimited" hard limit). Returns the soft limit in force afterwards.
std::uint64_t raise_descriptor_limit();

/// The soft RLIMIT_NOFILE in force now.
std::uint64_t descriptor_limit();

}  // namespace mailcanary::agent::http
