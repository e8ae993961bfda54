// Private: making text from servers and mail headers safe to show.
#pragma once

#include <string>
#include <string_view>

namespace mailcanary::probes {

/// At most `max` bytes of `s`, every byte that is not printable ASCII replaced by '?'.
/// Server replies and headers go into JSON, logs and terminals through this.
inline std::string printable_ascii(std::string_view s, std::size_t max) {
  std::string out(s.substr(0, max));
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      c = '?';
    }
  }
  return out;
}

}  // namespace mailcanary::probes
