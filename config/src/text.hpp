// Small text helpers for error messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailcanary::config::detail {

/// `text` in double quotes, with quotes, backslashes and control characters escaped, so
/// a config value cannot break the one-line error format.
std::string in_quotes(std::string_view text);

/// " (did you mean 'x'?)" naming the candidate closest to `word` (case-insensitive
/// optimal string alignment distance of at most 2), or "" when none is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace mailcanary::config::detail
