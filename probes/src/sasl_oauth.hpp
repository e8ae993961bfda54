// Private: logging in to IMAP and POP3 with an OAuth2 access token, SASL XOAUTH2 or
// OAUTHBEARER (RFC 7628), spoken on libetpan's stream directly: libetpan 1.9 knows
// XOAUTH2 for IMAP only, and its POP3 AUTH needs Cyrus SASL plug-ins.
//
// The token is written with the stream's privacy flag off (libetpan's loggers do not see
// it). A refusal's error challenge is answered as each mechanism asks (XOAUTH2: an empty
// response; OAUTHBEARER: a single %x01), so the server ends the exchange with its verdict.
#pragma once

#include <libetpan/libetpan.h>

#include <string>
#include <string_view>

#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/oauth2.hpp"

namespace mailcanary::probes {

struct SaslOutcome {
  enum class Verdict { ok, refused, broken } verdict = Verdict::broken;
  std::string said;  // the server's last line, printable and bounded ("" if none)
};

/// Why a login with a token did not work, as the reader's MailboxError: refused (the
/// token's fault: permanent and token_refused) or broken (`cut`: why the connection's
/// guard cut it, "" if it did not). `label`: "imap HOST:PORT".
MailboxError sasl_login_error(const std::string& label, const config::MailboxConfig& cfg,
                              const SaslOutcome& out, const std::string& cut);

/// A login that cannot start: no token (`token.error` says why).
MailboxError no_token_error(const std::string& label, const config::MailboxConfig& cfg,
                            const LoginToken& token);

/// IMAP AUTHENTICATE with `tag`, the initial response on the command line when
/// `sasl_ir` (the server offers SASL-IR), else after the server's "+".
SaslOutcome imap_sasl_login(mailstream* stream, MMAPString* buffer, std::string_view tag,
                            config::AuthMethod method, const std::string& initial_response,
                            bool sasl_ir);

/// POP3 AUTH (RFC 5034): the command, the server's "+", then the response on its own
/// line (the form Microsoft 365 documents; Gmail and Dovecot take it too).
SaslOutcome pop3_sasl_login(mailstream* stream, MMAPString* buffer, config::AuthMethod method,
                            const std::string& initial_response);

}  // namespace mailcanary::probes
