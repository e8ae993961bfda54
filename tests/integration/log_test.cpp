// The journal stays quiet when all is well: at the default level (info) a healthy member
// writes no line per probe, only the start-up lines; at debug each result is a line.
// Real Postfix and Dovecot.
#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "support.hpp"

namespace {

const std::string kGood =
    "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
    "members = [\"127.0.0.11:2525\"]\n";

// The ok results counted on /metrics.
double ok_results(const std::string& address) {
  const auto out = itest::run_command(
                       {"/usr/bin/curl", "-s", "--max-time", "5", "http://" + address + "/metrics"})
                       .out;
  std::smatch m;
  static const std::regex re(R"(mailcanary_probes_total\{[^}]*class="ok"[^}]*\} ([0-9.e+]+))");
  return std::regex_search(out, m, re) ? std::stod(m[1].str()) : 0;
}

// Runs the agent until it has `n` ok results; returns its log.
std::string log_after_results(const std::string& level, int n) {
  std::string config = itest::agent_config_head("quiet-" + level) + kGood;
  config = std::regex_replace(config, std::regex("level = \"debug\""), "level = \"" + level + "\"");
  itest::AgentProcess agent(itest::write_temp_file("quiet-" + level + ".toml", config));
  const std::string address = agent.http_address();
  REQUIRE_FALSE(address.empty());
  for (int i = 0; i < 300 && ok_results(address) < n; ++i) {  // bounded: 300 x 100 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(ok_results(address) >= n);
  CHECK(agent.stop() == 0);
  return agent.log();
}

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("at info a healthy member writes no line per probe; at debug each result",
          "[integration][log]") {
  const auto quiet = log_after_results("info", 5);
  INFO(quiet);
  CHECK(quiet.find(" ok stage=done") == std::string::npos);
  CHECK(quiet.find("HTTP endpoints on") != std::string::npos);
  CHECK(quiet.find("member t 127.0.0.11:2525 added") != std::string::npos);
  CHECK(lines(quiet) <= 6);  // start, running, member added, stopping, figures

  const auto chatty = log_after_results("debug", 5);
  std::size_t results = 0;
  for (std::size_t at = 0; (at = chatty.find(" ok stage=done", at)) != std::string::npos; ++at) {
    ++results;
  }
  CHECK(results >= 5);
}
