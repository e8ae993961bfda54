// The agent's HTTP endpoints against the real test bed: the load-balancer health view
// per member, /status, /metrics with every DESIGN.md series (checked by promtool).
#include <catch2/catch.hpp>
#include <regex>

#include "support.hpp"

namespace {

std::string http_get(const std::string& url, std::string* code = nullptr) {
  auto r =
      itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", "-w", "\n%{http_code}", url},
                         std::chrono::seconds(10));
  auto nl = r.out.rfind('\n');
  if (code) {
    *code = nl == std::string::npos ? "" : r.out.substr(nl + 1);
  }
  return nl == std::string::npos ? r.out : r.out.substr(0, nl);
}

}  // namespace

TEST_CASE("the agent serves health per member, status and Prometheus metrics",
          "[integration][agent][http]") {
  const std::string secrets = itest::source_dir() + "/tests/testbed/secrets/";
  std::string cfg =
      itest::agent_config_head("http") +
      "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\nhealth_fail_after = 2\n\n" +
      "[[target]]\nname = \"vip1\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n" +
      "members = [\"127.0.0.11:2525\", \"127.0.0.13:2525\", \"127.0.0.14:2525\"]\n";
  itest::AgentProcess agent(itest::write_temp_file("http.toml", cfg));
  const std::string address = agent.http_address();
  REQUIRE(!address.empty());
  const std::string base = "http://" + address;

  std::string code;
  CHECK(http_get(base + "/healthz", &code) == "ok\n");
  CHECK(code == "200");
  // The discarding member is DOWN once two canaries were lost; the good one stays UP.
  REQUIRE(agent.wait_for_log("127.0.0.14:2525 lost", std::chrono::seconds(30)));
  bool down = false;
  for (int i = 0; i < 200 && !down; ++i) {
    down = http_get(base + "/health/vip1/127.0.0.14:2525", &code).rfind("DOWN lost since ", 0) == 0;
    if (!down) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(down);
  CHECK(code == "503");
  CHECK(http_get(base + "/health/vip1/127.0.0.11:2525", &code) == "UP\n");
  CHECK(code == "200");
  CHECK(http_get(base + "/health/vip1/127.0.0.13%3A2525", &code).rfind("DOWN perm_fail", 0) == 0);
  http_get(base + "/health/vip1/127.0.0.99:2525", &code);
  CHECK(code == "404");
  http_get(base + "/nothing", &code);
  CHECK(code == "404");

  auto status = nlohmann::json::parse(http_get(base + "/status"));
  CHECK(status["members"].size() == 3);

  std::string metrics = http_get(base + "/metrics", &code);
  CHECK(code == "200");
  for (const char* name :
       {"mailcanary_probes_total{", "mailcanary_delivery_latency_seconds_bucket{",
        "mailcanary_smtp_stage_duration_seconds_bucket{", "mailcanary_member_up{",
        "mailcanary_alarm{", "mailcanary_in_maintenance{",
        "mailcanary_last_success_timestamp_seconds{", "mailcanary_canaries_in_flight "}) {
    CHECK(metrics.find(name) != std::string::npos);
  }
  CHECK(metrics.find("mailcanary_member_up{member=\"127.0.0.14:2525\",target=\"vip1\"} 0") !=
        std::string::npos);
  auto file = itest::write_temp_file("metrics.txt", metrics);
  auto check = itest::run_command({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file});
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  // No secret in anything served.
  for (const auto& body : {metrics, http_get(base + "/status")}) {
    CHECK(body.find(itest::read_file(secrets + "canary.pass").substr(0, 10)) == std::string::npos);
  }
  CHECK(agent.stop() == 0);
}
