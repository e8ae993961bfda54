// Stable assignment of members to agents (shard = "i/n") and stable per-member start
// offsets for the scheduler. Pure and thread-safe.
//
// Both rest on member_hash(): FNV-1a 64 over "target/member", then the SplitMix64
// finaliser to spread FNV's weak low bits. It is fixed here, never std::hash, so every
// build and every agent computes the same values: agents sharing a config agree on who
// probes what without talking to each other.
//
// Ownership is rendezvous (highest random weight) hashing: each shard i gets a score
// derived from the member's hash and i; the highest score owns the member. Every member
// has exactly one owner, shares are even, and going from n to n+1 shards moves only the
// members the new shard wins (about 1/(n+1) of them), so most alarm state stays with the
// agent that has it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailcanary::agent {

/// FNV-1a, 64 bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
std::uint64_t fnv1a64(std::string_view bytes);

/// The member's stable hash (see above).
std::uint64_t member_hash(const std::string& target, const std::string& member);

/// The shard (1..shard_count) that probes the member; 1 when shard_count < 2.
int shard_of(const std::string& target, const std::string& member, int shard_count);

/// Whether shard `shard_index` of `shard_count` (1-based, as in the config) probes the
/// member. shard_count < 1 counts as 1; an index outside 1..shard_count owns nothing.
bool owns(const std::string& target, const std::string& member, int shard_index, int shard_count);

/// Where in each interval the member's probe starts: member_hash mod interval, in
/// 0..interval-1 ms, so members spread evenly instead of all probing at once, and keep
/// their place across restarts. 0 when interval <= 0.
std::chrono::milliseconds start_offset(const std::string& target, const std::string& member,
                                       std::chrono::milliseconds interval);

}  // namespace mailcanary::agent
