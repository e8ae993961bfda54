// Private: what the IMAP reader takes from libetpan's answer to a UID FETCH.
#pragma once

#include <libetpan/libetpan.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mailcanary::probes {

struct FetchedSection {
  std::uint32_t uid = 0;  // 0: the server sent none
  std::string text;       // the body section asked for, at most max_bytes of it
};

/// One entry per message in `result` (a mailimap_uid_fetch() result): its UID and the
/// text of its body section, cut at `max_bytes`.
std::vector<FetchedSection> fetched_sections(clist* result, std::size_t max_bytes);

}  // namespace mailcanary::probes
