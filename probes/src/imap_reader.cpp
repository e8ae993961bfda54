// IMAP reader: what to look at, over one ImapSession (imap_session.hpp).
//
// It costs the server little (issue 13): a scan is a NOOP, and only when the server
// reported new mail (EXISTS) one UID FETCH of the evidence header fields and the
// INTERNALDATE of the messages above the highest UID seen. The whole folder is searched
// (UID SEARCH on the canary header) only in a new session and once per 10 poll
// intervals. Canaries found are removed in batches (one UID STORE + EXPUNGE for many),
// when the batch is full, a second old, or no canary is open any more. Our own canaries
// older than leftover_after that nobody waits for are removed too, and counted.
#include <libetpan/libetpan.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "imap_fetch.hpp"
#include "imap_folder_memory.hpp"
#include "imap_session.hpp"
#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/dsn.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "readers.hpp"
#include "wakeable.hpp"

namespace mailcanary::probes {
namespace {

using std::chrono::steady_clock;

constexpr std::size_t kFetchBatch = 50;         // UIDs per UID FETCH (each at most 64 KiB)
constexpr std::size_t kMaxNewPerScan = 1000;    // unclassified messages fetched per scan
constexpr std::size_t kMaxReportsPerScan = 50;  // bounce reports read per scan
constexpr std::size_t kDeleteBatch = 64;        // found canaries removed together
constexpr std::chrono::seconds kDeleteWithin{1};
constexpr int kFullLookEvery = 10;  // poll intervals between two searches of the folder

class ImapReader final : public WakeableReader {
 public:
  ImapReader(config::MailboxConfig cfg, std::string key)
      : cfg_(std::move(cfg)), key_(std::move(key)), session_(cfg_) {}
  ~ImapReader() override {
    try {
      flush();
    } catch (const MailboxError&) {
      // The next run's reader finds them (leftovers) if nobody else does.
    }
  }
  ImapReader(const ImapReader&) = delete;
  ImapReader& operator=(const ImapReader&) = delete;

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    session_.sync();
    std::vector<FoundCanary> found;
    look_in_folder(wanted, found);
    scan_junk_folders(wanted, found);
    if (pending_.size() >= kDeleteBatch ||
        (!pending_.empty() && steady_clock::now() - pending_since_ >= kDeleteWithin)) {
      flush();
    }
    return found;
  }

  std::vector<FoundBounce> scan_bounces(const std::set<std::string>& wanted) override {
    session_.sync();
    auto& memory = folders_[cfg_.folder];
    // A DSN carries the returned canary's header in its body, usually as the header of a
    // message/rfc822 part, which Dovecot's BODY search does not look at (measured with a
    // real Postfix DSN): TEXT does. It also matches a canary itself; parse_dsn() tells
    // the two apart, and each message is read once.
    std::vector<std::uint32_t> uids =
        session_.search(mailimap_search_key_new_text(imap_dup(kCanaryHeader)));
    forget_gone(memory.reports, uids);
    // Reports not read yet, newest first, a bounded number per scan.
    std::size_t read = 0;
    for (auto it = uids.rbegin(); it != uids.rend() && read < kMaxReportsPerScan; ++it) {
      if (memory.reports.count(*it) == 0) {
        std::string text;
        for (auto& section :
             session_.fetch(mailimap_set_new_single(*it), message_start_fetch(kMaxHeaderBytes),
                            kMaxHeaderBytes)) {
          text = std::move(section.text);
        }
        memory.reports.emplace(*it, parse_dsn(text, key_));
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
      session_.remove(to_delete);
      for (auto uid : to_delete) {
        memory.reports.erase(uid);
      }
    }
    return found;
  }

  void prepare() override { session_.ensure_connected(); }
  void set_login_token(const LoginToken& token) override { session_.set_token(token); }
  std::size_t foreign_seen() const override { return foreign_; }
  std::uint64_t reconnects() const override { return session_.reconnects(); }
  std::uint64_t commands() const override { return session_.commands(); }
  std::uint64_t leftovers_removed() const override { return leftovers_; }

  // With IDLE, the server pushes "* N EXISTS" when mail lands: wait on the socket for
  // that (or `max`, or interrupt()), then leave IDLE so the next scan can run. Each wait
  // is a fresh IDLE, re-issued long before any server's IDLE timeout (RFC 2177: 29
  // minutes). Short waits (under 50 ms) are plain sleeps: IDLE would cost more.
  bool wait(Clock& /*clock*/, std::chrono::milliseconds max) override {
    if (!cfg_.idle || !session_.connected() || max < kShortestIdle) {
      wait_for(-1, max);
      return false;
    }
    try {
      flush();  // a long wait: nothing is due soon
    } catch (const MailboxError&) {
      wait_for(-1, max);  // the next scan reconnects and reports it
      return false;
    }
    if (!session_.idle_start()) {
      wait_for(-1, max);
      return false;
    }
    const Woke woke = wait_for(session_.idle_fd(), max);
    session_.idle_done();
    return woke == Woke::server;
  }

  // Removes the canaries found since the last flush, in one UID STORE + EXPUNGE. Only on
  // a live session: a reader going away does not reconnect for it.
  void flush() override {
    if (pending_.empty() || !session_.connected()) {
      return;
    }
    const std::vector<std::uint32_t> uids(pending_.begin(), pending_.end());
    session_.remove(uids);  // throws: kept for the next flush
    auto& memory = folders_[cfg_.folder];
    for (auto uid : uids) {
      forget(memory, uid);
    }
    pending_.clear();
  }

 private:
  static void forget(FolderMemory& memory, std::uint32_t uid) {
    if (auto it = memory.ids.find(uid); it != memory.ids.end()) {
      memory.uid_of.erase(it->second);
      memory.ids.erase(it);
    }
  }

  // The configured folder: a full look in a new session and now and then, else the
  // messages that arrived since the last look, if the server said some did.
  void look_in_folder(const std::set<std::string>& wanted, std::vector<FoundCanary>& found) {
    auto& memory = folders_[cfg_.folder];
    if (memory.uidvalidity != session_.uidvalidity()) {
      memory = FolderMemory{};
      memory.uidvalidity = session_.uidvalidity();
      pending_.clear();  // those UIDs mean nothing any more
    }
    std::uint32_t exists = 0;
    const bool news = session_.take_exists(exists);
    const auto now = steady_clock::now();
    const bool full = session_.generation() != full_generation_ || backlog_ ||
                      now - last_full_ >= kFullLookEvery * cfg_.poll_interval ||
                      (news && exists > known_exists_ + kFetchBatch);
    if (news) {
      known_exists_ = exists;
    }
    if (full) {
      full_generation_ = session_.generation();
      last_full_ = now;
      full_look(cfg_.folder, memory, wanted, found);
      return;
    }
    if (news) {
      // Above the highest UID seen: UID FETCH n:* answers the last message even when
      // none is above n, so what is not above is dropped.
      const std::uint32_t from = memory.max_uid + 1;
      auto sections = session_.fetch(mailimap_set_new_interval(from, 0),
                                     canary_headers_fetch(kMaxHeaderBytes), kMaxHeaderBytes);
      std::erase_if(sections, [&](const FetchedSection& s) { return s.uid < from; });
      classify(cfg_.folder, memory, sections, wanted, found);
    }
    // Canaries seen before anyone waited for them (they arrived before their add()).
    std::vector<std::uint32_t> known;
    for (const auto& id : wanted) {
      auto it = memory.uid_of.find(id);
      if (it != memory.uid_of.end() && !pending_.count(it->second) &&
          std::none_of(found.begin(), found.end(), [&](const auto& f) { return f.id == id; })) {
        known.push_back(it->second);
      }
    }
    if (!known.empty()) {
      std::sort(known.begin(), known.end(), std::greater<>());
      known.resize(std::min(known.size(), kFetchBatch));
      fetch_and_classify(cfg_.folder, memory, known, 0, known.size(), wanted, found);
    }
  }

  // Every message of the selected folder with the canary header.
  void full_look(const std::string& folder, FolderMemory& memory,
                 const std::set<std::string>& wanted, std::vector<FoundCanary>& found) {
    // HEADER with an empty string matches every message that has the field.
    std::vector<std::uint32_t> uids =
        session_.search(mailimap_search_key_new_header(imap_dup(kCanaryHeader), imap_dup("")));
    forget_gone(memory.ids, uids);
    memory.uid_of.clear();
    for (const auto& [uid, id] : memory.ids) {
      if (!id.empty()) {
        memory.uid_of[id] = uid;
      }
    }
    if (!uids.empty()) {
      memory.max_uid = std::max(memory.max_uid, uids.back());
    }
    const bool main = folder == cfg_.folder;
    if (main) {
      std::erase_if(pending_, [&](std::uint32_t uid) { return memory.ids.count(uid) == 0; });
    }
    // What to fetch: messages never looked at (newest first, a bounded number per scan:
    // a mailbox holding thousands of foreign canaries costs the same as one with a few),
    // and known canaries that are wanted now (their headers are the evidence).
    std::vector<std::uint32_t> to_fetch;
    std::vector<std::uint32_t> to_delete;
    const auto now = std::chrono::system_clock::now();
    std::size_t fresh = 0;
    bool more = false;
    for (auto it = uids.rbegin(); it != uids.rend(); ++it) {
      auto known = memory.ids.find(*it);
      if (known == memory.ids.end()) {
        if (fresh < kMaxNewPerScan) {
          to_fetch.push_back(*it);
          ++fresh;
        } else {
          more = true;
        }
      } else if (!known->second.empty() && wanted.count(known->second)) {
        to_fetch.push_back(*it);
      } else if (!known->second.empty() && is_leftover(known->second, cfg_, now)) {
        to_delete.push_back(*it);
      }
    }
    if (main) {
      backlog_ = more;  // messages left unclassified: the next scan looks again
    }
    for (auto uid : to_delete) {
      remove_later(folder, uid, true);
    }
    for (std::size_t start = 0; start < to_fetch.size(); start += kFetchBatch) {
      fetch_and_classify(folder, memory, to_fetch, start,
                         std::min(to_fetch.size(), start + kFetchBatch), wanted, found);
    }
    if (!main) {
      remove_now(memory);
    }
  }

  // Fetches uids[start, end) (descending) and classifies them.
  void fetch_and_classify(const std::string& folder, FolderMemory& memory,
                          const std::vector<std::uint32_t>& uids, std::size_t start,
                          std::size_t end, const std::set<std::string>& wanted,
                          std::vector<FoundCanary>& found) {
    auto sections = session_.fetch(uid_set(uids, start, end), canary_headers_fetch(kMaxHeaderBytes),
                                   kMaxHeaderBytes);
    // Only what was asked for: a server answering for other UIDs is not believed.
    const auto first = uids.begin() + static_cast<std::ptrdiff_t>(start);
    const auto last = uids.begin() + static_cast<std::ptrdiff_t>(end);
    std::erase_if(sections, [&](const FetchedSection& s) {
      return s.uid == 0 || !std::binary_search(first, last, s.uid, std::greater<>());
    });
    classify(folder, memory, sections, wanted, found);
  }

  // Verifies each message's canary header: wanted canaries are found (and removed), our
  // own leftovers removed, the rest remembered and left alone.
  void classify(const std::string& folder, FolderMemory& memory,
                std::vector<FetchedSection>& sections, const std::set<std::string>& wanted,
                std::vector<FoundCanary>& found) {
    const auto now = std::chrono::system_clock::now();
    for (auto& fetched : sections) {
      const std::uint32_t uid = fetched.uid;
      memory.max_uid = std::max(memory.max_uid, uid);
      auto values = header_values(fetched.text, kCanaryHeader, 1);
      auto id = values.empty() ? std::nullopt : verify_canary_token(values.front(), key_);
      auto [entry, is_new] = memory.ids.emplace(uid, id.value_or(""));
      if (!id) {
        foreign_ += is_new && !values.empty() ? 1 : 0;  // the header, not our signature
        continue;
      }
      entry->second = *id;
      memory.uid_of[*id] = uid;
      if (wanted.count(*id) == 0) {
        // Left by an earlier run and long past any deadline: ours to remove. Younger:
        // maybe another agent's with the same key, waiting for it.
        if (is_leftover(*id, cfg_, now)) {
          remove_later(folder, uid, true);
        }
        continue;
      }
      found.push_back({*id, folder, std::move(fetched.text), fetched.internal_date});
      remove_later(folder, uid, false);
    }
  }

  // Queues a message for removal: with the next flush in the configured folder, at the
  // end of the look in a junk folder (which is selected only meanwhile).
  void remove_later(const std::string& folder, std::uint32_t uid, bool leftover) {
    if (!cfg_.delete_found) {
      return;
    }
    if (folder != cfg_.folder) {
      junk_delete_.emplace(uid, leftover);
      return;
    }
    if (pending_.empty()) {
      pending_since_ = steady_clock::now();
    }
    if (pending_.insert(uid).second && leftover) {
      ++leftovers_;
    }
  }

  void remove_now(FolderMemory& memory) {
    if (junk_delete_.empty()) {
      return;
    }
    std::vector<std::uint32_t> uids;
    for (const auto& [uid, leftover] : junk_delete_) {
      uids.push_back(uid);
    }
    session_.remove(uids);
    for (const auto& [uid, leftover] : junk_delete_) {
      forget(memory, uid);
      leftovers_ += leftover ? 1 : 0;
    }
    junk_delete_.clear();
  }

  // Junk folders are looked at once per poll_interval, not at every scan: a canary filed
  // as spam is not in a hurry to be reported. A folder that does not exist (many servers
  // create Junk lazily) is skipped.
  void scan_junk_folders(const std::set<std::string>& wanted, std::vector<FoundCanary>& found) {
    if (cfg_.junk_folders.empty()) {
      return;
    }
    const auto now = steady_clock::now();
    if (last_junk_scan_ && now - *last_junk_scan_ < cfg_.poll_interval) {
      return;
    }
    last_junk_scan_ = now;
    std::set<std::string> still_wanted = wanted;
    for (const auto& f : found) {
      still_wanted.erase(f.id);
    }
    std::uint32_t validity = 0;
    for (const auto& folder : cfg_.junk_folders) {
      if (still_wanted.empty()) {
        break;
      }
      int rc = session_.select(folder, validity);
      if (rc == MAILIMAP_ERROR_SELECT) {
        continue;  // no such folder (yet)
      }
      if (rc != MAILIMAP_NO_ERROR) {
        session_.fail("cannot select junk folder " + folder, rc, false);
      }
      auto& memory = folders_[folder];
      if (memory.uidvalidity != validity) {
        memory = FolderMemory{};
        memory.uidvalidity = validity;
      }
      junk_delete_.clear();
      full_look(folder, memory, still_wanted, found);
    }
    if (int rc = session_.select(cfg_.folder, validity); rc != MAILIMAP_NO_ERROR) {
      session_.fail("cannot select folder " + cfg_.folder, rc, false);
    }
  }

  config::MailboxConfig cfg_;
  std::string key_;
  ImapSession session_;  // uses cfg_
  std::map<std::string, FolderMemory> folders_;
  std::set<std::uint32_t> pending_;  // found in cfg_.folder, to remove at the next flush
  steady_clock::time_point pending_since_;
  std::map<std::uint32_t, bool> junk_delete_;  // uid -> leftover, in the junk folder selected
  std::uint64_t full_generation_ = 0;          // the session of the last full look
  steady_clock::time_point last_full_;
  std::uint32_t known_exists_ = 0;
  bool backlog_ = false;  // the last full look left messages unclassified
  std::optional<steady_clock::time_point> last_junk_scan_;
  std::size_t foreign_ = 0;
  std::uint64_t leftovers_ = 0;
};

}  // namespace

std::unique_ptr<MailboxReader> make_imap_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key) {
  return std::make_unique<ImapReader>(cfg, hmac_key);
}

}  // namespace mailcanary::probes
