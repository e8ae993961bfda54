// [web]: TLS and basic auth for the HTTP endpoints, the health answer before any result.
#include <string>
#include <string_view>

#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr std::size_t kMaxUsersFileBytes = 1024 * 1024;

bool is_crypt_base64(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '/';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "$2y$NN$" + 22 characters of salt + 31 of hash (htpasswd -B -C NN: cost 4 to 17).
std::string bcrypt_problem(std::string_view hash) {
  const std::string_view cost = hash.substr(4, 2);
  if (hash.size() != 60 || !all_digits(cost) || hash[6] != '$' ||
      !is_crypt_base64(hash.substr(7))) {
    return "is not a whole bcrypt hash (\"$2y$\", a two-digit cost, \"$\" and 53 characters)";
  }
  const int n = (cost[0] - '0') * 10 + (cost[1] - '0');
  if (n < 4 || n > 17) {
    return "has bcrypt cost " + std::string(cost) + ": htpasswd makes 04 to 17";
  }
  return "";
}

// "$5$" or "$6$", optionally "rounds=N$", a salt of up to 16 characters, "$" and the hash
// (43 characters for SHA-256, 86 for SHA-512).
std::string sha_crypt_problem(std::string_view hash) {
  const std::size_t hash_chars = hash[1] == '5' ? 43 : 86;
  const std::string shape = "is not a whole SHA-crypt hash (\"$" + std::string(1, hash[1]) +
                            "$\", a salt, \"$\" and " + std::to_string(hash_chars) + " characters)";
  std::string_view rest = hash.substr(3);
  constexpr std::string_view kRounds = "rounds=";
  if (rest.substr(0, kRounds.size()) == kRounds) {
    rest.remove_prefix(kRounds.size());
    const auto dollar = rest.find('$');
    const std::string_view rounds = rest.substr(0, dollar);
    if (dollar == std::string_view::npos || !all_digits(rounds)) {
      return shape;
    }
    // glibc clamps rounds to 1,000..999,999,999; a check should take milliseconds.
    if (rounds.size() > 7 || std::stoul(std::string(rounds)) > 1'000'000) {
      return "has " + std::string(rounds) + " SHA-crypt rounds: at most 1,000,000";
    }
    rest.remove_prefix(dollar + 1);
  }
  const auto dollar = rest.find('$');
  if (dollar == std::string_view::npos || dollar > 16 || rest.size() - dollar - 1 != hash_chars ||
      !is_crypt_base64(rest.substr(dollar + 1))) {
    return shape;
  }
  return "";
}

// "" when `hash` is a whole hash crypt(3) can check; else what is wrong, without the hash.
std::string hash_problem(std::string_view hash) {
  for (std::string_view prefix : {"$2y$", "$2b$", "$2a$"}) {
    if (hash.substr(0, prefix.size()) == prefix) {
      return bcrypt_problem(hash);
    }
  }
  for (std::string_view prefix : {"$6$", "$5$"}) {
    if (hash.substr(0, prefix.size()) == prefix) {
      return sha_crypt_problem(hash);
    }
  }
  return "is not bcrypt ($2y$, from htpasswd -B) or SHA-crypt ($5$, $6$)";
}

}  // namespace

void read_web(TableReader& r, WebConfig& out, const LoadContext& ctx) {
  const bool has_cert = r.read("tls_cert_file", out.tls_cert_file);
  const bool has_key = r.read("tls_key_file", out.tls_key_file);
  const bool has_users = r.read("basic_auth_users_file", out.basic_auth_users_file);
  r.read("unknown_health", out.unknown_health_up, {{"up", true}, {"down", false}});
  r.read("reload_endpoint", out.reload_endpoint);
  std::string agent_check;
  if (r.read("agent_check_listen", agent_check)) {
    Endpoint e;
    if (check_listen(r, "agent_check_listen", agent_check, e)) {
      out.agent_check_listen = e;
    }
  }
  r.read("agent_check_down", out.agent_check_drain, {{"drain", true}, {"down", false}});
  if (read_http_url(r, "external_url", out.external_url)) {
    while (out.external_url.back() == '/') {
      out.external_url.pop_back();
    }
  }
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
    std::vector<std::string> errors;
    if (auto users = read_web_users(out.basic_auth_users_file, errors)) {
      out.basic_auth_users = std::move(*users);
    }
    for (const auto& e : errors) {
      r.error("basic_auth_users_file", e);
    }
  }
}

}  // namespace mailcanary::config::detail

namespace mailcanary::config {

std::optional<std::vector<WebUser>> read_web_users(const std::string& path,
                                                   std::vector<std::string>& errors) {
  std::string error;
  const auto text = detail::read_file(path, error, detail::kMaxUsersFileBytes);
  if (!text) {
    errors.push_back(error);
    return std::nullopt;
  }
  return parse_web_users(*text, path, errors);
}

std::optional<std::vector<WebUser>> parse_web_users(std::string_view text, const std::string& path,
                                                    std::vector<std::string>& errors) {
  using detail::in_quotes;
  if (text.size() > detail::kMaxUsersFileBytes) {
    errors.push_back(in_quotes(path) + " is too large (over 1 MiB)");
    return std::nullopt;
  }
  std::vector<WebUser> out;
  const std::size_t errors_before = errors.size();
  const auto bad = [&](int line, const std::string& why) {
    errors.push_back(in_quotes(path) + " line " + std::to_string(line) + ": " + why);
  };
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string line(text.substr(pos, end - pos));
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
    if (const auto problem = detail::hash_problem(user.hash); !problem.empty()) {
      bad(line_no, "the hash of user " + in_quotes(user.name) + " " + problem);
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
    errors.push_back(in_quotes(path) + " has no user");
  }
  if (errors.size() != errors_before) {
    return std::nullopt;
  }
  return out;
}

}  // namespace mailcanary::config
