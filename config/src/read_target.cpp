#include <algorithm>

#include "endpoint_syntax.hpp"
#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

void check_name(TableReader& r, const std::string& name) {
  if (name.empty()) {
    r.error("name", "must not be empty");
  } else if (!std::all_of(name.begin(), name.end(), is_name_char)) {
    r.error("name", in_quotes(name) + " may contain only letters, digits, '_', '.' and '-'");
  }
}

// Exactly one mode: MX (domain) or VIP (members, optionally vip).
void check_mode(TableReader& r) {
  const bool mx = r.has("domain");
  const bool vip = r.has("vip") || r.has("members");
  if (mx && vip) {
    r.error_here("set either domain (MX mode) or vip/members (VIP mode), not both");
  } else if (!mx && !vip) {
    r.error_here("set domain (MX mode) or members (VIP mode)");
  } else if (r.has("vip") && !r.has("members")) {
    r.error_here("missing required key 'members' (vip is set)");
  }
}

void read_members(TableReader& r, const std::vector<StringItem>& items, TargetConfig& t) {
  if (items.empty()) {
    r.error("members", "must not be empty");
  }
  for (const auto& item : items) {
    const auto endpoint = parse_endpoint(item.value, t.smtp.port);
    if (!endpoint) {
      r.diag().add(item.where,
                   item.path + ": " + in_quotes(item.value) + " is not a valid host:port");
      continue;
    }
    const bool duplicate =
        std::any_of(t.member_endpoints.begin(), t.member_endpoints.end(),
                    [&](const Endpoint& e) { return e.to_string() == endpoint->to_string(); });
    if (duplicate) {
      r.diag().add(item.where, item.path + ": duplicate member " + in_quotes(item.value));
      continue;
    }
    t.members.push_back(item.value);
    t.member_endpoints.push_back(*endpoint);
  }
}

}  // namespace

TargetConfig read_target(TableReader& r, const Config& defaults, const LoadContext& ctx) {
  TargetConfig t;
  t.where = r.where();
  t.smtp = defaults.smtp;
  t.slg = defaults.slg;
  r.require("name");
  const bool has_name = r.read("name", t.name);
  const bool has_domain = r.read("domain", t.domain);
  std::string vip;
  const bool has_vip = r.read("vip", vip);
  const auto members = r.string_items("members");
  const bool has_host = r.read("host", t.host);
  r.require("rcpt");
  const bool has_rcpt = r.read("rcpt", t.rcpt);
  r.require("mailbox");
  const bool has_mailbox = r.read("mailbox", t.mailbox);
  const bool has_bounce_mailbox = r.read("bounce_mailbox", t.bounce_mailbox);
  Duration interval{};
  if (r.read("interval", interval, DurationRule::positive)) {
    t.interval = interval;
  }
  overlay_smtp(r, t.smtp, ctx);
  const toml::table* slg_table = r.table("slg");
  std::optional<TableReader> slg;
  if (slg_table) {
    slg.emplace(*slg_table, r.key_path("slg"), r.diag());
    overlay_slg(*slg, t.slg);
    slg->reject_unknown();
  }
  r.reject_unknown();

  if (has_name) {
    check_name(r, t.name);
  }
  check_mode(r);
  if (has_domain && !is_valid_hostname(t.domain)) {
    r.error("domain", in_quotes(t.domain) + " is not a valid domain name");
  }
  if (has_vip) {
    if (auto endpoint = parse_endpoint(vip, t.smtp.port)) {
      t.vip = *endpoint;
    } else {
      r.error("vip", in_quotes(vip) + " is not a valid host:port");
    }
  }
  if (members) {
    read_members(r, *members, t);
  }
  if (has_host && !is_valid_hostname(t.host)) {
    r.error("host", in_quotes(t.host) + " is not a valid host name");
  }
  if (has_rcpt && !is_mail_address(t.rcpt)) {
    r.error("rcpt", in_quotes(t.rcpt) + " is not a mail address like \"canary@example.test\"");
  }
  check_smtp_auth(r, t.smtp, ctx);
  if (slg) {
    check_slg(*slg, t.slg);
  }

  SourceMap::Target source{
      {t.name, r.where("name"), r.key_path("name")},
      {t.mailbox, r.where("mailbox"), r.key_path("mailbox")},
      {t.bounce_mailbox, r.where("bounce_mailbox"), r.key_path("bounce_mailbox")}};
  if (!has_mailbox) {
    source.mailbox.value.clear();
  }
  if (!has_bounce_mailbox) {
    source.bounce_mailbox.value.clear();
  }
  ctx.sources.targets.push_back(std::move(source));
  return t;
}

}  // namespace mailcanary::config::detail
