// What the mailbox side reports, against the real test bed: a canary filed into Junk is
// junked, a real Postfix DSN makes it bounced, an ok canary carries the evidence of its
// Received headers, a session Dovecot drops is re-established, and a canary of an
// earlier run (same key) is left alone.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kSecrets = itest::source_dir() + "/tests/testbed/secrets/";

std::string inbox_table(const std::string& extra = "") {
  return "[[mailbox]]\nname = \"inbox\"\nprotocol = \"imap\"\nserver = \"127.0.0.1:1143\"\n"
         "user = \"canary\"\npassword_file = \"" +
         kSecrets + "canary.pass\"\npoll_interval = \"100ms\"\n" + extra;
}

std::string bounces_table() {
  return "[[mailbox]]\nname = \"bounces\"\nprotocol = \"imap\"\nserver = \"127.0.0.1:1143\"\n"
         "user = \"bounces\"\npassword_file = \"" +
         kSecrets + "bounces.pass\"\npoll_interval = \"100ms\"\n";
}

// The test bed config with `mailboxes` instead of its [[mailbox]], plus `targets`.
std::string config(const std::string& mailboxes, const std::string& targets) {
  std::string head = itest::testbed_config_head();
  auto start = head.find("[[mailbox]]");
  auto end = head.find("[slg]");
  return head.substr(0, start) + mailboxes + "\n" + head.substr(end) + targets;
}

std::string target(const std::string& member, const std::string& rcpt,
                   const std::string& extra = "") {
  return "[[target]]\nname = \"t\"\nrcpt = \"" + rcpt + "\"\nmailbox = \"inbox\"\nmembers = [\"" +
         member + "\"]\n" + extra;
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

std::string hmac_key() {
  std::string key = itest::read_file(kSecrets + "hmac.key");
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) {
    key.pop_back();
  }
  return key;
}

// Files of a Maildir folder (new/ and cur/) holding `needle`.
std::vector<std::string> folder_files_containing(const fs::path& maildir,
                                                 const std::string& needle) {
  std::vector<std::string> hits;
  for (const char* sub : {"new", "cur"}) {
    if (!fs::exists(maildir / sub)) {
      continue;
    }
    for (const auto& e : fs::directory_iterator(maildir / sub)) {
      if (itest::read_file(e.path()).find(needle) != std::string::npos) {
        hits.push_back(e.path());
      }
    }
  }
  return hits;
}

// Sends a message carrying `header_value` in X-Mailcanary-Id straight through Postfix and
// waits (bounded) until it is in the canary Maildir.
void deliver_canary_header(const std::string& header_value) {
  auto r = itest::run_command({"/usr/bin/swaks", "--server", "127.0.0.11:2525", "--to",
                               "canary@example.test", "--from", "someone@example.test", "--header",
                               "X-Mailcanary-Id: " + header_value, "--silent", "2"});
  REQUIRE(r.exit_code == 0);
  for (int i = 0; i < 500; ++i) {
    if (!itest::maildir_files_containing("canary", header_value).empty()) {
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  FAIL("the message did not arrive in the Maildir");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string dovecot_log() {
  return itest::read_file(itest::testbed_dir() + "/dovecot/dovecot.log");
}

std::size_t count_lines(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto pos = text.find(part); pos != std::string::npos; pos = text.find(part, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("a canary Postfix files into Junk is junked, with the folder in the detail",
          "[integration][mailbox][evidence]") {
  auto j = probe_one(config(inbox_table("junk_folders = [\"Spam\", \"Junk\"]\n"),
                            target("127.0.0.11:2525", "junk@example.test")),
                     "junk");
  CHECK(j["class"] == "junked");
  CHECK(j["stage"] == "done");
  CHECK(contains(j["detail"], "Junk"));
  CHECK(j["delivery_seconds"].is_number());
  // Deleted from the Junk folder too.
  const fs::path junk = fs::path(itest::testbed_dir()) / "mail/canary/Maildir/.Junk";
  CHECK(fs::exists(junk / "new"));
  CHECK(folder_files_containing(junk, j["canary_id"]).empty());
}

TEST_CASE("without junk_folders a canary in Junk is never seen: lost",
          "[integration][mailbox][evidence]") {
  auto j = probe_one(config(inbox_table(), target("127.0.0.11:2525", "junk@example.test")),
                     "junk-unwatched");
  CHECK(j["class"] == "lost");
  const fs::path junk = fs::path(itest::testbed_dir()) / "mail/canary/Maildir/.Junk";
  auto left = folder_files_containing(junk, j["canary_id"]);
  CHECK(left.size() == 1);
  for (const auto& f : left) {
    fs::remove(f);
  }
}

TEST_CASE("a real Postfix DSN for an accepted canary makes it bounced with 5.1.1",
          "[integration][mailbox][evidence]") {
  auto j = probe_one(config(inbox_table() + "\n" + bounces_table(),
                            target("127.0.0.23:2525", "nosuchuser@example.test",
                                   "bounce_mailbox = \"bounces\"\n")),
                     "bounce");
  CHECK(j["class"] == "bounced");
  CHECK(j["smtp_code"] == 250);  // accepted first
  const std::string detail = j["detail"];
  CHECK(contains(detail, "5.1.1"));
  CHECK(contains(detail, "nosuchuser"));
  // The report was deleted from the bounces mailbox.
  CHECK(itest::maildir_files_containing("bounces", j["canary_id"]).empty());
}

TEST_CASE("an ok canary carries the receiving host and its hops",
          "[integration][mailbox][evidence]") {
  auto j = probe_one(config(inbox_table(), target("127.0.0.11:2525", "canary@example.test")),
                     "evidence");
  CHECK(j["class"] == "ok");
  CHECK(j["received_by"] == "mx.example.test");
  REQUIRE(j["hops"].is_array());
  CHECK_FALSE(j["hops"].empty());
  CHECK(j["hops"].back()["by"] == "mx.example.test");
}

TEST_CASE("a canary of an earlier run is removed once older than lost_after, not before",
          "[integration][mailbox][evidence]") {
  // Left behind by a run that ended first (a crash, a `probe -t` cut short): the next
  // run removes it once nobody can be waiting for it any more, and leaves a younger one
  // (another run's, perhaps still waited for) alone.
  const std::string key = hmac_key();
  const std::string slg = "[target.slg]\nlost_after = \"60s\"\n";
  for (const char* protocol : {"imap", "pop3"}) {
    DYNAMIC_SECTION(protocol) {
      const std::string old_token = mailcanary::probes::canary_token(
          mailcanary::probes::new_canary_id(std::chrono::system_clock::now() - 1h), key);
      const std::string young_token = mailcanary::probes::canary_token(
          mailcanary::probes::new_canary_id(std::chrono::system_clock::now()), key);
      deliver_canary_header(old_token);
      deliver_canary_header(young_token);
      REQUIRE(itest::maildir_files_containing("canary", old_token).size() == 1);
      const std::string table =
          std::string(protocol) == "imap"
              ? inbox_table()
              : "[[mailbox]]\nname = \"inbox\"\nprotocol = \"pop3\"\nserver = \"127.0.0.1:1110\"\n"
                "user = \"canary\"\npassword_file = \"" +
                    kSecrets + "canary.pass\"\npoll_interval = \"100ms\"\n";
      auto j = probe_one(config(table, target("127.0.0.11:2525", "canary@example.test", slg)),
                         std::string("leftover-") + protocol);
      CHECK(j["class"] == "ok");
      CHECK(itest::maildir_files_containing("canary", j["canary_id"]).empty());
      CHECK(itest::maildir_files_containing("canary", old_token).empty());        // removed
      CHECK(itest::maildir_files_containing("canary", young_token).size() == 1);  // untouched
      for (const auto& f : itest::maildir_files_containing("canary", young_token)) {
        fs::remove(f);
      }
    }
  }
}

TEST_CASE("an IMAP session Dovecot drops (doveadm kick) is re-established and confirms",
          "[integration][mailbox][evidence]") {
  mailcanary::config::MailboxConfig cfg;
  cfg.name = "inbox";
  cfg.server = {"127.0.0.1", 1143};
  cfg.user = "canary";
  {
    std::string pw = itest::read_file(kSecrets + "canary.pass");
    cfg.password = pw.substr(0, pw.find_first_of("\r\n"));
  }
  cfg.idle = true;
  cfg.poll_interval = 100ms;
  const std::string key = hmac_key();
  const auto logins_before = count_lines(dovecot_log(), "Info: Login: user=<canary>");
  const auto kicked_before = count_lines(dovecot_log(), "Disconnected: Server shutting down");
  auto reader = mailcanary::probes::make_mailbox_reader(cfg, key);
  reader->prepare();  // logged in and idle, as while a probe sends

  auto kick = itest::run_command(
      {"/usr/bin/doveadm", "-c", itest::testbed_dir() + "/dovecot/dovecot.conf", "kick", "canary"},
      std::chrono::seconds(20));
  INFO("doveadm: " << kick.out << kick.err);
  REQUIRE(kick.exit_code == 0);
  CHECK(contains(kick.out, "kicked connections"));
  // Dovecot logs the session's end (bounded wait).
  for (int i = 0;
       i < 200 && count_lines(dovecot_log(), "Disconnected: Server shutting down") == kicked_before;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(count_lines(dovecot_log(), "Disconnected: Server shutting down") > kicked_before);

  const std::string id = mailcanary::probes::new_canary_id(std::chrono::system_clock::now());
  deliver_canary_header(mailcanary::probes::canary_token(id, key));
  mailcanary::probes::SystemClock clock;
  const auto now = clock.now();
  auto result = mailcanary::probes::await_canaries(*reader, nullptr, {{id, now, now + 5s}},
                                                   {100ms, 2ms}, clock);
  INFO("error: " << result[id].error);
  CHECK(result[id].state == mailcanary::probes::Confirmation::State::found);
  CHECK(result[id].folder == "INBOX");
  CHECK(itest::maildir_files_containing("canary", id).empty());
  // Two logins: the first session (kicked) and the one that confirmed.
  CHECK(count_lines(dovecot_log(), "Info: Login: user=<canary>") == logins_before + 2);
}
