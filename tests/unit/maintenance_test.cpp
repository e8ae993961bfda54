#include <catch2/catch.hpp>

#include <time.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const TimeZone& zone(const std::string& name) {
  auto tz = TimeZone::cached(name);
  REQUIRE(tz);
  return *tz;
}

// --- a TZif writer for hand-made files ------------------------------------------------

void put32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

void put64(std::string& out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    out.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
}

struct TzifSpec {
  char version = '2';
  std::vector<std::int64_t> times;
  std::vector<std::uint8_t> types;
  std::vector<std::int32_t> offsets{0};
  std::string footer;  // version 2+
};

std::string header(char version, std::uint32_t timecnt, std::uint32_t typecnt,
                   std::uint32_t charcnt) {
  std::string out = "TZif";
  out.push_back(version);
  out.append(15, '\0');
  put32(out, 0);  // isutcnt
  put32(out, 0);  // isstdcnt
  put32(out, 0);  // leapcnt
  put32(out, timecnt);
  put32(out, typecnt);
  put32(out, charcnt);
  return out;
}

std::string data_block(const TzifSpec& spec, int time_size) {
  std::string out;
  for (auto t : spec.times) {
    if (time_size == 8) {
      put64(out, t);
    } else {
      put32(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(t)));
    }
  }
  for (auto i : spec.types) {
    out.push_back(static_cast<char>(i));
  }
  for (auto off : spec.offsets) {
    put32(out, static_cast<std::uint32_t>(off));
    out.push_back('\0');  // isdst
    out.push_back('\0');  // desigidx
  }
  out.append("ZZZ", 4);  // one designation, NUL-terminated
  return out;
}

std::string tzif(const TzifSpec& spec) {
  const auto n = static_cast<std::uint32_t>(spec.times.size());
  const auto types = static_cast<std::uint32_t>(spec.offsets.size());
  if (spec.version == 0) {
    return header(0, n, types, 4) + data_block(spec, 4);
  }
  TzifSpec minimal;  // the 32-bit block may be minimal in version 2+
  return header(spec.version, 0, 1, 4) + data_block(minimal, 4) +
         header(spec.version, n, types, 4) + data_block(spec, 8) + "\n" + spec.footer + "\n";
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
    CHECK_FALSE(TimeZone::cached(name));
  }
}

// --- time zones -----------------------------------------------------------------------

TEST_CASE("UTC has offset 0 and maps wall time to itself", "[maintenance]") {
  const TimeZone tz = TimeZone::utc();
  CHECK(tz.offset_at(utc_s(2026, 3, 29, 1)) == 0s);
  CHECK(tz.to_sys(local(2026, 3, 29, 2)) == utc_s(2026, 3, 29, 2));
  CHECK(TimeZone::load("UTC"));
}

TEST_CASE("Europe/Berlin offsets change at 01:00 UTC on the last Sundays of March and October",
          "[maintenance]") {
  const TimeZone& tz = zone("Europe/Berlin");
  CHECK(tz.offset_at(utc_s(2026, 1, 15)) == 1h);
  CHECK(tz.offset_at(utc_s(2026, 3, 29, 0, 59, 59)) == 1h);
  CHECK(tz.offset_at(utc_s(2026, 3, 29, 1)) == 2h);
  CHECK(tz.offset_at(utc_s(2026, 7, 15)) == 2h);
  CHECK(tz.offset_at(utc_s(2026, 10, 25, 0, 59, 59)) == 2h);
  CHECK(tz.offset_at(utc_s(2026, 10, 25, 1)) == 1h);
}

TEST_CASE("Europe/Berlin after the file's last transition follows the footer rule",
          "[maintenance]") {
  const TimeZone& tz = zone("Europe/Berlin");
  // 2100: last Sundays are March 28 and October 31.
  const sys_seconds spring{sys_days{year{2100} / March / Sunday[last]} + 1h};
  const sys_seconds fall{sys_days{year{2100} / October / Sunday[last]} + 1h};
  CHECK(spring == utc_s(2100, 3, 28, 1));
  CHECK(tz.offset_at(spring - 1s) == 1h);
  CHECK(tz.offset_at(spring) == 2h);
  CHECK(tz.offset_at(fall - 1s) == 2h);
  CHECK(tz.offset_at(fall) == 1h);
}

TEST_CASE("to_sys maps skipped wall times forward and repeated ones to the first",
          "[maintenance]") {
  const TimeZone& tz = zone("Europe/Berlin");
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
    const TimeZone& tz = zone(name);
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

TEST_CASE("zone offsets match the C library's for decades, across the footer boundary",
          "[maintenance]") {
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  for (const char* name :
       {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/Dublin", "America/Nuuk",
        "Pacific/Chatham", "Asia/Kolkata", "America/Sao_Paulo", "Africa/Casablanca"}) {
    INFO(name);
    const TimeZone& tz = zone(name);
    ::setenv("TZ", (std::string(":") + name).c_str(), 1);
    ::tzset();
    int mismatches = 0;
    for (auto t = utc_s(2016, 1, 1); t < utc_s(2044, 1, 1); t += 1h) {
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

TEST_CASE("POSIX TZ strings of the kinds found in TZif footers", "[maintenance]") {
  SECTION("fixed offsets, east and west, with minutes") {
    CHECK(TimeZone::from_posix("<+0330>-3:30")->offset_at(utc_s(2026, 6, 1)) == 3h + 30min);
    CHECK(TimeZone::from_posix("<-03>3")->offset_at(utc_s(2026, 6, 1)) == -3h);
    CHECK(TimeZone::from_posix("IST-5:30")->offset_at(utc_s(2026, 6, 1)) == 5h + 30min);
  }
  SECTION("US rules, explicit and default") {
    for (const char* s : {"EST5EDT,M3.2.0,M11.1.0", "EST5EDT"}) {
      INFO(s);
      auto tz = TimeZone::from_posix(s);
      REQUIRE(tz);
      // 2026: second Sunday of March is the 8th, first Sunday of November the 1st.
      CHECK(tz->offset_at(utc_s(2026, 3, 8, 6, 59, 59)) == -5h);
      CHECK(tz->offset_at(utc_s(2026, 3, 8, 7)) == -4h);
      CHECK(tz->offset_at(utc_s(2026, 11, 1, 5, 59, 59)) == -4h);
      CHECK(tz->offset_at(utc_s(2026, 11, 1, 6)) == -5h);
    }
  }
  SECTION("southern hemisphere: DST across the new year") {
    auto tz = TimeZone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
    REQUIRE(tz);
    CHECK(tz->offset_at(utc_s(2026, 1, 1)) == 11h);
    CHECK(tz->offset_at(utc_s(2026, 12, 31, 23)) == 11h);
    CHECK(tz->offset_at(utc_s(2026, 7, 1)) == 10h);
    // Ends 03:00 AEDT on 2026-04-05 = 16:00 UTC on the 4th.
    CHECK(tz->offset_at(utc_s(2026, 4, 4, 15, 59, 59)) == 11h);
    CHECK(tz->offset_at(utc_s(2026, 4, 4, 16)) == 10h);
  }
  SECTION("negative rule times (Nuuk) and negative DST (Dublin)") {
    auto nuuk = TimeZone::from_posix("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
    REQUIRE(nuuk);
    CHECK(nuuk->offset_at(utc_s(2026, 3, 29, 0, 59, 59)) == -2h);
    CHECK(nuuk->offset_at(utc_s(2026, 3, 29, 1)) == -1h);
    auto dublin = TimeZone::from_posix("IST-1GMT0,M10.5.0,M3.5.0/1");
    REQUIRE(dublin);
    CHECK(dublin->offset_at(utc_s(2026, 1, 15)) == 0h);
    CHECK(dublin->offset_at(utc_s(2026, 7, 15)) == 1h);
    CHECK(dublin->offset_at(utc_s(2026, 3, 29, 1)) == 1h);
    CHECK(dublin->offset_at(utc_s(2026, 10, 25, 1)) == 0h);
  }
  SECTION("Julian days skip February 29, zero-based days count it") {
    auto julian = TimeZone::from_posix("AAA0BBB,J60/0,J300/0");
    auto zero = TimeZone::from_posix("AAA0BBB,59/0,300/0");
    REQUIRE(julian);
    REQUIRE(zero);
    CHECK(julian->offset_at(utc_s(2024, 2, 29, 12)) == 0h);  // J60 is March 1
    CHECK(julian->offset_at(utc_s(2024, 3, 1)) == 1h);
    CHECK(zero->offset_at(utc_s(2024, 2, 29)) == 1h);  // day 59 is February 29
    CHECK(zero->offset_at(utc_s(2024, 2, 28, 23)) == 0h);
  }
  SECTION("malformed strings are rejected") {
    for (const char* s :
         {"", "C", "CET", "CET-25", "CET-1:60", "CET-1CEST,M3.5.0", "CET-1CEST,M13.1.0,M10.5.0",
          "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/168",
          "CET-1CEST,M3.5.0,M10.5.0x", "CET-1CEST,J0,J365", "CET-1CEST,366,J365", ":Europe/Berlin",
          "<AB>1", "<+0330-3", "CET-1CE", "CET-1CEST-", "CET-1CEST,,M10.5.0"}) {
      INFO(s);
      CHECK_FALSE(TimeZone::from_posix(s));
    }
  }
}

TEST_CASE("hand-made TZif files: version 1, version 2 with footer, footer only", "[maintenance]") {
  TzifSpec v1;
  v1.version = 0;
  v1.times = {1'000'000'000};
  v1.types = {1};
  v1.offsets = {0, 7200};
  auto z1 = TimeZone::from_tzif(tzif(v1));
  REQUIRE(z1);
  CHECK(z1->offset_at(sys_seconds{999'999'999s}) == 0s);
  CHECK(z1->offset_at(sys_seconds{1'000'000'000s}) == 2h);
  CHECK(z1->offset_at(utc_s(2100, 1, 1)) == 2h);  // no footer: the last type stays

  TzifSpec v2 = v1;
  v2.version = '2';
  v2.times = {1'000'000'000, 5'000'000'000};  // past 2038: needs the 64-bit block
  v2.types = {1, 0};
  v2.footer = "<+03>-3";
  auto z2 = TimeZone::from_tzif(tzif(v2));
  REQUIRE(z2);
  CHECK(z2->offset_at(sys_seconds{4'999'999'999s}) == 2h);
  CHECK(z2->offset_at(sys_seconds{5'000'000'000s}) == 3h);  // footer from the last one

  TzifSpec footer_only;
  footer_only.footer = "CET-1CEST,M3.5.0,M10.5.0/3";
  auto z3 = TimeZone::from_tzif(tzif(footer_only));
  REQUIRE(z3);
  CHECK(z3->offset_at(utc_s(2026, 7, 1)) == 2h);
  CHECK(z3->offset_at(utc_s(1950, 1, 1)) == 1h);

  TzifSpec no_footer;
  no_footer.offsets = {-3600};
  auto z4 = TimeZone::from_tzif(tzif(no_footer));
  REQUIRE(z4);
  CHECK(z4->offset_at(utc_s(2026, 7, 1)) == -1h);
}

TEST_CASE("inconsistent TZif files are rejected", "[maintenance]") {
  TzifSpec good;
  good.times = {100, 200};
  good.types = {1, 0};
  good.offsets = {0, 3600};
  REQUIRE(TimeZone::from_tzif(tzif(good)));

  SECTION("transitions not strictly ascending") {
    auto bad = good;
    bad.times = {200, 200};
    CHECK_FALSE(TimeZone::from_tzif(tzif(bad)));
    bad.times = {200, 100};
    CHECK_FALSE(TimeZone::from_tzif(tzif(bad)));
  }
  SECTION("a transition naming a type that does not exist") {
    auto bad = good;
    bad.types = {1, 2};
    CHECK_FALSE(TimeZone::from_tzif(tzif(bad)));
  }
  SECTION("an offset beyond 26 hours") {
    auto bad = good;
    bad.offsets = {0, 26 * 3600};
    CHECK_FALSE(TimeZone::from_tzif(tzif(bad)));
  }
  SECTION("no types at all") {
    auto bad = good;
    bad.times.clear();
    bad.types.clear();
    bad.offsets.clear();
    CHECK_FALSE(TimeZone::from_tzif(tzif(bad)));
  }
  SECTION("a footer that does not parse, or no footer newline") {
    auto bad = good;
    bad.footer = "nonsense";
    CHECK_FALSE(TimeZone::from_tzif(tzif(bad)));
    std::string bytes = tzif(good);
    bytes.pop_back();  // the closing newline
    CHECK_FALSE(TimeZone::from_tzif(bytes));
  }
  SECTION("wrong magic or version") {
    std::string bytes = tzif(good);
    bytes[0] = 'X';
    CHECK_FALSE(TimeZone::from_tzif(bytes));
    bytes = tzif(good);
    bytes[4] = '1';
    CHECK_FALSE(TimeZone::from_tzif(bytes));
  }
  SECTION("counts larger than the data") {
    std::string bytes = tzif(good);
    // The second header follows the first (44 bytes) and the minimal 32-bit block (10);
    // its timecnt is at offset 32. Claim 50 transitions where there are 2.
    bytes[44 + 10 + 35] = 50;
    CHECK_FALSE(TimeZone::from_tzif(bytes));
  }
}

TEST_CASE("every truncation of a real TZif file is rejected, never read past its end",
          "[maintenance]") {
  const std::string bytes = read_file("/usr/share/zoneinfo/Europe/Berlin");
  REQUIRE(bytes.size() > 1000);
  REQUIRE(TimeZone::from_tzif(bytes));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    if (TimeZone::from_tzif(std::string_view(bytes).substr(0, n))) {
      FAIL("a prefix of " << n << " bytes parsed");
    }
  }
}

TEST_CASE("corrupted TZif bytes give a zone or nothing, never a crash", "[maintenance]") {
  const std::string original = read_file("/usr/share/zoneinfo/America/New_York");
  REQUIRE(TimeZone::from_tzif(original));
  std::uint64_t x = 88172645463325252ULL;
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = original;
    for (int flips = 0; flips < 4; ++flips) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      bytes[x % bytes.size()] = static_cast<char>(x >> 56);
    }
    if (auto tz = TimeZone::from_tzif(bytes)) {
      ++parsed;
      (void)tz->offset_at(utc_s(2026, 3, 8, 7));
      (void)tz->to_sys(local(2026, 3, 8, 2, 30));
    }
  }
  CHECK(parsed > 0);  // most flips land in the data and still give a (wrong) zone
}

TEST_CASE("load reads zoneinfo names and refuses paths out of the folder", "[maintenance]") {
  CHECK(TimeZone::load("Europe/Berlin"));
  CHECK(TimeZone::load("America/Argentina/Buenos_Aires"));
  CHECK(TimeZone::load("Etc/GMT+5"));
  CHECK_FALSE(TimeZone::load("Europe/Nowhere"));
  CHECK_FALSE(TimeZone::load("../zoneinfo/Europe/Berlin"));
  CHECK_FALSE(TimeZone::load("/usr/share/zoneinfo/Europe/Berlin"));
  CHECK_FALSE(TimeZone::load("Europe"));  // a directory
  CHECK(TimeZone::load("Etc/GMT+5")->offset_at(utc_s(2026, 1, 1)) == -5h);
}
