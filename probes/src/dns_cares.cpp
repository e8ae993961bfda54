// The c-ares transport: asks a batch of questions on one fresh channel and drives it
// with ares_getsock + poll until every question is answered or the deadline passes.
//
// c-ares 1.18 reports a SERVFAIL or REFUSED from the last server as ARES_ECONNREFUSED
// ("Could not contact DNS servers"), losing the server's own answer. So the channel
// runs with ARES_FLAG_NOCHECKRESP (every answer reaches us as is; we check that it
// answers our question) and we move on to the next configured server ourselves.
#include <ares.h>
#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "mailcanary/probes/dns.hpp"

namespace mailcanary::probes {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

constexpr int kTries = 2;                   // per server
constexpr milliseconds kMinTryTimeout{50};  // c-ares needs something to wait for
constexpr int kMaxLoops = 100000;           // a hard bound besides the deadline
constexpr int kClassIn = 1;
constexpr int kDefaultPort = 53;

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

/// The short cause of a failed c-ares status, for "<what> for NAME (TYPE)".
std::string failure_what(int status) {
  switch (status) {
    case ARES_ESERVFAIL:
      return "SERVFAIL";
    case ARES_EREFUSED:
      return "REFUSED";
    case ARES_ENOTIMP:
      return "NOTIMP";
    case ARES_EFORMERR:
      return "FORMERR";
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return "timeout";
    case ARES_ECONNREFUSED:
      return "connection refused";
    case ARES_EBADRESP:
      return "bad answer";
    case ARES_EBADNAME:
      return "bad name";
    default:
      return "resolver error";
  }
}

/// A server's answer that another server may not give: worth asking the next one.
bool server_refused(int status) {
  return status == ARES_ESERVFAIL || status == ARES_EREFUSED || status == ARES_ENOTIMP ||
         status == ARES_EFORMERR;
}

DnsReply failed(std::string what, std::string message) {
  DnsReply r;
  r.status = DnsReply::Status::failed;
  r.what = std::move(what);
  r.message = std::move(message);
  return r;
}

/// Whether `packet` holds exactly our question. c-ares 1.18 drops such answers itself,
/// but NOCHECKRESP is documented to skip that check, so it is made here again.
bool answers_question(const unsigned char* abuf, int alen, const DnsQuestion& q) {
  constexpr int kHeader = 12;
  if (alen < kHeader || ((abuf[4] << 8) | abuf[5]) != 1) {
    return false;
  }
  char* name = nullptr;
  long enclen = 0;
  if (ares_expand_name(abuf + kHeader, abuf, alen, &name, &enclen) != ARES_SUCCESS) {
    return false;
  }
  std::string got(name);
  ares_free_string(name);
  if (!got.empty() && got.back() == '.') {
    got.pop_back();
  }
  std::transform(got.begin(), got.end(), got.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const long at = kHeader + enclen;
  if (at + 4 > alen) {
    return false;
  }
  const int type = (abuf[at] << 8) | abuf[at + 1];
  return got == q.name && type == static_cast<int>(q.type);
}

struct Slot {
  const DnsQuestion* question = nullptr;
  DnsReply reply;
  int status = ARES_ECANCELLED;
  bool done = false;
  int* pending = nullptr;
};

void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* slot = static_cast<Slot*>(arg);
  if (slot->done) {
    return;
  }
  slot->done = true;
  --*slot->pending;
  if (abuf != nullptr && alen > 0 && !answers_question(abuf, alen, *slot->question)) {
    slot->status = ARES_EBADRESP;
    slot->reply = failed("bad answer", "the answer is for another question");
    return;
  }
  slot->status = status;
  DnsReply& r = slot->reply;
  r.message = ares_strerror(status);
  switch (status) {
    case ARES_SUCCESS:
      r.status = DnsReply::Status::answer;
      break;
    case ARES_ENODATA:
      r.status = DnsReply::Status::nodata;
      break;
    case ARES_ENOTFOUND:
      r.status = DnsReply::Status::nxdomain;
      break;
    default:
      r.status = DnsReply::Status::failed;
      r.what = failure_what(status);
      return;
  }
  r.packet.assign(abuf, abuf + std::max(alen, 0));
}

/// A channel that is destroyed (and its pending callbacks run) when it goes out of scope.
class Channel {
 public:
  Channel() = default;
  ~Channel() {
    if (ch_ != nullptr) {
      ares_destroy(ch_);
    }
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ares_channel* out() { return &ch_; }
  ares_channel get() const { return ch_; }

 private:
  ares_channel ch_ = nullptr;
};

/// A DNS server as c-ares takes it, plus its text for messages.
struct Server {
  ares_addr_port_node node{};
  std::string text;
};

std::string server_text(const ares_addr_port_node& n) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(n.family,
            n.family == AF_INET ? static_cast<const void*>(&n.addr.addr4)
                                : static_cast<const void*>(&n.addr.addr6),
            buf, sizeof buf);
  const int port = n.udp_port != 0 ? n.udp_port : kDefaultPort;
  return n.family == AF_INET6 ? "[" + std::string(buf) + "]:" + std::to_string(port)
                              : std::string(buf) + ":" + std::to_string(port);
}

/// The servers of the system configuration (/etc/resolv.conf), as c-ares reads them.
std::vector<Server> system_servers() {
  std::vector<Server> out;
  Channel ch;
  if (ares_init(ch.out()) != ARES_SUCCESS) {
    return out;
  }
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(ch.get(), &list) != ARES_SUCCESS) {
    return out;
  }
  for (auto* p = list; p != nullptr; p = p->next) {
    Server s;
    s.node = *p;
    s.node.next = nullptr;
    s.text = server_text(s.node);
    out.push_back(s);
  }
  ares_free_data(list);
  return out;
}

class CaresTransport final : public DnsTransport {
 public:
  CaresTransport(const config::DnsConfig& cfg, Clock& clock) : clock_(clock) {
    init_library();
    if (cfg.servers.empty()) {
      servers_ = system_servers();
    }
    for (const auto& e : cfg.servers) {
      Server s;
      s.text = e.to_string();
      s.node.udp_port = e.port;
      s.node.tcp_port = e.port;
      if (inet_pton(AF_INET, e.host.c_str(), &s.node.addr.addr4) == 1) {
        s.node.family = AF_INET;
      } else if (inet_pton(AF_INET6, e.host.c_str(), &s.node.addr.addr6) == 1) {
        s.node.family = AF_INET6;
      } else {
        bad_server_ = "DNS server " + s.text + " is not an IP address";
      }
      servers_.push_back(s);
    }
    for (const auto& s : servers_) {
      servers_text_ += (servers_text_.empty() ? "" : ", ") + s.text;
    }
    if (servers_.empty()) {
      servers_text_ = "the system resolver";
      bad_server_ = "no DNS server configured";
    }
  }

  std::string servers() const override { return servers_text_; }

  std::vector<DnsReply> ask(const std::vector<DnsQuestion>& questions,
                            TimePoint deadline) override {
    if (!bad_server_.empty()) {
      return std::vector<DnsReply>(questions.size(), failed("resolver error", bad_server_));
    }
    std::vector<DnsReply> out(questions.size());
    std::vector<std::size_t> todo(questions.size());
    for (std::size_t i = 0; i < todo.size(); ++i) {
      todo[i] = i;
    }
    // Round k asks servers k, k+1, ... (c-ares itself moves on after a timeout or an
    // unreachable server); a question a server refused goes to the next round.
    for (std::size_t first = 0; first < servers_.size() && !todo.empty(); ++first) {
      auto slots = ask_once(questions, todo, first, deadline);
      std::vector<std::size_t> again;
      for (std::size_t j = 0; j < todo.size(); ++j) {
        out[todo[j]] = std::move(slots[j].reply);
        if (server_refused(slots[j].status) && first + 1 < servers_.size()) {
          again.push_back(todo[j]);
        }
      }
      todo = std::move(again);
    }
    return out;
  }

 private:
  /// Asks questions[todo...] of servers_[first...] on one channel, until the deadline.
  std::vector<Slot> ask_once(const std::vector<DnsQuestion>& questions,
                             const std::vector<std::size_t>& todo, std::size_t first,
                             TimePoint deadline) const {
    std::vector<Slot> slots(todo.size());
    const auto budget = std::chrono::duration_cast<milliseconds>(deadline - clock_.now());
    if (budget <= milliseconds(0)) {
      for (auto& s : slots) {
        s.reply = failed("timeout", "no time left before the deadline");
      }
      return slots;
    }
    Channel ch;
    if (const std::string err = open(ch, budget, first); !err.empty()) {
      for (auto& s : slots) {
        s.status = ARES_ENOMEM;
        s.reply = failed("resolver error", err);
      }
      return slots;
    }
    int pending = 0;
    for (std::size_t j = 0; j < todo.size(); ++j) {
      slots[j].question = &questions[todo[j]];
      slots[j].pending = &pending;
      ++pending;
      ares_query(ch.get(), questions[todo[j]].name.c_str(), kClassIn,
                 static_cast<int>(questions[todo[j]].type), on_reply, &slots[j]);
    }
    drive(ch.get(), pending, deadline);
    if (pending > 0) {
      ares_cancel(ch.get());  // runs the callbacks of what is left (ARES_ECANCELLED)
    }
    for (auto& s : slots) {
      if (s.status == ARES_ECANCELLED || s.status == ARES_EDESTRUCTION) {
        s.reply.message = "no answer within " + std::to_string(budget.count()) + " ms";
      }
    }
    return slots;
  }

  /// Initialises `ch` for servers_[first...]; returns an error text, empty on success.
  std::string open(Channel& ch, milliseconds budget, std::size_t first) const {
    const auto count = static_cast<int>(servers_.size() - first);
    // With 2 tries, c-ares waits t per server, then 2t per server: 3t per server fits.
    const auto per_try = std::max(kMinTryTimeout, budget / (3 * count));
    ares_options opts{};
    opts.timeout = static_cast<int>(per_try.count());
    opts.tries = kTries;
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;
    const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
    if (const int rc = ares_init_options(ch.out(), &opts, mask); rc != ARES_SUCCESS) {
      return std::string("cannot set up the resolver: ") + ares_strerror(rc);
    }
    std::vector<ares_addr_port_node> nodes;
    for (std::size_t i = first; i < servers_.size(); ++i) {
      nodes.push_back(servers_[i].node);
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      nodes[i].next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    }
    if (const int rc = ares_set_servers_ports(ch.get(), nodes.data()); rc != ARES_SUCCESS) {
      return std::string("cannot set the DNS servers: ") + ares_strerror(rc);
    }
    return "";
  }

  /// Runs the channel until nothing is pending or the deadline passes.
  void drive(ares_channel ch, const int& pending, TimePoint deadline) const {
    for (int loop = 0; loop < kMaxLoops && pending > 0; ++loop) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_.now());
      if (left <= milliseconds(0)) {
        return;
      }
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      const int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
      pollfd fds[ARES_GETSOCK_MAXNUM];
      nfds_t nfds = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) {
          events |= POLLIN;
        }
        if (ARES_GETSOCK_WRITABLE(bits, i)) {
          events |= POLLOUT;
        }
        if (events == 0) {
          break;  // sockets are reported in order, without gaps
        }
        fds[nfds++] = pollfd{socks[i], events, 0};
      }
      timeval max_wait{static_cast<time_t>(left.count() / 1000),
                       static_cast<suseconds_t>((left.count() % 1000) * 1000)};
      timeval tv{};
      const timeval* wait = ares_timeout(ch, &max_wait, &tv);
      // Round up so poll does not return just before c-ares' own timer fires.
      const auto wait_ms = static_cast<int>(wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000);
      const int n = poll(fds, nfds, std::max(wait_ms, 1));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return;
      }
      if (n == 0) {
        ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
        continue;
      }
      for (nfds_t i = 0; i < nfds; ++i) {
        const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool writable = (fds[i].revents & POLLOUT) != 0;
        if (readable || writable) {
          ares_process_fd(ch, readable ? fds[i].fd : ARES_SOCKET_BAD,
                          writable ? fds[i].fd : ARES_SOCKET_BAD);
        }
      }
    }
  }

  Clock& clock_;
  std::vector<Server> servers_;
  std::string servers_text_;
  std::string bad_server_;  // a reason no question can be asked
};

}  // namespace

std::unique_ptr<DnsTransport> make_cares_transport(const config::DnsConfig& cfg, Clock& clock) {
  return std::make_unique<CaresTransport>(cfg, clock);
}

}  // namespace mailcanary::probes
