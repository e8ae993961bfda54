// Mailbox confirmation against the real Dovecot: IMAP with IDLE, IMAP polling, POP3,
// foreign and forged canaries left alone, deletion checked in the Maildir itself.
#include <catch2/catch.hpp>
#include <map>

#include "support.hpp"

namespace {

std::string config_with_mailbox(const std::string& mailbox_table) {
  const std::string secrets = itest::source_dir() + "/tests/testbed/secrets/";
  std::string head = itest::testbed_config_head();
  // Replace the default [[mailbox]] with the one under test.
  auto start = head.find("[[mailbox]]");
  auto end = head.find("[slg]");
  return head.substr(0, start) + mailbox_table + "\n" + head.substr(end) +
         "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
         "members = [\"127.0.0.11:2525\"]\n";
}

nlohmann::json probe_one(const std::string& cfg, const std::string& name) {
  auto r = itest::mailcanary(
      {"probe", "--config", itest::write_temp_file(name + ".toml", cfg), "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  auto lines = itest::json_lines(r.out);
  REQUIRE(lines.size() == 1);
  UNSCOPED_INFO(lines[0].dump());
  return lines[0];
}

// Sends a message with the given canary header straight through Postfix.
void deliver_with_header(const std::string& header_value, const std::string& tag) {
  auto r = itest::run_command({"/usr/bin/swaks", "--server", "127.0.0.11:2525", "--to",
                               "canary@example.test", "--from", "someone@example.test", "--header",
                               "X-Mailcanary-Id: " + header_value, "--header", "X-Test-Tag: " + tag,
                               "--silent", "2"});
  REQUIRE(r.exit_code == 0);
}

// Waits (bounded) until Postfix has put a message carrying `needle` into the Maildir.
bool wait_for_maildir(const std::string& needle) {
  for (int i = 0; i < 500; ++i) {
    if (!itest::maildir_files_containing("canary", needle).empty()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

const std::string kPassword = itest::source_dir() + "/tests/testbed/secrets/canary.pass";

}  // namespace

TEST_CASE("POP3 confirms the canary and deletes it", "[integration][mailbox][pop3]") {
  auto j = probe_one(config_with_mailbox("[[mailbox]]\nname = \"inbox\"\nprotocol = \"pop3\"\n"
                                         "server = \"127.0.0.1:1110\"\nuser = \"canary\"\n"
                                         "password_file = \"" +
                                         kPassword +
                                         "\"\n"
                                         "poll_interval = \"100ms\"\n"),
                     "pop3");
  CHECK(j["class"] == "ok");
  CHECK(j["delivery_seconds"].is_number());
  CHECK(itest::maildir_files_containing("canary", j["canary_id"]).empty());
}

TEST_CASE("POP3 with a wrong password is mailbox_error", "[integration][mailbox][pop3]") {
  auto j = probe_one(config_with_mailbox("[[mailbox]]\nname = \"inbox\"\nprotocol = \"pop3\"\n"
                                         "server = \"127.0.0.1:1110\"\nuser = \"canary\"\n"
                                         "password_file = \"" +
                                         itest::write_temp_file("pop-wrong.pass", "nope\n") +
                                         "\"\npoll_interval = \"100ms\"\n"),
                     "pop3-wrong");
  CHECK(j["class"] == "mailbox_error");
  CHECK(j["detail"].get<std::string>().find("pop3 127.0.0.1:1110: login") == 0);
}

TEST_CASE("IMAP without IDLE polls and confirms", "[integration][mailbox][imap]") {
  auto j = probe_one(config_with_mailbox("[[mailbox]]\nname = \"inbox\"\nprotocol = \"imap\"\n"
                                         "server = \"127.0.0.1:1143\"\nuser = \"canary\"\n"
                                         "password_file = \"" +
                                         kPassword +
                                         "\"\n"
                                         "idle = false\npoll_interval = \"100ms\"\n"),
                     "imap-poll");
  CHECK(j["class"] == "ok");
  CHECK(itest::maildir_files_containing("canary", j["canary_id"]).empty());
}

TEST_CASE("a mailbox server that is down is mailbox_error, not a failure of the target",
          "[integration][mailbox]") {
  auto j = probe_one(config_with_mailbox("[[mailbox]]\nname = \"inbox\"\nprotocol = \"imap\"\n"
                                         "server = \"127.0.0.1:1199\"\nuser = \"canary\"\n"
                                         "password_file = \"" +
                                         kPassword +
                                         "\"\n"
                                         "poll_interval = \"100ms\"\n"),
                     "imap-down");
  CHECK(j["class"] == "mailbox_error");
  CHECK(j["detail"].get<std::string>().find("cannot connect") != std::string::npos);
}

TEST_CASE("forged and foreign canaries in the mailbox are left alone", "[integration][mailbox]") {
  for (const char* protocol : {"imap", "pop3"}) {
    DYNAMIC_SECTION(protocol) {
      // Unique per run: the test bed may hold messages of an earlier run of this test.
      std::string tag = std::string("forged-") + protocol + "-" +
                        std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
      // A forged signature, and a canary of another agent (another key).
      deliver_with_header(
          "mc1-0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa sig=00000000000000000000000000000000", tag);
      deliver_with_header("mc1-0-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb sig=1234", tag);
      REQUIRE(wait_for_maildir("X-Test-Tag: " + tag));
      std::string port = std::string(protocol) == "imap" ? "1143" : "1110";
      auto j = probe_one(
          config_with_mailbox(std::string("[[mailbox]]\nname = \"inbox\"\nprotocol = \"") +
                              protocol + "\"\nserver = \"127.0.0.1:" + port +
                              "\"\nuser = \"canary\"\npassword_file = \"" + kPassword +
                              "\"\npoll_interval = \"100ms\"\n"),
          tag);
      CHECK(j["class"] == "ok");
      // Our canary is gone, the two others are still there.
      CHECK(itest::maildir_files_containing("canary", j["canary_id"]).empty());
      CHECK(itest::maildir_files_containing("canary", "X-Test-Tag: " + tag).size() == 2);
    }
  }
}
