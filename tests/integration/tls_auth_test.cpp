// TLS and SMTP AUTH end to end: `mailcanary probe` against the test bed's TLS listeners
// (127.0.0.16-.21, certificates from tests/testbed/make-certs.sh) and its AUTH listeners
// (127.0.0.22:2587 PLAIN+LOGIN, :2588 LOGIN only; SASL through Dovecot). Every target
// names the member by address and keeps host = mx.example.test for SNI and certificate
// verification.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <sstream>

#include "support.hpp"

using itest::json_lines;
using itest::mailcanary;

namespace {

// A value of the test bed's RUN/env file (KEY=value lines, shell-quoted where needed;
// the values used here need no quoting).
std::string testbed_env(const std::string& key) {
  std::istringstream in(itest::read_file(itest::testbed_dir() + "/env"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) {
      std::string value = line.substr(key.size() + 1);
      return value == "''" ? std::string() : value;  // printf %q of ""
    }
  }
  return {};
}

std::string ca_file() {
  std::string ca = testbed_env("TESTBED_CA_FILE");
  return ca.empty() ? itest::testbed_dir() + "/tls/ca.crt" : ca;
}

std::string secrets_dir() {
  return itest::source_dir() + "/tests/testbed/secrets/";
}

std::string canary_password() {
  std::string pw = itest::read_file(secrets_dir() + "canary.pass");
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) {
    pw.pop_back();
  }
  return pw;
}

// One [[target]] with a single member; `extra` holds more keys (tls, user, ...) and may
// override attempts (1) and timeout (3s).
std::string target(const std::string& name, const std::string& member, const std::string& extra,
                   bool with_ca = true) {
  std::string t = "[[target]]\nname = \"" + name +
                  "\"\n"
                  "host = \"mx.example.test\"\n"
                  "rcpt = \"canary@example.test\"\n"
                  "mailbox = \"inbox\"\n"
                  "members = [\"" +
                  member + "\"]\n";
  if (extra.find("attempts =") == std::string::npos) {
    t += "attempts = 1\n";
  }
  if (extra.find("timeout =") == std::string::npos) {
    t += "timeout = \"3s\"\n";
  }
  if (with_ca) {
    t += "ca_file = \"" + ca_file() + "\"\n";
  }
  return t + extra + "\n";
}

struct Probe {
  itest::CommandResult cmd;
  std::map<std::string, nlohmann::json> by_target;
};

Probe probe(const std::string& targets, const std::string& name,
            std::vector<std::string> extra = {"--verbose"}) {
  std::string path = itest::write_temp_file(name + ".toml", itest::testbed_config_head() + targets);
  std::vector<std::string> args{"probe", "--config", path, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  Probe p{mailcanary(args), {}};
  INFO("stdout: " << p.cmd.out << "\nstderr: " << p.cmd.err);
  for (auto& j : json_lines(p.cmd.out)) {
    p.by_target[j["target"].get<std::string>()] = j;
  }
  return p;
}

std::vector<std::string> transcript(const nlohmann::json& r) {
  std::vector<std::string> lines;
  if (r.contains("transcript")) {
    for (const auto& l : r["transcript"]) {
      lines.push_back(l.get<std::string>());
    }
  }
  return lines;
}

// Index of the first transcript line at or after `from` that starts with `prefix`, or -1.
long find_line(const std::vector<std::string>& lines, const std::string& prefix, long from = 0) {
  for (auto i = static_cast<std::size_t>(std::max(from, 0L)); i < lines.size(); ++i) {
    if (lines[i].rfind(prefix, 0) == 0) {
      return static_cast<long>(i);
    }
  }
  return -1;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void check_ok(const nlohmann::json& r) {
  INFO(r.dump());
  CHECK(r["class"] == "ok");
  CHECK(r["stage"] == "done");
  CHECK(r["smtp_code"] == 250);
  CHECK(r["attempts"] == 1);
  CHECK(r["delivery_seconds"].is_number());
  CHECK(r["queue_id"].is_string());
}

// A TLS failure: the canary never went out (no MAIL command), no reply decided it.
void check_tls_error(const nlohmann::json& r, const std::string& stage) {
  INFO(r.dump());
  CHECK(r["class"] == "tls_error");
  CHECK(r["stage"] == stage);
  CHECK(r["smtp_code"].is_null());
  CHECK(r["attempts"] == 1);
  CHECK(r["delivery_seconds"].is_null());
  CHECK(find_line(transcript(r), "C: MAIL") == -1);
}

// The Postfix log says a TLS session was set up by the listener with this syslog name.
bool maillog_has_tls_from(const std::string& listener) {
  std::istringstream in(itest::read_file(itest::testbed_dir() + "/postfix/maillog"));
  std::string line;
  while (std::getline(in, line)) {
    if (contains(line, "postfix-testbed/" + listener + "/smtpd[") &&
        contains(line, "TLS connection established from")) {
      return true;
    }
  }
  return false;
}

// Every text that would give a password away: the password itself, the AUTH PLAIN
// response (base64 of "\0user\0password"), the AUTH LOGIN response (base64 of the
// password), and the password's base64 at each of the three alignments it can take
// inside any longer base64 blob (the characters the neighbours affect cut off).
std::vector<std::string> secret_forms(const std::string& user, const std::string& password) {
  std::vector<std::string> forms{
      password, itest::base64(std::string(1, '\0') + user + '\0' + password),
      itest::base64(user + '\0' + user + '\0' + password), itest::base64(password)};
  for (std::size_t pad = 0; pad < 3; ++pad) {
    std::string enc = itest::base64(std::string(pad, 'x') + password);
    // Skip the characters that also encode the padding bytes and the last group, which
    // the bytes after the password change.
    std::size_t skip = pad == 0 ? 0 : 4;
    if (enc.size() > skip + 8) {
      forms.push_back(enc.substr(skip, enc.size() - skip - 4));
    }
  }
  return forms;
}

void check_no_secret(const itest::CommandResult& cmd, const std::string& password) {
  for (const auto& form : secret_forms("canary", password)) {
    INFO("secret form: " << form);
    CHECK_FALSE(contains(cmd.out, form));
    CHECK_FALSE(contains(cmd.err, form));
  }
}

std::string auth_keys(const std::string& password_file) {
  return "user = \"canary\"\npassword_file = \"" + password_file + "\"\n";
}

}  // namespace

TEST_CASE("STARTTLS with a good certificate delivers; the transcript shows the second EHLO",
          "[integration][tls]") {
  auto p = probe(target("starttls", "127.0.0.16:2525", "tls = \"starttls\""), "starttls");
  REQUIRE(p.by_target.count("starttls") == 1);
  const auto& r = p.by_target["starttls"];
  check_ok(r);
  CHECK(p.cmd.exit_code == 0);
  auto lines = transcript(r);
  INFO(r.dump());
  long first_ehlo = find_line(lines, "C: EHLO ");
  long starttls = find_line(lines, "C: STARTTLS", first_ehlo);
  long ready = find_line(lines, "S: 220 ", starttls);
  long second_ehlo = find_line(lines, "C: EHLO ", ready);
  long mail = find_line(lines, "C: MAIL FROM:", second_ehlo);
  CHECK(first_ehlo >= 0);
  CHECK(starttls > first_ehlo);
  CHECK(ready > starttls);
  CHECK(second_ehlo > ready);
  CHECK(mail > second_ehlo);
  CHECK(find_line(lines, "C: MAIL FROM:") == mail);  // nothing was sent before TLS
  CHECK(r["stage_seconds"].contains("starttls"));
  CHECK(maillog_has_tls_from("starttls"));
}

TEST_CASE("implicit TLS (SMTPS) delivers", "[integration][tls]") {
  auto p = probe(target("implicit", "127.0.0.19:2465", "tls = \"implicit\""), "implicit");
  REQUIRE(p.by_target.count("implicit") == 1);
  const auto& r = p.by_target["implicit"];
  check_ok(r);
  CHECK(find_line(transcript(r), "C: STARTTLS") == -1);
  CHECK(maillog_has_tls_from("implicit"));
}

TEST_CASE("opportunistic TLS: plain where STARTTLS is not offered, TLS where it is",
          "[integration][tls]") {
  auto p = probe(target("plain", "127.0.0.18:2525", "tls = \"opportunistic\"") +
                     target("upgraded", "127.0.0.16:2525", "tls = \"opportunistic\""),
                 "opportunistic");
  REQUIRE(p.by_target.size() == 2);
  check_ok(p.by_target["plain"]);
  check_ok(p.by_target["upgraded"]);
  CHECK(find_line(transcript(p.by_target["plain"]), "C: STARTTLS") == -1);
  CHECK(find_line(transcript(p.by_target["upgraded"]), "C: STARTTLS") >= 0);
  CHECK(p.cmd.exit_code == 0);
}

TEST_CASE("STARTTLS required but not offered is tls_error at starttls, not retried",
          "[integration][tls]") {
  auto p = probe(target("notls", "127.0.0.18:2525", "tls = \"starttls\"\nattempts = 2"), "notls");
  REQUIRE(p.by_target.count("notls") == 1);
  const auto& r = p.by_target["notls"];
  check_tls_error(r, "starttls");  // attempts == 1 although 2 are allowed
  CHECK(contains(r["detail"].get<std::string>(), "STARTTLS"));
  CHECK(find_line(transcript(r), "C: STARTTLS") == -1);  // libcurl never asked
  CHECK(p.cmd.exit_code == 2);
}

TEST_CASE("a certificate for another name is tls_error at starttls, unless not verified",
          "[integration][tls]") {
  auto p =
      probe(target("wrong", "127.0.0.17:2525", "tls = \"starttls\"") +
                target("unverified", "127.0.0.17:2525", "tls = \"starttls\"\ntls_verify = false"),
            "wrongname");
  REQUIRE(p.by_target.size() == 2);
  const auto& r = p.by_target["wrong"];
  check_tls_error(r, "starttls");
  const std::string detail = r["detail"];
  CHECK(contains(detail, "mx.example.test"));
  CHECK(contains(detail, "name"));
  CHECK(find_line(transcript(r), "C: STARTTLS") >= 0);
  check_ok(p.by_target["unverified"]);
  CHECK(p.cmd.exit_code == 2);
}

TEST_CASE("expired and self-signed certificates are tls_error at starttls", "[integration][tls]") {
  auto p = probe(target("expired", "127.0.0.20:2525", "tls = \"starttls\"") +
                     target("selfsigned", "127.0.0.21:2525", "tls = \"starttls\""),
                 "badcerts");
  REQUIRE(p.by_target.size() == 2);
  check_tls_error(p.by_target["expired"], "starttls");
  CHECK(contains(p.by_target["expired"]["detail"].get<std::string>(), "expired"));
  check_tls_error(p.by_target["selfsigned"], "starttls");
  CHECK(contains(p.by_target["selfsigned"]["detail"].get<std::string>(), "self-signed"));
}

TEST_CASE("without ca_file the system store does not trust the test CA", "[integration][tls]") {
  auto p = probe(target("system", "127.0.0.16:2525", "tls = \"starttls\"", false), "systemca");
  REQUIRE(p.by_target.count("system") == 1);
  const auto& r = p.by_target["system"];
  check_tls_error(r, "starttls");
  CHECK(contains(r["detail"].get<std::string>(), "certificate"));
}

TEST_CASE("implicit TLS against a plain SMTP port is tls_error at connect", "[integration][tls]") {
  // The handshake fails on the server's plain-text banner: no TLS session, no SMTP
  // conversation either, so the failure belongs to setting up the connection.
  auto p =
      probe(target("implicit_on_plain", "127.0.0.16:2525", "tls = \"implicit\""), "implicitplain");
  REQUIRE(p.by_target.count("implicit_on_plain") == 1);
  check_tls_error(p.by_target["implicit_on_plain"], "connect");
}

TEST_CASE("plain SMTP against an implicit-TLS port times out waiting for the banner",
          "[integration][tls]") {
  // Both sides wait: the server for a TLS ClientHello, the client for a 220.
  auto p = probe(target("plain_on_tls", "127.0.0.19:2465", "tls = \"none\"\ntimeout = \"1s\""),
                 "plaintls");
  REQUIRE(p.by_target.count("plain_on_tls") == 1);
  const auto& r = p.by_target["plain_on_tls"];
  INFO(r.dump());
  CHECK(r["class"] == "timeout");
  CHECK(r["stage"] == "banner");
  CHECK(r["smtp_code"].is_null());
}

TEST_CASE("a member on ::1 is reached by address while host names the target",
          "[integration][tls][ipv6]") {
  if (testbed_env("TESTBED_SMTP_ACCEPT6").empty()) {
    WARN("the test bed has no ::1 listener; skipped");
    return;
  }
  // CURLOPT_CONNECT_TO with a bracketed IPv6 member, and the plain URL without a host.
  auto p = probe(target("v6host", "[::1]:2525", "") +
                     "[[target]]\nname = \"v6plain\"\nrcpt = \"canary@example.test\"\n"
                     "mailbox = \"inbox\"\nattempts = 1\ntimeout = \"3s\"\n"
                     "members = [\"[::1]:2525\"]\n",
                 "ipv6");
  REQUIRE(p.by_target.size() == 2);
  check_ok(p.by_target["v6host"]);
  check_ok(p.by_target["v6plain"]);
  CHECK(p.by_target["v6host"]["member"] == "[::1]:2525");
}

TEST_CASE("AUTH with the right password delivers (PLAIN, LOGIN, and after STARTTLS)",
          "[integration][auth]") {
  const std::string pw = secrets_dir() + "canary.pass";
  auto p = probe(target("plain", "127.0.0.22:2587", auth_keys(pw)) +
                     target("login", "127.0.0.22:2588", auth_keys(pw)) +
                     target("tls", "127.0.0.22:2587", auth_keys(pw) + "tls = \"starttls\""),
                 "authok");
  REQUIRE(p.by_target.size() == 3);
  for (const auto& name : {"plain", "login", "tls"}) {
    INFO(name);
    check_ok(p.by_target[name]);
  }
  auto plain = transcript(p.by_target["plain"]);
  CHECK(find_line(plain, "C: AUTH PLAIN") >= 0);
  CHECK(find_line(plain, "S: 235 ") > find_line(plain, "C: AUTH PLAIN"));
  auto login = transcript(p.by_target["login"]);
  CHECK(find_line(login, "C: AUTH LOGIN") >= 0);
  CHECK(find_line(login, "S: 235 ") > find_line(login, "C: AUTH LOGIN"));
  auto tls = transcript(p.by_target["tls"]);
  CHECK(find_line(tls, "C: AUTH ") > find_line(tls, "C: STARTTLS"));
  CHECK(find_line(tls, "C: STARTTLS") >= 0);
  CHECK(p.by_target["plain"]["stage_seconds"].contains("auth"));
  CHECK(p.cmd.exit_code == 0);
}

TEST_CASE("AUTH with a wrong password is auth_error at auth with 535", "[integration][auth]") {
  const std::string wrong = itest::write_temp_file("wrong-smtp.pass", "not-the-password\n");
  auto p = probe(target("plain", "127.0.0.22:2587", auth_keys(wrong) + "attempts = 2") +
                     target("login", "127.0.0.22:2588", auth_keys(wrong)),
                 "authwrong");
  REQUIRE(p.by_target.size() == 2);
  for (const auto& name : {"plain", "login"}) {
    const auto& r = p.by_target[name];
    INFO(name << ": " << r.dump());
    CHECK(r["class"] == "auth_error");
    CHECK(r["stage"] == "auth");
    CHECK(r["smtp_code"] == 535);
    CHECK(r["enhanced_code"] == "5.7.8");
    CHECK(r["attempts"] == 1);  // final, not retried
    CHECK(r["delivery_seconds"].is_null());
    CHECK(find_line(transcript(r), "C: MAIL") == -1);
  }
  CHECK(p.cmd.exit_code == 2);
}

TEST_CASE("without credentials the AUTH listener refuses the recipient", "[integration][auth]") {
  auto p = probe(target("anonymous", "127.0.0.22:2587", ""), "authnone");
  REQUIRE(p.by_target.count("anonymous") == 1);
  const auto& r = p.by_target["anonymous"];
  INFO(r.dump());
  CHECK(r["class"] == "perm_fail");
  CHECK(r["stage"] == "rcpt");
  CHECK(r["smtp_code"] == 554);
  CHECK(contains(r["detail"].get<std::string>(), "Access denied"));
  CHECK(find_line(transcript(r), "C: AUTH") == -1);
}

TEST_CASE("credentials configured but AUTH not offered: auth_error, the canary held back",
          "[integration][auth]") {
  // libcurl alone would skip AUTH silently and deliver unauthenticated.
  auto p = probe(target("noauth", "127.0.0.11:2525", auth_keys(secrets_dir() + "canary.pass")),
                 "authnotoffered");
  REQUIRE(p.by_target.count("noauth") == 1);
  const auto& r = p.by_target["noauth"];
  INFO(r.dump());
  CHECK(r["class"] == "auth_error");
  CHECK(r["stage"] == "auth");
  CHECK(r["smtp_code"].is_null());
  CHECK(r["queue_id"].is_null());
  CHECK(contains(r["detail"].get<std::string>(), "AUTH not offered"));
  auto lines = transcript(r);
  CHECK(find_line(lines, "C: AUTH") == -1);
  CHECK(find_line(lines, "S: 250 2.0.0 Ok: queued") == -1);
  CHECK(itest::maildir_files_containing("canary", r["canary_id"].get<std::string>()).empty());
  CHECK(p.cmd.exit_code == 2);
}

TEST_CASE("no form of the SMTP password appears in any output", "[integration][auth][secrets]") {
  const std::string right = canary_password();
  REQUIRE_FALSE(right.empty());
  const std::string right_file = secrets_dir() + "canary.pass";
  const std::string wrong = "wrong-secret-Pa55word";
  const std::string wrong_file = itest::write_temp_file("wrong-secret.pass", wrong + "\n");
  // The base64 forms really are what goes over the wire.
  CHECK(itest::base64(std::string(1, '\0') + "canary" + '\0' + "canary-test-password") ==
        "AGNhbmFyeQBjYW5hcnktdGVzdC1wYXNzd29yZA==");
  CHECK(itest::base64("canary-test-password") == "Y2FuYXJ5LXRlc3QtcGFzc3dvcmQ=");

  const std::string targets = target("plain_ok", "127.0.0.22:2587", auth_keys(right_file)) +
                              target("login_ok", "127.0.0.22:2588", auth_keys(right_file)) +
                              target("plain_bad", "127.0.0.22:2587", auth_keys(wrong_file)) +
                              target("login_bad", "127.0.0.22:2588", auth_keys(wrong_file));
  SECTION("--json --verbose") {
    auto p = probe(targets, "secrets-json", {"--verbose"});
    REQUIRE(p.by_target.size() == 4);
    CHECK(p.by_target["plain_ok"]["class"] == "ok");
    CHECK(p.by_target["login_ok"]["class"] == "ok");
    CHECK(p.by_target["plain_bad"]["class"] == "auth_error");
    CHECK(p.by_target["login_bad"]["class"] == "auth_error");
    // The exchange is in the transcript, masked.
    auto login = transcript(p.by_target["login_ok"]);
    long auth = find_line(login, "C: AUTH LOGIN");
    REQUIRE(auth >= 0);
    CHECK(find_line(login, "C: ****", auth) > auth);
    check_no_secret(p.cmd, right);
    check_no_secret(p.cmd, wrong);
  }
  SECTION("text output --verbose") {
    std::string path =
        itest::write_temp_file("secrets-text.toml", itest::testbed_config_head() + targets);
    auto cmd = mailcanary({"probe", "--config", path, "--verbose"});
    INFO("stdout: " << cmd.out << "\nstderr: " << cmd.err);
    CHECK(contains(cmd.out, "plain_ok 127.0.0.22:2587 ok "));
    CHECK(contains(cmd.out, "login_bad 127.0.0.22:2588 auth_error stage=auth code=535"));
    CHECK(contains(cmd.out, "AUTH LOGIN"));  // the transcript is there
    check_no_secret(cmd, right);
    check_no_secret(cmd, wrong);
  }
}
