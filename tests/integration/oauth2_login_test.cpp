// mailcanary's own OAuth2 logins against the test bed: its IMAP and POP3 readers and its
// SMTP submission log in with XOAUTH2 and OAUTHBEARER with tokens from the tests' token
// server (which Dovecot asks by introspection), a refused token is replaced once, token
// endpoint failures are their own clear result, an agent keeps every probe ok across
// several token lifetimes and shows an endpoint outage in its metrics, and no token,
// client secret or refresh token shows up in any output.
#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "mailcanary/probes/isolated_reader.hpp"
#include "mailcanary/probes/oauth2.hpp"
#include "support.hpp"
#include "token_server.hpp"

using mailcanary::config::AuthMethod;
using mailcanary::config::MailboxProtocol;

namespace {

std::string secrets_dir() {
  return itest::source_dir() + "/tests/testbed/secrets/";
}

std::string hmac_key() {
  std::string k = itest::read_file(secrets_dir() + "hmac.key");
  while (!k.empty() && (k.back() == '\n' || k.back() == '\r')) {
    k.pop_back();
  }
  return k;
}

mailcanary::probes::TokenEndpoint endpoint(const itest::TokenServer& server,
                                           const itest::TokenServer::Options& o) {
  mailcanary::probes::TokenEndpoint e;
  e.name = "idp";
  e.token_url = server.token_url();
  e.client_id = o.client_id;
  e.client_secret = o.client_secret;
  return e;
}

mailcanary::config::MailboxConfig oauth_mailbox(MailboxProtocol protocol, AuthMethod method) {
  mailcanary::config::MailboxConfig c;
  c.name = "inbox";
  c.protocol = protocol;
  c.server = {"127.0.0.1",
              static_cast<std::uint16_t>(protocol == MailboxProtocol::pop3 ? 1110 : 1143)};
  c.user = "canary";
  c.auth = method;
  c.oauth2 = "idp";
  return c;
}

// [[oauth2]] "idp" at `token_url` with the client secret in `secret_file`.
std::string oauth2_section(const std::string& token_url, const std::string& secret_file,
                           const std::string& extra = "") {
  return "[[oauth2]]\nname = \"idp\"\ntoken_url = \"" + token_url +
         "\"\nclient_id = \"mc-client\"\nclient_secret_file = \"" + secret_file + "\"\n" + extra +
         "\n";
}

// A [[mailbox]] logging in with a token of "idp".
std::string mailbox_section(const std::string& name, const std::string& protocol, int port,
                            const std::string& auth) {
  return "[[mailbox]]\nname = \"" + name + "\"\nprotocol = \"" + protocol +
         "\"\nserver = \"127.0.0.1:" + std::to_string(port) + "\"\nuser = \"canary\"\nauth = \"" +
         auth + "\"\noauth2 = \"idp\"\npoll_interval = \"100ms\"\n\n";
}

// A [[target]] with one member; `smtp_extra` may log in (user, auth, oauth2).
std::string target(const std::string& name, const std::string& member, const std::string& mailbox,
                   const std::string& smtp_extra = "") {
  return "[[target]]\nname = \"" + name + "\"\nrcpt = \"canary@example.test\"\nmailbox = \"" +
         mailbox + "\"\nmembers = [\"" + member + "\"]\nattempts = 1\n" + smtp_extra + "\n";
}

const std::string kSmtpOAuth = "user = \"canary\"\nauth = \"oauthbearer\"\noauth2 = \"idp\"\n";

std::map<std::string, nlohmann::json> probe(const std::string& config, const std::string& name,
                                            itest::CommandResult* out = nullptr) {
  const std::string path = itest::write_temp_file(name + ".toml", config);
  auto cmd = itest::mailcanary({"probe", "--config", path, "--json", "--verbose"});
  INFO("stdout: " << cmd.out << "\nstderr: " << cmd.err);
  std::map<std::string, nlohmann::json> by_target;
  for (auto& j : itest::json_lines(cmd.out)) {
    by_target[j["target"].get<std::string>()] = j;
  }
  if (out) {
    *out = cmd;
  }
  return by_target;
}

// None of the secrets in `text`.
void check_no_secret(const std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    INFO("secret " << s.substr(0, 6) << "...");
    CHECK(text.find(s) == std::string::npos);
  }
}

// The sum of a metric's samples whose labels contain all of `having`.
double metric_sum(const std::string& metrics, const std::string& name,
                  const std::vector<std::string>& having) {
  double sum = 0;
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0) {
      continue;
    }
    bool all = true;
    for (const auto& h : having) {
      all = all && line.find(h) != std::string::npos;
    }
    if (all) {
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return sum;
}

}  // namespace

TEST_CASE("the readers log in with XOAUTH2 and OAUTHBEARER, IMAP and POP3, in and out of process",
          "[integration][oauth2][login]") {
  const auto o = itest::TokenServer::for_testbed(std::chrono::seconds(60));
  itest::TokenServer server(o);
  mailcanary::probes::SystemClock clock;
  auto source = std::make_shared<mailcanary::probes::TokenSource>(endpoint(server, o), clock);
  for (auto protocol : {MailboxProtocol::imap, MailboxProtocol::pop3}) {
    for (auto method : {AuthMethod::xoauth2, AuthMethod::oauthbearer}) {
      for (bool isolated : {false, true}) {
        INFO("protocol " << static_cast<int>(protocol) << " method "
                         << mailcanary::probes::sasl_mechanism(method) << " isolated " << isolated);
        const auto cfg = oauth_mailbox(protocol, method);
        auto inner = isolated ? mailcanary::probes::make_isolated_mailbox_reader(cfg, hmac_key(),
                                                                                 MAILCANARY_BINARY)
                              : mailcanary::probes::make_mailbox_reader(cfg, hmac_key());
        auto reader = mailcanary::probes::with_oauth2_login(std::move(inner), source);
        CHECK_NOTHROW(reader->scan({"no-such-canary"}));
        CHECK(reader->commands() > 0);
      }
    }
  }
  CHECK(source->counts().fetches == 1);  // one token for all eight logins
  CHECK(server.introspections() >= 8);   // Dovecot checked each login's token
}

TEST_CASE("a token the server refuses is replaced once; one always refused is a clear error",
          "[integration][oauth2][login]") {
  const auto o = itest::TokenServer::for_testbed(std::chrono::seconds(60));
  itest::TokenServer server(o);
  mailcanary::probes::SystemClock clock;
  for (auto protocol : {MailboxProtocol::imap, MailboxProtocol::pop3}) {
    INFO("protocol " << static_cast<int>(protocol));
    int calls = 0;
    // The first token handed out was revoked (the server does not know it): the login is
    // refused, the source asked for a new one, and the scan works with it.
    auto source = std::make_shared<mailcanary::probes::TokenSource>(endpoint(server, o), clock,
                                                                    [&](const mailcanary::probes::
                                                                            TokenEndpoint& e) {
                                                                      return calls++ == 0 ? mailcanary::probes::AccessToken{"at-revoked-early",
                                                                std::chrono::seconds(3600)}
                              : mailcanary::probes::fetch_token(e);
                                                                    });
    auto reader = mailcanary::probes::with_oauth2_login(
        mailcanary::probes::make_mailbox_reader(oauth_mailbox(protocol, AuthMethod::xoauth2),
                                                hmac_key()),
        source);
    CHECK_NOTHROW(reader->scan({}));
    CHECK(source->counts().fetches == 2);

    auto forged = std::make_shared<mailcanary::probes::TokenSource>(
        endpoint(server, o), clock, [&](const mailcanary::probes::TokenEndpoint&) {
          return mailcanary::probes::AccessToken{"at-forged-" + std::to_string(calls++),
                                                 std::chrono::seconds(3600)};
        });
    auto refused = mailcanary::probes::with_oauth2_login(
        mailcanary::probes::make_mailbox_reader(oauth_mailbox(protocol, AuthMethod::oauthbearer),
                                                hmac_key()),
        forged);
    try {
      refused->scan({});
      FAIL("the forged token was taken");
    } catch (const mailcanary::probes::MailboxError& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(e.token_refused());
      CHECK(e.permanent());
      CHECK(what.find("login as canary with OAUTHBEARER refused") != std::string::npos);
      CHECK(what.find("at-forged") == std::string::npos);
    }
    CHECK(forged->counts().fetches == 2);  // the first, and one more after the refusal
  }
}

TEST_CASE("probe: SMTP submission and mailboxes with OAuth2 deliver and confirm",
          "[integration][oauth2][probe]") {
  const auto o = itest::TokenServer::for_testbed(std::chrono::seconds(60));
  itest::TokenServer server(o);
  const std::string secret = itest::write_temp_file("idp.secret", o.client_secret + "\n");
  itest::CommandResult cmd;
  auto r = probe(itest::testbed_config_head() + oauth2_section(server.token_url(), secret) +
                     mailbox_section("imap_x", "imap", 1143, "xoauth2") +
                     mailbox_section("pop3_b", "pop3", 1110, "oauthbearer") +
                     target("submit", "127.0.0.22:2587", "imap_x", kSmtpOAuth) +
                     target("relay", "127.0.0.11:2525", "pop3_b"),
                 "oauth2-ok", &cmd);
  REQUIRE(r.size() == 2);
  for (const auto& name : {"submit", "relay"}) {
    INFO(r[name].dump());
    CHECK(r[name]["class"] == "ok");
    CHECK(r[name]["delivery_seconds"].is_number());
  }
  // libcurl 7.88 chooses OAUTHBEARER (it is offered); its initial response is masked.
  bool auth_line = false;
  for (const auto& line : r["submit"]["transcript"]) {
    const std::string l = line.get<std::string>();
    if (l.rfind("C: AUTH OAUTHBEARER", 0) == 0) {
      auth_line = true;
    }
  }
  CHECK(auth_line);
  CHECK(cmd.exit_code == 0);
  auto secrets = server.issued();
  REQUIRE(!secrets.empty());
  secrets.push_back(o.client_secret);
  check_no_secret(cmd.out + cmd.err, secrets);
}

TEST_CASE("probe: a wrong secret, a revoked refresh token, an endpoint down: auth_error at token",
          "[integration][oauth2][probe]") {
  const auto o = itest::TokenServer::for_testbed(std::chrono::seconds(3));
  itest::TokenServer server(o);
  const std::string right = itest::write_temp_file("idp-right.secret", o.client_secret + "\n");
  const std::string wrong = itest::write_temp_file("idp-wrong.secret", "not-the-secret-5c2f\n");
  const std::string refresh = itest::write_temp_file("idp.refresh", o.refresh_token + "\n");
  server.revoke_refresh_token();
  struct Case {
    std::string name;
    std::string section;
    std::string code;  // in the detail
  };
  const std::vector<Case> cases{
      {"wrong-secret", oauth2_section(server.token_url(), wrong), "invalid_client"},
      {"revoked",
       oauth2_section(server.token_url(), right, "refresh_token_file = \"" + refresh + "\""),
       "invalid_grant"},
      {"down", oauth2_section("http://127.0.0.1:1/token", right), "connect"}};
  for (const auto& c : cases) {
    INFO(c.name);
    itest::CommandResult cmd;
    auto r = probe(itest::testbed_config_head() + c.section +
                       mailbox_section("imap_x", "imap", 1143, "xoauth2") +
                       target("submit", "127.0.0.22:2587", "inbox", kSmtpOAuth) +
                       target("read", "127.0.0.11:2525", "imap_x"),
                   "oauth2-" + c.name, &cmd);
    REQUIRE(r.size() == 2);
    INFO(r["submit"].dump() << "\n" << r["read"].dump());
    CHECK(r["submit"]["class"] == "auth_error");
    CHECK(r["submit"]["stage"] == "token");
    CHECK(r["submit"]["detail"].get<std::string>().find(c.code) != std::string::npos);
    CHECK(r["submit"]["attempts"] == 1);
    // The mailbox cannot be read without a token: that says nothing of the member.
    CHECK(r["read"]["class"] == "mailbox_error");
    CHECK(r["read"]["detail"].get<std::string>().find(c.code) != std::string::npos);
    CHECK(cmd.exit_code != 0);
    check_no_secret(cmd.out + cmd.err, {o.client_secret, "not-the-secret-5c2f", o.refresh_token});
  }
  CHECK(itest::read_file(refresh).find(o.refresh_token) == 0);  // a refused one is kept
}

TEST_CASE("an agent stays ok over several token lifetimes and shows an endpoint outage",
          "[integration][oauth2][agent]") {
  const auto o = itest::TokenServer::for_testbed(std::chrono::seconds(3));
  auto server = std::make_unique<itest::TokenServer>(o);
  const std::string secret = itest::write_temp_file("idp-agent.secret", o.client_secret + "\n");
  // The refresh-token grant: each renewal rotates the refresh token, written back.
  const std::string refresh = itest::write_temp_file("idp-agent.refresh", o.refresh_token + "\n");
  const std::string path = itest::write_temp_file(
      "oauth2-agent.toml",
      itest::agent_config_head("oauth2-agent") +
          "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\n\n" +
          oauth2_section(server->token_url(), secret, "refresh_token_file = \"" + refresh + "\"") +
          mailbox_section("imap_x", "imap", 1143, "xoauth2") +
          target("submit", "127.0.0.22:2587", "imap_x", kSmtpOAuth));
  itest::AgentProcess agent(path);
  const std::string base = "http://" + agent.http_address();
  REQUIRE(base != "http://");
  const auto get = [&](const std::string& what) {
    return itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", base + what}).out;
  };
  // Bounded: until 10 probes are ok and 4 tokens were issued (over 8 s of tokens).
  std::string metrics;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int i = 0; i < 600 && std::chrono::steady_clock::now() < until; ++i) {
    metrics = get("/metrics");
    if (metric_sum(metrics, "mailcanary_probes_total", {"class=\"ok\"", "target=\"submit\""}) >=
            10 &&
        server->tokens_issued() >= 4) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a scrape interval
  }
  INFO(metrics);
  INFO(agent.log());
  CHECK(metric_sum(metrics, "mailcanary_probes_total", {"class=\"ok\"", "target=\"submit\""}) >=
        10);
  CHECK(metric_sum(metrics, "mailcanary_probes_total", {"target=\"submit\""}) ==
        metric_sum(metrics, "mailcanary_probes_total", {"class=\"ok\"", "target=\"submit\""}));
  CHECK(server->tokens_issued() >= 4);
  CHECK(metric_sum(metrics, "mailcanary_oauth2_token_up", {"oauth2=\"idp\""}) == 1);
  CHECK(metric_sum(metrics, "mailcanary_oauth2_token_failures_total", {"oauth2=\"idp\""}) == 0);
  CHECK(metric_sum(metrics, "mailcanary_oauth2_token_requests_total", {"oauth2=\"idp\""}) >= 4);
  std::string kept = itest::read_file(refresh);
  kept.erase(kept.find_last_not_of("\r\n") + 1);
  // A rotated one ("rt-first-0a9b-rN", N renewals so far), written back: the newest, or
  // the one before if a renewal is under way right now.
  const std::string prefix = o.refresh_token + "-r";
  REQUIRE(kept.rfind(prefix, 0) == 0);
  const int rotation = std::stoi(kept.substr(prefix.size()));
  const int newest = std::stoi(server->refresh_token().substr(prefix.size()));
  CHECK(rotation >= 3);
  CHECK(newest - rotation <= 1);
  auto secrets = server->issued();
  secrets.push_back(o.client_secret);
  secrets.push_back(o.refresh_token);
  secrets.push_back(kept);

  // The endpoint goes away: the next renewal fails, which the metrics and /status show,
  // and a probe then fails at stage token (Dovecot cannot check tokens either).
  server.reset();
  std::string status;
  const auto until_down = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < 300 && std::chrono::steady_clock::now() < until_down; ++i) {
    metrics = get("/metrics");
    status = get("/status");
    if (metric_sum(metrics, "mailcanary_oauth2_token_up", {"oauth2=\"idp\""}) == 0 &&
        status.find("\"stage\":\"token\"") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO(status);
  CHECK(metric_sum(metrics, "mailcanary_oauth2_token_up", {"oauth2=\"idp\""}) == 0);
  CHECK(metric_sum(metrics, "mailcanary_oauth2_token_failures_total", {"oauth2=\"idp\""}) >= 1);
  const auto doc = nlohmann::json::parse(status);
  REQUIRE(doc["oauth2"].size() == 1);
  CHECK(doc["oauth2"][0]["up"] == false);
  CHECK(doc["oauth2"][0]["error"].get<std::string>().find("token endpoint") != std::string::npos);
  CHECK(doc["members"][0]["last"]["class"] == "auth_error");
  CHECK(doc["members"][0]["last"]["stage"] == "token");
  CHECK(agent.stop() == 0);
  check_no_secret(agent.log() + metrics + status, secrets);
}
