// Start-up of `mailcanary run` as an operator meets it: listen = ":PORT" serves every
// address (IPv4 and IPv6), and a port in use is one line with exit code 2, said before
// anything is written to state_dir.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support.hpp"

namespace {

std::string with_listen(const std::string& head, const std::string& listen) {
  return std::regex_replace(head, std::regex("listen = \"127\\.0\\.0\\.1:0\""),
                            "listen = \"" + listen + "\"");
}

const std::string kTarget =
    "[[target]]\nname = \"t\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
    "members = [\"127.0.0.11:2525\"]\n";

std::string state_dir_of(const std::string& config) {
  std::smatch m;
  REQUIRE(std::regex_search(config, m, std::regex("state_dir = \"([^\"]+)\"")));
  return m[1].str();
}

int http_code(const std::string& url) {
  auto r = itest::run_command(
      {"/usr/bin/curl", "-s", "-o", "/dev/null", "--max-time", "5", "-w", "%{http_code}", url});
  return r.exit_code == 0 ? std::stoi(r.out) : -1;
}

}  // namespace

TEST_CASE("listen = \":0\" serves every address, IPv4 and IPv6", "[integration][exporter]") {
  const auto path = itest::write_temp_file(
      "every.toml", with_listen(itest::agent_config_head("every"), ":0") + kTarget);
  itest::AgentProcess agent(path);
  REQUIRE(agent.wait_for_log(" (every address)", std::chrono::seconds(20)));
  std::smatch m;
  const std::string log = agent.log();
  REQUIRE(std::regex_search(log, m, std::regex("HTTP endpoints on :(\\d+) \\(every address\\)")));
  const std::string port = m[1].str();
  CHECK(port != "0");
  CHECK(http_code("http://127.0.0.1:" + port + "/healthz") == 200);
  CHECK(http_code("http://[::1]:" + port + "/healthz") == 200);
  CHECK(agent.stop() == 0);
}

TEST_CASE("a port in use is one line and exit code 2, and nothing is written to state_dir",
          "[integration][exporter]") {
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(holder >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(holder, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  const std::string config = with_listen(itest::agent_config_head("inuse"), address) + kTarget;
  const auto path = itest::write_temp_file("inuse.toml", config);
  const std::string state_dir = state_dir_of(config);
  auto r = itest::mailcanary({"run", "--config", path});
  ::close(holder);
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find("cannot listen on " + address + ": Address already in use") !=
        std::string::npos);
  CHECK(r.err.find("agent.listen in " + path) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(state_dir));
}

TEST_CASE("/-/ready turns 200 once members are scheduled; POST /-/reload reloads",
          "[integration][exporter]") {
  const auto path =
      itest::write_temp_file("lifecycle.toml", itest::agent_config_head("lifecycle") + kTarget +
                                                   "\n[web]\nreload_endpoint = true\n");
  itest::AgentProcess agent(path);
  const std::string base = "http://" + agent.http_address();
  REQUIRE(base != "http://");
  int ready = 0;
  for (int i = 0; i < 100 && ready != 200; ++i) {  // bounded: 100 x 50 ms
    ready = http_code(base + "/-/ready");
    if (ready != 200) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  CHECK(ready == 200);
  const std::string ok_reloads = "mailcanary_config_reloads_total{result=\"success\"} ";
  auto metrics = [&] {
    return itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", base + "/metrics"}).out;
  };
  REQUIRE(metrics().find(ok_reloads + "0") != std::string::npos);
  CHECK(http_code(base + "/-/reload") == 405);  // GET
  auto post = itest::run_command({"/usr/bin/curl", "-s", "-X", "POST", "--max-time", "5", "-w",
                                  "\n%{http_code}", base + "/-/reload"});
  CHECK(post.out == "reloading the config\n\n200");
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {  // bounded: 100 x 50 ms
    reloaded = metrics().find(ok_reloads + "1") != std::string::npos;
    if (!reloaded) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  CHECK(reloaded);
  CHECK(agent.stop() == 0);
}

TEST_CASE("/metrics is gzipped for a scraper that asks, as it is for one that does not",
          "[integration][exporter]") {
  const auto path = itest::write_temp_file("gzip.toml", itest::agent_config_head("gzip") + kTarget);
  itest::AgentProcess agent(path);
  const std::string url = "http://" + agent.http_address() + "/metrics";
  REQUIRE(url != "http:///metrics");
  // Headers and the raw (compressed) size, as Prometheus asks: "gzip, deflate".
  auto packed = itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", "-D", "-", "-o",
                                    "/dev/null", "-w", "size=%{size_download}", "-H",
                                    "Accept-Encoding: gzip, deflate", url});
  CHECK(packed.out.find("Content-Encoding: gzip\r\n") != std::string::npos);
  CHECK(packed.out.find("Vary: Accept-Encoding\r\n") != std::string::npos);
  // curl --compressed inflates it: the same families as an uncompressed scrape.
  auto inflated =
      itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", "--compressed", url});
  auto plain = itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", "-D", "-", url});
  CHECK(plain.out.find("Content-Encoding") == std::string::npos);
  auto families = [](const std::string& text) {
    std::set<std::string> names;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("# TYPE ", 0) == 0) {
        names.insert(line.substr(7, line.find(' ', 7) - 7));
      }
    }
    return names;
  };
  CHECK(families(inflated.out).size() > 20);
  CHECK(families(inflated.out) == families(plain.out));
  std::smatch m;
  REQUIRE(std::regex_search(packed.out, m, std::regex("size=(\\d+)")));
  CHECK(std::stoul(m[1].str()) * 3 < inflated.out.size());
  CHECK(agent.stop() == 0);
}
