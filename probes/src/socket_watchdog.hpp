// Private: a deadline for a read or write that blocks where our code cannot look.
//
// libetpan's TLS layer reads a whole TLS record before it returns: a server that sends a
// record a byte at a time (each byte inside the socket timeout) keeps it reading for as
// long as the record lasts, and the guard (mailbox_tls_guard.hpp), which sees only what
// the layer returns, never gets to check its deadline. The same holds for a handshake
// dripped that way. A SocketWatchdog, armed around such a call, shuts the socket down at
// the deadline: the blocked call returns an error and the caller reports the timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace mailcanary::probes {

class SocketWatchdog {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  SocketWatchdog() = default;
  ~SocketWatchdog();
  SocketWatchdog(const SocketWatchdog&) = delete;
  SocketWatchdog& operator=(const SocketWatchdog&) = delete;

  /// From now until disarm(): at `deadline`, shutdown(fd, SHUT_RDWR). The watching thread
  /// starts at the first arm(); a negative `fd` arms nothing.
  void arm(int fd, TimePoint deadline);
  /// Ends the watch; true when it shut the socket down since arm().
  bool disarm();

 private:
  void watch();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::thread thread_;
  int fd_ = -1;  // armed when >= 0
  TimePoint deadline_{};
  TimePoint waiting_until_ = TimePoint::max();  // what the thread sleeps until
  bool fired_ = false;
  bool stop_ = false;
};

/// Arms `dog` for the object's life.
class ArmedWatchdog {
 public:
  ArmedWatchdog(SocketWatchdog& dog, int fd, SocketWatchdog::TimePoint deadline) : dog_(dog) {
    dog_.arm(fd, deadline);
  }
  ~ArmedWatchdog() { dog_.disarm(); }
  ArmedWatchdog(const ArmedWatchdog&) = delete;
  ArmedWatchdog& operator=(const ArmedWatchdog&) = delete;
  /// Disarms now; true when the watchdog fired.
  bool fired() { return dog_.disarm(); }

 private:
  SocketWatchdog& dog_;
};

}  // namespace mailcanary::probes
