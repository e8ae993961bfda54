// The agent core's decisions, driven with fake time in milliseconds: the schedule,
// the SLG outage window and its hysteresis, maintenance, skipped slots, canaries in
// flight and their confirmation, stale results, DNS failures, the mailbox alarm.
#include "core_driver.hpp"
#include "mailcanary/agent/core/alerts.hpp"

using namespace mailcanary::testing;
using mailcanary::agent::AlarmChange;
using mailcanary::agent::PersistOutcome;
using mailcanary::agent::StartProbe;

namespace {

const std::string kM = "10.0.0.1:25";

// Outage window 3 s, a probe every second: a failure raises the alarm at the first bad
// probe 3 s after the first one of the run.
std::shared_ptr<const mailcanary::config::Config> fast_slg(const std::string& extra = "") {
  return core_config(vip_target("t", "\"" + kM + "\"", "interval = \"1s\"\n") +
                     "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\noutage_window = \"3s\"\n"
                     "recover_after = 2\nhealth_fail_after = 2\n" +
                     extra);
}

// One probe slot: waits for it, reports `cls` for it.
Effects probe(CoreDriver& d, ResultClass cls, Stage stage = Stage::rcpt) {
  d.until_started();
  return d.smtp_result("t", kM, cls, stage);
}

std::vector<mailcanary::agent::NewNotification> notifications(const Effects& e) {
  std::vector<mailcanary::agent::NewNotification> out;
  for (const auto& p : all_of<PersistOutcome>(e)) {
    if (p.outcome.notification) {
      out.push_back(*p.outcome.notification);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("discovery is asked for at the first tick, then every 30 s", "[core]") {
  CoreDriver d(fast_slg());
  auto first = d.core.tick(d.now);
  REQUIRE(all_of<mailcanary::agent::RunDiscovery>(first).size() == 1);
  // While it runs, no second request.
  d.advance(40s);
  CHECK(all_of<mailcanary::agent::RunDiscovery>(d.core.tick(d.now)).empty());
  d.core.discovered(vip_members(*d.cfg), d.cfg, d.now);
  d.advance(29999ms);
  CHECK(all_of<mailcanary::agent::RunDiscovery>(d.core.tick(d.now)).empty());
  d.advance(1ms);
  CHECK(all_of<mailcanary::agent::RunDiscovery>(d.core.tick(d.now)).size() == 1);
}

TEST_CASE("a member is probed once per interval at a stable offset, never twice at once",
          "[core]") {
  CoreDriver d(fast_slg());
  d.discover();
  const auto start = d.now.mono;
  auto e = d.until_started();
  const auto starts = all_of<StartProbe>(e);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].ref.member == kM);
  const auto offset = d.now.mono - start;
  CHECK(offset < 1s);  // inside the first interval
  d.smtp_result("t", kM, ResultClass::ok, Stage::connect);
  // Exactly one interval later, the next one.
  d.advance(999ms);
  CHECK(all_of<StartProbe>(d.core.tick(d.now)).empty());
  CHECK(d.core.until_next(d.now) == 1ms);
  d.advance(1ms);
  CHECK(all_of<StartProbe>(d.core.tick(d.now)).size() == 1);
}

TEST_CASE("a probe still running at its next slot skips that slot and counts it", "[core]") {
  CoreDriver d(fast_slg());
  d.discover();
  d.until_started();
  d.advance(1s);
  auto e = d.core.tick(d.now);
  CHECK(all_of<StartProbe>(e).empty());
  CHECK(log_text(e).find("skipped: the previous one still runs") != std::string::npos);
  CHECK(d.view("t", kM)->skipped == 1);
  // After it ends, the following slot starts normally; missed slots are not queued.
  d.smtp_result("t", kM, ResultClass::timeout, Stage::banner);
  d.advance(10s);
  CHECK(all_of<StartProbe>(d.core.tick(d.now)).size() == 1);
  d.advance(1ms);
  CHECK(all_of<StartProbe>(d.core.tick(d.now)).empty());
}

TEST_CASE("a blip shorter than the outage window raises nothing; a longer outage raises once",
          "[core]") {
  CoreDriver d(fast_slg());
  d.discover();
  // Blip: 2 bad probes (1 s apart), then good.
  CHECK(notifications(probe(d, ResultClass::temp_fail)).empty());
  auto second = probe(d, ResultClass::temp_fail);
  CHECK(notifications(second).empty());
  CHECK(log_text(second).find("health DOWN") != std::string::npos);
  CHECK(log_text(probe(d, ResultClass::ok, Stage::connect)).find("health UP") ==
        std::string::npos);  // 1 of recover_after (2)
  auto good = probe(d, ResultClass::ok, Stage::connect);
  CHECK(log_text(good).find("health UP") != std::string::npos);
  CHECK_FALSE(d.view("t", kM)->status.in_alarm);

  // Outage: bad at +0, +1, +2 s (pending), +3 s raises: exactly one firing notification.
  std::vector<mailcanary::agent::NewNotification> sent;
  for (int i = 0; i < 3; ++i) {
    auto e = probe(d, ResultClass::temp_fail);
    CHECK(notifications(e).empty());
  }
  auto raise = probe(d, ResultClass::temp_fail);
  auto n = notifications(raise);
  REQUIRE(n.size() == 1);
  CHECK(n[0].kind == "firing");
  CHECK(log_text(raise).find("ALARM RAISED") != std::string::npos);
  auto alert = mailcanary::agent::decode_alert(n[0].payload);
  REQUIRE(alert);
  CHECK(alert->cls == "temp_fail");
  CHECK(alert->starts_at == d.now.wall);
  CHECK(d.view("t", kM)->status.in_alarm);
  CHECK(notifications(probe(d, ResultClass::temp_fail)).empty());  // once
}

TEST_CASE("an alarm clears only after recover_after good probes, with the labels it fired with",
          "[core]") {
  CoreDriver d(fast_slg());
  d.discover();
  for (int i = 0; i < 4; ++i) {
    probe(d, ResultClass::perm_fail);
  }
  REQUIRE(d.view("t", kM)->status.in_alarm);
  CHECK(notifications(probe(d, ResultClass::ok, Stage::connect)).empty());  // 1 of 2
  probe(d, ResultClass::temp_fail);                                         // resets the good run
  CHECK(notifications(probe(d, ResultClass::ok, Stage::connect)).empty());
  auto clear = probe(d, ResultClass::ok, Stage::connect);
  auto n = notifications(clear);
  REQUIRE(n.size() == 1);
  CHECK(n[0].kind == "resolved");
  CHECK(mailcanary::agent::decode_alert(n[0].payload)->cls == "perm_fail");
  CHECK(log_text(clear).find("alarm cleared") != std::string::npos);
  CHECK_FALSE(d.view("t", kM)->status.in_alarm);
}

TEST_CASE("no alarm is raised inside a maintenance window; health still goes DOWN", "[core]") {
  CoreDriver d(
      fast_slg("[[maintenance]]\ntargets = [\"t\"]\nstart = \"2026-12-01T09:00:00Z\"\n"
               "end = \"2026-12-01T11:00:00Z\"\n"));
  d.discover();
  Effects all;
  for (int i = 0; i < 8; ++i) {
    auto e = probe(d, ResultClass::temp_fail);
    all.insert(all.end(), e.begin(), e.end());
  }
  CHECK(notifications(all).empty());
  CHECK(log_text(all).find("(alarm suppressed: maintenance)") != std::string::npos);
  const auto* v = d.view("t", kM);
  CHECK_FALSE(v->status.in_alarm);
  CHECK(v->status.in_maintenance);
  CHECK_FALSE(v->status.health_up);
}

TEST_CASE("an accepted canary is persisted, then watched from its own 250", "[core]") {
  CoreDriver d(fast_slg());
  d.discover();
  d.until_started();
  d.advance(7ms);
  const auto accepted_at = d.now.mono;
  auto e = d.accepted("t", kM, "c1");
  REQUIRE(e.size() == 2);
  const auto* persist = std::get_if<mailcanary::agent::PersistInFlight>(&e[0]);
  const auto* watch = std::get_if<mailcanary::agent::WatchCanary>(&e[1]);
  REQUIRE(persist);  // persisted before it is watched
  REQUIRE(watch);
  CHECK(persist->canary.id == "c1");
  CHECK(persist->canary.deadline == d.now.wall + 3s);
  CHECK(watch->mailbox == "inbox");
  CHECK(watch->pending.accepted_at == accepted_at);
  CHECK(watch->pending.deadline == accepted_at + 3s);
  CHECK(d.core.in_flight() == 1);

  d.advance(16ms);
  auto found = d.found("c1", 0.016);
  const auto outcomes = all_of<PersistOutcome>(found);
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].outcome.canary_id == "c1");
  CHECK(d.core.in_flight() == 0);
  const auto* v = d.view("t", kM);
  REQUIRE(v->last);
  CHECK(v->last->cls == ResultClass::ok);
  CHECK(*v->last->delivery_seconds == Approx(0.016));
  CHECK(v->last_delivery == 0.016);
}

TEST_CASE("a canary found lost after the member recovered does not pull it down", "[core]") {
  CoreDriver d(core_config(vip_target("t", "\"" + kM + "\"", "interval = \"1s\"\n") +
                           "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\n"
                           "health_fail_after = 1\nrecover_after = 1\n"));
  d.discover();
  d.until_started();
  d.accepted("t", kM, "old");  // this one will be lost
  d.advance(1s);
  d.until_started();
  d.accepted("t", kM, "new");
  d.advance(10ms);
  d.found("new", 0.01);
  REQUIRE(d.view("t", kM)->status.health_up);
  mailcanary::probes::Confirmation lost;  // not_found
  auto e = d.core.confirmed("old", lost, d.now);
  CHECK(log_text(e).find("not counted for alarm and health") != std::string::npos);
  CHECK(d.view("t", kM)->status.health_up);
  CHECK(d.view("t", kM)->probes[static_cast<std::size_t>(ResultClass::lost)] == 1);
}

TEST_CASE("a lasting DNS failure is recorded once per interval of its target", "[core]") {
  CoreDriver d(fast_slg());
  d.core.tick(d.now);
  mailcanary::agent::Discovery failing;
  ProbeResult f;
  f.target = "t";
  f.member = "example.test";
  f.cls = ResultClass::dns_perm_fail;
  f.stage = Stage::dns;
  failing.failures.push_back(f);
  auto first = d.core.discovered(failing, d.cfg, d.now);
  CHECK(all_of<PersistOutcome>(first).size() == 1);
  // Discovery comes again when the failure is next due (1 s), not every tick.
  CHECK(d.core.until_next(d.now) == 1000ms);
  d.advance(500ms);
  d.core.tick(d.now);
  CHECK(all_of<PersistOutcome>(d.core.discovered(failing, d.cfg, d.now)).empty());
  d.advance(500ms);
  d.core.tick(d.now);
  CHECK(all_of<PersistOutcome>(d.core.discovered(failing, d.cfg, d.now)).size() == 1);
  CHECK(d.view("t", "example.test")->probes[static_cast<std::size_t>(ResultClass::dns_perm_fail)] ==
        2);
}

TEST_CASE("a mailbox that cannot be read pages on its own after the window, clears at once",
          "[core]") {
  CoreDriver d(fast_slg());
  d.discover();
  mailcanary::probes::Confirmation failed;
  failed.state = mailcanary::probes::Confirmation::State::reader_failed;
  failed.error = "connection refused";
  Effects all;
  for (int i = 0; i < 5; ++i) {
    d.until_started();
    const std::string id = "c" + std::to_string(i);
    d.accepted("t", kM, id);
    auto e = d.core.confirmed(id, failed, d.now);
    all.insert(all.end(), e.begin(), e.end());
  }
  const auto queued = all_of<mailcanary::agent::QueueNotification>(all);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].notification.key == "mailbox/inbox");
  CHECK(queued[0].notification.kind == "firing");
  CHECK(notifications(all).empty());  // mailbox_error says nothing about the member
  CHECK_FALSE(d.view("t", kM)->status.in_alarm);

  d.until_started();
  d.accepted("t", kM, "ok");
  auto clear = d.found("ok", 0.01);
  const auto cleared = all_of<mailcanary::agent::QueueNotification>(clear);
  REQUIRE(cleared.size() == 1);
  CHECK(cleared[0].notification.kind == "resolved");
}
