// fetch_token() and TokenSource against the tests' own token server over real HTTP: the
// client-credentials grant, the refresh-token grant with the rotated refresh token
// written back (0600), and each failure with its own code: wrong client secret, revoked
// refresh token, endpoint down, endpoint too slow. No secret in any message.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "mailcanary/probes/oauth2.hpp"
#include "support.hpp"
#include "token_server.hpp"

using mailcanary::probes::fetch_token;
using mailcanary::probes::TokenEndpoint;
using mailcanary::probes::TokenError;

namespace {

TokenEndpoint endpoint(const itest::TokenServer& server, const itest::TokenServer::Options& o) {
  TokenEndpoint e;
  e.name = "idp";
  e.token_url = server.token_url();
  e.client_id = o.client_id;
  e.client_secret = o.client_secret;
  e.timeout = std::chrono::milliseconds(2000);
  return e;
}

// The code of the TokenError that `fetch` throws; checks that no secret is in its text.
std::string refusal_code(const TokenEndpoint& e, const std::vector<std::string>& secrets) {
  try {
    fetch_token(e);
  } catch (const TokenError& err) {
    const std::string what = err.what();
    INFO(what);
    CHECK(what.find("oauth2 idp") == 0);
    for (const auto& s : secrets) {
      CHECK(what.find(s) == std::string::npos);
    }
    return err.code();
  }
  FAIL("no TokenError");
  return "";
}

}  // namespace

TEST_CASE("OAuth2 token endpoint: grants, rotation and each failure",
          "[integration][oauth2][token]") {
  itest::TokenServer::Options o;
  itest::TokenServer server(o);
  const std::vector<std::string> secrets{o.client_secret, o.refresh_token};

  SECTION("client credentials") {
    const auto t = fetch_token(endpoint(server, o));
    CHECK(t.value.rfind("at-1-", 0) == 0);
    CHECK(t.lifetime == std::chrono::seconds(3));
    CHECK(server.tokens_issued() == 1);
  }
  SECTION("refresh token, rotated and written back atomically with mode 0600") {
    auto e = endpoint(server, o);
    e.refresh_token_file = itest::write_temp_file("idp.refresh", o.refresh_token + "\n");
    const auto t = fetch_token(e);
    CHECK_FALSE(t.value.empty());
    const std::string rotated = server.refresh_token();
    CHECK(rotated != o.refresh_token);
    CHECK(itest::read_file(e.refresh_token_file) == rotated + "\n");
    struct stat st {};
    REQUIRE(stat(e.refresh_token_file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // The next request uses the rotated token, which the server accepts.
    CHECK_FALSE(fetch_token(e).value.empty());
    CHECK(itest::read_file(e.refresh_token_file) == server.refresh_token() + "\n");
    // No temporary file is left beside it.
    int files = 0;
    for (const auto& f : std::filesystem::directory_iterator(
             std::filesystem::path(e.refresh_token_file).parent_path())) {
      files += f.path().filename().string().find("idp.refresh") != std::string::npos ? 1 : 0;
    }
    CHECK(files == 1);
  }
  SECTION("wrong client secret: invalid_client") {
    auto e = endpoint(server, o);
    e.client_secret = "not-the-secret-3f9";
    CHECK(refusal_code(e, {e.client_secret, o.client_secret}) == "invalid_client");
  }
  SECTION("revoked refresh token: invalid_grant, and the file is kept") {
    auto e = endpoint(server, o);
    e.refresh_token_file = itest::write_temp_file("idp-revoked.refresh", o.refresh_token + "\n");
    server.revoke_refresh_token();
    CHECK(refusal_code(e, secrets) == "invalid_grant");
    CHECK(itest::read_file(e.refresh_token_file) == o.refresh_token + "\n");
  }
  SECTION("missing refresh token file") {
    auto e = endpoint(server, o);
    e.refresh_token_file = "/nonexistent/idp.refresh";
    CHECK(refusal_code(e, secrets) == "refresh token");
  }
  SECTION("endpoint down: connect") {
    auto e = endpoint(server, o);
    e.token_url = "http://127.0.0.15:9/token";  // nothing listens there (test bed: closed)
    CHECK(refusal_code(e, secrets) == "connect");
  }
  SECTION("endpoint slower than the timeout: timeout, within it") {
    server.set_delay(std::chrono::milliseconds(5000));
    auto e = endpoint(server, o);
    e.timeout = std::chrono::milliseconds(500);
    const auto start = std::chrono::steady_clock::now();
    CHECK(refusal_code(e, secrets) == "timeout");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500));
  }
}
