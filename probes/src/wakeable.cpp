#include "wakeable.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace mailcanary::probes {

WakeableReader::WakeableReader() : event_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

WakeableReader::~WakeableReader() {
  if (event_fd_ >= 0) {
    ::close(event_fd_);
  }
}

void WakeableReader::interrupt() {
  const std::uint64_t one = 1;
  if (event_fd_ >= 0) {
    [[maybe_unused]] const auto n = ::write(event_fd_, &one, sizeof one);  // full: already set
  }
}

WakeableReader::Woke WakeableReader::wait_for(int server_fd, std::chrono::milliseconds max) {
  pollfd fds[3] = {{event_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}, {server_fd, POLLIN, 0}};
  const auto until = std::chrono::steady_clock::now() + max;
  // Bounded: each turn either returns or was cut short by a signal.
  for (int turn = 0; turn < 1000; ++turn) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    const int n = ::poll(fds, 3, static_cast<int>(std::max<long long>(0, left.count())));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return Woke::timeout;
    }
    if (fds[0].revents & POLLIN) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(event_fd_, &count, sizeof count);
      return Woke::interrupted;
    }
    if (fds[1].revents) {
      return Woke::interrupted;
    }
    return Woke::server;
  }
  return Woke::timeout;
}

}  // namespace mailcanary::probes
