// IMAP reader over libetpan: login, SELECT, UID SEARCH on the canary header, fetch
// that header only, verify the signature, then \Deleted + EXPUNGE.
#include <libetpan/libetpan.h>

#include <poll.h>

#include <cstring>
#include <memory>

#include <map>
#include <optional>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/dsn.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "readers.hpp"

namespace mailcanary::probes {
namespace {

struct ImapDeleter {
  void operator()(mailimap* m) const { mailimap_free(m); }
};

char* dup(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

class ImapReader final : public MailboxReader {
 public:
  ImapReader(config::MailboxConfig cfg, std::string key)
      : cfg_(std::move(cfg)), key_(std::move(key)) {}

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    ensure_connected();
    std::vector<FoundCanary> found;
    scan_selected(cfg_.folder, wanted, found);
    scan_junk_folders(wanted, found);
    return found;
  }

  std::size_t foreign_seen() const override { return foreign_; }

  std::vector<FoundBounce> scan_bounces(const std::set<std::string>& wanted) override {
    ensure_connected();
    // A DSN carries the returned canary header in its body; canaries themselves carry
    // it only in their header, so a BODY search finds just the reports.
    mailimap_search_key* key = mailimap_search_key_new_body(dup(kCanaryHeader));
    std::vector<std::uint32_t> uids = search(key);
    std::vector<FoundBounce> found;
    std::vector<std::uint32_t> to_delete;
    for (auto uid : uids) {
      auto known = dsn_by_uid_.find(uid);
      if (known == dsn_by_uid_.end()) {
        known = dsn_by_uid_.emplace(uid, parse_dsn(fetch_message_start(uid), key_)).first;
      }
      if (known->second && wanted.count(known->second->canary_id)) {
        found.push_back({known->second->canary_id, known->second->summary()});
        to_delete.push_back(uid);
      }
    }
    if (cfg_.delete_found && !to_delete.empty()) {
      remove(to_delete);
      for (auto uid : to_delete) {
        dsn_by_uid_.erase(uid);
      }
    }
    return found;
  }

  void prepare() override { ensure_connected(); }

  // With IDLE, the server pushes "* N EXISTS" when mail lands: wait on the socket for
  // that (or `max`), then leave IDLE so the next scan can run. Each wait is a fresh IDLE,
  // so it is re-issued long before any server's IDLE timeout (RFC 2177: 29 minutes).
  void wait(Clock& clock, std::chrono::milliseconds max) override {
    if (!cfg_.idle || !imap_ || max < std::chrono::milliseconds(50) ||
        !mailimap_has_idle(imap_.get())) {
      clock.sleep_for(max);
      return;
    }
    int rc = mailimap_idle(imap_.get());
    if (rc != MAILIMAP_NO_ERROR) {
      imap_.reset();  // the next scan reconnects and reports what is wrong
      clock.sleep_for(max);
      return;
    }
    pollfd pfd{mailimap_idle_get_fd(imap_.get()), POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(max.count()));
    if (mailimap_idle_done(imap_.get()) != MAILIMAP_NO_ERROR) {
      imap_.reset();
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what, int rc, bool permanent) {
    std::string msg = "imap " + cfg_.server.to_string() + ": " + what + " (libetpan error " +
                      std::to_string(rc) + ")";
    if (imap_ && imap_->imap_response && imap_->imap_response[0]) {
      std::string server(imap_->imap_response);
      if (server.size() > 200) {
        server.resize(200);
      }
      msg += ": " + server;
    }
    imap_.reset();  // next scan reconnects
    throw MailboxError(msg, permanent);
  }

  void ensure_connected() {
    if (imap_) {
      return;
    }
    imap_.reset(mailimap_new(0, nullptr));
    if (!imap_) {
      throw MailboxError("imap: out of memory", true);
    }
    auto timeout_s = std::max<long long>(1, cfg_.poll_interval.count() / 1000 + 10);
    mailimap_set_timeout(imap_.get(), static_cast<time_t>(timeout_s));
    int rc = mailimap_socket_connect(imap_.get(), cfg_.server.host.c_str(), cfg_.server.port);
    if (rc != MAILIMAP_NO_ERROR && rc != MAILIMAP_NO_ERROR_AUTHENTICATED &&
        rc != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
      fail("cannot connect", rc, false);
    }
    rc = mailimap_login(imap_.get(), cfg_.user.c_str(), cfg_.password.c_str());
    if (rc != MAILIMAP_NO_ERROR) {
      fail("login as " + cfg_.user + " refused", rc, rc == MAILIMAP_ERROR_LOGIN);
    }
    rc = mailimap_select(imap_.get(), cfg_.folder.c_str());
    if (rc != MAILIMAP_NO_ERROR) {
      fail("cannot select folder " + cfg_.folder, rc, rc == MAILIMAP_ERROR_SELECT);
    }
  }

  // Looks for wanted canaries in the selected folder, appending them to `found`.
  void scan_selected(const std::string& folder, const std::set<std::string>& wanted,
                     std::vector<FoundCanary>& found) {
    std::vector<std::uint32_t> uids = search_canaries();
    if (uids.empty()) {
      return;
    }
    std::vector<std::uint32_t> to_delete;
    for (const auto& [uid, headers] : fetch_canary_headers(uids)) {
      auto values = header_values(headers, kCanaryHeader, 1);
      auto id = values.empty() ? std::nullopt : verify_canary_token(values.front(), key_);
      if (!id) {
        if (foreign_uids_.insert({folder, uid}).second) {
          ++foreign_;
        }
        continue;
      }
      if (wanted.count(*id) == 0) {
        continue;  // someone else's (another agent, an earlier run): not ours to touch
      }
      found.push_back({*id, folder, headers});
      to_delete.push_back(uid);
    }
    if (cfg_.delete_found && !to_delete.empty()) {
      remove(to_delete);
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
      int rc = mailimap_select(imap_.get(), folder.c_str());
      if (rc == MAILIMAP_ERROR_SELECT) {
        continue;  // no such folder (yet)
      }
      if (rc != MAILIMAP_NO_ERROR) {
        fail("cannot select junk folder " + folder, rc, false);
      }
      scan_selected(folder, still_wanted, found);
    }
    int rc = mailimap_select(imap_.get(), cfg_.folder.c_str());
    if (rc != MAILIMAP_NO_ERROR) {
      fail("cannot select folder " + cfg_.folder, rc, false);
    }
  }

  std::vector<std::uint32_t> search_canaries() {
    // A long-lived session sees new mail only after the server syncs its view of the
    // folder; NOOP is the standard way to ask for that (RFC 3501 6.1.2). Without it,
    // Dovecot answered SEARCH from a stale view for seconds.
    int rc = mailimap_noop(imap_.get());
    if (rc != MAILIMAP_NO_ERROR) {
      fail("NOOP failed", rc, false);
    }
    // HEADER with an empty string matches every message that has the field.
    return search(mailimap_search_key_new_header(dup(kCanaryHeader), dup("")));
  }

  // Runs UID SEARCH with `key` (taking ownership of it).
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
    return uids;
  }

  std::vector<std::pair<std::uint32_t, std::string>> fetch_canary_headers(
      const std::vector<std::uint32_t>& uids) {
    mailimap_set* set = mailimap_set_new_empty();
    for (auto uid : uids) {
      mailimap_set_add_single(set, uid);
    }
    clist* names = clist_new();
    for (std::string_view field :
         {kCanaryHeader, std::string_view("Received"), std::string_view("Authentication-Results"),
          std::string_view("Date")}) {
      clist_append(names, dup(field));
    }
    mailimap_section* section = mailimap_section_new_header_fields(mailimap_header_list_new(names));
    mailimap_fetch_type* type = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(type,
                                               mailimap_fetch_att_new_body_peek_section(section));
    clist* result = nullptr;
    int rc = mailimap_uid_fetch(imap_.get(), set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (rc != MAILIMAP_NO_ERROR) {
      fail("UID FETCH failed", rc, false);
    }
    std::vector<std::pair<std::uint32_t, std::string>> out;
    for (clistiter* it = clist_begin(result); it; it = clist_next(it)) {
      auto* msg = static_cast<mailimap_msg_att*>(clist_content(it));
      std::uint32_t uid = 0;
      std::string headers;
      for (clistiter* a = clist_begin(msg->att_list); a; a = clist_next(a)) {
        auto* item = static_cast<mailimap_msg_att_item*>(clist_content(a));
        if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !item->att_data.att_static) {
          continue;
        }
        auto* st = item->att_data.att_static;
        if (st->att_type == MAILIMAP_MSG_ATT_UID) {
          uid = st->att_data.att_uid;
        } else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && st->att_data.att_body_section &&
                   st->att_data.att_body_section->sec_body_part) {
          auto* sec = st->att_data.att_body_section;
          headers.assign(sec->sec_body_part,
                         std::min<std::size_t>(sec->sec_length, kMaxHeaderBytes));
        }
      }
      if (uid == 0) {
        continue;
      }
      out.emplace_back(uid, std::move(headers));
    }
    mailimap_fetch_list_free(result);
    return out;
  }

  // The first kMaxHeaderBytes of a whole message (BODY.PEEK[]<0.N>).
  std::string fetch_message_start(std::uint32_t uid) {
    mailimap_set* set = mailimap_set_new_single(uid);
    mailimap_fetch_type* type = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(
        type, mailimap_fetch_att_new_body_peek_section_partial(mailimap_section_new(nullptr), 0,
                                                               kMaxHeaderBytes));
    clist* result = nullptr;
    int rc = mailimap_uid_fetch(imap_.get(), set, type, &result);
    mailimap_fetch_type_free(type);
    mailimap_set_free(set);
    if (rc != MAILIMAP_NO_ERROR) {
      fail("UID FETCH failed", rc, false);
    }
    std::string text;
    for (clistiter* it = clist_begin(result); it; it = clist_next(it)) {
      auto* msg = static_cast<mailimap_msg_att*>(clist_content(it));
      for (clistiter* a = clist_begin(msg->att_list); a; a = clist_next(a)) {
        auto* item = static_cast<mailimap_msg_att_item*>(clist_content(a));
        if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC && item->att_data.att_static &&
            item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_BODY_SECTION &&
            item->att_data.att_static->att_data.att_body_section &&
            item->att_data.att_static->att_data.att_body_section->sec_body_part) {
          auto* sec = item->att_data.att_static->att_data.att_body_section;
          text.assign(sec->sec_body_part, std::min<std::size_t>(sec->sec_length, kMaxHeaderBytes));
        }
      }
    }
    mailimap_fetch_list_free(result);
    return text;
  }

  void remove(const std::vector<std::uint32_t>& uids) {
    mailimap_set* set = mailimap_set_new_empty();
    for (auto uid : uids) {
      mailimap_set_add_single(set, uid);
    }
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
  std::unique_ptr<mailimap, ImapDeleter> imap_;
  std::set<std::pair<std::string, std::uint32_t>> foreign_uids_;  // folder, uid
  std::optional<std::chrono::steady_clock::time_point> last_junk_scan_;
  std::map<std::uint32_t, std::optional<Dsn>> dsn_by_uid_;  // reports already read
  std::size_t foreign_ = 0;
};

}  // namespace

std::unique_ptr<MailboxReader> make_imap_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key) {
  return std::make_unique<ImapReader>(cfg, hmac_key);
}

}  // namespace mailcanary::probes
