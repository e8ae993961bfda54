#include "imap_session.hpp"

#include <strings.h>

#include <algorithm>

#include "mailcanary/probes/mailbox.hpp"
#include "sasl_oauth.hpp"

namespace mailcanary::probes {

ImapSession::ImapSession(const config::MailboxConfig& cfg)
    : cfg_(cfg), link_(make_mailbox_link(cfg_, "imap", ImapShape::Limits{})) {
  link_.commands = &commands_;
}

ImapSession::~ImapSession() = default;

// Forgets a broken session without the LOGOUT mailimap_free() would send and wait for.
void ImapSession::drop() {
  if (imap_ && imap_->imap_stream) {
    mailstream_close(imap_->imap_stream);
    imap_->imap_stream = nullptr;
  }
  imap_.reset();
}

void ImapSession::fail(const std::string& what, int rc, bool permanent) {
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
  drop();  // the next call reconnects
  throw MailboxError(msg, permanent);
}

void ImapSession::ensure_connected() {
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

void ImapSession::connect() {
  if (connected_before_) {
    ++reconnects_;
  }
  connected_before_ = true;
  ++generation_;
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
  if (!preauth && cfg_.auth != config::AuthMethod::password) {
    login_with_token();
  } else if (!preauth) {
    rc = mailimap_login(imap_.get(), cfg_.user.c_str(), cfg_.password.c_str());
    if (rc != MAILIMAP_NO_ERROR) {
      fail("login as " + cfg_.user + " refused", rc, rc == MAILIMAP_ERROR_LOGIN);
    }
  }
  std::uint32_t validity = 0;
  if (int sel = select(cfg_.folder, validity); sel != MAILIMAP_NO_ERROR) {
    fail("cannot select folder " + cfg_.folder, sel, sel == MAILIMAP_ERROR_SELECT);
  }
}

void ImapSession::login_with_token() {
  if (token_.value.empty()) {
    throw no_token_error(link_.label, cfg_, token_);
  }
  const bool sasl_ir = mailimap_has_extension(imap_.get(), "SASL-IR") != 0;
  const SaslOutcome out =
      imap_sasl_login(imap_->imap_stream, imap_->imap_stream_buffer, "mc1", cfg_.auth,
                      sasl_initial_response(cfg_.auth, cfg_.user, token_.value), sasl_ir);
  if (out.verdict == SaslOutcome::Verdict::ok) {
    imap_->imap_state = MAILIMAP_STATE_AUTHENTICATED;
    has_capability("IMAP4rev1");  // what the server offers once logged in (IDLE, UIDPLUS)
    return;
  }
  MailboxError error = sasl_login_error(link_.label, cfg_, out, guard_failure(imap_->imap_stream));
  drop();
  throw error;
}

bool ImapSession::has_capability(const char* name) {
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

int ImapSession::select(const std::string& folder, std::uint32_t& uidvalidity) {
  const int rc = mailimap_select(imap_.get(), folder.c_str());
  uidvalidity = rc == MAILIMAP_NO_ERROR && imap_->imap_selection_info
                    ? imap_->imap_selection_info->sel_uidvalidity
                    : 0;
  uidvalidity_ = uidvalidity;
  return rc;
}

void ImapSession::sync() {
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

bool ImapSession::take_exists(std::uint32_t& exists) {
  mailimap_selection_info* info = imap_ ? imap_->imap_selection_info : nullptr;
  if (!info || !info->sel_has_exists) {
    return false;
  }
  info->sel_has_exists = 0;  // libetpan sets it again at the next EXISTS
  exists = info->sel_exists;
  return true;
}

std::vector<std::uint32_t> ImapSession::search(mailimap_search_key* key) {
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

std::vector<FetchedSection> ImapSession::fetch(mailimap_set* set, mailimap_fetch_type* type,
                                               std::size_t max_bytes) {
  clist* result = nullptr;
  int rc = mailimap_uid_fetch(imap_.get(), set, type, &result);
  mailimap_fetch_type_free(type);
  mailimap_set_free(set);
  if (rc != MAILIMAP_NO_ERROR) {
    fail("UID FETCH failed", rc, false);
  }
  auto out = fetched_sections(result, max_bytes);
  mailimap_fetch_list_free(result);
  return out;
}

void ImapSession::remove(const std::vector<std::uint32_t>& uids) {
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

bool ImapSession::idle_start() {
  if (!imap_ || !mailimap_has_idle(imap_.get())) {
    return false;
  }
  if (mailimap_idle(imap_.get()) != MAILIMAP_NO_ERROR) {
    drop();  // the next scan reconnects and reports what is wrong
    return false;
  }
  return true;
}

int ImapSession::idle_fd() {
  return mailimap_idle_get_fd(imap_.get());
}

void ImapSession::idle_done() {
  if (mailimap_idle_done(imap_.get()) != MAILIMAP_NO_ERROR) {
    drop();
  }
}

}  // namespace mailcanary::probes
