// IMAP reader over libetpan: connect (plain, STARTTLS or implicit TLS, the certificate
// checked by us before the login), login, SELECT; per scan NOOP, UID SEARCH on the
// canary header, fetch that header (bounded, in batches) for messages not classified
// before, verify the signature, then \Deleted + EXPUNGE.
//
// Every byte passes the connection's guard (mailbox_tls_stream.hpp): an answer larger
// than 4 MiB, one that breaks a limit of its shape (imap_shape.hpp: literals over 1 MiB,
// lines over 128 KiB, nesting, untagged responses, items) or that takes too long drops
// the session with a mailbox error instead of eating memory, the stack, or the clock.
#include <libetpan/libetpan.h>
#include <poll.h>
#include <strings.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "imap_fetch.hpp"
#include "imap_folder_memory.hpp"
#include "mailbox_tls_stream.hpp"
#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/dsn.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "readers.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::size_t kFetchBatch = 50;         // UIDs per UID FETCH (each at most 64 KiB)
constexpr std::size_t kMaxNewPerScan = 1000;    // unclassified messages fetched per scan
constexpr std::size_t kMaxReportsPerScan = 50;  // bounce reports read per scan

// mailimap_free() sends LOGOUT on a live session and waits for the answer: right for a
// healthy session, wrong for a broken one (see ImapReader::drop()).
struct ImapDeleter {
  void operator()(mailimap* m) const { mailimap_free(m); }
};

class ImapReader final : public MailboxReader {
 public:
  ImapReader(config::MailboxConfig cfg, std::string key)
      : cfg_(std::move(cfg)), key_(std::move(key)) {
    link_ = make_mailbox_link(cfg_, "imap", ImapShape::Limits{});
    link_.commands = &commands_;
  }
  ImapReader(const ImapReader&) = delete;
  ImapReader& operator=(const ImapReader&) = delete;

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    sync();
    std::vector<FoundCanary> found;
    scan_selected(cfg_.folder, wanted, found);
    scan_junk_folders(wanted, found);
    return found;
  }

  std::size_t foreign_seen() const override { return foreign_; }

  std::vector<FoundBounce> scan_bounces(const std::set<std::string>& wanted) override {
    sync();
    auto& memory = folders_[cfg_.folder];
    // A DSN carries the returned canary's header in its body, usually as the header of a
    // message/rfc822 part, which Dovecot's BODY search does not look at (measured with a
    // real Postfix DSN): TEXT does. It also matches a canary itself; parse_dsn() tells
    // the two apart, and each message is read once.
    std::vector<std::uint32_t> uids = search(mailimap_search_key_new_text(imap_dup(kCanaryHeader)));
    forget_gone(memory.reports, uids);
    // Reports not read yet, newest first, a bounded number per scan.
    std::size_t read = 0;
    for (auto it = uids.rbegin(); it != uids.rend() && read < kMaxReportsPerScan; ++it) {
      if (memory.reports.count(*it) == 0) {
        memory.reports.emplace(*it, parse_dsn(fetch_message_start(*it), key_));
        ++read;
      }
    }
    std::vector<FoundBounce> found;
    std::vector<std::uint32_t> to_delete;
    for (const auto& [uid, dsn] : memory.reports) {
      if (dsn && wanted.count(dsn->canary_id)) {
        found.push_back({dsn->canary_id, dsn->summary()});
        to_delete.push_back(uid);
      }
    }
    if (cfg_.delete_found && !to_delete.empty()) {
      remove(to_delete);
      for (auto uid : to_delete) {
        memory.reports.erase(uid);
      }
    }
    return found;
  }

  void prepare() override { ensure_connected(); }
  std::uint64_t reconnects() const override { return reconnects_; }
  std::uint64_t commands() const override { return commands_; }
  std::uint64_t leftovers_removed() const override { return leftovers_; }

  // With IDLE, the server pushes "* N EXISTS" when mail lands: wait on the socket for
  // that (or `max`), then leave IDLE so the next scan can run. Each wait is a fresh IDLE,
  // so it is re-issued long before any server's IDLE timeout (RFC 2177: 29 minutes).
  void wait(Clock& clock, std::chrono::milliseconds max) override {
    if (!cfg_.idle || !imap_ || max < std::chrono::milliseconds(50) ||
        !mailimap_has_idle(imap_.get())) {
      clock.sleep_for(max);
      return;
    }
    if (mailimap_idle(imap_.get()) != MAILIMAP_NO_ERROR) {
      drop();  // the next scan reconnects and reports what is wrong
      clock.sleep_for(max);
      return;
    }
    pollfd pfd{mailimap_idle_get_fd(imap_.get()), POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(max.count()));
    if (mailimap_idle_done(imap_.get()) != MAILIMAP_NO_ERROR) {
      drop();
    }
  }

 private:
  // Forgets a broken session without the LOGOUT mailimap_free() would send and wait for.
  void drop() {
    if (imap_ && imap_->imap_stream) {
      mailstream_close(imap_->imap_stream);
      imap_->imap_stream = nullptr;
    }
    imap_.reset();
  }

  [[noreturn]] void fail(const std::string& what, int rc, bool permanent) {
    std::string msg = link_.label + ": " + what;
    std::string cut = imap_ ? guard_failure(imap_->imap_stream) : "";
    if (!cut.empty()) {
      msg += ": " + cut;
    } else {
      msg += ": " + imap_error_text(rc) + " (libetpan error " + std::to_string(rc) + ")";
      // The text of the server's tagged answer, when it answered at all.
      if (rc != MAILIMAP_ERROR_STREAM && rc != MAILIMAP_ERROR_PARSE && imap_ &&
          imap_->imap_response && imap_->imap_response[0]) {
        msg += "; the server said: " + printable(imap_->imap_response, 200);
      }
    }
    drop();  // the next scan reconnects
    throw MailboxError(msg, permanent);
  }

  void ensure_connected() {
    if (imap_) {
      return;
    }
    try {
      connect();
    } catch (...) {
      drop();
      throw;
    }
  }

  void connect() {
    if (connected_before_) {
      ++reconnects_;
    }
    connected_before_ = true;
    imap_.reset(mailimap_new(0, nullptr));
    if (!imap_) {
      throw MailboxError(link_.label + ": out of memory", false);
    }
    mailimap_set_timeout(imap_.get(), static_cast<time_t>(link_.io_timeout.count()));
    int rc = mailimap_connect(imap_.get(), open_mailbox_stream(link_));  // owns the stream
    if (rc != MAILIMAP_NO_ERROR_NON_AUTHENTICATED && rc != MAILIMAP_NO_ERROR_AUTHENTICATED &&
        rc != MAILIMAP_NO_ERROR) {
      fail("no IMAP greeting", rc, false);
    }
    const bool preauth = rc == MAILIMAP_NO_ERROR_AUTHENTICATED;
    if (cfg_.tls == config::TlsMode::starttls) {
      if (preauth) {
        throw MailboxError(link_.label +
                               ": the server pre-authenticated the session, so "
                               "STARTTLS is impossible (tls = \"starttls\")",
                           true);
      }
      if (!has_capability("STARTTLS")) {
        throw MailboxError(
            link_.label + ": STARTTLS required (tls = \"starttls\") but not offered by the server",
            true);
      }
      bool late = false;
      {
        SigpipeBlock no_sigpipe;
        SocketWatchdog dog;
        ArmedWatchdog armed(dog, mailstream_low_get_fd(mailstream_get_low(imap_->imap_stream)),
                            handshake_deadline(link_));
        rc = mailimap_socket_starttls_with_callback(imap_.get(), mailbox_tls_callback, &link_);
        late = armed.fired();
      }
      if (late) {
        throw MailboxError(link_.label + ": TLS handshake after STARTTLS failed: not done within " +
                               handshake_seconds(link_),
                           false);
      }
      if (rc == MAILIMAP_ERROR_STARTTLS) {
        fail("STARTTLS refused", rc, true);
      } else if (rc != MAILIMAP_NO_ERROR) {
        fail("TLS handshake after STARTTLS failed", rc, false);
      }
      finish_starttls(imap_->imap_stream, link_);
    }
    if (!preauth) {
      rc = mailimap_login(imap_.get(), cfg_.user.c_str(), cfg_.password.c_str());
      if (rc != MAILIMAP_NO_ERROR) {
        fail("login as " + cfg_.user + " refused", rc, rc == MAILIMAP_ERROR_LOGIN);
      }
    }
    if (int sel = select(cfg_.folder); sel != MAILIMAP_NO_ERROR) {
      fail("cannot select folder " + cfg_.folder, sel, sel == MAILIMAP_ERROR_SELECT);
    }
  }

  bool has_capability(const char* name) {
    mailimap_capability_data* caps = nullptr;
    int rc = mailimap_capability(imap_.get(), &caps);
    if (rc != MAILIMAP_NO_ERROR || !caps) {
      fail("CAPABILITY failed", rc, false);
    }
    bool has = false;
    for (clistiter* it = clist_begin(caps->cap_list); it; it = clist_next(it)) {
      auto* c = static_cast<struct mailimap_capability*>(clist_content(it));
      if (c->cap_type == MAILIMAP_CAPABILITY_NAME && c->cap_data.cap_name &&
          strcasecmp(c->cap_data.cap_name, name) == 0) {
        has = true;
      }
    }
    mailimap_capability_data_free(caps);
    return has;
  }

  // SELECT; what is remembered about the folder is dropped when its UIDVALIDITY changed.
  int select(const std::string& folder) {
    int rc = mailimap_select(imap_.get(), folder.c_str());
    if (rc == MAILIMAP_NO_ERROR) {
      const std::uint32_t validity =
          imap_->imap_selection_info ? imap_->imap_selection_info->sel_uidvalidity : 0;
      auto& memory = folders_[folder];
      if (memory.uidvalidity != validity) {
        memory = FolderMemory{};
        memory.uidvalidity = validity;
      }
    }
    return rc;
  }

  // Connects if needed, then NOOP: a long-lived session sees new mail only after the
  // server syncs its view of the folder (RFC 3501 6.1.2); without it Dovecot answered
  // SEARCH from a stale view for seconds. A session the server dropped while we were
  // away (its idle timeout, a restart, an administrator's kick) is re-established once,
  // right away, rather than failing this scan.
  void sync() {
    const bool reused = imap_ != nullptr;
    ensure_connected();
    int rc = mailimap_noop(imap_.get());
    if (rc == MAILIMAP_NO_ERROR) {
      return;
    }
    if (!reused) {
      fail("NOOP failed", rc, false);
    }
    drop();
    ensure_connected();
    rc = mailimap_noop(imap_.get());
    if (rc != MAILIMAP_NO_ERROR) {
      fail("NOOP failed", rc, false);
    }
  }

  // Looks for wanted canaries in the selected folder, appending them to `found`.
  void scan_selected(const std::string& folder, const std::set<std::string>& wanted,
                     std::vector<FoundCanary>& found) {
    // HEADER with an empty string matches every message that has the field.
    std::vector<std::uint32_t> uids =
        search(mailimap_search_key_new_header(imap_dup(kCanaryHeader), imap_dup("")));
    auto& memory = folders_[folder];
    forget_gone(memory.ids, uids);
    // What to fetch: messages never looked at (newest first, a bounded number per scan:
    // a mailbox holding thousands of foreign canaries costs the same as one with a few),
    // and known canaries that are wanted now (their headers are the evidence).
    std::vector<std::uint32_t> to_fetch;
    std::vector<std::uint32_t> to_delete;
    std::uint64_t leftovers = 0;
    const auto now = std::chrono::system_clock::now();
    std::size_t fresh = 0;
    for (auto it = uids.rbegin(); it != uids.rend(); ++it) {
      auto known = memory.ids.find(*it);
      if (known != memory.ids.end()) {
        if (!known->second.empty() && wanted.count(known->second)) {
          to_fetch.push_back(*it);
        } else if (!known->second.empty() && is_leftover(known->second, cfg_, now)) {
          to_delete.push_back(*it);
          ++leftovers;
        }
      } else if (fresh < kMaxNewPerScan) {
        to_fetch.push_back(*it);
        ++fresh;
      }
    }
    for (std::size_t start = 0; start < to_fetch.size(); start += kFetchBatch) {
      const std::size_t end = std::min(to_fetch.size(), start + kFetchBatch);
      for (auto& fetched : fetch_canary_headers(to_fetch, start, end)) {
        const std::uint32_t uid = fetched.uid;
        std::string& headers = fetched.text;
        auto values = header_values(headers, kCanaryHeader, 1);
        auto id = values.empty() ? std::nullopt : verify_canary_token(values.front(), key_);
        auto [entry, is_new] = memory.ids.emplace(uid, id.value_or(""));
        if (!id) {
          if (is_new) {
            ++foreign_;
          }
          continue;
        }
        entry->second = *id;
        if (wanted.count(*id) == 0) {
          // Left by an earlier run and long past any deadline: ours to remove. Younger:
          // maybe another agent's with the same key, waiting for it.
          if (is_leftover(*id, cfg_, now)) {
            to_delete.push_back(uid);
            ++leftovers;
          }
          continue;
        }
        found.push_back({*id, folder, std::move(headers), fetched.internal_date});
        to_delete.push_back(uid);
      }
    }
    if (cfg_.delete_found && !to_delete.empty()) {
      remove(to_delete);
      for (auto uid : to_delete) {
        memory.ids.erase(uid);
      }
      leftovers_ += leftovers;
    }
  }

  // Junk folders are looked at once per poll_interval, not at every fast scan: a
  // canary filed as spam is not in a hurry to be reported. A folder that does not
  // exist (many servers create Junk lazily) is skipped.
  void scan_junk_folders(const std::set<std::string>& wanted, std::vector<FoundCanary>& found) {
    if (cfg_.junk_folders.empty()) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (last_junk_scan_ && now - *last_junk_scan_ < cfg_.poll_interval) {
      return;
    }
    last_junk_scan_ = now;
    std::set<std::string> still_wanted = wanted;
    for (const auto& f : found) {
      still_wanted.erase(f.id);
    }
    for (const auto& folder : cfg_.junk_folders) {
      if (still_wanted.empty()) {
        break;
      }
      int rc = select(folder);
      if (rc == MAILIMAP_ERROR_SELECT) {
        continue;  // no such folder (yet)
      }
      if (rc != MAILIMAP_NO_ERROR) {
        fail("cannot select junk folder " + folder, rc, false);
      }
      scan_selected(folder, still_wanted, found);
    }
    if (int rc = select(cfg_.folder); rc != MAILIMAP_NO_ERROR) {
      fail("cannot select folder " + cfg_.folder, rc, false);
    }
  }

  // Runs UID SEARCH with `key` (taking ownership of it); the UIDs in ascending order.
  std::vector<std::uint32_t> search(mailimap_search_key* key) {
    clist* result = nullptr;
    int rc = mailimap_uid_search(imap_.get(), nullptr, key, &result);
    mailimap_search_key_free(key);
    if (rc != MAILIMAP_NO_ERROR) {
      fail("UID SEARCH failed", rc, false);
    }
    std::vector<std::uint32_t> uids;
    for (clistiter* it = clist_begin(result); it; it = clist_next(it)) {
      uids.push_back(*static_cast<std::uint32_t*>(clist_content(it)));
    }
    mailimap_search_result_free(result);
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    return uids;
  }

  // The evidence header fields (at most kMaxHeaderBytes each) and the INTERNALDATE of
  // uids[start, end), which are in descending order.
  std::vector<FetchedSection> fetch_canary_headers(const std::vector<std::uint32_t>& uids,
                                                   std::size_t start, std::size_t end) {
    mailimap_set* set = uid_set(uids, start, end);
    mailimap_fetch_type* type = canary_headers_fetch(kMaxHeaderBytes);
    clist* result = nullptr;
    int rc = mailimap_uid_fetch(imap_.get(), set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (rc != MAILIMAP_NO_ERROR) {
      fail("UID FETCH failed", rc, false);
    }
    std::vector<FetchedSection> out;
    for (auto& section : fetched_sections(result, kMaxHeaderBytes)) {
      // Only what was asked for: a server answering for other UIDs is not believed.
      const auto first = uids.begin() + static_cast<std::ptrdiff_t>(start);
      const auto last = uids.begin() + static_cast<std::ptrdiff_t>(end);
      if (section.uid != 0 && std::binary_search(first, last, section.uid, std::greater<>())) {
        out.push_back(std::move(section));
      }
    }
    mailimap_fetch_list_free(result);
    return out;
  }

  // The first kMaxHeaderBytes of a whole message (BODY.PEEK[]<0.N>).
  std::string fetch_message_start(std::uint32_t uid) {
    mailimap_set* set = mailimap_set_new_single(uid);
    mailimap_fetch_type* type = message_start_fetch(kMaxHeaderBytes);
    clist* result = nullptr;
    int rc = mailimap_uid_fetch(imap_.get(), set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (rc != MAILIMAP_NO_ERROR) {
      fail("UID FETCH failed", rc, false);
    }
    std::string text;
    for (auto& section : fetched_sections(result, kMaxHeaderBytes)) {
      text = std::move(section.text);
    }
    mailimap_fetch_list_free(result);
    return text;
  }

  void remove(const std::vector<std::uint32_t>& uids) {
    mailimap_set* set = uid_set(uids, 0, uids.size());
    mailimap_flag_list* flags = mailimap_flag_list_new_empty();
    mailimap_flag_list_add(flags, mailimap_flag_new_deleted());
    mailimap_store_att_flags* att = mailimap_store_att_flags_new_add_flags_silent(flags);
    int rc = mailimap_uid_store(imap_.get(), set, att);
    mailimap_store_att_flags_free(att);
    if (rc != MAILIMAP_NO_ERROR) {
      mailimap_set_free(set);
      fail("UID STORE \\Deleted failed", rc, false);
    }
    if (mailimap_has_extension(imap_.get(), "UIDPLUS")) {
      rc = mailimap_uid_expunge(imap_.get(), set);
    } else {
      rc = mailimap_expunge(imap_.get());
    }
    mailimap_set_free(set);
    if (rc != MAILIMAP_NO_ERROR) {
      fail("EXPUNGE failed", rc, false);
    }
  }

  config::MailboxConfig cfg_;
  std::string key_;
  MailboxLink link_;  // points into cfg_
  std::map<std::string, FolderMemory> folders_;
  std::optional<std::chrono::steady_clock::time_point> last_junk_scan_;
  std::size_t foreign_ = 0;
  bool connected_before_ = false;
  std::uint64_t reconnects_ = 0;
  std::uint64_t commands_ = 0;
  std::uint64_t leftovers_ = 0;
  std::unique_ptr<mailimap, ImapDeleter> imap_;  // last: logs out before the rest goes
};

}  // namespace

std::unique_ptr<MailboxReader> make_imap_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key) {
  return std::make_unique<ImapReader>(cfg, hmac_key);
}

}  // namespace mailcanary::probes
