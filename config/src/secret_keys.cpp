#include "sections.hpp"

namespace mailcanary::config::detail {

void load_secret(TableReader& r, std::string_view key, Trim trim, std::string& path,
                 std::string& content, const LoadContext& ctx) {
  if (path.empty()) {
    r.error(key, "must not be empty");
    return;
  }
  path = resolve_path(ctx.config_dir, path);
  std::string error;
  if (auto secret = read_secret(path, trim, error)) {
    content = std::move(*secret);
  } else {
    r.error(key, error);
  }
}

void check_readable_file(TableReader& r, std::string_view key, std::string& path,
                         const LoadContext& ctx) {
  if (path.empty()) {
    r.error(key, "must not be empty");
    return;
  }
  path = resolve_path(ctx.config_dir, path);
  std::string error;
  if (!is_readable_file(path, error)) {
    r.error(key, error);
  }
}

void check_ca_file(TableReader& r, std::string& path, const LoadContext& ctx) {
  check_readable_file(r, "ca_file", path, ctx);
}

}  // namespace mailcanary::config::detail
