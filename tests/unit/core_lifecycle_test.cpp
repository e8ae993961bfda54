// The agent core across its life: restore after a restart, config reload, retirement,
// sharding, shutdown, and the snapshots it publishes. Fake time, no I/O.
#include "core_driver.hpp"
#include "mailcanary/agent/core/alarm.hpp"
#include "mailcanary/agent/core/shard.hpp"

using namespace mailcanary::testing;
using mailcanary::agent::DropInFlight;
using mailcanary::agent::ForgetMember;
using mailcanary::agent::LogLine;
using mailcanary::agent::MemberStatus;
using mailcanary::agent::PersistInFlight;
using mailcanary::agent::PersistOutcome;
using mailcanary::agent::RestartWatcher;
using mailcanary::agent::RunDiscovery;
using mailcanary::agent::StartProbe;
using mailcanary::agent::WatchCanary;

namespace {

const std::string kA = "10.0.0.1:25";
const std::string kB = "10.0.0.2:25";

std::string two_members() {
  return vip_target("t", "\"" + kA + "\", \"" + kB + "\"", "interval = \"1s\"\n") +
         "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\n";
}

mailcanary::agent::InFlightCanary in_flight(const CoreDriver& d, const std::string& id) {
  mailcanary::agent::InFlightCanary c;
  c.id = id;
  c.target = "t";
  c.member = kA;
  c.mailbox = "inbox";
  c.accepted_at = d.now.wall - 1s;
  c.sent_at = c.accepted_at - 20ms;
  c.deadline = c.accepted_at + 3s;
  c.smtp_code = 250;
  return c;
}

}  // namespace

TEST_CASE("restored alarm and health are in the first snapshot, before any probe or discovery",
          "[core][restore]") {
  CoreDriver d(core_config(two_members()));
  MemberStatus st;
  st.in_alarm = true;
  st.alarm_since = d.now.wall - 10min;
  st.alarm_class = ResultClass::temp_fail;
  st.health_up = false;
  st.last_probe_at = d.now.wall - 30s;
  st.last_failure_class = ResultClass::temp_fail;
  auto e = d.core.restored({{{"t", kA}, mailcanary::agent::encode_member_status(st)},
                            {{"gone", kA}, mailcanary::agent::encode_member_status(st)}},
                           {}, d.now);
  CHECK(e.empty());
  const auto* v = d.view("t", kA);
  REQUIRE(v);
  CHECK(v->status == st);
  CHECK(d.view("gone", kA) == nullptr);  // its target is not in the config
  // Discovery then schedules it without losing the state.
  auto found = d.discover();
  CHECK(log_text(found).find("member t " + kA + " added (state restored)") != std::string::npos);
  CHECK(d.view("t", kA)->status.in_alarm);
}

TEST_CASE("restored canaries in flight are watched again with their own deadline",
          "[core][restore]") {
  CoreDriver d(core_config(two_members()));
  auto rec = in_flight(d, "c1");
  auto other = in_flight(d, "c2");
  other.target = "gone";
  auto e = d.core.restored({}, {rec, other}, d.now);
  const auto watches = all_of<WatchCanary>(e);
  REQUIRE(watches.size() == 1);
  CHECK(watches[0].pending.id == "c1");
  CHECK(watches[0].pending.accepted_at == d.now.mono - 1s);
  CHECK(watches[0].pending.deadline == d.now.mono + 2s);
  const auto dropped = all_of<DropInFlight>(e);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0].canary_id == "c2");
  CHECK(d.core.in_flight() == 1);
  // Found after the restart: recorded with its SMTP half.
  d.discover();
  auto found = d.found("c1", 1.2);
  REQUIRE(all_of<PersistOutcome>(found).size() == 1);
  CHECK(d.view("t", kA)->last->smtp_code == 250);
}

TEST_CASE("a member removed from the config is retired; its late result is dropped",
          "[core][reload]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  // Both probed; kB's canary is in flight when it is removed.
  for (int started = 0; started < 2;) {
    auto e = d.core.tick(d.now);
    for (const auto& s : all_of<StartProbe>(e)) {
      ++started;
      d.accepted("t", s.ref.member, "c-" + s.ref.member);
    }
    d.advance(1ms);
  }
  auto fewer = core_config(vip_target("t", "\"" + kA + "\"", "interval = \"1s\"\n") +
                           "[slg]\nlatency_slo = \"2s\"\nlost_after = \"3s\"\n");
  auto reload = d.core.config_changed(fewer, "/x.toml", d.now);
  CHECK(log_text(reload).find("config reloaded from /x.toml") != std::string::npos);
  auto ask = d.core.tick(d.now);
  REQUIRE(all_of<RunDiscovery>(ask).size() == 1);  // at once
  auto e = d.core.discovered(vip_members(*fewer), fewer, d.now);
  const auto forgotten = all_of<ForgetMember>(e);
  REQUIRE(forgotten.size() == 1);
  CHECK(forgotten[0].member == kB);
  CHECK(d.view("t", kB) == nullptr);
  auto late = d.found("c-" + kB, 0.5);
  CHECK(all_of<PersistOutcome>(late).empty());
  CHECK(all_of<DropInFlight>(late).size() == 1);
  CHECK(log_text(late).find("(member retired: not recorded)") != std::string::npos);
  CHECK(d.view("t", kB) == nullptr);
}

TEST_CASE("a changed mailbox restarts its watcher and hands it the canaries in flight",
          "[core][reload]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  d.until_started();
  d.accepted("t", kA, "c1");
  // The same config but the mailbox polls at another interval.
  auto with_poll = std::make_shared<mailcanary::config::Config>(*d.cfg);
  with_poll->mailboxes[0].poll_interval = 1234ms;
  std::shared_ptr<const mailcanary::config::Config> fresh = with_poll;
  auto e = d.core.config_changed(fresh, "/x.toml", d.now);
  const auto restarts = all_of<RestartWatcher>(e);
  REQUIRE(restarts.size() == 1);
  CHECK(restarts[0].mailbox == "inbox");
  const auto watches = all_of<WatchCanary>(e);
  REQUIRE(watches.size() == 1);
  CHECK(watches[0].pending.id == "c1");
  // An unchanged config restarts nothing.
  CHECK(all_of<RestartWatcher>(d.core.config_changed(fresh, "/x.toml", d.now)).empty());
}

TEST_CASE("a changed [[oauth2]] section restarts the watchers that log in with it",
          "[core][reload][oauth2]") {
  auto base = std::make_shared<mailcanary::config::Config>(*core_config(two_members()));
  base->oauth2.push_back({"idp", "http://127.0.0.1:1/token", "client", "", "secret", "", ""});
  base->mailboxes[0].auth = mailcanary::config::AuthMethod::xoauth2;
  base->mailboxes[0].password.clear();
  base->mailboxes[0].password_file.clear();
  base->mailboxes[0].oauth2 = "idp";
  CoreDriver d(base);
  d.discover();
  d.until_started();
  d.accepted("t", kA, "c1");
  auto other_section = std::make_shared<mailcanary::config::Config>(*d.cfg);
  other_section->oauth2.push_back({"unused", "http://127.0.0.1:2/token", "c", "", "s", "", ""});
  std::shared_ptr<const mailcanary::config::Config> unrelated = other_section;
  CHECK(all_of<RestartWatcher>(d.core.config_changed(unrelated, "/x.toml", d.now)).empty());
  auto rotated = std::make_shared<mailcanary::config::Config>(*unrelated);
  rotated->oauth2[0].client_secret = "rotated";
  std::shared_ptr<const mailcanary::config::Config> fresh = rotated;
  auto e = d.core.config_changed(fresh, "/x.toml", d.now);
  const auto restarts = all_of<RestartWatcher>(e);
  REQUIRE(restarts.size() == 1);
  CHECK(restarts[0].mailbox == "inbox");
  REQUIRE(all_of<WatchCanary>(e).size() == 1);
}

TEST_CASE("a refused reload keeps the running config and is counted", "[core][reload]") {
  CoreDriver d(core_config(two_members()));
  auto e = d.core.config_refused("x.toml:3:1: unknown key 'bogus'", d.now);
  CHECK(log_text(e).find("config reload refused, keeping the running config") != std::string::npos);
  auto s = d.core.snapshot(d.now);
  CHECK(s->reloads_failed == 1);
  CHECK_FALSE(s->last_reload_ok);
}

TEST_CASE("with shards, each agent schedules only the members it owns", "[core][shard]") {
  std::string members;
  for (int i = 1; i <= 40; ++i) {
    members += std::string(i > 1 ? ", " : "") + "\"10.0.0." + std::to_string(i) + ":25\"";
  }
  std::size_t total = 0;
  for (int shard = 1; shard <= 2; ++shard) {
    CoreDriver d(
        core_config(vip_target("t", members), "shard = \"" + std::to_string(shard) + "/2\"\n"));
    d.discover();
    auto s = d.core.snapshot(d.now);
    for (const auto& m : s->members) {
      CHECK(mailcanary::agent::shard_of("t", m->member, 2) == shard);
    }
    CHECK(s->members.size() > 5);  // both get a share
    total += s->members.size();
  }
  CHECK(total == 40);
}

TEST_CASE("after stopping nothing is started, logged, alerted or recorded", "[core][stop]") {
  CoreDriver d(core_config(two_members() + "outage_window = \"1s\"\nhealth_fail_after = 1\n"));
  d.discover();
  d.until_started();
  d.accepted("t", kA, "before");
  auto stop = d.core.stopping(d.now);
  CHECK(log_text(stop) == "stopping: in-flight canaries stay in the state database\n");
  d.advance(5s);
  CHECK(d.core.tick(d.now).empty());
  CHECK(d.smtp_result("t", kB, ResultClass::temp_fail, Stage::rcpt).empty());
  // A canary accepted while stopping is kept for the next run, nothing else.
  auto late = d.accepted("t", kB, "during");
  REQUIRE(late.size() == 1);
  CHECK(std::get<PersistInFlight>(late[0]).canary.id == "during");
  // A canary found meanwhile is only taken out of flight.
  auto found = d.found("before", 0.1);
  REQUIRE(found.size() == 1);
  CHECK(std::get<DropInFlight>(found[0]).canary_id == "before");
  CHECK(d.core.mailbox_state("inbox", false, "gone", {.reconnects = 1}, d.now).empty());
  CHECK(d.core.stopping(d.now).empty());  // said once
}

TEST_CASE("a published snapshot never changes; unchanged members are shared", "[core][snapshot]") {
  CoreDriver d(core_config(two_members()));
  d.discover();
  auto before = d.core.snapshot(d.now);
  CHECK(d.core.snapshot(d.now) == before);  // nothing changed: the same one
  REQUIRE(before->members.size() == 2);
  const auto* a_before = before->find("t", kA);
  d.smtp_result("t", kA, ResultClass::perm_fail, Stage::rcpt);
  auto after = d.core.snapshot(d.now);
  CHECK(after != before);
  CHECK(a_before->probes[static_cast<std::size_t>(ResultClass::perm_fail)] == 0);
  CHECK_FALSE(a_before->last);
  CHECK(after->find("t", kA)->probes[static_cast<std::size_t>(ResultClass::perm_fail)] == 1);
  CHECK(after->find("t", kB) == before->find("t", kB));  // kB did not change: shared
}
