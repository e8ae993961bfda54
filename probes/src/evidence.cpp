#include "mailcanary/probes/evidence.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>

#include "ascii.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::size_t kMaxHops = 32;
constexpr std::size_t kMaxFieldBytes = 512;

std::string bounded(std::string_view s) {
  return printable_ascii(s, kMaxFieldBytes);
}

// Splits on whitespace, dropping parenthesised comments.
std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size() && out.size() < 16) {
    while (i < s.size() && (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ',')) {
      ++i;
    }
    if (i < s.size() && s[i] == '(') {
      auto close = s.find(')', i);
      i = close == std::string_view::npos ? s.size() : close + 1;
      continue;
    }
    std::size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != ',' &&
           s[i] != '(') {
      ++i;
    }
    if (i > start) {
      out.push_back(s.substr(start, i - start));
    }
  }
  return out;
}

std::optional<int> number(std::string_view s) {
  if (s.empty() || s.size() > 9) {
    return std::nullopt;
  }
  int v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<int> month_of(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths{
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() != 3) {
    return std::nullopt;
  }
  std::string lower{s};
  for (auto& c : lower) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (kMonths[i] == lower) {
      return static_cast<int>(i) + 1;
    }
  }
  return std::nullopt;
}

// The word after `keyword` ("from", "by") in a Received header, if any.
std::string clause(std::string_view value, std::string_view keyword) {
  auto t = tokens(value.substr(0, value.rfind(';')));
  for (std::size_t i = 0; i + 1 < t.size(); ++i) {
    if (t[i].size() == keyword.size() &&
        std::equal(t[i].begin(), t[i].end(), keyword.begin(),
                   [](char a, char b) { return std::tolower(a) == b; })) {
      return bounded(t[i + 1]);
    }
  }
  return {};
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc5322_date(std::string_view text) {
  auto t = tokens(text);
  std::size_t i = 0;
  if (i < t.size() && !t[i].empty() && std::isalpha(static_cast<unsigned char>(t[i][0]))) {
    ++i;  // day name
  }
  if (t.size() < i + 5) {
    return std::nullopt;
  }
  auto day = number(t[i]);
  auto month = month_of(t[i + 1]);
  auto year = number(t[i + 2]);
  std::string_view clock = t[i + 3];
  std::string_view zone = t[i + 4];
  if (!day || !month || !year || *day < 1 || *day > 31) {
    return std::nullopt;
  }
  int y = *year < 50 ? *year + 2000 : (*year < 1000 ? *year + 1900 : *year);
  // system_clock counts nanoseconds in 64 bits: about 1678..2262. Mail dates outside
  // this narrower range are nonsense anyway.
  constexpr int kMinYear = 1900;
  constexpr int kMaxYear = 2200;
  if (y < kMinYear || y > kMaxYear) {
    return std::nullopt;
  }
  // hh:mm[:ss]
  int hh = 0, mm = 0, ss = 0;
  auto c1 = clock.find(':');
  if (c1 == std::string_view::npos) {
    return std::nullopt;
  }
  auto c2 = clock.find(':', c1 + 1);
  auto h = number(clock.substr(0, c1));
  auto m = number(
      clock.substr(c1 + 1, c2 == std::string_view::npos ? std::string_view::npos : c2 - c1 - 1));
  std::optional<int> s =
      c2 == std::string_view::npos ? std::optional<int>(0) : number(clock.substr(c2 + 1));
  if (!h || !m || !s || *h > 23 || *m > 59 || *s > 60) {
    return std::nullopt;
  }
  hh = *h;
  mm = *m;
  ss = *s;
  int offset_minutes = 0;
  if ((zone[0] == '+' || zone[0] == '-') && zone.size() == 5) {
    auto z = number(zone.substr(1));
    if (!z) {
      return std::nullopt;
    }
    offset_minutes = (*z / 100) * 60 + *z % 100;
    if (zone[0] == '-') {
      offset_minutes = -offset_minutes;
    }
  } else if (zone != "UT" && zone != "GMT" && zone != "Z" && zone != "UTC") {
    return std::nullopt;
  }
  using namespace std::chrono;
  year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(*month)},
                     std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return sys_days{ymd} + hours{hh} + minutes{mm} + seconds{ss} - minutes{offset_minutes};
}

Evidence parse_evidence(std::string_view headers) {
  Evidence e;
  auto received = header_values(headers, "Received", kMaxHops);  // newest first
  if (!received.empty()) {
    e.received_by = clause(received.front(), "by");
  }
  auto auth = header_values(headers, "Authentication-Results", 1);
  if (!auth.empty()) {
    e.authentication_results = bounded(auth.front());
  }
  std::optional<std::chrono::system_clock::time_point> previous;
  if (auto date = header_values(headers, "Date", 1); !date.empty()) {
    previous = parse_rfc5322_date(date.front());
  }
  for (auto it = received.rbegin(); it != received.rend(); ++it) {
    Hop hop{clause(*it, "from"), clause(*it, "by"), std::nullopt};
    std::optional<std::chrono::system_clock::time_point> when;
    if (auto semi = it->rfind(';'); semi != std::string::npos) {
      when = parse_rfc5322_date(std::string_view(*it).substr(semi + 1));
    }
    if (when && previous) {
      hop.seconds = std::chrono::duration<double>(*when - *previous).count();
    }
    if (when) {
      previous = when;
    }
    e.hops.push_back(std::move(hop));
  }
  return e;
}

}  // namespace mailcanary::probes
