// gzip (RFC 1952) of a response body with zlib, for scrapers that ask for it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailcanary::agent::http {

/// Bodies smaller than this are sent as they are: gzip's header and a deflate block
/// would save next to nothing.
inline constexpr std::size_t kGzipAtLeast = 1024;

/// The gzip form of `data` at zlib's fastest level (1: a /metrics body of 25 MiB shrinks
/// about tenfold at a fraction of its render time); nullopt if zlib fails.
std::optional<std::string> gzip(std::string_view data);

}  // namespace mailcanary::agent::http
