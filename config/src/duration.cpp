#include <array>
#include <cstdint>
#include <limits>
#include <string_view>

#include "mailcanary/config/config.hpp"

namespace mailcanary::config {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t millis;
};

// Largest first: a combined duration must list its units in this order.
constexpr std::array<Unit, 5> kUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}

}  // namespace

std::optional<Duration> parse_duration(const std::string& text) {
  constexpr std::size_t kMaxDigits = 12;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (text.empty()) {
    return std::nullopt;
  }
  std::int64_t total = 0;
  std::size_t next_unit = 0;  // index into kUnits of the largest unit still allowed
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t digits_start = i;
    std::int64_t number = 0;
    // Digits beyond kMaxDigits are not added up (they would overflow), only counted.
    while (i < text.size() && is_digit(text[i])) {
      if (i - digits_start < kMaxDigits) {
        number = number * 10 + (text[i] - '0');
      }
      ++i;
    }
    if (i == digits_start || i - digits_start > kMaxDigits) {
      return std::nullopt;
    }
    const std::size_t unit_start = i;
    while (i < text.size() && is_lower(text[i])) {
      ++i;
    }
    const std::string_view unit(text.data() + unit_start, i - unit_start);
    std::size_t u = next_unit;
    while (u < kUnits.size() && kUnits[u].name != unit) {
      ++u;
    }
    if (u == kUnits.size()) {
      return std::nullopt;
    }
    if (number > (kMax - total) / kUnits[u].millis) {
      return std::nullopt;
    }
    total += number * kUnits[u].millis;
    next_unit = u + 1;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  if (d.count() < 0) {
    return "-" + format_duration(-d);
  }
  if (d.count() == 0) {
    return "0s";
  }
  std::string out;
  std::int64_t rest = d.count();
  for (const auto& unit : kUnits) {
    if (rest >= unit.millis) {
      out += std::to_string(rest / unit.millis);
      out += unit.name;
      rest %= unit.millis;
    }
  }
  return out;
}

}  // namespace mailcanary::config
