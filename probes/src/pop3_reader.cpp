// POP3 reader over libetpan. POP3 shows a snapshot of the mailbox taken at login and
// commits deletions at QUIT, so every scan is one session: USER/PASS, LIST+UIDL, TOP 0
// for messages not seen before, DELE for the canaries found, QUIT.
#include <libetpan/libetpan.h>

#include <map>

#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "readers.hpp"

namespace mailcanary::probes {
namespace {

struct Pop3Deleter {
  void operator()(mailpop3* p) const { mailpop3_free(p); }
};

class Pop3Reader final : public MailboxReader {
 public:
  Pop3Reader(config::MailboxConfig cfg, std::string key)
      : cfg_(std::move(cfg)), key_(std::move(key)) {}

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    std::unique_ptr<mailpop3, Pop3Deleter> pop(mailpop3_new(0, nullptr));
    if (!pop) {
      throw MailboxError("pop3: out of memory", true);
    }
    auto timeout_s = std::max<long long>(1, cfg_.poll_interval.count() / 1000 + 10);
    mailpop3_set_timeout(pop.get(), static_cast<time_t>(timeout_s));
    int rc = mailpop3_socket_connect(pop.get(), cfg_.server.host.c_str(), cfg_.server.port);
    if (rc != MAILPOP3_NO_ERROR) {
      fail(pop.get(), "cannot connect", rc, false);
    }
    rc = mailpop3_user(pop.get(), cfg_.user.c_str());
    if (rc == MAILPOP3_NO_ERROR) {
      rc = mailpop3_pass(pop.get(), cfg_.password.c_str());
    }
    if (rc != MAILPOP3_NO_ERROR) {
      bool refused = rc == MAILPOP3_ERROR_BAD_USER || rc == MAILPOP3_ERROR_BAD_PASSWORD;
      fail(pop.get(), "login as " + cfg_.user + " refused", rc, refused);
    }
    carray* list = nullptr;
    rc = mailpop3_list(pop.get(), &list);
    if (rc != MAILPOP3_NO_ERROR || !list) {
      fail(pop.get(), "LIST failed", rc, false);
    }
    std::map<std::string, Identified> seen_now;  // by uidl
    std::vector<FoundCanary> found;
    for (unsigned i = 0; i < carray_count(list); ++i) {
      auto* info = static_cast<mailpop3_msg_info*>(carray_get(list, i));
      if (!info || info->msg_deleted) {
        continue;
      }
      std::string uidl = info->msg_uidl ? info->msg_uidl : "#" + std::to_string(info->msg_index);
      Identified msg;
      if (auto known = ids_by_uidl_.find(uidl); known != ids_by_uidl_.end()) {
        msg = known->second;
      } else {
        msg = identify(pop.get(), info->msg_index);
      }
      seen_now[uidl] = msg;
      const std::string& id = msg.id;
      if (!id.empty() && wanted.count(id)) {
        if (cfg_.delete_found) {
          rc = mailpop3_dele(pop.get(), info->msg_index);
          if (rc != MAILPOP3_NO_ERROR) {
            fail(pop.get(), "DELE failed", rc, false);
          }
        }
        found.push_back({id, "INBOX", msg.headers});
      }
    }
    rc = mailpop3_quit(pop.get());  // commits the deletions
    if (rc != MAILPOP3_NO_ERROR && !found.empty() && cfg_.delete_found) {
      fail(pop.get(), "QUIT failed, deletions not committed", rc, false);
    }
    ids_by_uidl_ = std::move(seen_now);  // forget messages that are gone
    return found;
  }

  std::size_t foreign_seen() const override { return foreign_; }

 private:
  [[noreturn]] void fail(mailpop3* pop, const std::string& what, int rc, bool permanent) {
    std::string msg = "pop3 " + cfg_.server.to_string() + ": " + what + " (libetpan error " +
                      std::to_string(rc) + ")";
    if (pop && pop->pop3_response && pop->pop3_response[0]) {
      std::string server(pop->pop3_response);
      msg += ": " + server.substr(0, 200);
    }
    throw MailboxError(msg, permanent);
  }

  struct Identified {
    std::string id;  // "" if not one of ours
    std::string headers;
  };

  // The canary id of message `index` from its header (TOP n 0), or "" if it is not one
  // of ours (no header, or a signature that does not verify).
  Identified identify(mailpop3* pop, unsigned index) {
    char* text = nullptr;
    size_t len = 0;
    int rc = mailpop3_top(pop, index, 0, &text, &len);
    if (rc != MAILPOP3_NO_ERROR || !text) {
      fail(pop, "TOP failed", rc, false);
    }
    std::string headers(text, std::min(len, kMaxHeaderBytes));
    mailpop3_top_free(text);
    auto values = header_values(headers, kCanaryHeader, 1);
    if (values.empty()) {
      return {};
    }
    auto id = verify_canary_token(values.front(), key_);
    if (!id) {
      ++foreign_;
      return {};
    }
    return {*id, std::move(headers)};
  }

  config::MailboxConfig cfg_;
  std::string key_;
  std::map<std::string, Identified> ids_by_uidl_;
  std::size_t foreign_ = 0;
};

}  // namespace

std::unique_ptr<MailboxReader> make_pop3_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key) {
  return std::make_unique<Pop3Reader>(cfg, hmac_key);
}

}  // namespace mailcanary::probes
