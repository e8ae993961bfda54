#include "files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr std::size_t kMaxSecretBytes = 64 * 1024;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File open_for_reading(const std::string& path, std::string& error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    error = "cannot read " + in_quotes(path) + ": it is a directory";
    return nullptr;
  }
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    error = "cannot read " + in_quotes(path) + ": " + std::strerror(errno);
  }
  return file;
}

}  // namespace

std::string resolve_path(const std::filesystem::path& config_dir, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute() || config_dir.empty()) {
    return p.lexically_normal().string();
  }
  return (config_dir / p).lexically_normal().string();
}

std::optional<std::string> read_file(const std::string& path, std::string& error,
                                     std::size_t max_bytes) {
  File file = open_for_reading(path, error);
  if (!file) {
    return std::nullopt;
  }
  std::string content;
  char buffer[4096];
  std::size_t n = 0;
  while (content.size() <= max_bytes &&
         (n = std::fread(buffer, 1, std::min(sizeof buffer, max_bytes + 1 - content.size()),
                         file.get())) > 0) {
    content.append(buffer, n);
  }
  if (std::ferror(file.get())) {
    error = "cannot read " + in_quotes(path) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return content;
}

std::optional<std::string> read_secret(const std::string& path, Trim trim, std::string& error) {
  auto content = read_file(path, error, kMaxSecretBytes);
  if (!content) {
    return std::nullopt;
  }
  if (content->size() > kMaxSecretBytes) {
    error = in_quotes(path) + " is too large for a secret (over 64 KiB)";
    return std::nullopt;
  }
  const char* strip = trim == Trim::trailing_whitespace ? " \t\r\n\v\f" : "\r\n";
  const std::size_t end = content->find_last_not_of(strip);
  content->resize(end == std::string::npos ? 0 : end + 1);
  if (content->empty()) {
    error = in_quotes(path) + " is empty";
    return std::nullopt;
  }
  return content;
}

bool is_readable_file(const std::string& path, std::string& error) {
  return open_for_reading(path, error) != nullptr;
}

}  // namespace mailcanary::config::detail
