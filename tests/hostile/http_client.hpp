// Client side of the hostile HTTP tests: plain sockets bound to a chosen loopback source
// address, timed requests, and a crowd of hostile connections kept open (each one that
// the server closes is opened again, as an attacker would). Every wait has a deadline.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace http_hostile {

using Clock = std::chrono::steady_clock;

/// Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit).
void raise_fd_limit(long want);

/// A TCP connection from `source` (a loopback address such as "127.0.0.2") to
/// 127.0.0.1:port; non-blocking. -1 when not connected within `wait`.
int connect_from(const std::string& source, int port, std::chrono::milliseconds wait,
                 int receive_buffer = 0);

/// Whether the server has closed (FIN or RST) `fd`, without reading from it.
bool closed_by_peer(int fd);

/// Waits up to `wait` for the server to close `fd`; true when it did.
bool wait_closed(int fd, std::chrono::milliseconds wait);

/// Sends all of `data` (bounded by `wait`); false on error or timeout.
bool send_all(int fd, const std::string& data,
              std::chrono::milliseconds wait = std::chrono::seconds(2));

struct Timed {
  int status = 0;  // 0: no complete answer within the deadline
  double ms = 0;   // from connect to the end of the answer
  std::string body;
};

/// The status and body of an HTTP answer received whole in `got` into `out` (left as is
/// when `got` is no complete answer).
void read_answer(const std::string& got, Timed& out);

/// One GET on a new connection from `source` (as HAProxy checks do); deadline 2 s.
Timed timed_get(const std::string& source, int port, const std::string& path);

enum class Kind {
  half_line,    // "GET /heal" and then silence
  drip,         // a request's header, one byte a second
  huge_body,    // a complete request announcing a 1 GiB body that never comes
  never_reads,  // asks for /metrics and never reads the answer (tiny receive buffer)
};

/// A crowd of hostile connections from several source addresses. keep() opens again
/// each connection the server closed and drips the next byte where due.
class Crowd {
 public:
  Crowd(int port, std::vector<std::string> sources) : port_(port), sources_(std::move(sources)) {}
  ~Crowd();
  Crowd(const Crowd&) = delete;
  Crowd& operator=(const Crowd&) = delete;

  /// Opens `n` connections, the kinds in turn, spread over the sources; stops trying
  /// to connect after `budget` (a server that accepts nothing more).
  void open(int n, std::chrono::milliseconds budget = std::chrono::seconds(10));
  /// Reopens what the server closed (counted in reopened()), drips due bytes; stops
  /// reopening after `budget`.
  void keep(std::chrono::milliseconds budget = std::chrono::milliseconds(300));
  /// Connections currently open from the client's side (not seen closed).
  int open_count() const;
  int reopened() const { return reopened_; }
  int failed_connects() const { return failed_; }

 private:
  struct Conn {
    int fd = -1;
    Kind kind = Kind::half_line;
    std::size_t source = 0;
    std::size_t dripped = 0;
    Clock::time_point next_drip{};
  };
  void start(Conn& c);
  int port_;
  std::vector<std::string> sources_;
  std::vector<Conn> conns_;
  int reopened_ = 0;
  int failed_ = 0;
};

/// p50 and max of `ms` (sorted copy).
std::pair<double, double> p50_max(std::vector<double> ms);

}  // namespace http_hostile
