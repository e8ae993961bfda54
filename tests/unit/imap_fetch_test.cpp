// INTERNALDATE as a point in time: the arrival time of a canary found after an outage.
#include <catch2/catch.hpp>

#include "../../probes/src/imap_fetch.hpp"

using mailcanary::probes::imap_date_time;
using namespace std::chrono;

TEST_CASE("an IMAP INTERNALDATE is read with its zone", "[imap]") {
  // 05-Dec-2026 14:52:34 +0000 and the same instant written in two other zones.
  const auto utc = imap_date_time(mailimap_date_time{5, 12, 2026, 14, 52, 34, 0});
  REQUIRE(utc);
  CHECK(duration_cast<seconds>(utc->time_since_epoch()).count() == 1796482354);
  CHECK(imap_date_time(mailimap_date_time{5, 12, 2026, 16, 22, 34, 130}) == utc);
  CHECK(imap_date_time(mailimap_date_time{5, 12, 2026, 9, 52, 34, -500}) == utc);
}

TEST_CASE("an INTERNALDATE out of range is no date at all", "[imap]") {
  CHECK_FALSE(imap_date_time(mailimap_date_time{0, 12, 2026, 14, 52, 34, 0}));
  CHECK_FALSE(imap_date_time(mailimap_date_time{5, 13, 2026, 14, 52, 34, 0}));
  CHECK_FALSE(imap_date_time(mailimap_date_time{5, 12, 1969, 14, 52, 34, 0}));
  CHECK_FALSE(imap_date_time(mailimap_date_time{5, 12, 2026, 24, 0, 0, 0}));
  CHECK_FALSE(imap_date_time(mailimap_date_time{5, 12, 2026, 14, 60, 0, 0}));
  CHECK_FALSE(imap_date_time(mailimap_date_time{5, 12, 2026, 14, 52, 34, 1500}));
  CHECK_FALSE(imap_date_time(mailimap_date_time{5, 12, 2026, 14, 52, 34, 199}));
}
