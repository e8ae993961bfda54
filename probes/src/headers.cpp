#include <cctype>

#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::vector<std::string> header_values(std::string_view headers, std::string_view name,
                                       std::size_t max_values) {
  std::vector<std::string> out;
  bool in_match = false;
  while (!headers.empty()) {
    auto nl = headers.find('\n');
    std::string_view line = headers.substr(0, nl);
    headers.remove_prefix(nl == std::string_view::npos ? headers.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      break;  // end of the header block
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (in_match && !out.empty()) {
        out.back() += ' ';
        out.back() += trim(line);
      }
      continue;
    }
    in_match = false;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(trim(line.substr(0, colon)), name)) {
      continue;
    }
    if (out.size() >= max_values) {
      break;
    }
    out.emplace_back(trim(line.substr(colon + 1)));
    in_match = true;
  }
  return out;
}

}  // namespace mailcanary::probes
