#include <catch2/catch.hpp>

#include <time.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mailcanary/agent/core/maintenance.hpp"

using namespace mailcanary::agent;
using mailcanary::config::MaintenanceWindow;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

constexpr int kSun = 0, kSat = 6;

SysTime utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s};
}

sys_seconds utc_s(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return floor<seconds>(utc(y, mo, d, h, mi, s));
}

local_seconds local(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  return local_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi};
}

MaintenanceWindow absolute(std::vector<std::string> targets, SysTime start, SysTime end) {
  MaintenanceWindow w;
  w.targets = std::move(targets);
  w.start = floor<seconds>(start);
  w.end = floor<seconds>(end);
  return w;
}

MaintenanceWindow weekly(std::vector<std::string> targets, int weekday, int hour, int minute,
                         milliseconds duration, std::string zone = "UTC") {
  MaintenanceWindow w;
  w.targets = std::move(targets);
  w.weekly_weekday = weekday;
  w.weekly_minute = hour * 60 + minute;
  w.duration = duration;
  w.time_zone = std::move(zone);
  return w;
}

TimeZone zone(const std::string& name) {
  auto tz = TimeZone::locate(name);
  REQUIRE(tz);
  return *tz;
}

}  // namespace

// --- windows --------------------------------------------------------------------------

TEST_CASE("an absolute window covers [start, end)", "[maintenance]") {
  const std::vector<MaintenanceWindow> ws{
      absolute({"vip1"}, utc(2026, 12, 1, 2), utc(2026, 12, 1, 4))};
  CHECK_FALSE(in_maintenance(ws, "vip1", utc(2026, 12, 1, 1, 59, 59)));
  CHECK(in_maintenance(ws, "vip1", utc(2026, 12, 1, 2)));
  CHECK(in_maintenance(ws, "vip1", utc(2026, 12, 1, 3, 59, 59)));
  CHECK(in_maintenance(ws, "vip1", utc(2026, 12, 1, 4) - 1ns));
  CHECK_FALSE(in_maintenance(ws, "vip1", utc(2026, 12, 1, 4)));
  CHECK(maintenance_end(ws, "vip1", utc(2026, 12, 1, 3)) == utc(2026, 12, 1, 4));
  CHECK_FALSE(maintenance_end(ws, "vip1", utc(2026, 12, 1, 4)));
}

TEST_CASE("a window applies to the targets it names, or to all with *", "[maintenance]") {
  const auto start = utc(2026, 12, 1, 2);
  const auto end = utc(2026, 12, 1, 4);
  const auto at = utc(2026, 12, 1, 3);
  const std::vector<MaintenanceWindow> named{absolute({"vip1", "example"}, start, end)};
  CHECK(in_maintenance(named, "vip1", at));
  CHECK(in_maintenance(named, "example", at));
  CHECK_FALSE(in_maintenance(named, "vip2", at));
  CHECK_FALSE(in_maintenance(named, "VIP1", at));
  CHECK_FALSE(in_maintenance(named, "vip", at));
  CHECK_FALSE(maintenance_end(named, "vip2", at));

  const std::vector<MaintenanceWindow> all{absolute({"*"}, start, end)};
  CHECK(in_maintenance(all, "vip1", at));
  CHECK(in_maintenance(all, "anything", at));
  CHECK_FALSE(in_maintenance({}, "vip1", at));
}

TEST_CASE("a weekly UTC window covers its day and time every week", "[maintenance]") {
  // Sundays: 2026-05-03, 2026-05-10.
  const std::vector<MaintenanceWindow> ws{weekly({"vip1"}, kSun, 2, 0, 2h)};
  for (unsigned d : {3u, 10u, 17u}) {
    INFO("May " << d);
    CHECK_FALSE(in_maintenance(ws, "vip1", utc(2026, 5, d, 1, 59, 59)));
    CHECK(in_maintenance(ws, "vip1", utc(2026, 5, d, 2)));
    CHECK(in_maintenance(ws, "vip1", utc(2026, 5, d, 3, 59, 59)));
    CHECK_FALSE(in_maintenance(ws, "vip1", utc(2026, 5, d, 4)));
    CHECK(maintenance_end(ws, "vip1", utc(2026, 5, d, 2, 30)) == utc(2026, 5, d, 4));
  }
  CHECK_FALSE(in_maintenance(ws, "vip1", utc(2026, 5, 4, 2, 30)));  // Monday
  CHECK_FALSE(in_maintenance(ws, "vip1", utc(2026, 5, 2, 2, 30)));  // Saturday
}

TEST_CASE("a weekly window may cross midnight", "[maintenance]") {
  // Saturday 23:00 for 3h: into Sunday.
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSat, 23, 0, 3h)};
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 5, 2, 22, 59)));
  CHECK(in_maintenance(ws, "t", utc(2026, 5, 2, 23, 30)));
  CHECK(in_maintenance(ws, "t", utc(2026, 5, 3, 1, 59)));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 5, 3, 2)));
  CHECK(maintenance_end(ws, "t", utc(2026, 5, 3, 0, 10)) == utc(2026, 5, 3, 2));
}

TEST_CASE("a weekly window may cross the end of the week", "[maintenance]") {
  // Saturday 22:00 for 30h: through Sunday into Monday 04:00.
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSat, 22, 0, 30h)};
  CHECK(in_maintenance(ws, "t", utc(2026, 5, 3, 12)));
  CHECK(in_maintenance(ws, "t", utc(2026, 5, 4, 3, 59)));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 5, 4, 4)));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 5, 2, 21, 59)));
}

TEST_CASE("a 7 day weekly window covers all the time and its end is bounded", "[maintenance]") {
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 0, 0, 7 * 24h)};
  for (int h = 0; h < 24 * 14; h += 5) {
    CHECK(in_maintenance(ws, "t", utc(2026, 5, 1) + hours(h)));
  }
  // Touching windows chain, at most 32 of them.
  CHECK(maintenance_end(ws, "t", utc(2026, 5, 4)) == utc(2026, 5, 10) + 31 * 7 * 24h);
}

TEST_CASE("maintenance_end follows windows that touch or overlap", "[maintenance]") {
  const std::vector<MaintenanceWindow> ws{
      absolute({"vip1"}, utc(2026, 12, 1, 2), utc(2026, 12, 1, 4)),
      absolute({"*"}, utc(2026, 12, 1, 4), utc(2026, 12, 1, 5)),         // touches
      absolute({"vip1"}, utc(2026, 12, 1, 4, 30), utc(2026, 12, 1, 6)),  // overlaps
      absolute({"vip1"}, utc(2026, 12, 1, 6, 1), utc(2026, 12, 1, 7)),   // a gap before
      absolute({"vip2"}, utc(2026, 12, 1, 6), utc(2026, 12, 1, 9)),      // someone else's
  };
  CHECK(maintenance_end(ws, "vip1", utc(2026, 12, 1, 2)) == utc(2026, 12, 1, 6));
  CHECK(maintenance_end(ws, "vip1", utc(2026, 12, 1, 4, 45)) == utc(2026, 12, 1, 6));
  CHECK_FALSE(maintenance_end(ws, "vip1", utc(2026, 12, 1, 6)));
  CHECK(maintenance_end(ws, "vip3", utc(2026, 12, 1, 3)) == std::nullopt);
  CHECK(maintenance_end(ws, "vip3", utc(2026, 12, 1, 4)) == utc(2026, 12, 1, 5));
}

TEST_CASE("Berlin Sun 02:00 follows the wall clock through winter and summer", "[maintenance]") {
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 2, 0, 2h, "Europe/Berlin")};
  // Winter: 02:00 CET = 01:00 UTC.
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 1, 4, 0, 59)));
  CHECK(in_maintenance(ws, "t", utc(2026, 1, 4, 1)));
  CHECK(maintenance_end(ws, "t", utc(2026, 1, 4, 1)) == utc(2026, 1, 4, 3));
  // Summer: 02:00 CEST = 00:00 UTC.
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 7, 4, 23, 59)));
  CHECK(in_maintenance(ws, "t", utc(2026, 7, 5, 0)));
  CHECK(maintenance_end(ws, "t", utc(2026, 7, 5, 0)) == utc(2026, 7, 5, 2));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 7, 5, 2)));
}

TEST_CASE("Berlin spring forward: a skipped 02:00 start begins at the jump, lasts 2h",
          "[maintenance]") {
  // 2026-03-29: 02:00 CET does not exist; the clock jumps to 03:00 CEST at 01:00 UTC.
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 2, 0, 2h, "Europe/Berlin")};
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 3, 29, 0, 59, 59)));
  CHECK(in_maintenance(ws, "t", utc(2026, 3, 29, 1)));
  CHECK(in_maintenance(ws, "t", utc(2026, 3, 29, 2, 59, 59)));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 3, 29, 3)));
  CHECK(occurrence_covering(ws[0], utc(2026, 3, 29, 2)) ==
        std::pair<SysTime, SysTime>(utc(2026, 3, 29, 1), utc(2026, 3, 29, 3)));

  // 02:30 is skipped too: read in CET, it is 03:30 CEST.
  const auto half = weekly({"*"}, kSun, 2, 30, 1h, "Europe/Berlin");
  CHECK(occurrence_covering(half, utc(2026, 3, 29, 1, 45)) ==
        std::pair<SysTime, SysTime>(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)));
}

TEST_CASE("Berlin fall back: a twice-seen 02:00 start begins at the first one", "[maintenance]") {
  // 2026-10-25: 02:00-03:00 runs twice, first in CEST (00:00 UTC), then in CET (01:00 UTC).
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 2, 0, 2h, "Europe/Berlin")};
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 10, 24, 23, 59, 59)));
  CHECK(in_maintenance(ws, "t", utc(2026, 10, 25, 0)));
  CHECK(in_maintenance(ws, "t", utc(2026, 10, 25, 1, 59, 59)));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 10, 25, 2)));  // 03:00 CET
  CHECK(maintenance_end(ws, "t", utc(2026, 10, 25, 1)) == utc(2026, 10, 25, 2));
}

TEST_CASE("a Berlin window across the spring-forward night lasts its real duration",
          "[maintenance]") {
  // Saturday 23:00 CET = 22:00 UTC, for 4h of real time: until 04:00 CEST.
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSat, 23, 0, 4h, "Europe/Berlin")};
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 3, 28, 21, 59)));
  CHECK(in_maintenance(ws, "t", utc(2026, 3, 28, 22)));
  CHECK(maintenance_end(ws, "t", utc(2026, 3, 28, 23)) == utc(2026, 3, 29, 2));
  // The following week, all in CEST: 21:00 UTC to 01:00 UTC.
  CHECK(maintenance_end(ws, "t", utc(2026, 4, 4, 21)) == utc(2026, 4, 5, 1));
}

TEST_CASE("a southern zone's window follows its own DST (Sydney, October)", "[maintenance]") {
  // 2026-10-04, first Sunday of October: 02:00 AEST jumps to 03:00 AEDT (16:00 UTC Sat).
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 2, 30, 1h, "Australia/Sydney")};
  CHECK(maintenance_end(ws, "t", utc(2026, 10, 3, 16, 30)) == utc(2026, 10, 3, 17, 30));
  // A week later in AEDT (+11): 02:30 = 15:30 UTC Saturday.
  CHECK(maintenance_end(ws, "t", utc(2026, 10, 10, 15, 30)) == utc(2026, 10, 10, 16, 30));
  // In July (AEST, +10): 16:30 UTC Saturday.
  CHECK(in_maintenance(ws, "t", utc(2026, 7, 4, 16, 30)));
  CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 7, 4, 15, 30)));
}

TEST_CASE("a window in an unreadable time zone puts nobody in maintenance", "[maintenance]") {
  for (const char* name : {"Europe/Nowhere", "../../etc/passwd", "/etc/localtime", ""}) {
    INFO(name);
    const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 0, 0, 7 * 24h, name)};
    CHECK_FALSE(in_maintenance(ws, "t", utc(2026, 5, 3, 12)));
    CHECK_FALSE(TimeZone::locate(name));
  }
}

// --- time zones -----------------------------------------------------------------------

TEST_CASE("UTC has offset 0 and maps wall time to itself", "[maintenance]") {
  const TimeZone tz = TimeZone::utc();
  CHECK(tz.offset_at(utc_s(2026, 3, 29, 1)) == 0s);
  CHECK(tz.to_sys(local(2026, 3, 29, 2)) == utc_s(2026, 3, 29, 2));
  CHECK(TimeZone::locate("UTC"));
}

TEST_CASE("Europe/Berlin offsets change at 01:00 UTC on the last Sundays of March and October",
          "[maintenance]") {
  const TimeZone tz = zone("Europe/Berlin");
  CHECK(tz.offset_at(utc_s(2026, 1, 15)) == 1h);
  CHECK(tz.offset_at(utc_s(2026, 3, 29, 0, 59, 59)) == 1h);
  CHECK(tz.offset_at(utc_s(2026, 3, 29, 1)) == 2h);
  CHECK(tz.offset_at(utc_s(2026, 7, 15)) == 2h);
  CHECK(tz.offset_at(utc_s(2026, 10, 25, 0, 59, 59)) == 2h);
  CHECK(tz.offset_at(utc_s(2026, 10, 25, 1)) == 1h);
}

TEST_CASE("after a zone file's last transition (2037) its last offset stays: a date library limit",
          "[maintenance]") {
  // The date library (USE_OS_TZDB) ignores the TZif footer's rule (upstream issue #563).
  // Should this fail, the library now follows the rule: update maintenance.hpp's comment.
  const TimeZone tz = zone("Europe/Berlin");
  CHECK(tz.offset_at(utc_s(2037, 7, 1)) == 2h);
  CHECK(tz.offset_at(utc_s(2037, 10, 25, 1)) == 1h);  // the file's last transition
  CHECK(tz.offset_at(utc_s(2038, 7, 1)) == 1h);       // CEST by the rule
  CHECK(tz.offset_at(utc_s(2100, 7, 1)) == 1h);
}

TEST_CASE("to_sys maps skipped wall times forward and repeated ones to the first",
          "[maintenance]") {
  const TimeZone tz = zone("Europe/Berlin");
  CHECK(tz.to_sys(local(2026, 3, 29, 1, 59)) == utc_s(2026, 3, 29, 0, 59));
  CHECK(tz.to_sys(local(2026, 3, 29, 2, 0)) == utc_s(2026, 3, 29, 1, 0));
  CHECK(tz.to_sys(local(2026, 3, 29, 2, 30)) == utc_s(2026, 3, 29, 1, 30));
  CHECK(tz.to_sys(local(2026, 3, 29, 3, 0)) == utc_s(2026, 3, 29, 1, 0));
  CHECK(tz.to_sys(local(2026, 10, 25, 1, 59)) == utc_s(2026, 10, 24, 23, 59));
  CHECK(tz.to_sys(local(2026, 10, 25, 2, 30)) == utc_s(2026, 10, 25, 0, 30));
  CHECK(tz.to_sys(local(2026, 10, 25, 3, 0)) == utc_s(2026, 10, 25, 2, 0));
}

TEST_CASE("to_sys inverts offset_at for every wall time of a year that exists", "[maintenance]") {
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                           "Pacific/Chatham", "Europe/Dublin"}) {
    INFO(name);
    const TimeZone tz = zone(name);
    int skipped = 0;
    for (auto t = local(2026, 1, 1); t < local(2027, 1, 1); t += 15min) {
      const sys_seconds u = tz.to_sys(t);
      const local_seconds back{(u + tz.offset_at(u)).time_since_epoch()};
      if (back != t) {
        ++skipped;
        CHECK(back == t + 1h);  // only in the spring-forward hour
      }
    }
    CHECK(skipped == 4);  // one hour of quarter hours a year
  }
}

TEST_CASE("zone offsets match the C library's for two decades", "[maintenance]") {
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  for (const char* name :
       {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/Dublin", "America/Nuuk",
        "Pacific/Chatham", "Asia/Kolkata", "America/Sao_Paulo", "Africa/Casablanca"}) {
    INFO(name);
    const TimeZone tz = zone(name);
    ::setenv("TZ", (std::string(":") + name).c_str(), 1);
    ::tzset();
    int mismatches = 0;
    // Up to 2037, where the zone files' listed transitions end (see the test above).
    for (auto t = utc_s(2016, 1, 1); t < utc_s(2037, 1, 1); t += 1h) {
      const time_t tt = static_cast<time_t>(t.time_since_epoch().count());
      struct tm tm {};
      ::localtime_r(&tt, &tm);
      if (tz.offset_at(t) != seconds(tm.tm_gmtoff)) {
        ++mismatches;
      }
    }
    CHECK(mismatches == 0);
  }
  if (old_tz) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST_CASE("locate finds the tz database's zone names and nothing else", "[maintenance]") {
  CHECK(TimeZone::locate("Europe/Berlin"));
  CHECK(TimeZone::locate("America/Argentina/Buenos_Aires"));
  CHECK(TimeZone::locate("Etc/GMT+5"));
  CHECK(TimeZone::locate("Etc/GMT+5")->offset_at(utc_s(2026, 1, 1)) == -5h);
  CHECK(TimeZone::locate("Asia/Kolkata")->offset_at(utc_s(2026, 1, 1)) == 5h + 30min);
  for (const char* name :
       {"Europe/Nowhere", "europe/berlin", "../zoneinfo/Europe/Berlin",
        "/usr/share/zoneinfo/Europe/Berlin", "Europe", "Europe/", "right/UTC", "posixrules",
        "zone.tab", "tzdata.zi", "leap-seconds.list", "Europe/Berlin\n"}) {
    INFO(name);
    CHECK_FALSE(TimeZone::locate(name));
  }
}

TEST_CASE("New York: a skipped start is read in EST, a repeated one begins at the first",
          "[maintenance]") {
  // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:15 read in EST is 07:15 UTC.
  const auto spring = weekly({"*"}, kSun, 2, 15, 1h, "America/New_York");
  CHECK(occurrence_covering(spring, utc(2026, 3, 8, 7, 30)) ==
        std::pair<SysTime, SysTime>(utc(2026, 3, 8, 7, 15), utc(2026, 3, 8, 8, 15)));
  CHECK_FALSE(in_maintenance({spring}, "t", utc(2026, 3, 8, 7, 14)));
  // 2026-11-01: 01:00-02:00 runs twice, first in EDT (05:00 UTC), then in EST (06:00 UTC).
  const auto fall = weekly({"*"}, kSun, 1, 30, 1h, "America/New_York");
  CHECK(occurrence_covering(fall, utc(2026, 11, 1, 6)) ==
        std::pair<SysTime, SysTime>(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)));
  CHECK_FALSE(in_maintenance({fall}, "t", utc(2026, 11, 1, 6, 30)));  // 01:30 EST, again
}

TEST_CASE("maintenance_end gives the same answer from many threads at once", "[maintenance]") {
  // A zone no other test uses, so that the threads race on its first load.
  const std::vector<MaintenanceWindow> ws{weekly({"*"}, kSun, 2, 0, 2h, "America/Santiago")};
  // July: Chile is on -04, so Sunday 02:00 is 06:00 UTC.
  const SysTime at = utc(2026, 7, 5, 7);
  constexpr int kThreads = 8;
  std::vector<std::optional<SysTime>> ends(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 200; ++n) {
        ends[static_cast<std::size_t>(i)] = maintenance_end(ws, "t", at);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& end : ends) {
    CHECK(end == utc(2026, 7, 5, 8));
  }
}
