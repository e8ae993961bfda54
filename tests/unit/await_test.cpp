#include <catch2/catch.hpp>

#include "fake_clock.hpp"
#include "mailcanary/probes/mailbox.hpp"

using namespace mailcanary::probes;
using mailcanary::testing::FakeClock;
using namespace std::chrono_literals;

namespace {

// A mailbox where each canary appears at a given time; scans may be told to fail.
class ScriptedReader final : public MailboxReader {
 public:
  explicit ScriptedReader(FakeClock& clock) : clock_(clock) {}
  std::map<std::string, std::chrono::steady_clock::time_point> arrivals;
  bool stamp = false;  // report each canary's arrival time, as an IMAP INTERNALDATE would
  int fail_scans = 0;  // the next N scans throw
  bool permanent = false;
  int scans = 0;

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    ++scans;
    if (fail_scans > 0) {
      --fail_scans;
      throw MailboxError("connection lost", permanent);
    }
    std::vector<FoundCanary> out;
    for (auto it = arrivals.begin(); it != arrivals.end();) {
      if (wanted.count(it->first) && it->second <= clock_.now()) {
        std::optional<std::chrono::system_clock::time_point> at;
        if (stamp) {  // in whole seconds, rounded down like INTERNALDATE
          at =
              std::chrono::floor<std::chrono::seconds>(clock_.wall() - (clock_.now() - it->second));
        }
        out.push_back({it->first, "INBOX", "Date: Sun, 29 Nov 2026 02:25:16 +0000\r\n", at});
        it = arrivals.erase(it);  // deleted once found
      } else {
        ++it;
      }
    }
    return out;
  }
  std::size_t foreign_seen() const override { return 0; }

 private:
  FakeClock& clock_;
};

}  // namespace

TEST_CASE("a canary that arrives is found with its delivery time", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.arrivals["a"] = t0 + 1200ms;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 10s}}, WaitPolicy{500ms}, clock);
  CHECK(res["a"].state == Confirmation::State::found);
  // Looks at 2, 4 ... 512 ms, then every 500 ms: the first after it landed is at 1,512.
  CHECK(res["a"].delivery_seconds == Approx(1.512));
}

TEST_CASE("a canary that never arrives is not found at its deadline, no later", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  auto res = await_canaries(reader, nullptr, {{"gone", t0, t0 + 10s}}, WaitPolicy{1s}, clock);
  CHECK(res["gone"].state == Confirmation::State::not_found);
  CHECK(clock.now() - t0 >= 10s);
  CHECK(clock.now() - t0 < 11s);
}

TEST_CASE("several canaries are awaited together, each to its own deadline", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.arrivals["fast"] = t0 + 100ms;
  reader.arrivals["slow"] = t0 + 4s;
  auto res = await_canaries(reader, nullptr,
                            {{"fast", t0, t0 + 5s}, {"slow", t0, t0 + 5s}, {"lost", t0, t0 + 5s}},
                            WaitPolicy{250ms}, clock);
  CHECK(res["fast"].state == Confirmation::State::found);
  CHECK(res["slow"].state == Confirmation::State::found);
  CHECK(res["lost"].state == Confirmation::State::not_found);
  CHECK(clock.now() - t0 < 6s);
}

TEST_CASE("a transient reader failure is retried and the canary still found", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.arrivals["a"] = t0;
  reader.fail_scans = 3;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 10s}}, WaitPolicy{1s}, clock);
  CHECK(res["a"].state == Confirmation::State::found);
  CHECK(reader.scans == 4);
}

TEST_CASE("a permanent reader failure ends the wait at once as reader_failed", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.fail_scans = 100;
  reader.permanent = true;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 10min}}, WaitPolicy{1s}, clock);
  CHECK(res["a"].state == Confirmation::State::reader_failed);
  CHECK(res["a"].error == "connection lost");
  CHECK(clock.now() - t0 == 2ms);  // the first look
}

TEST_CASE("in the agent, a permanent reader failure keeps canaries open until their deadline",
          "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.arrivals["a"] = t0 + 1s;
  reader.fail_scans = 20;  // e.g. logins refused while the server shuts down
  reader.permanent = true;
  WaitPolicy policy{5s};
  policy.permanent_error_decides = false;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 10min}}, policy, clock);
  CHECK(res["a"].state == Confirmation::State::found);
}

namespace {

// A canary delivered 1.5 s after its 250 while the mailbox cannot be read for 40 s: what
// the waiter decides once it can. `stamp`: the server tells arrival times (IMAP).
Confirmation decided_after_outage(bool stamp) {
  FakeClock clock;
  ScriptedReader reader(clock);
  reader.stamp = stamp;
  auto t0 = clock.now();
  reader.arrivals["a"] = t0 + 1500ms;
  reader.fail_scans = 1000;
  CanaryWaiter waiter(reader, nullptr, WaitPolicy{5s});
  waiter.add({"a", t0, t0 + 10min});
  std::vector<std::pair<std::string, Confirmation>> all;
  for (int i = 0; i < 1000 && all.empty(); ++i) {
    if (clock.now() - t0 >= 40s) {
      reader.fail_scans = 0;  // the mailbox is back
    }
    for (auto& d : waiter.step(clock)) {
      all.push_back(d);
    }
    CHECK(waiter.last_scan_failed() == (reader.fail_scans > 0));
    clock.sleep_for(waiter.next_wait(clock));
  }
  REQUIRE(all.size() == 1);
  return all[0].second;
}

}  // namespace

TEST_CASE("a canary found after the mailbox could not be read gets its real delivery time",
          "[await]") {
  const Confirmation imap = decided_after_outage(true);
  CHECK(imap.state == Confirmation::State::found);
  // INTERNALDATE has whole seconds: the arrival second, not the 40 s the scans took.
  CHECK(imap.delivery_seconds >= 0.5);
  CHECK(imap.delivery_seconds <= 1.5);
  // Without the server's time (POP3), the scan time is all there is.
  const Confirmation pop3 = decided_after_outage(false);
  CHECK(pop3.state == Confirmation::State::found);
  CHECK(pop3.delivery_seconds >= 40.0);
}

TEST_CASE("the server's arrival time is not used while the mailbox could be read", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  reader.stamp = true;
  auto t0 = clock.now() + 900ms;  // the arrival second starts 100 ms before the acceptance
  clock.advance(900ms);
  reader.arrivals["a"] = t0 + 35ms;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 60s}}, WaitPolicy{5s}, clock);
  CHECK(res["a"].delivery_seconds == Approx(0.064));  // the look at 64 ms, not 0
}

TEST_CASE("a mailbox that cannot be read is tried again from 250 ms on, at growing gaps",
          "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.fail_scans = 1000000;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 60s}}, WaitPolicy{5s}, clock);
  CHECK(res["a"].state == Confirmation::State::reader_failed);
  // At 2 ms, then 250 ms, 500 ms, 1 s, 2 s, 4 s later, then every 5 s: 16 tries in 60 s
  // (the looks of a readable mailbox at 2, 4, 8 ... ms would be 23).
  CHECK(reader.scans >= 15);
  CHECK(reader.scans <= 17);
}

TEST_CASE("a canary decided reader_failed is still removed when it turns up", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  reader.stamp = true;
  auto t0 = clock.now();
  reader.arrivals["a"] = t0 + 1s;
  reader.fail_scans = 1000000;
  CanaryWaiter waiter(reader, nullptr, WaitPolicy{1s});
  waiter.add({"a", t0, t0 + 5s});
  std::vector<std::pair<std::string, Confirmation>> all;
  for (int i = 0; i < 100 && !waiter.empty(); ++i) {
    for (auto& d : waiter.step(clock)) {
      all.push_back(d);
    }
    clock.sleep_for(waiter.next_wait(clock));
  }
  REQUIRE(all.size() == 1);
  CHECK(all[0].second.state == Confirmation::State::reader_failed);
  // The mailbox is back; a newer canary keeps the waiter scanning.
  reader.fail_scans = 0;
  waiter.add({"b", clock.now(), clock.now() + 60s});
  for (int i = 0; i < 10 && all.size() < 2; ++i) {
    for (auto& d : waiter.step(clock)) {
      all.push_back(d);
    }
    clock.sleep_for(1s);
  }
  REQUIRE(all.size() == 2);
  CHECK(all[1].first == "a");
  CHECK(all[1].second.state == Confirmation::State::found_after_lost);
  CHECK(all[1].second.delivery_seconds <= 1.0);
  CHECK(reader.arrivals.count("a") == 0);  // removed from the mailbox
}

TEST_CASE("a reader that fails until the deadline gives reader_failed, not lost", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.fail_scans = 1000;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 5s}}, WaitPolicy{1s}, clock);
  CHECK(res["a"].state == Confirmation::State::reader_failed);
}

TEST_CASE("retry delays grow with the attempt and jitter adds at most as much again", "[retry]") {
  using std::chrono::milliseconds;
  CHECK(retry_delay(1, 2s, 0.5) == 0ms);
  CHECK(retry_delay(2, 2s, 0.0) == 2s);
  CHECK(retry_delay(2, 2s, 0.5) == 3s);
  CHECK(retry_delay(3, 2s, 0.0) == 4s);
  CHECK(retry_delay(3, 2s, 1.0) < 8s);
  CHECK(retry_delay(3, 2s, 0.999) >= 7990ms);
}

TEST_CASE("a canary is looked for at 2, 4, 8 ... ms after its acceptance, then every interval",
          "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  reader.arrivals["a"] = t0 + 3ms;
  auto res = await_canaries(reader, nullptr, {{"a", t0, t0 + 60s}}, WaitPolicy{5s}, clock);
  CHECK(res["a"].state == Confirmation::State::found);
  CHECK(res["a"].delivery_seconds == Approx(0.004));
  CHECK(reader.scans == 2);  // at 2 ms (not there yet) and 4 ms

  // A canary that never comes: 12 looks up to 4,096 ms, then one every 5 s until the
  // deadline (about 11 more), not one every few milliseconds.
  FakeClock clock2;
  ScriptedReader never(clock2);
  auto t1 = clock2.now();
  await_canaries(never, nullptr, {{"b", t1, t1 + 60s}}, WaitPolicy{5s}, clock2);
  CHECK(never.scans >= 22);
  CHECK(never.scans <= 25);
}

TEST_CASE("nothing is looked at before a canary is due, nor after it was found", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  CanaryWaiter waiter(reader, nullptr, WaitPolicy{5s});
  auto t0 = clock.now();
  CHECK_FALSE(waiter.due(clock));  // nothing open
  waiter.add({"a", t0, t0 + 60s});
  CHECK_FALSE(waiter.due(clock));  // the first look is 2 ms after the 250
  CHECK(waiter.next_wait(clock) == 2ms);
  clock.advance(2ms);
  CHECK(waiter.due(clock));
  reader.arrivals["a"] = t0 + 1ms;
  REQUIRE(waiter.step(clock).size() == 1);
  CHECK(waiter.empty());
  CHECK_FALSE(waiter.due(clock));
  CHECK(reader.scans == 1);
}

namespace {

// Reports a push from the server at the first long wait, as IDLE would on "* 1 EXISTS".
class PushingReader final : public MailboxReader {
 public:
  explicit PushingReader(FakeClock& clock) : clock_(clock) {}
  int scans = 0;
  bool pushed = false;
  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    ++scans;
    if (pushed && wanted.count("slow")) {
      return {{"slow", "INBOX", "", std::nullopt}};
    }
    return {};
  }
  bool wait(Clock&, std::chrono::milliseconds max) override {
    if (max >= 1s && !pushed) {  // a long wait, ended by the push after 300 ms
      clock_.advance(300ms);
      pushed = true;
      return true;
    }
    clock_.advance(max);
    return false;
  }
  std::size_t foreign_seen() const override { return 0; }

 private:
  FakeClock& clock_;
};

}  // namespace

TEST_CASE("a push from the server is looked at at once, not at the next due look", "[await]") {
  FakeClock clock;
  PushingReader reader(clock);
  auto t0 = clock.now();
  auto res = await_canaries(reader, nullptr, {{"slow", t0, t0 + 60s}}, WaitPolicy{5s}, clock);
  CHECK(res["slow"].state == Confirmation::State::found);
  // Looks until 1,024 ms (gaps under 1 s), then a 1,024 ms wait that the push ends
  // after 300 ms: found then, not at 2,048 ms.
  CHECK(res["slow"].delivery_seconds == Approx(1.324));
}

namespace {

class BounceReader final : public MailboxReader {
 public:
  std::set<std::string> bounced;
  bool fail = false;
  std::vector<FoundCanary> scan(const std::set<std::string>&) override { return {}; }
  std::vector<FoundBounce> scan_bounces(const std::set<std::string>& wanted) override {
    if (fail) {
      throw MailboxError("bounce mailbox down", false);
    }
    std::vector<FoundBounce> out;
    for (const auto& id : bounced) {
      if (wanted.count(id)) {
        out.push_back({id, "5.1.1 failed: unknown user"});
      }
    }
    return out;
  }
  std::size_t foreign_seen() const override { return 0; }
};

}  // namespace

TEST_CASE("a bounce decides a canary at once, before its deadline", "[await]") {
  FakeClock clock;
  ScriptedReader inbox(clock);
  BounceReader bounces;
  bounces.bounced.insert("b");
  auto t0 = clock.now();
  auto res = await_canaries(inbox, &bounces, {{"b", t0, t0 + 10min}}, WaitPolicy{1s}, clock);
  CHECK(res["b"].state == Confirmation::State::bounced);
  CHECK(res["b"].error == "5.1.1 failed: unknown user");
  CHECK(clock.now() - t0 < 2s);
}

TEST_CASE("a failing bounce mailbox never fails a canary", "[await]") {
  FakeClock clock;
  ScriptedReader inbox(clock);
  BounceReader bounces;
  bounces.fail = true;
  auto t0 = clock.now();
  inbox.arrivals["a"] = t0 + 2s;
  auto res = await_canaries(inbox, &bounces, {{"a", t0, t0 + 10s}}, WaitPolicy{1s}, clock);
  CHECK(res["a"].state == Confirmation::State::found);
}

TEST_CASE("a canary that arrives after it was declared lost is reported as such, once", "[await]") {
  FakeClock clock;
  ScriptedReader reader(clock);
  auto t0 = clock.now();
  CanaryWaiter waiter(reader, nullptr, WaitPolicy{1s});
  waiter.add({"slow", t0, t0 + 5s});
  std::vector<std::pair<std::string, Confirmation>> all;
  for (int i = 0; i < 10; ++i) {
    for (auto& d : waiter.step(clock)) {
      all.push_back(d);
    }
    clock.sleep_for(1s);
  }
  REQUIRE(all.size() == 1);
  CHECK(all[0].second.state == Confirmation::State::not_found);
  // It lands at t0 + 20 s; another canary keeps the waiter scanning.
  reader.arrivals["slow"] = t0 + 20s;
  reader.arrivals["next"] = t0 + 21s;
  waiter.add({"next", t0 + 19s, t0 + 60s});
  for (int i = 0; i < 20 && !waiter.empty(); ++i) {
    for (auto& d : waiter.step(clock)) {
      all.push_back(d);
    }
    clock.sleep_for(1s);
  }
  REQUIRE(all.size() == 3);
  CHECK(all[1].first == "slow");
  CHECK(all[1].second.state == Confirmation::State::found_after_lost);
  CHECK(all[1].second.delivery_seconds >= 20.0);
  CHECK(all[2].first == "next");
  CHECK(all[2].second.state == Confirmation::State::found);
}
