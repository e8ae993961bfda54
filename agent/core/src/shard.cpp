#include "mailcanary/agent/core/shard.hpp"

namespace mailcanary::agent {
namespace {

// SplitMix64's output function: a bijection that mixes every input bit into every
// output bit.
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// The score of shard i for a member: the member's hash stepped by i golden-ratio
// increments (SplitMix64's state sequence), mixed.
std::uint64_t score(std::uint64_t hash, int shard) {
  constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
  return mix64(hash + kGolden * static_cast<std::uint64_t>(shard));
}

}  // namespace

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t member_hash(const std::string& target, const std::string& member) {
  std::string key;
  key.reserve(target.size() + 1 + member.size());
  key.append(target).append("/").append(member);
  return mix64(fnv1a64(key));
}

int shard_of(const std::string& target, const std::string& member, int shard_count) {
  if (shard_count < 2) {
    return 1;
  }
  const std::uint64_t h = member_hash(target, member);
  int best = 1;
  std::uint64_t best_score = score(h, 1);
  for (int i = 2; i <= shard_count; ++i) {
    const std::uint64_t s = score(h, i);
    if (s > best_score) {
      best = i;
      best_score = s;
    }
  }
  return best;
}

bool owns(const std::string& target, const std::string& member, int shard_index, int shard_count) {
  const int n = shard_count < 1 ? 1 : shard_count;
  if (shard_index < 1 || shard_index > n) {
    return false;
  }
  return shard_of(target, member, n) == shard_index;
}

std::chrono::milliseconds start_offset(const std::string& target, const std::string& member,
                                       std::chrono::milliseconds interval) {
  if (interval.count() <= 0) {
    return std::chrono::milliseconds(0);
  }
  const auto span = static_cast<std::uint64_t>(interval.count());
  return std::chrono::milliseconds(static_cast<std::int64_t>(member_hash(target, member) % span));
}

}  // namespace mailcanary::agent
