// One reader per config section. Each applies the file's values over the defaults
// already in its output, rejects unknown keys, then checks what depends on several keys
// of the same table. Checks across sections are in validate.cpp.
#pragma once

#include <filesystem>
#include <vector>

#include "files.hpp"
#include "mailcanary/config/config.hpp"
#include "table_reader.hpp"

namespace mailcanary::config::detail {

/// Where the values that validate() cross-checks were written.
struct SourceMap {
  struct Target {
    StringItem name;            // value empty when missing or invalid
    StringItem mailbox;         // value empty when missing or invalid
    StringItem bounce_mailbox;  // value empty when not set
  };
  std::vector<StringItem> mailbox_names;  // one per [[mailbox]]
  std::vector<StringItem> oauth2_names;   // one per [[oauth2]]
  std::vector<StringItem> oauth2_refs;    // each oauth2 = NAME written with an OAuth2 auth
  std::vector<Target> targets;            // one per [[target]]
  std::vector<std::vector<StringItem>> maintenance_targets;  // per [[maintenance]]
};

struct LoadContext {
  std::filesystem::path config_dir;
  SourceMap& sources;
};

void read_agent(TableReader& r, AgentConfig& out, const LoadContext& ctx);
void read_dns(TableReader& r, DnsConfig& out);
void read_log(TableReader& r, LogConfig& out);
void read_web(TableReader& r, WebConfig& out, const LoadContext& ctx);
void read_smtp(TableReader& r, SmtpConfig& out, const LoadContext& ctx);
void read_slg(TableReader& r, SlgConfig& out);
void read_alertmanager(TableReader& r, AlertmanagerConfig& out);
/// Reads `key` as an http:// or https:// URL; false (and an error when it is not one)
/// when absent or wrong.
bool read_http_url(TableReader& r, std::string_view key, std::string& out);
/// `text` as a listen address, "host:port" or ":port" (every address); an error on
/// `key` when it is not one.
bool check_listen(TableReader& r, std::string_view key, const std::string& text, Endpoint& out);
MailboxConfig read_mailbox(TableReader& r, const LoadContext& ctx);
OAuth2Config read_oauth2(TableReader& r, const LoadContext& ctx);
/// `defaults` supplies the [smtp] and [slg] values the target's own keys override.
TargetConfig read_target(TableReader& r, const Config& defaults, const LoadContext& ctx);
MaintenanceWindow read_maintenance(TableReader& r, const LoadContext& ctx);

/// The [smtp] keys, for [smtp] itself and for a [[target]] overriding them.
void overlay_smtp(TableReader& r, SmtpConfig& out, const LoadContext& ctx);
/// user and password_file go together (auth = "password"), user and oauth2 (an OAuth2
/// auth); checked when this table sets any of them.
void check_smtp_auth(TableReader& r, const SmtpConfig& merged, const LoadContext& ctx);
void overlay_slg(TableReader& r, SlgConfig& out);
/// lost_after must not be shorter than latency_slo; checked when this table sets either.
void check_slg(TableReader& r, const SlgConfig& merged);

/// The login method keys of [[mailbox]], [smtp] and [[target]]: reads `auth` into
/// `out`; false when it is written but is not a method (reported), so that the checks
/// depending on it are skipped.
bool read_auth(TableReader& r, AuthMethod& out);
/// Whether `auth` is absent or names a method (without reporting anything).
bool auth_readable(TableReader& r);
/// With the table's merged values: an OAuth2 `auth` needs `oauth2` and refuses
/// `password_file`; auth = "password" refuses `oauth2`. A valid `oauth2` this table
/// writes is recorded for validate() to look up.
void check_login_method(TableReader& r, AuthMethod auth, const std::string& oauth2,
                        const LoadContext& ctx);
/// "xoauth2", ... as written in the config.
std::string_view auth_name(AuthMethod auth);

/// Reads a secret file named by `key` (already overlaid into `path`): resolves `path`
/// against the config directory and fills `content`, or reports "KEYPATH: reason".
void load_secret(TableReader& r, std::string_view key, Trim trim, std::string& path,
                 std::string& content, const LoadContext& ctx);
/// Resolves the file `path` named by `key` and reports it when unreadable.
void check_readable_file(TableReader& r, std::string_view key, std::string& path,
                         const LoadContext& ctx);
/// Resolves a ca_file `path` and reports it when unreadable.
void check_ca_file(TableReader& r, std::string& path, const LoadContext& ctx);

/// Checks across sections: unique names, references between sections, required
/// values that may come from either of two sections.
void validate(const Config& config, const SourceMap& sources, Diagnostics& diag);

}  // namespace mailcanary::config::detail
