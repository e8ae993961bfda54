#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "mailcanary/agent/core/alarm.hpp"

using namespace mailcanary::agent;
using mailcanary::config::SlgConfig;
using mailcanary::probes::ResultClass;
using namespace std::chrono_literals;

namespace {

// 2026-05-01T10:00:00Z: clock times in the tests read as "10:00 + offset".
const SysTime kT0 = std::chrono::sys_days{std::chrono::year{2026} / 5 / 1} + 10h;

SlgConfig slg(std::chrono::milliseconds outage_window = 15min, int recover_after = 2,
              int health_fail_after = 2) {
  SlgConfig c;
  c.outage_window = outage_window;
  c.recover_after = recover_after;
  c.health_fail_after = health_fail_after;
  return c;
}

// One member's timeline: a fake "now" that only moves when told.
struct Member {
  SlgConfig config = slg();
  MemberStatus state;
  SysTime now = kT0;
  std::optional<SysTime> maintenance_until;

  Transitions probe(ResultClass c) { return observe(state, config, c, now, maintenance_until); }
  Transitions after(std::chrono::milliseconds d, ResultClass c) {
    now += d;
    return probe(c);
  }
};

constexpr auto kOk = ResultClass::ok;
constexpr auto kFail = ResultClass::unreachable;

}  // namespace

TEST_CASE("verdict: ok is good, failures bad, mailbox_error unknown, late per config", "[alarm]") {
  SlgConfig c = slg();
  CHECK(verdict(ResultClass::ok, c) == Verdict::good);
  CHECK(verdict(ResultClass::late, c) == Verdict::good);
  CHECK(verdict(ResultClass::mailbox_error, c) == Verdict::unknown);
  for (auto cls :
       {ResultClass::junked, ResultClass::lost, ResultClass::bounced, ResultClass::temp_fail,
        ResultClass::perm_fail, ResultClass::unreachable, ResultClass::timeout,
        ResultClass::tls_error, ResultClass::auth_error, ResultClass::dns_temp_fail,
        ResultClass::dns_perm_fail, ResultClass::protocol_error}) {
    CHECK(verdict(cls, c) == Verdict::bad);
  }
  c.late_is_failure = true;
  CHECK(verdict(ResultClass::late, c) == Verdict::bad);
}

TEST_CASE("a fresh member is UP, not in alarm: a good probe changes nothing, a bad one pends",
          "[alarm]") {
  // A new member, and one whose stored record is empty (missing keys take the defaults).
  const auto empty_record = decode_member_status("{}");
  REQUIRE(empty_record);
  for (const MemberStatus& fresh : {MemberStatus{}, *empty_record}) {
    Member good;
    good.state = fresh;
    // Neither went_up (it is already UP) nor pending/cleared (there is no alarm to clear).
    CHECK(good.probe(kOk) == Transitions{});
    CHECK_FALSE(good.state.health_since);  // still "up since the start"

    Member bad;
    bad.state = fresh;
    bad.config.outage_window = 0ms;  // even with no window to wait for
    CHECK(bad.probe(kFail) == Transitions{AlarmChange::pending, HealthChange::pending});
    CHECK(bad.state.failing_since == kT0);
    CHECK(bad.after(1s, kFail) == Transitions{AlarmChange::raised, HealthChange::went_down});
  }

  // The same for a mailbox: a first good read clears nothing, a first error is pending.
  MailboxStatus ok_box;
  CHECK(observe_mailbox(ok_box, 0ms, true, kT0) == AlarmChange::unchanged);
  MailboxStatus bad_box;
  CHECK(observe_mailbox(bad_box, 0ms, false, kT0) == AlarmChange::pending);
}

TEST_CASE("the header's worked example runs as documented", "[alarm]") {
  Member m;
  CHECK(m.probe(kFail) == Transitions{AlarmChange::pending, HealthChange::pending});
  CHECK(m.state.failing_since == kT0);
  CHECK(m.after(5min, kFail) == Transitions{AlarmChange::pending, HealthChange::went_down});
  CHECK(m.after(5min, kFail) == Transitions{AlarmChange::pending, HealthChange::unchanged});
  CHECK(m.after(5min, kFail) == Transitions{AlarmChange::raised, HealthChange::unchanged});
  CHECK(m.state.alarm_since == kT0 + 15min);
  CHECK(m.after(5min, kOk) == Transitions{AlarmChange::pending, HealthChange::pending});
  CHECK(m.after(5min, kFail) == Transitions{AlarmChange::unchanged, HealthChange::unchanged});
  CHECK(m.state.failing_since == kT0 + 25min);
  CHECK(m.after(5min, kOk) == Transitions{AlarmChange::pending, HealthChange::pending});
  CHECK(m.after(5min, kOk) == Transitions{AlarmChange::cleared, HealthChange::went_up});
  CHECK_FALSE(m.state.in_alarm);
  CHECK_FALSE(m.state.alarm_since);
  CHECK_FALSE(m.state.alarm_class);
}

TEST_CASE("a single failed probe between good ones raises nothing", "[alarm]") {
  Member m;
  m.config.health_fail_after = 2;
  CHECK(m.probe(kOk) == Transitions{});
  CHECK(m.after(1h, kFail).alarm == AlarmChange::pending);
  CHECK(m.after(1h, kOk) == Transitions{AlarmChange::unchanged, HealthChange::unchanged});
  CHECK_FALSE(m.state.in_alarm);
  CHECK(m.state.health_up);
  CHECK_FALSE(m.state.failing_since);
  CHECK(m.state.consecutive_failures == 0);
  CHECK(m.state.last_failure_class == kFail);
}

TEST_CASE("two failed probes within less than outage_window raise nothing", "[alarm]") {
  Member m;
  m.probe(kFail);
  CHECK(m.after(14min, kFail).alarm == AlarmChange::pending);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::unchanged);
  CHECK_FALSE(m.state.in_alarm);
}

TEST_CASE("the alarm is raised at the probe that reaches outage_window, not one earlier",
          "[alarm]") {
  Member m;  // one probe a minute, 15 minute window
  m.probe(kFail);
  for (int i = 1; i < 15; ++i) {
    INFO("minute " << i);
    CHECK(m.after(1min, kFail).alarm == AlarmChange::pending);
  }
  CHECK(m.after(59s, kFail).alarm == AlarmChange::pending);  // 14m59s
  CHECK(m.after(1s, kFail).alarm == AlarmChange::raised);    // exactly 15m
  CHECK(m.state.consecutive_failures == 17);
  CHECK(m.after(1min, kFail).alarm == AlarmChange::unchanged);
}

TEST_CASE("a long failure seen by a single probe does not alarm: it needs two", "[alarm]") {
  Member m;
  m.config.outage_window = 0ms;
  CHECK(m.probe(kFail).alarm == AlarmChange::pending);
  CHECK(m.after(1s, kFail).alarm == AlarmChange::raised);

  Member sparse;  // one probe every 20 minutes, longer than the window
  CHECK(sparse.probe(kFail).alarm == AlarmChange::pending);
  CHECK(sparse.after(20min, kFail).alarm == AlarmChange::raised);
}

// The outage rule alone (burn_rate = 0): the error budget pages these (burn_test.cpp).
TEST_CASE("flapping fail/ok over hours never raises an outage alarm", "[alarm]") {
  Member m;
  m.config.burn_rate = 0;
  m.config.health_fail_after = 2;
  int health_changes = 0;
  for (int i = 0; i < 12 * 60; ++i) {
    auto t = m.after(1min, i % 2 ? kOk : kFail);
    CHECK(t.alarm != AlarmChange::raised);
    health_changes += t.health == HealthChange::went_down || t.health == HealthChange::went_up;
  }
  CHECK_FALSE(m.state.in_alarm);
  CHECK(health_changes == 0);
}

TEST_CASE("fail, fail, ok repeated over hours raises no outage alarm: the ok resets the run",
          "[alarm]") {
  Member m;
  m.config.burn_rate = 0;
  for (int i = 0; i < 12 * 60; ++i) {
    CHECK(m.after(5min, i % 3 == 2 ? kOk : kFail).alarm != AlarmChange::raised);
  }
  CHECK_FALSE(m.state.in_alarm);
}

TEST_CASE("recovery needs recover_after consecutive good probes; a failure restarts the count",
          "[alarm]") {
  Member m;
  m.config.recover_after = 3;
  m.probe(kFail);
  REQUIRE(m.after(15min, kFail).alarm == AlarmChange::raised);

  CHECK(m.after(1min, kOk).alarm == AlarmChange::pending);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::pending);
  CHECK(m.after(1min, kFail).alarm == AlarmChange::unchanged);
  CHECK(m.state.consecutive_successes == 0);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::pending);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::pending);
  CHECK(m.state.in_alarm);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::cleared);
  CHECK_FALSE(m.state.in_alarm);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::unchanged);
}

TEST_CASE("an alarm keeps the class that raised it while other failures follow", "[alarm]") {
  Member m;
  m.probe(ResultClass::temp_fail);
  REQUIRE(m.after(15min, ResultClass::unreachable).alarm == AlarmChange::raised);
  m.after(1min, ResultClass::timeout);
  CHECK(m.state.alarm_class == ResultClass::unreachable);
  CHECK(m.state.last_failure_class == ResultClass::timeout);
  CHECK(m.state.last_class == ResultClass::timeout);
}

TEST_CASE("a new run after recovery must last outage_window again", "[alarm]") {
  Member m;
  m.probe(kFail);
  REQUIRE(m.after(15min, kFail).alarm == AlarmChange::raised);
  m.after(1min, kOk);
  REQUIRE(m.after(1min, kOk).alarm == AlarmChange::cleared);
  CHECK(m.after(1min, kFail).alarm == AlarmChange::pending);
  CHECK(m.after(14min, kFail).alarm == AlarmChange::pending);
  CHECK(m.after(1min, kFail).alarm == AlarmChange::raised);
}

TEST_CASE("health goes DOWN at exactly health_fail_after failures, UP after recover_after good",
          "[alarm]") {
  Member m;
  m.config.health_fail_after = 3;
  m.config.outage_window = 24h;
  CHECK(m.probe(kFail).health == HealthChange::pending);
  CHECK(m.after(1min, kFail).health == HealthChange::pending);
  CHECK(m.state.health_up);
  CHECK(m.after(1min, kFail).health == HealthChange::went_down);
  CHECK_FALSE(m.state.health_up);
  CHECK(m.state.health_since == kT0 + 2min);
  CHECK(m.after(1min, kFail).health == HealthChange::unchanged);
  CHECK(m.after(1min, kOk).health == HealthChange::pending);  // 1 of recover_after (2)
  CHECK_FALSE(m.state.health_up);
  CHECK(m.after(1min, kOk).health == HealthChange::went_up);
  CHECK(m.state.health_up);
  CHECK(m.state.health_since == kT0 + 5min);
  CHECK(m.after(1min, kOk).health == HealthChange::unchanged);
  // Down again needs a full new run.
  CHECK(m.after(1min, kFail).health == HealthChange::pending);
  CHECK(m.after(1min, kFail).health == HealthChange::pending);
  CHECK(m.after(1min, kFail).health == HealthChange::went_down);
}

TEST_CASE("health_fail_after = 1 takes a member down at its first failure", "[alarm]") {
  Member m;
  m.config.health_fail_after = 1;
  CHECK(m.probe(kFail).health == HealthChange::went_down);
}

TEST_CASE("late counts as good unless late_is_failure is set", "[alarm]") {
  Member tolerant;
  for (int i = 0; i < 120; ++i) {
    auto t = tolerant.after(1min, ResultClass::late);
    CHECK(t == Transitions{});
  }
  CHECK(tolerant.state.health_up);
  CHECK_FALSE(tolerant.state.in_alarm);
  CHECK(tolerant.state.last_success_at == tolerant.now);

  Member strict;
  strict.config.late_is_failure = true;
  strict.probe(ResultClass::late);
  CHECK(strict.after(1min, ResultClass::late).health == HealthChange::went_down);
  CHECK(strict.after(14min, ResultClass::late).alarm == AlarmChange::raised);
  CHECK(strict.state.alarm_class == ResultClass::late);
}

TEST_CASE("late clears an alarm when it is not a failure", "[alarm]") {
  Member m;
  m.probe(kFail);
  REQUIRE(m.after(15min, kFail).alarm == AlarmChange::raised);
  m.after(1min, ResultClass::late);
  CHECK(m.after(1min, ResultClass::late).alarm == AlarmChange::cleared);
}

TEST_CASE("mailbox_error alone never moves a member toward alarm or DOWN", "[alarm]") {
  Member m;
  for (int i = 0; i < 24 * 60; ++i) {
    CHECK(m.after(1min, ResultClass::mailbox_error) == Transitions{});
  }
  CHECK_FALSE(m.state.in_alarm);
  CHECK(m.state.health_up);
  CHECK_FALSE(m.state.failing_since);
  CHECK(m.state.consecutive_failures == 0);
  CHECK(m.state.consecutive_successes == 0);
  CHECK(m.state.consecutive_unknown == 24 * 60);
  CHECK(m.state.last_class == ResultClass::mailbox_error);
  CHECK(m.state.last_probe_at == m.now);
  CHECK_FALSE(m.state.last_success_at);
}

TEST_CASE("mailbox_error inside a failure run neither breaks nor extends it", "[alarm]") {
  Member m;
  m.probe(kFail);
  for (int i = 0; i < 10; ++i) {
    CHECK(m.after(1min, ResultClass::mailbox_error) == Transitions{});
  }
  // Not a failed probe: the run still has one, and DOWN still needs a second failure.
  CHECK(m.state.consecutive_failures == 1);
  CHECK(m.state.failing_since == kT0);
  CHECK(m.state.health_up);
  // Time passed during the unknown stretch counts: the run is timed from its first failure.
  CHECK(m.after(5min, kFail) == Transitions{AlarmChange::raised, HealthChange::went_down});
  CHECK(m.state.consecutive_failures == 2);
}

TEST_CASE("mailbox_error does not break a recovery count nor clear an alarm", "[alarm]") {
  Member m;
  m.probe(kFail);
  REQUIRE(m.after(15min, kFail).alarm == AlarmChange::raised);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::pending);
  CHECK(m.after(1min, ResultClass::mailbox_error).alarm == AlarmChange::unchanged);
  CHECK(m.state.in_alarm);
  CHECK(m.after(1min, kOk).alarm == AlarmChange::cleared);
}

TEST_CASE("mailbox_error does not bring a DOWN member back UP", "[alarm]") {
  Member m;
  m.probe(kFail);
  REQUIRE(m.after(1min, kFail).health == HealthChange::went_down);
  CHECK(m.after(1min, ResultClass::mailbox_error).health == HealthChange::unchanged);
  CHECK_FALSE(m.state.health_up);
}

TEST_CASE("no new alarm inside maintenance; failures are still recorded and health moves",
          "[alarm]") {
  Member m;
  m.maintenance_until = kT0 + 2h;
  CHECK(m.probe(kFail).alarm == AlarmChange::pending);
  CHECK(m.after(5min, kFail) == Transitions{AlarmChange::pending, HealthChange::went_down});
  CHECK(m.after(5min, kFail).alarm == AlarmChange::pending);  // 10m
  for (int i = 0; i < 20; ++i) {
    CHECK(m.after(5min, kFail).alarm == AlarmChange::suppressed);
  }
  CHECK_FALSE(m.state.in_alarm);
  CHECK(m.state.in_maintenance);
  CHECK(m.state.consecutive_failures == 23);
  CHECK(m.state.failing_since == kT0);
  CHECK(m.state.maintenance_until == kT0 + 2h);
}

TEST_CASE("an outage through a window alarms outage_window after the window's end", "[alarm]") {
  // The header's example: window 10:02-10:12, a probe every 5 minutes from 10:00.
  Member m;
  m.probe(kFail);
  m.maintenance_until = kT0 + 12min;
  CHECK(m.after(5min, kFail).health == HealthChange::went_down);
  CHECK(m.after(5min, kFail).alarm == AlarmChange::pending);  // 10m < 15m anyway
  m.maintenance_until.reset();
  CHECK(m.after(5min, kFail).alarm == AlarmChange::pending);  // 10:15, 3m after the end
  CHECK_FALSE(m.state.in_maintenance);
  CHECK(m.state.maintenance_ended_at == kT0 + 12min);
  CHECK(m.after(5min, kFail).alarm == AlarmChange::pending);  // 10:20, 8m
  CHECK(m.after(5min, kFail).alarm == AlarmChange::pending);  // 10:25, 13m
  CHECK(m.after(5min, kFail).alarm == AlarmChange::raised);   // 10:30, 18m
}

TEST_CASE("the alarm after a window is raised exactly outage_window after its end", "[alarm]") {
  Member m;
  m.maintenance_until = kT0 + 30min;
  m.probe(kFail);
  m.after(29min, kFail);
  m.maintenance_until.reset();
  m.after(1min, kFail);  // 10:30, the window's end
  for (int i = 1; i < 15; ++i) {
    CHECK(m.after(1min, kFail).alarm == AlarmChange::pending);
  }
  CHECK(m.after(1min, kFail).alarm == AlarmChange::raised);  // 10:45
}

TEST_CASE("a run that began long before a window still waits outage_window after it", "[alarm]") {
  Member m;
  m.config.outage_window = 2h;  // the run starts 1h before the window: not yet alarmed
  m.probe(kFail);
  m.after(1h, kFail);
  m.maintenance_until = kT0 + 1h + 30min;
  CHECK(m.after(10min, kFail).alarm == AlarmChange::pending);
  m.maintenance_until.reset();
  CHECK(m.after(1h, kFail).alarm == AlarmChange::pending);  // 2h10m of failure, 40m after
  CHECK(m.after(80min, kFail).alarm == AlarmChange::raised);
}

TEST_CASE("a window cut short ends at the first probe seen outside it", "[alarm]") {
  Member m;
  m.maintenance_until = kT0 + 2h;  // as announced; a config reload then removed it
  m.probe(kFail);
  m.maintenance_until.reset();
  m.after(20min, kFail);
  CHECK(m.state.maintenance_ended_at == kT0 + 20min);
  CHECK(m.after(14min, kFail).alarm == AlarmChange::pending);
  CHECK(m.after(1min, kFail).alarm == AlarmChange::raised);
}

TEST_CASE("with only a bool, a window ends at the first probe outside it", "[alarm]") {
  MemberStatus s;
  SlgConfig c = slg();
  observe(s, c, kFail, kT0, true);
  observe(s, c, kFail, kT0 + 10min, true);
  CHECK(observe(s, c, kFail, kT0 + 20min, false).alarm == AlarmChange::pending);
  CHECK(s.maintenance_ended_at == kT0 + 20min);
  CHECK(observe(s, c, kFail, kT0 + 34min, false).alarm == AlarmChange::pending);
  CHECK(observe(s, c, kFail, kT0 + 35min, false).alarm == AlarmChange::raised);
}

TEST_CASE("an outage that starts after a window is timed from its own start", "[alarm]") {
  Member m;
  m.maintenance_until = kT0 + 10min;
  m.probe(kOk);
  m.maintenance_until.reset();
  m.after(1h, kFail);
  CHECK(m.after(15min, kFail).alarm == AlarmChange::raised);
}

TEST_CASE("an alarm active when maintenance starts stays active and may clear inside it",
          "[alarm]") {
  Member m;
  m.probe(kFail);
  REQUIRE(m.after(15min, kFail).alarm == AlarmChange::raised);
  m.maintenance_until = kT0 + 3h;
  CHECK(m.after(5min, kFail).alarm == AlarmChange::unchanged);
  CHECK(m.state.in_alarm);
  CHECK(m.after(5min, kOk).alarm == AlarmChange::pending);
  CHECK(m.after(5min, kOk).alarm == AlarmChange::cleared);
  // And a new run inside the window is suppressed, not raised.
  m.after(5min, kFail);
  CHECK(m.after(15min, kFail).alarm == AlarmChange::suppressed);
}

TEST_CASE("an earlier time than the last probe never shortens or reverses a run", "[alarm]") {
  Member m;
  m.probe(kFail);
  m.after(10min, kFail);
  // An outcome decided out of order, dated 10:03.
  CHECK(observe(m.state, m.config, kFail, kT0 + 3min, std::nullopt).alarm == AlarmChange::pending);
  CHECK(m.state.last_probe_at == kT0 + 10min);
  CHECK(m.after(5min, kFail).alarm == AlarmChange::raised);
}

namespace {

// A deterministic mixed timeline: runs of failures, good probes, mailbox errors and
// maintenance windows, with irregular gaps.
struct Step {
  ResultClass cls;
  std::chrono::seconds gap;
  bool maintenance;
};

std::vector<Step> scripted_timeline(int n) {
  std::vector<Step> steps;
  std::uint64_t x = 0x2545f4914f6cdd1dULL;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  bool failing = false;
  for (int i = 0; i < n; ++i) {
    if (next() % 10 == 0) {
      failing = !failing;
    }
    ResultClass cls = failing ? ResultClass::timeout : ResultClass::ok;
    if (next() % 13 == 0) {
      cls = ResultClass::mailbox_error;
    }
    const bool maintenance = (i / 40) % 4 == 1;
    steps.push_back({cls, std::chrono::seconds(30 + next() % 300), maintenance});
  }
  return steps;
}

}  // namespace

TEST_CASE("a restart with the persisted state continues exactly like no restart", "[alarm]") {
  const SlgConfig c = slg(10min, 2, 2);
  const auto steps = scripted_timeline(600);

  auto run = [&](int restart_every, bool through_json) {
    std::vector<Transitions> out;
    MemberStatus s;
    SysTime t = kT0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      t += steps[i].gap;
      if (restart_every > 0 && i % static_cast<std::size_t>(restart_every) == 0) {
        if (through_json) {
          auto decoded = decode_member_status(encode_member_status(s));
          REQUIRE(decoded);
          s = *decoded;
        } else {
          MemberStatus copy = s;  // what the store kept
          s = MemberStatus{};
          s = copy;
        }
      }
      out.push_back(observe(s, c, steps[i].cls, t,
                            steps[i].maintenance ? std::optional<SysTime>(t + 1h) : std::nullopt));
    }
    return std::make_pair(out, s);
  };

  const auto result = run(0, false);
  const auto& baseline = result.first;
  const auto& final_state = result.second;
  // The timeline exercises what it should.
  auto count = [&](AlarmChange a) {
    return std::count_if(baseline.begin(), baseline.end(),
                         [&](const Transitions& t) { return t.alarm == a; });
  };
  CHECK(count(AlarmChange::raised) > 0);
  CHECK(count(AlarmChange::cleared) > 0);
  CHECK(count(AlarmChange::suppressed) > 0);

  for (int every : {1, 7, 50}) {
    INFO("restart every " << every);
    CHECK(run(every, false).first == baseline);
    CHECK(run(every, false).second == final_state);
    CHECK(run(every, true).first == baseline);  // the times are whole seconds
    CHECK(run(every, true).second == final_state);
  }
}

TEST_CASE("encode/decode of a member state round-trips every field", "[alarm]") {
  MemberStatus s;
  s.in_alarm = true;
  s.alarm_since = kT0 + 1s;
  s.alarm_class = ResultClass::tls_error;
  s.failing_since = kT0 - 15min;
  s.consecutive_failures = 17;
  s.consecutive_successes = 0;
  s.consecutive_unknown = 3;
  s.health_up = false;
  s.health_since = kT0 - 14min;
  s.last_class = ResultClass::mailbox_error;
  s.last_probe_at = kT0 + 2min;
  s.last_success_at = kT0 - 1h;
  s.last_failure_class = ResultClass::tls_error;
  s.last_failure_at = kT0 + 1min;
  s.in_maintenance = true;
  s.maintenance_until = kT0 + 3h;
  s.maintenance_ended_at = kT0 - 1h + 123ms;
  auto back = decode_member_status(encode_member_status(s));
  REQUIRE(back);
  CHECK(*back == s);
  CHECK(decode_member_status(encode_member_status(MemberStatus{})) == MemberStatus{});
}

TEST_CASE("decoding takes defaults for missing keys and rejects malformed state", "[alarm]") {
  auto partial = decode_member_status(R"({"in_alarm":true,"alarm_class":"lost"})");
  REQUIRE(partial);
  CHECK(partial->in_alarm);
  CHECK(partial->alarm_class == ResultClass::lost);
  CHECK(partial->health_up);
  CHECK_FALSE(partial->failing_since);

  CHECK_FALSE(decode_member_status(""));
  CHECK_FALSE(decode_member_status("not json"));
  CHECK_FALSE(decode_member_status("[1,2]"));
  CHECK_FALSE(decode_member_status(R"({"in_alarm":"yes"})"));
  CHECK_FALSE(decode_member_status(R"({"alarm_class":"broken"})"));
  CHECK_FALSE(decode_member_status(R"({"consecutive_failures":-1})"));
  CHECK_FALSE(decode_member_status(R"({"failing_since":"2026-01-01"})"));
  CHECK_FALSE(decode_member_status(R"({"v":2})"));  // written by a newer agent
}

TEST_CASE("to_string names every change", "[alarm]") {
  CHECK(to_string(AlarmChange::raised) == "raised");
  CHECK(to_string(AlarmChange::suppressed) == "suppressed");
  CHECK(to_string(AlarmChange::cleared) == "cleared");
  CHECK(to_string(HealthChange::went_down) == "went_down");
  CHECK(to_string(HealthChange::went_up) == "went_up");
}

TEST_CASE("mailbox alarm: raised after outage_window of errors, cleared by one good read",
          "[alarm]") {
  MailboxStatus s;
  SysTime t = kT0;
  CHECK(observe_mailbox(s, 15min, false, t) == AlarmChange::pending);
  for (int i = 1; i < 15; ++i) {
    CHECK(observe_mailbox(s, 15min, false, t += 1min) == AlarmChange::pending);
  }
  CHECK(observe_mailbox(s, 15min, false, t += 1min) == AlarmChange::raised);
  CHECK(s.alarm_since == kT0 + 15min);
  CHECK(observe_mailbox(s, 15min, false, t += 1min) == AlarmChange::unchanged);
  CHECK(observe_mailbox(s, 15min, true, t += 1min) == AlarmChange::cleared);
  CHECK_FALSE(s.in_alarm);
  CHECK(s.consecutive_errors == 0);
  CHECK(s.last_success_at == t);
}

TEST_CASE("mailbox alarm: a blip or flapping reads raise nothing", "[alarm]") {
  MailboxStatus s;
  SysTime t = kT0;
  CHECK(observe_mailbox(s, 15min, false, t) == AlarmChange::pending);
  CHECK(observe_mailbox(s, 15min, true, t += 1h) == AlarmChange::unchanged);
  for (int i = 0; i < 500; ++i) {
    CHECK(observe_mailbox(s, 15min, i % 2 == 0, t += 10min) != AlarmChange::raised);
  }
  CHECK_FALSE(s.in_alarm);
  // One error long after a good read still needs a second one.
  MailboxStatus single;
  CHECK(observe_mailbox(single, 0ms, false, kT0) == AlarmChange::pending);
  CHECK(observe_mailbox(single, 0ms, false, kT0 + 1s) == AlarmChange::raised);
}
