// send_smtp(): the attempts of one canary, and the OAuth2 token each one logs in with.
#include "mailcanary/probes/smtp.hpp"

namespace mailcanary::probes {
namespace {

bool uses_token(const SmtpRequest& req) {
  return !req.smtp.user.empty() && req.smtp.auth != config::AuthMethod::password;
}

SmtpAttempt no_token(const std::string& why) {
  SmtpAttempt a;
  a.verdict.cls = ResultClass::auth_error;
  a.verdict.stage = Stage::token;
  a.verdict.detail = why;
  return a;
}

// Sets req.bearer from the source; false (and `*failed` says why) when there is none.
bool take_token(SmtpRequest& req, SmtpAttempt* failed) {
  if (!req.tokens) {
    *failed = no_token("no OAuth2 token source for [[oauth2]] " + req.smtp.oauth2);
    return false;
  }
  try {
    req.bearer = req.tokens->token();
    return true;
  } catch (const TokenError& e) {
    *failed = no_token(e.what());
    return false;
  }
}

// One conversation, with a new token once if the server refuses the one it had.
SmtpAttempt converse(SmtpRequest& req) {
  SmtpAttempt failed;
  if (uses_token(req) && !take_token(req, &failed)) {
    return failed;
  }
  SmtpAttempt a = send_smtp_once(req);
  if (!uses_token(req) || a.gave_up || a.verdict.cls != ResultClass::auth_error ||
      a.verdict.stage != Stage::auth || a.verdict.smtp_code == 0) {
    return a;
  }
  const std::string refused = req.bearer;
  req.tokens->rejected(refused);
  if (!take_token(req, &failed)) {
    return failed;
  }
  return req.bearer == refused ? a : send_smtp_once(req);
}

}  // namespace

SmtpOutcome send_smtp(const SmtpRequest& request, Clock& clock, Random& random) {
  SmtpRequest req = request;
  SmtpOutcome out;
  const int max_attempts = std::max(1, req.smtp.attempts);
  for (int n = 1; n <= max_attempts; ++n) {
    if (n > 1) {
      const auto delay = retry_delay(n, req.smtp.retry_backoff, random.uniform01());
      if (req.give_up_at && clock.now() + delay >= *req.give_up_at) {
        break;  // the last verdict stands: no time is left for another conversation
      }
      out.earlier.push_back(out.last.verdict);
      clock.sleep_for(delay);
    }
    out.last = converse(req);
    out.attempts = n;
    out.gave_up = out.last.gave_up;
    if (out.last.verdict.accepted || !is_retryable(out.last.verdict.cls)) {
      break;
    }
  }
  return out;
}

}  // namespace mailcanary::probes
