// Every SMTP stage classified from the real reply, against a scripted peer that answers
// what no real server sends on demand: each row is a server behaviour and the class,
// stage and codes mailcanary must report for it.
#include <catch2/catch.hpp>

#include "support.hpp"

namespace {

struct Row {
  const char* name;
  itest::SmtpScript script;
  const char* cls;
  const char* stage;
  int code;               // 0: null
  const char* enhanced;   // "": null
  const char* in_detail;  // a substring of detail
};

itest::SmtpScript with(std::string itest::SmtpScript::*field, std::string value) {
  itest::SmtpScript s;
  s.*field = std::move(value);
  return s;
}

nlohmann::json probe_peer(const itest::ScriptedPeer& peer, const std::string& name) {
  std::string cfg = itest::testbed_config_head() + "[[target]]\nname = \"" + name +
                    "\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\nattempts = 1\n"
                    "timeout = \"1s\"\nmembers = [\"" +
                    peer.address() + "\"]\n";
  auto r = itest::mailcanary(
      {"probe", "--config", itest::write_temp_file(name + ".toml", cfg), "--json", "--verbose"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  auto lines = itest::json_lines(r.out);
  REQUIRE(lines.size() == 1);
  return lines[0];
}

}  // namespace

TEST_CASE("each SMTP stage is classified from the server's reply", "[integration][smtp]") {
  using S = itest::SmtpScript;
  std::vector<Row> rows{
      {"banner421", with(&S::banner, "421 4.3.2 Service shutting down"), "temp_fail", "banner", 421,
       "4.3.2", "Service shutting down"},
      {"banner554", with(&S::banner, "554 5.3.2 No SMTP service here"), "perm_fail", "banner", 554,
       "5.3.2", "No SMTP service"},
      {"ehlo5xx",
       [] {
         S s;
         s.ehlo = "550 5.7.1 Go away";
         s.helo = "550 5.7.1 Go away";
         return s;
       }(),
       "perm_fail", "ehlo", 550, "5.7.1", "Go away"},
      {"mail452", with(&S::mail, "452 4.3.1 Insufficient system storage"), "temp_fail", "mail", 452,
       "4.3.1", "storage"},
      {"mail553", with(&S::mail, "553 5.1.8 Sender address rejected"), "perm_fail", "mail", 553,
       "5.1.8", "Sender"},
      {"rcpt450", with(&S::rcpt, "450 4.2.0 Greylisted"), "temp_fail", "rcpt", 450, "4.2.0",
       "Greylisted"},
      {"data451", with(&S::data, "451 4.3.0 Queue file write error"), "temp_fail", "data", 451,
       "4.3.0", "Queue file"},
      {"data554", with(&S::data, "554 5.5.1 No valid recipients"), "perm_fail", "data", 554,
       "5.5.1", "No valid"},
      {"body451", with(&S::body, "451 4.7.0 Content filter unavailable"), "temp_fail", "body", 451,
       "4.7.0", "Content filter"},
      {"body550", with(&S::body, "550 5.7.1 Message content rejected"), "perm_fail", "body", 550,
       "5.7.1", "content rejected"},
      {"multiline", with(&S::rcpt, "550-5.7.1 First line of the reason\r\n550 5.7.1 Second line"),
       "perm_fail", "rcpt", 550, "5.7.1", "First line of the reason / 5.7.1 Second line"},
      {"no_enhanced", with(&S::rcpt, "451 Try later"), "temp_fail", "rcpt", 451, "",
       "451 Try later"},
      {"odd_enhanced", with(&S::rcpt, "550 5.1 not an enhanced code"), "perm_fail", "rcpt", 550, "",
       "5.1 not"},
      {"non_ascii", with(&S::rcpt, "550 5.7.1 Bl\xc3\xb6\x63ked \xff"), "perm_fail", "rcpt", 550,
       "5.7.1", "Bl??cked ?"},
      {"stall_banner", with(&S::banner, ""), "timeout", "banner", 0, "", ""},
      {"stall_ehlo", with(&S::ehlo, ""), "timeout", "ehlo", 0, "", ""},
      {"stall_after_data", with(&S::body, ""), "timeout", "body", 0, "", ""},
      {"garbage_rcpt", with(&S::rcpt, "hello, is this SMTP?"), "protocol_error", "rcpt", 0, "",
       "hello, is this SMTP?"},
      {"bad_code", with(&S::rcpt, "999 9.9.9 what"), "protocol_error", "rcpt", 0, "",
       "999 9.9.9 what"},
  };
  for (const auto& row : rows) {
    DYNAMIC_SECTION(row.name) {
      itest::ScriptedPeer peer(row.script);
      auto j = probe_peer(peer, row.name);
      INFO(j.dump());
      CHECK(j["class"] == row.cls);
      CHECK(j["stage"] == row.stage);
      if (row.code) {
        CHECK(j["smtp_code"] == row.code);
      } else {
        CHECK(j["smtp_code"].is_null());
      }
      if (*row.enhanced) {
        CHECK(j["enhanced_code"] == row.enhanced);
      } else {
        CHECK(j["enhanced_code"].is_null());
      }
      CHECK(j["detail"].get<std::string>().find(row.in_detail) != std::string::npos);
      CHECK(j["attempts"] == 1);
    }
  }
}

TEST_CASE("a 10 MB banner line is protocol_error in bounded time, no crash",
          "[integration][smtp]") {
  itest::SmtpScript s;
  s.junk_bytes_before_banner = 10 * 1024 * 1024;
  itest::ScriptedPeer peer(s);
  auto start = std::chrono::steady_clock::now();
  auto j = probe_peer(peer, "hugebanner");
  CHECK(j["class"] == "protocol_error");
  CHECK(j["stage"] == "banner");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}

TEST_CASE("a temporary failure is retried with backoff, a permanent one is not",
          "[integration][smtp]") {
  itest::ScriptedPeer temp(with(&itest::SmtpScript::rcpt, "451 4.7.1 later"));
  std::string cfg = itest::testbed_config_head() +
                    "[[target]]\nname = \"r\"\nrcpt = \"canary@example.test\"\nmailbox = "
                    "\"inbox\"\nattempts = 3\nretry_backoff = \"200ms\"\ntimeout = \"1s\"\n"
                    "members = [\"" +
                    temp.address() + "\"]\n";
  auto start = std::chrono::steady_clock::now();
  auto r =
      itest::mailcanary({"probe", "--config", itest::write_temp_file("retry.toml", cfg), "--json"});
  auto took = std::chrono::steady_clock::now() - start;
  auto lines = itest::json_lines(r.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["attempts"] == 3);
  CHECK(temp.connections() == 3);
  // Waits of ~200 ms and ~400 ms, each plus up to as much jitter: 600 ms .. 1.2 s.
  CHECK(took >= std::chrono::milliseconds(600));

  itest::ScriptedPeer perm(with(&itest::SmtpScript::rcpt, "550 5.7.1 no"));
  std::string cfg2 = itest::testbed_config_head() +
                     "[[target]]\nname = \"p\"\nrcpt = \"canary@example.test\"\nmailbox = "
                     "\"inbox\"\nattempts = 3\nretry_backoff = \"200ms\"\ntimeout = \"1s\"\n"
                     "members = [\"" +
                     perm.address() + "\"]\n";
  auto r2 = itest::mailcanary(
      {"probe", "--config", itest::write_temp_file("noretry.toml", cfg2), "--json"});
  auto lines2 = itest::json_lines(r2.out);
  REQUIRE(lines2.size() == 1);
  CHECK(lines2[0]["attempts"] == 1);
  CHECK(perm.connections() == 1);
}
