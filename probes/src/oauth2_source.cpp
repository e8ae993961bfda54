// The token cache: pure decisions over an injected clock and fetch.
#include <algorithm>

#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::probes {

std::chrono::steady_clock::time_point renew_at(std::chrono::steady_clock::time_point fetched,
                                               std::chrono::seconds lifetime) {
  const auto life = std::chrono::duration_cast<std::chrono::milliseconds>(lifetime);
  const auto early = std::min<std::chrono::milliseconds>(life / 10, std::chrono::minutes(1));
  return fetched + life - early;
}

TokenSource::TokenSource(TokenEndpoint endpoint, const Clock& clock, Fetch fetch)
    : endpoint_(std::move(endpoint)), clock_(clock), fetch_(std::move(fetch)) {}

std::string TokenSource::token() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  if (cached_ && now < renew_) {
    return cached_->value;
  }
  cached_.reset();
  ++counts_.fetches;
  try {
    AccessToken t = fetch_(endpoint_);
    // Timed from before the request: a slow answer does not stretch the token's life.
    renew_ = renew_at(now, t.lifetime);
    cached_ = std::move(t);
  } catch (const TokenError&) {
    ++counts_.failures;
    throw;
  }
  return cached_->value;
}

void TokenSource::rejected(const std::string& token) {
  std::lock_guard lock(mutex_);
  if (cached_ && cached_->value == token) {
    cached_.reset();  // a token fetched since then is kept
  }
}

TokenSource::Counts TokenSource::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

}  // namespace mailcanary::probes
