#include "mailcanary/agent/http/admission.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace mailcanary::agent::http {
namespace {

// The slot to shed (of `only_address`, when given): idle longest first, then receiving oldest.
std::optional<std::uint64_t> victim(const std::vector<Slot>& open,
                                    const std::string_view* only_address) {
  const Slot* best = nullptr;
  for (const auto& s : open) {
    if (s.phase == Phase::answering || (only_address && s.address != *only_address)) {
      continue;
    }
    if (!best) {
      best = &s;
      continue;
    }
    const bool idle = s.phase == Phase::idle;
    const bool best_idle = best->phase == Phase::idle;
    if ((idle && !best_idle) || (idle == best_idle && s.since < best->since)) {
      best = &s;
    }
  }
  return best ? std::optional<std::uint64_t>(best->id) : std::nullopt;
}

}  // namespace

std::string client_group(std::string_view address) {
  const std::string text(address);
  in6_addr v6{};
  if (text.find(':') == std::string::npos || inet_pton(AF_INET6, text.c_str(), &v6) != 1) {
    return text;
  }
  char out[INET6_ADDRSTRLEN] = "";
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    inet_ntop(AF_INET, &v6.s6_addr[12], out, sizeof out);
    return out;
  }
  std::memset(&v6.s6_addr[8], 0, 8);  // the interface identifier: any within the /64
  inet_ntop(AF_INET6, &v6, out, sizeof out);
  return std::string(out) + "/64";
}

Admission admit(const std::vector<Slot>& open, std::string_view address, std::size_t max_per_client,
                std::size_t max_total) {
  std::size_t same = 0;
  for (const auto& s : open) {
    same += s.address == address ? 1 : 0;
  }
  if (same >= max_per_client) {
    auto shed = victim(open, &address);
    return shed ? Admission{true, shed} : Admission{false, std::nullopt};
  }
  if (open.size() >= max_total) {
    auto shed = victim(open, nullptr);
    return shed ? Admission{true, shed} : Admission{false, std::nullopt};
  }
  return {};
}

}  // namespace mailcanary::agent::http
