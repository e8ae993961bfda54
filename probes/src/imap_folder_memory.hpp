// Private: what the IMAP reader remembers about the messages of one folder, valid for
// one UIDVALIDITY, so each message is fetched and classified once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mailcanary/probes/dsn.hpp"

namespace mailcanary::probes {

inline constexpr std::size_t kMaxRemembered = 100000;  // classified UIDs per folder

struct FolderMemory {
  std::uint32_t uidvalidity = 0;
  std::map<std::uint32_t, std::string> ids;             // canary id, "" = not ours
  std::map<std::string, std::uint32_t> uid_of;          // the other way round, ours only
  std::map<std::uint32_t, std::optional<Dsn>> reports;  // bounce reports read
  std::uint32_t max_uid = 0;  // messages above it are new: the incremental look's start
};

/// Keeps only the entries whose UID is still in `present` (sorted); forgets everything
/// past kMaxRemembered entries.
template <typename Map>
void forget_gone(Map& m, const std::vector<std::uint32_t>& present) {
  for (auto it = m.begin(); it != m.end();) {
    it =
        std::binary_search(present.begin(), present.end(), it->first) ? std::next(it) : m.erase(it);
  }
  if (m.size() > kMaxRemembered) {
    m.clear();
  }
}

}  // namespace mailcanary::probes
