// OAuth2 logins without a server: the SASL first message, the token registry, and the
// reader wrapper that hands tokens to a reader and retries once after a refusal (a fake
// reader). The real logins (Dovecot, Postfix): integration tests [oauth2].
#include <catch2/catch.hpp>

#include "fake_clock.hpp"
#include "mailcanary/agent/http/basic_auth.hpp"
#include "mailcanary/probes/oauth2.hpp"

using namespace std::chrono_literals;
using mailcanary::config::AuthMethod;
using mailcanary::probes::AccessToken;
using mailcanary::probes::LoginToken;
using mailcanary::probes::MailboxError;
using mailcanary::probes::sasl_initial_response;
using mailcanary::probes::TokenEndpoint;
using mailcanary::probes::TokenError;
using mailcanary::probes::TokenSource;

namespace {

// A reader whose server takes only the token in `accepted` (any token when empty).
class FakeReader : public mailcanary::probes::MailboxReader {
 public:
  std::string accepted;
  std::vector<LoginToken> handed;   // every set_login_token()
  std::vector<std::string> logins;  // tokens tried
  std::vector<mailcanary::probes::FoundCanary> scan(const std::set<std::string>&) override {
    const LoginToken& t = handed.back();
    if (t.value.empty()) {
      throw MailboxError("imap x: cannot log in: " + t.error, true);
    }
    logins.push_back(t.value);
    if (!accepted.empty() && t.value != accepted) {
      throw MailboxError("imap x: login refused", true, /*token_refused=*/true);
    }
    return {};
  }
  void set_login_token(const LoginToken& t) override { handed.push_back(t); }
  std::size_t foreign_seen() const override { return 0; }
};

struct Idp {
  int calls = 0;
  bool fail = false;
  TokenSource::Fetch fetch() {
    return [this](const TokenEndpoint&) {
      ++calls;
      if (fail) {
        throw TokenError("oauth2 idp: token endpoint refused: invalid_client", "invalid_client");
      }
      return AccessToken{"t" + std::to_string(calls), 3600s};
    };
  }
};

}  // namespace

TEST_CASE("the SASL first messages of XOAUTH2 and OAUTHBEARER", "[oauth2]") {
  using mailcanary::agent::base64_decode;
  CHECK(*base64_decode(sasl_initial_response(AuthMethod::xoauth2, "canary@example.test", "tok")) ==
        "user=canary@example.test\x01"
        "auth=Bearer tok\x01\x01");
  CHECK(*base64_decode(sasl_initial_response(AuthMethod::oauthbearer, "a,b=c", "tok")) ==
        "n,a=a=2Cb=3Dc,\x01"
        "auth=Bearer tok\x01\x01");
  CHECK(mailcanary::probes::sasl_mechanism(AuthMethod::oauthbearer) == "OAUTHBEARER");
}

TEST_CASE("one token source per section, a new one when the section changed", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Idp idp;
  mailcanary::probes::TokenRegistry registry(clock, idp.fetch());
  mailcanary::config::Config cfg;
  cfg.oauth2.push_back({"idp", "http://127.0.0.1:1480/token", "client", "", "secret", "", ""});
  auto a = registry.source(cfg, "idp");
  REQUIRE(a);
  CHECK(registry.source(cfg, "idp") == a);
  CHECK(registry.source(cfg, "other") == nullptr);
  CHECK(registry.source(cfg, "") == nullptr);
  cfg.oauth2[0].client_secret = "rotated";
  auto b = registry.source(cfg, "idp");
  CHECK(b != a);
  CHECK(b->endpoint().client_secret == "rotated");
}

TEST_CASE("a refused token is replaced and the call made once more", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Idp idp;
  auto source = std::make_shared<TokenSource>(TokenEndpoint{}, clock, idp.fetch());
  auto inner = std::make_unique<FakeReader>();
  FakeReader& fake = *inner;
  auto reader = mailcanary::probes::with_oauth2_login(std::move(inner), source);

  fake.accepted = "t2";  // t1 was revoked early
  CHECK_NOTHROW(reader->scan({}));
  CHECK(fake.logins == std::vector<std::string>{"t1", "t2"});
  CHECK(idp.calls == 2);

  fake.accepted = "never";  // every token refused: one retry, then the refusal stands
  fake.logins.clear();
  try {
    reader->scan({});
    FAIL("no error");
  } catch (const MailboxError& e) {
    CHECK(e.token_refused());
  }
  CHECK(fake.logins == std::vector<std::string>{"t2", "t3"});
  CHECK(idp.calls == 3);
}

TEST_CASE("without a token the reader is told why, and the endpoint is not hammered", "[oauth2]") {
  mailcanary::testing::FakeClock clock;
  Idp idp;
  idp.fail = true;
  auto source = std::make_shared<TokenSource>(TokenEndpoint{}, clock, idp.fetch());
  auto inner = std::make_unique<FakeReader>();
  FakeReader& fake = *inner;
  auto reader = mailcanary::probes::with_oauth2_login(std::move(inner), source);
  for (int i = 0; i < 50; ++i) {  // scans every 10 ms
    try {
      reader->scan({});
      FAIL("no error");
    } catch (const MailboxError& e) {
      CHECK(std::string(e.what()) ==
            "imap x: cannot log in: oauth2 idp: token endpoint refused: invalid_client");
      CHECK_FALSE(e.token_refused());
    }
    clock.advance(10ms);
  }
  CHECK(idp.calls == 1);  // within the first second after the failure
  CHECK(fake.logins.empty());
}
