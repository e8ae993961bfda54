// POP3 reader over libetpan. POP3 shows a snapshot of the mailbox taken at login and
// commits deletions at QUIT, so every scan is one session: connect (plain, STLS or
// implicit TLS, the certificate checked by us before USER/PASS), USER/PASS, LIST+UIDL,
// TOP 0 for messages not seen before (newest first, a bounded number per scan), DELE
// for the canaries found, QUIT. A session that fails midway is dropped without QUIT,
// so no deletion is committed for a canary that is then not reported.
//
// Every byte passes the connection's guard (mailbox_tls_stream.hpp): an answer larger
// than 4 MiB, a listing naming an impossible message number (pop3_shape.hpp), or one
// that takes too long ends the session with a mailbox error.
#include <libetpan/libetpan.h>
#include <strings.h>

#include <map>

#include "ascii.hpp"
#include "mailbox_tls_stream.hpp"
#include "mailcanary/probes/canary.hpp"
#include "mailcanary/probes/mailbox.hpp"
#include "readers.hpp"
#include "sasl_oauth.hpp"
#include "wakeable.hpp"

namespace mailcanary::probes {
namespace {

constexpr std::size_t kMaxNewPerScan = 1000;  // TOP commands per scan
// libetpan's POP3_STATE_TRANSACTION (private to mailpop3.c): logged in. Set after our own
// SASL AUTH, which libetpan does not know of.
constexpr int kPop3Transaction = 2;

// Ends a session without QUIT: mailpop3_free() would send it, committing deletions. With
// the guard shut, its QUIT fails before a byte goes out and it only cleans up.
struct Pop3Drop {
  void operator()(mailpop3* p) const {
    if (p->pop3_stream && !shut_guard(p->pop3_stream)) {
      mailstream_close(p->pop3_stream);  // no guard yet (TLS not checked): no more words
      p->pop3_stream = nullptr;
    }
    mailpop3_free(p);
  }
};
using Session = std::unique_ptr<mailpop3, Pop3Drop>;

class Pop3Reader final : public WakeableReader {
 public:
  Pop3Reader(config::MailboxConfig cfg, std::string key)
      : cfg_(std::move(cfg)), key_(std::move(key)) {
    link_ = make_mailbox_link(cfg_, "pop3", std::nullopt);  // POP3: lines, no syntax
    link_.commands = &commands_;
  }
  Pop3Reader(const Pop3Reader&) = delete;
  Pop3Reader& operator=(const Pop3Reader&) = delete;

  std::vector<FoundCanary> scan(const std::set<std::string>& wanted) override {
    Session pop = open_session();
    carray* list = nullptr;
    int rc = mailpop3_list(pop.get(), &list);
    if (rc != MAILPOP3_NO_ERROR || !list) {
      fail(pop.get(), "LIST failed", rc, false);
    }
    std::map<std::string, Identified> seen_now;  // by uidl
    std::vector<FoundCanary> found;
    std::size_t fresh = 0;
    std::uint64_t leftovers = 0;
    const auto now = std::chrono::system_clock::now();
    // Newest first: a mailbox full of other mail costs at most kMaxNewPerScan TOPs per
    // scan, and the newest messages (where a canary just sent lands) come first.
    for (unsigned i = carray_count(list); i-- > 0;) {
      auto* info = static_cast<mailpop3_msg_info*>(carray_get(list, i));
      if (!info || info->msg_deleted) {
        continue;
      }
      std::string uidl = info->msg_uidl ? info->msg_uidl : "#" + std::to_string(info->msg_index);
      Identified msg;
      if (auto known = ids_by_uidl_.find(uidl); known != ids_by_uidl_.end()) {
        msg = known->second;
      } else if (fresh < kMaxNewPerScan) {
        msg = identify(pop.get(), info->msg_index);
        ++fresh;
      } else {
        continue;  // looked at in a later scan
      }
      seen_now[uidl] = msg;
      const std::string& id = msg.id;
      const bool is_wanted = !id.empty() && wanted.count(id);
      const bool leftover = !id.empty() && !is_wanted && is_leftover(id, cfg_, now);
      if ((is_wanted && cfg_.delete_found) || leftover) {
        rc = mailpop3_dele(pop.get(), info->msg_index);
        if (rc != MAILPOP3_NO_ERROR) {
          fail(pop.get(), "DELE failed", rc, false);
        }
        leftovers += leftover ? 1 : 0;
      }
      if (is_wanted) {
        found.push_back({id, "INBOX", msg.headers, std::nullopt});
      }
    }
    rc = mailpop3_quit(pop.get());  // commits the deletions
    if (rc != MAILPOP3_NO_ERROR && ((!found.empty() && cfg_.delete_found) || leftovers > 0)) {
      fail(pop.get(), "QUIT failed, deletions not committed", rc, false);
    }
    leftovers_ += leftovers;
    ids_by_uidl_ = std::move(seen_now);  // forget messages that are gone
    return found;
  }

  std::size_t foreign_seen() const override { return foreign_; }
  std::uint64_t commands() const override { return commands_; }
  void set_login_token(const LoginToken& token) override { token_ = token; }
  // No push in POP3: a sleep that interrupt() ends.
  bool wait(Clock& /*clock*/, std::chrono::milliseconds max) override {
    wait_for(-1, max);
    return false;
  }
  std::uint64_t leftovers_removed() const override { return leftovers_; }

 private:
  [[noreturn]] void fail(mailpop3* pop, const std::string& what, int rc, bool permanent) {
    throw MailboxError(describe(pop, what, rc), permanent);  // the Session drops it, no QUIT
  }

  std::string describe(mailpop3* pop, const std::string& what, int rc) {
    std::string msg = link_.label + ": " + what;
    std::string cut = pop ? guard_failure(pop->pop3_stream) : "";
    if (!cut.empty()) {
      msg += ": " + cut;
    } else {
      msg += ": " + pop3_error_text(rc) + " (libetpan error " + std::to_string(rc) + ")";
      if (rc != MAILPOP3_ERROR_STREAM && pop && pop->pop3_response && pop->pop3_response[0]) {
        msg += "; the server said: " + printable_ascii(std::string_view(pop->pop3_response), 200);
      }
    }
    return msg;
  }

  // Connects, TLS as configured, logs in.
  Session open_session() {
    Session pop(mailpop3_new(0, nullptr));
    if (!pop) {
      throw MailboxError(link_.label + ": out of memory", false);
    }
    mailpop3_set_timeout(pop.get(), static_cast<time_t>(link_.io_timeout.count()));
    int rc = mailpop3_connect(pop.get(), open_mailbox_stream(link_));  // owns the stream
    if (rc != MAILPOP3_NO_ERROR) {
      // Not connected as far as libetpan knows: its teardown would not close the stream.
      std::string msg = describe(pop.get(), "no POP3 greeting", rc);
      if (pop->pop3_stream) {
        mailstream_close(pop->pop3_stream);
        pop->pop3_stream = nullptr;
      }
      throw MailboxError(msg, false);
    }
    if (cfg_.tls == config::TlsMode::starttls) {
      if (!has_capability(pop.get(), "STLS")) {
        throw MailboxError(
            link_.label + ": STLS required (tls = \"starttls\") but not offered by the server",
            true);
      }
      bool late = false;
      {
        SigpipeBlock no_sigpipe;
        SocketWatchdog dog;
        ArmedWatchdog armed(dog, mailstream_low_get_fd(mailstream_get_low(pop->pop3_stream)),
                            handshake_deadline(link_));
        rc = mailpop3_socket_starttls_with_callback(pop.get(), mailbox_tls_callback, &link_);
        late = armed.fired();
      }
      if (late) {
        throw MailboxError(link_.label + ": TLS handshake after STLS failed: not done within " +
                               handshake_seconds(link_),
                           false);
      }
      if (rc == MAILPOP3_ERROR_STLS_NOT_SUPPORTED) {
        fail(pop.get(), "STLS refused", rc, true);
      } else if (rc != MAILPOP3_NO_ERROR) {
        fail(pop.get(), "TLS handshake after STLS failed", rc, false);
      }
      finish_starttls(pop->pop3_stream, link_);
    }
    if (cfg_.auth != config::AuthMethod::password) {
      login_with_token(pop.get());
      return pop;
    }
    rc = mailpop3_user(pop.get(), cfg_.user.c_str());
    if (rc == MAILPOP3_NO_ERROR) {
      rc = mailpop3_pass(pop.get(), cfg_.password.c_str());
    }
    if (rc != MAILPOP3_NO_ERROR) {
      bool refused = rc == MAILPOP3_ERROR_BAD_USER || rc == MAILPOP3_ERROR_BAD_PASSWORD;
      fail(pop.get(), "login as " + cfg_.user + " refused", rc, refused);
    }
    return pop;
  }

  void login_with_token(mailpop3* pop) {
    if (token_.value.empty()) {
      throw no_token_error(link_.label, cfg_, token_);
    }
    const SaslOutcome out =
        pop3_sasl_login(pop->pop3_stream, pop->pop3_stream_buffer, cfg_.auth,
                        sasl_initial_response(cfg_.auth, cfg_.user, token_.value));
    if (out.verdict != SaslOutcome::Verdict::ok) {
      // The Session drops the connection, no QUIT.
      throw sasl_login_error(link_.label, cfg_, out, guard_failure(pop->pop3_stream));
    }
    pop->pop3_state = kPop3Transaction;
  }

  bool has_capability(mailpop3* pop, const char* name) {
    clist* caps = nullptr;
    int rc = mailpop3_capa(pop, &caps);
    if (rc == MAILPOP3_ERROR_CAPA_NOT_SUPPORTED) {
      return false;
    }
    if (rc != MAILPOP3_NO_ERROR || !caps) {
      fail(pop, "CAPA failed", rc, false);
    }
    bool has = false;
    for (clistiter* it = clist_begin(caps); it; it = clist_next(it)) {
      auto* c = static_cast<struct mailpop3_capa*>(clist_content(it));
      if (c && c->cap_name && strcasecmp(c->cap_name, name) == 0) {
        has = true;
      }
    }
    mailpop3_capa_resp_free(caps);
    return has;
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
  MailboxLink link_;  // points into cfg_
  std::map<std::string, Identified> ids_by_uidl_;
  std::size_t foreign_ = 0;
  std::uint64_t commands_ = 0;
  std::uint64_t leftovers_ = 0;
  LoginToken token_;
};

}  // namespace

std::unique_ptr<MailboxReader> make_pop3_reader(const config::MailboxConfig& cfg,
                                                const std::string& hmac_key) {
  return std::make_unique<Pop3Reader>(cfg, hmac_key);
}

}  // namespace mailcanary::probes
