// process_* metrics: the /proc/PID/stat parser, and the metrics of this very process.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>

#include "mailcanary/agent/http/process_metrics.hpp"

using mailcanary::agent::parse_proc_stat;
using mailcanary::agent::render_process_metrics;

TEST_CASE("a /proc stat line is read after the command's last parenthesis", "[process]") {
  // A command name with spaces and parentheses, as a process may set it.
  const std::string line =
      "4242 (evil) (name 1) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 "
      "123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  auto s = parse_proc_stat(line);
  REQUIRE(s);
  CHECK(s->utime_ticks == 250);
  CHECK(s->stime_ticks == 75);
  CHECK(s->start_ticks == 123456);
  CHECK(s->vsize_bytes == 987654321);
  CHECK(s->rss_pages == 2048);
  CHECK_FALSE(parse_proc_stat("4242 (cut short) S 1 2 3"));
  CHECK_FALSE(parse_proc_stat("no parenthesis at all"));
  CHECK_FALSE(parse_proc_stat(""));
  CHECK_FALSE(parse_proc_stat(std::regex_replace(line, std::regex(" 250 "), " x ")));
}

TEST_CASE("process_* metrics describe this process", "[process]") {
  const std::string text = render_process_metrics();
  auto value = [&](const std::string& name) {
    std::smatch m;
    REQUIRE(std::regex_search(text, m, std::regex("\n" + name + " ([0-9.e+]+)\n")));
    return std::stod(m[1].str());
  };
  CHECK(text.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
  CHECK(value("process_cpu_seconds_total") >= 0);
  CHECK(value("process_open_fds") >= 3);  // stdin, stdout, stderr at least
  CHECK(value("process_max_fds") >= value("process_open_fds"));
  CHECK(value("process_resident_memory_bytes") > 1 << 20);
  CHECK(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double started = value("process_start_time_seconds");
  CHECK(started <= now + 1);
  CHECK(started > now - 24 * 3600);  // this test binary started less than a day ago
}
