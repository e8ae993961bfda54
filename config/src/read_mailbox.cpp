#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

int default_port(MailboxProtocol protocol, TlsMode tls) {
  constexpr int kImap = 143;
  constexpr int kImaps = 993;
  constexpr int kPop3 = 110;
  constexpr int kPop3s = 995;
  const bool implicit = tls == TlsMode::implicit;
  if (protocol == MailboxProtocol::imap) {
    return implicit ? kImaps : kImap;
  }
  return implicit ? kPop3s : kPop3;
}

}  // namespace

MailboxConfig read_mailbox(TableReader& r, const LoadContext& ctx) {
  MailboxConfig m;
  r.require("name");
  const bool has_name = r.read("name", m.name);
  r.read("protocol", m.protocol,
         {{"imap", MailboxProtocol::imap}, {"pop3", MailboxProtocol::pop3}});
  r.read(
      "tls", m.tls,
      {{"none", TlsMode::none}, {"starttls", TlsMode::starttls}, {"implicit", TlsMode::implicit}});
  r.require("server");
  std::string server;
  const bool has_server = r.read("server", server);
  const bool has_ca_file = r.read("ca_file", m.ca_file);
  r.read("tls_verify", m.tls_verify);
  r.require("user");
  r.read("user", m.user);
  const bool auth_ok = read_auth(r, m.auth);
  r.read("oauth2", m.oauth2);
  const bool has_password = r.read("password_file", m.password_file);
  r.read("folder", m.folder);
  r.read("idle", m.idle);
  r.read("poll_interval", m.poll_interval, DurationRule::positive);
  r.read("junk_folders", m.junk_folders);
  r.read("delete", m.delete_found);
  r.reject_unknown();
  if (auth_ok && m.auth == AuthMethod::password && !r.has("password_file")) {
    r.error_here("missing required key 'password_file'");
  }

  StringItem name{m.name, r.where("name"), r.key_path("name")};
  if (has_name && m.name.empty()) {
    r.error("name", "must not be empty");
    name.value.clear();
  }
  ctx.sources.mailbox_names.push_back(std::move(name));
  if (has_server) {
    if (auto endpoint = parse_endpoint(server, default_port(m.protocol, m.tls))) {
      m.server = *endpoint;
    } else {
      r.error("server", in_quotes(server) + " is not a valid host:port");
    }
  }
  if (r.has("user") && m.user.empty()) {
    r.error("user", "must not be empty");
  }
  if (m.protocol == MailboxProtocol::pop3) {
    for (std::string_view key : {"folder", "idle", "junk_folders"}) {
      if (r.has(key)) {
        r.error(key, "only valid with protocol = \"imap\"");
      }
    }
  }
  if (r.has("folder") && m.folder.empty()) {
    r.error("folder", "must not be empty");
  }
  if (has_ca_file) {
    check_ca_file(r, m.ca_file, ctx);
  }
  if (auth_ok) {
    check_login_method(r, m.auth, m.oauth2, ctx);
  }
  if (has_password && m.auth == AuthMethod::password) {
    load_secret(r, "password_file", Trim::trailing_newlines, m.password_file, m.password, ctx);
  }
  return m;
}

}  // namespace mailcanary::config::detail
