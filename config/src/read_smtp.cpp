#include "endpoint_syntax.hpp"
#include "sections.hpp"
#include "text.hpp"

namespace mailcanary::config::detail {
namespace {

constexpr int kMaxPort = 65535;
constexpr int kMaxAttempts = 10;

bool is_helo_name(const std::string& helo) {
  if (helo.size() > 2 && helo.front() == '[' && helo.back() == ']') {
    return is_ip_address(helo.substr(1, helo.size() - 2));
  }
  return is_valid_hostname(helo);
}

}  // namespace

void overlay_smtp(TableReader& r, SmtpConfig& out, const LoadContext& ctx) {
  if (r.read("helo", out.helo) && !is_helo_name(out.helo)) {
    r.error("helo", in_quotes(out.helo) + " is not a host name or [address] literal");
  }
  if (r.read("from", out.from) && !is_mail_address(out.from)) {
    r.error("from", in_quotes(out.from) + " is not a mail address like \"canary@example.test\"");
  }
  r.read("port", out.port, 1, kMaxPort);
  r.read("tls", out.tls,
         {{"none", TlsMode::none},
          {"starttls", TlsMode::starttls},
          {"implicit", TlsMode::implicit},
          {"opportunistic", TlsMode::opportunistic}});
  r.read("tls_verify", out.tls_verify);
  if (r.read("ca_file", out.ca_file)) {
    check_ca_file(r, out.ca_file, ctx);
  }
  r.read("user", out.user);
  if (read_auth(r, out.auth) && r.has("auth")) {
    // This table chooses the method: the other method's [smtp] credentials are not
    // inherited.
    if (out.auth == AuthMethod::password) {
      out.oauth2.clear();
    } else {
      out.password_file.clear();
      out.password.clear();
    }
  }
  r.read("oauth2", out.oauth2);
  if (r.read("password_file", out.password_file) && out.auth == AuthMethod::password) {
    load_secret(r, "password_file", Trim::trailing_newlines, out.password_file, out.password, ctx);
  }
  r.read("timeout", out.timeout, DurationRule::positive);
  r.read("attempts", out.attempts, 1, kMaxAttempts);
  r.read("retry_backoff", out.retry_backoff, DurationRule::non_negative);
}

void check_smtp_auth(TableReader& r, const SmtpConfig& merged, const LoadContext& ctx) {
  if (!auth_readable(r)) {
    return;
  }
  // An empty user means no AUTH; a target may set it to drop the [smtp] credentials.
  if (merged.auth == AuthMethod::password) {
    if ((r.has("user") || r.has("password_file") || r.has("auth")) && !merged.user.empty() &&
        merged.password_file.empty()) {
      r.error_here("missing required key 'password_file' (user is set)");
    }
    if (r.has("password_file") && merged.user.empty()) {
      r.error_here("missing required key 'user' (password_file is set)");
    }
  } else if ((r.has("auth") || r.has("oauth2")) && merged.user.empty()) {
    r.error_here("missing required key 'user' (auth = " + in_quotes(auth_name(merged.auth)) + ")");
  }
  check_login_method(r, merged.auth, merged.oauth2, ctx);
}

void read_smtp(TableReader& r, SmtpConfig& out, const LoadContext& ctx) {
  overlay_smtp(r, out, ctx);
  r.reject_unknown();
  check_smtp_auth(r, out, ctx);
}

}  // namespace mailcanary::config::detail
