// The core while the state store fails (a full or read-only disk): one log line, counted
// failures, probing goes on, and a write-back of everything the store missed once it
// works again. Fake time, no I/O: the failures are reported as the runtime would.
#include <nlohmann/json.hpp>

#include "core_driver.hpp"
#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/http/views.hpp"

using namespace mailcanary::testing;
using mailcanary::agent::Core;
using mailcanary::agent::Effect;
using mailcanary::agent::ForgetMember;
using mailcanary::agent::LogLine;
using mailcanary::agent::PersistInFlight;
using mailcanary::agent::PersistOutcome;
using mailcanary::agent::StartProbe;
using mailcanary::agent::WriteBack;

namespace {

const std::string kA = "10.0.0.1:25";
const std::string kB = "10.0.0.2:25";
// As the store says it; the core drops the "state store: " in front.
const std::string kFull =
    "record outcome: database or disk is full (/var/lib/mailcanary/mailcanary.db)";
const std::string kFullThrown = "state store: " + kFull;

std::string two_members() {
  return vip_target("t", "\"" + kA + "\", \"" + kB + "\"", "interval = \"1s\"\n") +
         "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\noutage_window = \"1s\"\n"
         "health_fail_after = 1\n";
}

// Carries out `effects` as the runtime does on a store that refuses every write: each
// write effect fails and is reported; returns what the core answered (log lines).
Effects fail_writes(CoreDriver& d, const Effects& effects, const std::string& error = kFullThrown) {
  Effects out;
  for (const auto& e : effects) {
    if (std::holds_alternative<PersistInFlight>(e) || std::holds_alternative<PersistOutcome>(e) ||
        std::holds_alternative<ForgetMember>(e) || std::holds_alternative<WriteBack>(e) ||
        std::holds_alternative<mailcanary::agent::QueueNotification>(e) ||
        std::holds_alternative<mailcanary::agent::DropInFlight>(e)) {
      for (auto& r : d.core.store_failed(error, &e, d.now)) {
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

// A temp_fail of member `m` at its next slot, with the writes failing.
Effects failing_probe(CoreDriver& d, const std::string& m) {
  d.advance(1s);
  d.core.tick(d.now);
  return fail_writes(d, d.smtp_result("t", m, ResultClass::temp_fail, Stage::rcpt));
}

std::optional<WriteBack> write_back_in(const Effects& effects) {
  auto all = all_of<WriteBack>(effects);
  REQUIRE(all.size() <= 1);
  return all.empty() ? std::nullopt : std::optional<WriteBack>(all[0]);
}

}  // namespace

TEST_CASE("a failing state store logs one error line, is counted, and probing goes on",
          "[core][store]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  CHECK(d.core.snapshot(d.now)->store.ok);
  auto first = failing_probe(d, kA);
  REQUIRE(all_of<LogLine>(first).size() == 1);
  CHECK(all_of<LogLine>(first)[0].level == LogLine::Level::error);
  CHECK(log_text(first).rfind("state store failing: " + kFull + ". Probing", 0) == 0);
  const auto since = d.now.wall;
  // Later failures: counted, not logged; the members keep being probed and alarmed.
  for (int i = 0; i < 4; ++i) {
    CHECK(failing_probe(d, kA).empty());
  }
  auto s = d.core.snapshot(d.now);
  CHECK_FALSE(s->store.ok);
  CHECK(s->store.errors == 5);
  CHECK(s->store.last_error == kFull);
  CHECK(s->store.failing_since == since);
  CHECK(s->store.last_error_at == d.now.wall);
  CHECK(d.view("t", kA)->status.in_alarm);
  CHECK(d.view("t", kA)->probes[static_cast<std::size_t>(ResultClass::temp_fail)] == 5);
}

TEST_CASE("while the store fails, the core asks for a write-back every 5 s until one works",
          "[core][store]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  d.until_started();
  d.accepted("t", kA, "c1");  // written before the store fails
  d.advance(1ms);
  auto first = failing_probe(d, kB);  // the store fails from here
  CHECK(d.core.until_next(d.now) <= Core::kStoreRetryEvery);
  // Nothing is asked for before the retry time, however often the core is ticked.
  for (auto t = 0ms; t < Core::kStoreRetryEvery; t += 100ms) {
    CHECK_FALSE(write_back_in(d.core.tick(d.now)));
    d.advance(100ms);
  }
  auto w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  // A write-back that fails again is counted, not logged, and tried 5 s later.
  CHECK(fail_writes(d, {*w}).empty());
  CHECK_FALSE(write_back_in(d.core.tick(d.now)));
  d.advance(Core::kStoreRetryEvery - 1ms);
  CHECK_FALSE(write_back_in(d.core.tick(d.now)));
  d.advance(1ms);
  w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  auto recovered = d.core.store_written_back(d.now);
  REQUIRE(all_of<LogLine>(recovered).size() == 1);
  CHECK(all_of<LogLine>(recovered)[0].level == LogLine::Level::info);
  CHECK(log_text(recovered) ==
        "state store works again after 10 s: wrote back 1 canaries in flight, 1 member states "
        "and 0 notifications\n");
  auto s = d.core.snapshot(d.now);
  CHECK(s->store.ok);
  CHECK_FALSE(s->store.failing_since);
  CHECK(s->store.errors == 2);  // the failed write and the failed write-back
  // Working again: nothing more is asked for.
  d.advance(Core::kStoreRetryEvery * 3);
  CHECK_FALSE(write_back_in(d.core.tick(d.now)));
}

TEST_CASE("the write-back holds what the store missed: flight, states, alerts, retirements",
          "[core][store]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  d.until_started();
  d.accepted("t", kA, "kept");     // written before the store fails
  d.accepted("t", kB, "decided");  // written before, then decided while failing
  d.advance(10ms);
  REQUIRE_FALSE(fail_writes(d, d.found("decided", 0.01)).empty());  // the first failure
  d.advance(1ms);
  auto during = fail_writes(d, d.accepted("t", kB, "during"));  // its in-flight write fails
  CHECK(during.empty());
  d.advance(1ms);
  CHECK(fail_writes(d, d.found("during", 0.01)).empty());
  // kA fails long enough to raise its alarm: the firing notification's write fails too.
  d.found("kept", 0.01);  // (its write works: the store may take some writes meanwhile)
  d.advance(1ms);
  d.accepted("t", kA, "open");  // in flight when the store works again
  for (int i = 0; i < 3; ++i) {
    d.advance(1s);
    fail_writes(d, d.smtp_result("t", kA, ResultClass::temp_fail, Stage::rcpt));
  }
  REQUIRE(d.view("t", kA)->status.in_alarm);
  // kB leaves the config: its ForgetMember fails.
  auto one = core_config(vip_target("t", "\"" + kA + "\"", "interval = \"1s\"\n") +
                         "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\n"
                         "outage_window = \"1s\"\nhealth_fail_after = 1\n");
  fail_writes(d, d.core.config_changed(one, "test.toml", d.now));
  fail_writes(d, d.core.discovered(vip_members(*one), one, d.now));
  REQUIRE(d.view("t", kB) == nullptr);

  d.advance(Core::kStoreRetryEvery);
  auto w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  const auto& st = w->state;
  // Every canary the core still waits for, and only those ("kept" and "decided" were
  // decided, "during" was never written and is decided).
  REQUIRE(st.in_flight.size() == 1);
  CHECK(st.in_flight[0].id == "open");
  CHECK(st.in_flight[0].member == kA);
  // The state of every member with a result, as the core holds it now.
  REQUIRE(st.member_states.size() == 1);
  CHECK(st.member_states[0].first == std::pair<std::string, std::string>("t", kA));
  auto status = mailcanary::agent::decode_member_status(st.member_states[0].second);
  REQUIRE(status);
  CHECK(status->in_alarm);
  // The firing notification whose write failed, and the member forgotten meanwhile.
  REQUIRE(st.notifications.size() == 1);
  CHECK(st.notifications[0].notification.kind == "firing");
  CHECK(st.notifications[0].notification.key == "t/" + kA);
  REQUIRE(st.forgotten.size() == 1);
  CHECK(st.forgotten[0] == std::pair<std::string, std::string>("t", kB));

  // Once written back, they are not written again.
  d.core.store_written_back(d.now);
  fail_writes(d, d.smtp_result("t", kA, ResultClass::temp_fail, Stage::rcpt));
  d.advance(Core::kStoreRetryEvery);
  w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  CHECK(w->state.notifications.empty());
  CHECK(w->state.forgotten.empty());
}

TEST_CASE("notifications kept while the store fails are bounded, the oldest dropped",
          "[core][store]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  mailcanary::agent::QueueNotification q{{"mailbox/inbox", "firing", "{}"}, d.now.wall};
  for (std::size_t i = 0; i < Core::kMaxHeldNotifications + 3; ++i) {
    q.notification.payload = std::to_string(i);
    const Effect e = q;
    d.core.store_failed(kFullThrown, &e, d.now);
  }
  d.advance(Core::kStoreRetryEvery);
  auto w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  REQUIRE(w->state.notifications.size() == Core::kMaxHeldNotifications);
  CHECK(w->state.notifications.front().notification.payload == "3");
  CHECK(log_text(d.core.store_written_back(d.now)).find("(3 older notifications were dropped)") !=
        std::string::npos);
}

TEST_CASE(
    "held notifications are in the snapshot for the sender; delivered ones are not "
    "written back",
    "[core][store]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  const auto hold = [&](const std::string& payload) {
    const Effect e =
        mailcanary::agent::QueueNotification{{"t/" + kA, "firing", payload}, d.now.wall};
    d.core.store_failed(kFullThrown, &e, d.now);
  };
  hold("one");
  hold("two");
  hold("three");
  auto s = d.core.snapshot(d.now);
  REQUIRE(s->held_notifications.size() == 3);
  CHECK(s->held_notifications[0].seq == 1);
  CHECK(s->held_notifications[2].seq == 3);
  CHECK(s->held_notifications[2].notification.payload == "three");

  // The sender delivered the first two: the snapshot and the write-back keep the third.
  d.core.held_delivered(2);
  CHECK(d.core.changed());
  s = d.core.snapshot(d.now);
  REQUIRE(s->held_notifications.size() == 1);
  CHECK(s->held_notifications[0].seq == 3);
  d.advance(Core::kStoreRetryEvery);
  auto w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  REQUIRE(w->state.notifications.size() == 1);
  CHECK(w->state.notifications[0].notification.payload == "three");
  // A report of an older delivery changes nothing.
  d.core.snapshot(d.now);
  d.core.held_delivered(1);
  CHECK_FALSE(d.core.changed());

  // Held after the write-back was asked for, delivered before it is done: the write-back
  // removes what it wrote (by number), not the newest.
  hold("four");
  d.core.held_delivered(3);
  CHECK(log_text(d.core.store_written_back(d.now)).find("and 1 notifications") !=
        std::string::npos);
  s = d.core.snapshot(d.now);
  REQUIRE(s->held_notifications.size() == 1);
  CHECK(s->held_notifications[0].notification.payload == "four");
  CHECK(s->held_notifications[0].seq == 4);
}

TEST_CASE("stopping while the store fails tries one last write-back, silently",
          "[core][store][stop]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  failing_probe(d, kA);
  auto stop = d.core.stopping(d.now);
  REQUIRE(write_back_in(stop));
  CHECK(log_text(stop) == "stopping: in-flight canaries stay in the state database\n");
  CHECK(d.core.store_written_back(d.now).empty());  // nothing logged after stopping
  CHECK(d.core.snapshot(d.now)->store.ok);
}

TEST_CASE("/metrics and /status show the state store's health", "[views][store]") {
  using mailcanary::agent::render_metrics;
  using mailcanary::agent::render_status;
  CoreDriver d(core_config(two_members()));
  d.discover();
  auto metrics = render_metrics(*d.core.snapshot(d.now), "test");
  CHECK(metrics.find("\nmailcanary_state_store_ok 1\n") != std::string::npos);
  CHECK(metrics.find("\nmailcanary_state_store_errors_total 0\n") != std::string::npos);
  auto doc = nlohmann::json::parse(render_status(*d.core.snapshot(d.now), d.now.wall));
  CHECK(doc["state_store"] == nlohmann::json{{"ok", true}, {"errors", 0}});

  failing_probe(d, kA);
  failing_probe(d, kA);
  metrics = render_metrics(*d.core.snapshot(d.now), "test");
  CHECK(metrics.find("\nmailcanary_state_store_ok 0\n") != std::string::npos);
  CHECK(metrics.find("\nmailcanary_state_store_errors_total 2\n") != std::string::npos);
  doc = nlohmann::json::parse(render_status(*d.core.snapshot(d.now), d.now.wall));
  CHECK(doc["state_store"]["ok"] == false);
  CHECK(doc["state_store"]["errors"] == 2);
  CHECK(doc["state_store"]["failing_since"] == "2026-12-01T10:00:01Z");
  CHECK(doc["state_store"]["last_error"] == kFull);
  CHECK(doc["state_store"]["last_error_at"] == "2026-12-01T10:00:02Z");
}

TEST_CASE("a failed group commit counts one error and keeps every notification it carried",
          "[core][store]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  mailcanary::agent::Outcome paged{"t",
                                   kA,
                                   "mc-1",
                                   d.now.wall,
                                   "{}",
                                   std::nullopt,
                                   mailcanary::agent::NewNotification{"t/" + kA, "firing", "1"}};
  mailcanary::agent::Outcome quiet{"t", kB, "mc-2", d.now.wall, "{}", std::nullopt, std::nullopt};
  Effects batch{PersistOutcome{paged}, PersistOutcome{quiet}, PersistOutcome{paged}};
  std::get<PersistOutcome>(batch[2]).outcome.notification->payload = "2";
  d.core.store_failed(kFullThrown, batch, d.now);
  CHECK(d.core.snapshot(d.now)->store.errors == 1);
  d.advance(Core::kStoreRetryEvery);
  auto w = write_back_in(d.core.tick(d.now));
  REQUIRE(w);
  REQUIRE(w->state.notifications.size() == 2);
  CHECK(w->state.notifications[0].notification.payload == "1");
  CHECK(w->state.notifications[1].notification.payload == "2");
}
