// Private: the connection under both mailbox readers, on top of libetpan's streams.
//
//   open_mailbox_stream()  TCP connect bounded by a timeout; implicit TLS (with SNI) and
//                          our own certificate check when configured; the guard installed.
//   finish_starttls()      after libetpan's STARTTLS/STLS swapped the stream for a TLS
//                          one: the certificate check, the guard installed again.
//   guard_failure()        why the guard cut the connection (for the error message).
//
// The guard (ResponseGuard) sits between libetpan and the socket or TLS layer as a
// mailstream_low driver of its own, so every byte libetpan reads passes through it.
#pragma once

#include <libetpan/libetpan.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "mailbox_tls_guard.hpp"
#include "mailcanary/config/config.hpp"
#include "socket_watchdog.hpp"

namespace mailcanary::probes {

struct MailboxLink {
  const config::MailboxConfig* cfg = nullptr;
  std::string label;                    // "imap 127.0.0.1:1993": prefix of every error
  std::chrono::seconds io_timeout{10};  // connect, handshake, each wait for bytes
  ResponseGuard::Limits limits;
  /// Counts the command lines written (not IMAP's "DONE" that ends an IDLE), when set;
  /// owned by the reader, it outlives its sessions.
  std::uint64_t* commands = nullptr;
};

/// The link of a reader for `cfg` (which must outlive it): errors prefixed with
/// "<protocol> host:port", an I/O timeout of poll_interval + 10 s, answers of at most
/// 4 MiB, each within max(20 s, 2 x the I/O timeout); for IMAP (`imap` set) the shape
/// of each answer within those limits, for POP3 at most 5,000 lines per answer and the
/// shape of its answers (message numbers 1 to 5,000 in listings).
MailboxLink make_mailbox_link(const config::MailboxConfig& cfg, const std::string& protocol,
                              std::optional<ImapShape::Limits> imap);

/// Connects to link.cfg->server: plain, or TLS right away for tls = "implicit" (the
/// certificate checked before anything is read). Throws MailboxError. The stream belongs
/// to the caller (hand it to mailimap_connect / mailpop3_connect).
mailstream* open_mailbox_stream(const MailboxLink& link);

/// Tests and fuzzers only: while set (not null), open_mailbox_stream() takes the stream
/// from `opener` instead of connecting, then installs the guard as usual, so a reader
/// runs against a scripted server in memory (with tls = "none": no handshake happens).
/// Not thread-safe: set it before any reader runs.
using MailboxStreamOpener = mailstream* (*)(const MailboxLink& link);
void set_mailbox_stream_opener_for_tests(MailboxStreamOpener opener);

/// For libetpan's *_with_callback TLS functions, with the MailboxLink as data: sets SNI
/// when the server is named by a host name.
void mailbox_tls_callback(struct mailstream_ssl_context* ctx, void* link);

/// When a TLS handshake started now must be done (2 x the I/O timeout: libetpan's own
/// timeout applies to each wait, so a handshake dripped byte by byte would never end),
/// and that bound as text ("20 s").
SocketWatchdog::TimePoint handshake_deadline(const MailboxLink& link);
std::string handshake_seconds(const MailboxLink& link);

/// After STARTTLS (IMAP) or STLS (POP3) succeeded in libetpan: refuses plaintext the
/// server sent ahead of the handshake, checks the certificate, installs the guard again.
/// Throws MailboxError (the caller drops the session).
void finish_starttls(mailstream* stream, const MailboxLink& link);

/// Why the guard on `stream` cut the connection, or "".
std::string guard_failure(mailstream* stream);

/// Makes every later read and write on `stream` fail at once (nothing more is sent), so
/// libetpan's own teardown (QUIT, LOGOUT) cleans up without talking to the server.
/// False if `stream` has no guard (yet).
bool shut_guard(mailstream* stream);

/// Blocks SIGPIPE in this thread while it lives and swallows one raised meanwhile:
/// libetpan writes with send() and GnuTLS without MSG_NOSIGNAL, and a server that closed
/// the connection must not kill a process that does not ignore SIGPIPE.
class SigpipeBlock {
 public:
  SigpipeBlock();
  ~SigpipeBlock();
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_mask_;
  bool was_pending_ = false;
};

/// "connection lost or timed out" etc. for libetpan's IMAP/POP3 error codes.
std::string imap_error_text(int rc);
std::string pop3_error_text(int rc);

}  // namespace mailcanary::probes
