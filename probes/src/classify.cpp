#include "mailcanary/probes/classify.hpp"

namespace mailcanary::probes {
namespace {

std::string reply_detail(const SmtpReply& r) {
  return std::to_string(r.code) + (r.text.empty() ? "" : " " + r.text);
}

SmtpVerdict from_reply(const SmtpReply& r) {
  SmtpVerdict v;
  v.stage = r.stage;
  v.smtp_code = r.code;
  v.enhanced_code = r.enhanced_code;
  v.detail = reply_detail(r);
  if (r.stage == Stage::starttls) {
    v.cls = ResultClass::tls_error;  // STARTTLS refused while TLS was required
  } else if (r.stage == Stage::auth && r.code >= 500) {
    v.cls = ResultClass::auth_error;
  } else if (r.code >= 500) {
    v.cls = ResultClass::perm_fail;
  } else {
    v.cls = ResultClass::temp_fail;
  }
  return v;
}

}  // namespace

SmtpVerdict classify_smtp(Transport transport, const SmtpSession& session,
                          const std::string& transport_detail) {
  // A refusal from the server is the most precise evidence there is: libcurl reports a
  // 451 and a 550 at RCPT with the same error code, only the reply tells them apart.
  if (const auto& failure = session.failure_reply(); failure && transport != Transport::completed) {
    return from_reply(*failure);
  }
  // The server took the message (2xx after the end of data): whatever went wrong
  // afterwards, at QUIT, does not make the message undelivered.
  if (const auto& body = session.body_reply(); body && body->code < 300) {
    transport = Transport::completed;
  }
  // Only a reply that decided the class is reported; a timeout, a dropped connection or
  // a line that is not SMTP has none.
  SmtpVerdict v;
  v.stage = session.stage();
  switch (transport) {
    case Transport::completed:
      v.accepted = true;
      v.stage = Stage::done;
      if (const auto& body = session.body_reply()) {
        v.smtp_code = body->code;
        v.enhanced_code = body->enhanced_code;
        v.detail = reply_detail(*body);
      }
      return v;
    case Transport::connect_failed:
    case Transport::connect_timeout:
      v.cls = ResultClass::unreachable;
      v.stage = Stage::connect;
      break;
    case Transport::timeout:
      v.cls = session.connected() ? ResultClass::timeout : ResultClass::unreachable;
      if (!session.connected()) {
        v.stage = Stage::connect;
      }
      break;
    case Transport::tls_failed:
      v.cls = ResultClass::tls_error;
      if (v.stage != Stage::starttls) {
        v.stage = session.connected() && v.stage != Stage::banner ? v.stage : Stage::connect;
      }
      break;
    case Transport::auth_failed:
      v.cls = ResultClass::auth_error;
      v.stage = Stage::auth;
      break;
    case Transport::closed:
    case Transport::malformed:
    case Transport::refused:
    case Transport::other:
      v.cls = ResultClass::protocol_error;
      break;
  }
  // A line that is not SMTP explains whatever went wrong after it (a timeout waiting
  // for a real reply, a closed connection).
  if (session.saw_garbage() && v.cls != ResultClass::unreachable &&
      v.cls != ResultClass::tls_error) {
    v.cls = ResultClass::protocol_error;
    v.detail = "not an SMTP reply: \"" + session.garbage_sample() + "\"";
    return v;
  }
  if (transport == Transport::closed) {
    v.detail = "connection closed by the server during " + std::string(to_string(v.stage));
  } else {
    v.detail = transport_detail;
  }
  return v;
}

bool is_retryable(ResultClass c) {
  switch (c) {
    case ResultClass::temp_fail:
    case ResultClass::unreachable:
    case ResultClass::timeout:
    case ResultClass::protocol_error:
      return true;
    default:
      return false;
  }
}

}  // namespace mailcanary::probes

namespace mailcanary::probes {

DeliveryVerdict classify_delivery(Arrival arrival, double delivery_seconds,
                                  std::chrono::milliseconds latency_slo) {
  switch (arrival) {
    case Arrival::found: {
      const double slo = std::chrono::duration<double>(latency_slo).count();
      return {delivery_seconds > slo ? ResultClass::late : ResultClass::ok, Stage::done};
    }
    case Arrival::found_in_junk:
      return {ResultClass::junked, Stage::done};
    case Arrival::not_found:
      return {ResultClass::lost, Stage::mailbox};
    case Arrival::bounced:
      return {ResultClass::bounced, Stage::mailbox};
    case Arrival::reader_failed:
      return {ResultClass::mailbox_error, Stage::mailbox};
  }
  return {ResultClass::mailbox_error, Stage::mailbox};
}

}  // namespace mailcanary::probes
