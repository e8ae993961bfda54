#include "sasl_oauth.hpp"

#include <openssl/evp.h>

#include <vector>

#include "ascii.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::size_t kMaxSaid = 200;
constexpr int kMaxLines = 64;  // untagged lines before the verdict, at most

std::string base64(std::string_view in) {
  std::vector<unsigned char> out(4 * ((in.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
}

// RFC 5801 saslname: ',' and '=' escaped.
std::string saslname(std::string_view user) {
  std::string out;
  for (char c : user) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

// Writes `text` then CRLF; `secret`: with the stream's privacy off. False on failure.
bool send_line(mailstream* stream, const std::string& text, bool secret) {
  if (secret) {
    mailstream_set_privacy(stream, 0);
  }
  const std::string line = text + "\r\n";
  const bool ok =
      mailstream_write(stream, line.data(), line.size()) >= 0 && mailstream_flush(stream) != -1;
  if (secret) {
    mailstream_set_privacy(stream, 1);
  }
  return ok;
}

// The answer to an error challenge, which ends the exchange with the server's verdict.
std::string challenge_answer(config::AuthMethod method) {
  return method == config::AuthMethod::oauthbearer ? base64("\x01") : "";
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

SaslOutcome broken(std::string_view said) {
  return {SaslOutcome::Verdict::broken, printable_ascii(said, kMaxSaid)};
}

}  // namespace

std::string_view sasl_mechanism(config::AuthMethod method) {
  return method == config::AuthMethod::oauthbearer ? "OAUTHBEARER" : "XOAUTH2";
}

std::string sasl_initial_response(config::AuthMethod method, std::string_view user,
                                  std::string_view token) {
  std::string raw;
  if (method == config::AuthMethod::oauthbearer) {
    raw = "n,a=" + saslname(user) + ",\x01";
  } else {
    raw = "user=" + std::string(user) + "\x01";
  }
  raw += "auth=Bearer " + std::string(token) + "\x01\x01";
  return base64(raw);
}

MailboxError sasl_login_error(const std::string& label, const config::MailboxConfig& cfg,
                              const SaslOutcome& out, const std::string& cut) {
  std::string msg =
      label + ": login as " + cfg.user + " with " + std::string(sasl_mechanism(cfg.auth));
  const bool refused = cut.empty() && out.verdict == SaslOutcome::Verdict::refused;
  if (!cut.empty()) {
    msg += " failed: " + cut;
  } else if (refused) {
    msg += " refused; the server said: " + out.said;
  } else {
    msg += " failed: " + (out.said.empty() ? std::string("the connection broke")
                                           : "unexpected answer: " + out.said);
  }
  return MailboxError(msg, refused, refused);
}

MailboxError no_token_error(const std::string& label, const config::MailboxConfig& cfg,
                            const LoginToken& token) {
  return MailboxError(label + ": cannot log in as " + cfg.user + " with " +
                          std::string(sasl_mechanism(cfg.auth)) + ": " +
                          (token.error.empty() ? "no OAuth2 token" : token.error),
                      true);
}

SaslOutcome imap_sasl_login(mailstream* stream, MMAPString* buffer, std::string_view tag,
                            config::AuthMethod method, const std::string& initial_response,
                            bool sasl_ir) {
  const std::string command =
      std::string(tag) + " AUTHENTICATE " + std::string(sasl_mechanism(method));
  if (!send_line(stream, sasl_ir ? command + " " + initial_response : command, sasl_ir)) {
    return broken("");
  }
  bool response_sent = sasl_ir;
  bool challenge_answered = false;
  const std::string tagged = std::string(tag) + " ";
  for (int i = 0; i < kMaxLines; ++i) {
    const char* got = mailstream_read_line_remove_eol(stream, buffer);
    if (!got) {
      return broken("");
    }
    const std::string_view line(got);
    if (starts_with(line, "* ")) {
      continue;  // untagged data (a CAPABILITY, say)
    }
    if (starts_with(line, "+")) {
      if (!response_sent) {
        response_sent = true;
        if (!send_line(stream, initial_response, true)) {
          return broken("");
        }
      } else if (!challenge_answered) {
        challenge_answered = true;  // an error challenge: the verdict follows
        if (!send_line(stream, challenge_answer(method), false)) {
          return broken("");
        }
      } else {
        return broken(line);
      }
      continue;
    }
    if (starts_with(line, tagged)) {
      const std::string_view rest = line.substr(tagged.size());
      if (starts_with(rest, "OK")) {
        return {SaslOutcome::Verdict::ok, printable_ascii(rest, kMaxSaid)};
      }
      if (starts_with(rest, "NO") || starts_with(rest, "BAD")) {
        return {SaslOutcome::Verdict::refused, printable_ascii(rest, kMaxSaid)};
      }
    }
    return broken(line);
  }
  return broken("too many untagged lines");
}

SaslOutcome pop3_sasl_login(mailstream* stream, MMAPString* buffer, config::AuthMethod method,
                            const std::string& initial_response) {
  if (!send_line(stream, "AUTH " + std::string(sasl_mechanism(method)), false)) {
    return broken("");
  }
  bool response_sent = false;
  bool challenge_answered = false;
  for (int i = 0; i < 3; ++i) {
    const char* got = mailstream_read_line_remove_eol(stream, buffer);
    if (!got) {
      return broken("");
    }
    const std::string_view line(got);
    if (starts_with(line, "+OK")) {
      return {SaslOutcome::Verdict::ok, printable_ascii(line, kMaxSaid)};
    }
    if (starts_with(line, "-ERR")) {
      return {SaslOutcome::Verdict::refused, printable_ascii(line, kMaxSaid)};
    }
    if (!starts_with(line, "+")) {
      return broken(line);
    }
    if (!response_sent) {
      response_sent = true;
      if (!send_line(stream, initial_response, true)) {
        return broken("");
      }
    } else if (!challenge_answered) {
      challenge_answered = true;
      if (!send_line(stream, challenge_answer(method), false)) {
        return broken("");
      }
    } else {
      return broken(line);
    }
  }
  return broken("no verdict");
}

}  // namespace mailcanary::probes
