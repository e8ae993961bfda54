// Group commit: the per-probe state writes wait in a StoreBatch for up to kHoldFor and
// are written in one transaction (StateStore::write); a canary decided meanwhile never
// gets its in-flight row. Fake time; the store is a real SQLite file.
#include <catch2/catch.hpp>

#include "mailcanary/agent/core/store_batch.hpp"
#include "mailcanary/agent/store/state_store.hpp"
#include "temp_dir.hpp"

using namespace mailcanary::agent;
using mailcanary::testing::TempDir;
using namespace std::chrono_literals;

namespace {

const StoreBatch::Time kT0{std::chrono::seconds(1000)};
const SysTime kWall{std::chrono::milliseconds(1'780'000'000'000)};

InFlightCanary flight(const std::string& id) {
  return InFlightCanary{id,           "vip", "member", "inbox",  kWall, kWall,
                        kWall + 600s, 250,   "Q1",     "250 ok", 0.01,  1};
}

Outcome outcome(const std::string& id, bool with_notification = false) {
  std::string json = R"({"class":"ok","id":")";
  json += id;
  json += "\"}";
  Outcome o{"t", "m", id, kWall + 1s, json, R"({"good":1})", std::nullopt};
  if (with_notification) {
    o.notification = NewNotification{"t/m", "resolved", "[]"};
  }
  return o;
}

Effect in_flight_effect(const std::string& id) {
  return PersistInFlight{flight(id)};
}
Effect outcome_effect(const std::string& id, bool with_notification = false) {
  return PersistOutcome{outcome(id, with_notification)};
}

std::vector<std::string> ids_in(const std::vector<StateWrite>& writes) {
  std::vector<std::string> out;
  for (const auto& w : writes) {
    if (const auto* c = std::get_if<InFlightCanary>(&w)) {
      out.push_back("flight " + c->id);
    } else if (const auto* o = std::get_if<Outcome>(&w)) {
      out.push_back("outcome " + o->canary_id);
    } else if (const auto* d = std::get_if<DroppedCanary>(&w)) {
      out.push_back("drop " + d->id);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a canary decided within the hold time is written as its outcome alone", "[batch]") {
  StoreBatch b;
  CHECK_FALSE(b.due_at());
  auto e1 = in_flight_effect("a");
  auto e2 = in_flight_effect("b");
  auto e3 = outcome_effect("a");
  CHECK(b.add(e1, kT0));
  CHECK(b.add(e2, kT0 + 5ms));
  CHECK(b.add(e3, kT0 + 7ms));
  // Due kHoldFor after the FIRST write, not the last.
  REQUIRE(b.due_at());
  CHECK(*b.due_at() == kT0 + StoreBatch::kHoldFor);
  CHECK_FALSE(b.due(kT0 + StoreBatch::kHoldFor - 1ms));
  CHECK(b.due(kT0 + StoreBatch::kHoldFor));
  auto t = b.take();
  CHECK(ids_in(t.writes) == std::vector<std::string>{"flight b", "outcome a"});
  CHECK(t.held.empty());
  CHECK(b.empty());
  CHECK_FALSE(b.due_at());
}

TEST_CASE("a dropped canary cancels its waiting row and is still deleted", "[batch]") {
  StoreBatch b;
  auto e1 = in_flight_effect("a");
  Effect e2 = DropInFlight{"a"};
  Effect e3 = DropInFlight{"older"};  // written by an earlier batch
  b.add(e1, kT0);
  b.add(e2, kT0);
  b.add(e3, kT0);
  CHECK(ids_in(b.take().writes) == std::vector<std::string>{"drop a", "drop older"});
}

TEST_CASE("only per-probe writes wait; outcomes with a notification are kept for a failure",
          "[batch]") {
  StoreBatch b;
  Effect q = QueueNotification{NewNotification{"t/m", "firing", "[]"}, kWall};
  Effect f = ForgetMember{"t", "m"};
  Effect l = LogLine{LogLine::Level::info, "x"};
  CHECK_FALSE(b.add(q, kT0));
  CHECK_FALSE(b.add(f, kT0));
  CHECK_FALSE(b.add(l, kT0));
  CHECK(b.empty());
  auto plain = outcome_effect("a");
  auto paged = outcome_effect("b", true);
  b.add(plain, kT0);
  b.add(paged, kT0);
  auto t = b.take();
  REQUIRE(t.held.size() == 1);
  CHECK(std::get<PersistOutcome>(t.held[0]).outcome.canary_id == "b");
}

TEST_CASE("a full batch is due at once", "[batch]") {
  StoreBatch b;
  for (std::size_t i = 0; i + 1 < StoreBatch::kMaxWrites; ++i) {
    auto e = outcome_effect("");
    b.add(e, kT0);
  }
  CHECK_FALSE(b.due(kT0));
  auto e = outcome_effect("");
  b.add(e, kT0);
  CHECK(b.due(kT0));
}

TEST_CASE("a group commit is one transaction and skips a replayed outcome", "[batch][state]") {
  TempDir dir;
  auto store = StateStore::open(dir.path());
  store->add_in_flight(flight("old"));
  const auto before = store->writes();

  StoreBatch b;
  std::vector<Effect> effects{in_flight_effect("a"), in_flight_effect("b"), outcome_effect("a"),
                              outcome_effect("old", true), Effect{DropInFlight{"b"}}};
  for (auto& e : effects) {
    b.add(e, kT0);
  }
  CHECK(store->write(b.take().writes) == 0);
  CHECK(store->writes() == before + 1);  // five writes, one transaction
  CHECK(store->in_flight().empty());
  CHECK(store->recent_results("t", "m", 10).size() == 2);
  CHECK(store->pending_notifications() == 1);

  // The same outcome again (found twice after a restart): skipped, the rest written.
  std::vector<StateWrite> again{outcome("a"), flight("c")};
  CHECK(store->write(again) == 1);
  CHECK(store->writes() == before + 2);
  CHECK(store->recent_results("t", "m", 10).size() == 2);
  REQUIRE(store->in_flight().size() == 1);
  CHECK(store->in_flight()[0].id == "c");

  // Nothing to write: no transaction.
  CHECK(store->write({}) == 0);
  CHECK(store->writes() == before + 2);
}

TEST_CASE("an outcome that changes a member's alarm or health is due at once", "[batch]") {
  StoreBatch b;
  auto routine = outcome_effect("a");
  b.add(routine, kT0);
  CHECK_FALSE(b.due(kT0 + 1ms));
  auto change = outcome_effect("b");
  std::get<PersistOutcome>(change).outcome.changes_state = true;
  b.add(change, kT0 + 1ms);
  CHECK(b.due(kT0 + 1ms));
  b.take();
  auto paged = outcome_effect("c", true);  // a notification: an alarm raised or cleared
  b.add(paged, kT0 + 2ms);
  CHECK(b.due(kT0 + 2ms));
  b.take();
  auto again = outcome_effect("d");
  b.add(again, kT0 + 3ms);
  CHECK_FALSE(b.due(kT0 + 3ms));  // urgency ends with the batch that had it
}
