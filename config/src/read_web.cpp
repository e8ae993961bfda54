// [web]: TLS and basic auth for the HTTP endpoints, the health answer before any result.
#include <string_view>

#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr std::size_t kMaxUsersFileBytes = 1024 * 1024;

bool is_supported_hash(std::string_view hash) {
  for (std::string_view prefix : {"$2y$", "$2b$", "$2a$", "$6$", "$5$"}) {
    if (hash.substr(0, prefix.size()) == prefix) {
      return true;
    }
  }
  return false;
}

// "user:hash" lines; blank lines and lines starting with '#' are skipped. Errors name
// the file and line, never the hash.
void parse_users(TableReader& r, const std::string& path, const std::string& text,
                 std::vector<WebUser>& out) {
  const auto bad = [&](int line, const std::string& why) {
    r.error("basic_auth_users_file",
            in_quotes(path) + " line " + std::to_string(line) + ": " + why);
  };
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      bad(line_no, "expected \"user:hash\" (as written by htpasswd -B)");
      continue;
    }
    WebUser user{line.substr(0, colon), line.substr(colon + 1)};
    if (!is_supported_hash(user.hash)) {
      bad(line_no, "the hash of user " + in_quotes(user.name) +
                       " is not bcrypt ($2y$, from htpasswd -B) or SHA-crypt ($5$, $6$)");
      continue;
    }
    for (const auto& other : out) {
      if (other.name == user.name) {
        bad(line_no, "user " + in_quotes(user.name) + " appears twice");
      }
    }
    out.push_back(std::move(user));
  }
  if (out.empty()) {
    r.error("basic_auth_users_file", in_quotes(path) + " has no user");
  }
}

}  // namespace

void read_web(TableReader& r, WebConfig& out, const LoadContext& ctx) {
  const bool has_cert = r.read("tls_cert_file", out.tls_cert_file);
  const bool has_key = r.read("tls_key_file", out.tls_key_file);
  const bool has_users = r.read("basic_auth_users_file", out.basic_auth_users_file);
  r.read("unknown_health", out.unknown_health_up, {{"up", true}, {"down", false}});
  r.reject_unknown();

  if (has_cert != has_key) {
    r.error(has_cert ? "tls_cert_file" : "tls_key_file",
            "tls_cert_file and tls_key_file go together");
  }
  if (has_cert) {
    check_readable_file(r, "tls_cert_file", out.tls_cert_file, ctx);
  }
  if (has_key) {
    check_readable_file(r, "tls_key_file", out.tls_key_file, ctx);
  }
  if (has_users) {
    out.basic_auth_users_file = resolve_path(ctx.config_dir, out.basic_auth_users_file);
    std::string error;
    const auto text = read_file(out.basic_auth_users_file, error);
    if (!text) {
      r.error("basic_auth_users_file", error);
    } else if (text->size() > kMaxUsersFileBytes) {
      r.error("basic_auth_users_file",
              in_quotes(out.basic_auth_users_file) + " is too large (over 1 MiB)");
    } else {
      parse_users(r, out.basic_auth_users_file, *text, out.basic_auth_users);
    }
  }
}

}  // namespace mailcanary::config::detail
