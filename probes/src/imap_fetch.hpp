// Private: the IMAP reader's requests to libetpan and what it takes from the answers.
#pragma once

#include <libetpan/libetpan.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailcanary::probes {

struct FetchedSection {
  std::uint32_t uid = 0;  // 0: the server sent none
  std::string text;       // the body section asked for, at most max_bytes of it
  std::optional<std::chrono::system_clock::time_point> internal_date;  // if asked and valid
};

/// A malloc'd copy of `s` (libetpan takes ownership of strings handed to it).
char* imap_dup(std::string_view s);
/// `text` with anything outside printable ASCII as '?', at most `max` characters.
std::string printable(const char* text, std::size_t max);

/// The set of UIDs uids[start, end) (for UID FETCH, STORE, EXPUNGE).
mailimap_set* uid_set(const std::vector<std::uint32_t>& uids, std::size_t start, std::size_t end);
/// UID, INTERNALDATE and the evidence header fields (X-Mailcanary-Id, Received,
/// Authentication-Results, Date), at most `max_bytes` of them, without setting \Seen.
mailimap_fetch_type* canary_headers_fetch(std::size_t max_bytes);
/// The first `max_bytes` of the whole message (BODY.PEEK[]<0.N>).
mailimap_fetch_type* message_start_fetch(std::size_t max_bytes);

/// An IMAP date-time (INTERNALDATE) as a point in time; nullopt when a field is out of
/// range (a hostile or broken server).
std::optional<std::chrono::system_clock::time_point> imap_date_time(const mailimap_date_time& d);

/// One entry per message in `result` (a mailimap_uid_fetch() result): its UID and the
/// text of its body section, cut at `max_bytes`.
std::vector<FetchedSection> fetched_sections(clist* result, std::size_t max_bytes);

}  // namespace mailcanary::probes
