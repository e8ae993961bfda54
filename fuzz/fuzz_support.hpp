// Shared by the harnesses: invariant checks that abort (libFuzzer then saves the input
// as a crash) and small helpers for splitting an input.
#pragma once

#include <algorithm>
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

/// The size of the `i`th piece when an input is cut by `pattern` (a byte of the input):
/// 0 takes everything at once, 1 byte by byte, other values vary between 1 and 4 *
/// pattern bytes, deterministically.
inline std::size_t piece_size(std::uint8_t pattern, std::size_t i) {
  if (pattern <= 1) {
    return pattern == 0 ? static_cast<std::size_t>(-1) : 1;
  }
  const auto mix = static_cast<std::uint32_t>((i + 1) * 2654435761u) >> 8;
  return 1 + mix % (4u * pattern);
}

/// `text` cut into pieces by `pattern` (see piece_size); the pieces cover it in order.
inline std::vector<std::string_view> pieces_of(std::string_view text, std::uint8_t pattern) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; !text.empty(); ++i) {
    const auto n = std::min(piece_size(pattern, i), text.size());
    out.push_back(text.substr(0, n));
    text.remove_prefix(n);
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
