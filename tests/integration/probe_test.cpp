// `mailcanary probe` against the real test bed: each member behaviour gives its class
// and stage, and the canary really went through Postfix into the Maildir, was read over
// IMAP and deleted.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <sstream>

#include "support.hpp"

using itest::json_lines;
using itest::mailcanary;

namespace {

const std::string kMembers =
    "[[target]]\n"
    "name = \"vip1\"\n"
    "host = \"mx.example.test\"\n"
    "rcpt = \"canary@example.test\"\n"
    "mailbox = \"inbox\"\n"
    "members = [\"127.0.0.11:2525\", \"127.0.0.12:2525\", \"127.0.0.13:2525\",\n"
    "           \"127.0.0.14:2525\", \"127.0.0.15:2525\"]\n";

struct Probe {
  itest::CommandResult cmd;
  std::map<std::string, nlohmann::json> by_member;
};

Probe probe(const std::string& config_text, const std::string& name,
            std::vector<std::string> extra = {}) {
  std::string path = itest::write_temp_file(name + ".toml", config_text);
  std::vector<std::string> args{"probe", "--config", path, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  Probe p{mailcanary(args), {}};
  INFO("stdout: " << p.cmd.out << "\nstderr: " << p.cmd.err);
  for (auto& j : json_lines(p.cmd.out)) {
    p.by_member[j["member"].get<std::string>()] = j;
  }
  return p;
}

// The status= of the Postfix log line that says where the message with this queue id
// went; empty when there is none. Only this queue id's lines count: the log is shared.
std::string maillog_status(const std::string& queue_id) {
  std::string log = itest::read_file(itest::testbed_dir() + "/postfix/maillog");
  std::regex re(R"(\]: )" + queue_id + R"(: .*status=(\w+))");
  std::smatch m;
  std::string last;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
       ++it) {
    last = (*it)[1];
  }
  return last;
}

// The log lines of the smtpd session that received the message with this queue id:
// those of the same smtpd process from its "connect from" to its "disconnect from".
std::vector<std::string> smtpd_session(const std::string& queue_id) {
  std::vector<std::string> lines;
  {
    std::istringstream in(itest::read_file(itest::testbed_dir() + "/postfix/maillog"));
    for (std::string line; std::getline(in, line);) {
      lines.push_back(line);
    }
  }
  const std::string client = "]: " + queue_id + ": client=";
  auto hit = std::find_if(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.find(client) != std::string::npos;
  });
  if (hit == lines.end()) {
    return {};
  }
  // "... postfix-testbed/discard/smtpd[123]: " names the process.
  const auto tag_end = hit->find(client) + 3;
  const auto tag_begin = hit->rfind(' ', hit->find(client)) + 1;
  const std::string tag = hit->substr(tag_begin, tag_end - tag_begin);
  const auto ours = [&](const std::string& l) { return l.find(tag) != std::string::npos; };
  auto first = hit;
  while (first != lines.begin() &&
         !(ours(*first) && first->find("connect from") != std::string::npos &&
           first->find("disconnect from") == std::string::npos)) {
    --first;
  }
  std::vector<std::string> session;
  for (auto it = first; it != lines.end(); ++it) {
    if (ours(*it)) {
      session.push_back(*it);
      if (it->find("disconnect from") != std::string::npos) {
        break;
      }
    }
  }
  return session;
}

}  // namespace

TEST_CASE("each VIP member behaviour gives its class and stage", "[integration][probe]") {
  auto p = probe(itest::testbed_config_head() + kMembers, "members");
  INFO("stdout: " << p.cmd.out << "\nstderr: " << p.cmd.err);
  REQUIRE(p.by_member.size() == 5);

  const auto& ok = p.by_member["127.0.0.11:2525"];
  CHECK(ok["target"] == "vip1");
  CHECK(ok["class"] == "ok");
  CHECK(ok["stage"] == "done");
  CHECK(ok["smtp_code"] == 250);
  CHECK(ok["attempts"] == 1);
  CHECK(ok["delivery_seconds"].is_number());
  CHECK(ok["delivery_seconds"].get<double>() < 3.0);
  CHECK(ok["queue_id"].is_string());

  const auto& temp = p.by_member["127.0.0.12:2525"];
  CHECK(temp["class"] == "temp_fail");
  CHECK(temp["stage"] == "rcpt");
  CHECK(temp["smtp_code"] == 451);
  CHECK(temp["enhanced_code"] == "4.7.1");
  CHECK(temp["attempts"] == 2);  // 4xx is retried up to [smtp] attempts
  CHECK(temp["delivery_seconds"].is_null());
  CHECK(temp["detail"].get<std::string>().find("451 4.7.1") == 0);

  const auto& perm = p.by_member["127.0.0.13:2525"];
  CHECK(perm["class"] == "perm_fail");
  CHECK(perm["stage"] == "rcpt");
  CHECK(perm["smtp_code"] == 550);
  CHECK(perm["enhanced_code"] == "5.7.1");
  CHECK(perm["attempts"] == 1);  // 5xx is never retried

  const auto& lost = p.by_member["127.0.0.14:2525"];
  CHECK(lost["class"] == "lost");
  CHECK(lost["stage"] == "mailbox");
  CHECK(lost["smtp_code"] == 250);
  CHECK(lost["delivery_seconds"].is_null());

  const auto& down = p.by_member["127.0.0.15:2525"];
  CHECK(down["class"] == "unreachable");
  CHECK(down["stage"] == "connect");
  CHECK(down["attempts"] == 2);
  CHECK(down["smtp_code"].is_null());

  CHECK(p.cmd.exit_code == 2);  // critical: perm_fail, lost, unreachable
}

TEST_CASE("a delivered canary went through Postfix, was read over IMAP and deleted",
          "[integration][probe]") {
  auto p =
      probe(itest::testbed_config_head() + kMembers, "delivered", {"--member", "127.0.0.11:2525"});
  REQUIRE(p.by_member.size() == 1);
  const auto& r = p.by_member["127.0.0.11:2525"];
  REQUIRE(r["class"] == "ok");
  CHECK(p.cmd.exit_code == 0);
  const std::string id = r["canary_id"];
  const std::string queue_id = r["queue_id"];
  // Postfix delivered it to the Maildir ...
  CHECK(maillog_status(queue_id) == "sent");
  // ... and it is no longer there: the reader found and expunged it.
  CHECK(itest::maildir_files_containing("canary", id).empty());
}

TEST_CASE("a member's delivery is timed from its own 250, not from the end of all sends",
          "[integration][probe]") {
  // 127.0.0.12 answers 451 at every RCPT: with 3 attempts and a 1 s backoff its sends
  // take at least 1 s + 2 s of backoff. 127.0.0.11 delivers within milliseconds; its
  // confirmation must not wait for the other member's retries.
  std::string cfg = itest::testbed_config_head() +
                    "[[target]]\nname = \"timing\"\nhost = \"mx.example.test\"\n"
                    "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
                    "attempts = 3\nretry_backoff = \"1s\"\n"
                    "members = [\"127.0.0.12:2525\", \"127.0.0.11:2525\"]\n";
  auto start = std::chrono::steady_clock::now();
  auto p = probe(cfg, "timing");
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(p.by_member.size() == 2);
  const auto& retried = p.by_member["127.0.0.12:2525"];
  CHECK(retried["class"] == "temp_fail");
  CHECK(retried["attempts"] == 3);
  CHECK(took >= 3.0);  // the retries really took their backoff
  const auto& good = p.by_member["127.0.0.11:2525"];
  REQUIRE(good["delivery_seconds"].is_number());
  const double delivery = good["delivery_seconds"].get<double>();
  WARN("good member delivery " << delivery << " s, probe took " << took << " s");
  CHECK(delivery < 1.0);
  CHECK(good["class"] == "ok");  // not late: the latency SLO is 3 s
  CHECK(p.cmd.exit_code == 1);   // temp_fail warns; the good member is ok
}

TEST_CASE("a silently discarded canary is lost and Postfix says it discarded it",
          "[integration][probe]") {
  auto p =
      probe(itest::testbed_config_head() + kMembers, "discard", {"--member", "127.0.0.14:2525"});
  REQUIRE(p.by_member.size() == 1);
  const auto& r = p.by_member["127.0.0.14:2525"];
  CHECK(r["class"] == "lost");
  CHECK(r["smtp_code"] == 250);
  CHECK(p.cmd.exit_code == 2);
  // The state: accepted with a queue id, never delivered, not in the mailbox ...
  REQUIRE(r["queue_id"].is_string());
  const std::string queue_id = r["queue_id"];
  CHECK(maillog_status(queue_id).empty());
  CHECK(itest::maildir_files_containing("canary", r["canary_id"].get<std::string>()).empty());
  // ... and the smtpd session that took this very canary logged the DISCARD.
  auto session = smtpd_session(queue_id);
  INFO("session of " << queue_id << ":\n"
                     << [&] {
                          std::string all;
                          for (const auto& l : session) {
                            all += l + "\n";
                          }
                          return all;
                        }());
  CHECK(std::any_of(session.begin(), session.end(), [](const std::string& l) {
    return l.find("discard: RCPT") != std::string::npos &&
           l.find("to=<canary@example.test>") != std::string::npos;
  }));
}

TEST_CASE("special recipients on the accepting listener give their classes",
          "[integration][probe]") {
  std::string cfg = itest::testbed_config_head();
  for (auto [name, rcpt] : {std::pair{"tempfail", "tempfail@example.test"},
                            std::pair{"permfail", "permfail@example.test"},
                            std::pair{"discard", "discard@example.test"}}) {
    cfg += std::string("[[target]]\nname = \"") + name + "\"\nrcpt = \"" + rcpt +
           "\"\nmailbox = \"inbox\"\nmembers = [\"127.0.0.11:2525\"]\n";
  }
  auto out =
      mailcanary({"probe", "--config", itest::write_temp_file("special.toml", cfg), "--json"});
  INFO(out.out << out.err);
  std::map<std::string, nlohmann::json> by_target;
  for (auto& j : json_lines(out.out)) {
    by_target[j["target"].get<std::string>()] = j;
  }
  REQUIRE(by_target.size() == 3);
  CHECK(by_target["tempfail"]["class"] == "temp_fail");
  CHECK(by_target["tempfail"]["stage"] == "rcpt");
  CHECK(by_target["permfail"]["class"] == "perm_fail");
  CHECK(by_target["permfail"]["smtp_code"] == 550);
  CHECK(by_target["discard"]["class"] == "lost");
}

TEST_CASE("only temp_fail members give the warning exit code", "[integration][probe]") {
  auto p = probe(itest::testbed_config_head() + kMembers, "warn", {"--member", "127.0.0.12:2525"});
  CHECK(p.by_member["127.0.0.12:2525"]["class"] == "temp_fail");
  CHECK(p.cmd.exit_code == 1);
}

TEST_CASE("a member that accepts the connection and never answers times out at banner",
          "[integration][probe]") {
  itest::SmtpScript mute;
  mute.banner = "";
  itest::ScriptedPeer silent(mute);
  std::string cfg = itest::testbed_config_head() +
                    "[[target]]\nname = \"mute\"\nrcpt = \"canary@example.test\"\n"
                    "mailbox = \"inbox\"\nattempts = 1\ntimeout = \"1s\"\nmembers = [\"" +
                    silent.address() + "\"]\n";
  auto start = std::chrono::steady_clock::now();
  auto p = probe(cfg, "silent");
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(p.by_member.size() == 1);
  const auto& r = p.by_member[silent.address()];
  CHECK(r["class"] == "timeout");
  CHECK(r["stage"] == "banner");
  CHECK(silent.connections() == 1);
  CHECK(took < std::chrono::seconds(15));  // bounded by the configured timeout, no hang
  CHECK(p.cmd.exit_code == 2);
}

TEST_CASE("a banner that is not SMTP is protocol_error", "[integration][probe]") {
  itest::SmtpScript http;
  http.banner = "HTTP/1.1 400 Bad Request";
  itest::ScriptedPeer peer(http);
  std::string cfg = itest::testbed_config_head() +
                    "[[target]]\nname = \"http\"\nrcpt = \"canary@example.test\"\n"
                    "mailbox = \"inbox\"\nattempts = 1\ntimeout = \"1s\"\nmembers = [\"" +
                    peer.address() + "\"]\n";
  auto p = probe(cfg, "garbage");
  REQUIRE(p.by_member.size() == 1);
  const auto& r = p.by_member[peer.address()];
  CHECK(r["class"] == "protocol_error");
  CHECK(r["stage"] == "banner");
  CHECK(r["detail"].get<std::string>().find("HTTP/1.1 400") != std::string::npos);
}

TEST_CASE("wrong mailbox credentials give mailbox_error quickly, exit unknown",
          "[integration][probe][secrets]") {
  std::string bad_pw = itest::write_temp_file("wrong.pass", "not-the-password\n");
  auto start = std::chrono::steady_clock::now();
  auto p = probe(itest::testbed_config_head(bad_pw) + kMembers, "badpw",
                 {"--member", "127.0.0.11:2525"});
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(p.by_member.size() == 1);
  const auto& r = p.by_member["127.0.0.11:2525"];
  CHECK(r["class"] == "mailbox_error");
  CHECK(r["stage"] == "mailbox");
  CHECK(r["detail"].get<std::string>().find("login") != std::string::npos);
  CHECK(p.cmd.exit_code == 3);
  CHECK(took < std::chrono::seconds(4));  // a refused login is final, not waited out
  CHECK(p.cmd.out.find("not-the-password") == std::string::npos);
  CHECK(p.cmd.err.find("not-the-password") == std::string::npos);
}

TEST_CASE("verbose output carries the SMTP transcript", "[integration][probe]") {
  auto p = probe(itest::testbed_config_head() + kMembers, "verbose",
                 {"--member", "127.0.0.12:2525", "--verbose"});
  const auto& r = p.by_member["127.0.0.12:2525"];
  REQUIRE(r.contains("transcript"));
  std::string all;
  for (const auto& l : r["transcript"]) {
    all += l.get<std::string>() + "\n";
  }
  CHECK(all.find("C: RCPT TO:<canary@example.test>") != std::string::npos);
  CHECK(all.find("S: 451 4.7.1") != std::string::npos);
}

TEST_CASE("check-config reports a bad config as FILE:LINE:COL and exits 2",
          "[integration][config]") {
  std::string path = itest::write_temp_file(
      "bad.toml", itest::testbed_config_head() +
                      "[[target]]\nname = \"x\"\nrcpt = \"canary@example.test\"\n"
                      "mailbox = \"inbox\"\nmembers = [\"127.0.0.11:2525\"]\ntsl = \"none\"\n");
  auto r = mailcanary({"check-config", path});
  CHECK(r.exit_code == 2);
  int line = 0;
  {
    std::string text = itest::read_file(path);
    std::size_t pos = text.find("tsl =");
    line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
  }
  CHECK(r.err.find(path + ":" + std::to_string(line) + ":1: ") != std::string::npos);
  CHECK(r.err.find("tsl") != std::string::npos);

  auto ok = mailcanary({"check-config", itest::write_temp_file(
                                            "good.toml", itest::testbed_config_head() + kMembers)});
  CHECK(ok.exit_code == 0);
}

TEST_CASE("probe with a broken or missing config exits unknown with the error",
          "[integration][config]") {
  auto missing = mailcanary({"probe", "--config", "/nonexistent/mailcanary.toml"});
  CHECK(missing.exit_code == 3);
  CHECK(missing.err.find("/nonexistent/mailcanary.toml") != std::string::npos);
  auto broken = mailcanary(
      {"probe", "--config", itest::write_temp_file("broken.toml", "[agent\nlisten = 1\n")});
  CHECK(broken.exit_code == 3);
  CHECK(broken.err.find("broken.toml:1:") != std::string::npos);
}
