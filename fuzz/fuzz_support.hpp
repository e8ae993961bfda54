// Shared by the harnesses: invariant checks that abort (libFuzzer then saves the input
// as a crash) and small helpers for splitting an input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace mailcanary::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
  std::abort();
}

/// The input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// The lines of `text` (split on '\n', the '\n' dropped), at most `max`.
inline std::vector<std::string_view> lines_of(std::string_view text, std::size_t max) {
  std::vector<std::string_view> out;
  while (!text.empty() && out.size() < max) {
    const auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return out;
}

/// Whether every byte is printable ASCII (what goes into logs, JSON and terminals).
inline bool printable(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace mailcanary::fuzz

#define FUZZ_CHECK(cond)                                               \
  do {                                                                 \
    if (!(cond)) {                                                     \
      ::mailcanary::fuzz::invariant_failed(#cond, __FILE__, __LINE__); \
    }                                                                  \
  } while (false)
