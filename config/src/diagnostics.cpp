#include "diagnostics.hpp"

#include <algorithm>

namespace mailcanary::config::detail {

Location Diagnostics::at(const toml::source_region& region) const {
  if (region.begin.line == 0) {
    return start_of_file();
  }
  return {file_, static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

void Diagnostics::add(Location where, std::string message) {
  errors_.push_back({std::move(where), std::move(message)});
}

std::vector<ConfigError> Diagnostics::take_sorted() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  return std::move(errors_);
}

}  // namespace mailcanary::config::detail
