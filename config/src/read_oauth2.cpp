#include <filesystem>

#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

// The token client reads the refresh token file and writes each renewed token back, so
// at load time only its directory must exist (the token may be put there later).
// Writability is not checked: check-config may run as another user than the agent.
void check_refresh_token_file(TableReader& r, std::string& path, const LoadContext& ctx) {
  constexpr std::string_view key = "refresh_token_file";
  if (path.empty()) {
    r.error(key, "must not be empty");
    return;
  }
  path = resolve_path(ctx.config_dir, path);
  const std::filesystem::path file(path);
  std::error_code ec;
  if (!file.has_filename() || std::filesystem::is_directory(file, ec)) {
    r.error(key, in_quotes(path) + " is a directory, expected a file");
    return;
  }
  const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : ".";
  const auto status = std::filesystem::status(folder, ec);
  std::string why;
  if (status.type() == std::filesystem::file_type::not_found) {
    why = " does not exist";
  } else if (ec) {
    why = ": " + ec.message();
  } else if (!std::filesystem::is_directory(status)) {
    why = " is not a directory";
  }
  if (!why.empty()) {
    r.error(key,
            in_quotes(path) + " cannot be written: directory " + in_quotes(folder.string()) + why);
  }
}

}  // namespace

OAuth2Config read_oauth2(TableReader& r, const LoadContext& ctx) {
  OAuth2Config o;
  r.require("name");
  const bool has_name = r.read("name", o.name);
  r.require("token_url");
  read_http_url(r, "token_url", o.token_url);
  r.require("client_id");
  const bool has_client_id = r.read("client_id", o.client_id);
  r.require("client_secret_file");
  const bool has_secret = r.read("client_secret_file", o.client_secret_file);
  const bool has_refresh_token = r.read("refresh_token_file", o.refresh_token_file);
  const bool has_scope = r.read("scope", o.scope);
  r.reject_unknown();

  StringItem name{o.name, r.where("name"), r.key_path("name")};
  if (has_name && o.name.empty()) {
    r.error("name", "must not be empty");
    name.value.clear();
  }
  ctx.sources.oauth2_names.push_back(std::move(name));
  if (has_client_id && o.client_id.empty()) {
    r.error("client_id", "must not be empty");
  }
  if (has_scope && o.scope.empty()) {
    r.error("scope", "must not be empty (leave it out to send none)");
  }
  if (has_refresh_token) {
    check_refresh_token_file(r, o.refresh_token_file, ctx);
  }
  if (has_secret) {
    load_secret(r, "client_secret_file", Trim::trailing_newlines, o.client_secret_file,
                o.client_secret, ctx);
  }
  return o;
}

}  // namespace mailcanary::config::detail
