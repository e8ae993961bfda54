// What /metrics, /status and /health answer, rendered from the core's snapshot: per-member
// or per-target histograms, gauges, retirement, the health texts. No network.
#include <nlohmann/json.hpp>

#include "core_driver.hpp"
#include "mailcanary/agent/http/views.hpp"

using namespace mailcanary::testing;
using mailcanary::agent::render_health;
using mailcanary::agent::render_metrics;
using mailcanary::agent::render_status;

namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

std::string vip1(const std::string& extra = "") {
  return vip_target("vip1", "\"10.0.0.1:25\", \"10.0.0.2:25\"", extra) +
         "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\nhealth_fail_after = 1\n";
}

// A canary of `member` accepted and found `seconds` later, with two SMTP stage times.
void delivered(CoreDriver& d, const std::string& member, double seconds) {
  ProbeResult r;
  r.target = "vip1";
  r.member = member;
  r.cls = ResultClass::ok;
  r.stage = Stage::done;
  r.canary_id = "c-" + member;
  r.stage_times = {{Stage::connect, 0.001}, {Stage::rcpt, 0.002}};
  d.core.sent(r, d.now.mono, d.now);
  d.found(r.canary_id, seconds);
}

}  // namespace

TEST_CASE("histograms are per member by default, and the last delivery is a gauge", "[views]") {
  CoreDriver d(core_config(vip1()));
  d.discover();
  delivered(d, "10.0.0.1:25", 0.3);
  delivered(d, "10.0.0.2:25", 2.0);
  const auto text = render_metrics(*d.core.snapshot(d.now), "1.0");
  CHECK(has(text,
            "mailcanary_delivery_latency_seconds_count{member=\"10.0.0.1:25\",target=\"vip1\"} 1"));
  CHECK(has(text,
            "mailcanary_smtp_stage_duration_seconds_count{member=\"10.0.0.2:25\",stage=\"rcpt\","
            "target=\"vip1\"} 1"));
  CHECK(has(text, "mailcanary_last_delivery_seconds{member=\"10.0.0.1:25\",target=\"vip1\"} 0.3"));
  CHECK(has(text, "mailcanary_last_delivery_seconds{member=\"10.0.0.2:25\",target=\"vip1\"} 2"));
  CHECK(has(text,
            "mailcanary_build_info{compiler=\"unknown\",revision=\"unknown\",version=\"1.0\"} 1"));
  CHECK(has(text, "mailcanary_canaries_in_flight 0"));
}

TEST_CASE("with histograms per target, members share them and keep their own gauges", "[views]") {
  CoreDriver d(core_config(vip1(), "instance = \"probe-1\"\nhistograms = \"target\"\n"));
  d.discover();
  delivered(d, "10.0.0.1:25", 0.3);
  delivered(d, "10.0.0.2:25", 2.0);
  const auto text = render_metrics(*d.core.snapshot(d.now), "1.0");
  CHECK(has(text,
            "mailcanary_delivery_latency_seconds_count{instance=\"probe-1\",target=\"vip1\"} 2"));
  CHECK(has(text,
            "mailcanary_smtp_stage_duration_seconds_count{instance=\"probe-1\","
            "stage=\"connect\",target=\"vip1\"} 2"));
  CHECK_FALSE(has(text, "mailcanary_delivery_latency_seconds_count{instance=\"probe-1\",member="));
  CHECK(has(text,
            "mailcanary_probes_total{class=\"ok\",instance=\"probe-1\",member=\"10.0.0.2:25\","
            "target=\"vip1\"} 1"));
  CHECK(has(text, "mailcanary_mailbox_up{instance=\"probe-1\",mailbox=\"inbox\"} 1"));
}

TEST_CASE("a retired member's series are gone; the target's histograms stay with the rest",
          "[views]") {
  CoreDriver d(core_config(vip1(), "histograms = \"target\"\n"));
  d.discover();
  delivered(d, "10.0.0.1:25", 0.3);
  delivered(d, "10.0.0.2:25", 2.0);
  auto one = core_config(vip_target("vip1", "\"10.0.0.2:25\"") +
                         "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\n");
  d.core.config_changed(one, "/x.toml", d.now);
  d.core.tick(d.now);
  d.core.discovered(vip_members(*one), one, d.now);
  const auto text = render_metrics(*d.core.snapshot(d.now), "1.0");
  CHECK_FALSE(has(text, "member=\"10.0.0.1:25\""));
  CHECK(has(text, "mailcanary_delivery_latency_seconds_count{target=\"vip1\"} 2"));
}

TEST_CASE("health answers UP, DOWN with class and time, or 404", "[views]") {
  CoreDriver d(core_config(vip1()));
  d.discover();
  auto s = d.core.snapshot(d.now);
  CHECK(render_health(*s, "vip1", "10.0.0.1:25").code == 200);  // unknown_health = up
  CHECK(render_health(*s, "vip1", "10.0.0.9:25").code == 404);
  d.smtp_result("vip1", "10.0.0.1:25", ResultClass::perm_fail, Stage::rcpt);
  s = d.core.snapshot(d.now);
  auto h = render_health(*s, "vip1", "10.0.0.1:25");
  CHECK(h.code == 503);
  CHECK(h.body == "DOWN perm_fail since 2026-12-01T10:00:00Z\n");
  CHECK(render_health(*s, "vip1", "10.0.0.2:25").body == "UP\n");
}

TEST_CASE("unknown_health = down answers 503 before the first result", "[views]") {
  CoreDriver d(core_config(vip1() + "[web]\nunknown_health = \"down\"\n"));
  d.discover();
  auto h = render_health(*d.core.snapshot(d.now), "vip1", "10.0.0.1:25");
  CHECK(h.code == 503);
  CHECK(h.body == "DOWN no_result since start\n");
}

TEST_CASE("the status document lists members with their last result, without re-parsing",
          "[views]") {
  CoreDriver d(core_config(vip1()));
  d.discover();
  delivered(d, "10.0.0.1:25", 0.25);
  auto doc = nlohmann::json::parse(render_status(*d.core.snapshot(d.now), d.now.wall));
  CHECK(doc["now"] == "2026-12-01T10:00:00Z");
  REQUIRE(doc["members"].size() == 2);
  CHECK(doc["members"][0]["member"] == "10.0.0.1:25");
  CHECK(doc["members"][0]["health"] == "UP");
  CHECK(doc["members"][0]["last"]["class"] == "ok");
  CHECK(doc["members"][0]["last"]["delivery_seconds"] == 0.25);
  CHECK_FALSE(doc["members"][1].contains("last"));
  CHECK(doc["canaries_in_flight"] == 0);
  REQUIRE(doc["mailboxes"].size() == 1);
  CHECK(doc["mailboxes"][0]["mailbox"] == "inbox");
}

TEST_CASE("the agent check answers up ready, up drain or down, with the reason", "[views]") {
  CoreDriver d(core_config(vip1()));
  d.discover();
  d.smtp_result("vip1", "10.0.0.1:25", ResultClass::perm_fail, Stage::rcpt);
  const auto s = d.core.snapshot(d.now);
  using mailcanary::agent::render_agent_check;
  CHECK(render_agent_check(*s, "vip1", "10.0.0.2:25", true) == "up ready\n");
  CHECK(render_agent_check(*s, "vip1", "10.0.0.1:25", true) ==
        "up drain # DOWN perm_fail since 2026-12-01T10:00:00Z\n");
  CHECK(render_agent_check(*s, "vip1", "10.0.0.1:25", false) ==
        "down # DOWN perm_fail since 2026-12-01T10:00:00Z\n");
  CHECK(render_agent_check(*s, "vip1", "10.0.0.9:25", true) == "down # unknown target/member\n");
}

TEST_CASE("/status/TARGET/MEMBER is that member's object of /status", "[views]") {
  CoreDriver d(core_config(vip1()));
  d.discover();
  d.smtp_result("vip1", "10.0.0.1:25", ResultClass::perm_fail, Stage::rcpt);
  const auto s = d.core.snapshot(d.now);
  const auto a = mailcanary::agent::render_member_status(*s, "vip1", "10.0.0.1:25", d.now.wall);
  REQUIRE(a.code == 200);
  const auto doc = nlohmann::json::parse(a.body);
  CHECK(doc["member"] == "10.0.0.1:25");
  CHECK(doc["health"] == "DOWN");
  CHECK(doc["last"]["class"] == "perm_fail");
  CHECK(mailcanary::agent::render_member_status(*s, "vip1", "10.0.0.9:25", d.now.wall).code == 404);
}
