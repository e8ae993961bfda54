// TLS to the mailbox against the real Dovecot of the test bed: IMAP STARTTLS (1143),
// IMAPS (1993), POP3 STLS (1110), POP3S (1995), all verified against the test CA for
// 127.0.0.1 (an IP SAN); the wrong-name IMAPS (127.0.0.24:1994) refused before any
// password is sent, unless tls_verify = false. Every confirmed canary is gone from the
// Maildir afterwards.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>

#include "support.hpp"

namespace {

const std::string kCanaryPassword = itest::source_dir() + "/tests/testbed/secrets/canary.pass";

std::string ca_file() {
  return itest::testbed_dir() + "/tls/ca.crt";
}

// The test bed config with `mailbox_table` as its only [[mailbox]] "inbox" and one
// target through the accepting listener.
std::string config_with_mailbox(const std::string& mailbox_table) {
  std::string head = itest::testbed_config_head();
  auto start = head.find("[[mailbox]]");
  auto end = head.find("[slg]");
  return head.substr(0, start) + mailbox_table + "\n" + head.substr(end) +
         "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
         "members = [\"127.0.0.11:2525\"]\n";
}

std::string mailbox(const std::string& protocol, const std::string& server, const std::string& tls,
                    const std::string& extra = "") {
  return "[[mailbox]]\nname = \"inbox\"\nprotocol = \"" + protocol + "\"\nserver = \"" + server +
         "\"\ntls = \"" + tls + "\"\nuser = \"canary\"\npassword_file = \"" + kCanaryPassword +
         "\"\npoll_interval = \"100ms\"\n" + extra;
}

struct Probe {
  nlohmann::json result;
  std::chrono::steady_clock::duration took{};
};

Probe probe_one(const std::string& cfg, const std::string& name) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = itest::mailcanary(
      {"probe", "--config", itest::write_temp_file(name + ".toml", cfg), "--json"});
  Probe p;
  p.took = std::chrono::steady_clock::now() - t0;
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  auto lines = itest::json_lines(r.out);
  REQUIRE(lines.size() == 1);
  p.result = lines[0];
  UNSCOPED_INFO(p.result.dump());
  return p;
}

// Dovecot's login lines for the canary user ("imap-login: Info: Login: user=<canary>,
// ..., TLS, ..." or "..., secured, ..." for plaintext on loopback).
std::vector<std::string> dovecot_logins(const std::string& protocol) {
  std::vector<std::string> out;
  std::istringstream in(itest::read_file(itest::testbed_dir() + "/dovecot/dovecot.log"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(protocol + "-login: Info: Login: user=<canary>") != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A probe through `mailbox_table` must confirm the canary over TLS and delete it.
void confirms_over_tls(const std::string& protocol, const std::string& mailbox_table,
                       const std::string& name) {
  const auto logins_before = dovecot_logins(protocol).size();
  auto p = probe_one(config_with_mailbox(mailbox_table), name);
  CHECK(p.result["class"] == "ok");
  CHECK(p.result["delivery_seconds"].is_number());
  CHECK(itest::maildir_files_containing("canary", p.result["canary_id"]).empty());
  // Dovecot saw the reader log in inside TLS (its login line says ", TLS").
  auto logins = dovecot_logins(protocol);
  REQUIRE(logins.size() > logins_before);
  for (auto i = logins_before; i < logins.size(); ++i) {
    INFO(logins[i]);
    CHECK(contains(logins[i], ", TLS"));
  }
}

}  // namespace

TEST_CASE("IMAP with STARTTLS confirms and deletes the canary", "[integration][mailbox][tls]") {
  confirms_over_tls(
      "imap", mailbox("imap", "127.0.0.1:1143", "starttls", "ca_file = \"" + ca_file() + "\"\n"),
      "imap-starttls");
}

TEST_CASE("IMAPS (implicit TLS) confirms and deletes the canary", "[integration][mailbox][tls]") {
  confirms_over_tls(
      "imap", mailbox("imap", "127.0.0.1:1993", "implicit", "ca_file = \"" + ca_file() + "\"\n"),
      "imaps");
}

TEST_CASE("IMAPS without IDLE (polling) confirms and deletes the canary",
          "[integration][mailbox][tls]") {
  confirms_over_tls("imap",
                    mailbox("imap", "127.0.0.1:1993", "implicit",
                            "ca_file = \"" + ca_file() + "\"\nidle = false\n"),
                    "imaps-poll");
}

TEST_CASE("POP3 with STLS confirms and deletes the canary", "[integration][mailbox][tls]") {
  confirms_over_tls(
      "pop3", mailbox("pop3", "127.0.0.1:1110", "starttls", "ca_file = \"" + ca_file() + "\"\n"),
      "pop3-stls");
}

TEST_CASE("POP3S (implicit TLS) confirms and deletes the canary", "[integration][mailbox][tls]") {
  confirms_over_tls(
      "pop3", mailbox("pop3", "127.0.0.1:1995", "implicit", "ca_file = \"" + ca_file() + "\"\n"),
      "pop3s");
}

TEST_CASE("a mailbox certificate for another name is mailbox_error at once, before any login",
          "[integration][mailbox][tls]") {
  const auto logins_before = dovecot_logins("imap").size();
  auto p = probe_one(config_with_mailbox(mailbox("imap", "127.0.0.24:1994", "implicit",
                                                 "ca_file = \"" + ca_file() + "\"\n")),
                     "imaps-wrong-name");
  CHECK(p.result["class"] == "mailbox_error");
  CHECK(p.result["stage"] == "mailbox");
  const std::string detail = p.result["detail"];
  CHECK(detail.rfind("imap 127.0.0.24:1994: TLS certificate verification failed: ", 0) == 0);
  CHECK(contains(detail, "IP address mismatch"));
  CHECK(contains(detail, "DNS:wrong.example.test"));
  // Permanent: decided right away, not waited out until lost_after (4 s).
  CHECK(p.took < std::chrono::seconds(3));
  CHECK(dovecot_logins("imap").size() == logins_before);  // the password never went out
  // The canary itself was delivered; the reader could not look.
  auto left = itest::maildir_files_containing("canary", p.result["canary_id"]);
  CHECK(left.size() == 1);
  for (const auto& f : left) {
    std::filesystem::remove(f);  // tidy up for the tests after this one
  }
}

TEST_CASE("tls_verify = false accepts the wrong-name certificate", "[integration][mailbox][tls]") {
  auto p = probe_one(
      config_with_mailbox(mailbox("imap", "127.0.0.24:1994", "implicit", "tls_verify = false\n")),
      "imaps-no-verify");
  CHECK(p.result["class"] == "ok");
  CHECK(itest::maildir_files_containing("canary", p.result["canary_id"]).empty());
}

TEST_CASE("a mailbox without ca_file: the system store does not trust the test CA",
          "[integration][mailbox][tls]") {
  for (const auto& [protocol, server, tls] : {std::tuple{"imap", "127.0.0.1:1993", "implicit"},
                                              std::tuple{"imap", "127.0.0.1:1143", "starttls"},
                                              std::tuple{"pop3", "127.0.0.1:1995", "implicit"},
                                              std::tuple{"pop3", "127.0.0.1:1110", "starttls"}}) {
    DYNAMIC_SECTION(protocol << " " << server) {
      auto p = probe_one(config_with_mailbox(mailbox(protocol, server, tls)),
                         std::string("no-ca-") + protocol + "-" + tls);
      CHECK(p.result["class"] == "mailbox_error");
      CHECK(contains(p.result["detail"],
                     "TLS certificate verification failed: unable to get "
                     "local issuer certificate"));
      CHECK(p.took < std::chrono::seconds(3));
    }
  }
}

TEST_CASE("implicit TLS against the plain IMAP port is mailbox_error naming the handshake",
          "[integration][mailbox][tls]") {
  auto p = probe_one(config_with_mailbox(mailbox("imap", "127.0.0.1:1143", "implicit",
                                                 "ca_file = \"" + ca_file() + "\"\n")),
                     "imaps-on-plain");
  CHECK(p.result["class"] == "mailbox_error");
  CHECK(p.result["detail"] == "imap 127.0.0.1:1143: TLS handshake failed");
}
