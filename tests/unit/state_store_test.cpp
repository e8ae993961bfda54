#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "mailcanary/agent/store/state_store.hpp"
#include "temp_dir.hpp"

using namespace mailcanary::agent;
using mailcanary::testing::TempDir;
namespace fs = std::filesystem;

namespace {

SysTime at_ms(std::int64_t ms) {
  return SysTime{std::chrono::milliseconds(ms)};
}

const std::int64_t kT0 = 1'780'000'000'123;

InFlightCanary canary(const std::string& id, const std::string& member = "127.0.0.11:2525") {
  return InFlightCanary{id,
                        "vip1",
                        member,
                        "canary-inbox",
                        at_ms(kT0),
                        at_ms(kT0 + 42),
                        at_ms(kT0 + 600'000),
                        250,
                        "4XyZ12",
                        "250 2.0.0 Ok: queued as 4XyZ12",
                        0.042,
                        1};
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<fs::path> moved_aside_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("mailcanary.db.corrupt-", 0) == 0) {
      out.push_back(e.path());
    }
  }
  return out;
}

std::string open_error(const fs::path& dir) {
  try {
    StateStore::open(dir);
  } catch (const StateError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("in-flight canaries are kept by id and survive a reopen", "[state]") {
  TempDir dir;
  {
    auto store = StateStore::open(dir.path());
    CHECK(store->path() == dir.db());
    CHECK_FALSE(store->moved_aside());
    store->add_in_flight(canary("mc1-b"));
    store->add_in_flight(canary("mc1-a"));
    auto replaced = canary("mc1-a");
    replaced.deadline = at_ms(kT0 + 1000);  // earliest deadline: listed first
    replaced.attempts = 3;
    store->add_in_flight(replaced);  // same id: replaces, never duplicates
    auto all = store->in_flight();
    REQUIRE(all.size() == 2);
    CHECK(all[0] == replaced);
    CHECK(all[1] == canary("mc1-b"));
  }
  auto store = StateStore::open(dir.path());
  auto all = store->in_flight();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "mc1-a");
  CHECK(all[0].deadline == at_ms(kT0 + 1000));
  CHECK(all[1] == canary("mc1-b"));
  store->remove_in_flight("mc1-a");
  store->remove_in_flight("unknown");
  REQUIRE(store->in_flight().size() == 1);
  CHECK(store->in_flight()[0].id == "mc1-b");
}

TEST_CASE("member states are replaced, survive a reopen, and are forgotten with their history",
          "[state]") {
  TempDir dir;
  {
    auto store = StateStore::open(dir.path());
    store->save_member_state("vip1", "m1", R"({"alarm":false})");
    store->save_member_state("vip1", "m1", R"({"alarm":true})");
    store->save_member_state("vip1", "m2", R"({"alarm":false})");
    store->add_result("vip1", "m1", at_ms(kT0), R"({"class":"lost"})");
  }
  auto store = StateStore::open(dir.path());
  auto states = store->member_states();
  REQUIRE(states.size() == 2);
  CHECK(states.at({"vip1", "m1"}) == R"({"alarm":true})");
  CHECK(states.at({"vip1", "m2"}) == R"({"alarm":false})");
  CHECK(store->recent_results("vip1", "m1", 10) == std::vector<std::string>{R"({"class":"lost"})"});

  store->forget_member("vip1", "m1");
  CHECK(store->member_states().size() == 1);
  CHECK(store->recent_results("vip1", "m1", 10).empty());
}

TEST_CASE("the result history keeps the newest N per member, newest first", "[state]") {
  TempDir dir;
  auto store = StateStore::open(dir.path());
  for (int i = 1; i <= 60; ++i) {
    store->add_result("vip1", "m1", at_ms(kT0 + i), std::to_string(i));
  }
  store->add_result("vip1", "m2", at_ms(kT0), "other");
  auto m1 = store->recent_results("vip1", "m1", 100);
  REQUIRE(m1.size() == 50);
  CHECK(m1.front() == "60");
  CHECK(m1.back() == "11");
  CHECK(store->recent_results("vip1", "m1", 2) == std::vector<std::string>{"60", "59"});
  CHECK(store->recent_results("vip1", "m1", 0).empty());
  CHECK(store->recent_results("vip1", "m2", 100) == std::vector<std::string>{"other"});

  TempDir small_dir;
  auto small = StateStore::open(small_dir.path(), {.history_per_member = 3});
  for (int i = 1; i <= 5; ++i) {
    small->add_result("t", "m", at_ms(kT0 + i), std::to_string(i));
  }
  CHECK(small->recent_results("t", "m", 10) == std::vector<std::string>{"5", "4", "3"});
}

TEST_CASE("due notifications come by next attempt time, then id, until sent", "[state]") {
  TempDir dir;
  std::int64_t a = 0, b = 0, c = 0;
  {
    auto store = StateStore::open(dir.path());
    a = store->enqueue_notification({"vip1/m1", "firing", R"([{"a":1}])"}, at_ms(kT0));
    b = store->enqueue_notification({"vip1/m2", "firing", R"([{"b":1}])"}, at_ms(kT0));
    c = store->enqueue_notification({"vip1/m1", "resolved", R"([{"c":1}])"}, at_ms(kT0 + 10));
    CHECK(a < b);
    CHECK(b < c);
    store->reschedule(a, at_ms(kT0 + 20), 1);  // a failed once: now behind c
  }
  auto store = StateStore::open(dir.path());
  CHECK(store->pending_notifications() == 3);
  CHECK(store->due_notifications(at_ms(kT0 - 1), 10).empty());

  auto due = store->due_notifications(at_ms(kT0 + 20), 10);
  REQUIRE(due.size() == 3);
  CHECK(due[0].id == b);
  CHECK(due[1].id == c);
  CHECK(due[2].id == a);
  CHECK(due[2].key == "vip1/m1");
  CHECK(due[2].kind == "firing");
  CHECK(due[2].payload == R"([{"a":1}])");
  CHECK(due[2].attempts == 1);
  CHECK(due[2].next_attempt_at == at_ms(kT0 + 20));
  CHECK(due[2].created_at == at_ms(kT0));
  CHECK(due[1].attempts == 0);

  CHECK(store->due_notifications(at_ms(kT0 + 10), 10).size() == 2);
  CHECK(store->due_notifications(at_ms(kT0 + 20), 1).size() == 1);

  store->mark_sent(b);
  store->mark_sent(b);  // twice: harmless
  CHECK(store->pending_notifications() == 2);
  CHECK(store->due_notifications(at_ms(kT0 + 20), 10)[0].id == c);
  // Ids are never reused, so a late mark_sent cannot remove a newer notification.
  CHECK(store->enqueue_notification({"k", "firing", "[]"}, at_ms(kT0)) > c);
}

TEST_CASE("an outcome is recorded in one transaction and a replay is refused", "[state]") {
  TempDir dir;
  auto store = StateStore::open(dir.path());
  CHECK(store->writes() == 0);
  store->add_in_flight(canary("mc1-x"));
  store->add_in_flight(canary("mc1-y"));
  CHECK(store->writes() == 2);

  Outcome o{"vip1",
            "127.0.0.11:2525",
            "mc1-x",
            at_ms(kT0 + 5000),
            R"({"class":"ok"})",
            R"({"alarm":false,"good":1})",
            NewNotification{"vip1/127.0.0.11:2525", "resolved", "[]"}};
  CHECK(store->record_outcome(o));
  CHECK(store->writes() == 3);
  REQUIRE(store->in_flight().size() == 1);
  CHECK(store->in_flight()[0].id == "mc1-y");
  CHECK(store->member_states().at({"vip1", "127.0.0.11:2525"}) == R"({"alarm":false,"good":1})");
  CHECK(store->recent_results("vip1", "127.0.0.11:2525", 10) ==
        std::vector<std::string>{R"({"class":"ok"})"});
  auto due = store->due_notifications(at_ms(kT0 + 5000), 10);
  REQUIRE(due.size() == 1);
  CHECK(due[0].kind == "resolved");
  CHECK(due[0].created_at == at_ms(kT0 + 5000));

  // The same canary again (e.g. found twice after a restart): nothing changes.
  Outcome replay = o;
  replay.member_state = R"({"alarm":false,"good":2})";
  CHECK_FALSE(store->record_outcome(replay));
  CHECK(store->writes() == 3);
  CHECK(store->member_states().at({"vip1", "127.0.0.11:2525"}) == R"({"alarm":false,"good":1})");
  CHECK(store->recent_results("vip1", "127.0.0.11:2525", 10).size() == 1);
  CHECK(store->pending_notifications() == 1);

  // Without a canary (failed before acceptance) and without a state change.
  CHECK(store->record_outcome(Outcome{"vip1", "127.0.0.11:2525", "", at_ms(kT0 + 6000),
                                      R"({"class":"temp_fail"})", std::nullopt, std::nullopt}));
  CHECK(store->record_outcome(Outcome{"vip1", "127.0.0.11:2525", "", at_ms(kT0 + 7000),
                                      R"({"class":"temp_fail"})", std::nullopt, std::nullopt}));
  CHECK(store->writes() == 5);
  CHECK(store->recent_results("vip1", "127.0.0.11:2525", 10).size() == 3);
  CHECK(store->member_states().at({"vip1", "127.0.0.11:2525"}) == R"({"alarm":false,"good":1})");
}

TEST_CASE("state written before a kill -9 is there after the restart", "[state]") {
  TempDir dir;
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    // Outlives the try block: the store must still be open when the kill comes (closed,
    // SQLite would checkpoint and delete the WAL, and the test would race the close).
    std::unique_ptr<StateStore> store;
    try {
      store = StateStore::open(dir.path());
      store->add_in_flight(canary("mc1-1"));
      store->add_in_flight(canary("mc1-2"));
      store->add_in_flight(canary("mc1-3"));
      store->record_outcome(Outcome{"vip1", "127.0.0.11:2525", "mc1-1", at_ms(kT0), "{}",
                                    R"({"alarm":true})", std::nullopt});
      store->enqueue_notification({"vip1/127.0.0.11:2525", "firing", "[]"}, at_ms(kT0));
      if (::write(ready[1], "x", 1) != 1) {
        ::_exit(2);
      }
    } catch (...) {
      ::_exit(1);
    }
    for (;;) {
      ::pause();  // killed here, the store still open
    }
  }
  ::close(ready[1]);
  char byte = 0;
  const auto n = ::read(ready[0], &byte, 1);
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(n == 1);
  CHECK(WIFSIGNALED(status));
  CHECK(fs::exists(dir.path() / "mailcanary.db-wal"));  // not closed cleanly

  auto store = StateStore::open(dir.path());  // the dead child's lock is gone
  auto all = store->in_flight();
  REQUIRE(all.size() == 2);
  CHECK(all[0] == canary("mc1-2"));
  CHECK(all[1] == canary("mc1-3"));
  CHECK(store->member_states().at({"vip1", "127.0.0.11:2525"}) == R"({"alarm":true})");
  CHECK(store->pending_notifications() == 1);
  // The canary decided before the crash arrives again: not counted twice.
  CHECK_FALSE(store->record_outcome(
      Outcome{"vip1", "127.0.0.11:2525", "mc1-1", at_ms(kT0 + 1), "{}", "{}", std::nullopt}));
}

TEST_CASE("a second agent on the same state directory is refused with the holder's pid",
          "[state]") {
  TempDir dir;
  auto first = StateStore::open(dir.path());
  const std::string error = open_error(dir.path());
  CHECK_THAT(error, Catch::Contains("another mailcanary agent is using " + dir.path().string()));
  CHECK_THAT(error, Catch::Contains("(pid " + std::to_string(::getpid()) + ")"));
  first.reset();
  CHECK_NOTHROW(StateStore::open(dir.path()));
}

TEST_CASE("a file that is not a database is refused, naming the file and the flag", "[state]") {
  TempDir dir;
  const std::string garbage = "this is not an SQLite database\n" + std::string(5000, '\x7f');
  write_bytes(dir.db(), garbage);
  const std::string error = open_error(dir.path());
  CHECK_THAT(error, Catch::Contains(dir.db().string()));
  CHECK_THAT(error, Catch::Contains("not a database"));
  CHECK_THAT(error, Catch::Contains("--fresh-state"));
  CHECK(read_bytes(dir.db()) == garbage);  // untouched
  CHECK(moved_aside_files(dir.path()).empty());
}

TEST_CASE("with start_fresh an unusable database is moved aside, never deleted", "[state]") {
  TempDir dir;
  const std::string garbage = "garbage\n" + std::string(10000, 'g');
  write_bytes(dir.db(), garbage);
  {
    auto store = StateStore::open(dir.path(), {.start_fresh = true});
    auto aside = moved_aside_files(dir.path());
    REQUIRE(aside.size() == 1);
    REQUIRE(store->moved_aside());
    CHECK(*store->moved_aside() == aside[0]);
    CHECK(read_bytes(aside[0]) == garbage);
    store->add_in_flight(canary("mc1-new"));
  }
  // The fresh store is a good one: start_fresh changes nothing now.
  auto store = StateStore::open(dir.path(), {.start_fresh = true});
  CHECK_FALSE(store->moved_aside());
  CHECK(store->in_flight().size() == 1);
  CHECK(moved_aside_files(dir.path()).size() == 1);
}

TEST_CASE("damaged pages in a real database fail the integrity check", "[state]") {
  TempDir dir;
  {
    auto store = StateStore::open(dir.path(), {.history_per_member = 100000});
    for (int i = 0; i < 2000; ++i) {
      store->add_result("vip1", "m" + std::to_string(i % 7), at_ms(kT0 + i),
                        std::string(200, static_cast<char>('a' + i % 26)));
    }
  }  // closed: the WAL is checkpointed into the file
  REQUIRE_FALSE(fs::exists(dir.path() / "mailcanary.db-wal"));
  std::string bytes = read_bytes(dir.db());
  REQUIRE(bytes.size() > 40 * 4096);
  for (std::size_t i = 20 * 4096; i < 24 * 4096; ++i) {
    bytes[i] = static_cast<char>(i * 7919 % 251);
  }
  write_bytes(dir.db(), bytes);

  const std::string error = open_error(dir.path());
  INFO(error);
  CHECK_THAT(error, Catch::Contains(dir.db().string()));
  CHECK_THAT(error, Catch::Contains("quick_check"));
  CHECK_THAT(error, Catch::Contains("--fresh-state"));

  auto store = StateStore::open(dir.path(), {.start_fresh = true});
  CHECK(store->recent_results("vip1", "m1", 10).empty());
  auto aside = moved_aside_files(dir.path());
  REQUIRE(aside.size() == 1);
  CHECK(read_bytes(aside[0]) == bytes);
}

TEST_CASE("a WAL file without its database is refused, and moved aside with start_fresh",
          "[state]") {
  TempDir dir;
  write_bytes(dir.path() / "mailcanary.db-wal", "stray wal");
  CHECK_THAT(open_error(dir.path()), Catch::Contains("mailcanary.db-wal is there"));
  auto store = StateStore::open(dir.path(), {.start_fresh = true});
  REQUIRE(store->moved_aside());
  CHECK(read_bytes(store->moved_aside()->string() + "-wal") == "stray wal");
  store->add_in_flight(canary("mc1-1"));
  CHECK(store->in_flight().size() == 1);
}

TEST_CASE("a truncated database is refused", "[state]") {
  TempDir dir;
  {
    auto store = StateStore::open(dir.path(), {.history_per_member = 100000});
    for (int i = 0; i < 1000; ++i) {
      store->add_result("vip1", "m1", at_ms(kT0 + i), std::string(300, 'r'));
    }
  }
  std::string bytes = read_bytes(dir.db());
  write_bytes(dir.db(), bytes.substr(0, bytes.size() / 2 + 100));
  const std::string error = open_error(dir.path());
  CHECK_THAT(error, Catch::Contains(dir.db().string()));
  CHECK_THAT(error, Catch::Contains("--fresh-state"));
}

TEST_CASE("a schema newer than this program knows is refused", "[state]") {
  TempDir dir;
  StateStore::open(dir.path());
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", nullptr,
                     nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  const std::string error = open_error(dir.path());
  CHECK_THAT(error, Catch::Contains(dir.db().string()));
  CHECK_THAT(error, Catch::Contains("schema version 99, newer than this mailcanary knows (1)"));
  CHECK_THAT(error, Catch::Contains("--fresh-state"));
}

TEST_CASE("an SQLite database of another program is refused", "[state]") {
  TempDir dir;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  const std::string error = open_error(dir.path());
  CHECK_THAT(error, Catch::Contains("is not a mailcanary state database"));
  CHECK_THAT(error, Catch::Contains("--fresh-state"));
}

TEST_CASE("a state directory that cannot be created is reported", "[state]") {
  TempDir dir;
  write_bytes(dir.path() / "file", "x");
  const std::string error = open_error(dir.path() / "file" / "state");
  CHECK_THAT(error, Catch::Contains("cannot create state directory " +
                                    (dir.path() / "file" / "state").string()));
  CHECK_THROWS_AS(StateStore::open(dir.path(), {.history_per_member = 0}), std::invalid_argument);
}

TEST_CASE("concurrent outcomes from several threads are all recorded", "[state]") {
  TempDir dir;
  auto store = StateStore::open(dir.path());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      store->add_in_flight(
          canary("mc1-" + std::to_string(t) + "-" + std::to_string(i), "m" + std::to_string(t)));
    }
  }
  const auto before = store->writes();
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        try {
          const std::string member = "m" + std::to_string(t);
          if (!store->record_outcome(
                  Outcome{"vip1", member, "mc1-" + std::to_string(t) + "-" + std::to_string(i),
                          at_ms(kT0 + i), std::to_string(i), "state-" + std::to_string(i),
                          NewNotification{"vip1/" + member, "firing", "[]"}})) {
            ++refused;
          }
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  CHECK(errors == 0);
  CHECK(refused == 0);
  CHECK(store->writes() - before == kThreads * kPerThread);
  CHECK(store->in_flight().empty());
  CHECK(store->pending_notifications() == kThreads * kPerThread);
  auto states = store->member_states();
  REQUIRE(states.size() == kThreads);
  for (int t = 0; t < kThreads; ++t) {
    const std::string member = "m" + std::to_string(t);
    CHECK(states.at({"vip1", member}) == "state-" + std::to_string(kPerThread - 1));
    auto recent = store->recent_results("vip1", member, 100);
    REQUIRE(recent.size() == 50);
    CHECK(recent.front() == std::to_string(kPerThread - 1));
    CHECK(recent.back() == std::to_string(kPerThread - 50));
  }
}
