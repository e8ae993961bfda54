#include "mailcanary/agent/core/maintenance.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>

namespace mailcanary::agent {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::local_days;
using std::chrono::local_seconds;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

namespace {

// --- POSIX TZ strings (POSIX.1-2017 8.3, with RFC 8536 section 3.3.1 extensions) ------

struct RuleDate {
  enum class Kind { julian_no_leap, zero_based, month_week_day } kind = Kind::zero_based;
  int month = 0;  // Mm.w.d
  int week = 0;
  int day = 0;  // weekday for Mm.w.d (0 = Sunday), the day number otherwise
  seconds time = hours(2);

  // The local wall time of this date in `y`.
  local_seconds in_year(std::chrono::year y) const {
    using namespace std::chrono;
    local_days d;
    switch (kind) {
      case Kind::julian_no_leap:
        // Day 1..365, February 29 never counted.
        d = local_days(y / January / 1) + days(day - 1 + (y.is_leap() && day >= 60 ? 1 : 0));
        break;
      case Kind::zero_based:
        d = local_days(y / January / 1) + days(day);
        break;
      case Kind::month_week_day: {
        const local_days first(y / month / 1);
        const int first_wd = static_cast<int>(weekday(first).c_encoding());
        int mday = 1 + (day - first_wd + 7) % 7 + (week - 1) * 7;
        const int month_days = static_cast<int>(unsigned((y / month / std::chrono::last).day()));
        while (mday > month_days) {
          mday -= 7;  // week 5: the last such weekday
        }
        d = first + days(mday - 1);
        break;
      }
    }
    return d + time;
  }
};

struct PosixTz {
  seconds std_offset{0};  // east of UTC
  struct Dst {
    seconds offset{0};
    RuleDate start;  // in standard time
    RuleDate end;    // in daylight time
  };
  std::optional<Dst> dst;

  seconds offset_at(sys_seconds t) const {
    if (!dst) {
      return std_offset;
    }
    const auto local = local_days(std::chrono::floor<days>(t + std_offset).time_since_epoch());
    const std::chrono::year y = std::chrono::year_month_day(local).year();
    const sys_seconds start{(dst->start.in_year(y) - std_offset).time_since_epoch()};
    const sys_seconds end{(dst->end.in_year(y) - dst->offset).time_since_epoch()};
    // Northern zones: DST between start and end; southern ones: outside end..start.
    const bool in_dst = start < end ? (start <= t && t < end) : !(end <= t && t < start);
    return in_dst ? dst->offset : std_offset;
  }
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  std::optional<PosixTz> parse() {
    PosixTz tz;
    if (!name()) {
      return std::nullopt;
    }
    auto std_off = offset();
    if (!std_off) {
      return std::nullopt;
    }
    tz.std_offset = *std_off;
    if (done()) {
      return tz;
    }
    PosixTz::Dst dst;
    if (!name()) {
      return std::nullopt;
    }
    dst.offset = tz.std_offset + hours(1);
    if (!done() && peek() != ',') {
      auto dst_off = offset();
      if (!dst_off) {
        return std::nullopt;
      }
      dst.offset = *dst_off;
    }
    if (done()) {
      // No rules: POSIX leaves them to the implementation; the tz reference code uses
      // the US rules.
      dst.start = {RuleDate::Kind::month_week_day, 3, 2, 0, hours(2)};
      dst.end = {RuleDate::Kind::month_week_day, 11, 1, 0, hours(2)};
    } else {
      if (!accept(',')) {
        return std::nullopt;
      }
      auto start = rule();
      if (!start || !accept(',')) {
        return std::nullopt;
      }
      auto end = rule();
      if (!end || !done()) {
        return std::nullopt;
      }
      dst.start = *start;
      dst.end = *end;
    }
    tz.dst = dst;
    return tz;
  }

 private:
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  bool accept(char c) {
    if (peek() != c || done()) {
      return false;
    }
    ++pos_;
    return true;
  }
  static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // "CET" (3+ letters) or "<+0330>" (3+ letters, digits, signs).
  bool name() {
    std::size_t n = 0;
    if (accept('<')) {
      while (!done() && (is_alpha(peek()) || is_digit(peek()) || peek() == '+' || peek() == '-')) {
        ++pos_;
        ++n;
      }
      return accept('>') && n >= 3;
    }
    while (!done() && is_alpha(peek())) {
      ++pos_;
      ++n;
    }
    return n >= 3;
  }

  std::optional<int> number(int max_digits, int max_value) {
    int v = 0;
    int digits = 0;
    while (!done() && is_digit(peek()) && digits < max_digits) {
      v = v * 10 + (peek() - '0');
      ++pos_;
      ++digits;
    }
    if (digits == 0 || v > max_value || (!done() && is_digit(peek()))) {
      return std::nullopt;
    }
    return v;
  }

  // [+|-]hh[:mm[:ss]], hh <= max_hours.
  std::optional<seconds> hms(int max_hours) {
    int sign = 1;
    if (accept('-')) {
      sign = -1;
    } else {
      accept('+');
    }
    auto h = number(3, max_hours);
    if (!h) {
      return std::nullopt;
    }
    int m = 0;
    int sec = 0;
    if (accept(':')) {
      auto mm = number(2, 59);
      if (!mm) {
        return std::nullopt;
      }
      m = *mm;
      if (accept(':')) {
        auto ss = number(2, 59);
        if (!ss) {
          return std::nullopt;
        }
        sec = *ss;
      }
    }
    return seconds(sign * (*h * 3600 + m * 60 + sec));
  }

  // POSIX offsets count west of UTC.
  std::optional<seconds> offset() {
    if (done() || !(is_digit(peek()) || peek() == '+' || peek() == '-')) {
      return std::nullopt;
    }
    auto west = hms(24);
    if (!west) {
      return std::nullopt;
    }
    return -*west;
  }

  std::optional<RuleDate> rule() {
    RuleDate r;
    if (accept('J')) {
      auto n = number(3, 365);
      if (!n || *n < 1) {
        return std::nullopt;
      }
      r.kind = RuleDate::Kind::julian_no_leap;
      r.day = *n;
    } else if (accept('M')) {
      auto m = number(2, 12);
      if (!m || *m < 1 || !accept('.')) {
        return std::nullopt;
      }
      auto w = number(1, 5);
      if (!w || *w < 1 || !accept('.')) {
        return std::nullopt;
      }
      auto d = number(1, 6);
      if (!d) {
        return std::nullopt;
      }
      r.kind = RuleDate::Kind::month_week_day;
      r.month = *m;
      r.week = *w;
      r.day = *d;
    } else {
      auto n = number(3, 365);
      if (!n) {
        return std::nullopt;
      }
      r.kind = RuleDate::Kind::zero_based;
      r.day = *n;
    }
    if (accept('/')) {
      auto t = hms(167);
      if (!t) {
        return std::nullopt;
      }
      r.time = *t;
    }
    return r;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

// --- TZif (RFC 8536) ---------------------------------------------------------------

constexpr std::size_t kMaxFileSize = 1 << 20;
constexpr std::uint32_t kMaxTransitions = 100000;
constexpr std::uint32_t kMaxTypes = 256;
constexpr std::uint32_t kMaxChars = 1 << 16;
constexpr std::uint32_t kMaxLeaps = 100000;
// RFC 8536: utoff should be in [-89999, 93599] (-25h+1s .. 26h-1s).
constexpr std::int32_t kMinUtoff = -89999;
constexpr std::int32_t kMaxUtoff = 93599;

class ByteReader {
 public:
  explicit ByteReader(std::string_view b) : b_(b) {}
  std::size_t remaining() const { return b_.size() - pos_; }
  bool skip(std::uint64_t n) {
    if (n > remaining()) {
      return false;
    }
    pos_ += static_cast<std::size_t>(n);
    return true;
  }
  // Callers check remaining() first.
  std::uint8_t u8() { return static_cast<std::uint8_t>(b_[pos_++]); }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v = (v << 8) | u8();
    }
    return v;
  }
  std::int64_t i64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v = (v << 8) | u8();
    }
    return static_cast<std::int64_t>(v);
  }
  std::int64_t time(int size) {
    return size == 8 ? i64() : static_cast<std::int64_t>(static_cast<std::int32_t>(u32()));
  }
  std::string_view take_line() {
    const std::size_t nl = b_.find('\n', pos_);
    if (nl == std::string_view::npos) {
      return {};
    }
    std::string_view line = b_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return line;
  }
  bool next_is(char c) const { return remaining() > 0 && b_[pos_] == c; }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  std::uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;

  std::uint64_t block_size(int time_size) const {
    return std::uint64_t{timecnt} * time_size + timecnt + std::uint64_t{typecnt} * 6 + charcnt +
           std::uint64_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

std::optional<TzifHeader> read_header(ByteReader& r) {
  constexpr std::size_t kHeaderSize = 44;
  if (r.remaining() < kHeaderSize) {
    return std::nullopt;
  }
  if (r.u8() != 'T' || r.u8() != 'Z' || r.u8() != 'i' || r.u8() != 'f') {
    return std::nullopt;
  }
  TzifHeader h;
  h.version = static_cast<char>(r.u8());
  if (h.version != 0 && (h.version < '2' || h.version > '9')) {
    return std::nullopt;
  }
  r.skip(15);
  h.isutcnt = r.u32();
  h.isstdcnt = r.u32();
  h.leapcnt = r.u32();
  h.timecnt = r.u32();
  h.typecnt = r.u32();
  h.charcnt = r.u32();
  return h;
}

}  // namespace

struct TimeZone::Data {
  std::vector<std::int64_t> times;    // transitions, ascending
  std::vector<std::uint8_t> type_of;  // per transition
  std::vector<std::int32_t> utoffs;   // per type
  std::optional<PosixTz> footer;      // after the last transition
};

namespace {

bool read_block(ByteReader& r, const TzifHeader& h, int time_size, TimeZone::Data& d) {
  if (h.typecnt == 0 || h.typecnt > kMaxTypes || h.timecnt > kMaxTransitions ||
      h.charcnt > kMaxChars || h.leapcnt > kMaxLeaps ||
      (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) || (h.isutcnt != 0 && h.isutcnt != h.typecnt) ||
      h.block_size(time_size) > r.remaining()) {
    return false;
  }
  d.times.resize(h.timecnt);
  for (auto& t : d.times) {
    t = r.time(time_size);
  }
  if (!std::is_sorted(d.times.begin(), d.times.end(), std::less_equal<>())) {
    return false;  // not strictly ascending
  }
  d.type_of.resize(h.timecnt);
  for (auto& i : d.type_of) {
    i = r.u8();
    if (i >= h.typecnt) {
      return false;
    }
  }
  d.utoffs.resize(h.typecnt);
  for (auto& off : d.utoffs) {
    off = static_cast<std::int32_t>(r.u32());
    const std::uint8_t isdst = r.u8();
    const std::uint8_t desigidx = r.u8();
    if (off < kMinUtoff || off > kMaxUtoff || isdst > 1 || desigidx >= h.charcnt) {
      return false;
    }
  }
  // Abbreviations, leap seconds and the std/wall and UT/local indicators are not needed.
  return r.skip(std::uint64_t{h.charcnt} + std::uint64_t{h.leapcnt} * (time_size + 4) + h.isstdcnt +
                h.isutcnt);
}

bool valid_zone_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.size() > 255) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '+' || c == '-';
  });
}

}  // namespace

TimeZone TimeZone::utc() {
  static const auto data = [] {
    auto d = std::make_shared<Data>();
    d->utoffs.push_back(0);
    return d;
  }();
  return TimeZone(data);
}

std::optional<TimeZone> TimeZone::from_posix(std::string_view tz) {
  auto parsed = PosixParser(tz).parse();
  if (!parsed) {
    return std::nullopt;
  }
  auto d = std::make_shared<Data>();
  d->utoffs.push_back(static_cast<std::int32_t>(parsed->std_offset.count()));
  d->footer = *parsed;
  return TimeZone(std::move(d));
}

std::optional<TimeZone> TimeZone::from_tzif(std::string_view bytes) {
  if (bytes.size() > kMaxFileSize) {
    return std::nullopt;
  }
  ByteReader r(bytes);
  auto h = read_header(r);
  if (!h) {
    return std::nullopt;
  }
  auto d = std::make_shared<Data>();
  if (h->version == 0) {
    if (!read_block(r, *h, 4, *d)) {
      return std::nullopt;
    }
    return TimeZone(std::move(d));
  }
  // Version 2+: skip the 32-bit block, read the 64-bit one and the footer.
  if (!r.skip(h->block_size(4))) {
    return std::nullopt;
  }
  auto h2 = read_header(r);
  if (!h2 || !read_block(r, *h2, 8, *d)) {
    return std::nullopt;
  }
  if (!r.next_is('\n')) {
    return std::nullopt;
  }
  r.skip(1);
  if (!r.next_is('\n')) {
    const std::string_view line = r.take_line();
    auto footer = PosixParser(line).parse();
    if (line.empty() || !footer) {
      return std::nullopt;
    }
    d->footer = *footer;
  }
  return TimeZone(std::move(d));
}

std::optional<TimeZone> TimeZone::load(const std::string& name, const std::filesystem::path& dir) {
  if (name == "UTC") {
    return utc();
  }
  if (!valid_zone_name(name)) {
    return std::nullopt;
  }
  std::ifstream in(dir / name, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::string bytes(kMaxFileSize + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return from_tzif(bytes);
}

std::shared_ptr<const TimeZone> TimeZone::cached(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const TimeZone>> zones;
  std::lock_guard lock(mutex);
  auto it = zones.find(name);
  if (it == zones.end()) {
    auto tz = load(name);
    it = zones.emplace(name, tz ? std::make_shared<const TimeZone>(*tz) : nullptr).first;
  }
  return it->second;
}

seconds TimeZone::offset_at(sys_seconds t) const {
  const Data& d = *data_;
  const std::int64_t x = t.time_since_epoch().count();
  if (d.times.empty()) {
    return d.footer ? d.footer->offset_at(t) : seconds(d.utoffs.front());
  }
  if (x < d.times.front()) {
    return seconds(d.utoffs.front());
  }
  if (x >= d.times.back() && d.footer) {
    return d.footer->offset_at(t);
  }
  const auto i = std::upper_bound(d.times.begin(), d.times.end(), x) - d.times.begin() - 1;
  return seconds(d.utoffs[d.type_of[static_cast<std::size_t>(i)]]);
}

sys_seconds TimeZone::to_sys(local_seconds t) const {
  const sys_seconds as_utc{t.time_since_epoch()};
  const seconds before = offset_at(as_utc - days(1));
  std::optional<sys_seconds> best;
  for (seconds off : {before, offset_at(as_utc), offset_at(as_utc + days(1))}) {
    const sys_seconds candidate = as_utc - off;
    if (offset_at(candidate) == off && (!best || candidate < *best)) {
      best = candidate;
    }
  }
  // No candidate: `t` was skipped; read it in the offset before the change.
  return best ? *best : as_utc - before;
}

// --- windows -----------------------------------------------------------------------

bool applies_to(const config::MaintenanceWindow& w, const std::string& target) {
  return std::any_of(w.targets.begin(), w.targets.end(),
                     [&](const std::string& t) { return t == "*" || t == target; });
}

std::optional<std::pair<SysTime, SysTime>> occurrence_covering(const config::MaintenanceWindow& w,
                                                               SysTime at) {
  if (w.start && w.end) {
    if (*w.start <= at && at < *w.end) {
      return std::pair<SysTime, SysTime>(*w.start, *w.end);
    }
    return std::nullopt;
  }
  if (!w.weekly_weekday || *w.weekly_weekday < 0 || *w.weekly_weekday > 6 || w.weekly_minute < 0 ||
      w.weekly_minute >= 24 * 60 || w.duration <= config::Duration(0)) {
    return std::nullopt;
  }
  const auto tz = TimeZone::cached(w.time_zone);
  if (!tz) {
    return std::nullopt;
  }
  const auto at_s = std::chrono::floor<seconds>(at);
  const auto today =
      local_days(std::chrono::floor<days>(at_s + tz->offset_at(at_s)).time_since_epoch());
  std::optional<std::pair<SysTime, SysTime>> best;
  // A window lasts at most a week (the config loader checks), so its start lies within
  // the last 8 local days; one day ahead covers odd offsets.
  for (int back = -1; back <= 8; ++back) {
    const local_days day = today - days(back);
    if (static_cast<int>(std::chrono::weekday(day).c_encoding()) != *w.weekly_weekday) {
      continue;
    }
    const SysTime start = tz->to_sys(day + minutes(w.weekly_minute));
    const SysTime end = start + w.duration;
    if (start <= at && at < end && (!best || end > best->second)) {
      best = std::pair<SysTime, SysTime>(start, end);
    }
  }
  return best;
}

namespace {

// The latest end among the windows for `target` covering `at`.
std::optional<SysTime> covering_end(const std::vector<config::MaintenanceWindow>& windows,
                                    const std::string& target, SysTime at) {
  std::optional<SysTime> end;
  for (const auto& w : windows) {
    if (!applies_to(w, target)) {
      continue;
    }
    if (auto occ = occurrence_covering(w, at); occ && (!end || occ->second > *end)) {
      end = occ->second;
    }
  }
  return end;
}

}  // namespace

bool in_maintenance(const std::vector<config::MaintenanceWindow>& windows,
                    const std::string& target, SysTime at) {
  return covering_end(windows, target, at).has_value();
}

std::optional<SysTime> maintenance_end(const std::vector<config::MaintenanceWindow>& windows,
                                       const std::string& target, SysTime at) {
  constexpr int kMaxChained = 32;
  auto end = covering_end(windows, target, at);
  for (int i = 1; end && i < kMaxChained; ++i) {
    auto next = covering_end(windows, target, *end);
    if (!next) {
      break;
    }
    end = next;  // later than *end: a covering window ends after the time it covers
  }
  return end;
}

}  // namespace mailcanary::agent
