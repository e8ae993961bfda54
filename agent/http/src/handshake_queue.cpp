#include "mailcanary/agent/http/handshake_queue.hpp"

#include <algorithm>
#include <utility>

namespace mailcanary::agent::http {

std::vector<std::uint64_t> HandshakeQueue::take(
    std::size_t n, const std::function<std::size_t(std::uint64_t)>& group_connections) {
  std::vector<std::pair<std::size_t, std::size_t>> order;  // (connections, position)
  order.reserve(waiting_.size());
  std::vector<bool> keep(waiting_.size(), false);
  for (std::size_t i = 0; i < waiting_.size(); ++i) {
    if (const auto weight = group_connections(waiting_[i]); weight > 0) {
      order.emplace_back(weight, i);
      keep[i] = true;
    }
  }
  // Pairs compare by connections, then by position: arrival order among equals.
  const std::size_t count = std::min(n, order.size());
  const auto middle = order.begin() + static_cast<std::ptrdiff_t>(count);
  std::partial_sort(order.begin(), middle, order.end());
  std::vector<std::uint64_t> now;
  now.reserve(count);
  for (auto it = order.begin(); it != middle; ++it) {
    now.push_back(waiting_[it->second]);
    keep[it->second] = false;
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < waiting_.size(); ++i) {
    if (keep[i]) {
      waiting_[kept++] = waiting_[i];
    }
  }
  waiting_.resize(kept);
  return now;
}

}  // namespace mailcanary::agent::http
