#include "mailbox_tls_stream.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mailbox_tls.hpp"
#include "mailcanary/probes/mailbox.hpp"

namespace mailcanary::probes {
namespace {

using std::chrono::steady_clock;

// TCP connect to `ep`, every address in turn, within `timeout` in all. Returns a
// blocking socket (what libetpan's streams expect) or -1 with `error` set.
int connect_tcp(const config::Endpoint& ep, std::chrono::milliseconds timeout, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(ep.port);
  if (int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = gai_strerror(rc);
    return -1;
  }
  const auto deadline = steady_clock::now() + timeout;
  error = "no address";
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    // libetpan waits on its sockets with select(): a descriptor past FD_SETSIZE would
    // overflow its fd_set.
    if (fd >= FD_SETSIZE) {
      error = "too many open files (descriptor " + std::to_string(fd) + ")";
      close(fd);
      fd = -1;
      break;
    }
    const int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      for (;;) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
        rc = poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count())));
        if (rc < 0 && errno == EINTR) {
          continue;
        }
        break;
      }
      if (rc == 0) {
        error = "timed out after " + std::to_string(timeout.count() / 1000) + " s";
        rc = -1;
      } else if (rc > 0) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        rc = so_error == 0 ? 0 : -1;
        if (so_error != 0) {
          error = std::strerror(so_error);
        }
      } else {
        error = std::strerror(errno);
      }
    } else if (rc != 0) {
      error = std::strerror(errno);
    }
    if (rc != 0) {
      close(fd);
      fd = -1;
      continue;
    }
    fcntl(fd, F_SETFL, flags);
  }
  freeaddrinfo(res);
  return fd;
}

MailboxStreamOpener stream_opener_for_tests = nullptr;

// ---- the guard, as a mailstream_low driver wrapped around the real one

struct GuardData {
  mailstream_low* inner;
  ResponseGuard guard;
  std::string failure;
  bool tls = false;                   // the layer below is libetpan's TLS
  SocketWatchdog watchdog;            // TLS: a read blocked inside a record ends at the deadline
  std::uint64_t* commands = nullptr;  // MailboxLink::commands
};

GuardData* guard_of(mailstream_low* s) {
  return static_cast<GuardData*>(s->data);
}

ssize_t guard_read(mailstream_low* s, void* buf, size_t count) {
  GuardData* g = guard_of(s);
  if (!g->failure.empty()) {
    return -1;
  }
  if (std::string late = g->guard.check_time(steady_clock::now()); !late.empty()) {
    g->failure = std::move(late);
    return -1;
  }
  // A plain socket read returns what has arrived (libetpan waits at most its I/O timeout
  // for it), so check_time() above sees a drip; TLS reads a whole record first.
  const int watched_fd = g->tls ? mailstream_low_get_fd(g->inner) : -1;
  ssize_t n = 0;
  {
    ArmedWatchdog armed(g->watchdog, watched_fd, g->guard.deadline());
    n = mailstream_low_read(g->inner, buf, count);
    if (armed.fired()) {
      g->failure = g->guard.check_time(g->guard.deadline() + std::chrono::milliseconds(1));
      return -1;
    }
  }
  if (n == 0) {
    // End of stream. libetpan's literal reader takes 0 for "no bytes yet" and would
    // spin until the answer deadline; nothing of ours expects a server to hang up.
    g->failure = "the server closed the connection";
    return -1;
  }
  if (n > 0) {
    std::string refused =
        g->guard.received(std::string_view(static_cast<const char*>(buf), static_cast<size_t>(n)));
    if (!refused.empty()) {
      g->failure = std::move(refused);
      return -1;
    }
  }
  return n;
}

ssize_t guard_write(mailstream_low* s, const void* buf, size_t count) {
  GuardData* g = guard_of(s);
  if (!g->failure.empty()) {
    return -1;
  }
  const std::string_view bytes(static_cast<const char*>(buf), count);
  g->guard.command_sent(steady_clock::now(), bytes);
  if (g->commands && bytes != "DONE\r\n") {
    *g->commands += static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  }
  SigpipeBlock no_sigpipe;
  return mailstream_low_write(g->inner, buf, count);
}

int guard_close(mailstream_low* s) {
  return mailstream_low_close(guard_of(s)->inner);
}

int guard_get_fd(mailstream_low* s) {
  return mailstream_low_get_fd(guard_of(s)->inner);
}

void guard_free(mailstream_low* s) {
  GuardData* g = guard_of(s);
  mailstream_low_free(g->inner);  // frees the layer below; closing is guard_close's job
  delete g;
  s->data = nullptr;
  std::free(s);  // allocated by mailstream_low_new
}

void guard_cancel(mailstream_low* s) {
  mailstream_low_cancel(guard_of(s)->inner);
}

struct mailstream_cancel* guard_get_cancel(mailstream_low* s) {
  return mailstream_low_get_cancel(guard_of(s)->inner);
}

carray* guard_certificate_chain(mailstream_low* s) {
  return mailstream_low_get_certificate_chain(guard_of(s)->inner);
}

int guard_setup_idle(mailstream_low* s) {
  return mailstream_low_setup_idle(guard_of(s)->inner);
}

int guard_unsetup_idle(mailstream_low* s) {
  return mailstream_low_unsetup_idle(guard_of(s)->inner);
}

int guard_interrupt_idle(mailstream_low* s) {
  return mailstream_low_interrupt_idle(guard_of(s)->inner);
}

mailstream_low_driver guard_driver = {
    guard_read,       guard_write,        guard_close,          guard_get_fd,
    guard_free,       guard_cancel,       guard_get_cancel,     guard_certificate_chain,
    guard_setup_idle, guard_unsetup_idle, guard_interrupt_idle,
};

void install_guard(mailstream* stream, const MailboxLink& link, bool tls) {
  mailstream_low* inner = mailstream_get_low(stream);
  auto* data = new GuardData{
      inner, ResponseGuard(link.limits, steady_clock::now()), "", tls, {}, link.commands};
  mailstream_low* low = mailstream_low_new(data, &guard_driver);
  if (!low) {
    delete data;
    throw MailboxError(link.label + ": out of memory", false);
  }
  mailstream_low_set_timeout(low, mailstream_low_get_timeout(inner));
  mailstream_set_low(stream, low);
}

// The chain the server presented, checked before anything is sent or trusted.
void check_certificate(mailstream* stream, const MailboxLink& link) {
  const auto& cfg = *link.cfg;
  if (!cfg.tls_verify) {
    return;
  }
  std::vector<std::string> der;
  if (carray* chain = mailstream_get_certificate_chain(stream)) {
    for (unsigned i = 0; i < carray_count(chain); ++i) {
      auto* cert = static_cast<MMAPString*>(carray_get(chain, i));
      if (cert && cert->str) {
        der.emplace_back(cert->str, cert->len);
      }
    }
    mailstream_certificate_chain_free(chain);
  }
  std::string reason = verify_certificate_chain(der, cfg.server.host, cfg.ca_file);
  if (!reason.empty()) {
    throw MailboxError(link.label + ": TLS certificate verification failed: " + reason, true);
  }
}

}  // namespace

void mailbox_tls_callback(struct mailstream_ssl_context* ctx, void* data) {
  const auto* link = static_cast<const MailboxLink*>(data);
  const std::string& host = link->cfg->server.host;
  if (!host.empty() && !is_ip_literal(host)) {
    mailstream_ssl_set_server_name(ctx, const_cast<char*>(host.c_str()));  // copied
  }
}

void set_mailbox_stream_opener_for_tests(MailboxStreamOpener opener) {
  stream_opener_for_tests = opener;
}

mailstream* open_mailbox_stream(const MailboxLink& link) {
  if (stream_opener_for_tests) {
    mailstream* stream = stream_opener_for_tests(link);
    if (!stream) {
      throw MailboxError(link.label + ": cannot connect: no test stream", false);
    }
    try {
      install_guard(stream, link, false);
    } catch (...) {
      mailstream_close(stream);
      throw;
    }
    return stream;
  }
  const auto& cfg = *link.cfg;
  std::string error;
  int fd = connect_tcp(cfg.server, link.io_timeout, error);
  if (fd < 0) {
    throw MailboxError(link.label + ": cannot connect: " + error, false);
  }
  const auto timeout = static_cast<time_t>(link.io_timeout.count());
  mailstream* stream = nullptr;
  if (cfg.tls == config::TlsMode::implicit) {
    SigpipeBlock no_sigpipe;  // the handshake writes
    bool late = false;
    {
      SocketWatchdog dog;
      ArmedWatchdog armed(dog, fd, handshake_deadline(link));
      stream = mailstream_ssl_open_with_callback_timeout(fd, timeout, mailbox_tls_callback,
                                                         const_cast<MailboxLink*>(&link));
      late = armed.fired();
    }
    if (!stream || late) {
      if (stream) {
        mailstream_close(stream);
      } else {
        close(fd);
      }
      throw MailboxError(link.label + ": TLS handshake failed" +
                             (late ? ": not done within " + handshake_seconds(link) : ""),
                         false);
    }
  } else {
    stream = mailstream_socket_open_timeout(fd, timeout);
    if (!stream) {
      close(fd);
      throw MailboxError(link.label + ": out of memory", false);
    }
  }
  try {
    if (cfg.tls == config::TlsMode::implicit) {
      check_certificate(stream, link);
    }
    install_guard(stream, link, cfg.tls == config::TlsMode::implicit);
  } catch (...) {
    mailstream_close(stream);
    throw;
  }
  return stream;
}

SocketWatchdog::TimePoint handshake_deadline(const MailboxLink& link) {
  return steady_clock::now() + 2 * link.io_timeout;
}

std::string handshake_seconds(const MailboxLink& link) {
  return std::to_string((2 * link.io_timeout).count()) + " s";
}

void finish_starttls(mailstream* stream, const MailboxLink& link) {
  // Bytes read before the handshake (already in the stream's buffer) would be taken as
  // if they came through TLS: a command injection (CVE-2020-15953 in libetpan).
  if (stream->read_buffer_len != 0) {
    throw MailboxError(link.label + ": the server sent data ahead of the TLS handshake", true);
  }
  check_certificate(stream, link);
  install_guard(stream, link, true);
}

std::string guard_failure(mailstream* stream) {
  if (!stream) {
    return "";
  }
  mailstream_low* low = mailstream_get_low(stream);
  if (!low || low->driver != &guard_driver) {
    return "";
  }
  return guard_of(low)->failure;
}

SigpipeBlock::SigpipeBlock() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe, &old_mask_);
}

SigpipeBlock::~SigpipeBlock() {
  const int saved_errno = errno;
  if (!was_pending_) {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  errno = saved_errno;
}

bool shut_guard(mailstream* stream) {
  mailstream_low* low = stream ? mailstream_get_low(stream) : nullptr;
  if (!low || low->driver != &guard_driver) {
    return false;
  }
  if (guard_of(low)->failure.empty()) {
    guard_of(low)->failure = "closed by the reader";
  }
  return true;
}

std::string imap_error_text(int rc) {
  switch (rc) {
    case MAILIMAP_ERROR_STREAM:
      return "connection lost or timed out";
    case MAILIMAP_ERROR_PARSE:
      return "the server's answer is not valid IMAP";
    case MAILIMAP_ERROR_MEMORY:
      return "out of memory";
    case MAILIMAP_ERROR_CONNECTION_REFUSED:
      return "connection refused";
    case MAILIMAP_ERROR_PROTOCOL:
      return "protocol error";
    case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
      return "the server does not accept the connection";
    case MAILIMAP_ERROR_BAD_STATE:
      return "command not valid in this state";
    case MAILIMAP_ERROR_SSL:
      return "TLS handshake failed";
    default:
      return "refused by the server";
  }
}

std::string pop3_error_text(int rc) {
  switch (rc) {
    case MAILPOP3_ERROR_STREAM:
      return "connection lost or timed out";
    case MAILPOP3_ERROR_MEMORY:
      return "out of memory";
    case MAILPOP3_ERROR_CONNECTION_REFUSED:
      return "connection refused";
    case MAILPOP3_ERROR_BAD_STATE:
      return "command not valid in this state";
    case MAILPOP3_ERROR_SSL:
      return "TLS handshake failed";
    case MAILPOP3_ERROR_UNAUTHORIZED:
      return "the server refused the connection";
    default:
      return "refused by the server";
  }
}

MailboxLink make_mailbox_link(const config::MailboxConfig& cfg, const std::string& protocol,
                              std::optional<ImapShape::Limits> imap) {
  MailboxLink link;
  link.cfg = &cfg;
  link.label = protocol + " " + cfg.server.to_string();
  link.io_timeout =
      std::chrono::seconds(std::max<long long>(1, cfg.poll_interval.count() / 1000 + 10));
  link.limits.max_answer_bytes = 4u << 20;
  link.limits.imap = imap;
  link.limits.max_lines = imap ? 0 : 5000;  // IMAP counts untagged responses instead
  if (!imap) {
    // A listing of more than 5,000 lines is refused anyway: no larger message number.
    link.limits.pop3 = Pop3Shape::Limits{5000};
  }
  link.limits.max_answer_time = std::max<std::chrono::milliseconds>(
      std::chrono::seconds(20), 2 * std::chrono::milliseconds(link.io_timeout));
  return link;
}

}  // namespace mailcanary::probes
