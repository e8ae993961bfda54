#include "mailcanary/probes/smtp.hpp"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>

namespace mailcanary::probes {
namespace {

using SteadyClock = std::chrono::steady_clock;

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

// QUIT after a message was taken: the answer is a courtesy, not worth another timeout.
constexpr auto kQuitGrace = std::chrono::milliseconds(500);

struct TransferState {
  SmtpSession session{SteadyClock::now()};
  const std::string* body = nullptr;
  std::size_t offset = 0;
  bool auth_required = false;  // credentials are configured
  bool auth_sent = false;      // an AUTH command went out
  bool auth_missing = false;   // the message was held back: AUTH never happened
  std::string too_large;       // libcurl's words when a reply broke its size limits
  bool reset = false;          // the server reset the connection

  // Our own stage deadlines: libcurl's response timeout has 1 s steps and waits again
  // for QUIT's answer after a timeout. Each wait for the server (banner, each reply, the
  // TLS handshake after STARTTLS) may take `stage_timeout`; past it the socket is shut
  // down, which ends libcurl's wait at once.
  std::chrono::milliseconds stage_timeout{0};
  curl_socket_t fd = CURL_SOCKET_BAD;
  std::optional<SteadyClock::time_point> deadline;
  std::optional<SteadyClock::time_point> give_up_at;  // the caller's, over every stage
  bool at_give_up = false;                            // deadline is give_up_at
  bool quitting = false;
  bool cut = false;        // the socket was shut down at a deadline
  std::string cut_detail;  // why, for the verdict

  void wait_from(SteadyClock::time_point now, std::chrono::milliseconds limit) {
    deadline = now + limit;
    at_give_up = give_up_at && *give_up_at < *deadline;
    if (at_give_up) {
      deadline = give_up_at;
    }
  }
  // Shuts the connection down when its deadline has passed; true if it did now.
  bool enforce(SteadyClock::time_point now) {
    if (cut || !deadline || now < *deadline || fd == CURL_SOCKET_BAD) {
      return false;
    }
    cut = true;
    ::shutdown(fd, SHUT_RDWR);
    if (quitting) {
      session.on_info("QUIT not answered within " + std::to_string(kQuitGrace.count()) +
                      " ms: connection closed");
    } else if (at_give_up) {
      cut_detail = "the probe's deadline passed (" + std::string(to_string(session.stage())) + ")";
      session.on_info(cut_detail + ": connection closed");
    } else {
      cut_detail = "no answer from the server within " + seconds_text(stage_timeout) + " (" +
                   std::string(to_string(session.stage())) + ")";
      session.on_info(cut_detail + ": connection closed");
    }
    return true;
  }

  static std::string seconds_text(std::chrono::milliseconds ms) {
    const auto count = ms.count();
    return count % 1000 == 0 ? std::to_string(count / 1000) + " s" : std::to_string(count) + " ms";
  }
};

bool is_quit(std::string_view line) {
  return line.size() >= 4 && (line[0] == 'Q' || line[0] == 'q') &&
         (line[1] == 'U' || line[1] == 'u') && (line[2] == 'I' || line[2] == 'i') &&
         (line[3] == 'T' || line[3] == 't') && (line.size() == 4 || line[4] == '\r');
}

bool is_auth_command(std::string_view line) {
  return line.size() >= 5 && (line[0] == 'A' || line[0] == 'a') &&
         (line[1] == 'U' || line[1] == 'u') && (line[2] == 'T' || line[2] == 't') &&
         (line[3] == 'H' || line[3] == 'h') && line[4] == ' ';
}

// Feeds each line of a debug chunk to `fn`.
template <typename Fn>
void for_each_line(const char* data, std::size_t size, Fn fn) {
  std::string_view rest(data, size);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1);
    fn(line);
    rest.remove_prefix(line.size());
  }
}

int on_debug(CURL*, curl_infotype type, char* data, size_t size, void* userp) {
  auto* st = static_cast<TransferState*>(userp);
  auto now = SteadyClock::now();
  switch (type) {
    case CURLINFO_TEXT:
      if (size >= 12 && std::memcmp(data, "Connected to", 12) == 0) {
        st->session.on_connected(now);
        st->wait_from(now, st->stage_timeout);  // for the banner
      }
      if (const std::string_view text(data, size);
          text.find("Excessive server response line length") != std::string_view::npos ||
          text.find("Too large response") != std::string_view::npos) {
        if (st->too_large.empty()) {
          st->too_large = std::string(text.substr(0, std::min<std::size_t>(text.size(), 120)));
          while (!st->too_large.empty() &&
                 (st->too_large.back() == '\n' || st->too_large.back() == '\r')) {
            st->too_large.pop_back();
          }
        }
      } else if (text.find("Connection reset by peer") != std::string_view::npos) {
        st->reset = true;
      }
      st->session.on_info(std::string_view(data, size));
      break;
    case CURLINFO_HEADER_IN:
      for_each_line(data, size, [&](std::string_view l) { st->session.on_reply_line(l, now); });
      break;
    case CURLINFO_HEADER_OUT:
      for_each_line(data, size, [&](std::string_view l) {
        st->auth_sent = st->auth_sent || is_auth_command(l);
        st->session.on_command(l, now);
        if (is_quit(l)) {
          // After a failure nothing is left to hear; after success a short grace.
          st->quitting = true;
          st->wait_from(now, st->session.body_reply() && st->session.body_reply()->code < 300
                                 ? kQuitGrace
                                 : std::chrono::milliseconds(0));
          st->enforce(now);
        } else {
          st->wait_from(now, st->stage_timeout);
        }
      });
      break;
    case CURLINFO_DATA_OUT:
      st->wait_from(now, st->stage_timeout);  // the reply to the end of data
      break;
    default:
      break;
  }
  return 0;
}

// Also called while libcurl waits for QUIT's answer in a blocking loop (about once a
// second there), so the grace holds there too.
int on_progress(void* userp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  static_cast<TransferState*>(userp)->enforce(SteadyClock::now());
  return 0;
}

int on_socket(void* userp, curl_socket_t fd, curlsocktype) {
  static_cast<TransferState*>(userp)->fd = fd;
  return CURL_SOCKOPT_OK;
}

// Details libcurl's error text gets wrong or leaves vague.
void explain_transport(const TransferState& st, CURLcode rc, SmtpVerdict& v) {
  if (v.accepted || v.smtp_code) {
    return;  // the server's own reply says it
  }
  const std::string stage(to_string(st.session.stage()));
  if (!st.too_large.empty()) {
    v.cls = ResultClass::protocol_error;
    v.detail = "the server's reply is too large for libcurl (" + st.too_large +
               "; SMTP allows 512-byte lines)";
  } else if (st.session.stage() == Stage::starttls && rc == CURLE_WEIRD_SERVER_REPLY) {
    // More text right behind "220 ready to start TLS": whoever sent it (the server, or
    // someone injecting into the plaintext stream) must not be believed.
    v.cls = ResultClass::tls_error;
    v.detail =
        "the server sent more plaintext after agreeing to STARTTLS, before the TLS "
        "handshake";
  } else if (st.reset && v.cls == ResultClass::protocol_error && !st.session.saw_garbage()) {
    v.detail = "connection reset by the server during " + stage;
  }
}

// curl_easy_perform() with our stage deadlines: the multi loop never sleeps past the
// current deadline, and shuts the socket down when it passes.
// The multi handle is kept per thread: a new one per probe cost a socketpair (libcurl's
// wake-up pipe), its fcntl calls and two closes.
CURLcode perform(CURL* c, TransferState& st) {
  struct MultiDeleter {
    void operator()(CURLM* m) const { curl_multi_cleanup(m); }
  };
  thread_local std::unique_ptr<CURLM, MultiDeleter> kept(curl_multi_init());
  CURLM* multi = kept.get();
  if (!multi) {
    return CURLE_OUT_OF_MEMORY;
  }
  curl_multi_add_handle(multi, c);
  int running = 1;
  CURLcode rc = CURLE_OK;
  while (running > 0) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      rc = CURLE_FAILED_INIT;
      break;
    }
    if (running == 0) {
      break;
    }
    const auto now = SteadyClock::now();
    st.enforce(now);
    long wait_ms = 1000;
    long curl_ms = -1;
    if (curl_multi_timeout(multi, &curl_ms) == CURLM_OK && curl_ms >= 0) {
      wait_ms = std::min(wait_ms, curl_ms);
    }
    if (st.deadline && !st.cut) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*st.deadline - now).count();
      wait_ms = std::min<long>(wait_ms, std::max<long>(0, left));
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait_ms), nullptr);
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == c) {
      rc = msg->data.result;
    }
  }
  curl_multi_remove_handle(multi, c);
  return rc;
}

size_t on_read(char* buffer, size_t size, size_t nitems, void* userp) {
  auto* st = static_cast<TransferState*>(userp);
  if (st->auth_required && !st->auth_sent) {
    // libcurl skips AUTH without a word when the server does not offer it and goes on
    // unauthenticated; credentials are configured, so hold the message back.
    st->auth_missing = true;
    return CURL_READFUNC_ABORT;
  }
  std::size_t n = std::min(size * nitems, st->body->size() - st->offset);
  std::memcpy(buffer, st->body->data() + st->offset, n);
  st->offset += n;
  return n;
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

Transport transport_of(CURLcode rc, const SmtpSession& s) {
  switch (rc) {
    case CURLE_OK:
      return Transport::completed;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
      return Transport::connect_failed;
    case CURLE_OPERATION_TIMEDOUT:
      return s.connected() ? Transport::timeout : Transport::connect_timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      return Transport::tls_failed;
    case CURLE_LOGIN_DENIED:
      return Transport::auth_failed;
    case CURLE_WEIRD_SERVER_REPLY:
      return Transport::malformed;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return s.failure_reply() ? Transport::refused : Transport::closed;
    default:
      return s.failure_reply() ? Transport::refused : Transport::other;
  }
}

}  // namespace

std::string parse_queue_id(const std::string& text) {
  static constexpr std::string_view kMarker = "queued as ";
  auto pos = text.find(kMarker);
  if (pos == std::string::npos) {
    return {};
  }
  pos += kMarker.size();
  auto end = pos;
  while (end < text.size() && end - pos < 64 &&
         (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-' ||
          text[end] == '.' || text[end] == '_')) {
    ++end;
  }
  return text.substr(pos, end - pos);
}

SmtpAttempt send_smtp_once(const SmtpRequest& req) {
  global_init_once();
  SmtpAttempt out;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    out.verdict.cls = ResultClass::protocol_error;
    out.verdict.stage = Stage::connect;
    out.verdict.detail = "libcurl could not be initialised";
    return out;
  }
  CURL* c = curl.get();
  const auto& smtp = req.smtp;
  TransferState st;
  st.body = &req.message;

  const std::string address = bracketed(req.address.host);
  const std::string port = std::to_string(req.address.port);
  const std::string url_host = req.host.empty() ? address : bracketed(req.host);
  const std::string scheme = smtp.tls == config::TlsMode::implicit ? "smtps://" : "smtp://";
  const std::string url = scheme + url_host + ":" + port + "/" + smtp.helo;

  std::unique_ptr<curl_slist, SlistDeleter> connect_to;
  if (!req.host.empty()) {
    // Reach the member at its own address while the URL keeps the configured name for
    // SNI and certificate verification.
    std::string spec = url_host + ":" + port + ":" + address + ":" + port;
    connect_to.reset(curl_slist_append(nullptr, spec.c_str()));
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, connect_to.get());
  }
  std::unique_ptr<curl_slist, SlistDeleter> rcpts(
      curl_slist_append(nullptr, ("<" + req.rcpt + ">").c_str()));
  const std::string from = "<" + smtp.from + ">";
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(c, CURLOPT_READDATA, &st);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.message.size()));
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &st);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_socket);
  curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, &st);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);

  // Per-stage timeout: connect (libcurl's), then each wait for the server (ours, see
  // TransferState; libcurl's own response timeout stays as a backstop). The overall cap
  // only guards against a server that trickles bytes forever.
  const long stage_ms = static_cast<long>(std::max<long long>(smtp.timeout.count(), 1));
  st.stage_timeout = std::chrono::milliseconds(stage_ms);
  // libcurl's connect timeout runs until the SMTP session is set up (banner, EHLO,
  // STARTTLS, AUTH): a backstop over those stages; ours times each of them.
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, stage_ms * 6);
  curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, (stage_ms + 999) / 1000 + 1);
  long overall_ms = stage_ms * 12;
  st.give_up_at = req.give_up_at;
  if (req.give_up_at) {
    // A backstop only: our own deadline (enforce) closes the connection first.
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(*req.give_up_at - SteadyClock::now());
    overall_ms = std::clamp<long>(static_cast<long>(left.count()) + 1000, 1, overall_ms);
  }
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, overall_ms);

  switch (smtp.tls) {
    case config::TlsMode::none:
      curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_NONE));
      break;
    case config::TlsMode::starttls:
      curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
      break;
    case config::TlsMode::opportunistic:
      curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_TRY));
      break;
    case config::TlsMode::implicit:
      break;
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, smtp.tls_verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, smtp.tls_verify ? 2L : 0L);
  if (!smtp.ca_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, smtp.ca_file.c_str());
  }
  if (!smtp.user.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, smtp.user.c_str());
    if (smtp.auth == config::AuthMethod::password) {
      curl_easy_setopt(c, CURLOPT_PASSWORD, smtp.password.c_str());
    } else {
      // libcurl 7.88 takes OAUTHBEARER whenever the server offers it, whichever is asked.
      curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, req.bearer.c_str());
      curl_easy_setopt(
          c, CURLOPT_LOGIN_OPTIONS,
          smtp.auth == config::AuthMethod::oauthbearer ? "AUTH=OAUTHBEARER" : "AUTH=XOAUTH2");
    }
    st.auth_required = true;
  }

  const auto start = SteadyClock::now();
  st.wait_from(start, st.stage_timeout);  // the TCP connection
  CURLcode rc = perform(c, st);
  const auto end = SteadyClock::now();
  st.session.on_finished(end);

  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  Transport transport = transport_of(rc, st.session);
  if (st.cut && !st.quitting && rc != CURLE_OK) {
    // Our deadline, not the server, ended the connection.
    transport = st.session.connected() ? Transport::timeout : Transport::connect_timeout;
    detail = st.cut_detail;
    out.gave_up = st.at_give_up;
  }
  out.verdict = classify_smtp(transport, st.session, detail);
  explain_transport(st, rc, out.verdict);
  if (rc == CURLE_USE_SSL_FAILED && out.verdict.cls == ResultClass::tls_error &&
      !st.session.failure_reply()) {
    // TLS is required and the EHLO reply does not offer STARTTLS: libcurl gives up
    // without sending the command, so the session never left EHLO. The failure is
    // STARTTLS's all the same. (A server that refuses STARTTLS with a reply is
    // classified from that reply.)
    out.verdict.stage = Stage::starttls;
    out.verdict.detail = "STARTTLS required (tls = starttls) but not offered by the server";
  }
  // Credentials are configured but libcurl went on without AUTH (the server did not
  // offer it): whatever the server did next, that is the failure. The body was held
  // back (on_read), so no unauthenticated canary was delivered.
  const Stage reached = st.session.stage();
  const bool went_on = reached == Stage::mail || reached == Stage::rcpt || reached == Stage::data ||
                       reached == Stage::body;
  if (st.auth_required && !st.auth_sent && (st.auth_missing || went_on) && !out.verdict.accepted) {
    out.verdict = SmtpVerdict{};
    out.verdict.cls = ResultClass::auth_error;
    out.verdict.stage = Stage::auth;
    out.verdict.detail =
        "AUTH not offered by the server (user is configured); the message was not sent";
  }
  out.seconds = std::chrono::duration<double>(end - start).count();
  if (const auto& body = st.session.body_reply()) {
    out.queue_id = parse_queue_id(body->text);
  }
  out.transcript = st.session.transcript();
  out.stage_times = st.session.stage_times();
  return out;
}

}  // namespace mailcanary::probes
