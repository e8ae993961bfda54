// StateStore::write_back(): after failed writes, what the store missed is written in one
// transaction from the core's view.
#include <catch2/catch.hpp>

#include "mailcanary/agent/store/state_store.hpp"
#include "temp_dir.hpp"

using namespace mailcanary::agent;
using mailcanary::testing::TempDir;

namespace {

SysTime at_ms(std::int64_t ms) {
  return SysTime{std::chrono::milliseconds(ms)};
}

InFlightCanary canary(const std::string& id, std::int64_t deadline_ms) {
  InFlightCanary c;
  c.id = id;
  c.target = "vip1";
  c.member = "127.0.0.11:2525";
  c.mailbox = "inbox";
  c.sent_at = at_ms(1000);
  c.accepted_at = at_ms(1042);
  c.deadline = at_ms(deadline_ms);
  c.smtp_code = 250;
  return c;
}

}  // namespace

TEST_CASE("a write-back replaces the canaries in flight, saves states, forgets, queues",
          "[state]") {
  TempDir dir;
  auto store = StateStore::open(dir.path());
  // What the store had before its writes failed.
  store->add_in_flight(canary("decided-meanwhile", 5000));
  store->add_in_flight(canary("still-open", 9000));
  store->save_member_state("vip1", "a:25", "{\"old\":1}");
  store->save_member_state("vip1", "gone:25", "{\"old\":2}");
  store->add_result("vip1", "gone:25", at_ms(1000), "{}");
  store->enqueue_notification({"vip1/x:25", "firing", "before"}, at_ms(100));

  StateWriteBack w;
  w.in_flight = {canary("still-open", 9000), canary("sent-meanwhile", 7000)};
  w.member_states = {{{"vip1", "a:25"}, "{\"new\":1}"}, {{"vip1", "b:25"}, "{\"new\":2}"}};
  w.forgotten = {{"vip1", "gone:25"}};
  w.notifications = {{{"vip1/a:25", "firing", "first"}, at_ms(200)},
                     {{"vip1/a:25", "resolved", "second"}, at_ms(300)}};
  store->write_back(w);

  for (int reopened = 0; reopened < 2; ++reopened) {
    const auto flight = store->in_flight();
    REQUIRE(flight.size() == 2);
    CHECK(flight[0] == canary("sent-meanwhile", 7000));
    CHECK(flight[1] == canary("still-open", 9000));
    const auto states = store->member_states();
    CHECK(states == std::map<std::pair<std::string, std::string>, std::string>{
                        {{"vip1", "a:25"}, "{\"new\":1}"}, {{"vip1", "b:25"}, "{\"new\":2}"}});
    CHECK(store->recent_results("vip1", "gone:25", 10).empty());
    const auto due = store->due_notifications(at_ms(1000), 10);
    REQUIRE(due.size() == 3);
    CHECK(due[0].payload == "before");
    CHECK(due[1].payload == "first");
    CHECK(due[1].next_attempt_at == at_ms(200));
    CHECK(due[2].payload == "second");
    CHECK(due[2].kind == "resolved");
    store.reset();
    store = StateStore::open(dir.path());
  }
}

TEST_CASE("a forgotten member that came back keeps the state written back with it", "[state]") {
  TempDir dir;
  auto store = StateStore::open(dir.path());
  store->save_member_state("vip1", "a:25", "{\"old\":1}");
  StateWriteBack w;
  w.forgotten = {{"vip1", "a:25"}};
  w.member_states = {{{"vip1", "a:25"}, "{\"again\":1}"}};
  store->write_back(w);
  CHECK(store->member_states().at({"vip1", "a:25"}) == "{\"again\":1}");
}
