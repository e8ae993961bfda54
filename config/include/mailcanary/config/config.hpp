// The validated configuration of mailcanary (see README "Configuration").
//
// load_config_file() parses TOML with toml++, applies defaults, overlays the file,
// rejects unknown keys and wrong types, then runs cross-field checks. Every error
// names FILE:LINE:COL and the key path, array indexes counted from 0
// (`target[1].members[2]: ...`); all errors of a file are reported, sorted by position.
// A Config returned without errors is complete: every default is filled in, [smtp]/[slg]
// defaults are already merged into each target, secrets are read from their files.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailcanary::config {

using Duration = std::chrono::milliseconds;

enum class TlsMode { none, starttls, implicit, opportunistic };
enum class MailboxProtocol { imap, pop3 };

/// A host (name, IPv4 or IPv6 without brackets) and a port.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  /// "host:port", with brackets around an IPv6 host.
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

/// One place in a config file, for error messages.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
};

struct ConfigError {
  Location where;
  std::string message;
  /// "FILE:LINE:COL: message" ("FILE: message" when no position is known, line 0).
  std::string to_string() const;
};

struct AgentConfig {
  Endpoint listen{"127.0.0.1", 9478};
  std::string state_dir = "/var/lib/mailcanary";
  Duration interval = std::chrono::seconds(60);
  int concurrency = 32;
  std::string hmac_key_file;  // required
  std::string hmac_key;       // the file's content (secret; never printed)
  std::string instance;       // empty: none
  /// histograms = "member" (default: latency and stage histograms per member, as in
  /// DESIGN.md) or "target" (per target, no member label: for thousands of members).
  bool per_member_histograms = true;
  int shard_index = 1;  // shard = "i/n": i in 1..n
  int shard_count = 1;
};

/// One account of [web] basic_auth_users_file: a user and its crypt(3) hash (bcrypt
/// "$2y$"/"$2b$" as written by `htpasswd -B`, or SHA-crypt "$6$"/"$5$").
struct WebUser {
  std::string name;
  std::string hash;  // secret-ish: never printed
};

/// [web]: how the HTTP endpoints are served. Takes effect at start (not on SIGHUP).
struct WebConfig {
  std::string tls_cert_file;          // PEM certificate (chain); set with tls_key_file: HTTPS only
  std::string tls_key_file;           // PEM private key
  std::string basic_auth_users_file;  // empty: no authentication
  std::vector<WebUser> basic_auth_users;
  /// /health/T/M for a member with no result yet: UP (default, a fresh agent never
  /// drains a pool) or DOWN.
  bool unknown_health_up = true;
  /// POST /-/reload reloads the config (as SIGHUP). Off by default, as Prometheus's
  /// --web.enable-lifecycle: anyone who reaches the port could use it.
  bool reload_endpoint = false;
  /// HAProxy's agent check (agent-check): a TCP port answering "up ready", "up drain" or
  /// "down" for the member named in the request line. Unset: off.
  std::optional<Endpoint> agent_check_listen;
  /// What the agent check answers for a member DOWN: drain (true, default: sessions
  /// finish, no new ones) or down (false: cut, as the HTTP check does).
  bool agent_check_drain = true;
  /// Where people reach the endpoints ("https://probe-eu1.example.net:9478"), for the
  /// links in pushed alerts (generatorURL). Empty: this host's name and the port.
  std::string external_url;
  bool tls() const { return !tls_cert_file.empty(); }
};

/// [log]: what the agent writes to stderr (the journal under systemd).
enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, logfmt, json };
struct LogConfig {
  LogLevel level = LogLevel::info;  // info: state changes and a periodic summary
  LogFormat format = LogFormat::text;
  Duration summary_interval = std::chrono::hours(1);  // 0: no summary lines
};

struct DnsConfig {
  std::vector<Endpoint> servers;  // empty: the system resolver configuration
  Duration timeout = std::chrono::seconds(5);
};

/// How a login (IMAP, POP3 or SMTP AUTH) proves itself: with the password of
/// password_file, or with an OAuth2 access token from the [[oauth2]] section named by
/// `oauth2`, sent with SASL XOAUTH2 or OAUTHBEARER (RFC 7628).
enum class AuthMethod { password, xoauth2, oauthbearer };

struct SmtpConfig {
  std::string helo = "localhost";
  std::string from;  // required (in [smtp] or in every target)
  int port = 25;
  TlsMode tls = TlsMode::none;
  bool tls_verify = true;
  std::string ca_file;
  std::string user;  // empty: no AUTH (auth and oauth2 then unused)
  std::string password_file;
  std::string password;  // the file's content, trailing newline removed (secret)
  AuthMethod auth = AuthMethod::password;
  std::string oauth2;  // name of an [[oauth2]]; set exactly when auth is not password
  Duration timeout = std::chrono::seconds(30);
  int attempts = 3;
  Duration retry_backoff = std::chrono::seconds(2);
};

struct MailboxConfig {
  std::string name;
  MailboxProtocol protocol = MailboxProtocol::imap;
  Endpoint server;
  TlsMode tls = TlsMode::none;  // none | starttls | implicit
  std::string ca_file;
  bool tls_verify = true;
  std::string user;
  std::string password_file;  // set exactly when auth is password
  std::string password;       // secret
  AuthMethod auth = AuthMethod::password;
  std::string oauth2;  // name of an [[oauth2]]; set exactly when auth is not password
  std::string folder = "INBOX";
  bool idle = true;
  Duration poll_interval = std::chrono::seconds(5);
  std::vector<std::string> junk_folders;
  bool delete_found = true;  // key: delete
  /// Not a key: set by the agent to the longest lost_after of the targets reading this
  /// mailbox. A canary of ours older than that which nobody waits for (left by an earlier
  /// run) is removed and counted. 0: never.
  Duration leftover_after{0};

  bool operator==(const MailboxConfig&) const = default;
};

/// [[oauth2]]: where a login's OAuth2 access tokens come from (client credentials, or a
/// refresh token when refresh_token_file is set); probes::TokenSource fetches them.
struct OAuth2Config {
  std::string name;
  std::string token_url;  // http:// or https://
  std::string client_id;
  std::string client_secret_file;
  std::string client_secret;  // the file's content, trailing newline removed (secret)
  /// Empty: grant_type=client_credentials. Otherwise the refresh token's file, which the
  /// token client reads and writes back (the config neither reads nor requires it; its
  /// folder must exist).
  std::string refresh_token_file;
  std::string scope;  // empty: none sent

  bool operator==(const OAuth2Config&) const = default;
};

struct SlgConfig {
  Duration latency_slo = std::chrono::seconds(60);
  Duration lost_after = std::chrono::minutes(10);
  Duration outage_window = std::chrono::minutes(15);
  int recover_after = 2;
  int health_fail_after = 2;
  bool late_is_failure = false;
  // Error-budget (burn-rate) alarms, agent/core/burn.hpp.
  double objective = 0.995;  // the share of probes that must be good ("99.5%")
  double burn_rate = 14.4;   // 0: no burn-rate alarms
  Duration burn_long_window = std::chrono::hours(1);
  Duration burn_short_window = std::chrono::minutes(5);
  int burn_min_results = 10;  // in the long window, before a ratio is judged
};

struct MaintenanceWindow {
  Location where;
  std::vector<std::string> targets;  // names, or "*"
  // Absolute window (both set) ...
  std::optional<std::chrono::sys_seconds> start;
  std::optional<std::chrono::sys_seconds> end;
  // ... or a weekly one: weekday 0=Sunday..6, minutes after midnight, in time_zone.
  std::optional<int> weekly_weekday;
  int weekly_minute = 0;
  Duration duration{0};
  std::string time_zone = "UTC";
};

struct AlertmanagerConfig {
  std::vector<std::string> urls;
  /// The runbook_url annotation of pushed alerts (the README's MailFlowOutage runbook
  /// where you publish it); empty: none.
  std::string runbook_url;
};

struct TargetConfig {
  Location where;
  std::string name;
  // MX mode: domain set. VIP mode: vip and members set.
  std::string domain;
  std::optional<Endpoint> vip;
  std::vector<std::string> members;        // as written in the config
  std::vector<Endpoint> member_endpoints;  // parsed, same order as members
  std::string host;  // EHLO target naming / TLS SNI / verification; empty: the address
  std::string rcpt;
  std::string mailbox;  // name of a [[mailbox]]
  /// Name of the [[mailbox]] receiving the envelope sender's mail, where delivery status
  /// notifications (bounces) for canaries arrive; empty: bounces are not looked for.
  std::string bounce_mailbox;
  std::optional<Duration> interval;  // empty: [agent] interval
  SmtpConfig smtp;                   // [smtp] defaults with the target's own keys overlaid
  SlgConfig slg;                     // [slg] defaults with [target.slg] overlaid
  bool is_mx_mode() const { return !domain.empty(); }
};

struct Config {
  std::string path;
  AgentConfig agent;
  WebConfig web;
  LogConfig log;
  DnsConfig dns;
  SmtpConfig smtp;  // the defaults as written in [smtp]
  std::vector<MailboxConfig> mailboxes;
  std::vector<OAuth2Config> oauth2;
  SlgConfig slg;
  std::vector<MaintenanceWindow> maintenance;
  AlertmanagerConfig alertmanager;
  std::vector<TargetConfig> targets;

  const MailboxConfig* find_mailbox(const std::string& name) const;
  const TargetConfig* find_target(const std::string& name) const;
  const OAuth2Config* find_oauth2(const std::string& name) const;
};

struct LoadResult {
  std::optional<Config> config;  // set when errors is empty
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty() && config.has_value(); }
};

/// Reads and validates a config file. Relative file paths inside it (password_file,
/// hmac_key_file, ca_file, state_dir, client_secret_file, refresh_token_file) are taken
/// relative to the file's directory.
LoadResult load_config_file(const std::string& path);

/// Same, from text; `path` is used in error messages and to resolve relative paths.
LoadResult load_config_string(const std::string& text, const std::string& path);

/// Reads a [web] basic_auth_users_file: "user:hash" lines (htpasswd -B), blank lines and
/// '#' comments skipped. nullopt with `errors` ("PATH line N: why", never a hash) when
/// the file cannot be read, has a bad line, or has no user.
std::optional<std::vector<WebUser>> read_web_users(const std::string& path,
                                                   std::vector<std::string>& errors);

/// Same, from the file's text (`path` only names it in errors).
std::optional<std::vector<WebUser>> parse_web_users(std::string_view text, const std::string& path,
                                                    std::vector<std::string>& errors);

/// Parses "500ms", "30s", "10m", "2h", "1d" (also combined, "1h30m"). nullopt if invalid.
/// Combined units must go from larger to smaller, each at most once; no sign, no
/// fraction, no spaces.
std::optional<Duration> parse_duration(const std::string& text);

/// The inverse of parse_duration: "1h30m", "500ms", "0s".
std::string format_duration(Duration d);

/// Parses "host:port", "[v6]:port", or a bare host/IPv4 (port = default_port).
/// The port must be 1..65535; a default_port outside that range (e.g. 0) makes the
/// port required. A bare IPv6 address without brackets is accepted as a host without
/// port. IPv4 literals must be valid; names follow host name syntax.
std::optional<Endpoint> parse_endpoint(const std::string& text, int default_port);

}  // namespace mailcanary::config
