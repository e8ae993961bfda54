// Reading the files a config points at: the config itself and secrets.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace mailcanary::config::detail {

/// `path` as written in the config, made relative to the config file's directory.
std::string resolve_path(const std::filesystem::path& config_dir, const std::string& path);

/// The whole file, or nullopt with `error` set to "cannot read \"PATH\": reason".
std::optional<std::string> read_file(const std::string& path, std::string& error);

enum class Trim { trailing_whitespace, trailing_newlines };

/// A secret file's content, trimmed; nullopt when it cannot be read, is empty after
/// trimming or is implausibly large. `error` never contains the content.
std::optional<std::string> read_secret(const std::string& path, Trim trim, std::string& error);

/// Whether the file can be opened for reading (for ca_file); `error` as read_file's.
bool is_readable_file(const std::string& path, std::string& error);

}  // namespace mailcanary::config::detail
