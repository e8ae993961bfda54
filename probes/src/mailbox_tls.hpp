// Private: certificate verification for the mailbox readers.
//
// Debian's libetpan is built with GnuTLS and does not verify the server's certificate at
// all. The readers take the chain the server presented (DER, leaf first) after the
// handshake and before sending any credentials, and check it here with OpenSSL.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailcanary::probes {

/// True if `host` is an IPv4 or IPv6 address literal (no brackets), not a name.
bool is_ip_literal(std::string_view host);

/// Verifies `der_chain` (the peer's certificates, leaf first; the rest are untrusted
/// intermediates) for `host`: trusted by `ca_file` (PEM bundle) or, when empty, the
/// system's default store; valid at `at` (default: now); for TLS servers; and naming
/// `host` (a DNS name checked against the subjectAltName/CN, an IP literal against the IP
/// SANs). Returns "" when it verifies, else the reason ("hostname mismatch", "certificate
/// has expired", ...).
std::string verify_certificate_chain(
    const std::vector<std::string>& der_chain, const std::string& host, const std::string& ca_file,
    std::optional<std::chrono::system_clock::time_point> at = std::nullopt);

}  // namespace mailcanary::probes
