// `mailcanary probe --format nagios` against the real test bed: the monitoring-plugins
// output (state word, perfdata, worst member first) for ok, warning, critical and a run
// cut by its -t deadline, checked with a parser of the guidelines' grammar; the deadline
// cuts an SMTP conversation and a mailbox wait, and the plugin exits within a second of
// it. Nothing secret is printed.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <sstream>

#include "../plugin_grammar.hpp"
#include "support.hpp"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
  }
  return lines;
}

// vip1 with the given members of the test bed.
std::string target(const std::string& members) {
  return "[[target]]\nname = \"vip1\"\nhost = \"mx.example.test\"\n"
         "rcpt = \"canary@example.test\"\nmailbox = \"inbox\"\nmembers = [" +
         members + "]\n";
}

struct Plugin {
  itest::CommandResult cmd;
  std::vector<std::string> lines;
  double seconds = 0;
};

Plugin plugin(const std::string& config_text, std::vector<std::string> extra) {
  const std::string path = itest::write_temp_file("plugin.toml", config_text);
  std::vector<std::string> args{"probe", "--config", path, "--format", "nagios"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto start = std::chrono::steady_clock::now();
  Plugin p{itest::mailcanary(args), {}, 0};
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  p.lines = lines_of(p.cmd.out);
  // Whatever the state, no password of the test bed is printed.
  const std::string pw =
      itest::read_file(itest::source_dir() + "/tests/testbed/secrets/canary.pass");
  const std::string secret = pw.substr(0, pw.find_first_of("\r\n"));
  CHECK(p.cmd.out.find(secret) == std::string::npos);
  CHECK(p.cmd.err.find(secret) == std::string::npos);
  return p;
}

}  // namespace

TEST_CASE("plugin mode: OK, WARNING and CRITICAL with perfdata and the worst member first",
          "[integration][probe][plugin]") {
  const std::string cfg = itest::testbed_config_head() + target(R"("127.0.0.11:2525")");
  {
    auto p = plugin(cfg, {});
    INFO(p.cmd.out << p.cmd.err);
    CHECK(p.cmd.exit_code == 0);
    check_grammar(p.cmd.out, 0);
    REQUIRE(p.lines.size() == 2);
    CHECK(p.lines[0].find("'vip1/127.0.0.11:2525 delivery'=") != std::string::npos);
    CHECK(p.lines[0].find("'vip1/127.0.0.11:2525 smtp'=") != std::string::npos);
    CHECK(p.lines[1].rfind("OK: vip1 127.0.0.11:2525 ok delivery=", 0) == 0);
  }
  {
    // Any real delivery takes longer than a microsecond: outside the warning range.
    auto p = plugin(cfg, {"--warning", "0.000001", "--critical", "60"});
    INFO(p.cmd.out << p.cmd.err);
    CHECK(p.cmd.exit_code == 1);
    check_grammar(p.cmd.out, 1);
    CHECK(p.lines[0].find(";0.000001;60;0;") != std::string::npos);
  }
  {
    // perm_fail (critical) and ok: CRITICAL, the failing member's line first.
    auto p = plugin(
        itest::testbed_config_head() + target(R"("127.0.0.11:2525", "127.0.0.13:2525")"), {});
    INFO(p.cmd.out << p.cmd.err);
    CHECK(p.cmd.exit_code == 2);
    check_grammar(p.cmd.out, 2);
    REQUIRE(p.lines.size() == 3);
    CHECK(p.lines[0].find("1 of 2 members not ok: vip1/127.0.0.13:2525 perm_fail") !=
          std::string::npos);
    CHECK(p.lines[1].rfind("CRITICAL: vip1 127.0.0.13:2525 perm_fail stage=rcpt code=550", 0) == 0);
    CHECK(p.lines[2].rfind("OK: vip1 127.0.0.11:2525 ok", 0) == 0);
  }
  {
    auto p = plugin(cfg, {"--warning", "soon"});
    CHECK(p.cmd.exit_code == 3);
    REQUIRE(p.lines.size() == 1);
    CHECK(p.lines[0].rfind("MAILCANARY UNKNOWN - --warning: \"soon\" is not a range", 0) == 0);
  }
}

TEST_CASE("plugin mode: -t cuts a stalled conversation and a mailbox wait; UNKNOWN in time",
          "[integration][probe][plugin]") {
  // A member that answers the end of data with silence, with a 30 s SMTP timeout, and one
  // that discards the canary (found never; lost only after 60 s): the 3 s deadline ends both.
  itest::SmtpScript stall;
  stall.body = "";
  itest::ScriptedPeer peer(stall);
  std::string head = itest::testbed_config_head();
  head.replace(head.find("lost_after = \"4s\""), 17, "lost_after = \"60s\"");
  const std::string cfg = head + target(R"("127.0.0.11:2525", "127.0.0.14:2525")") +
                          "\n[[target]]\nname = \"stall\"\nrcpt = \"canary@example.test\"\n"
                          "mailbox = \"inbox\"\ntimeout = \"30s\"\nmembers = [\"" +
                          peer.address() + "\"]\n";
  for (const std::string state : {"unknown", "critical"}) {
    auto p = plugin(cfg, {"-t", "3", "--timeout-state", state});
    INFO(p.cmd.out << p.cmd.err);
    const int code = state == "unknown" ? 3 : 2;
    const std::string word = state == "unknown" ? "UNKNOWN" : "CRITICAL";
    CHECK(p.cmd.exit_code == code);
    check_grammar(p.cmd.out, code);
    // Within a second of the deadline, process start included.
    CHECK(p.seconds < 4.0);
    CHECK(p.seconds >= 3.0);
    REQUIRE(p.lines.size() == 4);
    // The cut members first, each saying so; the ok one last.
    CHECK(p.lines[0].find(" - 2 of 3 members not ok: ") != std::string::npos);
    const std::string cut = word + ": stall " + peer.address() + " no result before the timeout";
    const std::string lost = word + ": vip1 127.0.0.14:2525 no result before the timeout";
    CHECK(std::count(p.lines.begin(), p.lines.end(), cut) == 1);
    CHECK(std::count(p.lines.begin(), p.lines.end(), lost) == 1);
    CHECK(p.lines[3].rfind("OK: vip1 127.0.0.11:2525 ok", 0) == 0);
    CHECK(p.lines[0].find("'stall/" + peer.address() + " delivery'=U;") != std::string::npos);
  }
}

namespace {

// What the real Nagios Core 4 recorded for one check of `mailcanary ARGS`
// (tests/plugin/nagios_run.sh): key=value, as in its status file.
std::map<std::string, std::string> nagios_check(const std::vector<std::string>& args) {
  std::vector<std::string> argv{itest::source_dir() + "/tests/plugin/nagios_run.sh",
                                "--check-timeout", "30", "--", MAILCANARY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = itest::run_command(argv, std::chrono::seconds(90));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, std::string> status;
  for (const auto& line : lines_of(r.out)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) {
      status[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return status;
}

}  // namespace

TEST_CASE("plugin mode under the real Nagios Core 4: state, output, perfdata, timeout",
          "[integration][probe][plugin][nagios]") {
  std::string head = itest::testbed_config_head();
  head.replace(head.find("lost_after = \"4s\""), 17, "lost_after = \"60s\"");
  const std::string path = itest::write_temp_file(
      "nagios.toml", head + target(R"("127.0.0.11:2525", "127.0.0.14:2525")"));
  {
    auto s = nagios_check({"probe", "--config", path, "--format", "nagios", "--member",
                           "127.0.0.11:2525", "--warning", "20", "--critical", "40"});
    CHECK(s["current_state"] == "0");
    CHECK(s["plugin_output"].rfind("MAILCANARY OK - 1 member ok, slowest delivery ", 0) == 0);
    CHECK(s["long_plugin_output"].rfind("OK: vip1 127.0.0.11:2525 ok delivery=", 0) == 0);
    CHECK(s["performance_data"].find("'vip1/127.0.0.11:2525 delivery'=") == 0);
    CHECK(s["performance_data"].find(";20;40;0;") != std::string::npos);
  }
  {
    // The discarded canary is never found: the plugin answers at its -t, long before
    // Nagios's own 30 s timeout would discard the output.
    auto s = nagios_check({"probe", "--config", path, "--format", "nagios", "-t", "3"});
    CHECK(s["current_state"] == "3");
    CHECK(s["plugin_output"] ==
          "MAILCANARY UNKNOWN - 1 of 2 members not ok: "
          "vip1/127.0.0.14:2525 no result");
    CHECK(s["long_plugin_output"].find("UNKNOWN: vip1 127.0.0.14:2525 no result before the "
                                       "timeout") == 0);
    CHECK(std::stod(s["check_execution_time"]) < 4.0);
  }
}
