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
  CHECK_THROWS_AS(source.token(), TokenError);
  idp.fail = false;
  CHECK(source.token() == "t3");
  CHECK(source.counts().fetches == 3);
  CHECK(source.counts().failures == 2);
}
