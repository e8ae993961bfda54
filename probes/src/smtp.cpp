#include "mailcanary/probes/smtp.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>

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

struct TransferState {
  SmtpSession session{SteadyClock::now()};
  const std::string* body = nullptr;
  std::size_t offset = 0;
  bool auth_required = false;  // credentials are configured
  bool auth_sent = false;      // an AUTH command went out
  bool auth_missing = false;   // the message was held back: AUTH never happened
};

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
      });
      break;
    default:
      break;
  }
  return 0;
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

  // Per-stage timeout: connect, then each server response. The overall cap only
  // guards against a server that trickles bytes forever.
  const long stage_ms = static_cast<long>(std::max<long long>(smtp.timeout.count(), 1));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, stage_ms);
  curl_easy_setopt(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, std::max(1L, (stage_ms + 999) / 1000));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, stage_ms * 12);

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
    curl_easy_setopt(c, CURLOPT_PASSWORD, smtp.password.c_str());
    st.auth_required = true;
  }

  const auto start = SteadyClock::now();
  CURLcode rc = curl_easy_perform(c);
  const auto end = SteadyClock::now();
  st.session.on_finished(end);

  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  out.verdict = classify_smtp(transport_of(rc, st.session), st.session, detail);
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

SmtpOutcome send_smtp(const SmtpRequest& req, Clock& clock, Random& random) {
  SmtpOutcome out;
  const int max_attempts = std::max(1, req.smtp.attempts);
  for (int n = 1; n <= max_attempts; ++n) {
    if (n > 1) {
      out.earlier.push_back(out.last.verdict);
      clock.sleep_for(retry_delay(n, req.smtp.retry_backoff, random.uniform01()));
    }
    out.last = send_smtp_once(req);
    out.attempts = n;
    if (out.last.verdict.accepted || !is_retryable(out.last.verdict.cls)) {
      break;
    }
  }
  return out;
}

}  // namespace mailcanary::probes
