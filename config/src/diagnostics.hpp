// Collects every error of one load, with positions taken from toml++ source regions.
#pragma once

#include <toml++/toml.h>

#include <string>
#include <vector>

#include "mailcanary/config/config.hpp"

namespace mailcanary::config::detail {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  /// The start of `region` in this file (1:1 when toml++ knows no position).
  Location at(const toml::source_region& region) const;
  Location start_of_file() const { return {file_, 1, 1}; }

  void add(Location where, std::string message);
  bool empty() const { return errors_.empty(); }

  /// The errors ordered by position; errors at one position keep the order they came in.
  std::vector<ConfigError> take_sorted();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace mailcanary::config::detail
