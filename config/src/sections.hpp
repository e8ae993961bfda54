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
  std::vector<StringItem> mailbox_names;                     // one per [[mailbox]]
  std::vector<Target> targets;                               // one per [[target]]
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
/// `defaults` supplies the [smtp] and [slg] values the target's own keys override.
TargetConfig read_target(TableReader& r, const Config& defaults, const LoadContext& ctx);
MaintenanceWindow read_maintenance(TableReader& r, const LoadContext& ctx);

/// The [smtp] keys, for [smtp] itself and for a [[target]] overriding them.
void overlay_smtp(TableReader& r, SmtpConfig& out, const LoadContext& ctx);
/// user and password_file go together; checked when this table sets either.
void check_smtp_auth(TableReader& r, const SmtpConfig& merged);
void overlay_slg(TableReader& r, SlgConfig& out);
/// lost_after must not be shorter than latency_slo; checked when this table sets either.
void check_slg(TableReader& r, const SlgConfig& merged);

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
