// What the config tests compare: a load's errors as the lines check-config prints.
#pragma once

#include <string>
#include <vector>

#include "mailcanary/config/config.hpp"

namespace mailcanary::testing {

inline std::vector<std::string> messages(const config::LoadResult& result) {
  std::vector<std::string> out;
  for (const auto& error : result.errors) {
    out.push_back(error.to_string());
  }
  return out;
}

}  // namespace mailcanary::testing
