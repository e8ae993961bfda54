// Private: one IMAP session of the IMAP reader over libetpan: connect (plain, STARTTLS
// or implicit TLS, the certificate checked by us before the login), login, SELECT, and
// the commands the reader sends (NOOP, UID SEARCH, UID FETCH, UID STORE + EXPUNGE,
// IDLE). A failed command drops the session (without the LOGOUT a broken one cannot
// answer) and throws MailboxError; the next call connects again.
//
// Every byte passes the connection's guard (mailbox_tls_stream.hpp): an answer larger
// than 4 MiB, one that breaks a limit of its shape (imap_shape.hpp: literals over 1 MiB,
// lines over 128 KiB, nesting, untagged responses, items) or that takes too long drops
// the session with a mailbox error instead of eating memory, the stack, or the clock.
#pragma once

#include <libetpan/libetpan.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "imap_fetch.hpp"
#include "mailbox_tls_stream.hpp"
#include "mailcanary/config/config.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {

class ImapSession {
 public:
  /// `cfg` must outlive the session.
  explicit ImapSession(const config::MailboxConfig& cfg);
  ~ImapSession();  // logs out of a healthy session
  ImapSession(const ImapSession&) = delete;
  ImapSession& operator=(const ImapSession&) = delete;

  bool connected() const { return imap_ != nullptr; }
  /// The OAuth2 token the next login uses (auth = xoauth2 | oauthbearer).
  void set_token(const LoginToken& token) { token_ = token; }
  /// Connects, logs in and selects the configured folder, unless connected.
  void ensure_connected();
  /// Connects if needed, then NOOP, so the server shows what arrived (RFC 3501 6.1.2:
  /// without it Dovecot answered SEARCH from a stale view for seconds). A session the
  /// server dropped while we were away (its idle timeout, a restart, a kick) is opened
  /// again once, right away, rather than failing.
  void sync();
  /// Counts sessions: a new one means everything must be looked at again.
  std::uint64_t generation() const { return generation_; }
  /// Whether the server reported a new message count (EXISTS) since the last call;
  /// then `exists` holds it.
  bool take_exists(std::uint32_t& exists);

  /// The UIDVALIDITY of the folder selected last (0: none).
  std::uint32_t uidvalidity() const { return uidvalidity_; }
  /// SELECT; the folder's UIDVALIDITY (0: none) in `uidvalidity`. Returns libetpan's
  /// code (MAILIMAP_ERROR_SELECT: no such folder), does not throw for a refusal.
  int select(const std::string& folder, std::uint32_t& uidvalidity);
  /// UID SEARCH with `key` (taking ownership of it); the UIDs in ascending order.
  std::vector<std::uint32_t> search(mailimap_search_key* key);
  /// UID FETCH of `set` with `type` (taking ownership of both); entries are cut at
  /// `max_bytes`.
  std::vector<FetchedSection> fetch(mailimap_set* set, mailimap_fetch_type* type,
                                    std::size_t max_bytes);
  /// \Deleted, then UID EXPUNGE of those (UIDPLUS) or EXPUNGE.
  void remove(const std::vector<std::uint32_t>& uids);

  /// IDLE, when the server offers it: true when it started (then idle_fd() is the
  /// socket to wait on, and idle_done() must follow).
  bool idle_start();
  int idle_fd();
  void idle_done();

  [[noreturn]] void fail(const std::string& what, int rc, bool permanent);
  const std::string& label() const { return link_.label; }
  std::uint64_t reconnects() const { return reconnects_; }
  std::uint64_t commands() const { return commands_; }

 private:
  struct Deleter {
    void operator()(mailimap* m) const { mailimap_free(m); }
  };
  void connect();
  void drop();
  bool has_capability(const char* name);
  void login_with_token();

  const config::MailboxConfig& cfg_;
  MailboxLink link_;
  bool connected_before_ = false;
  std::uint64_t generation_ = 0;
  std::uint64_t reconnects_ = 0;
  std::uint64_t commands_ = 0;
  std::uint32_t uidvalidity_ = 0;
  LoginToken token_;
  std::unique_ptr<mailimap, Deleter> imap_;  // last: logs out before the rest goes
};

}  // namespace mailcanary::probes
