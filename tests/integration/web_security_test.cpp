// The HTTP endpoints with [web] set: HTTPS (certificate checked by the client), basic
// auth with an htpasswd -B users file, keep-alive through TLS, and unknown_health =
// "down" for a member that has no result yet. Real agent, real curl, test-bed mail.
#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>

#include "support.hpp"

namespace {

struct Reply {
  int curl_exit = -1;
  std::string code;
  std::string body;
  std::string trace;  // curl's stderr (-v)
};

Reply https_get(const std::vector<std::string>& options, const std::vector<std::string>& urls) {
  std::vector<std::string> argv{"/usr/bin/curl", "-sS", "-v", "--max-time", "5", "-w",
                                "\n%{http_code}"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), urls.begin(), urls.end());
  auto r = itest::run_command(argv, std::chrono::seconds(10));
  Reply out{r.exit_code, "", r.out, r.err};
  auto nl = r.out.rfind('\n');
  if (nl != std::string::npos) {
    out.code = r.out.substr(nl + 1);
    out.body = r.out.substr(0, nl);
  }
  return out;
}

}  // namespace

TEST_CASE("the endpoints serve HTTPS with basic auth, and a member without result is DOWN",
          "[integration][agent][http][web]") {
  const std::string dir = itest::write_temp_file("web.dir", "") + ".d";
  auto mk = itest::run_command({"/bin/mkdir", "-p", dir});
  REQUIRE(mk.exit_code == 0);
  auto cert =
      itest::run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", dir + "/web.key", "-out", dir + "/web.crt", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  REQUIRE(cert.exit_code == 0);
  const std::string password = "web-test-password-81f3";
  auto users = itest::run_command(
      {"/usr/bin/htpasswd", "-Bbc", "-C", "5", dir + "/web.users", "prom", password});
  REQUIRE(users.exit_code == 0);

  const std::string cfg =
      itest::agent_config_head("web") + "[web]\ntls_cert_file = \"" + dir +
      "/web.crt\"\ntls_key_file = \"" + dir + "/web.key\"\nbasic_auth_users_file = \"" + dir +
      "/web.users\"\nunknown_health = \"down\"\n\n" +
      "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\n\n" +
      "[[target]]\nname = \"fast\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n" +
      "members = [\"127.0.0.11:2525\"]\n\n" +
      // Probed once a day: no result during this test.
      "[[target]]\nname = \"daily\"\ninterval = \"1d\"\nrcpt = \"canary@example.test\"\n" +
      "mailbox = \"inbox\"\nmembers = [\"127.0.0.13:2525\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("web.toml", cfg));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  const std::string log = agent.log();
  CHECK(log.find("HTTP endpoints on https://" + address) != std::string::npos);
  CHECK(log.find("(basic auth)") != std::string::npos);
  const std::string base = "https://" + address;
  const std::vector<std::string> trusted{"--cacert", dir + "/web.crt"};
  std::vector<std::string> authed = trusted;
  authed.insert(authed.end(), {"-u", "prom:" + password});

  // The certificate is the one configured: an untrusting client refuses it (60).
  CHECK(https_get({}, {base + "/healthz"}).curl_exit == 60);
  // Plain HTTP is not served on the HTTPS port.
  auto plain = https_get({}, {"http://" + address + "/healthz"});
  CHECK(plain.code != "200");

  auto anonymous = https_get(trusted, {base + "/metrics"});
  CHECK(anonymous.code == "401");
  CHECK(anonymous.trace.find("WWW-Authenticate: Basic realm=\"mailcanary\"") != std::string::npos);
  CHECK(anonymous.body.find("mailcanary_") == std::string::npos);
  auto wrong = https_get({"--cacert", dir + "/web.crt", "-u", "prom:wrong"}, {base + "/status"});
  CHECK(wrong.code == "401");
  CHECK(wrong.body.find("members") == std::string::npos);

  auto ok = https_get(authed, {base + "/healthz"});
  CHECK(ok.curl_exit == 0);
  CHECK(ok.code == "200");
  CHECK(ok.body == "ok\n");

  // Before its first result, the daily member is DOWN (unknown_health = "down").
  auto daily = https_get(authed, {base + "/health/daily/127.0.0.13:2525"});
  CHECK(daily.code == "503");
  CHECK(daily.body == "DOWN no_result since start\n");

  // The fast member turns UP with its first good result; two requests share one TLS
  // connection (keep-alive).
  REQUIRE(agent.wait_for_log("fast 127.0.0.11:2525 ok", std::chrono::seconds(30)));
  auto twice = https_get(
      authed, {base + "/health/fast/127.0.0.11:2525", base + "/health/fast/127.0.0.11:2525"});
  CHECK(twice.curl_exit == 0);
  CHECK(twice.body == "UP\n\n200UP\n");
  CHECK(twice.trace.find("Re-using existing connection") != std::string::npos);

  auto metrics = https_get(authed, {base + "/metrics"});
  CHECK(metrics.code == "200");
  CHECK(metrics.body.find("mailcanary_member_up{") != std::string::npos);

  // A renewed certificate (new key too) is served from the next connection on, without
  // a restart: written beside, then renamed over the configured files.
  auto renewed =
      itest::run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                          "-keyout", dir + "/new.key", "-out", dir + "/new.crt", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  REQUIRE(renewed.exit_code == 0);
  std::filesystem::copy_file(dir + "/web.crt", dir + "/old.crt");
  std::filesystem::rename(dir + "/new.key", dir + "/web.key");
  std::filesystem::rename(dir + "/new.crt", dir + "/web.crt");
  const std::vector<std::string> trusts_new{"--cacert", dir + "/web.crt", "-u", "prom:" + password};
  auto with_new = https_get(trusts_new, {base + "/healthz"});
  CHECK(with_new.curl_exit == 0);
  CHECK(with_new.body == "ok\n");
  CHECK(https_get({"--cacert", dir + "/old.crt"}, {base + "/healthz"}).curl_exit == 60);

  // The password is changed in the users file: the old one stops working (it was
  // remembered) and the new one works, without a restart. The file is looked at once a
  // second at most: wait for the change to be seen (bounded).
  auto changed = itest::run_command(
      {"/usr/bin/htpasswd", "-Bb", "-C", "5", dir + "/web.users", "prom", "changed-password"});
  REQUIRE(changed.exit_code == 0);
  std::string old_code;
  for (int i = 0; i < 50 && old_code != "401"; ++i) {
    old_code = https_get(trusts_new, {base + "/healthz"}).code;
    if (old_code != "401") {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(old_code == "401");
  CHECK(
      https_get({"--cacert", dir + "/web.crt", "-u", "prom:changed-password"}, {base + "/healthz"})
          .code == "200");

  agent.stop();
  CHECK(agent.log().find(password) == std::string::npos);
}
