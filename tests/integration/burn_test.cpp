// The error budget end to end: `mailcanary run` against the real test bed, with one
// member failing one probe in three (a relay in front of Postfix answering every third
// connection with a 451) and one failing one in a hundred. Short windows (20 s and 6 s,
// a probe a second) make the replay fit a test; the arithmetic is the one of 1h/5m. The
// budget is judged once the counts reach back over the long window (20 s here).
// The timeline is read from /status every 100 ms (probes come a second apart).
#include <catch2/catch.hpp>
#include <cstdio>
#include <thread>

#include "support.hpp"

namespace {

const auto kStart = std::chrono::steady_clock::now();

struct Seen {
  bool alarm = false;
  bool up = true;
  std::string rule;
  int raised = 0, cleared = 0, downs = 0, ups = 0;
  std::string timeline;  // "12.3s alarm raised (burn_rate); ..."
  void note(const std::string& what) {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - kStart).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs ", t);
    timeline += buf + what + "; ";
  }
  void take(const nlohmann::json& m) {
    const bool alarm_now = m.value("in_alarm", false);
    const bool up_now = m.value("health", "UP") == "UP";
    raised += !alarm && alarm_now;
    cleared += alarm && !alarm_now;
    downs += up && !up_now;
    ups += !up && up_now;
    if (alarm != alarm_now) {
      note(alarm_now ? "alarm raised (" + m.value("alarm_rule", "") + ")" : "alarm cleared");
    }
    if (up != up_now) {
      note(up_now ? "health UP" : "health DOWN");
    }
    if (alarm_now) {
      rule = m.value("alarm_rule", "");
    }
    alarm = alarm_now;
    up = up_now;
  }
};

}  // namespace

TEST_CASE(
    "a member failing one probe in three alarms once and stays drained; one in a "
    "hundred raises nothing",
    "[integration][burn]") {
  Seen a;
  Seen b;
  a.note("start: partial fails 1 in 3, rare 1 in 100");
  itest::SwitchableRelay partial("127.0.0.11", 2525);
  itest::SwitchableRelay rare("127.0.0.11", 2525);
  partial.set_fail_every(3);
  rare.set_fail_every(100);
  const std::string path = itest::write_temp_file(
      "burn.toml",
      itest::agent_config_head("burn") +
          "[slg]\nlatency_slo = \"3s\"\nlost_after = \"4s\"\noutage_window = \"5s\"\n"
          "recover_after = 2\nhealth_fail_after = 2\nobjective = \"99.5%\"\nburn_rate = 14.4\n"
          "burn_long_window = \"20s\"\nburn_short_window = \"6s\"\nburn_min_results = 10\n\n"
          "[[target]]\nname = \"partial\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
          "members = [\"" +
          partial.address() +
          "\"]\n\n"
          "[[target]]\nname = \"rare\"\nrcpt = \"canary@example.test\"\nmailbox = \"inbox\"\n"
          "members = [\"" +
          rare.address() + "\"]\n");
  itest::AgentProcess agent(path);
  const std::string base = "http://" + agent.http_address();
  REQUIRE(base != "http://");
  const auto status = [&] {
    const auto out =
        itest::run_command({"/usr/bin/curl", "-s", "--max-time", "5", base + "/status"}).out;
    return nlohmann::json::parse(out, nullptr, false);
  };
  std::string last;
  // Phase 1: 35 s of the pattern (35 probes of each member; judged from about 21 s).
  const auto watch = [&](std::chrono::seconds how_long, const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + how_long;
    for (int i = 0; i < 1000 && std::chrono::steady_clock::now() < until; ++i) {
      const auto doc = status();
      if (doc.is_object() && doc.contains("members")) {
        last = doc.dump();
        for (const auto& m : doc["members"]) {
          (m.value("target", "") == "partial" ? a : b).take(m);
        }
      }
      if (done && done()) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a poll interval
    }
  };
  watch(std::chrono::seconds(35), nullptr);
  INFO(last);
  INFO(agent.log());
  CHECK(a.raised == 1);
  CHECK(a.cleared == 0);
  CHECK(a.rule == "burn_rate");
  CHECK(a.downs == 1);
  CHECK(a.ups == 0);
  CHECK_FALSE(a.up);
  CHECK(b.raised == 0);
  CHECK(b.downs == 0);

  // Phase 2: fixed. The alarm clears and the member comes back, each once, within the
  // short window and a few probes.
  partial.set_fail_every(0);
  a.note("partial fixed");
  watch(std::chrono::seconds(30), [&] { return !a.alarm && a.up; });
  CHECK(a.cleared == 1);
  CHECK(a.ups == 1);
  CHECK(a.raised == 1);
  CHECK(a.downs == 1);
  CHECK(agent.stop() == 0);
  WARN("partial: " << a.timeline << "\nrare: " << b.timeline);  // the timeline, for the record
}
