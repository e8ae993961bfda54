// Reading the files a config points at: the config itself and secrets.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace mailcanary::config::detail {

/// Default bound of read_file: far above any config or users file.
inline constexpr std::size_t kMaxFileBytes = 64 * 1024 * 1024;

/// `path` as written in the config, made relative to the config file's directory.
std::string resolve_path(const std::filesystem::path& config_dir, const std::string& path);

/// The whole file, or nullopt with `error` set to "cannot read \"PATH\": reason". Stops
/// after `max_bytes` + 1 bytes (a caller seeing more than `max_bytes` refuses the file),
/// so a path such as /dev/zero cannot exhaust memory.
std::optional<std::string> read_file(const std::string& path, std::string& error,
                                     std::size_t max_bytes = kMaxFileBytes);

enum class Trim { trailing_whitespace, trailing_newlines };

/// A secret file's content, trimmed; nullopt when it cannot be read, is empty after
/// trimming or is implausibly large. `error` never contains the content.
std::optional<std::string> read_secret(const std::string& path, Trim trim, std::string& error);

/// Whether the file can be opened for reading (for ca_file); `error` as read_file's.
bool is_readable_file(const std::string& path, std::string& error);

}  // namespace mailcanary::config::detail
