#include "mailcanary/probes/dsn.hpp"

#include <cctype>
#include <vector>

#include "ascii.hpp"
#include "mailcanary/probes/canary.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::size_t kMaxValueBytes = 300;
constexpr std::size_t kMaxLines = 20000;

bool starts_with_field(std::string_view line, std::string_view name) {
  if (line.size() <= name.size() || line[name.size()] != ':') {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) !=
        std::tolower(static_cast<unsigned char>(name[i]))) {
      return false;
    }
  }
  return true;
}

std::string trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return printable_ascii(s, kMaxValueBytes);
}

// Lines with header-style folding undone: a line starting with white space continues
// the previous one. Works across the MIME parts of a DSN because each part's fields are
// header-like; bounded in count.
std::vector<std::string> unfolded_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty() && out.size() < kMaxLines) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t') && !out.empty()) {
      if (out.back().size() < 2 * kMaxValueBytes) {
        out.back() += ' ';
        out.back() += trimmed(line);
      }
      continue;
    }
    out.emplace_back(line.substr(0, 2 * kMaxValueBytes));
  }
  return out;
}

}  // namespace

std::string Dsn::summary() const {
  std::string s = status.empty() ? "bounced" : status + " " + action;
  if (!diagnostic.empty()) {
    s += ": " + diagnostic;
  }
  return s;
}

std::optional<Dsn> parse_dsn(std::string_view text, std::string_view key) {
  Dsn d;
  for (const auto& line : unfolded_lines(text)) {
    if (d.canary_id.empty() && starts_with_field(line, "X-Mailcanary-Id")) {
      if (auto id = verify_canary_token(std::string_view(line).substr(16), key)) {
        d.canary_id = *id;
      }
    } else if (d.action.empty() && starts_with_field(line, "Action")) {
      d.action = trimmed(std::string_view(line).substr(7));
      for (auto& c : d.action) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    } else if (d.status.empty() && starts_with_field(line, "Status")) {
      d.status = trimmed(std::string_view(line).substr(7));
    } else if (d.diagnostic.empty() && starts_with_field(line, "Diagnostic-Code")) {
      d.diagnostic = trimmed(std::string_view(line).substr(16));
    }
  }
  if (d.canary_id.empty() || d.status.empty()) {
    return std::nullopt;
  }
  const bool failed = d.action.empty() ? d.status.front() == '5' : d.action == "failed";
  if (!failed) {
    return std::nullopt;
  }
  if (d.action.empty()) {
    d.action = "failed";
  }
  return d;
}

}  // namespace mailcanary::probes
