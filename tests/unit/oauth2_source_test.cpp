// TokenSource: when a cached OAuth2 token is used, renewed and refetched, with a fake
// clock and a fake endpoint (the real endpoint: integration test [oauth2]).
#include <catch2/catch.hpp>

#include "fake_clock.hpp"
#include "mailcanary/probes/oauth2.hpp"

using namespace std::chrono_literals;
using mailcanary::probes::AccessToken;
using mailcanary::probes::renew_at;
using mailcanary::probes::TokenEndpoint;
using mailcanary::probes::TokenError;
using mailcanary::probes::TokenSource;

namespace {

struct Endpoint {
  int calls = 0;
  std::chrono::seconds lifetime{3600};
  bool fail = false;
  TokenSource::Fetch fetch() {
    return [this](const TokenEndpoint&) {
      ++calls;
      if (fail) {
        throw TokenError("oauth2 idp: token endpoint refused: http 401", "invalid_client");
      }
      return AccessToken{"t" + std::to_string(calls), lifetime};
    };
  }
};

}  // namespace

TEST_CASE("renew_at: a tenth of the life early, at most a minute", "[oauth2]") {
  const std::chrono::steady_clock::time_point t0{1h};
  CHECK(renew_at(t0, 3600s) == t0 + 3540s);
  CHECK(renew_at(t0, 300s) == t0 + 270s);
  CHECK(renew_at(t0, 3s) == t0 + 2700ms);
}

TEST_CASE("a token is reused until its renewal time, then fetched again", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Endpoint idp;
  TokenSource source(TokenEndpoint{}, clock, idp.fetch());
  CHECK(source.token() == "t1");
  clock.advance(3539s);
  CHECK(source.token() == "t1");
  CHECK(idp.calls == 1);
  clock.advance(1s);
  CHECK(source.token() == "t2");
  CHECK(source.counts().fetches == 2);
}

TEST_CASE("short-lived tokens are renewed before they end", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Endpoint idp;
  idp.lifetime = 3s;
  TokenSource source(TokenEndpoint{}, clock, idp.fetch());
  int distinct = 0;
  std::string last;
  for (int i = 0; i < 100; ++i) {  // 10 s in 100 ms steps
    const std::string t = source.token();
    distinct += t != last ? 1 : 0;
    last = t;
    clock.advance(100ms);
  }
  CHECK(distinct == 4);  // renewed at 2.7 s, 5.4 s, 8.1 s
}

TEST_CASE("a rejected token is replaced once, not once per login that saw it", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Endpoint idp;
  TokenSource source(TokenEndpoint{}, clock, idp.fetch());
  const std::string first = source.token();
  source.rejected(first);
  const std::string second = source.token();
  CHECK(second != first);
  source.rejected(first);  // a second login that used the old token: no new fetch
  CHECK(source.token() == second);
  CHECK(idp.calls == 2);
}

TEST_CASE("a failed fetch caches nothing and is counted", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Endpoint idp;
  idp.fail = true;
  TokenSource source(TokenEndpoint{}, clock, idp.fetch());
  CHECK_THROWS_AS(source.token(), TokenError);
  CHECK(source.counts().failing);
  CHECK(source.counts().last_error == "oauth2 idp: token endpoint refused: http 401");
  clock.advance(1s);
  CHECK_THROWS_AS(source.token(), TokenError);
  idp.fail = false;
  clock.advance(2s);
  CHECK(source.token() == "t3");
  CHECK(source.counts().fetches == 3);
  CHECK(source.counts().failures == 2);
  CHECK_FALSE(source.counts().failing);
}

TEST_CASE("after a failure the endpoint is left alone for 1 s, doubling up to 60 s", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Endpoint idp;
  idp.fail = true;
  TokenSource source(TokenEndpoint{}, clock, idp.fetch());
  // Logins every 10 ms for 5 minutes: the endpoint is asked at 0, 1, 3, 7, 15, 31, 63,
  // 123, 183, 243 s (gaps 1, 2, 4 ... 32, then 60 s), not 30,000 times.
  std::vector<long> asked_at_ms;
  for (int i = 0; i < 30000; ++i) {
    const int before = idp.calls;
    try {
      (void)source.token();
    } catch (const TokenError& e) {
      CHECK(e.code() == "invalid_client");  // the same error while it is left alone
    }
    if (idp.calls != before) {
      asked_at_ms.push_back(i * 10L);
    }
    clock.advance(10ms);
  }
  CHECK(asked_at_ms ==
        std::vector<long>{0, 1000, 3000, 7000, 15000, 31000, 63000, 123000, 183000, 243000});
  CHECK(source.counts().fetches == 10);
  // Working again: the next request after the gap gets a token, and the gap starts anew.
  idp.fail = false;
  clock.advance(60s);
  CHECK(source.token() == "t11");
  CHECK_FALSE(source.counts().failing);
}

TEST_CASE("every request is reported to the observer, outside the source's lock", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Endpoint idp;
  std::vector<std::pair<std::string, TokenSource::Counts>> seen;
  TokenEndpoint e;
  e.name = "idp";
  TokenSource* self = nullptr;
  TokenSource source(e, clock, idp.fetch(),
                     [&](const std::string& name, const TokenSource::Counts& c) {
                       (void)self->counts();  // would deadlock under the lock
                       seen.emplace_back(name, c);
                     });
  self = &source;
  (void)source.token();
  (void)source.token();  // cached: no request, no report
  idp.fail = true;
  source.rejected("t1");
  CHECK_THROWS_AS(source.token(), TokenError);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].first == "idp");
  CHECK(seen[0].second.fetches == 1);
  CHECK_FALSE(seen[0].second.failing);
  CHECK(seen[1].second.failures == 1);
  CHECK(seen[1].second.failing);
}
