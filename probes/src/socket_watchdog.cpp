#include "socket_watchdog.hpp"

#include <sys/socket.h>

namespace mailcanary::probes {

SocketWatchdog::~SocketWatchdog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void SocketWatchdog::arm(int fd, TimePoint deadline) {
  if (fd < 0) {
    return;  // no socket (a test stream): nothing to shut down
  }
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    fd_ = fd;
    deadline_ = deadline;
    fired_ = false;
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { watch(); });
    }
    // Arming again for the same answer (every read) leaves the thread asleep: it wakes
    // at the deadline it already waits for and looks again.
    wake = deadline < waiting_until_;
  }
  if (wake) {
    cv_.notify_all();
  }
}

bool SocketWatchdog::disarm() {
  std::lock_guard lock(mutex_);
  fd_ = -1;
  return fired_;
}

void SocketWatchdog::watch() {
  std::unique_lock lock(mutex_);
  while (!stop_) {
    if (fd_ < 0) {
      waiting_until_ = TimePoint::max();
      cv_.wait(lock);
    } else if (std::chrono::steady_clock::now() < deadline_) {
      waiting_until_ = deadline_;
      cv_.wait_until(lock, deadline_);
    } else {
      ::shutdown(fd_, SHUT_RDWR);  // the blocked call returns; the fd stays the caller's
      fired_ = true;
      fd_ = -1;
    }
  }
}

}  // namespace mailcanary::probes
