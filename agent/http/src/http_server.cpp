#include "http_server.hpp"

#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "listener.hpp"
#include "mailcanary/agent/http/descriptors.hpp"
#include "mailcanary/agent/http/http_parser.hpp"

namespace mailcanary::agent::http {
namespace {

constexpr std::uint64_t kListenTag = 1;
constexpr std::uint64_t kWakeTag = 2;
// Accepts per readiness: until EAGAIN, so the kernel's queue is emptied at each wakeup
// (a crowd reconnecting faster than a 64-a-turn loop drained it filled the queue, and
// new clients' SYNs were dropped); bounded by the backlog so the loop still turns.
constexpr int kAcceptBatch = kListenBacklog;
constexpr int kEventBatch = 256;
// TLS handshake steps per turn of the loop (handshake_queue.hpp): a few milliseconds of
// signatures, then the loop answers what else is ready.
constexpr std::size_t kHandshakesPerTurn = 8;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);  // after EMFILE and kin
constexpr auto kMaxWait = std::chrono::seconds(1);
// After an error answer that leaves a request unread: how long, and how much, the
// client's further bytes are read and discarded before the close.
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr std::size_t kDrainBytes = 64 * 1024;

std::uint32_t reading(const Connection& c) {
  return EPOLLIN | (c.tls_wants_write ? EPOLLOUT : 0u);
}

std::uint32_t writing(const Connection& c) {
  return c.ssl && !c.tls_wants_write ? EPOLLIN : EPOLLOUT;
}

Answer plain(int code, std::string body, int retry_after = 0) {
  return {code, "text/plain; charset=utf-8", std::move(body), retry_after, "", false};
}

}  // namespace

HttpServer::HttpServer(int listen_fd, int port, Router router, std::unique_ptr<TlsContext> tls,
                       const Limits& limits)
    : router_(std::move(router)), tls_(std::move(tls)), limits_(limits) {
  const auto plan = plan_descriptors(descriptor_limit(), limits_.max_connections);
  max_total_ = plan.max_connections;
  move_above_ = plan.move_above;
  listen_fd_ = listen_fd;
  port_ = port;
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event listen_event{EPOLLIN, {.u64 = kListenTag}};
  epoll_event wake_event{EPOLLIN, {.u64 = kWakeTag}};
  if (epoll_fd_ < 0 || wake_fd_ < 0 ||
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen_event) != 0 ||
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake_event) != 0) {
    const std::string why = std::strerror(errno);
    for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
      if (fd >= 0) {
        ::close(fd);
      }
    }
    throw std::runtime_error("cannot start the HTTP event loop: " + why);
  }
  pool_ = std::make_unique<RenderPool>(limits_.render_threads, limits_.max_queued_renders);
  thread_ = std::thread([this] { loop(); });
}

HttpServer::~HttpServer() {
  stop_ = true;
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  thread_.join();
  pool_.reset();  // running renders finish; their answers are dropped
  for (auto& [id, c] : conns_) {
    close_transport(*c);
  }
  ::close(listen_fd_);
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

void HttpServer::loop() {
  epoll_event events[kEventBatch];
  // Bounded by stop_: the destructor sets it and wakes the loop through the eventfd.
  while (!stop_) {
    auto now = Clock::now();
    auto until = std::min(next_expiry_, now + kMaxWait);
    if (!listening_) {
      until = std::min(until, resume_accept_);
    }
    int timeout = 0;
    if (pending_.empty() && handshakes_.empty() && until > now) {
      timeout = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1);
    }
    const int n = ::epoll_wait(epoll_fd_, events, kEventBatch, timeout);
    now = Clock::now();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kListenTag) {
        accept_some(now);
      } else if (tag == kWakeTag) {
        std::uint64_t count = 0;
        (void)!::read(wake_fd_, &count, sizeof count);
        take_rendered(now);
      } else if (auto it = conns_.find(tag); it != conns_.end()) {
        on_event(*it->second, events[i].events, now);
      }
    }
    // Connections with bytes already read (a pipelined request, or TLS records that
    // OpenSSL holds): no readiness event will come for those.
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto id : pending) {
      if (auto it = conns_.find(id); it != conns_.end() && it->second->phase == Phase::receiving) {
        on_readable(*it->second, now);
      }
    }
    run_handshakes(now);
    if (!listening_ && now >= resume_accept_) {
      epoll_event listen_event{EPOLLIN, {.u64 = kListenTag}};
      listening_ = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen_event) == 0;
      resume_accept_ = now + kAcceptPause;
    }
    if (now >= next_expiry_) {
      expire(now);
    }
  }
}

void HttpServer::accept_some(Clock::time_point now) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    auto a = accept_one(listen_fd_, move_above_);
    if (a.fd < 0) {
      if (a.error == EINTR || a.error == ECONNABORTED) {
        continue;
      }
      if (a.error == EMFILE || a.error == ENFILE || a.error == ENOBUFS || a.error == ENOMEM) {
        // Out of descriptors or memory: the listener stays readable, so stop watching
        // it for a moment instead of spinning.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        listening_ = false;
        resume_accept_ = now + kAcceptPause;
      }
      return;
    }
    admit(a.fd, std::move(a.address), now);
  }
}

void HttpServer::admit(int fd, std::string address, Clock::time_point now) {
  address = client_group(address);
  const auto same = per_address_.find(address);
  if ((same != per_address_.end() && same->second >= limits_.max_per_client) ||
      conns_.size() >= max_total_) {
    std::vector<Slot> slots;
    slots.reserve(conns_.size());
    for (const auto& [id, c] : conns_) {
      slots.push_back({id, c->address, c->phase, c->since});
    }
    const auto decision = http::admit(slots, address, limits_.max_per_client, max_total_);
    if (!decision.admit) {
      ::close(fd);
      return;
    }
    if (decision.shed) {
      close(*decision.shed);
    }
  }
  auto c = std::make_unique<Connection>();
  c->id = next_id_++;
  c->fd = fd;
  c->address = std::move(address);
  if (tls_) {
    c->ssl = tls_->new_session();
    if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
      close_transport(*c);
      return;
    }
    SSL_set_accept_state(c->ssl);
  }
  enter(*c, Phase::receiving, now, now + limits_.header_timeout);
  epoll_event e{EPOLLIN, {.u64 = c->id}};
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &e) != 0) {
    close_transport(*c);
    return;
  }
  c->events = EPOLLIN;
  ++per_address_[c->address];
  conns_.emplace(c->id, std::move(c));
  ++open_count_;
}

void HttpServer::on_event(Connection& c, std::uint32_t events, Clock::time_point now) {
  if (events & EPOLLERR) {
    close(c.id);
  } else if (c.draining) {
    if (drain(c, kDrainBytes) != Io::would_block) {
      close(c.id);
    }
  } else if (c.phase != Phase::answering) {
    on_readable(c, now);
  } else if (c.rendering) {
    if (events & EPOLLHUP) {
      close(c.id);  // the client is gone; its render's answer will be dropped
    }
  } else {
    on_writable(c, now);
  }
}

void HttpServer::on_readable(Connection& c, Clock::time_point now) {
  if (c.ssl && !c.handshake_done) {
    // Its turn comes in run_handshakes(); not watched meanwhile.
    if (!c.handshake_queued) {
      c.handshake_queued = true;
      handshakes_.push(c.id);
      watch(c, 0);
    }
    return;
  }
  read_request(c, now);
}

void HttpServer::run_handshakes(Clock::time_point now) {
  if (handshakes_.empty()) {
    return;
  }
  const auto turn = handshakes_.take(kHandshakesPerTurn, [this](std::uint64_t id) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) {
      return std::size_t{0};
    }
    const auto group = per_address_.find(it->second->address);
    return group == per_address_.end() ? std::size_t{1} : group->second;
  });
  for (const auto id : turn) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) {
      continue;
    }
    Connection& c = *it->second;
    c.handshake_queued = false;
    const Io h = handshake(c);
    if (h == Io::closed) {
      close(c.id);
    } else if (h == Io::would_block) {
      watch(c, reading(c));
    } else {
      read_request(c, now);  // the request may have come with the handshake's end
    }
  }
}

void HttpServer::read_request(Connection& c, Clock::time_point now) {
  const Io r = read_some(c, limits_.max_head);
  if (r == Io::closed && c.in.empty()) {
    close(c.id);
    return;
  }
  c.eof = r == Io::closed;
  if (c.in.empty()) {
    watch(c, reading(c));
    return;
  }
  if (c.phase == Phase::idle) {
    enter(c, Phase::receiving, now, now + limits_.header_timeout);
  }
  parse(c, now);
}

void HttpServer::parse(Connection& c, Clock::time_point now) {
  auto r = parse_request_head(c.in, limits_.max_head);
  if (r.status == ParseStatus::incomplete) {
    if (c.eof) {
      close(c.id);
      return;
    }
    if (c.ssl && SSL_pending(c.ssl) > 0) {
      pending_.push_back(c.id);
    }
    watch(c, reading(c));
    return;
  }
  enter(c, Phase::answering, now, now + limits_.render_timeout);
  if (r.status == ParseStatus::error) {
    c.keep_alive = false;
    c.linger = true;
    c.in.clear();
    respond(c, plain(r.error_code, std::string(reason_phrase(r.error_code)) + "\n"), now);
    return;
  }
  c.in.erase(0, r.consumed);
  c.keep_alive = r.head.keep_alive && !c.eof;
  c.http10 = r.head.minor_version == 0;
  c.head_only = r.head.method == "HEAD";
  if (r.head.has_body) {
    // No endpoint takes a body: answer at once and close rather than read it.
    c.keep_alive = false;
    c.linger = true;
    c.in.clear();
    const bool get = r.head.method == "GET" || r.head.method == "HEAD";
    respond(
        c,
        get ? plain(413, "request bodies are not accepted\n") : plain(405, "method not allowed\n"),
        now);
    return;
  }
  Request request{std::move(r.head.method), std::move(r.head.path), std::move(r.head.authorization),
                  r.head.accepts_gzip};
  std::optional<Answer> fast;
  try {
    fast = router_.fast(request);
  } catch (const std::exception&) {
    fast = plain(500, "internal error\n");
  }
  if (fast) {
    respond(c, std::move(*fast), now);
    return;
  }
  c.rendering = true;
  watch(c, 0);
  const std::uint64_t id = c.id;
  const bool queued = pool_->submit([this, id, request = std::move(request)] {
    Answer a;
    try {
      a = router_.render(request);
    } catch (const std::exception&) {
      a = plain(500, "internal error\n");
    }
    {
      std::lock_guard lock(rendered_mutex_);
      rendered_.push_back({id, std::move(a)});
    }
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  });
  if (!queued) {
    c.rendering = false;
    respond(c, plain(503, "busy, try again\n", 1), now);
  }
}

void HttpServer::respond(Connection& c, Answer a, Clock::time_point now) {
  ResponseHead head;
  head.code = a.code;
  head.content_type = a.content_type;
  head.content_length = a.body.size();
  head.keep_alive = c.keep_alive;
  head.http10 = c.http10;
  head.ask_for_credentials = a.code == 401;
  head.retry_after_seconds = a.retry_after_seconds;
  head.content_encoding = a.content_encoding;
  head.vary_accept_encoding = a.vary_accept_encoding;
  c.out = format_response_head(head);
  if (!c.head_only) {
    c.out += a.body;
  }
  c.out_pos = 0;
  c.rendering = false;
  c.write_until = now + limits_.write_timeout;
  c.deadline = std::min(now + limits_.write_stall_timeout, c.write_until);
  next_expiry_ = std::min(next_expiry_, c.deadline);
  on_writable(c, now);
}

void HttpServer::on_writable(Connection& c, Clock::time_point now) {
  const Io w = write_some(c);
  if (w == Io::closed) {
    close(c.id);
    return;
  }
  if (c.out_pos < c.out.size()) {
    if (w == Io::progress) {
      c.deadline = std::min(now + limits_.write_stall_timeout, c.write_until);
      next_expiry_ = std::min(next_expiry_, c.deadline);
    }
    watch(c, writing(c));
    return;
  }
  finished(c, now);
}

void HttpServer::finished(Connection& c, Clock::time_point now) {
  if (!c.keep_alive && c.linger && !c.eof) {
    // Graceful close: the answer is out, the client's unread bytes are discarded until
    // it closes (or kDrainTime, kDrainBytes). Idle: the first to be shed at a cap.
    half_close(c);
    c.draining = true;
    std::string().swap(c.out);
    enter(c, Phase::idle, now, now + kDrainTime);
    watch(c, EPOLLIN);
    if (drain(c, kDrainBytes) != Io::would_block) {
      close(c.id);
    }
    return;
  }
  if (!c.keep_alive) {
    close(c.id);
    return;
  }
  std::string().swap(c.out);  // a large /metrics answer is not kept for an idle client
  c.out_pos = 0;
  c.head_only = false;
  if (c.in.empty()) {
    enter(c, Phase::idle, now, now + limits_.idle_timeout);
  } else {
    enter(c, Phase::receiving, now, now + limits_.header_timeout);
    pending_.push_back(c.id);
  }
  watch(c, reading(c));
}

void HttpServer::take_rendered(Clock::time_point now) {
  std::vector<Rendered> done;
  {
    std::lock_guard lock(rendered_mutex_);
    done.swap(rendered_);
  }
  for (auto& r : done) {
    auto it = conns_.find(r.id);
    if (it != conns_.end() && it->second->rendering) {
      respond(*it->second, std::move(r.answer), now);
    }
  }
}

void HttpServer::expire(Clock::time_point now) {
  next_expiry_ = Clock::time_point::max();
  std::vector<std::uint64_t> late;
  for (const auto& [id, c] : conns_) {
    if (now >= c->deadline) {
      late.push_back(id);
    } else {
      next_expiry_ = std::min(next_expiry_, c->deadline);
    }
  }
  for (auto id : late) {
    close(id);
  }
}

void HttpServer::enter(Connection& c, Phase phase, Clock::time_point now,
                       Clock::time_point deadline) {
  c.phase = phase;
  c.since = now;
  c.deadline = deadline;
  next_expiry_ = std::min(next_expiry_, deadline);
}

void HttpServer::watch(Connection& c, std::uint32_t events) {
  if (events == c.events) {
    return;
  }
  epoll_event e{events, {.u64 = c.id}};
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &e) == 0) {
    c.events = events;
  }
}

void HttpServer::close(std::uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) {
    return;
  }
  Connection& c = *it->second;
  if (auto a = per_address_.find(c.address); a != per_address_.end() && --a->second == 0) {
    per_address_.erase(a);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close_transport(c);
  conns_.erase(it);
  --open_count_;
}

}  // namespace mailcanary::agent::http
