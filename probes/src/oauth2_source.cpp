// The token cache: pure decisions over an injected clock and fetch.
#include <algorithm>

#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::probes {
namespace {
constexpr std::chrono::milliseconds kFirstQuiet{1000};
constexpr std::chrono::milliseconds kMaxQuiet{60000};
}  // namespace

std::chrono::steady_clock::time_point renew_at(std::chrono::steady_clock::time_point fetched,
                                               std::chrono::seconds lifetime) {
  const auto life = std::chrono::duration_cast<std::chrono::milliseconds>(lifetime);
  const auto early = std::min<std::chrono::milliseconds>(life / 10, std::chrono::minutes(1));
  return fetched + life - early;
}

TokenSource::TokenSource(TokenEndpoint endpoint, const Clock& clock, Fetch fetch, Observer observer)
    : endpoint_(std::move(endpoint)),
      clock_(clock),
      fetch_(std::move(fetch)),
      observer_(std::move(observer)) {}

std::string TokenSource::token() {
  std::unique_lock lock(mutex_);
  const auto now = clock_.now();
  if (cached_ && now < renew_) {
    return cached_->value;
  }
  cached_.reset();
  if (last_failure_ && now < quiet_until_) {
    throw *last_failure_;
  }
  ++counts_.fetches;
  std::optional<TokenError> failed;
  try {
    AccessToken t = fetch_(endpoint_);
    // Timed from before the request: a slow answer does not stretch the token's life.
    renew_ = renew_at(now, t.lifetime);
    cached_ = std::move(t);
    last_failure_.reset();
    failures_in_row_ = 0;
    counts_.failing = false;
  } catch (const TokenError& e) {
    ++counts_.failures;
    counts_.failing = true;
    counts_.last_error = e.what();
    last_failure_ = e;
    failed = e;
    failures_in_row_ = std::min(failures_in_row_ + 1, 7);
    quiet_until_ = clock_.now() + std::min<std::chrono::milliseconds>(
                                      kFirstQuiet * (1 << (failures_in_row_ - 1)), kMaxQuiet);
  }
  const Counts counts = counts_;
  std::string value = cached_ ? cached_->value : "";
  lock.unlock();
  if (observer_) {
    observer_(endpoint_.name, counts);
  }
  if (failed) {
    throw *failed;
  }
  return value;
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

TokenEndpoint token_endpoint(const config::OAuth2Config& section) {
  TokenEndpoint e;
  e.name = section.name;
  e.token_url = section.token_url;
  e.client_id = section.client_id;
  e.client_secret = section.client_secret;
  e.refresh_token_file = section.refresh_token_file;
  e.scope = section.scope;
  return e;
}

TokenRegistry::TokenRegistry(const Clock& clock, TokenSource::Fetch fetch,
                             TokenSource::Observer observer)
    : clock_(clock), fetch_(std::move(fetch)), observer_(std::move(observer)) {}

std::shared_ptr<TokenSource> TokenRegistry::source(const config::Config& cfg,
                                                   const std::string& name) {
  const config::OAuth2Config* section = cfg.find_oauth2(name);
  if (!section) {
    return nullptr;
  }
  TokenEndpoint endpoint = token_endpoint(*section);
  std::lock_guard lock(mutex_);
  auto& s = sources_[name];
  if (!s || !(s->endpoint() == endpoint)) {
    s = std::make_shared<TokenSource>(std::move(endpoint), clock_, fetch_, observer_);
  }
  return s;
}

}  // namespace mailcanary::probes
