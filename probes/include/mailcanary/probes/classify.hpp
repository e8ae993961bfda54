// Pure classification of an SMTP attempt: what the transport reported plus what the
// server said becomes a result class, the stage it belongs to, and the evidence.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "mailcanary/probes/result.hpp"
#include "mailcanary/probes/smtp_session.hpp"

namespace mailcanary::probes {

/// What the transport layer saw, independent of libcurl's error codes.
enum class Transport {
  completed,        // the server accepted the message (250 after end of data)
  connect_failed,   // refused, no route, host unreachable
  connect_timeout,  // the TCP connection did not come up in time
  timeout,          // connected, then waiting for the server exceeded the timeout
  tls_failed,       // handshake or verification failed, or STARTTLS unavailable
  auth_failed,      // the server rejected the login
  closed,           // the server closed the connection mid-conversation
  refused,          // the transport stopped because of a reply >= 400
  malformed,        // the transport saw something that is not SMTP
  other,            // anything else (local errors)
};

struct SmtpVerdict {
  bool accepted = false;  // true: class is not yet known, the mailbox decides
  ResultClass cls = ResultClass::ok;
  Stage stage = Stage::done;
  int smtp_code = 0;
  std::string enhanced_code;
  std::string detail;
};

/// Classifies one attempt. `transport_detail` is the transport's own error text, used
/// in `detail` when the server said nothing useful.
SmtpVerdict classify_smtp(Transport transport, const SmtpSession& session,
                          const std::string& transport_detail);

/// Whether another attempt may help: 4xx, unreachable, timeout, closed connections.
/// A 5xx is permanent and never retried.
bool is_retryable(ResultClass c);

}  // namespace mailcanary::probes

namespace mailcanary::probes {

/// What the mailbox side learnt about an accepted canary.
enum class Arrival { found, found_in_junk, not_found, bounced, reader_failed };

struct DeliveryVerdict {
  ResultClass cls = ResultClass::ok;
  Stage stage = Stage::done;
};

/// The class of an accepted canary once the mailbox has been read: ok or late by
/// `latency_slo`, junked, lost, or mailbox_error (which says nothing of the target).
DeliveryVerdict classify_delivery(Arrival arrival, double delivery_seconds,
                                  std::chrono::milliseconds latency_slo);

}  // namespace mailcanary::probes
